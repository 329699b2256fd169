"""The runner's passes: read, plan, apply; once, or until nothing moves.

Each pass takes the Lease first (runner.lease), reads the cluster into a snapshot
(runner.read), asks the policy for a plan, applies it (runner.apply), logs every
decision and the pass, and records metrics (runner.metrics). With --until-stable,
passes repeat while they write something or a node is being prepared, until one fails
or the deadline would pass; the Lease is released at the end either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import attrs

from policy import Plan, RequestState, Snapshot
from policy import plan as make_plan
from policy.decisions import Evict, SetNodeConditions, UpdateRequestStatus
from policy.explain import Reason
from runner.apply import WRITERS, Applier, Outcome, Result
from runner.console import Logger, progress_line
from runner.kube import Kube
from runner.lease import Lease
from runner.memory import collector_paused, settle_snapshot
from runner.metrics import RunMetrics
from runner.mirror import Mirrors
from runner.read import (
    eviction_version,
    mirrors_of,
    node_pods,
    pods_as_needed,
    policy_version,
    read_cluster,
)
from runner.render import decision_json
from runner.signals import Signals, never

PAUSE_BETWEEN_PASSES = 1.0
PAUSE_WHILE_PODS_GO = 0.2
"""Between passes while a drain is under way and this run evicted a pod in the last
FAST_FOR seconds: a round of PDB-serialised evictions lasts one termination and one
replacement's readiness, under a second on a quiet cluster, and a whole second between
passes made every round last two (bench/drain_vs_kubectl: runner/floor 2.0 with 1 s).
A drain that stopped moving (a budget at 0 for long, a blocked drain) goes back to a
second, not to five reads a second."""
FAST_FOR = 10.0


#: The instant a pass plans for, when set: tests of timeouts move it forward instead of
#: sleeping. None: the API server's clock (`now`).
clock: Callable[[], datetime] | None = None


def now(kube: Kube) -> datetime:
    """The instant a pass plans for: the API server's clock, so that every runner
    judges timeouts, windows and soaks by the same clock, whatever its own host's says
    (a runner whose clock is an hour ahead must not expire requests an hour early)."""
    if clock is not None:
        return clock()
    kube.request("GET", "/version")  # cheap, and its answer carries the server's Date
    return kube.server_now() or datetime.now(UTC)


def read(kube: Kube, *, all_pods: bool = False, every_requested: bool = False) -> Snapshot:
    """The cluster, as `read_planned` reads it; with the pods of every requested node
    for `every_requested` (a recording, planned later at another instant: its plan may
    admit others), of every node for `all_pods` (a forecast)."""
    if all_pods or every_requested:
        snapshot = read_cluster(kube, now=now(kube), all_pods=all_pods)
        return _ended(kube, snapshot)
    return read_planned(kube)[0]


def read_planned(kube: Kube, mirrors: Mirrors | None = None) -> tuple[Snapshot, Plan]:
    """The cluster and its plan. Pods only of the nodes the plan needs
    (runner.read.pods_as_needed, which plans each round at the instant its reads
    ended): a node found empty by a read that took seconds was empty then, and its
    drain's grace counts from then, not from before the read (that would cut the grace
    short by the read's length); windows and timeouts are judged closer to the writes
    too. The kinds but pods from `mirrors` when given (runner.mirror)."""
    snapshot = read_cluster(kube, now=now(kube), pods=False, mirrors=mirrors)
    return pods_as_needed(
        node_pods(kube), snapshot, planned, {}, ended=lambda read: _ended(kube, read)
    )


def _ended(kube: Kube, snapshot: Snapshot) -> Snapshot:
    end = clock() if clock is not None else kube.server_now()
    if end is None or end <= snapshot.now:
        return snapshot
    return attrs.evolve(snapshot, now=end)


def planned(snapshot: Snapshot) -> Plan:
    """The policy's plan, with the collector kept off the snapshot (runner.memory)."""
    settle_snapshot()
    with collector_paused():
        return make_plan(snapshot)


WRITE_GRACE = 5.0
"""Seconds past `--deadline` after which a pass of `--until-stable` begins no more
decisions (the rest wait for the next run): with the CronJob's `--deadline 45` it
stops writing by 50 s, inside the Job's `activeDeadlineSeconds: 55`, instead of being
stopped there by SIGTERM."""

FIRST_WRITES = 10.0
"""Seconds the first pass of a run writes after planning, even past `WRITE_GRACE`:
a read slower than the deadline (a whole fleet's first list) still moves the rollout
on, admissions first (runner.apply)."""


def run_passes(
    kube: Kube,
    log: Logger,
    *,
    lease_namespace: str,
    metrics: RunMetrics,
    until_stable: bool,
    deadline: float,
    signals: Signals = never,
    writers: int = WRITERS,
) -> bool:
    """Run one pass, or passes until stable; True when a decision failed. Raises
    `Stopped` after a SIGTERM or SIGINT (runner.signals), the Lease released."""
    lease = Lease(kube, lease_namespace)
    # Passes after the first read every kind but pods from watches (runner.mirror).
    mirrors = mirrors_of(kube) if until_stable else None
    started = time.monotonic()
    evicted_at = -FAST_FOR
    evicted: set[str] = set()
    announced_failed = False
    """A node conditions write failed in some pass: the run fails at its end, but the
    passes go on (an announcement holds no maintenance back)."""
    number = 0
    try:
        while True:
            number += 1
            held_by = lease.acquire(now(kube))
            if held_by is not None:
                log("lease-held", holder=held_by, note="another pass is running; this one stops")
                return False
            listed_again = (
                mirrors.settle(kube.take_written(), taken_over=lease.taken_over)
                if mirrors is not None
                else 0
            )
            result, outcomes, writes = one_pass(
                kube,
                log,
                number=number,
                metrics=metrics,
                signals=signals,
                writers=writers,
                mirrors=mirrors,
                listed_again=listed_again,
                stop_at=started + deadline + WRITE_GRACE if until_stable else None,
                writes_at_least=FIRST_WRITES if number == 1 else 0.0,
            )
            if mirrors is not None:
                for refused in mirrors.new_refusals():
                    log(
                        "watch-refused",
                        error=str(refused),
                        note="listed every pass instead; k8s/rbac.yaml grants watch",
                    )
            stop = signals.stop_requested()
            if stop is not None:
                raise stop
            log.show(progress_line(number, result, started))
            failed = [o for o in outcomes if o.result is Result.FAILED]
            blocking = any(not isinstance(o.decision, SetNodeConditions) for o in failed)
            announced_failed = announced_failed or bool(failed)
            preparing = any(e.state is RequestState.PREPARING for e in result.explanations)
            if not until_stable or blocking or (writes == 0 and not preparing):
                return announced_failed
            if _new_evictions(outcomes, evicted):
                evicted_at = time.monotonic()
            pause = pause_after(result, since_eviction=time.monotonic() - evicted_at)
            if time.monotonic() - started + pause >= deadline:
                log("deadline", passes=number, seconds=round(time.monotonic() - started, 1))
                return announced_failed
            time.sleep(pause)
    finally:
        # A signal now (the watches' end takes up to a second) must not skip the
        # release: the next run would find the Lease held and do nothing.
        with signals.writing():
            log.done()
            lease.release()
            if mirrors is not None:
                mirrors.stop()


def _new_evictions(outcomes: list[Outcome], evicted: set[str]) -> bool:
    """Did this pass evict a pod this run had not evicted before (adding them to
    `evicted`)? A pod that its controller recreates under the same name on the same
    node (bound by name) is evicted again every pass until the drain times out: that
    is no drain making progress, and must not keep the passes fast."""
    new = False
    for outcome in outcomes:
        decision = outcome.decision
        if isinstance(decision, Evict) and outcome.result is Result.DONE:
            key = f"{decision.namespace}/{decision.pod}"
            if key not in evicted:
                evicted.add(key)
                new = True
    return new


def pause_after(result: Plan, *, since_eviction: float) -> float:
    """How long to wait before the next pass: short while pods are leaving a draining
    node (the next round of evictions waits on them), else a second (grace periods,
    volume detaches and blocked drains move on the clock or on someone else)."""
    if since_eviction < FAST_FOR and any(e.reason is Reason.DRAINING for e in result.explanations):
        return PAUSE_WHILE_PODS_GO
    return PAUSE_BETWEEN_PASSES


def disrupts(result: Plan) -> bool:
    """Does the plan admit, evict or approve anything?"""
    return bool(result.admissions) or any(
        isinstance(d, Evict)
        or (
            isinstance(d, UpdateRequestStatus)
            and d.transition
            and d.status.state is RequestState.APPROVED
        )
        for d in result.decisions
    )


def one_pass(
    kube: Kube,
    log: Logger,
    *,
    number: int,
    metrics: RunMetrics,
    signals: Signals = never,
    writers: int = WRITERS,
    stop_at: float | None = None,
    writes_at_least: float = 0.0,
    mirrors: Mirrors | None = None,
    listed_again: int = 0,
) -> tuple[Plan, list[Outcome], int]:
    """One pass: read, plan, apply. No decision begins after `stop_at` (monotonic)
    unless it is within `writes_at_least` seconds of the plan."""
    started = time.monotonic()
    current, result = read_planned(kube, mirrors)
    if mirrors is not None and not mirrors.current and disrupts(result):
        # What disrupts is planned on fresh lists, not on watches (runner.mirror): a
        # watch gone quiet must not hide the node an administrator just cordoned, or
        # nodes removed, from a limit's count, nor a request withdrawn from its drain.
        mirrors.list_all()
        current, result = read_planned(kube, mirrors)
    planned_in = time.monotonic() - started
    if stop_at is not None:
        stop_at = max(stop_at, time.monotonic() + writes_at_least)
    before = kube.writes
    applier = Applier(
        kube,
        current,
        policy_version=policy_version(kube),
        eviction_version=eviction_version(kube),
        signals=signals,
        writers=writers,
        stop_at=stop_at,
    )
    outcomes = applier.apply(result)
    writes = kube.writes - before
    for outcome in outcomes:
        if log.verbose or outcome.result is not Result.ALREADY_DONE:
            log(
                "decision",
                result=outcome.result,
                detail=outcome.detail,
                **decision_json(outcome.decision),
            )
    states: dict[str, int] = {}
    for explanation in result.explanations:
        states[explanation.state.value] = states.get(explanation.state.value, 0) + 1
    metrics.record_pass(result, outcomes, writes, time.monotonic() - started)
    log(
        "pass",
        number=number,
        decisions=len(result.decisions),
        failed=sum(o.result is Result.FAILED for o in outcomes),
        writes=writes,
        requests=states,
        fresh_reads={
            "cache": applier.fresh.cache_reads,
            "etcd": applier.fresh.quorum_reads,
            "shared": applier.fresh.shared.reads,
        },
        writers=writers,
        **(
            {
                "watched": {
                    "events": mirrors.events,
                    "lists": mirrors.lists,
                    "listed_again": listed_again,
                }
            }
            if mirrors is not None
            else {}
        ),
        events_skipped=applier.events_skipped,
        explanations_left=applier.explanations_left,
        read_and_plan_seconds=round(planned_in, 3),
        seconds=round(time.monotonic() - started, 3),
    )
    return result, outcomes, writes
