"""Read the outside gates the limits ask for (DESIGN §7 `gates`) into the snapshot.

For each valid limit: its Prometheus instant query (the series it returns) and its
blocking pods (those matching its selectors that have not finished), each with the
instant of the pass. A read that fails — Prometheus unreachable or slower than the
gate's timeout, an error answer or a bad query, no permission to list pods or
namespaces — becomes a reading with the error, never an exception: the policy holds
the limit's admissions and says why (fail closed, policy.gates), and the rest of the
pass goes on. The same gate asked by several limits is read once per pass.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from policy.limit_spec import BlockingPodsGate, LimitSpec, PrometheusGate, parse_limit_spec
from policy.model import GateKind, GateReading, LabelSelector, MaintenanceLimit
from runner.kube import Kube, KubeError

MAX_SERIES = 1000
"""A query returning more is cut here (the count in the message is then a floor)."""
MAX_ANSWER = 8 * 2**20
"""Bytes of a Prometheus answer read at most."""
GATES_BUDGET = 20.0
"""Seconds all of a pass's Prometheus reads may take together: a Prometheus that is
blackholed or drips its answer must not keep the pass (a CronJob's minute) from its
other work. A gate left unread when it is spent holds its limit (fail closed)."""


class GateError(Exception):
    """A gate that could not be read; the message is the reading's error."""


Found = tuple[str, ...]


def read_gates(
    kube: Kube,
    limits: Iterable[MaintenanceLimit],
    now: datetime,
    *,
    prometheus: Callable[[PrometheusGate], Found] | None = None,
) -> tuple[GateReading, ...]:
    """A reading of every gate of every valid limit, as of `now`."""
    budget = Budget(GATES_BUDGET)
    ask = prometheus or (lambda gate: query_prometheus(gate, budget))
    seen: dict[str, tuple[Found, str]] = {}  # by the gate's repr (selectors hold dicts)
    readings = []
    for limit in limits:
        spec = parse_limit_spec(limit.name, limit.spec)
        if not isinstance(spec, LimitSpec) or not spec.gates:
            continue
        for kind, gate, read in _gates_of(spec, kube, ask):
            key = repr(gate)
            if key not in seen:
                try:
                    seen[key] = (read(), "")
                except GateError as failed:
                    seen[key] = ((), str(failed))
                except Exception as failed:
                    # Whatever a URL or a server makes the HTTP client raise (an
                    # InvalidURL, a bad status line, a nesting too deep for json): this
                    # gate fails closed, the pass goes on.
                    seen[key] = ((), f"{type(failed).__name__}: {failed}")
            found, problem = seen[key]
            readings.append(GateReading(limit.name, kind, now, found, problem))
    return tuple(readings)


def _gates_of(
    spec: LimitSpec, kube: Kube, ask: Callable[[PrometheusGate], Found]
) -> list[tuple[GateKind, object, Callable[[], Found]]]:
    gates: list[tuple[GateKind, object, Callable[[], Found]]] = []
    prometheus, pods = spec.gates.prometheus, spec.gates.blocking_pods
    if prometheus is not None:
        gates.append((GateKind.PROMETHEUS, prometheus, lambda: ask(prometheus)))
    if pods is not None:
        gates.append((GateKind.BLOCKING_PODS, pods, lambda: blocking_pods(kube, pods)))
    return gates


class Budget:
    """Seconds left for the pass's gate reads (GATES_BUDGET)."""

    def __init__(self, seconds: float) -> None:
        self.total = seconds
        self.ends = time.monotonic() + seconds

    def left(self) -> float:
        return self.ends - time.monotonic()


def query_prometheus(gate: PrometheusGate, budget: Budget | None = None) -> Found:
    """The series `gate.query` returns now, as `name{label="value",...}`; within the
    gate's timeout and what is left of the pass's budget, the whole answer included."""
    budget = budget or Budget(GATES_BUDGET)
    where = f"{gate.url}/api/v1/query"
    allowed = min(float(gate.timeout_seconds), budget.left())
    if allowed <= 0:
        raise GateError(f"{where}: not read, the pass's {budget.total:g}s for gates were spent")
    deadline = time.monotonic() + allowed
    query = urllib.parse.urlencode({"query": gate.query, "timeout": f"{allowed:.0f}s"})
    # http(s) only: policy.limit_spec checks the URL's scheme.
    request = urllib.request.Request(f"{where}?{query}", headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=allowed) as response:
            body = _read_by(response, deadline, where, allowed)
    except urllib.error.HTTPError as error:
        raise GateError(f"{where}: HTTP {error.code}{_problem(error.read(MAX_ANSWER))}") from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            raise GateError(f"{where}: no answer within {allowed:g}s") from None
        raise GateError(f"{where}: unreachable ({reason})") from None
    except (TimeoutError, OSError) as error:
        raise GateError(f"{where}: unreachable ({error or 'no answer'})") from None
    try:
        answer = json.loads(body)
    except ValueError:
        raise GateError(f"{where}: the answer is not JSON") from None
    if not isinstance(answer, dict) or answer.get("status") != "success":
        raise GateError(f"{where}{_problem(body) or ': the query failed'}")
    data = answer.get("data")
    if not isinstance(data, dict):
        raise GateError(f"{where}: the answer has no data")
    kind = data.get("resultType")
    if kind != "vector":
        raise GateError(f"{where}: the query returns a {kind}, not an instant vector")
    result = data.get("result")
    if not isinstance(result, list):
        raise GateError(f"{where}: the answer has no result list")
    return tuple(_series(item) for item in result[:MAX_SERIES])


def _read_by(response: Any, deadline: float, where: str, allowed: float) -> bytes:
    """The answer's body, whole by `deadline` (a socket timeout bounds each read only:
    a server dripping a byte at a time would otherwise hold the pass for ever)."""
    chunks, size = [], 0
    while size < MAX_ANSWER:
        if time.monotonic() > deadline:
            raise GateError(f"{where}: the answer was not complete within {allowed:g}s")
        chunk = response.read1(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _problem(body: bytes) -> str:
    """`: errorType: error` from a Prometheus error answer, else ''."""
    try:
        answer = json.loads(body)
    except ValueError:
        return ""
    if isinstance(answer, dict) and answer.get("error"):
        return f": {answer.get('errorType', 'error')}: {answer['error']}"
    return ""


def _series(item: object) -> str:
    metric = item.get("metric") if isinstance(item, dict) else None
    labels = dict(metric) if isinstance(metric, dict) else {}
    name = str(labels.pop("__name__", ""))
    inside = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inside}}}"


def blocking_pods(kube: Kube, gate: BlockingPodsGate) -> Found:
    """The pods matching the gate that have not finished, as namespace/name."""
    try:
        namespaces = _namespaces(kube, gate.namespace_selector)
        pods = kube.list(
            "/api/v1/pods",
            query={
                "labelSelector": gate.selector.query(),
                "fieldSelector": "status.phase!=Succeeded,status.phase!=Failed",
            },
        )
        found = []
        for pod in pods:
            meta = pod.get("metadata") or {}
            namespace = meta.get("namespace", "")
            if namespaces is None or namespace in namespaces:
                found.append(f"{namespace}/{meta.get('name', '')}")
    except KubeError as error:
        raise GateError(str(error)) from None
    return tuple(sorted(found))


def _namespaces(kube: Kube, selector: LabelSelector | None) -> set[str] | None:
    """The namespaces `selector` matches; None for all (absent or empty). One that
    matches none is an error (fail closed): a typo would otherwise open the gate."""
    if selector is None or not (selector.match_labels or selector.match_expressions):
        return None
    query = selector.query()
    listed = kube.list("/api/v1/namespaces", query={"labelSelector": query})
    names = {(n.get("metadata") or {}).get("name", "") for n in listed}
    if not names:
        raise GateError(f"namespaceSelector {query} matches no namespace")
    return names
