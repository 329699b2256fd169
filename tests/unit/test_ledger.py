"""Capacity counted and spent in one place (policy/ledger.py), as tables.

Covers: room in a limit (a target already counted uses no new slot, unless the limit
is over), admissions counted for every governing limit, PDB budgets spent all or
nothing, the shared LimitFull cause and when it changes, the minimum interval.
Leaves out how the ledger is opened from a snapshot (test_admission.py, properties).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from policy.explain import IntervalNotPassed
from policy.ledger import Ledger, LimitUsage
from policy.limit_spec import LimitSpec
from policy.model import TargetType
from tests.helpers import NOW, pdb


def usage(allowed: int, users: dict[str, str], interval: int = 0, name: str = "node") -> LimitUsage:
    spec = LimitSpec(name=name, type=TargetType.NODE, percent=100, min_interval_seconds=interval)
    return LimitUsage(spec=spec, population=10, allowed=allowed, users=users, last_admission=None)


@pytest.mark.parametrize(
    ("allowed", "users", "target", "room"),
    [
        (2, {}, "n0", True),
        (2, {"n1": "by a"}, "n0", True),
        (2, {"n1": "by a", "n2": "by b"}, "n0", False),
        (0, {}, "n0", False),
        # A NotReady node being repaired is already counted: no new slot needed...
        (2, {"n0": "NotReady", "n1": "by a"}, "n0", True),
        # ...unless nodes failing by themselves already put the limit over.
        (1, {"n0": "NotReady", "n1": "NotReady"}, "n0", False),
    ],
)
def test_room(allowed: int, users: dict[str, str], target: str, room: bool) -> None:
    assert usage(allowed, dict(users)).has_room_for(target) is room


def test_admission_counts_in_every_governing_limit() -> None:
    node, zone = usage(2, {}), usage(1, {}, name="zone-a")
    ledger = Ledger.open(usage={"node": node, "zone-a": zone}, pdbs=())
    ledger.admit(target="n0", request="mr-a", limits=[node.spec, zone.spec], now=NOW)
    assert node.users == zone.users == {"n0": "by mr-a"}
    assert node.last_admission == zone.last_admission == NOW
    assert not zone.has_room_for("n1") and node.has_room_for("n1")


def test_budgets_are_spent_all_or_nothing() -> None:
    ledger = Ledger.open(
        usage={}, pdbs=(pdb("web", "web", allowed=2), pdb("old", "db", 5, generation=2))
    )
    assert ledger.budget_left == {"ns/web": 2, "ns/old": 0}  # a stale status grants none
    assert not ledger.spend("ns/web", 3)
    assert ledger.budget_left["ns/web"] == 2
    assert ledger.spend("ns/web", 2) and not ledger.spend("ns/web")
    cause = ledger.budget_cause("ns/old", needed=1, pods=("ns/db-0",))
    assert cause.stale and cause.left == 0


def test_full_cause_is_shared_until_the_users_change() -> None:
    limit = usage(1, {"n1": "by mr-a"})
    first = limit.full_cause()
    assert limit.full_cause() is first
    assert (first.in_use, first.allowed) == (1, 1)
    limit.use("n2", "by mr-b")
    second = limit.full_cause()
    assert second is not first and second.in_use == 2


@pytest.mark.parametrize(
    ("interval", "last", "waits"),
    [
        (0, NOW, False),
        (600, None, False),
        (600, NOW - timedelta(seconds=599), True),
        (600, NOW - timedelta(seconds=600), False),
    ],
)
def test_minimum_interval(interval: int, last: object, waits: bool) -> None:
    limit = usage(5, {}, interval=interval)
    limit.last_admission = last  # type: ignore[assignment]
    cause = limit.interval_cause(NOW)
    assert isinstance(cause, IntervalNotPassed) is waits
