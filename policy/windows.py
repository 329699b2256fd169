"""Maintenance windows: weekly wall-clock intervals in an IANA time zone.

Pure: every question takes the instant as a parameter. A window whose end is not after
its start wraps past midnight (Sat 22:00-02:00 covers Saturday night into Sunday);
start == end covers a whole day from start. Wall-clock semantics on DST days: a start
that falls in the spring-forward gap opens at the first instant after the gap, and an
instant in the repeated fall-back hour is judged by its local wall-clock reading.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs

from policy.zones import zone

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MINUTES_PER_DAY = 24 * 60


@attrs.frozen
class Window:
    """Admissions are allowed while the local time is inside [start, end)."""

    days: frozenset[int]
    """Weekdays on which the window opens (0 = Monday); all seven when the spec omits them."""
    start: int
    """Minutes after local midnight."""
    end: int
    """Minutes after local midnight; 1440 is allowed and means midnight at the end of the day."""
    time_zone: str

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.time_zone)

    def describe(self) -> str:
        days = "daily" if len(self.days) == 7 else ",".join(DAY_NAMES[d] for d in sorted(self.days))
        return f"{days} {_hhmm(self.start)}-{_hhmm(self.end)} {self.time_zone}"

    def contains(self, instant: datetime) -> bool:
        local = instant.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        weekday = local.weekday()
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        # Wraps past midnight: the evening part belongs to the listed day, the
        # morning part to the day before it.
        yesterday = (weekday - 1) % 7
        return (weekday in self.days and minute >= self.start) or (
            yesterday in self.days and minute < self.end
        )

    def next_opening(self, instant: datetime) -> datetime:
        """The first instant at or after `instant` at which the window contains the time."""
        if self.contains(instant):
            return instant
        local_day = instant.astimezone(self.zone).date()
        # Two weeks: a week, and a day a time zone skipped (Pacific/Apia went from
        # 2011-12-29 to 2011-12-31) pushes the next opening past it.
        for offset in range(-1, 16):
            day = local_day + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opening = self._local_instant(day, self.start)
            if opening >= instant and self.contains(opening):
                return opening
        raise AssertionError("a window with at least one day opens within two weeks")

    def _local_instant(self, day: date, minutes: int) -> datetime:
        wall = datetime(day.year, day.month, day.day, tzinfo=self.zone) + timedelta(minutes=minutes)
        # Adding a timedelta to an aware datetime is wall-clock arithmetic. A wall time
        # in a spring-forward gap does not exist: read with the offset before the gap
        # (fold=0) it lands past the gap's end by the time it lies in the gap, read
        # with the offset after it (fold=1) before the gap. The window opens at the gap's
        # end, the first instant whose local reading is past the start (as `contains`
        # judges it); found minute by minute between the two (at most an hour or two).
        after, before = wall.astimezone(UTC), wall.replace(fold=1).astimezone(UTC)
        if before < after:
            moment = before
            while moment < after and not self.contains(moment):
                moment += timedelta(minutes=1)
            return moment
        return after


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_clock(value: str) -> int | None:
    """'HH:MM' as minutes after midnight; '24:00' is allowed; None when malformed."""
    digits = value[:2] + value[3:]
    if len(value) != 5 or value[2] != ":" or not (digits.isascii() and digits.isdigit()):
        return None
    hours, minutes = int(value[:2]), int(value[3:])
    if minutes >= 60 or hours > 24 or (hours == 24 and minutes != 0):
        return None
    return hours * 60 + minutes


def parse_day(value: str) -> int | None:
    for index, name in enumerate(DAY_NAMES):
        if value.lower() in (name.lower(), _FULL_DAY_NAMES[index]):
            return index
    return None


_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def next_opening(windows: tuple[Window, ...], instant: datetime) -> datetime:
    """When the earliest of several windows opens (the instant itself if one is open)."""
    return min(window.next_opening(instant) for window in windows)
