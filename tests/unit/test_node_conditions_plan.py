"""The node conditions in the plan (policy.node_conditions.publish), case by case; the
table itself is a property (tests/properties/test_node_conditions.py) and so is the
stateful story's check of every pass (tests/properties/test_stateful.py)."""

from __future__ import annotations

import attrs

from policy import SetNodeConditions, Snapshot, UpdateRequestStatus, plan
from policy.model import CORDONED_BY, NodeCondition, RequestState, RequestStatus
from tests.helpers import NOW, active, ago, app_pod, limit, nodes, request
from tests.model import apply


def published(snapshot: Snapshot) -> list[SetNodeConditions]:
    return [d for d in plan(snapshot).decisions if isinstance(d, SetNodeConditions)]


def approved_on_n0(*limits: object) -> Snapshot:
    (node,) = nodes(1)
    return Snapshot(
        now=NOW,
        nodes=(attrs.evolve(node, unschedulable=True, annotations={CORDONED_BY: "mr-a"}),),
        limits=limits,  # type: ignore[arg-type]
        requests=(
            request(
                "mr-a",
                "n0",
                status=active(RequestState.APPROVED, "node/n0", approved_at=ago(minutes=1)),
            ),
        ),
    )


def test_an_approved_request_publishes_its_row() -> None:
    (decision,) = published(approved_on_n0(limit("node", limit=100, cordon=True)))
    assert {c.type: c.status for c in decision.write} == {
        "MaintenancePlanned": "True",
        "MaintenanceInProgress": "True",
    }


def test_a_limit_that_turned_them_off_keeps_them_off_when_made_invalid() -> None:
    """An operator's typo elsewhere in the limit must not publish what they turned
    off: an invalid limit still says nodeConditions false."""
    valid_beside = limit("all", type="node", limit=100, cordon=True)
    assert published(approved_on_n0(valid_beside)) != []
    typo = {"matchExpressions": [{"key": "zone", "operator": "Inn", "values": ["a"]}]}
    for broken in (
        limit("node", limit="lots", nodeConditions=False),
        limit("node", type="node", limit=5, selector=typo, nodeConditions=False),
    ):  # (a typo in `type` makes a limit govern no node: nothing of its applies)
        assert published(approved_on_n0(broken)) == [], broken
        assert published(approved_on_n0(valid_beside, broken)) == [], broken


def in_progress(kind: str, name: str = "a-req") -> NodeCondition:
    """A True condition of ours saying `name` is in progress."""
    return NodeCondition(kind, "True", "RepairmanInProgress", f"repairman: {name} is in progress")


def a_req_completed() -> object:
    """a-req, InProgress on n0, which its actor has just marked Completed."""
    return request(
        "a-req",
        "n0",
        state="Completed",
        created=ago(minutes=30),
        status=active(
            RequestState.IN_PROGRESS,
            "node/n0",
            approved_at=ago(minutes=20),
            started_at=ago(minutes=19),
        ),
    )


def on_n0(shown: tuple[NodeCondition, ...], *requests: object) -> Snapshot:
    """n0, cordoned by a-req, showing `shown`; a 100% node limit that cordons."""
    (node,) = nodes(1)
    return Snapshot(
        now=NOW,
        nodes=(
            attrs.evolve(
                node, unschedulable=True, annotations={CORDONED_BY: "a-req"}, conditions=shown
            ),
        ),
        limits=(limit("node", limit=100, cordon=True),),
        requests=requests,  # type: ignore[arg-type]
    )


def status_write_of(decisions: tuple[object, ...] | list[object], name: str) -> int:
    return next(
        i
        for i, d in enumerate(decisions)
        if isinstance(d, UpdateRequestStatus) and d.request == name
    )


def test_a_clear_follows_the_write_that_ends_the_request_it_names() -> None:
    """n0 shows a-req's row; a-req's actor completed it; z-req, also for n0, ended
    before it was ever admitted (sorts after a-req). The clear is in a-req's name and
    comes after a-req's Completed write (before it, a fresh read finds a-req still
    InProgress and the clear waits a pass)."""
    z_req = request(
        "z-req",
        "n0",
        state="Completed",
        created=ago(minutes=5),
        status=RequestStatus(
            state=RequestState.COMPLETED,
            target="node/n0",
            reason="Withdrawn",
            completed_at=ago(minutes=4),
            finished_at=ago(minutes=4),
        ),
    )
    shown = (in_progress("MaintenancePlanned"), in_progress("MaintenanceInProgress"))
    decisions = plan(on_n0(shown, a_req_completed(), z_req)).decisions
    (clear,) = [d for d in decisions if isinstance(d, SetNodeConditions)]
    assert clear.request == "a-req", clear
    assert decisions.index(clear) > status_write_of(decisions, "a-req")
    assert {c.status for c in clear.write} == {"False"}
    assert {c.message for c in clear.write} == {"repairman: a-req ended"}


def test_the_clear_is_in_the_name_of_the_row_the_node_shows() -> None:
    """n0 shows a-req's True row and z-req's old False conditions; a-req completes.
    The clear is a-req's (in its chain, after its Completed write), not z-req's."""
    shown = (
        in_progress("MaintenancePlanned"),
        in_progress("MaintenanceInProgress"),
        NodeCondition("DrainInProgress", "False", "RepairmanCompleted", "repairman: z-req ended"),
    )
    for z_state in ("Completed", "Pending"):
        z_req = request(
            "z-req",
            "n0",
            state=z_state,
            created=ago(minutes=5),
            status=RequestStatus(state=RequestState(z_state), target="node/n0", reason="Withdrawn")
            if z_state == "Completed"
            else RequestStatus(),
        )
        decisions = plan(on_n0(shown, a_req_completed(), z_req)).decisions
        (clear,) = [d for d in decisions if isinstance(d, SetNodeConditions)]
        assert clear.request == "a-req", (z_state, clear)
        assert decisions.index(clear) > status_write_of(decisions, "a-req")


def test_an_admission_announces_before_its_cordon_beside_a_waiting_request() -> None:
    """a-req admitted with a drain, b-req waiting for the same node: a-req's row goes
    right after its commit, before its cordon and evictions."""
    (node,) = nodes(1)
    snapshot = Snapshot(
        now=NOW,
        nodes=(node,),
        pods=(app_pod("web-1", "n0", "web"),),
        limits=(limit("node", limit=100, drain={"timeoutSeconds": 900}),),
        requests=(
            request("a-req", "n0", created=ago(minutes=30)),
            request(
                "b-req",
                "n0",
                created=ago(minutes=5),
                status=RequestStatus(state=RequestState.PENDING, target="node/n0"),
            ),
        ),
    )
    kinds = [(type(d).__name__, getattr(d, "request", "")) for d in plan(snapshot).decisions]
    assert kinds[:3] == [
        ("UpdateRequestStatus", "a-req"),
        ("SetNodeConditions", "a-req"),
        ("Cordon", "a-req"),
    ], kinds


def test_the_request_that_just_ended_owns_the_clear_among_two_named() -> None:
    """Two requests named by True conditions of ours on n0 (z-req's in a type shown
    twice, left alone; a-req's row in the others): a-req (InProgress) completes and
    z-req (Pending again) is withdrawn in one pass. The clear is a-req's, in its chain,
    after its Completed write; the type shown twice is not in it; planning again on the
    result repeats nothing."""
    z_planned = NodeCondition(
        "MaintenancePlanned", "True", "RepairmanPreparing", "repairman: z-req is preparing"
    )
    z_req = request(
        "z-req",
        "n0",
        state="Completed",
        created=ago(minutes=5),
        status=RequestStatus(state=RequestState.PENDING, target="node/n0"),
    )
    shown = (z_planned, z_planned, in_progress("MaintenanceInProgress"))
    snapshot = on_n0(shown, a_req_completed(), z_req)
    result = plan(snapshot)
    (clear,) = [d for d in result.decisions if isinstance(d, SetNodeConditions)]
    assert clear.request == "a-req", clear
    # The type shown twice too (both entries ours): the runner writes each by its place.
    assert [c.type for c in clear.write] == ["MaintenancePlanned", "MaintenanceInProgress"]
    assert result.decisions.index(clear) == status_write_of(result.decisions, "a-req") + 1
    assert published(apply(snapshot, result)) == []


def test_a_request_only_queued_for_the_node_does_not_own_the_clear() -> None:
    """n0 shows gone-req's row; gone-req was deleted. b-req is queued for n0 and gets
    a new explanation (a closed window). The clear is no request's ("no request holds
    the node"), first, in no chain: in b-req's name it would say b-req "is waiting
    again" of a node it never held, and b-req's refused status write would hold it
    back. (Found by a 'break this' review.)"""
    shown = (
        in_progress("MaintenancePlanned", "gone-req"),
        in_progress("MaintenanceInProgress", "gone-req"),
    )
    b_req = request(
        "b-req",
        "n0",
        created=ago(minutes=5),
        status=RequestStatus(
            state=RequestState.PENDING, target="node/n0", reason="TargetBusy", message="old"
        ),
    )
    closed = [{"days": ["Sun"], "start": "00:00", "end": "01:00"}]
    snapshot = attrs.evolve(
        on_n0(shown, b_req), limits=(limit("node", limit=100, cordon=True, windows=closed),)
    )
    decisions = plan(snapshot).decisions
    assert any(isinstance(d, UpdateRequestStatus) and d.request == "b-req" for d in decisions)
    (clear,) = [d for d in decisions if isinstance(d, SetNodeConditions)]
    assert clear.request == "", clear
    assert {(c.status, c.reason) for c in clear.write} == {("False", "RepairmanDeleted")}
    assert decisions.index(clear) == 0
