"""The runner's reads of Prometheus gates (runner/gates.py) against a local HTTP server
that answers as Prometheus does, or as a broken one would: every failure is a reading
with one clear error (the gate holds its limit), never an exception or a hung pass."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from policy.limit_spec import PrometheusGate
from policy.model import GateKind, MaintenanceLimit
from runner.gates import Budget, GateError, query_prometheus, read_gates

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
Answer = Callable[[BaseHTTPRequestHandler], None]


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                answer(self)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def json_answer(status: int, document: object) -> Answer:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        body = json.dumps(document).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


def gate(url: str, timeout: int = 2) -> PrometheusGate:
    return PrometheusGate(url=url, query="ALERTS", timeout_seconds=timeout)


def test_the_series_of_a_vector_answer(serve: Callable[[Answer], str]) -> None:
    vector = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {
                    "metric": {"__name__": "ALERTS", "severity": "critical", "alertname": "A"},
                    "value": [0, "1"],
                },
                {"metric": {"job": "x"}, "value": [0, "0"]},
            ],
        },
    }
    found = query_prometheus(gate(serve(json_answer(200, vector))))
    assert found == ('ALERTS{alertname="A",severity="critical"}', '{job="x"}')


def test_prometheus_errors_are_one_line_with_its_reason(serve: Callable[[Answer], str]) -> None:
    bad = {"status": "error", "errorType": "bad_data", "error": "parse error at char 7"}
    url = serve(json_answer(400, bad))
    with pytest.raises(GateError, match=r"/api/v1/query: HTTP 400: bad_data: parse error at"):
        query_prometheus(gate(url))
    url = serve(json_answer(200, bad))
    with pytest.raises(GateError) as raised:
        query_prometheus(gate(url))
    assert str(raised.value) == f"{url}/api/v1/query: bad_data: parse error at char 7"
    scalar = {"status": "success", "data": {"resultType": "scalar", "result": [0, "1"]}}
    with pytest.raises(GateError, match="returns a scalar, not an instant vector"):
        query_prometheus(gate(serve(json_answer(200, scalar))))


def test_a_dripping_answer_is_cut_at_the_gates_timeout(serve: Callable[[Answer], str]) -> None:
    """Review (helper, issue 17): the socket timeout bounds each read only; a server
    sending a byte every 0.3 s must not hold the pass past the gate's timeout."""

    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        for _ in range(40):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.3)

    started = time.monotonic()
    with pytest.raises(GateError, match="was not complete within 1s"):
        query_prometheus(gate(serve(drip), timeout=1))
    assert time.monotonic() - started < 2.5


def test_a_spent_budget_reads_no_more_gates(serve: Callable[[Answer], str]) -> None:
    with pytest.raises(GateError, match="not read, the pass's 0s for gates were spent"):
        query_prometheus(gate("http://127.0.0.1:9"), Budget(0))


def test_whatever_a_server_answers_fails_only_its_own_gate() -> None:
    """An SSH banner instead of HTTP (http.client raises BadStatusLine, not OSError):
    the reading carries the error, the other limit's gate is still read."""
    banner = socket.socket()
    banner.bind(("127.0.0.1", 0))
    banner.listen()

    def answer() -> None:
        connection, _ = banner.accept()
        connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        connection.close()

    threading.Thread(target=answer, daemon=True).start()
    port = banner.getsockname()[1]
    limits = [
        MaintenanceLimit(
            name="zone-a",
            spec={
                "type": "node",
                "limit": 10,
                "gates": {"prometheus": {"url": f"http://127.0.0.1:{port}", "query": "up"}},
            },
        ),
        MaintenanceLimit(
            name="zone-b",
            spec={
                "type": "node",
                "limit": 10,
                "gates": {"prometheus": {"url": "http://127.0.0.1:9", "query": "up"}},
            },
        ),
    ]
    readings = read_gates(None, limits, NOW)  # type: ignore[arg-type] - no pods gate: no API
    banner.close()
    assert [(r.limit, r.gate) for r in readings] == [
        ("zone-a", GateKind.PROMETHEUS),
        ("zone-b", GateKind.PROMETHEUS),
    ]
    assert "BadStatusLine" in readings[0].error, readings[0]
    assert "unreachable" in readings[1].error and "refused" in readings[1].error.lower()
