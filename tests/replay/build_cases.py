"""The golden replay cases, as readable Python; writes tests/replay/cases/*.json.

Each case is a snapshot and the plan expected from it. The expected plans were checked
by hand when written (the description says what to look for); after a deliberate
behaviour change, regenerate with

    python -m tests.replay.build_cases

and read the diff of cases/ before committing it. A known bug is marked in
test_replay.py with xfail(strict=True), never by deleting its case.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs

from policy import plan
from policy.model import (
    CORDONED_BY,
    GateKind,
    GateReading,
    LabelSelector,
    LimitStatus,
    MaintenanceLimit,
    MaintenanceRequest,
    Node,
    NodeCondition,
    RequestState,
    RequestStatus,
    Snapshot,
    VolumeAttachment,
)
from policy.snapshot_format import dump
from runner.render import plan_json
from tests.helpers import NOW, active, ago, app_pod, limit, nodes, pdb, request

S = RequestState
CASES = Path(__file__).with_name("cases")
BUILDERS: dict[str, Callable[[], tuple[str, Snapshot]]] = {}


def case(builder: Callable[[], tuple[str, Snapshot]]) -> Callable[[], tuple[str, Snapshot]]:
    BUILDERS[builder.__name__.replace("_", "-")] = builder
    return builder


def zoned(zone: str, count: int, **fields: object) -> tuple[Node, ...]:
    return tuple(
        Node(f"{zone}{i}", labels={"zone": zone}, **fields)  # type: ignore[arg-type]
        for i in range(count)
    )


@case
def two_nodes_at_40_percent_allow_one() -> tuple[str, Snapshot]:
    return (
        "40% of 2 nodes is 0.8, rounded down but at least 1: the older request is approved in "
        "the same pass (nothing to prepare), the other waits naming the holder.",
        Snapshot(
            now=NOW,
            nodes=nodes(2),
            limits=(limit("node", limit=40),),
            requests=(request("mr-a", "n0", created=ago(minutes=2)), request("mr-b", "n1")),
        ),
    )


@case
def limit_zero_freezes() -> tuple[str, Snapshot]:
    return (
        "limit: 0 freezes all maintenance (the original repairman let 1 through).",
        Snapshot(
            now=NOW,
            nodes=nodes(10),
            limits=(limit("node", limit=0),),
            requests=(request("mr-a", "n0"),),
        ),
    )


@case
def per_zone_limit_lets_zone_b_proceed() -> tuple[str, Snapshot]:
    zone = {"type": "node", "limit": 100, "maxConcurrent": 1}
    return (
        "Zone a's limit is full (a0 in progress); the older request in zone a waits, but "
        "does not block the younger one in zone b, which is approved.",
        Snapshot(
            now=NOW,
            nodes=zoned("a", 3) + zoned("b", 3),
            limits=(
                limit("node", limit=50),
                limit("zone-a", **zone, selector={"matchLabels": {"zone": "a"}}),
                limit("zone-b", **zone, selector={"matchLabels": {"zone": "b"}}),
            ),
            requests=(
                request(
                    "mr-a0",
                    "a0",
                    state="InProgress",
                    status=active(
                        S.IN_PROGRESS,
                        "node/a0",
                        approved_at=ago(minutes=3),
                        started_at=ago(minutes=2),
                    ),
                ),
                request("mr-a1", "a1", created=ago(minutes=5)),
                request("mr-b1", "b1", created=ago(minutes=1)),
            ),
        ),
    )


@case
def pdb_shared_by_two_candidates_admits_one() -> tuple[str, Snapshot]:
    return (
        "Without a drain, maintenance disrupts the node's pods in place. web-1 and web-2 share "
        "a PDB that allows 1 disruption: the first candidate takes it, the second waits with "
        "the PDB and its budget named.",
        Snapshot(
            now=NOW,
            nodes=nodes(4),
            pods=(app_pod("web-1", "n0", "web"), app_pod("web-2", "n1", "web")),
            pdbs=(pdb("web", "web", allowed=1, current_healthy=3, desired_healthy=2),),
            limits=(limit("node", limit=100),),
            requests=(request("mr-a", "n0", created=ago(minutes=2)), request("mr-b", "n1")),
        ),
    )


@case
def admin_cordoned_node_never_uncordoned() -> tuple[str, Snapshot]:
    return (
        "n0 was cordoned by an admin (no cordoned-by annotation). Its request completes: it is "
        "not uncordoned. n1 was cordoned by us for mr-b, which completes: it is uncordoned.",
        Snapshot(
            now=NOW,
            nodes=(
                Node("n0", unschedulable=True),
                Node("n1", unschedulable=True, annotations={CORDONED_BY: "mr-b"}),
                Node("n2"),
            ),
            limits=(limit("node", limit=100, cordon=True),),
            requests=(
                request(
                    "mr-a",
                    "n0",
                    state="Completed",
                    status=active(S.IN_PROGRESS, "node/n0", started_at=ago(minutes=1)),
                ),
                request(
                    "mr-b",
                    "n1",
                    state="Completed",
                    status=active(S.IN_PROGRESS, "node/n1", started_at=ago(minutes=1)),
                ),
            ),
        ),
    )


@case
def window_closed_says_when_it_opens() -> tuple[str, Snapshot]:
    return (
        "Wednesday noon UTC; the window is Saturday and Sunday 01:00-05:00 in Berlin, so the "
        "request waits and the message says it opens Saturday 01:00 Berlin = Friday 24:00 UTC.",
        Snapshot(
            now=NOW,
            nodes=nodes(4),
            limits=(
                limit(
                    "weekend",
                    type="node",
                    limit=50,
                    windows=[
                        {
                            "days": ["Sat", "Sun"],
                            "start": "01:00",
                            "end": "05:00",
                            "timeZone": "Europe/Berlin",
                        }
                    ],
                ),
            ),
            requests=(request("mr-a", "n0"),),
        ),
    )


@case
def paused_limit_admits_nothing_new_and_lets_the_admitted_go_on() -> tuple[str, Snapshot]:
    return (
        "The node limit is paused: mr-a, already Approved, stays Approved (no new decision for "
        "it); mr-b waits with reason Paused and a message naming `kubectl repairman resume`; "
        "the limit's status message says it is paused.",
        Snapshot(
            now=NOW,
            nodes=nodes(4),
            limits=(limit("node", type="node", limit=100, paused=True),),
            requests=(
                request(
                    "mr-a",
                    "n0",
                    status=active(S.APPROVED, "node/n0", approved_at=ago(minutes=1)),
                ),
                request("mr-b", "n1"),
            ),
        ),
    )


FALL_BACK_FREEZE = {
    "start": "2026-10-24T22:00",
    "end": "2026-10-25T05:00",
    "timeZone": "Europe/Berlin",
    "reason": "DST change freeze",
}
"""Seven hours on Berlin's clock across the fall-back change: 20:00Z to 04:00Z, eight."""


@case
def blackout_across_a_dst_change_holds_until_its_local_end() -> tuple[str, Snapshot]:
    return (
        "A blackout from Sat 22:00 to Sun 05:00 Berlin across the fall-back change "
        "(2026-10-25 03:00 CEST -> 02:00 CET) lasts 8 hours, 20:00Z to 04:00Z. At 03:30Z "
        "(04:30 CET) it still holds: mr-a waits, reason Blackout, until Sun 2026-10-25 05:00 "
        "Europe/Berlin (2026-10-25T04:00:00Z).",
        Snapshot(
            now=datetime(2026, 10, 25, 3, 30, tzinfo=UTC),
            nodes=nodes(2),
            limits=(limit("node", type="node", limit=100, blackouts=[FALL_BACK_FREEZE]),),
            requests=(request("mr-a", "n0", created=datetime(2026, 10, 24, 12, 0, tzinfo=UTC)),),
        ),
    )


@case
def blackout_across_a_dst_change_ends_at_its_local_end() -> tuple[str, Snapshot]:
    return (
        "The same blackout at 04:00Z, Sun 05:00 CET, its end: mr-a is admitted and approved "
        "(no cordon, no drain) in this pass.",
        Snapshot(
            now=datetime(2026, 10, 25, 4, 0, tzinfo=UTC),
            nodes=nodes(2),
            limits=(limit("node", type="node", limit=100, blackouts=[FALL_BACK_FREEZE]),),
            requests=(request("mr-a", "n0", created=datetime(2026, 10, 24, 12, 0, tzinfo=UTC)),),
        ),
    )


@case
def blackouts_that_touch_hold_until_the_last_ends() -> tuple[str, Snapshot]:
    return (
        "Two blackouts in UTC, 11:00-12:30 and 12:30-14:00 (touching), and now is 12:00: the "
        "message says admissions resume at 14:00, the end of the chain, not at 12:30.",
        Snapshot(
            now=NOW,
            nodes=nodes(2),
            limits=(
                limit(
                    "node",
                    type="node",
                    limit=100,
                    blackouts=[
                        {"start": "2026-11-25T11:00", "end": "2026-11-25T12:30"},
                        {"start": "2026-11-25T12:30", "end": "2026-11-25T14:00", "reason": "b"},
                    ],
                ),
            ),
            requests=(request("mr-a", "n0"),),
        ),
    )


def _scheduled(name: str, target: str, **spec: object) -> MaintenanceRequest:
    made = request(name, target, priority=int(str(spec.pop("priority", 0))))
    return attrs.evolve(made, spec={**made.spec, **spec})


@case
def deadlines_go_first_within_a_priority_and_not_before_waits() -> tuple[str, Snapshot]:
    return (
        "50% of 5 nodes allows 2. mr-urgent (priority 1) goes first; then, within priority 0, "
        "mr-soon (deadline 13:00) before mr-late (deadline 14:00) before the older mr-old "
        "without one: mr-urgent and mr-soon are approved, the rest wait. mr-window has "
        "priority 2 but notBefore 18:00: it waits (NotBefore) and takes no slot.",
        Snapshot(
            now=NOW,
            nodes=nodes(5),
            limits=(limit("node", type="node", limit=50),),
            requests=(
                _scheduled("mr-old", "n0"),
                _scheduled("mr-late", "n1", deadline="2026-11-25T14:00:00Z"),
                _scheduled("mr-soon", "n2", deadline="2026-11-25T13:00:00Z"),
                _scheduled("mr-urgent", "n3", priority=1),
                _scheduled("mr-window", "n4", priority=2, notBefore="2026-11-25T18:00:00Z"),
            ),
        ),
    )


@case
def a_missed_deadline_is_the_reason_while_the_limit_holds_it() -> tuple[str, Snapshot]:
    return (
        "The limit allows 1 and mr-busy holds it; mr-late's deadline (11:55) passed before "
        "admission: it still waits for the limit (a deadline never overrides one), reason "
        "DeadlineMissed, and the message names the limit too.",
        Snapshot(
            now=NOW,
            nodes=nodes(4),
            limits=(limit("node", type="node", limit=1),),
            requests=(
                request("mr-busy", "n0", status=active(S.APPROVED, "node/n0")),
                _scheduled("mr-late", "n1", deadline="2026-11-25T11:55:00Z"),
            ),
        ),
    )


def _rated(now_minutes: int) -> Snapshot:
    rated = attrs.evolve(
        limit("node", type="node", limit=100, rate={"count": 2, "perSeconds": 3600}),
        status=LimitStatus(admissions=(("mr-gone", ago(minutes=50)),)),
    )
    done = attrs.evolve(
        active(S.COMPLETED, "node/n0", since=ago(minutes=20)), finished_at=ago(minutes=5)
    )
    return Snapshot(
        now=NOW + timedelta(minutes=now_minutes),
        nodes=nodes(4),
        limits=(rated,),
        requests=(
            request("mr-done", "n0", status=done),
            request("mr-a", "n1"),
            request("mr-b", "n2"),
        ),
    )


@case
def rate_full_says_when_the_next_slot_opens() -> tuple[str, Snapshot]:
    return (
        "rate 2 per hour: mr-gone (deleted; its admission 50 min ago kept in the limit's "
        "status.recentAdmissions) and mr-done (admitted 20 min ago) fill the period: mr-a and "
        "mr-b wait, RateLimited, next slot at 12:10:00Z when mr-gone's admission leaves it.",
        _rated(0),
    )


@case
def rate_period_slides_across_a_pass() -> tuple[str, Snapshot]:
    return (
        "The same 10 minutes later: mr-gone's admission left the period, so exactly one slot "
        "opened: mr-a (older) is admitted and approved, mr-b still waits (next slot 12:40, "
        "when mr-done's leaves); the limit's recentAdmissions now hold mr-done and mr-a.",
        _rated(10),
    )


def _budgeted(acknowledged: datetime | None) -> Snapshot:
    budget: dict[str, object] = {"maxUnhealthy": 1, "afterSeconds": 600, "withinSeconds": 86400}
    if acknowledged is not None:
        budget["acknowledgedAt"] = acknowledged.strftime("%Y-%m-%dT%H:%M:%SZ")
    budgeted = attrs.evolve(
        limit("node", type="node", limit=50, failureBudget=budget),
        status=LimitStatus(finishes=(("mr-gone", "n1", ago(minutes=40)),)),
    )
    done = attrs.evolve(
        active(S.COMPLETED, "node/n0", since=ago(minutes=60)),
        approved_at=ago(minutes=55),
        finished_at=ago(minutes=15),
    )
    fresh = attrs.evolve(
        active(S.COMPLETED, "node/n2", since=ago(minutes=20)),
        approved_at=ago(minutes=18),
        finished_at=ago(minutes=5),
    )
    return Snapshot(
        now=NOW,
        nodes=(
            Node("n0", ready=False),
            Node("n1", ready=False),
            Node("n2", ready=False),
            *nodes(3, prefix="m"),
        ),
        limits=(budgeted,),
        requests=(
            request("mr-done", "n0", status=done),
            request("mr-fresh", "n2", status=fresh),
            request("mr-a", "m0"),
            request("mr-b", "m1"),
        ),
    )


@case
def failure_budget_exceeded_holds_every_admission() -> tuple[str, Snapshot]:
    return (
        "failureBudget {maxUnhealthy: 1, afterSeconds: 600}: n0 is NotReady 15 min after "
        "mr-done and n1 40 min after mr-gone (deleted; kept in the limit's "
        "status.recentFinishes): two over a budget of one, so mr-a and mr-b wait, "
        "FailureBudgetExceeded, naming both and the acknowledge command. n2 went down 5 min "
        "after mr-fresh: too soon to judge, not named. The limit's status says held: "
        "failure budget, and records all three finishes.",
        _budgeted(None),
    )


@case
def acknowledged_failures_let_admissions_go_on() -> tuple[str, Snapshot]:
    return (
        "The same with acknowledgedAt 10 min ago (after mr-done and mr-gone finished, before "
        "mr-fresh): n0 and n1 no longer count, n2 is still too fresh, so mr-a is admitted "
        "(50% of 6 allows 3; the three NotReady nodes do not use the limit without "
        "policies) and mr-b too; the status holds nothing.",
        _budgeted(ago(minutes=10)),
    )


def _gated(*readings: GateReading) -> Snapshot:
    gates = {
        "prometheus": {"url": "http://prometheus:9090", "query": 'ALERTS{severity="critical"}'},
        "blockingPods": {"selector": {"matchLabels": {"app": "backup"}}},
    }
    return Snapshot(
        now=NOW,
        nodes=nodes(3),
        limits=(limit("node", type="node", limit=100, gates=gates),),
        requests=(
            request("mr-a", "n0"),
            request("mr-on", "n1", status=active(S.PREPARING, "node/n1")),
        ),
        gates=readings,
    )


@case
def gates_hold_admissions_while_alerts_fire_or_blockers_run() -> tuple[str, Snapshot]:
    return (
        "gates: Prometheus finds one critical alert and a backup pod runs: mr-a waits "
        "(AlertFiring first; the message names the series); mr-on, admitted before, is "
        "approved; the limit's status says held: gate, with both in its message.",
        _gated(
            GateReading("node", GateKind.PROMETHEUS, NOW, ('ALERTS{alertname="DiskFull"}',)),
            GateReading("node", GateKind.BLOCKING_PODS, NOW, ("backups/nightly-1",)),
        ),
    )


@case
def a_gate_that_cannot_be_read_holds_admissions() -> tuple[str, Snapshot]:
    return (
        "Fail closed: the Prometheus gate's reading failed (connection refused) and the "
        "blocking-pods gate was read 10 minutes ago (a stale snapshot): mr-a waits, "
        "GateUnavailable, saying why for each.",
        _gated(
            GateReading("node", GateKind.PROMETHEUS, NOW, error="connection refused"),
            GateReading("node", GateKind.BLOCKING_PODS, ago(minutes=10)),
        ),
    )


@case
def approved_timeout_expires_and_uncordons() -> tuple[str, Snapshot]:
    return (
        "Approved 600 s ago with approvedTimeoutSeconds 600 and the actor never started: Expired "
        "(ApprovedTimeout), then the node it cordoned is uncordoned, in that order.",
        Snapshot(
            now=NOW,
            nodes=(
                Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-a"}),
                *nodes(3, prefix="m"),
            ),
            limits=(limit("node", limit=50, cordon=True, approvedTimeoutSeconds=600),),
            requests=(
                request(
                    "mr-a", "n0", status=active(S.APPROVED, "node/n0", approved_at=ago(seconds=600))
                ),
            ),
        ),
    )


@case
def no_limit_waits() -> tuple[str, Snapshot]:
    return (
        "No MaintenanceLimit governs nodes: fail closed, the request waits with NoLimit; nothing "
        "is approved by default.",
        Snapshot(now=NOW, nodes=nodes(3), requests=(request("mr-a", "n0"),)),
    )


@case
def unavailable_node_counts_once() -> tuple[str, Snapshot]:
    return (
        "The original limit form (named node, only limit and policies). n0 is both NotReady and "
        "cordoned: it counts once, so 1 of 2 is in use and mr-b is approved; mr-c then finds "
        "the limit full (2 of 2).",
        Snapshot(
            now=NOW,
            nodes=(Node("n0", ready=False, unschedulable=True), *nodes(9, prefix="m")),
            limits=(
                MaintenanceLimit(
                    "node",
                    uid="uid-node",
                    spec={"limit": 20, "policies": ["NotReady", "Unschedulable"]},
                ),
            ),
            requests=(request("mr-b", "m0", created=ago(minutes=20)), request("mr-c", "m1")),
        ),
    )


@case
def drain_evicts_within_budget() -> tuple[str, Snapshot]:
    return (
        "Admission commits first (Preparing), then cordon, then evictions: web-1 fits the PDB "
        "(1 allowed), web-2 is left for a later pass, api-1 is already terminating and is "
        "waited for, the DaemonSet pod stays, the emptyDir pod is evicted "
        "(deleteEmptyDirData true). Pods that block a drain: "
        "one-pod-that-can-never-go-blocks-the-whole-drain.",
        Snapshot(
            now=NOW,
            nodes=nodes(4),
            pods=(
                app_pod("web-1", "n0", "web"),
                app_pod("web-2", "n0", "web"),
                app_pod("api-1", "n0", "api", deletion_timestamp=ago(seconds=5)),
                app_pod("exporter-1", "n0", "exporter", owner_kind="DaemonSet"),
                app_pod("cache-1", "n0", "cache", empty_dir=True),
            ),
            pdbs=(pdb("web", "web", allowed=1),),
            limits=(
                limit("node", limit=50, drain={"timeoutSeconds": 900, "deleteEmptyDirData": True}),
            ),
            requests=(request("mr-a", "n0"),),
        ),
    )


@case
def drain_timeout_expires_and_uncordons() -> tuple[str, Snapshot]:
    return (
        "Preparing for 900 s with drain.timeoutSeconds 900 and a pod the PDB still protects: "
        "Expired (DrainTimeout) naming the pod, no further eviction, node uncordoned.",
        Snapshot(
            now=NOW,
            nodes=(
                Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-a"}),
                *nodes(3, prefix="m"),
            ),
            pods=(app_pod("api-1", "n0", "api"),),
            pdbs=(pdb("api", "api", allowed=0),),
            limits=(limit("node", limit=50, drain={"timeoutSeconds": 900}),),
            requests=(
                request(
                    "mr-a", "n0", status=active(S.PREPARING, "node/n0", since=ago(seconds=900))
                ),
            ),
        ),
    )


@case
def volume_detach_then_approve() -> tuple[str, Snapshot]:
    return (
        "Both nodes are drained and past the drain grace. n0 still has a volume attached: wait, "
        "naming it and the detach deadline. n1's volumes are detached: detachedAt is set and, "
        "with no detach grace, it is approved in the same pass.",
        Snapshot(
            now=NOW,
            nodes=(
                Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-a"}),
                Node("n1", unschedulable=True, annotations={CORDONED_BY: "mr-b"}),
                *nodes(2, prefix="m"),
            ),
            volume_attachments=(
                VolumeAttachment("csi-0", "n0"),
                VolumeAttachment("csi-1", "n1", attached=False),
            ),
            limits=(
                limit(
                    "node",
                    limit=50,
                    drain={"timeoutSeconds": 900, "gracePeriodSeconds": 30},
                    infraDrain={"waitForVolumeDetach": True, "timeoutSeconds": 300},
                ),
            ),
            requests=(
                request(
                    "mr-a", "n0", status=active(S.PREPARING, "node/n0", drained_at=ago(seconds=60))
                ),
                request(
                    "mr-b", "n1", status=active(S.PREPARING, "node/n1", drained_at=ago(seconds=60))
                ),
            ),
        ),
    )


@case
def withdrawn_and_deleted_requests_release_cordons() -> tuple[str, Snapshot]:
    return (
        "mr-a sets spec.state Completed while Preparing: Completed (Withdrawn), n0 uncordoned. "
        "The request that cordoned n1 was deleted: orphan rule, n1 uncordoned. n2's cordon is "
        "an admin's: left alone.",
        Snapshot(
            now=NOW,
            nodes=(
                Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-a"}),
                Node("n1", unschedulable=True, annotations={CORDONED_BY: "mr-deleted"}),
                Node("n2", unschedulable=True),
                Node("n3"),
            ),
            limits=(limit("node", limit=50, drain={}),),
            requests=(
                request("mr-a", "n0", state="Completed", status=active(S.PREPARING, "node/n0")),
            ),
        ),
    )


@case
def invalid_requests_rejected_others_proceed() -> tuple[str, Snapshot]:
    bad_priority = MaintenanceRequest(
        name="mr-bad-priority",
        uid="uid-mr-bad-priority",
        creation_timestamp=ago(minutes=10),
        spec={"type": "node", "name": "n1", "priority": "urgent"},
    )
    return (
        "An unknown type, a bad priority and a missing node are each Rejected with the field "
        "and the problem; the valid request is approved all the same.",
        Snapshot(
            now=NOW,
            nodes=nodes(4),
            limits=(limit("node", limit=50),),
            requests=(
                request("mr-bad-type", "n0", kind="machine"),
                bad_priority,
                request("mr-ghost", "n9"),
                request("mr-good", "n2"),
            ),
        ),
    )


@case
def strictest_behaviour_of_several_limits() -> tuple[str, Snapshot]:
    return (
        "The cluster-wide limit neither cordons nor drains and has approvedTimeoutSeconds 120; "
        "zone a's limit drains (so cordons) with the default 3600. a0, in zone a, is cordoned, "
        "found empty and approved in the same pass, with the shorter deadline (12:02). b0 is "
        "governed by the cluster limit only: approved without a cordon.",
        Snapshot(
            now=NOW,
            nodes=zoned("a", 2) + zoned("b", 2),
            limits=(
                limit("node", limit=50, approvedTimeoutSeconds=120),
                limit(
                    "zone-a",
                    type="node",
                    limit=100,
                    selector={"matchLabels": {"zone": "a"}},
                    drain={"timeoutSeconds": 300},
                ),
            ),
            requests=(request("mr-a", "a0"), request("mr-b", "b0")),
        ),
    )


@case
def soak_holds_the_slot() -> tuple[str, Snapshot]:
    return (
        "mr-old completed 5 minutes ago; soakSeconds 600 keeps n0's slot used until 10 minutes "
        "after completion, so mr-new waits with the soaking node named.",
        Snapshot(
            now=NOW,
            nodes=(Node("n0", ready_since=ago(days=1)), *nodes(1, prefix="m")),
            limits=(limit("node", limit=50, soakSeconds=600),),
            requests=(
                request(
                    "mr-old",
                    "n0",
                    state="Completed",
                    status=RequestStatus(
                        state=S.COMPLETED,
                        reason="Completed",
                        message="maintenance of node/n0 completed",
                        target="node/n0",
                        preparing_since=ago(hours=1),
                        approved_at=ago(hours=1),
                        started_at=ago(hours=1),
                        completed_at=ago(minutes=5),
                        finished_at=ago(minutes=5),
                    ),
                ),
                request("mr-new", "m0"),
            ),
        ),
    )


@case
def busy_target_queues() -> tuple[str, Snapshot]:
    return (
        "Two requests for n0: the active one holds it, the new one queues (TargetBusy naming "
        "the holder). A third, for n1, is not affected.",
        Snapshot(
            now=NOW,
            nodes=nodes(4),
            limits=(limit("node", limit=100),),
            requests=(
                request(
                    "mr-first",
                    "n0",
                    status=active(S.APPROVED, "node/n0", approved_at=ago(seconds=30)),
                ),
                request("mr-second", "n0"),
                request("mr-other", "n1"),
            ),
        ),
    )


@case
def ttl_deletes_finished_requests() -> tuple[str, Snapshot]:
    def expired(node: str, seconds_ago: int) -> RequestStatus:
        return RequestStatus(
            state=S.EXPIRED,
            reason="ApprovedTimeout",
            message="expired",
            target=f"node/{node}",
            finished_at=ago(seconds=seconds_ago),
        )

    return (
        "Finished requests are deleted once ttlSecondsAfterFinished (3600) has passed since "
        "they finished: mr-old (3600 s) goes, mr-recent (3599 s) stays.",
        Snapshot(
            now=NOW,
            nodes=nodes(2),
            limits=(limit("node", limit=50, ttlSecondsAfterFinished=3600),),
            requests=(
                request("mr-old", "n0", status=expired("n0", 3600)),
                request("mr-recent", "n1", status=expired("n1", 3599)),
            ),
        ),
    )


@case
def longest_pod_grace_wins() -> tuple[str, Snapshot]:
    return (
        "Issue 15 item 4. Two limits govern n0: 'fast' evicts with podGracePeriodSeconds 5, "
        "'zone' says -1, the pod's own (kubectl drain's --grace-period=-1, its default). "
        "DESIGN §2: the longest wins. db-0 (terminationGracePeriodSeconds 600) is evicted "
        "with no gracePeriodSeconds, so the API server uses its 600 s (DeleteOptions: "
        "'nil means the default for the type'); web-0 (1 s of its own) gets 5 s; both PDB-free.",
        Snapshot(
            now=NOW,
            nodes=nodes(2),
            pods=(
                app_pod("db-0", "n0", "db", termination_grace_period_seconds=600),
                app_pod("web-0", "n0", "web", termination_grace_period_seconds=1),
            ),
            limits=(
                limit("fast", type="node", limit=100, drain={"podGracePeriodSeconds": 5}),
                limit("zone", type="node", limit=100, drain={"podGracePeriodSeconds": -1}),
            ),
            requests=(request("mr-a", "n0"),),
        ),
    )


@case
def pending_and_unready_pods_go_without_budget() -> tuple[str, Snapshot]:
    return (
        "Issue 15 item 1, the Eviction API's own rules (k8s.io/kubernetes "
        "pkg/registry/core/pod/storage/eviction.go). Every PDB here allows 0 disruptions but "
        "'spare'. web-pull is Pending: canIgnorePDB deletes it before any PDB is looked at, "
        "so it is evicted. web-crash is unready and PDB web is at its healthy count "
        "(currentHealthy 3 >= desiredHealthy 3 > 0, IfHealthyBudget by default): deleted "
        "without decrementing, so evicted. web-ok is ready: checkAndDecrement refuses it "
        "(0 allowed), it stays. db-crash is unready under unhealthyPodEvictionPolicy "
        "AlwaysAllow with the application below its count (1 < 2): evicted. api-crash is "
        "unready under IfHealthyBudget below its count (1 < 2): it would spend budget, 0 "
        "allowed, it stays. spare-crash (unready, 'spare' at its healthy count, 1 allowed) "
        "spends nothing, so spare-ok, ready, still gets the one disruption: both evicted, "
        "and only spare-ok's eviction names the PDB it spends.",
        Snapshot(
            now=NOW,
            nodes=nodes(4),
            pods=(
                app_pod("web-pull", "n0", "web", phase="Pending", ready=False),
                app_pod("web-crash", "n0", "web", ready=False),
                app_pod("web-ok", "n0", "web"),
                app_pod("db-crash", "n0", "db", ready=False),
                app_pod("api-crash", "n0", "api", ready=False),
                app_pod("spare-crash", "n0", "spare", ready=False),
                app_pod("spare-ok", "n0", "spare"),
            ),
            pdbs=(
                pdb("web", "web", allowed=0, current_healthy=3, desired_healthy=3),
                pdb(
                    "db",
                    "db",
                    allowed=0,
                    current_healthy=1,
                    desired_healthy=2,
                    unhealthy_pod_eviction_policy="AlwaysAllow",
                ),
                pdb("api", "api", allowed=0, current_healthy=1, desired_healthy=2),
                pdb("spare", "spare", allowed=1, current_healthy=3, desired_healthy=2),
            ),
            limits=(limit("node", limit=50, cordon=True, drain={"timeoutSeconds": 900}),),
            requests=(request("mr-a", "n0"),),
        ),
    )


@case
def dead_node_terminating_pods_count_as_gone() -> tuple[str, Snapshot]:
    return (
        "Issue 15 item 2. n0 and n1 are NotReady (their kubelets are gone, nothing finishes a "
        "deletion); n2 is Ready. drain.skipWaitForDeleteTimeoutSeconds 60: a pod still "
        "terminating more than 60 s after its deletionTimestamp (the deletion's start + its "
        "grace, as the API server sets it) counts as gone, as kubectl drain "
        "--skip-wait-for-delete-timeout measures it. n0's two pods are past it: drained and, "
        "with no grace, approved in this pass. On n1, old-1 is past it but new-1's deletion "
        "is 30 s past its deletionTimestamp: waited for. On n2, a live kubelet finishes "
        "deletions: stuck-2, 10 minutes past, is waited for.",
        Snapshot(
            now=NOW,
            nodes=(Node("n0", ready=False), Node("n1", ready=False), Node("n2"), Node("n3")),
            pods=(
                app_pod("old-0", "n0", "web", deletion_timestamp=ago(seconds=61)),
                app_pod("db-0", "n0", "db", deletion_timestamp=ago(minutes=20)),
                app_pod("old-1", "n1", "web", deletion_timestamp=ago(seconds=300)),
                app_pod("new-1", "n1", "web", deletion_timestamp=ago(seconds=30)),
                app_pod("stuck-2", "n2", "web", deletion_timestamp=ago(minutes=10)),
            ),
            limits=(
                limit(
                    "node",
                    limit=100,
                    drain={"timeoutSeconds": 900, "skipWaitForDeleteTimeoutSeconds": 60},
                ),
            ),
            requests=tuple(
                request(
                    f"mr-{i}",
                    f"n{i}",
                    status=active(S.PREPARING, f"node/n{i}", since=ago(minutes=2)),
                )
                for i in range(3)
            ),
        ),
    )


@case
def one_pod_that_can_never_go_blocks_the_whole_drain() -> tuple[str, Snapshot]:
    return (
        "Issue 15 item 3: all or nothing, as kubectl drain (k8s.io/kubectl/pkg/drain "
        "filters.go: unreplicatedFilter without --force, localStorageFilter without "
        "--delete-emptydir-data; its errors stop the drain before any eviction) and the "
        "Eviction API (a pod with more than one PodDisruptionBudget is refused). n0 holds "
        "shell (no controller), cache-0 (emptyDir) and multi-0 (selected by PDBs web and "
        "all): nothing is evicted, web-0 included, and the request waits naming the three "
        "and the option that would allow each. n1's only odd pod is multi-1, Pending: the "
        "Eviction API deletes a Pending pod before looking at PDBs, so n1 drains. mr-2 "
        "has waited out its 900 s drain timeout on n2 behind its pod without a controller: "
        "Expired (DrainTimeout) naming the pod, nothing evicted, n2 uncordoned.",
        Snapshot(
            now=NOW,
            nodes=(
                *nodes(2),
                Node("n2", unschedulable=True, annotations={CORDONED_BY: "mr-2"}),
                *nodes(3, prefix="m"),
            ),
            pods=(
                app_pod("shell", "n0", "debug", owner_kind=None),
                app_pod("cache-0", "n0", "cache", empty_dir=True),
                app_pod("multi-0", "n0", "web"),
                app_pod("web-0", "n0", "other"),
                app_pod("multi-1", "n1", "web", phase="Pending", ready=False),
                app_pod("web-1", "n1", "other"),
                app_pod("shell-2", "n2", "debug", owner_kind=None),
                app_pod("web-2", "n2", "other"),
            ),
            pdbs=(
                pdb("web", "web", allowed=5),
                attrs.evolve(pdb("all", "web", allowed=5), selector=LabelSelector()),
            ),
            limits=(limit("node", limit=100, cordon=True, drain={"timeoutSeconds": 900}),),
            requests=(
                request("mr-0", "n0"),
                request("mr-1", "n1"),
                request(
                    "mr-2", "n2", status=active(S.PREPARING, "node/n2", since=ago(seconds=900))
                ),
            ),
        ),
    )


@case
def pods_that_follow_the_cordon_stay() -> tuple[str, Snapshot]:
    return (
        "Issue 15 item 5. n0 and n1 were drained a minute ago (drain grace 30 s). On n0 the "
        "node agent, whose pods tolerate node.kubernetes.io/unschedulable, was replaced by "
        "its controller (a new pod on the cordoned node): it is meant to run on cordoned "
        "nodes (kubectl drain would find it back at once), so it is left like a DaemonSet "
        "pod and n0 is approved. On n1 a web pod was bound by name after the drain: it is "
        "drained like the rest, the request says it arrived after the drain, and drainedAt "
        "is cleared so the grace starts again.",
        Snapshot(
            now=NOW,
            nodes=(
                Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-0"}),
                Node("n1", unschedulable=True, annotations={CORDONED_BY: "mr-1"}),
                *nodes(3, prefix="m"),
            ),
            pods=(
                app_pod("agent-new", "n0", "agent", owner_kind="Deployment", follows_cordon=True),
                app_pod("web-late", "n1", "web"),
            ),
            limits=(
                limit(
                    "node",
                    limit=100,
                    cordon=True,
                    drain={"timeoutSeconds": 900, "gracePeriodSeconds": 30},
                ),
            ),
            requests=tuple(
                request(
                    f"mr-{i}",
                    f"n{i}",
                    status=active(
                        S.PREPARING,
                        f"node/n{i}",
                        since=ago(minutes=5),
                        drained_at=ago(minutes=1),
                    ),
                )
                for i in range(2)
            ),
        ),
    )


@case
def drain_added_after_approval_keeps_in_place_pods_charged() -> tuple[str, Snapshot]:
    return (
        "Issue 28 defect 2. mr-a was approved without a drain and is InProgress on n0; "
        "web-0 is still up there, so PDB web still allows 1. The operator has since added "
        "a drain to the limit. web-0 goes down with n0 whatever the limit says now: it "
        "stays charged, so mr-b is admitted and n1 cordoned, but web-1 is not evicted "
        "through the budget mr-a's work needs (PDB web: 0 left).",
        Snapshot(
            now=NOW,
            nodes=(*nodes(2), *nodes(2, prefix="m")),
            pods=(app_pod("web-0", "n0", "web"), app_pod("web-1", "n1", "web")),
            pdbs=(pdb("web", "web", allowed=1),),
            limits=(
                attrs.evolve(limit("node", limit=100, drain={"timeoutSeconds": 900}), generation=2),
            ),
            requests=(
                request(
                    "mr-a",
                    "n0",
                    state="InProgress",
                    status=active(
                        S.IN_PROGRESS,
                        "node/n0",
                        approved_at=ago(minutes=3),
                        started_at=ago(minutes=2),
                    ),
                ),
                request("mr-b", "n1"),
            ),
        ),
    )


@case
def a_pdb_created_after_approval_charges_the_pods_in_place() -> tuple[str, Snapshot]:
    front = attrs.evolve(pdb("front", "web", allowed=1), selector=LabelSelector({"tier": "front"}))
    return (
        "Issue 28 defect 3. mr-a was approved without a drain on n0, where api-0 runs; a "
        "second PDB, front, has since been created over it besides its own (web). api-0 "
        "goes down with n0: it is charged to both. mr-b on n1 would take down front-1, "
        "also under front, which allows 1 — already spent by api-0: mr-b waits naming PDB "
        "front instead of being approved on the same budget.",
        Snapshot(
            now=NOW,
            nodes=(*nodes(2), *nodes(2, prefix="m")),
            pods=(
                attrs.evolve(app_pod("api-0", "n0", "web"), labels={"app": "web", "tier": "front"}),
                attrs.evolve(app_pod("front-1", "n1", "lb"), labels={"app": "lb", "tier": "front"}),
            ),
            pdbs=(pdb("web", "web", allowed=2), front),
            limits=(limit("node", limit=100),),
            requests=(
                request(
                    "mr-a",
                    "n0",
                    state="InProgress",
                    status=active(
                        S.IN_PROGRESS,
                        "node/n0",
                        approved_at=ago(minutes=3),
                        started_at=ago(minutes=2),
                    ),
                ),
                request("mr-b", "n1"),
            ),
        ),
    )


@case
def pods_that_follow_the_cordon_are_charged() -> tuple[str, Snapshot]:
    return (
        "Issue 28 defect 4. A Deployment whose pods tolerate every taint (agent, 3 "
        "replicas, PDB allowing 1) runs on n0, n1 and n2; the limit drains and allows 2 "
        "at once. The drain leaves those pods (they follow the cordon), so they go down "
        "with their nodes in place: charged at admission. mr-0 is admitted, cordoned and "
        "approved (n0 is empty but for its agent); mr-1 waits naming PDB agent, where "
        "both used to be approved in one pass and two replicas went down.",
        Snapshot(
            now=NOW,
            nodes=(*nodes(3), *nodes(3, prefix="m")),
            pods=tuple(
                app_pod(
                    f"agent-{i}", f"n{i}", "agent", owner_kind="Deployment", follows_cordon=True
                )
                for i in range(3)
            ),
            pdbs=(pdb("agent", "agent", allowed=1),),
            limits=(
                limit(
                    "node", limit=100, maxConcurrent=2, cordon=True, drain={"timeoutSeconds": 900}
                ),
            ),
            requests=(
                request("mr-0", "n0", created=ago(minutes=2)),
                request("mr-1", "n1", created=ago(minutes=1)),
            ),
        ),
    )


@case
def an_unwritten_admission_expires() -> tuple[str, Snapshot]:
    return (
        "Issue 28 defect 1. maxConcurrent 1. A runner committed mr-a (zone-a's status names "
        "it, committed 181 s ago) and died before writing mr-a's status; mr-a's own budget "
        "is short (PDB web allows 0), so it stays Pending. Its commit has expired (180 s): "
        "it holds no slot and no budget, mr-b is admitted and approved, and the limit's "
        "status drops the entry. On zone-b a commit of 60 s ago still holds its slot: mr-d "
        "waits behind mr-c.",
        Snapshot(
            now=NOW,
            nodes=zoned("a", 2) + zoned("b", 2),
            pods=(app_pod("web-0", "a0", "web"),),
            pdbs=(pdb("web", "web", allowed=0),),
            limits=tuple(
                attrs.evolve(
                    limit(
                        f"zone-{zone}",
                        type="node",
                        limit=100,
                        maxConcurrent=1,
                        selector={"matchLabels": {"zone": zone}},
                    ),
                    status=LimitStatus(
                        active=(committed,),
                        commits={committed: ago(seconds=seconds)},
                        last_admission_at=ago(seconds=seconds),
                    ),
                )
                for zone, committed, seconds in (("a", "mr-a", 181), ("b", "mr-c", 60))
            ),
            requests=(
                request("mr-a", "a0", created=ago(minutes=9)),
                request("mr-b", "a1", created=ago(minutes=8)),
                request("mr-c", "b0", created=ago(minutes=7)),
                request("mr-d", "b1", created=ago(minutes=6)),
            ),
        ),
    )


def _shows(
    name: str,
    request: str,
    *,
    planned: str,
    draining: str,
    drained: str,
    working: str,
    reason: str,
    words: str,
    **fields: object,
) -> Node:
    """A node showing a row of ours (written by an earlier pass), cordoned for `request`."""
    statuses = zip(
        ("MaintenancePlanned", "DrainInProgress", "Drained", "MaintenanceInProgress"),
        (planned, draining, drained, working),
        strict=True,
    )
    return Node(
        name,
        unschedulable=True,
        annotations={CORDONED_BY: request},
        conditions=tuple(
            NodeCondition(kind, status, reason, f"repairman: {request} {words}")
            for kind, status in statuses
            if status != "-"
        ),
        **fields,  # type: ignore[arg-type]
    )


@case
def node_conditions_follow_the_table() -> tuple[str, Snapshot]:
    drain = {"timeoutSeconds": 900, "gracePeriodSeconds": 60}
    return (
        "DESIGN §8, a row per node, each SetNodeConditions right after the status write that "
        "put its request in its row (else first) and only what the node does not show yet: n0 "
        "admitted and draining (MaintenancePlanned and DrainInProgress True, right after the "
        "commit, before the cordon and evictions; nothing False written where nothing was); "
        "n1 drained, in its grace (DrainInProgress False, Drained True); n2 "
        "approved (MaintenanceInProgress True, reasons RepairmanApproved); n3's actor moved "
        "to InProgress (reasons and messages only, the statuses stay); n4's actor completed "
        "(all False, RepairmanCompleted); n5 shows ours but its request was deleted (all "
        "False, RepairmanDeleted, first in the plan); n6 has an administrator's "
        "MaintenancePlanned (RackMove), left alone, the rest of its row written; n7 already "
        "shows its row: nothing.",
        Snapshot(
            now=NOW,
            nodes=(
                Node("n0"),
                _shows(
                    "n1",
                    "mr-1",
                    planned="True",
                    draining="True",
                    drained="-",
                    working="-",
                    reason="RepairmanPreparing",
                    words="is draining the node",
                ),
                _shows(
                    "n2",
                    "mr-2",
                    planned="True",
                    draining="False",
                    drained="True",
                    working="-",
                    reason="RepairmanPreparing",
                    words="has the node drained, waiting before approval",
                ),
                _shows(
                    "n3",
                    "mr-3",
                    planned="True",
                    draining="False",
                    drained="True",
                    working="True",
                    reason="RepairmanApproved",
                    words="is approved",
                ),
                _shows(
                    "n4",
                    "mr-4",
                    planned="True",
                    draining="False",
                    drained="True",
                    working="True",
                    reason="RepairmanInProgress",
                    words="is in progress",
                ),
                attrs.evolve(
                    _shows(
                        "n5",
                        "mr-gone",
                        planned="True",
                        draining="False",
                        drained="True",
                        working="True",
                        reason="RepairmanInProgress",
                        words="is in progress",
                    ),
                    unschedulable=False,
                    annotations={},
                ),
                Node(
                    "n6",
                    conditions=(
                        NodeCondition("MaintenancePlanned", "True", "RackMove", "ops: rack 12"),
                    ),
                ),
                _shows(
                    "n7",
                    "mr-7",
                    planned="True",
                    draining="True",
                    drained="-",
                    working="-",
                    reason="RepairmanPreparing",
                    words="is draining the node",
                ),
                *nodes(12, prefix="m"),
            ),
            pods=(
                app_pod("web-0", "n0", "web"),
                app_pod("web-6", "n6", "web"),
                app_pod("web-7", "n7", "web", deletion_timestamp=ago(seconds=5)),
            ),
            limits=(limit("node", limit=50, drain=drain),),
            requests=(
                request("mr-0", "n0"),
                request("mr-1", "n1", status=active(S.PREPARING, "node/n1")),
                request(
                    "mr-2",
                    "n2",
                    status=active(S.PREPARING, "node/n2", drained_at=ago(seconds=120)),
                ),
                request(
                    "mr-3",
                    "n3",
                    state="InProgress",
                    status=active(
                        S.APPROVED,
                        "node/n3",
                        drained_at=ago(seconds=300),
                        approved_at=ago(seconds=60),
                    ),
                ),
                request(
                    "mr-4",
                    "n4",
                    state="Completed",
                    status=active(
                        S.IN_PROGRESS,
                        "node/n4",
                        drained_at=ago(seconds=900),
                        approved_at=ago(seconds=600),
                        started_at=ago(seconds=500),
                    ),
                ),
                request("mr-6", "n6"),
                request("mr-7", "n7", status=active(S.PREPARING, "node/n7")),
            ),
        ),
    )


@case
def node_conditions_false_clears_ours_and_writes_nothing_new() -> tuple[str, Snapshot]:
    return (
        "A limit with nodeConditions: false. mr-a, approved while it published, has its "
        "conditions cleared (all False, message saying why) though it stays Approved; mr-b, "
        "admitted and approved now (a cordon-only limit), gets none.",
        Snapshot(
            now=NOW,
            nodes=(
                _shows(
                    "n0",
                    "mr-a",
                    planned="True",
                    draining="-",
                    drained="-",
                    working="True",
                    reason="RepairmanApproved",
                    words="is approved",
                ),
                *nodes(3, prefix="m"),
            ),
            limits=(limit("node", limit=50, cordon=True, nodeConditions=False),),
            requests=(
                request(
                    "mr-a", "n0", status=active(S.APPROVED, "node/n0", approved_at=ago(seconds=60))
                ),
                request("mr-b", "m0"),
            ),
        ),
    )


def build(name: str) -> dict[str, object]:
    description, snapshot = BUILDERS[name]()
    expected = plan_json(plan(snapshot))
    return {"description": description, "snapshot": dump(snapshot), "expected": expected}


def main() -> None:
    CASES.mkdir(exist_ok=True)
    for name in BUILDERS:
        path = CASES / f"{name}.json"
        path.write_text(json.dumps(build(name), indent=1, allow_nan=False) + "\n", encoding="utf-8")
        print(f"wrote {path}")  # noqa: T201


if __name__ == "__main__":
    main()
