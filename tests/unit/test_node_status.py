"""The runner's write of a node's lifecycle conditions (runner.apply, runner.node_status)
against a scripted API server: what it reads first, and what it never holds back.
The real API server's side (merge by type, the resourceVersion guard, an admin's edit
between our read and write) is in tests/integration/test_node_conditions.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from policy.decisions import Evict, Plan, SetNodeConditions
from policy.model import RequestState
from policy.model import Snapshot as Empty
from policy.node_conditions import TYPES, Holder, wanted, wanted_for_node
from runner.apply import Applier, Result
from runner.kube import KubeError

NOW = datetime(2026, 12, 7, tzinfo=UTC)
NODE = "/api/v1/nodes/n0"
OURS_APPROVED = [
    {
        "type": "MaintenancePlanned",
        "status": "True",
        "reason": "RepairmanApproved",
        "message": "repairman: mr-b is approved",
    }
]


OFF = {
    "metadata": {"name": "quiet", "uid": "l1", "resourceVersion": "3"},
    "spec": {"type": "node", "limit": 100, "nodeConditions": False},
}
"""A limit governing every node that says nodeConditions false."""


class Server:
    """Node n0 showing `shown`; requests answered from `requests` (name -> answers,
    the last one repeated; None: 404); the limits `limits`; nodes/status PATCHes from
    `patches` (an HTTP status to refuse with, 0 to accept; the last repeated)."""

    def __init__(
        self,
        requests: dict[str, list[dict[str, Any] | None]],
        *,
        shown: list[dict[str, Any]] | None = None,
        patches: list[int] | None = None,
        limits: list[dict[str, Any]] | None = None,
    ) -> None:
        self.requests = requests
        self.shown = shown or []
        self.patches = patches or [0]
        self.limits = limits or []
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[tuple[str, Any]] = []
        """Each nodes/status PATCH: (content type, body)."""

    def server_now(self) -> datetime:
        return NOW

    def request(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        self.calls.append((method, path))
        if method == "PATCH":
            self.bodies.append((options.get("content_type", ""), options.get("body")))
        name = path.rsplit("/", 1)[-1]
        if "/maintenancerequests/" in path:
            answers = self.requests[name]
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
            if answer is None:
                raise KubeError("not found", status=404)
            return answer
        if path.endswith("/maintenancelimits"):
            return {"metadata": {"resourceVersion": "5"}, "items": self.limits}
        if path == NODE:
            return {"metadata": {"resourceVersion": "7"}, "status": {"conditions": self.shown}}
        if path == f"{NODE}/status":
            refuse = self.patches.pop(0) if len(self.patches) > 1 else self.patches[0]
            if refuse:
                raise KubeError(f"refused ({refuse})", status=refuse)
        return {"metadata": {"resourceVersion": "8"}}

    def patched(self) -> int:
        return self.calls.count(("PATCH", f"{NODE}/status"))


def request(state: str, *, uid: str = "uid-a", target: str = "node/n0") -> dict[str, Any]:
    return {"metadata": {"uid": uid}, "status": {"state": state, "target": target}}


def row(state: RequestState | None, name: str = "mr-a", *, off: bool = False) -> SetNodeConditions:
    """The decision for `name` in `state` (None: the orphan's clear); `off`: its
    limit says nodeConditions false (all False, the request still active)."""
    holder = Holder(name, state, drains=False, publish=not off)
    full = (
        wanted_for_node([holder])
        if state is not None
        else wanted(None, request=name, drains=False, drained=False)
    )
    return SetNodeConditions(
        node="n0",
        request=name if state is not None else "",
        wanted=tuple(full[kind] for kind in TYPES),
        write=tuple(full.values()),
        uid="uid-a",
        state=state,
    )


def apply(server: Server, *decisions: Any) -> list[Result]:
    plan = Plan(now=NOW, decisions=decisions, explanations=(), limits=())
    applier = Applier(server, Empty(now=NOW), policy_version="policy/v1")  # type: ignore[arg-type]
    return [outcome.result for outcome in applier.apply(plan)]


def test_a_row_is_written_while_its_request_still_says_it() -> None:
    server = Server({"mr-a": [request("Approved")]})
    assert apply(server, row(RequestState.APPROVED)) == [Result.DONE]
    assert server.patched() == 1


def test_a_row_for_a_request_that_moved_on_since_the_read_is_not_written() -> None:
    """A pass with a stale list (another runner completed mr-a since): no True is
    announced for a request that has ended, or one filed again under its name."""
    for answer in (request("Completed"), request("Approved", uid="uid-other"), None):
        server = Server({"mr-a": [answer]})
        assert apply(server, row(RequestState.APPROVED)) == [Result.DEFERRED]
        assert server.patched() == 0, server.calls


def test_the_request_is_read_again_after_a_conflict() -> None:
    """Our request read, then another runner completes mr-a and clears the node (our
    guarded write is refused: 409): the next attempt reads mr-a again, and writes no
    True for it."""
    server = Server({"mr-a": [request("Approved"), request("Completed")]}, patches=[409, 0])
    assert apply(server, row(RequestState.APPROVED)) == [Result.DEFERRED]
    assert server.patched() == 1


def test_a_clear_leaves_the_row_of_a_request_active_on_the_node() -> None:
    """A list older than mr-b's admission sees our True conditions on n0 and no
    request holding it (or an ended one): it must not clear mr-b's row. Once mr-b is
    gone (404) or ended, the clear goes."""
    for clear in (row(None), row(RequestState.COMPLETED)):
        server = Server({"mr-b": [request("Preparing")]}, shown=OURS_APPROVED)
        assert apply(server, clear) == [Result.DEFERRED]
        assert server.patched() == 0
        for gone in (None, request("Completed"), request("Preparing", target="node/n1")):
            server = Server({"mr-b": [gone]}, shown=OURS_APPROVED)
            assert apply(server, clear) == [Result.DONE]
            assert server.patched() == 1


def test_a_refused_conditions_write_holds_nothing_else_of_its_request_back() -> None:
    """The conditions are an announcement: a refused write (RBAC not updated with
    the image, say) fails the pass, but the request's eviction after it still goes."""
    server = Server({"mr-a": [request("Approved")]}, patches=[403])
    eviction = Evict(namespace="ns", pod="web-1", uid="u", node="n0", request="mr-a", pdb=None)
    assert apply(server, row(RequestState.APPROVED), eviction) == [Result.FAILED, Result.DONE]
    assert ("POST", "/api/v1/namespaces/ns/pods/web-1/eviction") in server.calls


def test_turned_off_the_active_requests_own_row_is_cleared() -> None:
    """nodeConditions false while mr-a is Approved: its own True conditions are
    cleared (it is as the plan saw it); if it moved on since, the clear waits."""
    shown = [{**OURS_APPROVED[0], "message": "repairman: mr-a is approved"}]
    server = Server({"mr-a": [request("Approved")]}, shown=shown, limits=[OFF])
    assert apply(server, row(RequestState.APPROVED, off=True)) == [Result.DONE]
    assert server.patched() == 1
    server = Server({"mr-a": [request("InProgress")]}, shown=shown, limits=[OFF])
    assert apply(server, row(RequestState.APPROVED, off=True)) == [Result.DEFERRED]
    assert server.patched() == 0


def test_nodeconditions_toggled_since_the_plans_read_holds_the_write() -> None:
    """A runner with a stale list of limits ('break this' review): the operator set
    nodeConditions false after its read; its True row for mr-a is not written. And
    the reverse: turned on again after a read that said false, mr-a's own row is not
    cleared. Either way the next pass writes what the limits say then."""
    server = Server({"mr-a": [request("Approved")]}, limits=[OFF])
    assert apply(server, row(RequestState.APPROVED)) == [Result.DEFERRED]
    assert server.patched() == 0
    shown = [{**OURS_APPROVED[0], "message": "repairman: mr-a is approved"}]
    server = Server({"mr-a": [request("Approved")]}, shown=shown)
    assert apply(server, row(RequestState.APPROVED, off=True)) == [Result.DEFERRED]
    assert server.patched() == 0
    other = {**OFF, "spec": {**OFF["spec"], "selector": {"matchLabels": {"zone": "b"}}}}
    server = Server({"mr-a": [request("Approved")]}, limits=[other])
    assert apply(server, row(RequestState.APPROVED)) == [Result.DONE], "it governs n0 not"


def test_a_type_shown_twice_is_written_entry_by_entry_never_over_anothers() -> None:
    """Two entries of one type (a PUT by hand): a patch merging by type would land on
    the first, whoever's it is. Ours is replaced where it is (tested as read), theirs
    is not in the patch; the resourceVersion read guards the whole write. (Before:
    the type was left alone, and ours stayed True after its request ended, silently:
    a 'break this' review.)"""
    ours = {**OURS_APPROVED[0], "message": "repairman: mr-a is approved"}
    theirs = {"type": "MaintenancePlanned", "status": "True", "reason": "Ops", "message": "mine"}
    server = Server({"mr-a": [request("Completed")]}, shown=[theirs, ours, ours])
    assert apply(server, row(RequestState.COMPLETED)) == [Result.DONE]
    ((content_type, ops),) = server.bodies
    assert content_type == "application/json-patch+json"
    assert ops[0] == {"op": "replace", "path": "/metadata/resourceVersion", "value": "7"}
    touched = [op["path"] for op in ops[1:]]
    assert touched == ["/status/conditions/1"] * 2 + ["/status/conditions/2"] * 2, ops
    assert [op["op"] for op in ops[1:]] == ["test", "replace", "test", "replace"]
    assert {op["value"]["status"] for op in ops[1:] if op["op"] == "replace"} == {"False"}
    # Only others' entries in the type: nothing of ours to write, so nothing written.
    server = Server({"mr-a": [request("Completed")]}, shown=[theirs, theirs])
    assert apply(server, row(RequestState.COMPLETED)) == [Result.ALREADY_DONE]
    assert server.bodies == []
    # One entry per type: the strategic merge patch, as before.
    server = Server({"mr-a": [request("Completed")]}, shown=[ours])
    assert apply(server, row(RequestState.COMPLETED)) == [Result.DONE]
    assert server.bodies[0][0] == "application/strategic-merge-patch+json"
