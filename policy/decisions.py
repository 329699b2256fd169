"""What the policy asks the runner to do: a closed set of frozen decisions, and the Plan.

Pure data. The runner is the only consumer that turns these into API calls (or, in a
dry run, into lines of output); it dispatches with `match` and `assert_never`, so a new
decision kind cannot be forgotten there. Order matters and is part of the contract:
within one request, an admission's status write (the commit point) comes before its
cordon and evictions, a cordon before the approval, a terminal status before the
uncordon. A runner that fails a decision skips the rest of that request's decisions.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from policy.disruption import EvictionBudget
from policy.explain import Explanation, Reason
from policy.gate import Basis
from policy.model import LimitStatus, NodeCondition, RequestState, RequestStatus


@attrs.frozen
class UpdateRequestStatus:
    """Write a request's status (through /status, guarded by resourceVersion)."""

    request: str
    uid: str
    previous: RequestState | None
    status: RequestStatus
    target: str
    """`type/name` the request is about (what its spec names until it is admitted)."""
    basis: Basis | None = None
    """For a node's approval: what it relied on, which the runner proves on a fresh read
    before writing it (policy.gate)."""
    gone_before: datetime | None = None
    """When the status says the node was just drained while NotReady: pods terminating
    since before this instant counted as gone (DESIGN §3 "Dead nodes"), and count so
    in the runner's confirming read."""
    announce: bool = False
    """Worth an Event though the state stays: a reason that just appeared, such as a
    deadline that passed before admission."""

    @property
    def reason(self) -> str:
        return self.status.reason

    @property
    def transition(self) -> bool:
        """The state changes (worth an Event), rather than only the reason or message."""
        return self.previous is not self.status.state


@attrs.frozen
class Cordon:
    """Mark a node unschedulable, naming the request in the cordoned-by annotation."""

    node: str
    request: str
    reason: str = Reason.CORDONING.value
    uid: str = attrs.field(default="", eq=False)
    """The request's uid, written beside its name (CORDONED_BY_UID); not part of what
    makes two cordons the same."""

    @property
    def target(self) -> str:
        return f"node/{self.node}"


@attrs.frozen
class Uncordon:
    """Make a node we cordoned schedulable again and drop the annotation."""

    node: str
    request: str
    """The request named in the annotation."""
    reason: str
    """Why it may go: e.g. 'mr-a is Completed' or 'mr-a no longer exists'."""
    unschedulable: bool = True
    """False when someone already uncordoned it: only the annotation is left to remove."""
    uid: str = attrs.field(default="", eq=False)
    """The uid the annotation names beside `request`; "" when it names none (a cordon
    made before uids were written)."""

    @property
    def target(self) -> str:
        return f"node/{self.node}"


@attrs.frozen
class Evict:
    """Evict one pod through the Eviction API (never a plain delete)."""

    namespace: str
    pod: str
    uid: str
    node: str
    request: str
    pdb: str | None
    """The PDB whose budget this eviction spends; None when none selects the pod or
    the Eviction API lets it go without spending (`unbudgeted`)."""
    grace_period_seconds: int | None = None
    reason: str = Reason.DRAINING.value
    unbudgeted: EvictionBudget | None = None
    """Selected by a PDB (or Pending) but let go without spending its budget, and why."""
    resource_version: str | None = None
    """For an `unbudgeted` eviction: the pod as the plan judged it, sent as a
    precondition. Pods come from the API server's watch cache, PDBs from etcd: a pod
    read unready from a cache that is behind may be Ready by now, and its eviction
    would then spend budget the plan gave to another pod (or to a drain-less
    maintenance the API server knows nothing of). With the precondition the API
    server refuses the eviction of a pod that changed since the read."""

    @property
    def target(self) -> str:
        return f"pod/{self.namespace}/{self.pod}"


@attrs.frozen
class DeleteRequest:
    """Delete a finished request whose ttlSecondsAfterFinished has passed."""

    request: str
    uid: str
    reason: str = Reason.TTL_EXPIRED.value

    @property
    def target(self) -> str:
        return f"maintenancerequest/{self.request}"


@attrs.frozen
class UpdateLimitStatus:
    limit: str
    uid: str
    status: LimitStatus
    reason: str = "LimitStatus"

    @property
    def target(self) -> str:
        return f"maintenancelimit/{self.limit}"


@attrs.frozen
class SetNodeConditions:
    """Publish a node's lifecycle conditions (DESIGN §8) through `nodes/status`.

    `wanted` is the node's whole row of the table (policy.node_conditions); `write` is
    what the plan found to change. The runner compares `wanted` with a fresh read of
    the node and writes only what still differs, never over a condition that is not
    ours, guarded by the node's resourceVersion. In a request's lane it comes right
    after the status write that put the request in its row, so it says what was
    written; skipped when the request's chain stopped, it never stops it (an
    announcement: the cordon, evictions and uncordon after it go on whatever becomes
    of it)."""

    node: str
    request: str
    """The request whose row it is; "" when no request holds the node any more."""
    wanted: tuple[NodeCondition, ...]
    write: tuple[NodeCondition, ...]
    reason: str = "NodeConditions"
    uid: str = attrs.field(default="", eq=False)
    state: RequestState | None = attrs.field(default=None, eq=False)
    drained: bool = attrs.field(default=False, eq=False)
    """The request as the row says it (uid, state, drainedAt set): a row with anything
    True is written only while a fresh read of the request still says so (a runner
    with a stale list must not announce maintenance for a request that has ended)."""

    @property
    def target(self) -> str:
        return f"node/{self.node}"


Decision = (
    UpdateRequestStatus
    | Cordon
    | Uncordon
    | Evict
    | DeleteRequest
    | UpdateLimitStatus
    | SetNodeConditions
)


@attrs.frozen
class LimitReport:
    """How one limit stands after the plan (for tables, JSON and the limit's status)."""

    name: str
    type: str | None
    valid: bool
    error: str = ""
    population: int = 0
    allowed: int = 0
    in_use: int = 0
    unavailable: tuple[tuple[str, str], ...] = ()
    active: tuple[str, ...] = ()
    window_open: bool = True
    next_opening: datetime | None = None
    windows: tuple[str, ...] = ()
    paused: bool = False
    """spec.paused: it admits nothing new."""
    blackout: str = ""
    """The blackout it is in now and until when (its message); "" when none."""
    failure: str = ""
    """Its failure budget, exceeded: which nodes and how to acknowledge; "" when not."""
    gated: tuple[str, ...] = ()
    """What its outside gates hold admissions by (policy.gates); none when open."""


@attrs.frozen
class Admission:
    """A waiting request this plan admits (Pending -> Preparing, or straight to
    Approved): what the runner's commit point writes into the limits' status first
    (policy.commits), and what the pods-as-needed read must have read. The one place
    the shell learns what the plan admits."""

    request: str
    target: str
    """`type/name`, as the admission's status names it."""
    limits: tuple[str, ...]
    """The governing limits, by name: the entry is committed to each."""
    reserved: tuple[tuple[str, int], ...] = ()
    """PDB key -> disruptions the pods that go down in place take from it."""

    @property
    def node(self) -> str | None:
        kind, _, name = self.target.partition("/")
        return name if kind == "node" else None


@attrs.frozen
class Plan:
    now: datetime
    decisions: tuple[Decision, ...]
    explanations: tuple[Explanation, ...]
    """One per request, in the order the policy considered them."""
    limits: tuple[LimitReport, ...]
    admissions: tuple[Admission, ...] = ()
    """The admissions of this plan, in the order they were made."""

    def explanation(self, request: str) -> Explanation:
        for explanation in self.explanations:
            if explanation.request == request:
                return explanation
        raise KeyError(request)
