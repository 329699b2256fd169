"""Approved and InProgress requests: the actor's steps and both timeouts (DESIGN §3
"Approved", "InProgress", "Withdrawn").

Pure. The actor declares in `spec.state`; the runner follows:

- Approved: InProgress declared -> InProgress. Completed declared -> Completed (a
  completion: the actor had the approval and may have done the work between two
  passes; the message says InProgress was not seen). Past `approvedTimeoutSeconds` from
  approval -> Expired (ApprovedTimeout).
- InProgress: Completed declared -> Completed. Past `inProgressTimeoutSeconds` from the
  start -> Expired (InProgressTimeout).

Either way the node is uncordoned once the request is terminal (policy.cordons) and
the slot is freed in the next pass, after any soak (policy.usage).
"""

from __future__ import annotations

from datetime import datetime

import attrs

from policy.endings import ApprovalTimedOut, Done, WorkTimedOut
from policy.explain import AwaitingActor, Cause, Working
from policy.lifecycle import Behaviour
from policy.model import ActorState, RequestState, RequestStatus
from policy.pass_state import Outcome
from policy.times import later
from policy.validation import Target

S = RequestState


def progress(
    *,
    target: Target,
    status: RequestStatus,
    actor: ActorState | None,
    behaviour: Behaviour,
    notes: tuple[Cause, ...],
    now: datetime,
) -> Outcome:
    """One pass of an Approved or InProgress request; `notes` follow a waiting cause."""
    if status.state is S.APPROVED:
        return _approved(
            target=target, status=status, actor=actor, behaviour=behaviour, notes=notes, now=now
        )
    assert status.state is S.IN_PROGRESS
    if actor is ActorState.COMPLETED:
        return Outcome(
            attrs.evolve(status, state=S.COMPLETED, completed_at=now),
            (Done(target.key),),
        )
    started_at = status.started_at or now
    deadline = later(started_at, behaviour.in_progress_timeout_seconds)
    if now >= deadline:
        return Outcome(
            attrs.evolve(status, state=S.EXPIRED),
            (WorkTimedOut(started_at, behaviour.in_progress_timeout_seconds),),
        )
    return Outcome(
        attrs.evolve(status, started_at=started_at), (Working(target.key, deadline), *notes)
    )


def _approved(
    *,
    target: Target,
    status: RequestStatus,
    actor: ActorState | None,
    behaviour: Behaviour,
    notes: tuple[Cause, ...],
    now: datetime,
) -> Outcome:
    if actor is ActorState.IN_PROGRESS:
        deadline = later(now, behaviour.in_progress_timeout_seconds)
        return Outcome(
            attrs.evolve(status, state=S.IN_PROGRESS, started_at=now),
            (Working(target.key, deadline), *notes),
        )
    if actor is ActorState.COMPLETED:
        return Outcome(
            attrs.evolve(status, state=S.COMPLETED, completed_at=now),
            (Done(target.key, unseen_start=True),),
        )
    approved_at = status.approved_at or now
    deadline = later(approved_at, behaviour.approved_timeout_seconds)
    if now >= deadline:
        return Outcome(
            attrs.evolve(status, state=S.EXPIRED),
            (ApprovalTimedOut(approved_at, behaviour.approved_timeout_seconds),),
        )
    return Outcome(
        attrs.evolve(status, approved_at=approved_at), (AwaitingActor(target.key, deadline), *notes)
    )
