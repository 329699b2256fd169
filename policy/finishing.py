"""Finished requests: soak, then deletion after the TTL (DESIGN §3 "Terminal"; §2
`soakSeconds`, `ttlSecondsAfterFinished`).

Pure. A terminal request (Completed, Rejected, Expired) keeps its reason and message.
Step 1: a request without `finishedAt` gets one (a status written by an older runner,
or by hand). Step 2: while its target soaks (policy.usage.soaking) the request stays,
and its slot stays used. Step 3: past `ttlSecondsAfterFinished` from `finishedAt` it is
deleted.
"""

from __future__ import annotations

import attrs

from policy import failures
from policy.endings import Finished
from policy.explain import Cause, Reason
from policy.model import MaintenanceRequest, RequestState, RequestStatus
from policy.pass_state import PassState
from policy.times import later, no_later_than_now
from policy.usage import soaking

S = RequestState
# What a finished request's status.reason may say (TTLExpired names an Event, never a status).
REASONS = {reason.value: reason for reason in Reason if reason is not Reason.TTL_EXPIRED}


@attrs.frozen
class Finishing:
    """What a pass does with a finished request: its explanation, and at most one of a
    status to write (step 1) or its deletion (step 3)."""

    causes: tuple[Cause, ...]
    write: RequestStatus | None = None
    delete: bool = False


def finish(request: MaintenanceRequest, *, state: PassState) -> Finishing:
    status = request.status
    final = status.state
    assert final is not None
    target = state.index.status_target(request)
    recorded = REASONS.get(status.reason)
    if recorded is None:
        recorded = Reason.COMPLETED if final is S.COMPLETED else Reason.INVALID_SPEC
    causes: list[Cause] = [Finished(recorded, status.message or final.value)]
    # Step 2: soaking.
    soak = soaking(state.index, request, target)
    if soak is not None:
        causes.append(soak)
    # Step 1: finishedAt (one in the future, or any other status time, is brought back
    # to now and written: else the TTL and the soak would never run out).
    sane = no_later_than_now(status, state.now)
    if status.finished_at is None or sane is not status:
        return Finishing(
            tuple(causes), write=attrs.evolve(sane, finished_at=sane.finished_at or state.now)
        )
    # Step 3: the TTL.
    ttl = state.index.behaviour(target).ttl_seconds_after_finished
    delete = soak is None and state.now >= later(status.finished_at, ttl)
    if delete and target is not None:
        # Not before the limits that count it hold it in their status (policy.failures).
        counting = [
            (spec, state.index.limits_by_name[spec.name].status)
            for spec in state.index.governing(target)[0]
            if spec.failure_budget is not None or spec.rate is not None
        ]
        delete = failures.recorded(request, target.name, counting, state.now)
    return Finishing(tuple(causes), delete=delete)
