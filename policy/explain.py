"""Why a request is where it is: reasons as a closed Enum, causes as data.

Pure. Every request in a plan gets an `Explanation` made of causes (those of waiting
and working requests here, those of finished ones in policy.endings); each cause is a
small frozen value carrying the facts (which limit and its use, which PDB and its
budget, which window and when it opens, which pods are left) and derives its message
from them, here and nowhere else. The runner writes `reason` and `message` into the
request's status, so a human can answer "why is my request still waiting?" with
`kubectl get mr`. Messages contain absolute instants only, never "in 5 minutes", so an
unchanged cluster produces an unchanged status and no write.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, Protocol

import attrs

from policy.model import Enum, RequestState

MAX_LISTED = 5


class Reason(Enum):
    """`status.reason`: CamelCase, machine-readable, stable."""

    # Waiting to be admitted (Pending).
    LIMIT_REACHED = "LimitReached"
    WINDOW_CLOSED = "WindowClosed"
    PAUSED = "Paused"
    BLACKOUT = "Blackout"
    NOT_BEFORE = "NotBefore"
    RATE_LIMITED = "RateLimited"
    FAILURE_BUDGET_EXCEEDED = "FailureBudgetExceeded"
    ALERT_FIRING = "AlertFiring"
    BLOCKING_PODS = "BlockingPods"
    GATE_UNAVAILABLE = "GateUnavailable"
    DEADLINE_MISSED = "DeadlineMissed"
    MIN_INTERVAL = "MinInterval"
    DISRUPTION_BUDGET = "DisruptionBudget"
    MULTIPLE_PDBS = "MultiplePodDisruptionBudgets"
    NO_LIMIT = "NoLimit"
    LIMIT_INVALID = "LimitInvalid"
    TARGET_BUSY = "TargetBusy"
    ACTOR_OUT_OF_ORDER = "ActorOutOfOrder"
    # Preparing.
    CORDONING = "Cordoning"
    DRAINING = "Draining"
    DRAIN_BLOCKED = "DrainBlocked"
    DRAIN_GRACE = "DrainGracePeriod"
    WAITING_FOR_VOLUME_DETACH = "WaitingForVolumeDetach"
    DETACH_GRACE = "DetachGracePeriod"
    # Admitted and running.
    APPROVED = "Approved"
    IN_PROGRESS = "InProgress"
    SPEC_IGNORED = "SpecIgnored"
    # Finished.
    COMPLETED = "Completed"
    WITHDRAWN = "Withdrawn"
    SOAKING = "Soaking"
    INVALID_SPEC = "InvalidSpec"
    TARGET_NOT_FOUND = "TargetNotFound"
    DRAIN_TIMEOUT = "DrainTimeout"
    VOLUME_DETACH_TIMEOUT = "VolumeDetachTimeout"
    APPROVED_TIMEOUT = "ApprovedTimeout"
    IN_PROGRESS_TIMEOUT = "InProgressTimeout"
    # Deleted (the reason of its Event, never of a status).
    TTL_EXPIRED = "TTLExpired"


class Cause(Protocol):
    @property
    def reason(self) -> Reason: ...

    def message(self) -> str: ...


def at(instant: datetime) -> str:
    """An instant as RFC 3339 UTC with second precision, the way the API prints them."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def span(seconds: int) -> str:
    """A length of time in its largest whole unit: 3600 -> '1h', 90 -> '90s'."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def listing(items: tuple[str, ...], total: int | None = None) -> str:
    total = len(items) if total is None else total
    shown = ", ".join(items[:MAX_LISTED])
    if total > min(len(items), MAX_LISTED):
        shown += f" and {total - min(len(items), MAX_LISTED)} more"
    return shown


# --- waiting for admission ------------------------------------------------------------


@attrs.frozen
class LimitFull:
    reason: ClassVar[Reason] = Reason.LIMIT_REACHED
    limit: str
    in_use: int
    allowed: int
    allowance: str
    """How `allowed` follows from the spec, e.g. '5% of 40, at most 3'."""

    def message(self) -> str:
        # The holders are not named (DESIGN §2): every change of holders would rewrite
        # every request queued behind the limit, a status write each for nothing the
        # request can act on (~60% of a 200-request soak's writes). The limit's
        # status.active and `kubectl repairman explain` name them.
        if self.allowed == 0 and self.in_use == 0:
            return f"limit {self.limit} allows 0 ({self.allowance}): maintenance is frozen"
        return f"limit {self.limit}: {self.in_use} of {self.allowed} in use ({self.allowance})"


@attrs.frozen
class WindowClosed:
    reason: ClassVar[Reason] = Reason.WINDOW_CLOSED
    limit: str
    windows: tuple[str, ...]
    opens_at: datetime
    opens_local: str

    def message(self) -> str:
        return (
            f"limit {self.limit}: outside its windows ({'; '.join(self.windows)}); "
            f"next opens {self.opens_local} ({at(self.opens_at)})"
        )


@attrs.frozen
class Paused:
    reason: ClassVar[Reason] = Reason.PAUSED
    limit: str

    def message(self) -> str:
        return (
            f"limit {self.limit}: paused by the operator (spec.paused); "
            f"`kubectl repairman resume {self.limit}` admits again"
        )


@attrs.frozen
class BlackedOut:
    reason: ClassVar[Reason] = Reason.BLACKOUT
    limit: str
    blackout: str
    """Its description, e.g. `blackout 'year-end freeze' 2026-12-20T00:00..2027-01-04T00:00
    Europe/Berlin`."""
    until: datetime
    until_local: str

    def message(self) -> str:
        return f"limit {self.limit}: {self.blackout}, until {self.until_local} ({at(self.until)})"


@attrs.frozen
class RateLimited:
    reason: ClassVar[Reason] = Reason.RATE_LIMITED
    limit: str
    admitted: int
    rate: str
    """How the rate reads, e.g. 'at most 10 per 1h'."""
    next_slot: datetime

    def message(self) -> str:
        return (
            f"limit {self.limit}: rate {self.rate}: {self.admitted} admitted in the period; "
            f"next slot at {at(self.next_slot)}"
        )


@attrs.frozen
class Unhealthy:
    """A node that counts against a failure budget: how it is, and after what."""

    node: str
    request: str
    how: str
    """'NotReady', 'cordoned' (by someone other than repairman), or 'under maintenance
    again' (it counted before that maintenance began)."""
    at: datetime
    """When that request's maintenance finished."""

    def describe(self) -> str:
        return f"{self.node} {self.how} after {self.request}"


@attrs.frozen
class FailureBudgetExceeded:
    reason: ClassVar[Reason] = Reason.FAILURE_BUDGET_EXCEEDED
    limit: str
    failing: tuple[Unhealthy, ...]
    max_unhealthy: int
    after_seconds: int

    def message(self) -> str:
        return f"limit {self.limit}: {self.summary()}"

    def summary(self) -> str:
        """The message without the limit's name, for the limit's own status."""
        nodes = listing(tuple(f.describe() for f in self.failing))
        return (
            f"failure budget exceeded: {len(self.failing)} nodes down {span(self.after_seconds)} "
            f"or more after their maintenance (at most {self.max_unhealthy}): {nodes}; "
            f"acknowledge with `kubectl repairman acknowledge {self.limit}`"
        )


@attrs.frozen
class AlertFiring:
    reason: ClassVar[Reason] = Reason.ALERT_FIRING
    limit: str
    query: str
    series: tuple[str, ...]

    def message(self) -> str:
        return f"limit {self.limit}: {self.summary()}"

    def summary(self) -> str:
        count = len(self.series)
        return (
            f"alert gate: {count} series match{'es' if count == 1 else ''} {self.query}: "
            f"{listing(self.series)}"
        )


@attrs.frozen
class BlockingPodsFound:
    reason: ClassVar[Reason] = Reason.BLOCKING_PODS
    limit: str
    selector: str
    pods: tuple[str, ...]

    def message(self) -> str:
        return f"limit {self.limit}: {self.summary()}"

    def summary(self) -> str:
        count = len(self.pods)
        return (
            f"blocking pods: {count} pod{'s' if count != 1 else ''} running matching "
            f"{self.selector}: {listing(self.pods)}"
        )


@attrs.frozen
class GateUnavailable:
    """A gate that could not be evaluated holds admissions (fail closed)."""

    reason: ClassVar[Reason] = Reason.GATE_UNAVAILABLE
    limit: str
    gate: str
    problem: str

    def message(self) -> str:
        return f"limit {self.limit}: {self.summary()}"

    def summary(self) -> str:
        return f"{self.gate} gate cannot be evaluated, holding admissions: {self.problem}"


@attrs.frozen
class NotYet:
    reason: ClassVar[Reason] = Reason.NOT_BEFORE
    not_before: datetime

    def message(self) -> str:
        return f"spec.notBefore: not admitted before {at(self.not_before)}"


@attrs.frozen
class DeadlineMissed:
    reason: ClassVar[Reason] = Reason.DEADLINE_MISSED
    deadline: datetime

    def message(self) -> str:
        return f"spec.deadline {at(self.deadline)} passed before admission; still waiting"


EVENTFUL_REASONS = frozenset({Reason.DEADLINE_MISSED.value})
"""Reasons worth an Event when they appear, though the state stays (DESIGN §7)."""


@attrs.frozen
class IntervalNotPassed:
    reason: ClassVar[Reason] = Reason.MIN_INTERVAL
    limit: str
    interval_seconds: int
    last_admission: datetime

    def message(self) -> str:
        return (
            f"limit {self.limit}: last admission at {at(self.last_admission)}, "
            f"minIntervalSeconds {self.interval_seconds}"
        )


@attrs.frozen
class BudgetExhausted:
    reason: ClassVar[Reason] = Reason.DISRUPTION_BUDGET
    pdb: str
    left: int
    needed: int
    stale: bool
    pods: tuple[str, ...]

    def message(self) -> str:
        if self.stale:
            budget = "has a stale status (counts as 0 disruptions allowed)"
        else:
            left = max(self.left, 0)
            budget = f"allows {left} more disruption{'s' if left != 1 else ''}"
        return (
            f"PDB {self.pdb} {budget}, {self.needed} needed for pods on the node: "
            f"{listing(self.pods)}"
        )


@attrs.frozen
class SeveralBudgets:
    reason: ClassVar[Reason] = Reason.MULTIPLE_PDBS
    pod: str
    pdbs: tuple[str, ...]

    def message(self) -> str:
        return (
            f"pod {self.pod} matches several PDBs ({', '.join(self.pdbs)}); "
            "the eviction API refuses it until only one selects it"
        )


@attrs.frozen
class NoGoverningLimit:
    reason: ClassVar[Reason] = Reason.NO_LIMIT
    target: str

    def message(self) -> str:
        kind = self.target.split("/", 1)[0]
        return f"no MaintenanceLimit governs {self.target}: create one of type {kind}"


@attrs.frozen
class LimitUnusable:
    reason: ClassVar[Reason] = Reason.LIMIT_INVALID
    limit: str
    error: str

    def message(self) -> str:
        return f"limit {self.limit} is invalid ({self.error}); fix it to resume admissions"


@attrs.frozen
class TargetHeld:
    reason: ClassVar[Reason] = Reason.TARGET_BUSY
    target: str
    holder: str

    def message(self) -> str:
        # Not the holder's state: each of its transitions would rewrite this request.
        return f"{self.target} is held by {self.holder}; queued behind it"


@attrs.frozen
class OutOfOrder:
    reason: ClassVar[Reason] = Reason.ACTOR_OUT_OF_ORDER
    spec_state: str
    state: str

    def message(self) -> str:
        return (
            f"spec.state is {self.spec_state} but the request is {self.state}, not Approved; "
            "set spec.state to Pending to queue it, or Completed to withdraw it"
        )


# --- admitted -------------------------------------------------------------------------


@attrs.frozen
class AwaitingActor:
    reason: ClassVar[Reason] = Reason.APPROVED
    target: str
    deadline: datetime

    def message(self) -> str:
        return (
            f"approved: {self.target} may be maintained; set spec.state to InProgress "
            f"before {at(self.deadline)}"
        )


@attrs.frozen
class Working:
    reason: ClassVar[Reason] = Reason.IN_PROGRESS
    target: str
    deadline: datetime

    def message(self) -> str:
        return (
            f"maintenance of {self.target} in progress; set spec.state to Completed "
            f"before {at(self.deadline)}"
        )


@attrs.frozen
class SpecIgnored:
    reason: ClassVar[Reason] = Reason.SPEC_IGNORED
    problem: str

    def message(self) -> str:
        return f"spec changed after admission and is ignored until the request ends: {self.problem}"


@attrs.frozen
class Explanation:
    """Where one request stands after this plan, and why."""

    request: str
    target: str
    """`type/name`, or what the spec said when it could not be parsed."""
    previous_state: RequestState | None
    state: RequestState
    causes: tuple[Cause, ...]

    @property
    def reason(self) -> Reason:
        return self.causes[0].reason

    @property
    def message(self) -> str:
        return "; ".join(cause.message() for cause in self.causes)
