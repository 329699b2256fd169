"""Who uses each limit and each PDB budget when a pass starts (DESIGN §2 "In use").

Pure. `open_ledger` counts, for every valid limit, its population and its users: nodes
unavailable by the limit's policies, targets of active requests, targets still soaking
after their request finished, and targets another runner committed to but has not yet
written (the commit point, DESIGN §5). Maintenance without a drain disrupts a node's
pods in place, so an active drain-less request keeps its pods' budgets spent. The pass
then admits and evicts through the ledger it returns (policy.ledger).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from policy import commits, failures
from policy.disruption import goes_down_in_place
from policy.endings import SoakingAfter
from policy.explain import at
from policy.ledger import Ledger, LimitUsage
from policy.limit_spec import DrainSpec, LimitSpec, NodePolicy
from policy.model import MaintenanceRequest, Node, RequestState, TargetType
from policy.pass_state import Index, Opening
from policy.times import at_most_now, later
from policy.validation import RequestSpec, Target

S = RequestState


def unavailability(spec: LimitSpec, node: Node, *, unschedulable: bool) -> str | None:
    """Why a governed node uses up `spec` by itself (its `policies`), or None."""
    if NodePolicy.NOT_READY in spec.policies and not node.ready:
        return NodePolicy.NOT_READY
    if NodePolicy.UNSCHEDULABLE in spec.policies and unschedulable:
        return NodePolicy.UNSCHEDULABLE
    return None


def soaking(
    index: Index, request: MaintenanceRequest, target: Target | None
) -> SoakingAfter | None:
    """A finished request whose target still soaks (`soakSeconds`): the slot stays used
    until the node has been Ready and schedulable that long."""
    status = request.status
    if status.state is None or not status.state.terminal or target is None:
        return None
    if status.approved_at is None:
        return None  # never had authority to work on the target: nothing to soak
    soak = index.behaviour(target).soak_seconds
    if soak == 0:
        return None
    now = index.now
    ended = f"{status.state.value} at {at(status.finished_at or now)}"
    finished = status.finished_at or now
    if target.type is TargetType.NODE:
        node = index.nodes.get(target.name)
        if node is None:
            return None
        if not node.ready or node.unschedulable:
            return SoakingAfter(target.key, None, ended)
        start = max(finished, node.ready_since or finished)
    else:
        start = finished
    until = later(start, soak)
    return SoakingAfter(target.key, until, ended) if now < until else None


def open_ledger(index: Index) -> Opening:
    """The ledger as the snapshot leaves it, before any decision of this pass."""
    usage, unavailable = _populations(index)
    ledger = Ledger.open(usage=usage, pdbs=index.snapshot.pdbs)
    holder: dict[str, str] = {}
    soaking_now: dict[str, Target] = {}
    finished: dict[str, list[tuple[MaintenanceRequest, Target]]] = defaultdict(list)
    for request in index.requests:
        state = request.status.state
        if state is None or (
            state is S.PENDING
            and request.status.preparing_since is None
            and request.status.approved_at is None
        ):
            continue  # holds nothing, admitted never: the common case of a long queue
        target = index.status_target(request)
        if target is None:
            continue
        valid, _ = index.governing(target)
        admitted = request.status.preparing_since or request.status.approved_at
        if admitted is not None:
            admitted = at_most_now(admitted, index.now)  # as the request's status reads it
        for spec in valid:
            lim = usage[spec.name]
            if admitted is not None and (
                lim.last_admission is None or admitted > lim.last_admission
            ):
                lim.last_admission = admitted
            if admitted is not None and spec.rate is not None:
                lim.admissions.add((request.name, at_most_now(admitted, index.now)))
        if state.active:
            holder[target.key] = holder.get(target.key, request.name)
            if index.labels(target) is None:
                # The target is gone: it is no longer in any population. A deleted
                # Node's pods may still be bound and Ready in the API until the pod
                # garbage collector removes them; they went down with it.
                if target.type is TargetType.NODE and state in (S.APPROVED, S.IN_PROGRESS):
                    _spend_in_place(index, ledger, target.name, every=True)
                continue
            for spec in valid:
                usage[spec.name].users[target.name] = f"by {request.name}"
            if target.type is TargetType.NODE:
                # The pods that go down in place with the node: until the disruption
                # controller counts them unhealthy the PDB status does not show it, so
                # keep them spent (DESIGN §3 "Pods that go down in place are charged").
                if state in (S.APPROVED, S.IN_PROGRESS):
                    # By how it was approved, not by today's limits: nothing drains an
                    # approved node any more, so every pod on it goes down with it (a
                    # drain added to a limit since, a PDB created since, new labels).
                    _spend_in_place(index, ledger, target.name, every=True)
                else:
                    drain = index.behaviour(target).drain
                    _spend_in_place(index, ledger, target.name, drain=drain, ready_only=True)
        else:
            if request.status.approved_at is not None and request.status.finished_at:
                for spec in valid:
                    if spec.failure_budget is not None:
                        finished[spec.name].append((request, target))
            soak = soaking(index, request, target)
            if soak is not None:
                soaking_now[request.name] = target
                how = f"soaking after {request.name}"
                for spec in valid:
                    usage[spec.name].users.setdefault(target.name, how)
    _count_commits(index, usage, holder, ledger)
    _judge_failures(index, usage, finished, busy=set(holder))
    return Opening(ledger=ledger, unavailable=unavailable, holder=holder, soaking=soaking_now)


def _judge_failures(
    index: Index,
    usage: dict[str, LimitUsage],
    finished: dict[str, list[tuple[MaintenanceRequest, Target]]],
    *,
    busy: set[str],
) -> None:
    """Each failure budget's recent finishes and whether it is tripped (policy.failures)."""
    under_work = {key.removeprefix("node/") for key in busy if key.startswith("node/")}
    listed = set(index.by_name)
    for name, lim in usage.items():
        if lim.spec.failure_budget is None:
            continue
        status = index.limits_by_name[name].status
        lim.finishes = failures.finishes(
            lim.spec, status, finished[name], listed=listed, now=index.now
        )
        lim.unhealthy = failures.unhealthy(
            lim.spec,
            lim.finishes,
            before=status,
            nodes=index.nodes,
            busy=under_work,
            now=index.now,
        )
        lim.failure = failures.exceeded(lim.spec, lim.unhealthy)


def _populations(index: Index) -> tuple[dict[str, LimitUsage], dict[str, dict[str, str]]]:
    """Every valid limit's population, allowance, last admission and the nodes that
    use it up by themselves (its `policies`)."""
    node_limits = [spec for spec in index.valid_limits if spec.type is TargetType.NODE]
    users: dict[str, dict[str, str]] = {spec.name: {} for spec in index.valid_limits}
    unavailable: dict[str, dict[str, str]] = {spec.name: {} for spec in node_limits}
    population = dict.fromkeys((spec.name for spec in node_limits), 0)
    for node in index.snapshot.nodes:
        for spec in node_limits:
            if not spec.governs(TargetType.NODE, node.labels):
                continue
            population[spec.name] += 1
            if not spec.policies:
                continue
            why = unavailability(spec, node, unschedulable=node.unschedulable)
            if why is not None:
                users[spec.name][node.name] = unavailable[spec.name][node.name] = why
    usage: dict[str, LimitUsage] = {}
    for spec in index.valid_limits:
        if spec.type is not TargetType.NODE:
            population[spec.name] = sum(
                1
                for w in index.snapshot.workloads
                if w.kind is spec.type and spec.governs(spec.type, w.labels)
            )
        usage[spec.name] = LimitUsage(
            spec=spec,
            population=population[spec.name],
            allowed=spec.allowed(population[spec.name]),
            users=users[spec.name],
            last_admission=None,
        )
    for limit in index.snapshot.limits:
        if limit.name in usage:
            recorded = limit.status.last_admission_at
            usage[limit.name].last_admission = (
                None if recorded is None else at_most_now(recorded, index.now)
            )
            if usage[limit.name].spec.rate is not None:
                # Admissions of requests since deleted, and ones another runner
                # committed whose status this list may not show yet, count too.
                # One stamped CLOCK_SKEW or more after now (a hand edit, a clock far
                # ahead) counts as now, so that it leaves the period instead of holding
                # it for ever.
                records = (*limit.status.admissions, *limit.status.commits.items())
                usage[limit.name].admissions.update(
                    (name, at_most_now(when, index.now)) for name, when in records
                )

    return usage, unavailable


def _count_commits(
    index: Index, usage: dict[str, LimitUsage], holder: dict[str, str], ledger: Ledger
) -> None:
    """Admissions another runner committed to a limit but has not yet written.

    The runner commits an admission by writing the governing limits' status (with a
    resourceVersion precondition) before the request's own status. A waiting request
    the limit's status names as committed was admitted by a pass that may still be
    writing: its target keeps the slot, and the target itself, so no other pass can
    give either away meanwhile (not even to a request of higher priority for the same
    target: that would make two active requests on it if the first write lands). Its
    node's pods that go down in place keep their PDB budget too: it may be written as
    Approved, and they go down, before any PDB status shows it. Until the commit
    expires (policy.commits): a runner that died holds nothing longer than that.
    """
    charged: set[str] = set()
    for limit in index.snapshot.limits:
        spec_usage = usage.get(limit.name)
        if spec_usage is None:
            continue
        for name in commits.named(limit):
            request = index.by_name.get(name)
            if request is None or request.status.state not in (None, S.PENDING):
                continue
            if commits.live(limit, name, index.now) is None:
                continue
            spec = index.specs[name]
            if not isinstance(spec, RequestSpec) or index.labels(spec.target) is None:
                continue
            if spec_usage.spec in index.governing(spec.target)[0]:
                spec_usage.users.setdefault(spec.target.name, f"by {name} (committing)")
                holder.setdefault(spec.target.key, name)
                if name not in charged and spec.target.type is TargetType.NODE:
                    charged.add(name)
                    drain = index.behaviour(spec.target).drain
                    ledger.reserve(name, _in_place(index, spec.target.name, drain=drain))


def _spend_in_place(
    index: Index,
    ledger: Ledger,
    node: str,
    *,
    drain: DrainSpec | None = None,
    every: bool = False,
    ready_only: bool = False,
) -> None:
    """Charge the node's pods that go down in place to every PDB that selects them.
    Once the work may have started (Approved, InProgress: `every`), every pod of the
    node counts, ready or not, terminating or failed: pods the maintenance took down go
    unready before the disruption controller lowers the PDB's budget (its latency, or a
    controller-manager restart), and counting only ready ones would hand that budget
    out again. Before (Preparing: `ready_only`), only ready pods: an unready one is
    already outside the budget, and charging it would keep a sick node from repair.
    Counting a pod twice once the controller catches up fails closed."""
    # Not clamped at 0: a shortfall (pods bound to the node since it was admitted)
    # must stay visible to its approval (policy.preparation).
    charge = _in_place(index, node, drain=drain, every=every, ready_only=ready_only)
    for pdb, count in charge.items():
        ledger.budget_left[pdb] -= count


def _in_place(
    index: Index,
    node: str,
    *,
    drain: DrainSpec | None,
    every: bool = False,
    ready_only: bool = False,
) -> Counter[str]:
    """What `_spend_in_place` charges, by PDB: `every` pod but mirror pods, or those
    that go down in place under `drain` (only the ready ones with `ready_only`)."""
    charge: Counter[str] = Counter()
    for pod in index.pods_on(node):
        if every:
            if pod.mirror:
                continue
        elif not goes_down_in_place(pod, drain) or (ready_only and not pod.ready):
            continue
        for pdb in index.budgets.selecting(pod):
            charge[pdb.key] += 1
    return charge
