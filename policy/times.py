"""Arithmetic on instants that no recorded value can break (DESIGN §3: one bad object
never stops the others).

Pure. Status times are the runner's own, but anything with write access to a status,
a restored backup or a hand edit can put any valid date-time there: year 9999 plus a
timeout overflows Python's datetime, and an instant in the future would keep a timer
from ever running out. `later` saturates instead of raising; `recorded` reads a status
time no later than now (the status is then written back with it, so the timer runs
from the first pass that saw it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs

from policy.model import RequestStatus

LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
"""The last instant `later` returns: 'never', for a deadline."""
PLANNABLE = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC))
"""The instants a pass may plan at (`--at`, a snapshot's `now`): every deadline of
theirs, up to 68 years out (a timeout of 2**31-1 s), stays a datetime."""


def plannable(instant: datetime) -> bool:
    return PLANNABLE[0] <= instant < PLANNABLE[1]


def later(instant: datetime, seconds: float) -> datetime:
    """`instant` + `seconds`, or LATEST when that is past what a datetime holds."""
    try:
        return instant + timedelta(seconds=seconds)
    except OverflowError:
        return LATEST


CLOCK_SKEW = timedelta(seconds=30)
"""How far a pass's `now` may lag an instant another pass wrote as its own `now`. The
runner reads the API server's clock from the Date of its answers: whole seconds, read
after the answer arrived (a long list: seconds later), and behind a load balancer from
API servers whose clocks differ by a little. So a pass may plan before an instant an
earlier one wrote: one at 12:00:04.000154 writes approvedAt, the next plans at
12:00:04.000016 (seen on the control plane). A recorded time less than this after `now`
is such an instant, kept as written (bringing it back wrote the status every pass or
two, counted a rate's admission twice, and kept a runner from finding its own commit
entry); one further ahead is no runner's (a hand edit, a restored backup) and is read
as now, so that its timer runs. Timers from a kept time run at most this much late (a
failure budget's afterSeconds, a commit's expiry). Kept well under the commit expiry
less the runner's commit write window (tests/unit/test_times.py), so that a commit
another runner may still write never looks expired to a runner whose reading is
behind by up to this much."""


def at_most_now(instant: datetime, now: datetime) -> datetime:
    """A recorded instant read no later than now: `now` when it is after now by
    CLOCK_SKEW or more, else as recorded (one instant read by two passes must stay one
    record, not become two)."""
    return now if instant >= now + CLOCK_SKEW else instant


def no_later_than_now(status: RequestStatus, now: datetime) -> RequestStatus:
    """The status with every time after `now` (by CLOCK_SKEW or more) brought back
    to `now`: the same object when none is."""

    def sane(value: datetime | None) -> datetime | None:
        return None if value is None else at_most_now(value, now)

    latest = status.latest
    if latest is None or latest < now + CLOCK_SKEW:
        return status  # every pass, for every request: the common case stays cheap
    fixed = attrs.evolve(
        status,
        preparing_since=sane(status.preparing_since),
        drained_at=sane(status.drained_at),
        detached_at=sane(status.detached_at),
        approved_at=sane(status.approved_at),
        started_at=sane(status.started_at),
        completed_at=sane(status.completed_at),
        finished_at=sane(status.finished_at),
    )
    return status if fixed == status else fixed
