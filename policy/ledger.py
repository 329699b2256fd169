"""The one place where capacity is counted and spent: limit slots and PDB budgets.

Pure. The planner opens a ledger from the snapshot (who holds which limit, which nodes
are unavailable, what each PDB still allows), then every admission and every eviction
of the plan goes through it, so that admissions made earlier in the same plan count
against later ones. Slots freed by requests that finish in this plan are not given
back until the next pass: if the runner fails to apply the finish, nothing admitted
meanwhile can push a limit past its allowed count.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import attrs

from policy.explain import (
    BudgetExhausted,
    FailureBudgetExceeded,
    IntervalNotPassed,
    LimitFull,
    RateLimited,
    Unhealthy,
)
from policy.failures import Finish
from policy.limit_spec import LimitSpec
from policy.model import PodDisruptionBudget
from policy.times import later


@attrs.define
class LimitUsage:
    """One valid limit's population and who uses it."""

    spec: LimitSpec
    population: int
    allowed: int
    users: dict[str, str]
    """Target name -> how it uses the slot ('by mr-a', 'NotReady', 'soaking after mr-b')."""
    last_admission: datetime | None
    admissions: set[tuple[str, datetime]] = attrs.field(factory=set)
    """(request name, when) of the admissions under this limit (for `rate`): a name
    filed again is a second admission at another instant."""
    finishes: tuple[Finish, ...] = ()
    """Under a `failureBudget`: the maintenance finished within its period."""
    unhealthy: tuple[Unhealthy, ...] = ()
    """Under a `failureBudget`: the nodes counting against it now."""
    failure: FailureBudgetExceeded | None = None
    """Its failure budget, tripped (policy.failures); judged once, when the pass opens."""
    _full: tuple[int, LimitFull] | None = None
    """The last full_cause, with the user count it was made for; `use` forgets it."""

    def use(self, target: str, how: str) -> None:
        if target in self.users:
            return
        self.users[target] = how
        self._full = None

    def has_room_for(self, target: str) -> bool:
        if target in self.users:
            # Already counted (e.g. a NotReady node to repair): no new slot is used,
            # unless the limit is already over because nodes failed by themselves.
            return len(self.users) <= self.allowed
        return len(self.users) + 1 <= self.allowed

    def full_cause(self) -> LimitFull:
        """Why the limit has no room. The same object until the users change, so the
        many requests queued behind a limit share one cause (and one message)."""
        if self._full is not None and self._full[0] == len(self.users):
            return self._full[1]
        cause = LimitFull(
            limit=self.spec.name,
            in_use=len(self.users),
            allowed=self.allowed,
            allowance=self.spec.describe_allowed(self.population),
        )
        self._full = (len(self.users), cause)
        return cause

    def in_period(self, now: datetime) -> tuple[tuple[str, datetime], ...]:
        """The admissions of the rate's sliding period ending now (one stamped after
        now counts too; the ledger brought those back to now)."""
        rate = self.spec.rate
        if rate is None:
            return ()
        start = now - timedelta(seconds=rate.per_seconds)
        return tuple(sorted(entry for entry in self.admissions if entry[1] > start))

    def rate_cause(self, now: datetime) -> RateLimited | None:
        rate = self.spec.rate
        if rate is None:
            return None
        recent = sorted(when for _, when in self.in_period(now))
        if len(recent) < rate.count:
            return None
        # The period must drop len - count + 1 of them: the slot opens when the one at
        # that place leaves it.
        opens = later(recent[len(recent) - rate.count], rate.per_seconds)
        return RateLimited(self.spec.name, len(recent), rate.describe(), opens)

    def interval_cause(self, now: datetime) -> IntervalNotPassed | None:
        interval = self.spec.min_interval_seconds
        if interval == 0 or self.last_admission is None:
            return None
        if now >= later(self.last_admission, interval):
            return None
        return IntervalNotPassed(self.spec.name, interval, self.last_admission)


@attrs.define
class Ledger:
    usage: dict[str, LimitUsage]
    """By limit name."""
    pdbs: dict[str, PodDisruptionBudget]
    budget_left: dict[str, int]
    """By PDB key: disruptions we may still cause in this plan."""
    reserved: dict[str, Counter[str]] = attrs.field(factory=dict)
    """By request: the budget a drain-less admission committed by another pass holds
    (already taken off `budget_left`) until its status shows it."""

    @classmethod
    def open(cls, *, usage: dict[str, LimitUsage], pdbs: tuple[PodDisruptionBudget, ...]) -> Ledger:
        return cls(
            usage=usage,
            pdbs={pdb.key: pdb for pdb in pdbs},
            budget_left={pdb.key: pdb.budget for pdb in pdbs},
        )

    def admit(self, *, target: str, request: str, limits: list[LimitSpec], now: datetime) -> None:
        for spec in limits:
            usage = self.usage[spec.name]
            usage.use(target, f"by {request}")
            usage.last_admission = now
            usage.admissions.add((request, now))

    def spend(self, pdb: str, count: int = 1) -> bool:
        """Take `count` disruptions from a PDB's budget, or nothing if it has fewer left."""
        if self.budget_left[pdb] < count:
            return False
        self.budget_left[pdb] -= count
        return True

    def reserve(self, request: str, charge: Counter[str]) -> None:
        """Hold `charge` (disruptions by PDB) for `request`, whatever is left."""
        for pdb, count in charge.items():
            self.budget_left[pdb] -= count
        self.reserved[request] = charge

    def release_all(self) -> dict[str, Counter[str]]:
        """Give back every reservation; returns them, to `reserve` again the ones that
        still stand. A committed request judged again competes with the other committed
        ones in the plan's order, as in the pass that committed them; were each judged
        against all the others' reservations, two that no longer fit together would
        block each other forever."""
        reserved, self.reserved = self.reserved, {}
        for charge in reserved.values():
            for pdb, count in charge.items():
                self.budget_left[pdb] += count
        return reserved

    def budget_cause(self, pdb: str, *, needed: int, pods: tuple[str, ...]) -> BudgetExhausted:
        return BudgetExhausted(
            pdb=pdb,
            left=self.budget_left[pdb],
            needed=needed,
            stale=self.pdbs[pdb].stale,
            pods=pods,
        )
