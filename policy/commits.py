"""Admissions committed by a pass whose own status write has not been seen (DESIGN §3
"An admission that is not written is not held"; §5 commit point).

Pure. A pass that admits requests first writes the governing limits' status, guarded
by resourceVersion, naming each admitted request with the instant of its plan
(`status.commits`), and only then the requests' own status. Until a later pass sees a
request's admission land, its entry keeps the request's slot, target and PDB budget
from being given away (policy.usage, policy.reports). The runner that committed it
removes its own entry in the same pass when it does not write the admission (the gate
refused, a 409 or 404, another limit's commit failed, a signal); an entry left by a
runner that died expires `COMMIT_EXPIRY_SECONDS` after it was made, judged by the
plan's clock (the API server's), and the next pass drops it from the status.

The runner never writes an admission more than `runner.apply.COMMIT_WRITE_WINDOW`
seconds after its plan's instant, well inside the expiry: an entry still in force may
yet be written; an expired one never will be.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from policy.model import MaintenanceLimit
from policy.times import at_most_now

COMMIT_EXPIRY_SECONDS = 180
"""How long an unwritten commit holds its slot: three minutes, three times the longest
a runner may take from its plan to the admission's write (runner.apply)."""


def committed_at(limit: MaintenanceLimit, request: str) -> datetime | None:
    """When `request`'s entry was committed to `limit`. A name in `status.active` with
    no entry (written by a runner before entries carried their instant) counts from
    the limit's last admission, which that runner wrote with it; None if neither."""
    when = limit.status.commits.get(request)
    if when is None and request in limit.status.active:
        when = limit.status.last_admission_at
    return when


def live(limit: MaintenanceLimit, request: str, now: datetime) -> datetime | None:
    """The instant of `request`'s commit to `limit` while it still holds (one dated
    CLOCK_SKEW or more after now: now, and written so); None once it expired (or there
    is none)."""
    when = committed_at(limit, request)
    if when is None:
        return None
    when = at_most_now(when, now)  # one dated ahead (a hand edit) counts from now
    if now - when >= timedelta(seconds=COMMIT_EXPIRY_SECONDS):
        return None
    return when


def named(limit: MaintenanceLimit) -> tuple[str, ...]:
    """Every request the limit's status names as committed, entries or legacy names."""
    return tuple(sorted(set(limit.status.commits) | set(limit.status.active)))
