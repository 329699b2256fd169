"""Which failed API requests runner/kube.py retries, and how long it waits.

A scripted HTTP server on loopback answers each request with the next scripted
(status, headers) and records what it was asked; the client's sleeps are recorded
instead of slept.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3

import runner.kube
from runner.kube import Kube, KubeError, Unreachable


class Scripted:
    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = []
        self.bodies: list[object] = []
        """Bodies of successful answers, in order (default: a small object)."""
        self.asked: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                owner.asked.append(f"{self.command} {self.path}")
                code, headers = owner.script.pop(0) if owner.script else (200, {})
                answer: object = {"code": code, "message": "scripted"}
                if code < 400 and owner.bodies:
                    answer = owner.bodies.pop(0)
                body = json.dumps(answer).encode()
                self.send_response(code)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_PATCH = do_DELETE = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def kube(self) -> Kube:
        return Kube(
            server=f"http://127.0.0.1:{self.server.server_address[1]}",
            pool=urllib3.PoolManager(retries=False, timeout=2.0),
            headers={},
        )


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted()
    yield scripted
    scripted.server.shutdown()
    scripted.server.server_close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(runner.kube.time, "sleep", slept.append)
    return slept


@pytest.mark.parametrize("code", [429, 500, 502, 503, 504])
def test_a_read_is_retried_with_a_doubling_back_off(
    server: Scripted, sleeps: list[float], code: int
) -> None:
    server.script = [(code, {}), (code, {}), (200, {})]
    kube = server.kube()
    notes: list[str] = []
    kube.on_retry = notes.append
    assert kube.request("GET", "/api/v1/nodes") == {"code": 200, "message": "scripted"}
    assert len(server.asked) == 3
    assert sleeps == [0.5, 1.0]
    assert notes[0] == f"GET /api/v1/nodes: {code}; retry 1/3 in 0.5 s"


def test_a_read_gives_up_after_three_retries(server: Scripted, sleeps: list[float]) -> None:
    server.script = [(503, {})] * 4
    with pytest.raises(KubeError) as failure:
        server.kube().request("GET", "/api/v1/nodes")
    assert failure.value.status == 503
    assert str(failure.value).startswith("list nodes: 503")
    assert len(server.asked) == 4 and sleeps == [0.5, 1.0, 2.0]


def test_retry_after_is_honoured_and_capped(server: Scripted, sleeps: list[float]) -> None:
    server.script = [(429, {"Retry-After": "2"}), (429, {"Retry-After": "120"}), (200, {})]
    server.kube().request("GET", "/api/v1/pods")
    assert sleeps == [2.0, runner.kube.MAX_WAIT]


@pytest.mark.parametrize(
    ("code", "headers", "retried"),
    [
        (429, {}, True),  # shed by API Priority and Fairness: not acted on
        (503, {"Retry-After": "1"}, True),  # the server says: not now
        (503, {}, False),  # may or may not have happened
        (500, {}, False),
        (409, {}, False),
    ],
)
def test_a_write_is_retried_only_where_the_server_did_not_act(
    server: Scripted, sleeps: list[float], code: int, headers: dict[str, str], retried: bool
) -> None:
    server.script = [(code, headers), (200, {})]
    kube = server.kube()
    if retried:
        kube.request("PATCH", "/api/v1/nodes/n1", body={})
        assert len(server.asked) == 2
    else:
        with pytest.raises(KubeError) as failure:
            kube.request("PATCH", "/api/v1/nodes/n1", body={})
        assert failure.value.status == code
        assert len(server.asked) == 1 and sleeps == []


def test_retry_false_asks_once(server: Scripted, sleeps: list[float]) -> None:
    server.script = [(429, {"Retry-After": "10"})]
    with pytest.raises(KubeError) as failure:
        server.kube().request("POST", "/api/v1/namespaces/a/pods/p/eviction", body={}, retry=False)
    assert failure.value.status == 429 and len(server.asked) == 1 and sleeps == []


def test_an_unreachable_server_is_retried_for_reads_only(sleeps: list[float]) -> None:
    kube = Kube(server="http://127.0.0.1:1", pool=urllib3.PoolManager(retries=False), headers={})
    with pytest.raises(Unreachable) as failure:
        kube.request("GET", "/api/v1/nodes")
    assert "Connection refused" in str(failure.value)
    assert len(sleeps) == 3
    sleeps.clear()
    with pytest.raises(Unreachable):
        kube.request("PATCH", "/api/v1/nodes/n1", body={})
    assert sleeps == []


def test_a_list_whose_page_token_expires_starts_over(server: Scripted, sleeps: list[float]) -> None:
    server.script = [(200, {}), (410, {}), (200, {}), (200, {})]
    server.bodies = [
        {"metadata": {"continue": "t1"}, "items": [{"n": 1}]},
        {"metadata": {"continue": "t1"}, "items": [{"n": 1}]},
        {"metadata": {}, "items": [{"n": 2}]},
    ]
    kube = server.kube()
    notes: list[str] = []
    kube.on_retry = notes.append
    assert list(kube.list("/api/v1/nodes")) == [{"n": 1}, {"n": 2}]
    assert [a.split("?")[1] for a in server.asked] == [
        "limit=500",
        "limit=500&continue=t1",
        "limit=500",
        "limit=500&continue=t1",
    ]
    assert notes == ["list nodes: the page token expired; from the top"]


def test_list_as_converts_each_page_as_it_arrives_and_starts_over_on_410(
    server: Scripted, sleeps: list[float]
) -> None:
    """What a forecast's read of every pod uses: items converted page by page (the raw
    JSON of one page held at a time), the page size asked, and a 410 starts over
    without keeping the first attempt's items."""
    server.script = [(200, {}), (410, {}), (200, {}), (200, {})]
    server.bodies = [
        {"metadata": {"continue": "t1"}, "items": [{"n": 1}]},
        {"metadata": {"continue": "t1"}, "items": [{"n": 1}]},
        {"metadata": {}, "items": [{"n": 2}, {"n": 3}]},
    ]
    converted: list[int] = []

    def convert(item: dict[str, int]) -> int:
        converted.append(item["n"])
        return item["n"] * 10

    kube = server.kube()
    assert kube.list_as("/api/v1/pods", convert, page_size=2) == [10, 20, 30]
    assert converted == [1, 1, 2, 3]
    assert [a.split("?")[1] for a in server.asked] == [
        "limit=2",
        "limit=2&continue=t1",
        "limit=2",
        "limit=2&continue=t1",
    ]


def test_requests_in_flight_stay_within_the_slots_whatever_the_threads() -> None:
    """The applier runs many lanes on few connections: Kube's slots bound the requests
    in flight (runner.apply.LANE_THREADS, `connect(connections=)`)."""
    in_flight = 0
    most = 0
    lock = threading.Lock()

    class Slow(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: object) -> None:
            pass

        def do_GET(self) -> None:
            nonlocal in_flight, most
            with lock:
                in_flight += 1
                most = max(most, in_flight)
            time.sleep(0.05)
            with lock:
                in_flight -= 1
            body = b"{}"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        kube = Kube(
            server=f"http://127.0.0.1:{server.server_address[1]}",
            pool=urllib3.PoolManager(retries=False, timeout=5.0, maxsize=2),
            headers={},
            slots=threading.BoundedSemaphore(2),
        )
        threads = [
            threading.Thread(target=kube.request, args=("GET", "/api/v1/nodes")) for _ in range(12)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        server.shutdown()
        server.server_close()
    assert most == 2


def test_the_next_page_is_asked_for_while_this_one_is_converted(server: Scripted) -> None:
    """A forecast's 150,000 pods: the API server pages on its side while the runner
    converts on its own (fails when the pages are asked for one after another: the
    second is asked only once the first is converted)."""
    server.bodies = [
        {"metadata": {"continue": "t1", "resourceVersion": "7"}, "items": [{"n": 1}]},
        {"metadata": {"resourceVersion": "7"}, "items": [{"n": 2}]},
    ]
    asked_while_converting: list[int] = []

    def convert(item: dict[str, int]) -> int:
        if item["n"] == 1:
            until = time.monotonic() + 5
            while len(server.asked) < 2 and time.monotonic() < until:
                time.sleep(0.01)
            asked_while_converting.append(len(server.asked))
        return item["n"]

    assert server.kube().list_at("/api/v1/pods", convert) == ([1, 2], "7")
    assert asked_while_converting == [2]


def test_what_orjson_refuses_and_json_allows_is_still_read() -> None:
    """A number past a double, a lone surrogate: what the API server should never send
    must not fail a pass where the standard library reads it."""
    assert runner.kube.decoded(b'{"n": 1e400}') == {"n": float("inf")}
    assert runner.kube.decoded(b'{"a": "\\ud800"}') == {"a": "\ud800"}
    with pytest.raises(ValueError):
        runner.kube.decoded(b"<html>")
