"""The runner's write of a node's lifecycle conditions (runner.apply, runner.node_status)
against a scripted API server: what it reads first, and what it never holds back.
The real API server's side (merge by type, the resourceVersion guard, an admin's edit
between our read and write) is in tests/integration/test_node_conditions.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from policy.decisions import Evict, Plan, SetNodeConditions
from policy.model import RequestState, Snapshot
from policy.node_conditions import TYPES, wanted
from runner.apply import Applier, Result
from runner.kube import KubeError

NOW = datetime(2026, 12, 7, tzinfo=UTC)


class Server:
    """A node n0 showing nothing, a request mr-a in `state`; nodes/status PATCHes
    answered with `refuse` (an HTTP status) when set."""

    def __init__(self, state: str, *, refuse: int = 0, uid: str = "uid-a") -> None:
        self.state = state
        self.refuse = refuse
        self.uid = uid
        self.calls: list[tuple[str, str]] = []

    def server_now(self) -> datetime:
        return NOW

    def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        self.calls.append((method, path))
        if path.endswith("/maintenancerequests/mr-a"):
            return {"metadata": {"uid": self.uid}, "status": {"state": self.state}}
        if path == "/api/v1/nodes/n0":
            return {"metadata": {"resourceVersion": "7"}, "status": {"conditions": []}}
        if path == "/api/v1/nodes/n0/status" and self.refuse:
            raise KubeError("forbidden: patch nodes/status", status=self.refuse)
        return {"metadata": {"resourceVersion": "8"}}


def approved_row() -> SetNodeConditions:
    row = wanted(RequestState.APPROVED, request="mr-a", drains=False, drained=False)
    return SetNodeConditions(
        node="n0",
        request="mr-a",
        wanted=tuple(row[kind] for kind in TYPES),
        write=tuple(c for c in row.values() if c.status == "True"),
        uid="uid-a",
        state=RequestState.APPROVED,
    )


def apply(server: Server, *decisions: Any) -> list[Result]:
    plan = Plan(now=NOW, decisions=decisions, explanations=(), limits=())
    applier = Applier(server, Snapshot(now=NOW), policy_version="policy/v1")  # type: ignore[arg-type]
    return [outcome.result for outcome in applier.apply(plan)]


def test_a_row_is_written_while_its_request_still_says_it() -> None:
    server = Server("Approved")
    assert apply(server, approved_row()) == [Result.DONE]
    assert ("PATCH", "/api/v1/nodes/n0/status") in server.calls


def test_a_row_for_a_request_that_moved_on_since_the_read_is_not_written() -> None:
    """A pass with a stale list (another runner completed mr-a since): no True is
    announced for a request that has ended, or one filed again under its name."""
    for server in (Server("Completed"), Server("Approved", uid="uid-other")):
        assert apply(server, approved_row()) == [Result.DEFERRED]
        assert not [call for call in server.calls if call[0] == "PATCH"], server.calls


def test_a_refused_conditions_write_holds_nothing_else_of_its_request_back() -> None:
    """The conditions are an announcement: a refused write (RBAC not updated with
    the image, say) fails the pass, but the request's eviction after it still goes."""
    server = Server("Approved", refuse=403)
    eviction = Evict(namespace="ns", pod="web-1", uid="u", node="n0", request="mr-a", pdb=None)
    assert apply(server, approved_row(), eviction) == [Result.FAILED, Result.DONE]
    assert ("POST", "/api/v1/namespaces/ns/pods/web-1/eviction") in server.calls
