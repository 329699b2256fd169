"""Reading a recorded snapshot back: JSON to `Snapshot`, every field checked.

Pure. `load` raises `SnapshotFormatError` naming the JSON path of the first problem
(for example `$.pods[12].node: required`), so a damaged recording gives one clear line,
never a traceback. The format: policy.snapshot_format and docs/snapshot-format.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from policy.fields import json_type
from policy.model import (
    GateKind,
    GateReading,
    LabelSelector,
    LabelSelectorRequirement,
    LimitStatus,
    MaintenanceLimit,
    MaintenanceRequest,
    Node,
    NodeCondition,
    Pod,
    PodDisruptionBudget,
    RequestState,
    RequestStatus,
    Snapshot,
    TargetType,
    VolumeAttachment,
    Workload,
)
from policy.snapshot_format import FORMAT_VERSION, KIND, SnapshotFormatError
from policy.times import plannable

T = TypeVar("T")


class _Fields:
    """Typed access to one JSON object, naming the JSON path in every error."""

    def __init__(self, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            raise SnapshotFormatError(path, f"must be an object, not {json_type(value)}")
        self.obj = value
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def _get(self, key: str, required: bool) -> Any:
        if key not in self.obj or self.obj[key] is None:
            if required:
                raise SnapshotFormatError(self.at(key), "required")
            return None
        return self.obj[key]

    def text(self, key: str, *, required: bool = True, default: str = "") -> str:
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, str):
            raise SnapshotFormatError(self.at(key), f"must be a string, not {json_type(value)}")
        return value

    def opt_text(self, key: str) -> str | None:
        return self.text(key, required=False) if self._get(key, False) is not None else None

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise SnapshotFormatError(
                self.at(key), f"must be true or false, not {json_type(value)}"
            )
        return value

    def integer(self, key: str, default: int) -> int:
        value = self.opt_int(key)
        return default if value is None else value

    def opt_int(self, key: str) -> int | None:
        value = self._get(key, False)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise SnapshotFormatError(self.at(key), f"must be an integer, not {json_type(value)}")
        return value

    def instant(self, key: str, *, required: bool = False) -> datetime | None:
        value = self._get(key, required)
        if value is None:
            return None
        return _parse_time(value, self.at(key))

    def labels(self, key: str) -> dict[str, str]:
        value = self._get(key, False)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise SnapshotFormatError(self.at(key), f"must be an object, not {json_type(value)}")
        for name, item in value.items():
            if not isinstance(item, str):
                raise SnapshotFormatError(
                    f"{self.at(key)}[{name!r}]", f"must be a string, not {json_type(item)}"
                )
        return dict(value)

    def strings(self, key: str) -> tuple[str, ...]:
        value = self._get(key, False)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise SnapshotFormatError(self.at(key), f"must be a list, not {json_type(value)}")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise SnapshotFormatError(
                    f"{self.at(key)}[{index}]", f"must be a string, not {json_type(item)}"
                )
        return tuple(value)

    def raw(self, key: str) -> Any:
        """An authored spec, kept as it is: the policy judges it, not the loader."""
        return self.obj.get(key, {})

    def items(self, key: str, read: Callable[[_Fields], T]) -> tuple[T, ...]:
        value = self._get(key, False)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise SnapshotFormatError(self.at(key), f"must be a list, not {json_type(value)}")
        return tuple(read(_Fields(item, f"{self.at(key)}[{i}]")) for i, item in enumerate(value))


def _parse_time(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise SnapshotFormatError(path, f"must be an RFC 3339 timestamp, not {json_type(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SnapshotFormatError(path, f"{value!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise SnapshotFormatError(path, f"{value!r} has no time zone offset")
    return parsed.astimezone(UTC)


def _node(f: _Fields) -> Node:
    return Node(
        name=f.text("name"),
        labels=f.labels("labels"),
        annotations=f.labels("annotations"),
        unschedulable=f.flag("unschedulable", False),
        ready=f.flag("ready", True),
        ready_since=f.instant("readySince"),
        conditions=f.items("conditions", _node_condition),
    )


def _node_condition(f: _Fields) -> NodeCondition:
    return NodeCondition(
        type=f.text("type"),
        status=f.text("status"),
        reason=f.text("reason", required=False),
        message=f.text("message", required=False),
    )


def _pod(f: _Fields) -> Pod:
    return Pod(
        namespace=f.text("namespace"),
        name=f.text("name"),
        uid=f.text("uid", required=False),
        node=f.text("node"),
        labels=f.labels("labels"),
        resource_version=f.text("resourceVersion", required=False),
        owner_kind=f.opt_text("ownerKind"),
        owner_name=f.opt_text("ownerName"),
        mirror=f.flag("mirror", False),
        phase=f.text("phase", required=False, default="Running"),
        deletion_timestamp=f.instant("deletionTimestamp"),
        empty_dir=f.flag("emptyDir", False),
        ready=f.flag("ready", True),
        termination_grace_period_seconds=f.opt_int("terminationGracePeriodSeconds"),
        follows_cordon=f.flag("followsCordon", False),
    )


def _label_selector(value: Any, path: str) -> LabelSelector | None:
    if value is None:
        return None
    f = _Fields(value, path)

    def requirement(r: _Fields) -> LabelSelectorRequirement:
        return LabelSelectorRequirement(r.text("key"), r.text("operator"), r.strings("values"))

    return LabelSelector(f.labels("matchLabels"), f.items("matchExpressions", requirement))


def _pdb(f: _Fields) -> PodDisruptionBudget:
    return PodDisruptionBudget(
        namespace=f.text("namespace"),
        name=f.text("name"),
        selector=_label_selector(f.obj.get("selector"), f.at("selector")),
        disruptions_allowed=f.integer("disruptionsAllowed", 0),
        generation=f.integer("generation", 1),
        observed_generation=f.opt_int("observedGeneration"),
        current_healthy=f.integer("currentHealthy", 0),
        desired_healthy=f.integer("desiredHealthy", 0),
        expected_pods=f.integer("expectedPods", 0),
        unhealthy_pod_eviction_policy=f.opt_text("unhealthyPodEvictionPolicy"),
    )


def _attachment(f: _Fields) -> VolumeAttachment:
    return VolumeAttachment(
        name=f.text("name"), node=f.text("node"), attached=f.flag("attached", True)
    )


def _enum(value: str, enum_type: type[Any], path: str) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum_type)
        raise SnapshotFormatError(path, f"{value!r} is not one of {allowed}") from None


def _workload(f: _Fields) -> Workload:
    kind = _enum(f.text("kind"), TargetType, f.at("kind"))
    if kind is TargetType.NODE:
        raise SnapshotFormatError(
            f.at("kind"), "a workload is a deployment, statefulset or daemonset"
        )
    return Workload(
        kind=kind, namespace=f.text("namespace"), name=f.text("name"), labels=f.labels("labels")
    )


def _request(f: _Fields) -> MaintenanceRequest:
    s = _Fields(f.obj.get("status") or {}, f.at("status"))
    raw_state = s.opt_text("state")
    status = RequestStatus(
        state=None if raw_state is None else _enum(raw_state, RequestState, s.at("state")),
        reason=s.text("reason", required=False),
        message=s.text("message", required=False),
        target=s.opt_text("target"),
        preparing_since=s.instant("preparingSince"),
        drained_at=s.instant("drainedAt"),
        detached_at=s.instant("detachedAt"),
        approved_at=s.instant("approvedAt"),
        started_at=s.instant("startedAt"),
        completed_at=s.instant("completedAt"),
        finished_at=s.instant("finishedAt"),
        observed_generation=s.opt_int("observedGeneration"),
    )
    return MaintenanceRequest(
        name=f.text("name"),
        uid=f.text("uid", required=False),
        resource_version=f.text("resourceVersion", required=False),
        generation=f.integer("generation", 1),
        creation_timestamp=f.instant("creationTimestamp"),
        spec=f.raw("spec"),
        status=status,
    )


def _commit(entry: _Fields) -> tuple[str, datetime]:
    when = entry.instant("at", required=True)
    assert when is not None  # required: a missing one raised
    return entry.text("request"), when


def _finish(entry: _Fields) -> tuple[str, str, datetime]:
    request, when = _commit(entry)
    return request, entry.text("node"), when


def _commits(status: _Fields, key: str = "commits") -> dict[str, datetime]:
    return dict(status.items(key, _commit))


def _limit(f: _Fields) -> MaintenanceLimit:
    s = _Fields(f.obj.get("status") or {}, f.at("status"))
    unavailable = s.labels("unavailable")
    status = LimitStatus(
        allowed=s.opt_int("limit"),
        in_use=s.opt_int("inUse"),
        unavailable=unavailable,
        active=s.strings("active"),
        last_admission_at=s.instant("lastAdmissionAt"),
        message=s.text("message", required=False),
        commit=s.integer("commit", 0),
        commits=_commits(s),
        admissions=tuple(sorted(s.items("recentAdmissions", _commit))),
        finishes=tuple(sorted(s.items("recentFinishes", _finish))),
        at_work=tuple(sorted(s.items("atWork", lambda e: (e.text("request"), e.text("node"))))),
        unhealthy=tuple(sorted(s.items("unhealthy", _finish))),
        held=s.text("held", required=False),
    )
    return MaintenanceLimit(
        name=f.text("name"),
        uid=f.text("uid", required=False),
        resource_version=f.text("resourceVersion", required=False),
        generation=f.integer("generation", 1),
        spec=f.raw("spec"),
        status=status,
    )


def _gate(f: _Fields) -> GateReading:
    raw = f.text("gate")
    try:
        gate = GateKind(raw)
    except ValueError:
        kinds = ", ".join(k.value for k in GateKind)
        raise SnapshotFormatError(f.at("gate"), f"{raw!r} is not one of {kinds}") from None
    when = f.instant("at", required=True)
    assert when is not None
    return GateReading(
        limit=f.text("limit"),
        gate=gate,
        at=when,
        found=f.strings("found"),
        error=f.text("error", required=False),
    )


def load(document: Any) -> Snapshot:
    """A Snapshot from its JSON form; SnapshotFormatError names the first bad path."""
    f = _Fields(document, "$")
    kind = f.text("kind")
    if kind != KIND:
        raise SnapshotFormatError("$.kind", f"{kind!r} is not {KIND!r}")
    version = f.opt_int("version")
    if version != FORMAT_VERSION:
        raise SnapshotFormatError(
            "$.version", f"{version} is not a format version this runner reads ({FORMAT_VERSION})"
        )
    now = f.instant("now", required=True)
    if now is not None and not plannable(now):
        raise SnapshotFormatError(
            f.at("now"), "is outside the years 1970-8999 a plan can be made at"
        )
    assert now is not None
    snapshot = Snapshot(
        now=now,
        nodes=f.items("nodes", _node),
        pods=f.items("pods", _pod),
        pdbs=f.items("pdbs", _pdb),
        volume_attachments=f.items("volumeAttachments", _attachment),
        workloads=f.items("workloads", _workload),
        limits=f.items("limits", _limit),
        requests=f.items("requests", _request),
        gates=f.items("gates", _gate),
    )
    _unique("gates", [f"{g.limit}/{g.gate.value}" for g in snapshot.gates])
    _unique("nodes", [n.name for n in snapshot.nodes])
    _unique("pods", [p.key for p in snapshot.pods])
    _unique("pdbs", [b.key for b in snapshot.pdbs])
    _unique("workloads", [f"{w.kind.value}/{w.key}" for w in snapshot.workloads])
    _unique("limits", [m.name for m in snapshot.limits])
    _unique("requests", [r.name for r in snapshot.requests])
    return snapshot


def _unique(field: str, names: list[str]) -> None:
    """The API server never holds two objects of one name; neither may a recording."""
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise SnapshotFormatError(f"$.{field}[{index}]", f"a second object named {name!r}")
        seen.add(name)
