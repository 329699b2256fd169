"""Maintenance windows judged at literal instants.

Covers: plain windows, windows that wrap past midnight, day lists, time zones, both DST
transitions in Europe/Berlin, whole-day windows, and when a closed window opens next.
Leaves out parsing of the spec (test_validation.py).
"""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policy.windows import Window, parse_clock

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
ALL = frozenset(range(7))


def utc(text: str) -> datetime:
    return (
        datetime.fromisoformat(text).replace(tzinfo=UTC)
        if "+" not in text
        else datetime.fromisoformat(text)
    )


def window(days: frozenset[int], start: str, end: str, zone: str = "UTC") -> Window:
    s, e = parse_clock(start), parse_clock(end)
    assert s is not None and e is not None
    return Window(days=days, start=s, end=e, time_zone=zone)


WEEKEND_NIGHTS_BERLIN = window(frozenset({SAT, SUN}), "01:00", "05:00", "Europe/Berlin")
FRIDAY_NIGHT_WRAP = window(frozenset({FRI}), "22:00", "02:00")


@pytest.mark.parametrize(
    ("win", "instant", "inside"),
    [
        # Plain window, Berlin in winter is UTC+1.
        (WEEKEND_NIGHTS_BERLIN, "2026-11-28T00:00:00", True),  # Sat 01:00 local: start is inside
        (WEEKEND_NIGHTS_BERLIN, "2026-11-27T23:59:59", False),  # Sat 00:59:59 local
        (WEEKEND_NIGHTS_BERLIN, "2026-11-28T03:59:59", True),  # Sat 04:59:59 local
        (WEEKEND_NIGHTS_BERLIN, "2026-11-28T04:00:00", False),  # Sat 05:00 local: end is outside
        (WEEKEND_NIGHTS_BERLIN, "2026-11-29T02:00:00", True),  # Sun 03:00 local
        (WEEKEND_NIGHTS_BERLIN, "2026-11-30T02:00:00", False),  # Mon 03:00 local
        # Summer: UTC+2.
        (WEEKEND_NIGHTS_BERLIN, "2026-07-04T23:30:00", True),  # Sun 01:30 local
        (WEEKEND_NIGHTS_BERLIN, "2026-07-04T00:30:00", True),  # Sat 02:30 local
        (WEEKEND_NIGHTS_BERLIN, "2026-07-03T23:30:00", True),  # Sat 01:30 local
        (WEEKEND_NIGHTS_BERLIN, "2026-07-03T22:30:00", False),  # Sat 00:30 local
        # Wrapping past midnight: Friday 22:00 to Saturday 02:00.
        (FRIDAY_NIGHT_WRAP, "2026-11-27T21:59:00", False),
        (FRIDAY_NIGHT_WRAP, "2026-11-27T22:00:00", True),
        (FRIDAY_NIGHT_WRAP, "2026-11-28T01:59:00", True),  # Saturday morning belongs to Friday
        (FRIDAY_NIGHT_WRAP, "2026-11-28T02:00:00", False),
        (FRIDAY_NIGHT_WRAP, "2026-11-28T23:00:00", False),  # Saturday night is not Friday's
        (FRIDAY_NIGHT_WRAP, "2026-11-27T01:00:00", False),  # Friday morning belongs to Thursday
        # start == end covers a whole day from start.
        (window(frozenset({WED}), "00:00", "00:00"), "2026-11-25T00:00:00", True),
        (window(frozenset({WED}), "00:00", "00:00"), "2026-11-25T23:59:59", True),
        (window(frozenset({WED}), "00:00", "00:00"), "2026-11-26T00:00:00", False),
        # 24:00 ends at midnight.
        (window(ALL, "18:00", "24:00"), "2026-11-25T23:59:59", True),
        (window(ALL, "18:00", "24:00"), "2026-11-26T00:00:00", False),
        # Spring forward in Berlin: 2026-03-29 02:00 CET jumps to 03:00 CEST.
        (window(frozenset({SUN}), "02:00", "04:00", "Europe/Berlin"), "2026-03-29T00:59:59", False),
        (
            window(frozenset({SUN}), "02:00", "04:00", "Europe/Berlin"),
            "2026-03-29T01:00:00",
            True,
        ),  # 03:00 CEST
        (window(frozenset({SUN}), "02:00", "04:00", "Europe/Berlin"), "2026-03-29T01:59:59", True),
        (window(frozenset({SUN}), "02:00", "04:00", "Europe/Berlin"), "2026-03-29T02:00:00", False),
        # Fall back: 2026-10-25 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
        (
            window(frozenset({SUN}), "02:00", "03:00", "Europe/Berlin"),
            "2026-10-25T00:30:00",
            True,
        ),  # 02:30 CEST
        (
            window(frozenset({SUN}), "02:00", "03:00", "Europe/Berlin"),
            "2026-10-25T01:30:00",
            True,
        ),  # 02:30 CET
        (
            window(frozenset({SUN}), "02:00", "03:00", "Europe/Berlin"),
            "2026-10-25T02:00:00",
            False,
        ),  # 03:00 CET
        # Another hemisphere and a half-hour zone.
        (window(ALL, "09:00", "17:00", "Asia/Kolkata"), "2026-11-25T03:30:00", True),
        (window(ALL, "09:00", "17:00", "Asia/Kolkata"), "2026-11-25T03:29:00", False),
    ],
)
def test_contains(win: Window, instant: str, inside: bool) -> None:
    assert win.contains(utc(instant)) is inside


@pytest.mark.parametrize(
    ("win", "instant", "opens"),
    [
        # Wednesday noon UTC -> Saturday 01:00 Berlin = Friday 24:00 UTC.
        (WEEKEND_NIGHTS_BERLIN, "2026-11-25T12:00:00", "2026-11-28T00:00:00"),
        # Inside already: now.
        (WEEKEND_NIGHTS_BERLIN, "2026-11-28T01:00:00", "2026-11-28T01:00:00"),
        # Saturday after the window: Sunday's.
        (WEEKEND_NIGHTS_BERLIN, "2026-11-28T10:00:00", "2026-11-29T00:00:00"),
        # Sunday after: next Saturday.
        (WEEKEND_NIGHTS_BERLIN, "2026-11-29T10:00:00", "2026-12-05T00:00:00"),
        # Start inside the spring-forward gap (02:00-03:00 CET -> CEST) opens at the
        # first instant after it: 03:00 CEST = 01:00 UTC, when the runner admits (it
        # was reported as 01:30 UTC, 30 minutes late).
        (
            window(frozenset({SUN}), "02:30", "04:00", "Europe/Berlin"),
            "2026-03-28T12:00:00",
            "2026-03-29T01:00:00",
        ),
        # Wrapping window, asked on Saturday afternoon: next Friday 22:00.
        (FRIDAY_NIGHT_WRAP, "2026-11-28T12:00:00", "2026-12-04T22:00:00"),
    ],
)
def test_next_opening(win: Window, instant: str, opens: str) -> None:
    assert win.next_opening(utc(instant)) == utc(opens)
    # What is reported is what admission does: open then, and not a minute before.
    assert win.contains(utc(opens))
    if utc(opens) > utc(instant):
        assert not win.contains(utc(opens) - timedelta(minutes=1))


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("00:00", 0),
        ("01:30", 90),
        ("23:59", 1439),
        ("24:00", 1440),
        ("24:01", None),
        ("25:00", None),
        ("1:30", None),
        ("12:60", None),
        ("ab:cd", None),
        ("12-30", None),
    ],
)
def test_parse_clock(text: str, minutes: int | None) -> None:
    assert parse_clock(text) == minutes


@given(
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start=st.integers(0, 1439),
    length=st.integers(1, 1440),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]),
    instant=st.datetimes(  # hypothesis takes naive bounds, then attaches the zone
        min_value=datetime(2026, 3, 1),  # noqa: DTZ001
        max_value=datetime(2027, 4, 30),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
)
def test_the_reported_opening_is_when_admission_opens(
    days: frozenset[int], start: int, length: int, zone: str, instant: datetime
) -> None:
    # DST days included (Lord Howe shifts by 30 minutes): the opening a waiting
    # request is told is an instant the window contains, and the minute before it is not.
    win = Window(days=days, start=start, end=(start + length) % 1440 or 1440, time_zone=zone)
    opens = win.next_opening(instant)
    assert opens >= instant
    assert win.contains(opens)
    if opens > instant:
        assert not win.contains(max(instant, opens - timedelta(minutes=1)))
