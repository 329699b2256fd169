"""The planner's rules, pass by pass, on small hand-made clusters.

Covers: a full drain across passes (cordon, evictions, terminating pods, drainedAt,
grace, volume detach, approval), same-pass approval when nothing is left to prepare,
the order of decisions (admission committed before cordon, cordon before approval,
terminal status before uncordon), timeouts, withdrawal by spec and by deletion, cordon
ownership and takeover, soak, minimum interval, PDB budgets with and without drain,
repairs of already-unavailable nodes, fail-closed limits, spec changes after admission,
actors out of order, TTL, and workload targets. The same rules over generated clusters
are in tests/properties; whole recorded scenarios in tests/replay.
"""

from __future__ import annotations

import attrs

from policy import (
    CORDONED_BY,
    Cordon,
    DeleteRequest,
    Evict,
    Reason,
    RequestState,
    Snapshot,
    Uncordon,
    UpdateRequestStatus,
    plan,
)
from policy.model import LimitStatus, Node, RequestStatus, TargetType, VolumeAttachment, Workload
from tests.helpers import NOW, active, ago, app_pod, limit, nodes, pdb, request
from tests.model import advance, apply, finish_terminating

S = RequestState
DRAINING_LIMIT = limit(
    "node",
    type="node",
    limit=50,
    drain={"timeoutSeconds": 600, "gracePeriodSeconds": 30},
    infraDrain={"waitForVolumeDetach": True, "timeoutSeconds": 300, "gracePeriodSeconds": 10},
)


def state_of(snapshot: Snapshot, name: str) -> RequestState | None:
    return next(r.status.state for r in snapshot.requests if r.name == name)


def kinds(p: object) -> list[str]:
    return [type(d).__name__ for d in p.decisions]  # type: ignore[attr-defined]


def test_drain_across_passes_until_approved() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=nodes(2),
        pods=(
            app_pod("web-1", "n0", "web"),
            app_pod("web-2", "n1", "web"),
            app_pod("ds-1", "n0", "ds", owner_kind="DaemonSet"),
        ),
        pdbs=(pdb("web", "web", allowed=1),),
        volume_attachments=(VolumeAttachment("va-1", "n0"),),
        limits=(DRAINING_LIMIT,),
        requests=(request("mr-a", "n0"),),
    )
    first = plan(snap)
    assert kinds(first)[:3] == ["UpdateRequestStatus", "Cordon", "Evict"]
    commit = first.decisions[0]
    assert isinstance(commit, UpdateRequestStatus) and commit.status.state is S.PREPARING
    evict = first.decisions[2]
    assert isinstance(evict, Evict) and evict.pod == "web-1" and evict.pdb == "ns/web"
    snap = apply(snap, first)
    assert state_of(snap, "mr-a") is S.PREPARING

    # The pod is terminating: wait, do not evict again.
    second = plan(advance(snap, 60))
    assert not any(isinstance(d, Evict | Cordon) for d in second.decisions)
    assert second.explanation("mr-a").reason is Reason.DRAINING
    assert "web-1 (terminating)" in second.explanation("mr-a").message

    # The kubelet finished it: drained, grace period of 30 s.
    snap = finish_terminating(advance(snap, 60))
    third = plan(snap)
    assert third.explanation("mr-a").reason is Reason.DRAIN_GRACE
    snap = apply(snap, third)
    drained = next(r for r in snap.requests if r.name == "mr-a").status.drained_at
    assert drained == snap.now

    # After the grace period, the volume is still attached.
    snap = advance(snap, 30)
    fourth = plan(snap)
    assert fourth.explanation("mr-a").reason is Reason.WAITING_FOR_VOLUME_DETACH
    assert "va-1" in fourth.explanation("mr-a").message
    snap = apply(snap, fourth)

    snap = attrs.evolve(snap, volume_attachments=(), now=snap.now + (snap.now - snap.now))
    fifth = plan(snap)
    assert fifth.explanation("mr-a").reason is Reason.DETACH_GRACE
    snap = apply(advance(snap, 10), fifth)
    sixth = plan(snap)
    assert sixth.explanation("mr-a").state is S.APPROVED
    snap = apply(snap, sixth)
    assert state_of(snap, "mr-a") is S.APPROVED
    node = next(n for n in snap.nodes if n.name == "n0")
    assert node.unschedulable and node.annotations[CORDONED_BY] == "mr-a"


def test_nothing_to_prepare_approves_in_the_same_pass() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=nodes(4),
        limits=(limit("node", limit=50),),
        requests=(request("mr-a", "n0"),),
    )
    result = plan(snap)
    assert kinds(result) == ["UpdateRequestStatus", "UpdateLimitStatus"]
    status = result.decisions[0]
    assert isinstance(status, UpdateRequestStatus)
    assert status.status.state is S.APPROVED
    assert status.status.preparing_since == NOW and status.status.approved_at == NOW


def test_cordon_only_commits_admission_then_cordons_then_approves() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=nodes(4),
        limits=(limit("node", limit=50, cordon=True),),
        requests=(request("mr-a", "n0"),),
    )
    result = plan(snap)
    assert kinds(result)[:3] == ["UpdateRequestStatus", "Cordon", "UpdateRequestStatus"]
    first, _, last = result.decisions[:3]
    assert isinstance(first, UpdateRequestStatus) and first.status.state is S.PREPARING
    assert isinstance(last, UpdateRequestStatus) and last.status.state is S.APPROVED


def test_drain_timeout_expires_and_uncordons() -> None:
    cordoned = Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-a"})
    snap = Snapshot(
        now=NOW,
        nodes=(cordoned, *nodes(3, prefix="m")),
        pods=(app_pod("web-1", "n0", "web"),),
        pdbs=(pdb("web", "web", allowed=0),),
        limits=(DRAINING_LIMIT,),
        requests=(
            request("mr-a", "n0", status=active(S.PREPARING, "node/n0", since=ago(seconds=600))),
        ),
    )
    result = plan(snap)
    assert kinds(result)[:2] == ["UpdateRequestStatus", "Uncordon"]
    assert result.explanation("mr-a").state is S.EXPIRED
    assert result.explanation("mr-a").reason is Reason.DRAIN_TIMEOUT
    assert "ns/web-1" in result.explanation("mr-a").message


def test_approved_timeout_and_in_progress_timeout() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=(
            Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-a"}),
            Node("n1", unschedulable=True, annotations={CORDONED_BY: "mr-b"}),
            *nodes(2, prefix="m"),
        ),
        limits=(
            limit(
                "node",
                limit=50,
                cordon=True,
                approvedTimeoutSeconds=60,
                inProgressTimeoutSeconds=120,
            ),
        ),
        requests=(
            request(
                "mr-a", "n0", status=active(S.APPROVED, "node/n0", approved_at=ago(seconds=60))
            ),
            request(
                "mr-b",
                "n1",
                state="InProgress",
                status=active(
                    S.IN_PROGRESS, "node/n1", approved_at=ago(hours=1), started_at=ago(seconds=119)
                ),
            ),
        ),
    )
    result = plan(snap)
    assert result.explanation("mr-a").reason is Reason.APPROVED_TIMEOUT
    assert result.explanation("mr-b").state is S.IN_PROGRESS  # one second left
    assert [d.node for d in result.decisions if isinstance(d, Uncordon)] == ["n0"]
    later = plan(advance(snap, 1))
    assert later.explanation("mr-b").reason is Reason.IN_PROGRESS_TIMEOUT
    assert sorted(d.node for d in later.decisions if isinstance(d, Uncordon)) == ["n0", "n1"]


def test_withdrawn_while_preparing_and_deleted_request_uncordon() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=(
            Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-a"}),
            Node("n1", unschedulable=True, annotations={CORDONED_BY: "mr-gone"}),
            Node("n2", unschedulable=True),  # an admin's cordon
        ),
        limits=(DRAINING_LIMIT,),
        requests=(request("mr-a", "n0", state="Completed", status=active(S.PREPARING, "node/n0")),),
    )
    result = plan(snap)
    assert result.explanation("mr-a").state is S.COMPLETED
    assert result.explanation("mr-a").reason is Reason.WITHDRAWN
    uncordons = {d.node: d.reason for d in result.decisions if isinstance(d, Uncordon)}
    assert uncordons == {"n0": "mr-a is Completed", "n1": "mr-gone no longer exists"}


def test_admin_cordoned_node_is_never_uncordoned() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=(Node("n0", unschedulable=True), *nodes(3, prefix="m")),
        limits=(limit("node", limit=50, cordon=True),),
        requests=(request("mr-a", "n0"),),
    )
    first = plan(snap)
    assert not any(isinstance(d, Cordon) for d in first.decisions)
    assert first.explanation("mr-a").state is S.APPROVED
    snap = apply(snap, first)
    done = attrs.evolve(
        snap,
        requests=tuple(
            attrs.evolve(r, spec={**r.spec, "state": "InProgress"}) for r in snap.requests
        ),
    )
    done = apply(done, plan(done))
    done = attrs.evolve(
        done,
        requests=tuple(
            attrs.evolve(r, spec={**r.spec, "state": "Completed"}) for r in done.requests
        ),
    )
    final = plan(done)
    assert final.explanation("mr-a").state is S.COMPLETED
    assert not any(isinstance(d, Uncordon) for d in final.decisions)


def test_cordon_of_a_finished_request_is_taken_over() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=(
            Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-old"}),
            *nodes(3, prefix="m"),
        ),
        limits=(limit("node", limit=50, cordon=True),),
        requests=(
            request(
                "mr-old",
                "n0",
                status=RequestStatus(
                    state=S.COMPLETED, target="node/n0", finished_at=ago(minutes=1)
                ),
            ),
            request("mr-new", "n0"),
        ),
    )
    result = plan(snap)
    assert Cordon(node="n0", request="mr-new") in result.decisions
    assert not any(isinstance(d, Uncordon) for d in result.decisions)


def test_soak_keeps_the_slot_until_the_node_has_been_ready_long_enough() -> None:
    soaking = RequestStatus(
        state=S.COMPLETED,
        target="node/n0",
        approved_at=ago(hours=1),
        started_at=ago(hours=1),
        finished_at=ago(minutes=5),
    )
    snap = Snapshot(
        now=NOW,
        nodes=(Node("n0", ready_since=ago(minutes=2)), *nodes(1, prefix="m")),
        limits=(limit("node", limit=50, soakSeconds=600),),
        requests=(request("mr-old", "n0", status=soaking), request("mr-new", "m0")),
    )
    result = plan(snap)
    assert result.explanation("mr-new").reason is Reason.LIMIT_REACHED
    assert "n0 soaking after mr-old" in result.explanation("mr-new").message
    # Ready for 10 minutes (since 2 minutes ago): the slot frees at NOW + 8 minutes.
    assert plan(advance(snap, 479)).explanation("mr-new").state is S.PENDING
    assert plan(advance(snap, 480)).explanation("mr-new").state is S.APPROVED


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


def test_spec_changed_after_admission_is_ignored() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=nodes(4),
        limits=(limit("node", limit=50),),
        requests=(
            request(
                "mr-a",
                "n3",
                state="InProgress",
                status=active(S.IN_PROGRESS, "node/n0", started_at=ago(minutes=1)),
            ),
        ),
    )
    result = plan(snap)
    explanation = result.explanation("mr-a")
    assert explanation.state is S.IN_PROGRESS
    assert explanation.target == "node/n0"
    assert "spec names node/n3, admitted for node/n0" in explanation.message


def test_active_request_whose_target_is_lost_ends_without_a_forbidden_transition() -> None:
    # status.target corrupted and the spec invalid: nothing names the target. Found by
    # the invariant properties: the planner asserted Approved -> Rejected.
    requests = tuple(
        request(
            f"mr-{state.value.lower()}",
            "n0",
            kind="",
            status=active(state, "/n0", approved_at=ago(minutes=1)),
        )
        for state in (S.PREPARING, S.APPROVED, S.IN_PROGRESS)
    )
    result = plan(Snapshot(now=NOW, nodes=nodes(1), requests=requests))
    ends = {e.request: (e.state, e.reason) for e in result.explanations}
    assert ends == {
        "mr-preparing": (S.REJECTED, Reason.INVALID_SPEC),
        "mr-approved": (S.EXPIRED, Reason.INVALID_SPEC),
        "mr-inprogress": (S.EXPIRED, Reason.INVALID_SPEC),
    }


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


def test_ttl_deletes_finished_requests() -> None:
    finished = RequestStatus(state=S.REJECTED, reason="InvalidSpec", finished_at=ago(seconds=100))
    snap = Snapshot(
        now=NOW,
        nodes=nodes(1),
        limits=(limit("node", limit=50, ttlSecondsAfterFinished=100),),
        requests=(
            request("mr-a", "n0", status=finished),
            request("mr-b", "n0", status=attrs.evolve(finished, finished_at=ago(seconds=99))),
        ),
    )
    result = plan(snap)
    assert [d.request for d in result.decisions if isinstance(d, DeleteRequest)] == ["mr-a"]


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


def test_second_pass_on_an_applied_plan_repeats_nothing() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=nodes(4),
        pods=(app_pod("web-1", "n0", "web"),),
        pdbs=(pdb("web", "web", allowed=1),),
        limits=(DRAINING_LIMIT,),
        requests=(request("mr-a", "n0"), request("mr-b", "n1")),
    )
    first = plan(snap)
    second = plan(apply(snap, first))
    assert first.decisions
    assert not [d for d in second.decisions if d in first.decisions]


def test_an_admission_committed_by_another_pass_keeps_its_slot() -> None:
    # Another runner wrote mr-a into the limit's status (the commit point) but has not
    # yet written mr-a's own status: mr-a's node is in use, and only mr-a may have it.
    committed = attrs.evolve(limit("node", limit=25), status=LimitStatus(active=("mr-a",)))
    snap = Snapshot(
        now=NOW,
        nodes=nodes(4),
        limits=(committed,),
        requests=(request("mr-b", "n1", priority=5), request("mr-a", "n0")),
    )
    result = plan(snap)
    assert result.explanation("mr-b").reason is Reason.LIMIT_REACHED
    assert "n0 by mr-a (committing)" in result.explanation("mr-b").message
    assert result.explanation("mr-a").state is S.APPROVED


def test_status_explained_is_evolve_with_every_field_carried() -> None:
    # RequestStatus.explained spells out the constructor: a field added to the class
    # but not to it would be lost (or shifted) silently.
    values = {
        field.name: (
            S.APPROVED
            if field.name == "state"
            else 7
            if field.name == "observed_generation"
            else ago(minutes=index)
            if field.name.endswith(("_at", "_since"))
            else f"value-{index}"
        )
        for index, field in enumerate(attrs.fields(RequestStatus))
    }
    status = RequestStatus(**values)
    assert status.explained("Why", "because", 9) == attrs.evolve(
        status, reason="Why", message="because", observed_generation=9
    )


def test_a_full_limit_names_its_holders_only_when_all_fit() -> None:
    def waiting_message(holding: int) -> str:
        snap = Snapshot(
            now=NOW,
            nodes=nodes(holding + 1),
            limits=(limit("node", limit=100, maxConcurrent=holding),),
            requests=(
                *(
                    request(
                        f"mr-{i}",
                        f"n{i}",
                        state="InProgress",
                        status=active(S.IN_PROGRESS, f"node/n{i}", started_at=ago(minutes=1)),
                    )
                    for i in range(holding)
                ),
                request("mr-last", f"n{holding}"),
            ),
        )
        return plan(snap).explanation("mr-last").message

    # DESIGN's example: a few holders, all named.
    assert waiting_message(2) == (
        "limit node: 2 of 2 in use (100% of 3, at most 2): n0 by mr-0, n1 by mr-1"
    )
    assert waiting_message(5).endswith("n3 by mr-3, n4 by mr-4")
    # Six do not fit: naming some would rewrite every queued request each time one of
    # them finishes. The count stays; the limit's status lists them all.
    assert waiting_message(6) == "limit node: 6 of 6 in use (100% of 7, at most 6)"
