"""`plan(snapshot) -> Plan`: one runner pass's decisions, and why.

Pure: the instant comes from the snapshot, nothing is read from outside, and the same
snapshot always gives the same plan. The runner consumes the plan (applies it, or
prints it in a dry run); the forecast and the property tests replay it against model
clusters.

A pass, in order (DESIGN §3):

1. Open the ledger: who uses each limit and PDB budget now (policy.usage).
2. Finished requests: soak, TTL deletion (policy.finishing).
3. Active requests, in priority order: Preparing ones go on preparing
   (policy.preparation); Approved and InProgress ones follow their actor and their
   timeouts (policy.progress).
4. Waiting requests, in priority order: judged and admitted through the ledger
   (policy.admission); an admitted request is prepared in the same pass, its admission
   committed before any action for it.
5. Cordons whose request is over are released (policy.cordons).
6. Each node held by a request shows its lifecycle conditions (policy.node_conditions).
7. Every limit's use is reported (policy.reports).

Every status is checked against the state machine (policy.lifecycle) as it is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from policy import cordons, node_conditions
from policy.admission import Admitted, admit
from policy.decisions import Admission, DeleteRequest, Plan, UpdateRequestStatus
from policy.endings import TargetLost
from policy.explain import Cause, Reason, SpecIgnored, at
from policy.fields import FieldError
from policy.finishing import finish
from policy.lifecycle import may_move
from policy.model import ActorState, MaintenanceRequest, Pod, RequestState, Snapshot
from policy.pass_state import Index, Outcome, PassState, order_key
from policy.preparation import prepare, preparing
from policy.progress import progress
from policy.reports import limit_reports
from policy.times import no_later_than_now
from policy.usage import open_ledger
from policy.validation import Target

S = RequestState

__all__ = ["order_key", "plan"]


def plan(snapshot: Snapshot, *, pods_by_node: Mapping[str, Sequence[Pod]] | None = None) -> Plan:
    """Decide this pass's actions for `snapshot`. Pure and deterministic.

    `pods_by_node`: the snapshot's pods grouped by node, when the caller keeps them so
    (the forecast's model cluster, which plans hundreds of times over 150,000 pods):
    exactly `snapshot.pods`, in any order; the plan is the same with it or without."""
    index = Index(snapshot, pods_by_node)
    state = PassState(index, open_ledger(index))
    terminal, active, waiting = [], [], []
    for request in index.requests:
        current = request.status.state
        if current is not None and current.terminal:
            terminal.append(request)
        elif current is not None and current.active:
            active.append(request)
        else:
            waiting.append(request)
    for request in terminal:
        _finished(request, state)
    for request in active:
        _record(request, _active(request, state), state)
    for request in waiting:
        _record(request, _waiting(request, state), state)
    cordons.release_orphans(state)
    node_conditions.publish(state)
    reports = limit_reports(state)
    return Plan(
        now=snapshot.now,
        decisions=tuple(state.decisions),
        explanations=tuple(state.explanations),
        limits=reports,
        admissions=tuple(a for a in state.admissions if state.final_state[a.request].active),
    )


def _finished(request: MaintenanceRequest, state: PassState) -> None:
    final = request.status.state
    assert final is not None
    state.final_state[request.name] = final
    target = state.index.status_target(request)
    if target is not None:
        state.final_target[request.name] = target
    finishing = finish(request, state=state)
    if finishing.write is not None:
        state.write_status(request, finishing.write)
    if finishing.delete:
        state.decisions.append(DeleteRequest(request=request.name, uid=request.uid))
    state.explain(request, final, finishing.causes)


def _active(request: MaintenanceRequest, state: PassState) -> Outcome:
    index = state.index
    status = request.status
    target = index.status_target(request)
    if target is None:
        # Nothing names the target any more (a corrupted status.target and an invalid
        # spec). Approved and InProgress may not become Rejected: the work may have
        # started, so they end as Expired, with the same reason.
        return Outcome(
            attrs.evolve(status, state=S.REJECTED if status.state is S.PREPARING else S.EXPIRED),
            (TargetLost(status.target),),
        )
    # A status time after now (a hand edit, a restored backup) is read as now, and
    # written back so: a timer that starts in the future would never run out.
    status = attrs.evolve(no_later_than_now(status, state.now), target=target.key)
    notes: list[Cause] = []
    actor: ActorState | None = None
    spec = index.specs[request.name]
    if isinstance(spec, FieldError):
        notes.append(SpecIgnored(str(spec)))
    else:
        actor = spec.state
        if spec.target != target:
            notes.append(SpecIgnored(f"spec names {spec.target.key}, admitted for {target.key}"))
    if status.state is S.PREPARING:
        return preparing(
            request, target=target, status=status, actor=actor, notes=tuple(notes), state=state
        )
    return progress(
        target=target,
        status=status,
        actor=actor,
        behaviour=index.behaviour(target),
        notes=tuple(notes),
        now=state.now,
    )


def _waiting(request: MaintenanceRequest, state: PassState) -> Outcome:
    admission = admit(request, state=state)
    if not isinstance(admission, Admitted):
        return admission
    target, behaviour = admission.target, admission.behaviour
    mark = len(state.decisions)
    state.final_state[request.name] = S.PREPARING
    state.admissions.append(
        Admission(
            request=request.name,
            target=target.key,
            limits=admission.limits,
            reserved=admission.reserved,
        )
    )
    outcome = prepare(
        request, target=target, behaviour=behaviour, status=admission.status, state=state
    )
    if len(state.decisions) > mark:
        # Actions follow: commit the admission first, so that nothing is cordoned or
        # evicted for a request whose admission did not stick.
        commit = UpdateRequestStatus(
            request=request.name,
            uid=request.uid,
            previous=request.status.state,
            target=target.key,
            status=attrs.evolve(
                admission.status,
                reason=Reason.CORDONING.value if behaviour.cordon else Reason.DRAINING.value,
                message=f"admitted at {at(state.now)}; preparing {target.key}",
                observed_generation=request.generation,
            ),
        )
        state.decisions.insert(mark, commit)
        state.written[request.name] = commit
    return outcome


def _record(request: MaintenanceRequest, outcome: Outcome, state: PassState) -> None:
    """Explain where `request` ends, write its status if it changed, and release its
    node if it is now terminal."""
    status = no_later_than_now(outcome.status, state.now)  # whatever path it took
    reason = outcome.causes[0].reason.value
    message = "; ".join(state.index.message(cause) for cause in outcome.causes)
    if not (
        status is request.status
        and status.reason == reason
        and status.message == message
        and status.observed_generation == request.generation
    ):
        status = status.explained(reason, message, request.generation)
    final = status.state
    assert final is not None
    if not may_move(request.status.state, final):
        raise AssertionError(f"{request.name}: {request.status.state} -> {final}")
    if final.terminal and status.finished_at is None:
        status = attrs.evolve(status, finished_at=state.now)
    if status is not request.status and status != request.status:
        state.write_status(request, status)
    state.explain(request, final, outcome.causes)
    state.final_state[request.name] = final
    target = Target.from_key(status.target) if status.target else None
    if target is not None:
        state.final_target[request.name] = target
    if final.terminal:
        cordons.release_with(
            state, request=request.name, target=target, why=f"{request.name} is {final.value}"
        )
