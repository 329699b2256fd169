"""Pending requests: judged, queued, and admitted through the ledger (DESIGN §3
"Invalid", "Target missing", "Busy target", "Pending -> Preparing").

Pure. Requests come in priority order; each either stays Pending with its causes, ends
(Rejected, or Completed as Withdrawn), or is admitted: every governing limit has room
(counting admissions made earlier in this plan), its windows are open and its interval
has passed, and, when no limit drains, the node's pods fit every PDB's remaining
budget. A request held back by its own constraint does not hold back those behind it.
What happens after admission (preparation in the same pass, the commit point) is the
planner's to order.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import attrs

from policy.disruption import charged_in_place
from policy.endings import InvalidRequest, TargetMissing
from policy.explain import (
    Cause,
    DeadlineMissed,
    LimitUnusable,
    NoGoverningLimit,
    NotYet,
    OutOfOrder,
    SeveralBudgets,
    TargetHeld,
)
from policy.fields import FieldError
from policy.lifecycle import Behaviour
from policy.limit_spec import DrainSpec, InvalidLimit, LimitSpec
from policy.model import ActorState, MaintenanceRequest, RequestState, RequestStatus, TargetType
from policy.pass_state import Outcome, PassState, withdrawn
from policy.validation import RequestSpec, Target

S = RequestState


@attrs.frozen
class Admitted:
    """The request is admitted: `status` is its Preparing status, not yet written."""

    status: RequestStatus
    target: Target
    behaviour: Behaviour
    limits: tuple[str, ...] = ()
    """The governing limits, by name."""
    reserved: tuple[tuple[str, int], ...] = ()
    """PDB key -> disruptions its pods that go down in place take."""


def admit(request: MaintenanceRequest, *, state: PassState) -> Outcome | Admitted:
    """Admit the request, or say why it waits; a waiting request whose deadline has
    passed says so first (reason DeadlineMissed; a deadline never overrides a limit)."""
    admission = _admit(request, state=state)
    if isinstance(admission, Admitted) or admission.status.state is not S.PENDING:
        return admission
    spec = state.index.specs[request.name]
    if isinstance(spec, RequestSpec) and spec.deadline and state.now >= spec.deadline:
        return Outcome(admission.status, (DeadlineMissed(spec.deadline), *admission.causes))
    return admission


def _admit(request: MaintenanceRequest, *, state: PassState) -> Outcome | Admitted:
    index = state.index
    status = request.status
    if status.state is not S.PENDING:
        status = attrs.evolve(status, state=S.PENDING)

    # Step 1: the request itself — valid, not withdrawn, its target present.
    spec = index.specs[request.name]
    if isinstance(spec, FieldError):
        return Outcome(attrs.evolve(status, state=S.REJECTED), (InvalidRequest(str(spec)),))
    target = spec.target
    if spec.state is ActorState.COMPLETED:
        return withdrawn(status, "spec.state set to Completed before approval", now=state.now)
    if index.labels(target) is None:
        return Outcome(attrs.evolve(status, state=S.REJECTED), (TargetMissing(target.key),))

    # Step 2: one active request per target; a waiting one holds nothing (DESIGN §3).
    holder = state.holder.get(target.key)
    if holder is not None and holder != request.name:
        return Outcome(status, (TargetHeld(target.key, holder),))
    if spec.state is ActorState.IN_PROGRESS:
        return Outcome(status, (OutOfOrder(spec.state.value, S.PENDING.value),))
    if spec.not_before is not None and state.now < spec.not_before:
        return Outcome(status, (NotYet(spec.not_before),))

    # Step 3: every governing limit valid, its windows open, its interval passed, room.
    valid, invalid = index.governing(target)
    causes = _limit_causes(state, target=target, valid=valid, invalid=invalid)
    if causes:
        return Outcome(status, tuple(causes))

    # Step 4: the node's pods that go down in place (without a drain all of them; with
    # one those the drain leaves) must fit every PDB that selects them (DESIGN §3).
    behaviour = index.behaviour_of(valid)
    spend: dict[str, int] = {}
    reserved: dict[str, Counter[str]] = {}
    if target.type is TargetType.NODE:
        # Its own commit by another pass reserved the budget for it: judge it afresh
        # beside the other committed ones (policy.ledger), and keep its reservation if
        # it does not fit (that pass may still write it).
        committed = request.name in state.ledger.reserved
        reserved = state.ledger.release_all() if committed else {}
        causes.extend(_in_place_budget(state, node=target.name, drain=behaviour.drain, spend=spend))
        if causes:
            for name, charge in reserved.items():
                state.ledger.reserve(name, charge)
            return Outcome(status, tuple(causes))
        reserved.pop(request.name, None)

    # Step 5: admitted. The ledger counts it from here on, for every limit it is under.
    state.ledger.admit(target=target.name, request=request.name, limits=valid, now=state.now)
    state.holder[target.key] = request.name
    for pdb, count in spend.items():
        spent = state.ledger.spend(pdb, count)
        assert spent
    for name, charge in reserved.items():  # the other committed ones still hold theirs
        state.ledger.reserve(name, charge)
    admitted = attrs.evolve(
        status,
        state=S.PREPARING,
        target=target.key,
        preparing_since=state.now,
        drained_at=None,
        detached_at=None,
        approved_at=None,
        started_at=None,
        completed_at=None,
        finished_at=None,
    )
    return Admitted(
        status=admitted,
        target=target,
        behaviour=behaviour,
        limits=tuple(sorted(spec.name for spec in valid)),
        reserved=tuple(sorted(spend.items())),
    )


def _limit_causes(
    state: PassState, *, target: Target, valid: list[LimitSpec], invalid: list[InvalidLimit]
) -> list[Cause]:
    """Everything the governing limits hold the request back by (none: admissible)."""
    causes: list[Cause] = [LimitUnusable(lim.name, str(lim.error)) for lim in invalid]
    if not valid and not invalid:
        causes.append(NoGoverningLimit(target.key))
    for limit in valid:
        usage = state.ledger.usage[limit.name]
        causes.extend(state.held(limit))
        closed = state.index.closed_window(limit)
        if closed is not None:
            causes.append(closed)
        interval = usage.interval_cause(state.now)
        if interval is not None:
            causes.append(interval)
        rated = usage.rate_cause(state.now)
        if rated is not None:
            causes.append(rated)
        if not usage.has_room_for(target.name):
            causes.append(usage.full_cause())
    return causes


def _in_place_budget(
    state: PassState, *, node: str, drain: DrainSpec | None, spend: dict[str, int]
) -> list[Cause]:
    """Would the pods that go down in place fit every PDB that selects them? Fills
    `spend` when they do. Without a drain a pod under several PDBs blocks (DESIGN §3
    Pending -> Preparing); a pod the drain leaves is charged to each of its PDBs."""
    causes: list[Cause] = []
    pods_by_pdb: dict[str, list[str]] = defaultdict(list)
    known = state.index.nodes.get(node)
    node_ready = known is None or known.ready
    for pod in state.index.pods_on(node):
        if not charged_in_place(pod, drain, node_ready=node_ready):
            continue
        pdbs = state.index.budgets.selecting(pod)
        if drain is None and len(pdbs) > 1:
            causes.append(SeveralBudgets(pod.key, tuple(p.key for p in pdbs)))
            continue
        for selecting in pdbs:
            pods_by_pdb[selecting.key].append(pod.key)
    for pdb, pods in sorted(pods_by_pdb.items()):
        if state.ledger.budget_left[pdb] < len(pods):
            causes.append(state.ledger.budget_cause(pdb, needed=len(pods), pods=tuple(pods)))
        else:
            spend[pdb] = len(pods)
    return causes
