"""The snapshot: everything the policy knows about the cluster at one instant.

Pure data. The runner fills it from the API (or a recorded file) and hands it to
`policy.plan`; nothing here reads the clock or the cluster. Objects are frozen; their
mapping fields are plain dicts that nobody mutates after construction.

What actors and operators author (the `spec` of requests and limits) is kept as the
JSON it arrived as, because judging it, field by field, is itself a rule of the policy
(`policy.validation`). Everything else is typed here, once.
"""

from __future__ import annotations

import enum
import functools
import operator
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

#: A JSON value as the API server returned it.
JsonObject = Mapping[str, Any]


class Enum(enum.Enum):
    """An enum hashed by identity. Members are singletons compared by identity, so this
    is the same hash as far as any dict or set can tell, but computed in C: the
    planner hashes states and target types millions of times in a forecast, and
    `enum.Enum.__hash__` (hash of the member's name, in Python) was a tenth of it."""

    __hash__ = object.__hash__


class TargetType(Enum):
    """What a request asks to maintain."""

    NODE = "node"
    DEPLOYMENT = "deployment"
    STATEFULSET = "statefulset"
    DAEMONSET = "daemonset"

    @property
    def namespaced(self) -> bool:
        return self is not TargetType.NODE


class RequestState(Enum):
    """`status.state` of a MaintenanceRequest: the runner's word, the only authority."""

    PENDING = "Pending"
    PREPARING = "Preparing"
    APPROVED = "Approved"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    REJECTED = "Rejected"
    EXPIRED = "Expired"

    @property
    def active(self) -> bool:
        """Holds its target: the request has been admitted and is not finished."""
        return self in _ACTIVE

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_ACTIVE = frozenset({RequestState.PREPARING, RequestState.APPROVED, RequestState.IN_PROGRESS})
_TERMINAL = frozenset({RequestState.COMPLETED, RequestState.REJECTED, RequestState.EXPIRED})


class ActorState(Enum):
    """`spec.state` of a MaintenanceRequest: what the actor declares."""

    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"


@attrs.frozen
class LabelSelectorRequirement:
    """One `matchExpressions` entry."""

    key: str
    operator: str
    """In, NotIn, Exists or DoesNotExist."""
    values: tuple[str, ...] = ()


@attrs.frozen
class LabelSelector:
    """A Kubernetes label selector. The empty selector matches everything."""

    match_labels: Mapping[str, str] = attrs.field(factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, value in self.match_labels.items():
            if labels.get(key) != value:
                return False
        for req in self.match_expressions:
            present = req.key in labels
            if req.operator == "In":
                if not present or labels[req.key] not in req.values:
                    return False
            elif req.operator == "NotIn":
                if present and labels[req.key] in req.values:
                    return False
            elif req.operator == "Exists":
                if not present:
                    return False
            elif req.operator == "DoesNotExist":
                if present:
                    return False
            else:
                # Unknown operators cannot be evaluated: match nothing (fail closed).
                return False
        return True

    def query(self) -> str:
        """The selector in the API's `labelSelector` syntax (`app=backup,!spot`)."""
        terms = [f"{key}={value}" for key, value in sorted(self.match_labels.items())]
        for req in self.match_expressions:
            if req.operator in ("In", "NotIn"):
                terms.append(f"{req.key} {req.operator.lower()} ({','.join(req.values)})")
            elif req.operator == "Exists":
                terms.append(req.key)
            else:
                terms.append(f"!{req.key}")
        return ",".join(terms)


@attrs.frozen
class NodeCondition:
    """One of the node lifecycle conditions of DESIGN §8 (KEP-5683) a node shows."""

    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str = ""
    message: str = ""


@attrs.frozen
class Node:
    """A node, reduced to what maintenance decisions need."""

    name: str
    labels: Mapping[str, str] = attrs.field(factory=dict)
    annotations: Mapping[str, str] = attrs.field(factory=dict)
    unschedulable: bool = False
    ready: bool = True
    """The Ready condition is True (False and Unknown both count as not ready)."""
    ready_since: datetime | None = None
    """lastTransitionTime of the Ready condition."""
    conditions: tuple[NodeCondition, ...] = ()
    """Its node lifecycle conditions (DESIGN §8: MaintenancePlanned, DrainInProgress,
    Drained, MaintenanceInProgress), whoever set them; no other condition."""


@attrs.frozen
class Pod:
    """A pod on a node that matters (a candidate's or an active request's)."""

    namespace: str
    name: str
    uid: str
    node: str
    labels: Mapping[str, str] = attrs.field(factory=dict)
    resource_version: str = ""
    """As read: an eviction the plan judged free of budget by this read of the pod
    carries it as a precondition (runner.apply)."""
    owner_kind: str | None = None
    """Kind of the controller owner reference; None for an unmanaged pod."""
    owner_name: str | None = None
    mirror: bool = False
    """A static pod's mirror (annotation kubernetes.io/config.mirror)."""
    phase: str = "Running"
    deletion_timestamp: datetime | None = None
    empty_dir: bool = False
    """Has an emptyDir volume, whose data an eviction destroys."""
    ready: bool = True
    termination_grace_period_seconds: int | None = None
    follows_cordon: bool = False
    """Tolerates `node.kubernetes.io/unschedulable`: meant to run on cordoned nodes
    (DaemonSet pods, node agents), so a drain leaves it like a DaemonSet pod."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    @property
    def terminating(self) -> bool:
        return self.deletion_timestamp is not None


@attrs.frozen
class PodDisruptionBudget:
    """A PDB with the status the disruption controller last wrote."""

    namespace: str
    name: str
    selector: LabelSelector | None
    """None matches no pod (policy/v1beta1's empty selector); an empty one matches all."""
    disruptions_allowed: int = 0
    generation: int = 1
    observed_generation: int | None = None
    current_healthy: int = 0
    desired_healthy: int = 0
    expected_pods: int = 0
    unhealthy_pod_eviction_policy: str | None = None
    """`spec.unhealthyPodEvictionPolicy`: "AlwaysAllow" lets the Eviction API delete
    an unready pod whatever the budget; anything else (absent, "IfHealthyBudget", a
    value of a later API) only while the application is at its healthy count."""
    key: str = attrs.field(init=False, eq=False, repr=False)
    """`namespace/name`, computed once: budgets are looked up by it many times a pass."""

    @key.default
    def _key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def stale(self) -> bool:
        """The controller has not yet computed a status for the current spec."""
        return self.observed_generation is None or self.observed_generation < self.generation

    @property
    def budget(self) -> int:
        """Disruptions we may cause now: a stale status grants none (fail closed)."""
        return 0 if self.stale else max(self.disruptions_allowed, 0)


@attrs.frozen
class VolumeAttachment:
    name: str
    node: str
    attached: bool = True


@attrs.frozen
class Workload:
    """A Deployment, StatefulSet or DaemonSet that requests may target."""

    kind: TargetType
    namespace: str
    name: str
    labels: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@attrs.frozen
class RequestStatus:
    """`status` of a MaintenanceRequest, written by the runner only."""

    state: RequestState | None = None
    reason: str = ""
    message: str = ""
    target: str | None = None
    """`type/name` the request was admitted for; authoritative while active."""
    preparing_since: datetime | None = None
    drained_at: datetime | None = None
    detached_at: datetime | None = None
    approved_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    finished_at: datetime | None = None
    """When the request became terminal (Completed, Rejected or Expired)."""
    observed_generation: int | None = None

    @functools.cached_property
    def latest(self) -> datetime | None:
        """The latest of its times, or None without any: worked out once per status
        (every pass asks it of every request: policy.times.no_later_than_now)."""
        times = [value for value in _STATUS_TIMES(self) if value is not None]
        return max(times) if times else None

    def explained(self, reason: str, message: str, observed_generation: int) -> RequestStatus:
        """This status with a new explanation: `attrs.evolve` spelled out, because every
        waiting request gets one every pass and evolve is four times slower."""
        return RequestStatus(
            self.state,
            reason,
            message,
            self.target,
            self.preparing_since,
            self.drained_at,
            self.detached_at,
            self.approved_at,
            self.started_at,
            self.completed_at,
            self.finished_at,
            observed_generation,
        )


_STATUS_TIMES = operator.attrgetter(
    "preparing_since",
    "drained_at",
    "detached_at",
    "approved_at",
    "started_at",
    "completed_at",
    "finished_at",
)


@attrs.frozen
class MaintenanceRequest:
    name: str
    uid: str = ""
    resource_version: str = ""
    generation: int = 1
    creation_timestamp: datetime | None = None
    spec: JsonObject = attrs.field(factory=dict)
    """As authored by the actor; judged by `policy.validation`."""
    status: RequestStatus = attrs.field(factory=RequestStatus)


@attrs.frozen
class LimitStatus:
    """`status` of a MaintenanceLimit, written by the runner only."""

    allowed: int | None = None
    in_use: int | None = None
    unavailable: Mapping[str, str] = attrs.field(factory=dict)
    active: tuple[str, ...] = ()
    last_admission_at: datetime | None = None
    message: str = ""
    commit: int = 0
    """Bumped by every pass that admits a target of this limit's type (the runner's
    commit point, guarded by resourceVersion); the policy carries it over."""
    commits: Mapping[str, datetime] = attrs.field(factory=dict)
    """Admissions committed to this limit whose request's own status may not show them
    yet: request name -> the instant of the plan that committed it (policy.commits)."""
    admissions: tuple[tuple[str, datetime], ...] = ()
    """Under a `rate`: the admissions of its sliding period, (request name, when), kept
    here because a finished request may be deleted before the period ends. Pairs, not
    a map by name: a request deleted and filed again under its name within the period
    is a second admission."""
    finishes: tuple[tuple[str, str, datetime], ...] = ()
    """Under a `failureBudget`: the maintenance that finished within its period,
    (request name, node, when), kept here because a finished request may be deleted
    before its node's health stops counting."""
    at_work: tuple[tuple[str, str], ...] = ()
    """Under a `failureBudget`: its approved, unfinished requests and their nodes, so
    that one deleted before it finished still counts as maintenance that ended."""
    unhealthy: tuple[tuple[str, str, datetime], ...] = ()
    """Under a `failureBudget`: the nodes counting against it, (request, node, its
    finish), as the last pass judged them: what `acknowledge` forgives, and what a node
    put under maintenance again keeps counting as until that maintenance ends."""
    held: str = ""
    """What holds its admissions now, in short ('paused', 'blackout', 'failure budget');
    a printer column."""


@attrs.frozen
class MaintenanceLimit:
    name: str
    uid: str = ""
    resource_version: str = ""
    generation: int = 1
    spec: JsonObject = attrs.field(factory=dict)
    """As authored by the operator; judged by `policy.validation`."""
    status: LimitStatus = attrs.field(factory=LimitStatus)


class GateKind(Enum):
    """A limit's outside gates (DESIGN §7 `gates`)."""

    PROMETHEUS = "prometheus"
    BLOCKING_PODS = "blockingPods"


@attrs.frozen
class GateReading:
    """One gate of a limit as the runner read it (DESIGN §7): facts in the snapshot,
    with when they were seen, so the policy stays pure and a replay decides the same."""

    limit: str
    gate: GateKind
    at: datetime
    found: tuple[str, ...] = ()
    """What holds admissions: the matching series, or the blocking pods (namespace/name)."""
    error: str = ""
    """Why it could not be read; it then holds admissions (fail closed)."""


@attrs.frozen
class Snapshot:
    """The cluster as one runner pass saw it, at `now`."""

    now: datetime
    nodes: tuple[Node, ...] = ()
    pods: tuple[Pod, ...] = ()
    pdbs: tuple[PodDisruptionBudget, ...] = ()
    volume_attachments: tuple[VolumeAttachment, ...] = ()
    workloads: tuple[Workload, ...] = ()
    limits: tuple[MaintenanceLimit, ...] = ()
    requests: tuple[MaintenanceRequest, ...] = ()
    gates: tuple[GateReading, ...] = ()


CORDONED_BY = "repairman.k8s.io/cordoned-by"
CORDONED_BY_UID = "repairman.k8s.io/cordoned-by-uid"
"""`NAME/UID` of the request CORDONED_BY names: a request deleted and filed again under
its name (by another actor, say) is another request, and the cordon is not its. The
name is repeated so that a value left behind by a runner that writes CORDONED_BY only
(an older version, mid-upgrade) is recognised as stale: it names another request."""


def claim_uid(request: str, uid: str) -> str | None:
    """The CORDONED_BY_UID value for a request; None (remove it) without a uid."""
    return f"{request}/{uid}" if uid else None


def claimed_uid(owner: str, value: str | None) -> str:
    """The uid a CORDONED_BY_UID value gives for the request CORDONED_BY names; "" when
    it gives none, or names another request (left behind by an older runner)."""
    name, slash, uid = (value or "").rpartition("/")
    return uid if slash and name == owner else ""


"""Node annotation naming the request for which the runner cordoned the node."""
