"""Failure budgets (DESIGN §7, policy.failures): maintenance that leaves nodes down
stops the rollout, and an operator's acknowledgement lets it go on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs

from policy import UpdateLimitStatus, plan
from policy.limit_spec import InvalidLimit, parse_limit_spec
from policy.model import (
    CORDONED_BY,
    LimitStatus,
    MaintenanceRequest,
    Node,
    RequestState,
    RequestStatus,
    Snapshot,
)
from tests.helpers import NOW, ago, limit, request

BUDGET = {"maxUnhealthy": 1, "afterSeconds": 600, "withinSeconds": 86400}


def finished(name: str, node: str, minutes_ago: float, **status: Any) -> MaintenanceRequest:
    """A request approved, worked on and completed `minutes_ago`."""
    done = RequestStatus(
        state=status.pop("state", RequestState.COMPLETED),
        target=f"node/{node}",
        preparing_since=ago(minutes=minutes_ago + 30),
        approved_at=status.pop("approved_at", ago(minutes=minutes_ago + 25)),
        finished_at=ago(minutes=minutes_ago),
        **status,
    )
    return request(name, node, state="Completed", status=done)


def world(
    *requests: MaintenanceRequest,
    down: tuple[str, ...] = ("n0", "n1"),
    budget: dict[str, Any] | None = None,
    records: tuple[tuple[str, str, int], ...] = (),
    **node_fields: Any,
) -> Snapshot:
    """Six nodes, those in `down` NotReady; one limit of 100% with a failure budget;
    `records` are the limit's recentFinishes as (request, node, minutes ago)."""
    governing = attrs.evolve(
        limit("node", limit=100, failureBudget=budget or BUDGET),
        status=LimitStatus(finishes=tuple((r, n, ago(minutes=m)) for r, n, m in records)),
    )
    return Snapshot(
        now=NOW,
        nodes=tuple(
            Node(name=f"n{i}", ready=f"n{i}" not in down, **node_fields.get(f"n{i}", {}))
            for i in range(6)
        ),
        limits=(governing,),
        requests=(*requests, request("mr-next", "n5")),
    )


def reason(snapshot: Snapshot, name: str = "mr-next") -> str:
    return plan(snapshot).explanation(name).reason.value


def limit_status(snapshot: Snapshot) -> LimitStatus:
    (written,) = [d for d in plan(snapshot).decisions if isinstance(d, UpdateLimitStatus)]
    return written.status


def test_two_nodes_down_after_their_maintenance_trip_a_budget_of_one() -> None:
    snapshot = world(finished("mr-a", "n0", 20), finished("mr-b", "n1", 15))
    held = plan(snapshot).explanation("mr-next")
    assert held.reason.value == "FailureBudgetExceeded"
    assert "2 nodes down 10m or more after their maintenance (at most 1)" in held.message
    assert "n0 NotReady after mr-a, n1 NotReady after mr-b" in held.message
    assert "kubectl repairman acknowledge node" in held.message
    status = limit_status(snapshot)
    assert status.held == "failure budget"
    assert "failure budget exceeded" in status.message
    assert [(r, n) for r, n, _ in status.finishes] == [("mr-a", "n0"), ("mr-b", "n1")]


def test_within_the_budget_or_too_soon_to_judge_admits() -> None:
    assert reason(world(finished("mr-a", "n0", 20), down=("n0",))) == "Approved"
    # mr-b finished 5 minutes ago: its node is not judged before 10 minutes.
    assert reason(world(finished("mr-a", "n0", 20), finished("mr-b", "n1", 5))) == "Approved"
    # A node that came back counts no more.
    back = world(finished("mr-a", "n0", 20), finished("mr-b", "n1", 15), down=("n0",))
    assert reason(back) == "Approved"
    assert reason(world(finished("mr-a", "n0", 20), finished("mr-b", "n1", 15), down=())) == (
        "Approved"
    )


def test_only_maintenance_that_was_approved_counts() -> None:
    never = finished("mr-b", "n1", 15, state=RequestState.REJECTED, approved_at=None)
    assert reason(world(finished("mr-a", "n0", 20), never)) == "Approved"
    # Expired or withdrawn after approval: the work may have broken the node.
    expired = finished("mr-b", "n1", 15, state=RequestState.EXPIRED)
    assert reason(world(finished("mr-a", "n0", 20), expired)) == "FailureBudgetExceeded"


def test_a_deleted_request_still_counts_through_the_limits_record() -> None:
    snapshot = world(finished("mr-a", "n0", 20), records=(("mr-gone", "n1", 30),))
    assert reason(snapshot) == "FailureBudgetExceeded"
    # Older than withinSeconds: the record leaves the status and counts no more.
    old = world(finished("mr-a", "n0", 20), records=(("mr-gone", "n1", 24 * 60 + 1),))
    assert reason(old) == "Approved"
    assert [r for r, _, _ in limit_status(old).finishes] == ["mr-a"]


def test_a_record_stamped_in_the_future_counts_as_now_and_is_judged_later() -> None:
    far = (("mr-x", "n1", -(10**6)),)  # about two years ahead
    snapshot = world(finished("mr-a", "n0", 20), records=far)
    assert reason(snapshot) == "Approved"  # judged 10 minutes after now, not in two years
    written = limit_status(snapshot)
    (record,) = [f for f in written.finishes if f[0] == "mr-x"]
    assert record[2] == NOW, "written back as now"
    limits = (attrs.evolve(snapshot.limits[0], status=written),)
    later = attrs.evolve(snapshot, now=NOW + timedelta(minutes=11), limits=limits)
    assert reason(later) == "FailureBudgetExceeded"


def test_acknowledging_lets_admissions_go_on_until_the_next_failure() -> None:
    acknowledged = {**BUDGET, "acknowledgedAt": ago(minutes=15).strftime("%Y-%m-%dT%H:%M:%SZ")}
    snapshot = world(finished("mr-a", "n0", 20), finished("mr-b", "n1", 15), budget=acknowledged)
    assert reason(snapshot) == "Approved"
    # n2 breaks after mr-c, which finished after the acknowledgement: with n0 and n1
    # forgiven, one failure is within the budget, two are not.
    again = world(
        finished("mr-a", "n0", 20),
        finished("mr-b", "n1", 15),
        finished("mr-c", "n2", 12),
        finished("mr-d", "n3", 11),
        budget=acknowledged,
        down=("n0", "n1", "n2", "n3"),
    )
    held = plan(again).explanation("mr-next")
    assert held.reason.value == "FailureBudgetExceeded"
    assert "n2" in held.message and "n3" in held.message and "n0" not in held.message


def test_nodes_under_work_gone_or_cordoned_by_repairman_are_not_judged() -> None:
    busy = request(
        "mr-again",
        "n1",
        status=RequestStatus(
            state=RequestState.APPROVED, target="node/n1", preparing_since=ago(minutes=2)
        ),
    )
    assert reason(world(finished("mr-a", "n0", 20), finished("mr-b", "n1", 15), busy)) == (
        "Approved"
    )
    gone = world(finished("mr-a", "n0", 20), finished("mr-b", "n1", 15))
    gone = attrs.evolve(gone, nodes=tuple(n for n in gone.nodes if n.name != "n1"))
    assert reason(gone) == "Approved"
    cordoned: dict[str, Any] = {"n1": {"unschedulable": True}}
    by_admin = world(
        finished("mr-a", "n0", 20), finished("mr-b", "n1", 15), down=("n0",), **cordoned
    )
    assert reason(by_admin) == "FailureBudgetExceeded"
    ours = {"n1": {"unschedulable": True, "annotations": {CORDONED_BY: "mr-b"}}}
    by_us = world(finished("mr-a", "n0", 20), finished("mr-b", "n1", 15), down=("n0",), **ours)
    assert reason(by_us) == "Approved"


def test_only_a_nodes_latest_maintenance_is_judged() -> None:
    """n1 broke after mr-b, then mr-c repaired it 5 minutes ago: too soon to judge."""
    snapshot = world(
        finished("mr-a", "n0", 20), finished("mr-b", "n1", 40), finished("mr-c", "n1", 5)
    )
    assert reason(snapshot) == "Approved"


def test_a_failure_budget_on_a_workload_limit_is_refused() -> None:
    parsed = parse_limit_spec("apps", {"type": "deployment", "limit": 10, "failureBudget": BUDGET})
    assert isinstance(parsed, InvalidLimit)
    assert str(parsed.error) == "spec.failureBudget: applies to node limits only, not deployment"
    zero = parse_limit_spec("n", {"type": "node", "limit": 1, "failureBudget": {"maxUnhealthy": 0}})
    assert not isinstance(zero, InvalidLimit)
    assert zero.failure_budget is not None
    assert (zero.failure_budget.after_seconds, zero.failure_budget.within_seconds) == (600, 86400)


# --- the helper's break-this review (issue 17): each fails with its fix reverted ---


def _written(snapshot: Snapshot) -> Snapshot:
    """The snapshot with the limit's status as the plan wrote it (the next pass's read)."""
    return attrs.evolve(
        snapshot, limits=(attrs.evolve(snapshot.limits[0], status=limit_status(snapshot)),)
    )


def test_a_request_deleted_while_at_work_still_counts() -> None:
    """mr-x was approved on n0 (the limit's status.atWork says so), the firmware bricked
    n0 and the actor deleted mr-x: its maintenance ended when the deletion was seen."""
    snapshot = world(finished("mr-a", "n0", 20), down=("n0", "n1"))
    at_work = attrs.evolve(snapshot.limits[0], status=LimitStatus(at_work=(("mr-x", "n1"),)))
    deleted = attrs.evolve(snapshot, limits=(at_work,))
    assert reason(deleted) == "Approved", "n1 is judged 10 minutes after the deletion"
    written = limit_status(deleted)
    assert ("mr-x", "n1", NOW) in written.finishes
    later = attrs.evolve(_written(deleted), now=NOW + timedelta(minutes=11))
    assert reason(later) == "FailureBudgetExceeded"


def test_an_approved_request_is_listed_at_work_until_its_finish_is_recorded() -> None:
    working = request(
        "mr-w",
        "n2",
        state="InProgress",
        status=RequestStatus(
            state=RequestState.IN_PROGRESS,
            target="node/n2",
            preparing_since=ago(minutes=9),
            approved_at=ago(minutes=8),
        ),
    )
    assert limit_status(world(working)).at_work == (("mr-next", "n5"), ("mr-w", "n2"))


def test_a_finished_request_is_not_deleted_before_its_finish_is_recorded() -> None:
    """TTL 0: deleting mr-a in the pass that first records its finish would forget it
    if the limit's status write is then lost (a 409, SIGTERM between the two)."""
    budget = attrs.evolve(
        limit("node", limit=100, failureBudget=BUDGET, ttlSecondsAfterFinished=0),
    )
    snapshot = attrs.evolve(world(finished("mr-a", "n0", 20)), limits=(budget,))
    first = plan(snapshot)
    assert "DeleteRequest" not in [type(d).__name__ for d in first.decisions]
    second = plan(_written(snapshot))
    assert "DeleteRequest" in [type(d).__name__ for d in second.decisions]


def test_a_rated_request_is_not_deleted_before_its_admission_is_recorded() -> None:
    rated = limit(
        "node", limit=100, rate={"count": 1, "perSeconds": 3600}, ttlSecondsAfterFinished=0
    )
    snapshot = Snapshot(
        now=NOW,
        nodes=world().nodes,
        limits=(rated,),
        requests=(finished("mr-a", "n0", 20),),
    )
    kinds = [type(d).__name__ for d in plan(snapshot).decisions]
    assert "DeleteRequest" not in kinds
    assert "DeleteRequest" in [type(d).__name__ for d in plan(_written(snapshot)).decisions]


def test_a_pass_with_the_limit_invalid_keeps_its_records() -> None:
    """A typo in the limit for one pass must not forget the failures (the requests are
    long deleted): fixing it finds the budget still tripped."""
    snapshot = world(records=(("mr-gone", "n0", 30), ("mr-gone-2", "n1", 20)))
    assert reason(snapshot) == "FailureBudgetExceeded"
    good = _written(snapshot).limits[0]
    typo = attrs.evolve(good, spec={**good.spec, "windows": "nightly"})
    invalid = attrs.evolve(snapshot, limits=(typo,))
    kept = limit_status(invalid)
    assert kept.finishes == good.status.finishes and kept.held == "invalid"
    fixed = attrs.evolve(snapshot, limits=(attrs.evolve(good, status=kept),))
    assert reason(fixed) == "FailureBudgetExceeded"


def test_a_counted_node_under_maintenance_again_counts_on() -> None:
    """n0 and n1 are down after their maintenance (budget 1): tripped. A repair of n0 is
    admitted (it was filed earlier, or under another limit): n0 keeps counting until
    that repair ends, so the budget is not laundered."""
    snapshot = world(finished("mr-a", "n0", 20), finished("mr-b", "n1", 15))
    assert reason(_written(snapshot)) == "FailureBudgetExceeded"
    repair = request(
        "mr-repair",
        "n0",
        status=RequestStatus(
            state=RequestState.APPROVED, target="node/n0", preparing_since=ago(minutes=1)
        ),
    )
    again = attrs.evolve(_written(snapshot), requests=(*snapshot.requests, repair))
    held = plan(again).explanation("mr-next")
    assert held.reason.value == "FailureBudgetExceeded"
    assert "n0 under maintenance again after mr-a" in held.message
