"""Admission of Pending requests (policy/admission.py): limits, windows' neighbours
(interval), PDB budgets without a drain, repairs of already-unavailable nodes, fail
closed, actors out of order, priority, workload targets, the commit point, and the
LimitReached message. Leaves out windows themselves (test_windows.py) and what happens
after admission (test_preparation.py).
"""

from __future__ import annotations

import attrs

from policy import (
    Reason,
    RequestState,
    Snapshot,
    UpdateLimitStatus,
    plan,
)
from policy.commits import COMMIT_EXPIRY_SECONDS
from policy.model import LabelSelector, LimitStatus, Node, TargetType, Workload
from tests.helpers import (
    NOW,
    active,
    ago,
    app_pod,
    limit,
    nodes,
    pdb,
    request,
    state_of,
)
from tests.model import advance, apply

S = RequestState


def test_min_interval_between_admissions_in_one_plan_and_across_plans() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=nodes(10),
        limits=(limit("node", limit=100, minIntervalSeconds=300),),
        requests=(request("mr-a", "n0"), request("mr-b", "n1", created=ago(minutes=1))),
    )
    first = plan(snap)
    assert first.explanation("mr-a").state is S.APPROVED
    assert first.explanation("mr-b").reason is Reason.MIN_INTERVAL
    snap = apply(snap, first)
    assert plan(advance(snap, 299)).explanation("mr-b").reason is Reason.MIN_INTERVAL
    assert plan(advance(snap, 300)).explanation("mr-b").state is S.APPROVED


def test_pdb_budget_without_drain_is_shared_across_candidates() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=nodes(4),
        pods=(app_pod("web-1", "n0", "web"), app_pod("web-2", "n1", "web")),
        pdbs=(pdb("web", "web", allowed=1),),
        limits=(limit("node", limit=100),),
        requests=(request("mr-a", "n0"), request("mr-b", "n1", created=ago(minutes=1))),
    )
    result = plan(snap)
    assert result.explanation("mr-a").state is S.APPROVED
    assert result.explanation("mr-b").reason is Reason.DISRUPTION_BUDGET
    assert "PDB ns/web allows 0 more disruptions" in result.explanation("mr-b").message
    # Next pass: the PDB status has not caught up yet (the pods are still healthy), but
    # the approved node's pods stay counted, so mr-b still waits.
    assert plan(apply(snap, result)).explanation("mr-b").reason is Reason.DISRUPTION_BUDGET


def test_stale_pdb_and_overlapping_pdbs_block() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=nodes(4),
        pods=(app_pod("web-1", "n0", "web"), app_pod("db-1", "n1", "db")),
        pdbs=(
            pdb("web", "web", allowed=3, generation=2, observed_generation=1),
            pdb("db", "db", allowed=1),
            pdb("db-too", "db", allowed=1),
        ),
        limits=(limit("node", limit=100),),
        requests=(request("mr-a", "n0"), request("mr-b", "n1")),
    )
    result = plan(snap)
    assert result.explanation("mr-a").reason is Reason.DISRUPTION_BUDGET
    assert "stale" in result.explanation("mr-a").message
    assert result.explanation("mr-b").reason is Reason.MULTIPLE_PDBS


def test_repair_of_an_unavailable_node_uses_no_new_slot() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=(Node("n0", ready=False), *nodes(3, prefix="m")),
        limits=(limit("node", limit=25, policies=["NotReady"]),),
        requests=(request("mr-repair", "n0"), request("mr-patch", "m0")),
    )
    result = plan(snap)
    assert result.explanation("mr-repair").state is S.APPROVED
    assert result.explanation("mr-patch").reason is Reason.LIMIT_REACHED


def test_limit_already_exceeded_by_failures_admits_nothing() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=(Node("n0", ready=False), Node("n1", ready=False), *nodes(2, prefix="m")),
        limits=(limit("node", limit=25, policies=["NotReady"]),),
        requests=(request("mr-repair", "n0"),),
    )
    result = plan(snap)
    assert result.explanation("mr-repair").reason is Reason.LIMIT_REACHED
    assert "2 of 1 in use" in result.explanation("mr-repair").message


def test_fail_closed_without_a_valid_limit() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=(Node("a0", labels={"zone": "a"}), Node("b0", labels={"zone": "b"})),
        limits=(
            limit("node", limit=100),
            limit(
                "zone-a",
                type="node",
                limit=100,
                selector={"matchLabels": {"zone": "a"}},
                soakSeconds="x",
            ),
        ),
        workloads=(Workload(TargetType.DEPLOYMENT, "shop", "web"),),
        requests=(
            request("mr-a", "a0"),
            request("mr-b", "b0"),
            request("mr-web", "shop/web", kind="deployment"),
        ),
    )
    result = plan(snap)
    assert result.explanation("mr-a").reason is Reason.LIMIT_INVALID
    assert "spec.soakSeconds" in result.explanation("mr-a").message
    assert result.explanation("mr-b").state is S.APPROVED  # zone b is not governed by it
    assert result.explanation("mr-web").reason is Reason.NO_LIMIT


def test_actor_out_of_order_is_not_approved() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=nodes(4),
        limits=(limit("node", limit=50),),
        requests=(request("mr-a", "n0", state="InProgress"),),
    )
    result = plan(snap)
    assert result.explanation("mr-a").state is S.PENDING
    assert result.explanation("mr-a").reason is Reason.ACTOR_OUT_OF_ORDER


def test_priority_then_age_decides_who_gets_the_last_slot() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=nodes(4),
        limits=(limit("node", limit=25),),
        requests=(
            request("mr-old", "n0", created=ago(hours=2)),
            request("mr-urgent", "n1", priority=10, created=ago(minutes=1)),
            request("mr-older", "n2", created=ago(hours=3)),
        ),
    )
    result = plan(snap)
    assert result.explanation("mr-urgent").state is S.APPROVED
    assert [e.request for e in result.explanations] == ["mr-urgent", "mr-older", "mr-old"]


def test_workload_targets_use_their_own_limits() -> None:
    snap = Snapshot(
        now=NOW,
        workloads=(
            Workload(TargetType.STATEFULSET, "data", "pg"),
            Workload(TargetType.STATEFULSET, "data", "kafka"),
        ),
        limits=(limit("statefulset", limit=50),),
        requests=(
            request("mr-pg", "data/pg", kind="statefulset"),
            request("mr-kafka", "data/kafka", kind="statefulset", created=ago(minutes=1)),
            request("mr-missing", "data/zk", kind="statefulset"),
        ),
    )
    result = plan(snap)
    assert result.explanation("mr-pg").state is S.APPROVED
    assert result.explanation("mr-kafka").reason is Reason.LIMIT_REACHED
    assert result.explanation("mr-missing").reason is Reason.TARGET_NOT_FOUND


def test_an_admission_committed_by_another_pass_keeps_its_slot() -> None:
    # Another runner wrote mr-a into the limit's status (the commit point) but has not
    # yet written mr-a's own status: mr-a's node is in use, and only mr-a may have it.
    committed = attrs.evolve(
        limit("node", limit=25),
        status=LimitStatus(active=("mr-a",), commits=dict.fromkeys(("mr-a",), NOW)),
    )
    snap = Snapshot(
        now=NOW,
        nodes=nodes(4),
        limits=(committed,),
        requests=(request("mr-b", "n1", priority=5), request("mr-a", "n0")),
    )
    result = plan(snap)
    assert result.explanation("mr-b").reason is Reason.LIMIT_REACHED
    assert result.explanation("mr-b").message == "limit node: 1 of 1 in use (25% of 4)"
    assert result.limits[0].active == ("mr-a",), "the limit's status names who holds it"
    assert result.explanation("mr-a").state is S.APPROVED


def test_an_admission_committed_by_another_pass_keeps_its_target() -> None:
    # Runner A committed mr-a for n0 and is still writing; mr-a2 for n0, of higher
    # priority, arrives. Giving it n0 would make two active requests on n0 once A's
    # status write lands too (issue 14, item 5).
    committed = attrs.evolve(
        limit("node", limit=50),
        status=LimitStatus(active=("mr-a",), commits=dict.fromkeys(("mr-a",), NOW)),
    )
    snap = Snapshot(
        now=NOW,
        nodes=nodes(4),
        limits=(committed,),
        requests=(request("mr-a2", "n0", priority=5), request("mr-a", "n0")),
    )
    result = plan(snap)
    assert result.explanation("mr-a2").reason is Reason.TARGET_BUSY
    assert "node/n0 is held by mr-a" in result.explanation("mr-a2").message


def test_an_admission_committed_by_another_pass_keeps_its_pdb_budget() -> None:
    # Runner B committed mr-b, drain-less, for n1 and is still writing it (its Approved
    # may land any moment, and n1's web pod goes down in place): web's one disruption is
    # mr-b's. Runner A, listing after B's commit, must not give it to mr-a on n0 (the
    # PDB status still says 1: nothing is down yet). Review of issue 14, finding F1.
    web = pdb("web", "web", allowed=1)
    pods = (app_pod("web-0", "n0", "web"), app_pod("web-1", "n1", "web"))
    committed = attrs.evolve(
        limit("node", limit=100),
        status=LimitStatus(active=("mr-b",), commits=dict.fromkeys(("mr-b",), NOW)),
    )
    snap = Snapshot(
        now=NOW,
        nodes=nodes(3),
        pods=pods,
        pdbs=(web,),
        limits=(committed,),
        requests=(request("mr-a", "n0", priority=5), request("mr-b", "n1")),
    )
    result = plan(snap)
    assert result.explanation("mr-a").reason is Reason.DISRUPTION_BUDGET
    # The reservation is mr-b's own: this pass may admit mr-b itself (the same admission).
    assert result.explanation("mr-b").state is S.APPROVED


def test_two_committed_admissions_that_no_longer_fit_together_do_not_block_forever() -> None:
    # Runner A committed mr-a (n0) and mr-b (n1), drain-less, and died before writing
    # either; since, a web pod landed on n1 and web allows only 1. Each fits alone. The
    # first in the plan's order is admitted (before: each was judged against the other's
    # reservation, and both stayed Pending forever). mr-b's stale reservation still holds
    # mr-a's approval back (fail closed: its runner may be alive), until mr-a's budget
    # wait expires and mr-b goes. Review of issue 14's fixes; see docs/policy.md.
    web = pdb("web", "web", allowed=1)
    pods = (app_pod("web-0", "n0", "web"), app_pod("web-1", "n1", "web"))
    committed = attrs.evolve(
        limit("node", limit=100),
        status=LimitStatus(active=("mr-a", "mr-b"), commits=dict.fromkeys(("mr-a", "mr-b"), NOW)),
    )
    snap = Snapshot(
        now=NOW,
        nodes=nodes(3),
        pods=pods,
        pdbs=(web,),
        limits=(committed,),
        requests=(request("mr-a", "n0", priority=5), request("mr-b", "n1")),
    )
    first = plan(snap)
    assert first.explanation("mr-a").state is S.PREPARING
    assert first.explanation("mr-b").reason is Reason.DISRUPTION_BUDGET
    states = set()
    for _ in range(20):  # passes a minute apart: past the 900 s budget wait
        snap = advance(apply(snap, plan(snap)), 60)
        states = {state_of(snap, "mr-a"), state_of(snap, "mr-b")}
    assert S.APPROVED in states, states


def test_a_waiting_message_stays_while_its_cause_does() -> None:
    """DESIGN §2 (issue 19 item 8): a full limit's message does not name its holders,
    and a busy target's not its holder's state, so a change of holders rewrites none
    of the requests queued behind them. The holders are in the limit's status."""

    def waiting(holders: range, state: S = S.IN_PROGRESS) -> tuple[str, str, tuple[str, ...]]:
        snap = Snapshot(
            now=NOW,
            nodes=nodes(8),
            limits=(limit("node", limit=100, maxConcurrent=2),),
            requests=(
                *(
                    request(
                        f"mr-{i}",
                        f"n{i}",
                        state=state.value if state is S.IN_PROGRESS else "Pending",
                        status=active(state, f"node/n{i}", started_at=ago(minutes=1)),
                    )
                    for i in holders
                ),
                request("mr-last", "n7"),
                request("mr-behind", f"n{holders[0]}"),
            ),
        )
        result = plan(snap)
        return (
            result.explanation("mr-last").message,
            result.explanation("mr-behind").message,
            result.limits[0].active,
        )

    last, behind, holding = waiting(range(2))
    assert last == "limit node: 2 of 2 in use (100% of 8, at most 2)"
    assert behind == "node/n0 is held by mr-0; queued behind it"
    assert holding == ("mr-0", "mr-1")
    # Other holders, the same count: the queued request's message is unchanged.
    assert waiting(range(3, 5))[0] == last
    # The holder moves from Approved to InProgress: the request behind it is unchanged.
    assert waiting(range(2), S.APPROVED)[1] == behind


def test_a_waiting_request_holds_no_target() -> None:
    # mr-early's actor said InProgress before approval (out of order): it is not
    # admitted, and must not stall the node for the request behind it (DESIGN §3).
    snap = Snapshot(
        now=NOW,
        nodes=nodes(4),
        limits=(limit("node", limit=50),),
        requests=(
            request("mr-early", "n0", state="InProgress", created=ago(minutes=20)),
            request("mr-next", "n0"),
        ),
    )
    result = plan(snap)
    assert result.explanation("mr-early").reason is Reason.ACTOR_OUT_OF_ORDER
    assert result.explanation("mr-next").state is S.APPROVED


def test_pods_a_drainless_maintenance_took_down_keep_their_budget_spent() -> None:
    # mr-1 is InProgress on n0 without a drain; the reboot made web-0 unready, and the
    # disruption controller has not yet lowered PDB web (it still allows 1). mr-2's node
    # n1 holds web-1: admitting it would take both down.
    web = pdb("web", "web", allowed=1)
    started = active(
        S.IN_PROGRESS, "node/n0", approved_at=ago(minutes=2), started_at=ago(minutes=1)
    )
    snap = Snapshot(
        now=NOW,
        nodes=nodes(3),
        pods=(app_pod("web-0", "n0", "web", ready=False), app_pod("web-1", "n1", "web")),
        pdbs=(web,),
        limits=(limit("node", type="node", maxConcurrent=2),),
        requests=(
            request("mr-1", "n0", state="InProgress", status=started),
            request("mr-2", "n1"),
        ),
    )
    result = plan(snap)
    assert result.explanation("mr-2").reason is Reason.DISRUPTION_BUDGET


def test_a_pass_never_drops_another_runners_commit_from_the_limits_status() -> None:
    # Runner A committed mr-1 (the limit's status names it, lastAdmissionAt = A's
    # instant) and is still writing mr-1. Pass C, 10 s later, finds mr-1 Pending and
    # held back by the interval A's own admission set. C's limit status must keep mr-1,
    # or a later pass, reading the limit after C's write and the requests before A's,
    # gives mr-1's node and slot away (review finding 4).
    committed = attrs.evolve(
        limit("node", type="node", maxConcurrent=1, minIntervalSeconds=60),
        status=LimitStatus(active=("mr-1",), last_admission_at=ago(seconds=10)),
    )
    snap = Snapshot(now=NOW, nodes=nodes(3), limits=(committed,), requests=(request("mr-1", "n0"),))
    result = plan(snap)
    assert result.explanation("mr-1").reason is Reason.MIN_INTERVAL
    report = next(r for r in result.limits if r.name == "node")
    assert (report.active, report.in_use) == (("mr-1",), 1)
    writes = [d for d in result.decisions if isinstance(d, UpdateLimitStatus)]
    assert all(d.status.active == ("mr-1",) for d in writes), writes


def test_without_a_drain_a_pending_or_unready_pod_is_charged_all_the_same() -> None:
    """Unlike an eviction, maintenance without a drain takes the node's pods down later,
    when the actor works, with no API server judging them then: a pod Pending or
    unready at approval may be Ready by then. So every pod the maintenance disrupts is
    charged (the Eviction API's free rules apply to evictions only), and a Pending pod
    under several PDBs blocks. Break-this review 2: with the free rules here, both
    requests below were approved, and the PDBs broken once the pods started."""
    web = pdb("web", "web", allowed=0, current_healthy=2, desired_healthy=3)
    pending = Snapshot(
        now=NOW,
        nodes=nodes(4),
        pods=(
            app_pod("web-p", "n0", "web", phase="Pending", ready=False),
            app_pod("web-1", "n1", "web"),
            app_pod("web-2", "n2", "web"),
        ),
        pdbs=(web,),
        limits=(limit("node", type="node", limit=50, cordon=True),),
        requests=(request("mr-a", "n0"),),
    )
    waiting = plan(pending).explanation("mr-a")
    assert (waiting.state, waiting.reason) == (S.PENDING, Reason.DISRUPTION_BUDGET)
    front = attrs.evolve(pdb("front", "web", allowed=5), selector=LabelSelector({"app": "web"}))
    two = attrs.evolve(pending, pdbs=(attrs.evolve(web, disruptions_allowed=5), front))
    blocked = plan(two).explanation("mr-a")
    assert (blocked.state, blocked.reason) == (S.PENDING, Reason.MULTIPLE_PDBS)


def test_an_unwritten_commit_holds_until_it_expires() -> None:
    """Issue 28 defect 1 (DESIGN §3 "An admission that is not written is not held"):
    another runner's commit of mr-a (limit status entry, mr-a still Pending and unable
    to be admitted itself: a PDB at 0) holds the only slot for COMMIT_EXPIRY_SECONDS
    from its instant, then nothing; the next status write drops it. A legacy entry (a
    name in `active` without an instant) counts from the limit's last admission."""

    def waiting(status: LimitStatus) -> tuple[Reason, LimitStatus | None]:
        snap = Snapshot(
            now=NOW,
            nodes=nodes(2),
            pods=(app_pod("web-0", "n0", "web"),),
            pdbs=(pdb("web", "web", allowed=0),),
            limits=(attrs.evolve(limit("node", limit=100, maxConcurrent=1), status=status),),
            requests=(request("mr-a", "n0"), request("mr-b", "n1")),
        )
        result = plan(snap)
        written = [d.status for d in result.decisions if isinstance(d, UpdateLimitStatus)]
        return result.explanation("mr-b").reason, (written[0] if written else None)

    expiry = COMMIT_EXPIRY_SECONDS
    held, _ = waiting(LimitStatus(active=("mr-a",), commits={"mr-a": ago(seconds=expiry - 1)}))
    assert held is Reason.LIMIT_REACHED
    freed, status = waiting(LimitStatus(active=("mr-a",), commits={"mr-a": ago(seconds=expiry)}))
    assert freed is Reason.APPROVED
    assert status is not None and status.active == ("mr-b",)
    assert status.commits == {"mr-b": NOW}, "the expired entry is dropped, the new one written"
    legacy = LimitStatus(active=("mr-a",), last_admission_at=ago(seconds=10))
    assert waiting(legacy)[0] is Reason.LIMIT_REACHED
    assert waiting(LimitStatus(active=("mr-a",)))[0] is Reason.APPROVED


def test_a_dead_nodes_own_unready_pods_do_not_hold_its_repair() -> None:
    """Found by the issue 28 review: n0 is NotReady, its DaemonSet pod unready, so the
    PDB over the DaemonSet allows 0. That pod is down already; charging it again kept
    the repair of n0 from ever being admitted. On a Ready node it is still charged (it
    may be up again before the maintenance takes it down)."""

    def first_pass(ready: bool) -> Reason:
        snap = Snapshot(
            now=NOW,
            nodes=(Node("n0", ready=ready), *nodes(2)[1:]),
            pods=(app_pod("exp-0", "n0", "exp", owner_kind="DaemonSet", ready=False),),
            pdbs=(pdb("exp", "exp", allowed=0),),
            limits=(limit("node", limit=100, cordon=True, drain={"timeoutSeconds": 600}),),
            requests=(request("mr-a", "n0"),),
        )
        return plan(snap).explanation("mr-a").reason

    assert first_pass(ready=False) is Reason.APPROVED
    assert first_pass(ready=True) is Reason.DISRUPTION_BUDGET


def test_the_pods_of_a_deleted_node_under_maintenance_stay_charged() -> None:
    """Found by the issue 28 review: mr-x is InProgress without a drain on n0, whose
    Node object the repair deleted; web-0 is still bound to it and Ready until the pod
    garbage collector removes it, so PDB web still allows 1. It goes down with n0: mr-y
    on n1, whose web-1 needs the same budget, waits."""
    snap = Snapshot(
        now=NOW,
        nodes=nodes(3)[1:],
        pods=(app_pod("web-0", "n0", "web"), app_pod("web-1", "n1", "web")),
        pdbs=(pdb("web", "web", allowed=1),),
        limits=(limit("node", limit=100),),
        requests=(
            request(
                "mr-x",
                "n0",
                state="InProgress",
                status=active(
                    S.IN_PROGRESS, "node/n0", approved_at=ago(minutes=3), started_at=ago(minutes=2)
                ),
            ),
            request("mr-y", "n1"),
        ),
    )
    assert plan(snap).explanation("mr-y").reason is Reason.DISRUPTION_BUDGET
