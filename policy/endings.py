"""Why a request ended: its terminal causes as data (DESIGN §3 "Terminal").

Pure. One frozen class per way a request ends (invalid, target missing, withdrawn,
completed, each timeout), carrying the facts, and `Finished` for one that ended in an
earlier pass (the reason and message it recorded); plus `SoakingAfter`, why a finished
request still holds its slot. Messages are derived here (policy.explain says why).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import attrs

from policy.explain import MAX_LISTED, Reason, at
from policy.fields import shown
from policy.preparing_causes import LimitsLost


@attrs.frozen
class Finished:
    """A request finished in an earlier pass: the reason and message it recorded."""

    reason_value: Reason
    detail: str

    @property
    def reason(self) -> Reason:
        return self.reason_value

    def message(self) -> str:
        return self.detail


@attrs.frozen
class InvalidRequest:
    reason: ClassVar[Reason] = Reason.INVALID_SPEC
    problem: str

    def message(self) -> str:
        return f"invalid {self.problem}"


@attrs.frozen
class TargetLost:
    """An active request whose status and spec both no longer name a valid target."""

    reason: ClassVar[Reason] = Reason.INVALID_SPEC
    status_target: str | None

    def message(self) -> str:
        return f"status.target {shown(self.status_target)} and the spec name no valid target"


@attrs.frozen
class TargetMissing:
    reason: ClassVar[Reason] = Reason.TARGET_NOT_FOUND
    target: str
    while_preparing: bool = False

    def message(self) -> str:
        if self.while_preparing:
            return f"{self.target} vanished while preparing"
        return f"{self.target} does not exist"


@attrs.frozen
class Withdrawn:
    reason: ClassVar[Reason] = Reason.WITHDRAWN
    how: str

    def message(self) -> str:
        return f"withdrawn: {self.how}"


@attrs.frozen
class Done:
    reason: ClassVar[Reason] = Reason.COMPLETED
    target: str
    unseen_start: bool = False
    """Declared Completed straight from Approved: it started and finished between two
    passes (a quick job), so InProgress was never seen."""

    def message(self) -> str:
        if self.unseen_start:
            # Not "completed": an actor that gave up after approval says the same.
            return (
                f"maintenance of {self.target} ended: declared Completed while Approved "
                "(InProgress was not seen)"
            )
        return f"maintenance of {self.target} completed"


@attrs.frozen
class DrainTimedOut:
    reason: ClassVar[Reason] = Reason.DRAIN_TIMEOUT
    node: str
    timeout_seconds: int
    pods: tuple[str, ...]
    """Every pod left, `namespace/name`."""
    blocked: tuple[str, ...] = ()
    """The pods that kept the drain from evicting anything, described with why."""

    def message(self) -> str:
        if self.blocked:
            return (
                f"{self.node} not drained within {self.timeout_seconds}s; the drain was "
                "blocked by " + ", ".join(self.blocked[:MAX_LISTED])
            )
        return (
            f"{self.node} not drained within {self.timeout_seconds}s; "
            f"{len(self.pods)} pods left: " + ", ".join(self.pods[:MAX_LISTED])
        )


@attrs.frozen
class BudgetTimedOut:
    """Preparing without a drain, and the PDBs of the node's pods did not cover them
    again within the default drain timeout of its admission."""

    reason: ClassVar[Reason] = Reason.DISRUPTION_BUDGET
    target: str
    timeout_seconds: int
    pdbs: tuple[str, ...]

    def message(self) -> str:
        return (
            f"not approved within {self.timeout_seconds}s of admission: "
            f"PDB {', '.join(self.pdbs)} no longer covers the pods on {self.target}"
        )


@attrs.frozen
class LimitsLostTimedOut:
    """Preparing, its governing limits became invalid or were all deleted, and they
    were not fixed within the default drain timeout of its admission."""

    lost: LimitsLost
    timeout_seconds: int

    @property
    def reason(self) -> Reason:
        return self.lost.reason

    def message(self) -> str:
        return f"not approved within {self.timeout_seconds}s of admission: {self.lost.problem()}"


@attrs.frozen
class DetachTimedOut:
    reason: ClassVar[Reason] = Reason.VOLUME_DETACH_TIMEOUT
    node: str
    timeout_seconds: int
    attachments: tuple[str, ...]

    def message(self) -> str:
        return f"volumes still attached to {self.node} after {self.timeout_seconds}s: " + ", ".join(
            self.attachments[:MAX_LISTED]
        )


@attrs.frozen
class ApprovalTimedOut:
    reason: ClassVar[Reason] = Reason.APPROVED_TIMEOUT
    approved_at: datetime
    timeout_seconds: int

    def message(self) -> str:
        return (
            f"approved at {at(self.approved_at)} but not InProgress within {self.timeout_seconds}s"
        )


@attrs.frozen
class WorkTimedOut:
    reason: ClassVar[Reason] = Reason.IN_PROGRESS_TIMEOUT
    started_at: datetime
    timeout_seconds: int

    def message(self) -> str:
        return (
            f"in progress since {at(self.started_at)}, not Completed within {self.timeout_seconds}s"
        )


@attrs.frozen
class SoakingAfter:
    reason: ClassVar[Reason] = Reason.SOAKING
    target: str
    until: datetime | None
    """None while the node is not yet Ready and schedulable."""
    ended: str

    def message(self) -> str:
        if self.until is None:
            return f"{self.ended}; the slot stays used until {self.target} is Ready and schedulable"
        return f"{self.ended}; the slot stays used while {self.target} soaks until {at(self.until)}"
