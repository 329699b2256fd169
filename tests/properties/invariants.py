"""The invariants of DESIGN §4, checked from the outside of the policy.

Each check takes the snapshot before a pass, the plan, and (where it matters) the
snapshot after the plan was applied by the model cluster, and recomputes what it needs
with its own small code rather than the planner's: populations, allowed counts, who is
in use, which PDBs select a pod. It reuses only the spec parsing of
`policy.validation`, which has its own table tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from policy.commits import COMMIT_EXPIRY_SECONDS
from policy.decisions import (
    Cordon,
    Evict,
    Plan,
    SetNodeConditions,
    Uncordon,
    UpdateRequestStatus,
)
from policy.gate import recheck
from policy.limit_spec import InvalidLimit, LimitSpec, parse_limit_spec
from policy.model import (
    CORDONED_BY,
    GateKind,
    MaintenanceRequest,
    NodeCondition,
    Pod,
    PodDisruptionBudget,
    RequestState,
    Snapshot,
    TargetType,
)
from policy.validation import RequestSpec, Target, parse_request_spec

S = RequestState
RANK = {None: 0, S.PENDING: 0, S.PREPARING: 1, S.APPROVED: 2, S.IN_PROGRESS: 3}
ACTIVE = {S.PREPARING, S.APPROVED, S.IN_PROGRESS}
TERMINAL = {S.COMPLETED, S.REJECTED, S.EXPIRED}


def valid_limits(snapshot: Snapshot) -> list[LimitSpec]:
    parsed = [parse_limit_spec(m.name, m.spec) for m in snapshot.limits]
    return [p for p in parsed if isinstance(p, LimitSpec)]


def labels_of(snapshot: Snapshot, target: Target) -> dict[str, str] | None:
    if target.type is TargetType.NODE:
        for node in snapshot.nodes:
            if node.name == target.name:
                return dict(node.labels)
        return None
    for workload in snapshot.workloads:
        if workload.kind is target.type and workload.key == target.name:
            return dict(workload.labels)
    return None


def governs(limit: LimitSpec, snapshot: Snapshot, target: Target) -> bool:
    labels = labels_of(snapshot, target)
    if labels is None or target.type is not limit.type:
        return False
    return limit.selector is None or limit.selector.matches(labels)


def held_target(request: MaintenanceRequest) -> Target | None:
    if request.status.target:
        target = Target.from_key(request.status.target)
        if target is not None:
            return target
    spec = parse_request_spec(request.spec)
    return spec.target if isinstance(spec, RequestSpec) else None


def allowed(limit: LimitSpec, snapshot: Snapshot) -> int:
    if limit.type is TargetType.NODE:
        population = sum(
            1 for n in snapshot.nodes if limit.selector is None or limit.selector.matches(n.labels)
        )
    else:
        population = sum(
            1
            for w in snapshot.workloads
            if w.kind is limit.type and (limit.selector is None or limit.selector.matches(w.labels))
        )
    count = (
        0 if limit.percent == 0 or population == 0 else max(1, limit.percent * population // 100)
    )
    return count if limit.max_concurrent is None else min(count, limit.max_concurrent)


def in_use(limit: LimitSpec, snapshot: Snapshot) -> set[str]:
    used = set()
    if limit.type is TargetType.NODE:
        for node in snapshot.nodes:
            if limit.selector is not None and not limit.selector.matches(node.labels):
                continue
            if ("NotReady" in limit.policies and not node.ready) or (
                "Unschedulable" in limit.policies and node.unschedulable
            ):
                used.add(node.name)
    limits = valid_limits(snapshot)
    for request in snapshot.requests:
        target = held_target(request)
        state = request.status.state
        if target is None or state is None or not governs(limit, snapshot, target):
            continue
        if state in ACTIVE:
            used.add(target.name)
        elif state in TERMINAL and request.status.approved_at is not None:
            soak = max(
                (lim.soak_seconds for lim in limits if governs(lim, snapshot, target)), default=0
            )
            if soak and _soaking(snapshot, request, target, soak):
                used.add(target.name)
    return used


def _soaking(snapshot: Snapshot, request: MaintenanceRequest, target: Target, soak: int) -> bool:
    finished = request.status.finished_at or snapshot.now
    if target.type is TargetType.NODE:
        node = next(n for n in snapshot.nodes if n.name == target.name)
        if not node.ready or node.unschedulable:
            return True
        finished = max(finished, node.ready_since or finished)
    return snapshot.now < finished + timedelta(seconds=soak)


def admitted(before: Snapshot, plan: Plan) -> dict[str, Target]:
    """Requests this plan admits (from waiting into Preparing or Approved), by name."""
    states = {r.name: r.status.state for r in before.requests}
    result = {}
    for decision in plan.decisions:
        if (
            isinstance(decision, UpdateRequestStatus)
            and RANK.get(states.get(decision.request), 9) == 0
            and decision.status.state in (S.PREPARING, S.APPROVED)
        ):
            target = Target.from_key(decision.status.target or "")
            assert target is not None, decision
            result[decision.request] = target
    return result


def selecting(pdbs: tuple[PodDisruptionBudget, ...], pod: Pod) -> list[str]:
    return [
        b.key
        for b in pdbs
        if b.namespace == pod.namespace
        and b.selector is not None
        and b.selector.matches(pod.labels)
    ]


# --- the invariants -------------------------------------------------------------------


def limits_respected(before: Snapshot, plan: Plan) -> None:
    """1. No limit goes past its allowed count because of an admission of ours."""
    new = admitted(before, plan)
    for limit in valid_limits(before):
        mine = {t.name for t in new.values() if governs(limit, before, t)}
        if mine:
            total = in_use(limit, before) | mine
            assert len(total) <= allowed(limit, before), (limit.name, sorted(total))


def rates_respected(before: Snapshot, plan: Plan) -> None:
    """1b. No limit admits past its rate: the admissions of its sliding period (from
    the requests' statuses and the limit's own records) plus ours stay within count."""
    new = admitted(before, plan)
    for limit in valid_limits(before):
        if limit.rate is None:
            continue
        mine = {name for name, t in new.items() if governs(limit, before, t)}
        if not mine:
            continue
        start = before.now - timedelta(seconds=limit.rate.per_seconds)
        seen: set[tuple[str, datetime]] = set()
        for request in before.requests:
            target = held_target(request) or (
                Target.from_key(request.status.target) if request.status.target else None
            )
            when = request.status.preparing_since or request.status.approved_at
            if target is not None and when is not None and governs(limit, before, target):
                seen.add((request.name, min(when, before.now)))
        for record in before.limits:
            if record.name == limit.name:
                seen.update((n, min(t, before.now)) for n, t in record.status.admissions)
                seen.update((n, min(t, before.now)) for n, t in record.status.commits.items())
        recent = {(name, when) for name, when in seen if when > start}
        assert len(recent) + len(mine) <= limit.rate.count, (limit.name, sorted(recent), mine)


def budgets_respected(before: Snapshot, plan: Plan) -> None:
    """2. Evictions and drain-less admissions stay within every PDB's budget, as the
    Eviction API counts it: a Pending pod is deleted without a PDB check, an unready
    one without spending when its PDB is AlwaysAllow or at its healthy count
    (currentHealthy >= desiredHealthy > 0); anything else spends one. And all or
    nothing: no eviction on a node holding a pod the drain may never evict."""
    budget = {b.key: 0 if b.stale else max(b.disruptions_allowed, 0) for b in before.pdbs}
    by_key = {b.key: b for b in before.pdbs}
    spent: Counter[str] = Counter()
    pods = {p.key: p for p in before.pods}
    limits = valid_limits(before)
    for decision in plan.decisions:
        if not isinstance(decision, Evict):
            continue
        pod = pods[f"{decision.namespace}/{decision.pod}"]
        assert not (
            pod.mirror or pod.owner_kind == "DaemonSet" or pod.terminal or pod.terminating
        ), pod
        governing = [
            lim for lim in limits if governs(lim, before, Target(TargetType.NODE, pod.node))
        ]
        drains = [lim.drain for lim in governing if lim.drain is not None]
        assert drains, "evicted without a drain configured"
        force = all(d.force for d in drains)
        delete_empty_dir = all(d.delete_empty_dir_data for d in drains)
        for other in before.pods:  # all or nothing (kubectl drain's filters)
            if other.node != pod.node or other.terminal or other.terminating:
                continue
            if other.mirror or other.owner_kind == "DaemonSet" or other.follows_cordon:
                continue
            assert force or other.owner_kind is not None, (pod.key, "beside", other.key)
            assert delete_empty_dir or not other.empty_dir, (pod.key, "beside", other.key)
            if other.phase != "Pending":
                several = selecting(before.pdbs, other)
                assert len(several) <= 1, (pod.key, "beside", other.key, several)
        selected = selecting(before.pdbs, pod)
        if pod.phase == "Pending":
            assert decision.pdb is None, decision  # no PDB is checked
            continue
        assert len(selected) <= 1, (pod.key, selected)
        if selected and not pod.ready:
            pdb = by_key[selected[0]]
            if pdb.unhealthy_pod_eviction_policy == "AlwaysAllow" or (
                pdb.current_healthy >= pdb.desired_healthy > 0
            ):
                assert decision.pdb is None, decision
                continue
        assert decision.pdb == (selected[0] if selected else None)
        spent.update(selected)
    touched = set(spent)
    in_place = in_place_charges(before, plan)
    for key, count in in_place.items():
        if key in touched or key in in_place.new:
            spent[key] += count
    touched |= in_place.new
    for key in touched:
        count = spent[key]
        assert count <= budget[key], (key, count, budget[key], dict(in_place))


class InPlace(Counter[str]):
    """Per PDB, the ready pods that go down in place; `new`, the PDBs that a decision
    of this plan charges (an admission or an approval), the only ones checked: a PDB
    already short by itself (a node failed) is not our doing."""

    new: set[str]


def goes_down_in_place(pod: Pod, drained: bool) -> bool:
    """DESIGN §3: every pod that stays on the node through the maintenance. Without a
    drain all of them (DaemonSet pods too); with one, the pods the drain leaves (they
    follow the cordon, or a DaemonSet runs them). Mirror pods are the kubelet's own."""
    if pod.mirror or pod.terminal or pod.terminating:
        return False
    return not drained or pod.owner_kind == "DaemonSet" or pod.follows_cordon


def in_place_charges(before: Snapshot, plan: Plan) -> InPlace:
    """Invariant 9's in-place half (and 2's admission half), from the pods themselves:
    a node under Approved or InProgress maintenance after this plan takes every ready
    pod on it down, each from every PDB that selects it — whatever today's limits say
    (a limit given a drain later, a PDB created later); a node this plan admits or
    approves takes its in-place pods down (by the drain of its governing limits now).
    Only ready pods: an unready one is outside its PDB's healthy count already."""
    charges = InPlace()
    charges.new = set()
    states = {r.name: r.status.state for r in before.requests}
    limits = valid_limits(before)
    moved: dict[str, S | None] = {
        d.request: d.status.state for d in plan.decisions if isinstance(d, UpdateRequestStatus)
    }
    new_nodes: dict[str, bool] = {}
    working: set[str] = set()
    for request in before.requests:
        target = held_target(request)
        if target is None or target.type is not TargetType.NODE:
            continue
        state = moved.get(request.name, request.status.state)
        was = states.get(request.name)
        if was in (S.APPROVED, S.IN_PROGRESS) and state in (S.APPROVED, S.IN_PROGRESS):
            working.add(target.name)
    for target in admitted(before, plan).values():
        if target.type is TargetType.NODE:
            governing = [lim for lim in limits if governs(lim, before, target)]
            new_nodes[target.name] = any(lim.drain is not None for lim in governing)
    for decision in plan.decisions:
        if (
            isinstance(decision, UpdateRequestStatus)
            and decision.transition
            and decision.status.state is S.APPROVED
            and decision.status.target
            and decision.status.target.startswith("node/")
        ):
            node = decision.status.target.removeprefix("node/")
            governing = [
                lim for lim in limits if governs(lim, before, Target(TargetType.NODE, node))
            ]
            new_nodes[node] = any(lim.drain is not None for lim in governing)
    admitted_bare = {
        t.name
        for t in admitted(before, plan).values()
        if t.type is TargetType.NODE and not new_nodes.get(t.name, True)
    }
    for pod in before.pods:
        if pod.node in admitted_bare and goes_down_in_place(pod, drained=False):
            # Without a drain, a pod under several PDBs blocks its admission (DESIGN §3).
            several = selecting(before.pdbs, pod)
            assert len(several) <= 1, (pod.key, several)
        if not pod.ready or pod.phase != "Running":
            continue
        if pod.node in new_nodes and pod.node not in working:
            if not goes_down_in_place(pod, new_nodes[pod.node]):
                continue
            keys = selecting(before.pdbs, pod)
            charges.update(keys)
            charges.new.update(keys)
        elif pod.node in working and not (pod.mirror or pod.terminal or pod.terminating):
            charges.update(selecting(before.pdbs, pod))
    return charges


def expired_commits_hold_nothing(before: Snapshot, plan_of: Callable[[Snapshot], Plan]) -> None:
    """10 (liveness), the reservations' half: a commit entry older than the expiry
    (a runner that died after its commit point) changes nothing in the plan — every
    request is admitted or held exactly as if the entry were gone."""
    expiry = timedelta(seconds=COMMIT_EXPIRY_SECONDS)
    stale = {
        limit.name: {
            name
            for name in set(limit.status.commits) | set(limit.status.active)
            if (limit.status.commits.get(name) or limit.status.last_admission_at or before.now)
            <= before.now - expiry
            or (name not in limit.status.commits and limit.status.last_admission_at is None)
        }
        for limit in before.limits
    }
    if not any(stale.values()):
        return
    waiting = {r.name for r in before.requests if r.status.state in (None, S.PENDING)}
    cleaned = attrs.evolve(
        before,
        limits=tuple(
            attrs.evolve(
                limit,
                status=attrs.evolve(
                    limit.status,
                    active=tuple(
                        a for a in limit.status.active if a not in stale[limit.name] & waiting
                    ),
                    commits={
                        n: t
                        for n, t in limit.status.commits.items()
                        if n not in stale[limit.name] & waiting
                    },
                ),
            )
            for limit in before.limits
        ),
    )
    first, second = plan_of(before), plan_of(cleaned)
    assert [a.request for a in first.admissions] == [a.request for a in second.admissions]
    assert [(e.request, e.state, e.reason) for e in first.explanations] == [
        (e.request, e.state, e.reason) for e in second.explanations
    ]


def one_active_per_target(after: Snapshot) -> None:
    """3. At most one active request per target."""
    holders: Counter[str] = Counter()
    for request in after.requests:
        if request.status.state in ACTIVE:
            target = held_target(request)
            assert target is not None
            holders[target.key] += 1
    assert all(count == 1 for count in holders.values()), holders


def no_repeated_action(first: Plan, second: Plan) -> None:
    """4. Planning again on the applied plan repeats nothing."""
    repeated = [d for d in second.decisions if d in first.decisions]
    assert not repeated, repeated


def gates_open(snapshot: Snapshot, limit: LimitSpec) -> bool:
    """DESIGN §7 gates: every gate the limit asks for has a reading of this pass (at
    most 5 minutes old) that did not fail and found nothing."""
    asked = []
    if limit.gates.prometheus is not None:
        asked.append(GateKind.PROMETHEUS)
    if limit.gates.blocking_pods is not None:
        asked.append(GateKind.BLOCKING_PODS)
    for kind in asked:
        readings = [g for g in snapshot.gates if g.limit == limit.name and g.gate is kind]
        if len(readings) != 1:
            return False
        (reading,) = readings
        if reading.error or reading.found or snapshot.now - reading.at > timedelta(minutes=5):
            return False
    return True


def failure_budget_tripped(snapshot: Snapshot, limit: LimitSpec) -> bool:
    """DESIGN §7 failureBudget, said again from the snapshot alone: more than
    maxUnhealthy nodes not Ready, or cordoned by someone else, whose latest maintenance
    under the limit (approved, then finished) ended at least afterSeconds and less
    than withinSeconds ago, after the acknowledgement. Nodes with an active or
    committed request are left out (the policy skips them: under work again)."""
    budget = limit.failure_budget
    if budget is None:
        return False
    now = snapshot.now
    ends: list[tuple[str, datetime]] = [(node, at) for _, node, at in _records(snapshot, limit)]
    for request in snapshot.requests:
        target = held_target(request)
        status = request.status
        if (
            target is None
            or status.state not in TERMINAL
            or status.approved_at is None
            or status.finished_at is None
            or not governs(limit, snapshot, target)
        ):
            continue
        ends.append((target.name, status.finished_at))
    latest: dict[str, datetime] = {}
    for node, ended in ends:
        at = min(ended, now)
        if now - at < timedelta(seconds=budget.within_seconds):
            latest[node] = max(at, latest.get(node, at))
    busy = {
        target.name
        for r in snapshot.requests
        if (target := held_target(r)) is not None
        and (r.status.state in ACTIVE or any(r.name in m.status.commits for m in snapshot.limits))
    }
    nodes = {n.name: n for n in snapshot.nodes}
    down = 0
    for node, at in latest.items():
        if now - at < timedelta(seconds=budget.after_seconds) or node in busy or node not in nodes:
            continue
        if budget.acknowledged_at is not None and at <= budget.acknowledged_at:
            continue
        known = nodes[node]
        down += not known.ready or (known.unschedulable and CORDONED_BY not in known.annotations)
    return down > budget.max_unhealthy


def _records(snapshot: Snapshot, limit: LimitSpec) -> tuple[tuple[str, str, datetime], ...]:
    for m in snapshot.limits:
        if m.name == limit.name:
            return m.status.finishes
    return ()


def admissions_allowed(before: Snapshot, plan: Plan) -> None:
    """5. Nothing admitted outside a window, under a paused or blacked-out limit, one
    whose failure budget is exceeded or whose outside gates are not open, before its
    interval, or for a bad target; states only move forward."""
    requests = {r.name: r for r in before.requests}
    for name, target in admitted(before, plan).items():
        spec = parse_request_spec(requests[name].spec)
        assert isinstance(spec, RequestSpec), name
        assert labels_of(before, target) is not None, name
        assert spec.not_before is None or before.now >= spec.not_before, name
        governing = [lim for lim in valid_limits(before) if governs(lim, before, target)]
        assert governing, name
        for limit in governing:
            if limit.windows:
                assert any(w.contains(before.now) for w in limit.windows), (name, limit.name)
            assert not limit.paused, (name, limit.name)
            assert not any(b.covers(before.now) for b in limit.blackouts), (name, limit.name)
            assert not failure_budget_tripped(before, limit), (name, limit.name)
            assert gates_open(before, limit), (name, limit.name)
            if limit.min_interval_seconds:
                last = [
                    r.status.preparing_since or r.status.approved_at
                    for r in before.requests
                    if held_target(r) is not None and governs(limit, before, held_target(r))  # type: ignore[arg-type]
                ]
                last += [m.status.last_admission_at for m in before.limits if m.name == limit.name]
                for instant in last:
                    if instant is not None:
                        assert before.now - instant >= timedelta(seconds=limit.min_interval_seconds)
    for decision in plan.decisions:
        if not isinstance(decision, UpdateRequestStatus):
            continue
        old = requests[decision.request].status.state
        new = decision.status.state
        assert new is not None
        if old in TERMINAL:
            assert new is old, (decision.request, old, new)
        elif new not in TERMINAL:
            assert RANK[new] >= RANK[old], (decision.request, old, new)
            if new is S.IN_PROGRESS:
                assert old in (S.APPROVED, S.IN_PROGRESS)


def cordons_owned(before: Snapshot, plan: Plan, after: Snapshot) -> None:
    """6. Only nodes we cordoned are uncordoned; a finished request leaves no cordon,
    unless another request is active on the node (invariant 8 wins: its cordon stays
    until that one is over too)."""
    owners = {n.name: n.annotations.get(CORDONED_BY) for n in before.nodes}
    for decision in plan.decisions:
        if isinstance(decision, Cordon):
            owners[decision.node] = decision.request
        elif isinstance(decision, Uncordon):
            assert owners.get(decision.node) == decision.request, decision
            owners[decision.node] = None
    states = {r.name: r.status.state for r in after.requests}
    busy = {
        target.name
        for r in after.requests
        if r.status.state in ACTIVE
        and (target := held_target(r)) is not None
        and target.type is TargetType.NODE
    }
    for node in after.nodes:
        owner = node.annotations.get(CORDONED_BY)
        if owner is not None and node.name not in busy:
            assert states.get(owner) in ACTIVE, (node.name, owner, states.get(owner))


def cordons_kept(before: Snapshot, plan: Plan, after: Snapshot) -> None:
    """8. While a node request is Approved or InProgress under a limit that cordons,
    nothing of ours uncordons its node; one approved in this pass has it cordoned."""
    # Dropping only the annotation of a node someone else uncordoned lifts nothing.
    uncordoned = {d.node for d in plan.decisions if isinstance(d, Uncordon) and d.unschedulable}
    newly_approved = {
        d.request
        for d in plan.decisions
        if isinstance(d, UpdateRequestStatus) and d.status.state is S.APPROVED and d.transition
    }
    nodes = {n.name: n for n in after.nodes}
    for request in after.requests:
        if request.status.state not in (S.APPROVED, S.IN_PROGRESS):
            continue
        target = held_target(request)
        if target is None or target.type is not TargetType.NODE or target.name not in nodes:
            continue
        if not any(lim.cordon for lim in valid_limits(before) if governs(lim, before, target)):
            continue
        assert target.name not in uncordoned, (request.name, target.name)
        if request.name in newly_approved:
            assert nodes[target.name].unschedulable, (request.name, target.name)


def approvals_drained(before: Snapshot, plan: Plan) -> None:
    """9 (with a drain). A request approved in this pass under a draining limit has no
    pod left on its node that the drain would evict. (Without a drain, its budget is
    invariant 2's drain-less half, `budgets_respected`.) And fail closed (DESIGN §3):
    nothing is approved while a governing limit is invalid or none governs."""
    for decision in plan.decisions:
        if not (
            isinstance(decision, UpdateRequestStatus)
            and decision.status.state is S.APPROVED
            and decision.transition
        ):
            continue
        target = Target.from_key(decision.target)
        assert target is not None
        if target.type is not TargetType.NODE:
            continue
        labels = labels_of(before, target) or {}
        broken = [
            parsed.name
            for m in before.limits
            if isinstance(parsed := parse_limit_spec(m.name, m.spec), InvalidLimit)
            and parsed.governs(target.type, labels)
        ]
        governing = [lim for lim in valid_limits(before) if governs(lim, before, target)]
        assert governing and not broken, (decision.request, target.key, broken)
        for limit in governing:  # 5: nothing approved outside a window
            if limit.windows:
                assert any(w.contains(before.now) for w in limit.windows), (
                    decision.request,
                    limit.name,
                )
        if not any(lim.drain is not None for lim in governing):
            continue
        # On a NotReady node, a pod terminating longer than the longest wait for
        # deletes past its deletionTimestamp counts as gone (DESIGN §3 "Dead nodes").
        node = next(n for n in before.nodes if n.name == target.name)
        waits = [
            lim.drain.skip_wait_for_delete_timeout_seconds
            for lim in governing
            if lim.drain is not None
        ]
        never = 0 in waits  # 0: never counted as gone, as kubectl's flag
        cutoff = before.now - timedelta(seconds=max(waits))
        left = [
            pod.key
            for pod in before.pods
            if pod.node == target.name
            and not (
                pod.mirror or pod.owner_kind == "DaemonSet" or pod.terminal or pod.follows_cordon
            )
            and not (
                not node.ready
                and not never
                and pod.deletion_timestamp is not None
                and pod.deletion_timestamp < cutoff
            )
        ]
        assert not left, (decision.request, target.name, left)


def gate_passes_when_nothing_changed(before: Snapshot, plan: Plan, after: Snapshot) -> None:
    """The approval gate (policy.gate) lets every approval of the plan through when the
    fresh read finds the cluster as the plan left it: it defers only on a change.
    (Its refusals are table-tested in tests/unit/test_gate.py.)"""
    evicted: Counter[str] = Counter(
        d.pdb for d in plan.decisions if isinstance(d, Evict) and d.pdb is not None
    )
    nodes = {n.name: n for n in after.nodes}
    spent = {b.key: b for b in before.pdbs}
    for decision in plan.decisions:
        if not isinstance(decision, UpdateRequestStatus) or decision.basis is None:
            continue
        basis = decision.basis
        # The Eviction API takes each eviction off its PDB's status at once.
        pdbs = [
            attrs.evolve(b, disruptions_allowed=b.disruptions_allowed - evicted[b.key])
            for b in spent.values()
        ]
        problems = recheck(
            basis,
            node=nodes.get(basis.node),
            pods=[p for p in after.pods if p.node == basis.node],
            pdbs=pdbs,
            limits=after.limits,
            evicted=evicted,
            now=before.now,
        )
        assert not problems, (decision.request, problems)


OUR_REASONS = {f"Repairman{state.value}" for state in S} | {"RepairmanDeleted"}


def ours(condition: NodeCondition) -> bool:
    """DESIGN §8, said again: a condition we write (reason Repairman<State>, message
    'repairman: ...'); anything else is someone else's."""
    return condition.reason in OUR_REASONS and condition.message.startswith("repairman: ")


def node_conditions_follow(before: Snapshot, plan: Plan, after: Snapshot) -> None:
    """DESIGN §8 after a pass: no condition that is not ours is written; a node with an
    active request under limits that publish shows its row of the table (where a
    condition of that type is not someone else's), and every other node shows nothing
    of ours True (its request ended any way, was deleted, or its limit turned it off)."""
    shown_before = {n.name: {c.type: c for c in n.conditions} for n in before.nodes}
    for decision in plan.decisions:
        if isinstance(decision, SetNodeConditions):
            for condition in decision.write:
                had = shown_before[decision.node].get(condition.type)
                assert had is None or ours(had), (decision.node, had, condition)
    active: dict[str, MaintenanceRequest] = {}
    for request in after.requests:
        target = held_target(request)
        if request.status.state in ACTIVE and target and target.type is TargetType.NODE:
            active[target.name] = request
    limits = valid_limits(after)
    parsed = [parse_limit_spec(m.name, m.spec) for m in after.limits]
    for node in after.nodes:
        mine = {c.type: c for c in node.conditions if ours(c)}
        theirs = {c.type for c in node.conditions if not ours(c)}
        request = active.get(node.name)
        target = Target(TargetType.NODE, node.name)
        governing = [limit for limit in limits if governs(limit, after, target)]
        # Any governing limit that says false, valid or not (an invalid one that still
        # says it keeps saying it).
        off = any(
            not limit.node_conditions
            for limit in parsed
            if limit.governs(TargetType.NODE, dict(node.labels))
        )
        if request is None or off:
            assert not any(c.status == "True" for c in mine.values()), (node.name, mine)
            continue
        state = request.status.state
        drains = any(limit.drain is not None for limit in governing)
        drained = request.status.drained_at is not None
        row = {
            "MaintenancePlanned": True,
            "DrainInProgress": state is S.PREPARING and drains and not drained,
            "Drained": drained,
            "MaintenanceInProgress": state in (S.APPROVED, S.IN_PROGRESS),
        }
        for kind, true in row.items():
            if kind in theirs:
                continue
            shown = mine.get(kind)
            if true:
                assert shown is not None and shown.status == "True", (node.name, kind, mine)
                assert shown.message.startswith(f"repairman: {request.name} "), shown
            else:
                assert shown is None or shown.status == "False", (node.name, kind, mine)
