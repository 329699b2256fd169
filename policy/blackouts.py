"""Blackouts: one-off periods without admissions (a year-end freeze, a launch), and the
pause switch's wording (DESIGN §7).

Pure. A blackout is written in local wall-clock time of an IANA zone, to the minute
(`2026-12-20T00:00`), and judged as the instants those readings name: a freeze from
00:00 to 00:00 in Europe/Berlin lasts 23 or 25 hours across a DST change, as the
calendar says. A reading the zone skips (the spring-forward gap) is read with the
offset before the change, one the zone repeats (the fall-back hour) as its first
occurrence, as Python's zoneinfo and RFC 5545 do.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import attrs

from policy.zones import zone

LOCAL_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
"""The CRD's pattern for a blackout's start and end (no seconds, no offset)."""
MAX_REASON = 256


@attrs.frozen
class Blackout:
    start: datetime
    """UTC."""
    end: datetime
    """UTC; after start."""
    start_local: str
    end_local: str
    time_zone: str
    reason: str = ""

    def covers(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def describe(self) -> str:
        what = f"{self.reason!r} " if self.reason else ""
        return f"blackout {what}{self.start_local}..{self.end_local} {self.time_zone}"


def local_instant(text: str, time_zone: str) -> datetime | None:
    """`YYYY-MM-DDTHH:MM` in `time_zone` as a UTC instant; None when malformed or
    outside the years 1970..8999 (as every other time the policy reads)."""
    if not LOCAL_MINUTE.fullmatch(text) or not text.isascii():
        return None
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        return None
    if not 1970 <= naive.year <= 8999:
        return None
    return naive.replace(tzinfo=zone(time_zone)).astimezone(UTC)


def blacked_out(blackouts: tuple[Blackout, ...], now: datetime) -> tuple[Blackout, datetime] | None:
    """The blackout covering `now` (the one that ends last) and when admissions resume:
    the end of the chain of blackouts that overlap or touch from there. None: no
    blackout now."""
    covering = [b for b in blackouts if b.covers(now)]
    if not covering:
        return None
    first = max(covering, key=lambda b: b.end)
    resumes = first.end
    while True:
        later = [b.end for b in blackouts if b.covers(resumes)]
        if not later:
            return first, resumes
        resumes = max(later)
