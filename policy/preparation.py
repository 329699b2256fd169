"""Preparing requests: cordon, drain, wait for volumes, approve (DESIGN §3 "Preparing").

Pure. Steps, in DESIGN's order, each pass until one has to wait:

0. The actor withdrew (spec.state Completed), or the target vanished: the request ends.
   A governing limit became invalid, or none governs any more: wait, approve nothing
   (fail closed), and expire at the default drain timeout from admission.
1. Cordon, when a governing limit asks (policy.cordons decides whose cordon it is).
2. Drain, when a limit asks: every pod the drain must move (policy.disruption) is
   evicted within the PDB budgets left (policy.ledger), or named with why it stays.
   Past `drain.timeoutSeconds` from admission with pods left: Expired (DrainTimeout).
   Node empty: `drainedAt`, then `drain.gracePeriodSeconds` of grace. Pods are looked
   at on every pass: one that arrives after `drainedAt` is drained too, and the drain's
   grace and the volume wait start again after it.
3. Volume detach, when `infraDrain.waitForVolumeDetach`: wait until no
   VolumeAttachment of the node is attached; past `infraDrain.timeoutSeconds`:
   Expired (VolumeDetachTimeout). Detached: `detachedAt`, then its grace.
4. Approve. With nothing to prepare this happens in the pass that admits.

The timeouts themselves come from the governing limits merged by policy.lifecycle
(the shortest wins; defaults in policy.validation).
"""

from __future__ import annotations

from collections import Counter

import attrs

from policy import cordons
from policy.decisions import Evict
from policy.disruption import (
    LEFT_BEHIND,
    NEVER_EVICTED,
    EvictionBudget,
    PodDisposition,
    charged_in_place,
    disposition,
    eviction_budget,
    goes_down_in_place,
    gone_before,
)
from policy.endings import (
    BudgetTimedOut,
    DetachTimedOut,
    DrainTimedOut,
    LimitsLostTimedOut,
    TargetMissing,
)
from policy.explain import AwaitingActor, Cause, SeveralBudgets
from policy.gate import Basis, BudgetBasis
from policy.lifecycle import Behaviour
from policy.limit_spec import DEFAULT_DRAIN_TIMEOUT, DrainSpec, InfraDrainSpec, InvalidLimit
from policy.model import (
    ActorState,
    MaintenanceRequest,
    Pod,
    RequestState,
    RequestStatus,
    TargetType,
)
from policy.pass_state import Outcome, PassState, withdrawn
from policy.preparing_causes import (
    DetachGrace,
    DrainBlocked,
    DrainGrace,
    Hold,
    LimitsLost,
    PodLeft,
    PodsLeft,
    VolumesAttached,
)
from policy.times import later
from policy.validation import Target

S = RequestState


def preparing(
    request: MaintenanceRequest,
    *,
    target: Target,
    status: RequestStatus,
    actor: ActorState | None,
    notes: tuple[Cause, ...],
    state: PassState,
) -> Outcome:
    """One pass of a request that is already Preparing; `notes` follow the causes of
    a request that goes on preparing (an ended one says only why it ended)."""
    # Step 0: withdrawn, or the target is gone.
    if actor is ActorState.COMPLETED:
        return withdrawn(status, "withdrawn while preparing", now=state.now)
    if state.index.labels(target) is None:
        return Outcome(
            attrs.evolve(status, state=S.REJECTED),
            (TargetMissing(target.key, while_preparing=True),),
        )
    # Fail closed: limits that became invalid or were deleted ask for no drain, but
    # that is no reason to approve with the node's pods still on it.
    valid, invalid = state.index.governing(target)
    if invalid or not valid:
        return _limits_lost(target, status=status, invalid=invalid, state=state)
    outcome = prepare(
        request, target=target, behaviour=state.index.behaviour(target), status=status, state=state
    )
    return Outcome(outcome.status, outcome.causes + notes)


def _limits_lost(
    target: Target, *, status: RequestStatus, invalid: list[InvalidLimit], state: PassState
) -> Outcome:
    """Wait for the limits to be fixed, up to the default drain timeout from admission."""
    deadline = later(status.preparing_since or state.now, DEFAULT_DRAIN_TIMEOUT)
    lost = LimitsLost(target.key, tuple((lim.name, str(lim.error)) for lim in invalid), deadline)
    if state.now >= deadline:
        return Outcome(
            attrs.evolve(status, state=S.EXPIRED),
            (LimitsLostTimedOut(lost, DEFAULT_DRAIN_TIMEOUT),),
        )
    return Outcome(status, (lost,))


def prepare(
    request: MaintenanceRequest,
    *,
    target: Target,
    behaviour: Behaviour,
    status: RequestStatus,
    state: PassState,
) -> Outcome:
    """Steps 1-4 for a Preparing request (also right after its admission)."""
    if target.type is not TargetType.NODE:
        return approve(request.name, target=target, behaviour=behaviour, status=status, state=state)
    node = target.name

    # Step 1: cordon.
    if behaviour.cordon:
        cordons.cordon(state, node=node, request=request.name)

    # Step 2: drain, its timeout, its grace.
    if behaviour.drain is not None:
        drained = _drain(request, node=node, drain=behaviour.drain, status=status, state=state)
        if isinstance(drained, Outcome):
            return drained
        status = drained

    # Step 3: volumes detached, its timeout, its grace.
    if behaviour.infra_drain is not None and behaviour.waits_for_detach:
        detached = _detach(node=node, infra=behaviour.infra_drain, status=status, state=state)
        if isinstance(detached, Outcome):
            return detached
        status = detached

    # Step 4: approve.
    return approve(request.name, target=target, behaviour=behaviour, status=status, state=state)


def _drain(
    request: MaintenanceRequest,
    *,
    node: str,
    drain: DrainSpec,
    status: RequestStatus,
    state: PassState,
) -> Outcome | RequestStatus:
    """Step 2: an Outcome while the drain or its grace goes on (or it timed out), else
    the status to go on with.

    The node's pods are looked at on every pass, drained or not: a pod bound by name
    to the cordoned node, or missed by a read that was behind, is drained like the
    rest before approval, and the drain and volume waits start again after it. The
    drain timeout still counts from admission. As kubectl drain, nothing is evicted
    while a pod is there that the options forbid evicting (policy.disruption)."""
    now = state.now
    deadline = later(status.preparing_since or now, drain.timeout_seconds)
    index = state.index
    known = index.nodes.get(node)
    cutoff = gone_before(node_ready=known is None or known.ready, drain=drain, now=now)
    left_behind = LEFT_BEHIND  # looked up once: module globals in a hot loop
    gone = 0
    remaining = []
    for pod in index.pods_on(node):
        kind = disposition(pod, drain, cutoff)
        if kind not in left_behind:
            remaining.append((pod, kind))
        elif kind is PodDisposition.GONE:
            gone += 1
    evict = _Evictor(state, request=request.name, drain=drain)
    blockers = evict.blockers(remaining)
    if remaining and now >= deadline:
        return Outcome(
            attrs.evolve(status, state=S.EXPIRED),
            (
                DrainTimedOut(
                    node,
                    drain.timeout_seconds,
                    tuple(p.key for p, _ in remaining),
                    tuple(b.describe() for b in blockers),
                ),
            ),
        )
    if remaining:
        late = status.drained_at is not None
        if late:
            status = attrs.evolve(status, drained_at=None, detached_at=None)
        if blockers:
            return Outcome(status, (DrainBlocked(node, blockers, deadline),))
        left = tuple([evict(pod, kind) for pod, kind in remaining])
        return Outcome(status, (PodsLeft(node, left, deadline, late),))
    drained_at = status.drained_at
    if drained_at is None:
        drained_at = now
        status = attrs.evolve(status, drained_at=drained_at)
        if cutoff is not None:
            state.gone_before[request.name] = cutoff
    grace_until = later(drained_at, drain.grace_period_seconds)
    if now < grace_until:
        what = f"{node} drained"
        if gone:
            what += (
                f" ({gone} pod{'s' if gone != 1 else ''} still terminating on the NotReady "
                f"node counted as gone after drain.skipWaitForDeleteTimeoutSeconds)"
            )
        return Outcome(status, (DrainGrace(what, grace_until),))
    return status


def _detach(
    *, node: str, infra: InfraDrainSpec, status: RequestStatus, state: PassState
) -> Outcome | RequestStatus:
    """Step 3: an Outcome while volumes are attached or in their grace (or it timed
    out), else the status to go on with. The timeout counts from the drain's end."""
    now = state.now
    detached_at = status.detached_at
    if detached_at is None:
        attached = tuple(
            a.name for a in state.index.attachments_by_node.get(node, ()) if a.attached
        )
        since = status.drained_at or status.preparing_since or now
        deadline = later(since, infra.timeout_seconds)
        if attached and now >= deadline:
            return Outcome(
                attrs.evolve(status, state=S.EXPIRED),
                (DetachTimedOut(node, infra.timeout_seconds, attached),),
            )
        if attached:
            return Outcome(status, (VolumesAttached(node, attached, deadline),))
        detached_at = now
        status = attrs.evolve(status, detached_at=detached_at)
    grace_until = later(detached_at, infra.grace_period_seconds)
    if now < grace_until:
        return Outcome(status, (DetachGrace(f"volumes detached from {node}", grace_until),))
    return status


def approve(
    request: str, *, target: Target, behaviour: Behaviour, status: RequestStatus, state: PassState
) -> Outcome:
    """Step 4. A node's approval carries what it relied on, for the runner to prove on a
    fresh read right before writing it (policy.gate). The node's pods that go down in
    place (without a drain all of them; with one those it leaves) must still fit every
    PDB that selects them (pods bound to the node since its admission may have used the
    budget up); until then it waits, and expires at the drain timeout (without a drain,
    the default one) from admission."""
    held = _approval_held(target, state=state)
    if held:
        return Outcome(status, held)
    if target.type is TargetType.NODE:
        basis = _basis(request, node=target.name, behaviour=behaviour, state=state)
        short = tuple(b for b in basis.budgets if b.left < 0)
        several = _several_budgets(target.name, state) if behaviour.drain is None else ()
        if short or several:
            return _budget_short(
                target,
                short=short,
                several=several,
                timeout=behaviour.drain.timeout_seconds if behaviour.drain else None,
                status=status,
                state=state,
            )
        state.bases[request] = basis
    deadline = later(state.now, behaviour.approved_timeout_seconds)
    return Outcome(
        attrs.evolve(status, state=S.APPROVED, approved_at=state.now),
        (AwaitingActor(target.key, deadline),),
    )


def _approval_held(target: Target, *, state: PassState) -> tuple[Cause, ...]:
    """Approval needs an open window, no blackout and room too (DESIGN §3, §4.5, §7),
    not only the admission: a window that closed or a blackout that began while the
    node drained (the approval gate refuses both), a limit frozen (0) or lowered below
    the maintenance already under way hold it until they allow it. Room
    counts what is at work (`PassState.at_work`), so Preparing requests never hold each
    other back. When approved, the target joins what is at work."""
    valid, _ = state.index.governing(target)
    causes: list[Cause] = []
    for limit in valid:
        closed = state.index.closed_window(limit)
        if closed is not None:
            causes.append(closed)
        blackout = state.index.blackout(limit)
        if blackout is not None:
            causes.append(blackout)
        working = state.at_work(limit)
        if target.name not in working and len(working) + 1 > state.ledger.usage[limit.name].allowed:
            causes.append(state.ledger.usage[limit.name].full_cause())
    if not causes:
        for limit in valid:
            state.at_work(limit).add(target.name)
    return tuple(causes)


def _several_budgets(node: str, state: PassState) -> tuple[SeveralBudgets, ...]:
    """Without a drain: the node's pods selected by several PDBs, which no budget can
    cover (bound since its admission: the approval gate would refuse it every pass)."""
    found = []
    for pod in state.index.pods_on(node):
        if goes_down_in_place(pod, None):
            pdbs = state.index.budgets.selecting(pod)
            if len(pdbs) > 1:
                found.append(SeveralBudgets(pod.key, tuple(p.key for p in pdbs)))
    return tuple(found)


def _budget_short(
    target: Target,
    *,
    short: tuple[BudgetBasis, ...],
    several: tuple[SeveralBudgets, ...] = (),
    timeout: int | None = None,
    status: RequestStatus,
    state: PassState,
) -> Outcome:
    """The PDBs do not cover the node's pods that go down in place: wait, and expire at
    the drain timeout (`timeout`; without a drain the default one) from admission,
    holding the slot no longer than a drain."""
    timeout = DEFAULT_DRAIN_TIMEOUT if timeout is None else timeout
    drain = state.index.behaviour(target).drain
    deadline = later(status.preparing_since or state.now, timeout)
    pods: dict[str, list[str]] = {b.pdb: [] for b in short}
    for pod in state.index.pods_on(target.name):
        for pdb in state.index.budgets.selecting(pod):
            if pdb.key in pods and goes_down_in_place(pod, drain):
                pods[pdb.key].append(pod.key)
    causes: tuple[Cause, ...] = several + tuple(
        state.ledger.budget_cause(b.pdb, needed=b.counted, pods=tuple(pods[b.pdb])) for b in short
    )
    if state.now >= deadline:
        pdbs = sorted({b.pdb for b in short} | {pdb for s in several for pdb in s.pdbs})
        return Outcome(
            attrs.evolve(status, state=S.EXPIRED),
            (BudgetTimedOut(target.key, timeout, tuple(pdbs)),),
        )
    return Outcome(status, causes)


def _basis(request: str, *, node: str, behaviour: Behaviour, state: PassState) -> Basis:
    index = state.index
    identity = {limit.name: (limit.uid, limit.generation) for limit in index.snapshot.limits}
    valid, _ = index.governing(Target(TargetType.NODE, node))
    counted: Counter[str] = Counter()
    known = index.nodes.get(node)
    node_ready = known is None or known.ready
    for pod in index.pods_on(node):
        if charged_in_place(pod, behaviour.drain, node_ready=node_ready):
            counted.update(pdb.key for pdb in index.budgets.selecting(pod))
    ledger = state.ledger
    budgets = tuple(
        BudgetBasis(pdb, ledger.pdbs[pdb].budget, count, ledger.budget_left[pdb])
        for pdb, count in sorted(counted.items())
    )
    return Basis(
        request=request,
        node=node,
        cordon=behaviour.cordon,
        cordoned_by=state.cordon_owner.get(node),
        drain=behaviour.drain,
        budgets=budgets,
        limits=tuple(sorted((lim.name, *identity[lim.name]) for lim in valid)),
        request_uid=listed.uid if (listed := index.by_name.get(request)) is not None else "",
    )


_HOLDS = {
    PodDisposition.TERMINATING: Hold.TERMINATING,
    PodDisposition.KEEPS_EMPTY_DIR: Hold.KEEPS_EMPTY_DIR,
    PodDisposition.UNMANAGED: Hold.UNMANAGED,
}
"""What holds a pod the drain may not evict, by its disposition."""


class _Evictor:
    """Evicts a pod as the Eviction API would let it go, spending its PDB's budget only
    when the API would, or says why it stays (called for every pod left on every
    draining node, hence the look-ups made once)."""

    def __init__(self, state: PassState, *, request: str, drain: DrainSpec) -> None:
        self.request, self.drain = request, drain
        self.selecting = state.index.budgets.selecting
        self.ledger = state.ledger
        self.decisions = state.decisions

    def blockers(self, remaining: list[tuple[Pod, PodDisposition]]) -> tuple[PodLeft, ...]:
        """The pods that can never be evicted under the drain's options: kubectl
        drain's filters (no controller without force, emptyDir without
        deleteEmptyDirData), and a pod the Eviction API refuses whatever the budgets
        (selected by several PDBs, unless Pending: then no PDB is looked at)."""
        found = []
        for pod, kind in remaining:
            if kind in NEVER_EVICTED:
                found.append(PodLeft((pod.key, _HOLDS[kind], (), 0)))
            elif kind is PodDisposition.EVICTABLE and pod.phase != "Pending":
                pdbs = self.selecting(pod)
                if len(pdbs) > 1:
                    found.append(
                        PodLeft((pod.key, Hold.SEVERAL_PDBS, tuple(p.key for p in pdbs), 0))
                    )
        return tuple(found)

    def __call__(self, pod: Pod, kind: PodDisposition) -> PodLeft:
        hold = _HOLDS.get(kind)
        if hold is not None:
            return PodLeft((pod.key, hold, (), 0))
        pdbs = self.selecting(pod)
        rule = eviction_budget(pod, pdbs)
        pdb: str | None = None
        unbudgeted: EvictionBudget | None = None
        left = PodLeft((pod.key, Hold.EVICTING, (), 0))
        if rule is EvictionBudget.SPENDS:
            pdb = pdbs[0].key
            if not self.ledger.spend(pdb):
                if pdbs[0].stale:
                    return PodLeft((pod.key, Hold.PDB_STALE, (pdb,), 0))
                return PodLeft((pod.key, Hold.PDB_EXHAUSTED, (pdb,), self.ledger.budget_left[pdb]))
        elif rule is EvictionBudget.SEVERAL_PDBS:  # `blockers` keeps this from happening
            return PodLeft((pod.key, Hold.SEVERAL_PDBS, tuple(p.key for p in pdbs), 0))
        elif pdbs:  # a PDB selects it, but the Eviction API spends none of its budget
            unbudgeted = rule
            if rule is EvictionBudget.PENDING:
                left = PodLeft((pod.key, Hold.EVICTING_PENDING, (), 0))
            else:
                left = PodLeft((pod.key, Hold.EVICTING_UNREADY, (pdbs[0].key,), 0))
        self.decisions.append(
            Evict(
                namespace=pod.namespace,
                pod=pod.name,
                uid=pod.uid,
                node=pod.node,
                request=self.request,
                pdb=pdb,
                grace_period_seconds=self.drain.grace_for(pod.termination_grace_period_seconds),
                unbudgeted=unbudgeted,
                resource_version=(pod.resource_version or None) if unbudgeted else None,
            )
        )
        return left
