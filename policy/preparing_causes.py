"""Why a Preparing request is still preparing: its waiting causes as data.

Pure. The causes of DESIGN §3 "Preparing", in its order: the limits it was admitted
under are gone (fail closed), the cordon, the pods a drain leaves (each with its
`Hold`), the drain's grace, the volumes still attached, the detach grace. Like every
cause (policy.explain), each carries the facts and derives its message from them;
the forecast reads the facts (which PDB holds a drain), never the message.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import attrs

from policy.explain import MAX_LISTED, Reason, at, listing
from policy.model import Enum


@attrs.frozen
class LimitsLost:
    """A Preparing request whose governing limits became invalid or were deleted: it
    is not approved on what is left (fail closed), and expires at `deadline`."""

    target: str
    invalid: tuple[tuple[str, str], ...]
    """(limit, error) of each invalid governing limit; empty: none governs any more."""
    deadline: datetime

    @property
    def reason(self) -> Reason:
        return Reason.LIMIT_INVALID if self.invalid else Reason.NO_LIMIT

    def problem(self) -> str:
        if not self.invalid:
            return f"no MaintenanceLimit governs {self.target} any more"
        return "; ".join(f"limit {name} is invalid ({error})" for name, error in self.invalid)

    def message(self) -> str:
        return f"{self.problem()}: not approved until it is fixed; expires at {at(self.deadline)}"


@attrs.frozen
class Cordoning:
    reason: ClassVar[Reason] = Reason.CORDONING
    node: str

    def message(self) -> str:
        return f"admitted; cordoning {self.node}"


class Hold(Enum):
    """Why a pod the drain must move is still on the node (or that it is going), in
    the words of kubectl drain and the Eviction API."""

    TERMINATING = "terminating"
    KEEPS_EMPTY_DIR = (
        "has local storage (emptyDir): drain.deleteEmptyDirData would allow it, "
        "as kubectl drain --delete-emptydir-data"
    )
    UNMANAGED = "declares no controller: drain.force would allow it, as kubectl drain --force"
    SEVERAL_PDBS = "several PDBs"
    PDB_STALE = "stale status"
    PDB_EXHAUSTED = "no disruption allowed"
    EVICTING = "evicting"
    EVICTING_PENDING = "evicting; Pending, so the Eviction API checks no PDB"
    EVICTING_UNREADY = "evicting; unready"


class PodLeft(tuple[str, Hold, tuple[str, ...], int]):
    """One pod still on a draining node, and why: `PodLeft((pod, hold, pdbs, allowed))`.

    A bare tuple with named fields, built by `tuple` itself (no Python `__new__` or
    `__init__`): a pass makes one for every pod left on every draining node (5,610 in
    the 1x bench snapshot, thousands more at fleet scale), and a NamedTuple cost twice
    as much to build, a frozen attrs instance ten times."""

    __slots__ = ()

    @property
    def pod(self) -> str:
        """`namespace/name`."""
        return self[0]

    @property
    def hold(self) -> Hold:
        return self[1]

    @property
    def pdbs(self) -> tuple[str, ...]:
        """The PDBs selecting it, when they are why it stays."""
        return self[2]

    @property
    def allowed(self) -> int:
        """What its PDB still allows, for PDB_EXHAUSTED."""
        return self[3]

    @property
    def held_by_budget(self) -> str | None:
        """The PDB holding the pod back, when one is."""
        if self[1] in (Hold.PDB_STALE, Hold.PDB_EXHAUSTED):
            return self[2][0]
        return None

    def describe(self) -> str:
        pod, hold, pdbs, allowed = self
        match hold:
            case Hold.SEVERAL_PDBS:
                return (
                    f"{pod} (selected by PDBs {', '.join(pdbs)}: the Eviction API refuses "
                    "a pod with more than one PodDisruptionBudget)"
                )
            case Hold.PDB_STALE:
                return f"{pod} (PDB {pdbs[0]}: stale status)"
            case Hold.PDB_EXHAUSTED:
                return f"{pod} (PDB {pdbs[0]}: {allowed} disruptions allowed)"
            case Hold.EVICTING_UNREADY:
                return f"{pod} (evicting; unready, so PDB {pdbs[0]}'s budget is not spent)"
            case _:
                return f"{pod} ({hold.value})"

    def __repr__(self) -> str:
        return f"PodLeft{tuple(self)!r}"


@attrs.frozen
class PodsLeft:
    reason: ClassVar[Reason] = Reason.DRAINING
    node: str
    pods: tuple[PodLeft, ...]
    deadline: datetime
    late: bool = False
    """The node had been drained; these pods arrived after (bound by name, or missed by
    a read that was behind)."""

    def message(self) -> str:
        count = f"{len(self.pods)} pod{'s' if len(self.pods) != 1 else ''}"
        return (
            f"draining {self.node}: {count} "
            f"{'arrived after the drain' if self.late else 'left'}: "
            f"{listing(tuple(p.describe() for p in self.pods[:MAX_LISTED]), len(self.pods))}"
            f"; drain times out at {at(self.deadline)}"
        )


@attrs.frozen
class DrainBlocked:
    """A pod on the node can never be evicted under the drain's options: as kubectl
    drain, nothing is evicted while it is there (DESIGN §3 "All or nothing")."""

    reason: ClassVar[Reason] = Reason.DRAIN_BLOCKED
    node: str
    pods: tuple[PodLeft, ...]
    """The pods that block it."""
    deadline: datetime

    def message(self) -> str:
        return (
            f"drain of {self.node} blocked, no pod is evicted while it is there: "
            f"{listing(tuple(p.describe() for p in self.pods[:MAX_LISTED]), len(self.pods))}"
            f"; drain times out at {at(self.deadline)}"
        )


@attrs.frozen
class GracePeriod:
    reason: ClassVar[Reason]
    what: str
    until: datetime

    def message(self) -> str:
        return f"{self.what}; grace period until {at(self.until)}"


@attrs.frozen
class DrainGrace(GracePeriod):
    reason: ClassVar[Reason] = Reason.DRAIN_GRACE


@attrs.frozen
class DetachGrace(GracePeriod):
    reason: ClassVar[Reason] = Reason.DETACH_GRACE


@attrs.frozen
class VolumesAttached:
    reason: ClassVar[Reason] = Reason.WAITING_FOR_VOLUME_DETACH
    node: str
    attachments: tuple[str, ...]
    deadline: datetime

    def message(self) -> str:
        return (
            f"waiting for {len(self.attachments)} volume attachment"
            f"{'s' if len(self.attachments) != 1 else ''} on {self.node} to detach: "
            f"{listing(self.attachments)}; times out at {at(self.deadline)}"
        )
