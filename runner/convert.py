"""From the API's JSON to the snapshot's frozen classes, one kind at a time.

Shapes are typed once here (TypedDicts would add nothing the converters say) and
converted into policy types; the policy never sees a dict from the API, except the
authored `spec` of requests and limits, which it judges. Lenient where the API may
omit a field (a missing list is empty, a malformed entry of a runner-written status
list is dropped), strict nowhere: what the API returned is what the cluster says.
Used by runner.read (the snapshot), runner.fresh (the gate's fresh reads) and
runner.apply (a limit read again after a conflict).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from policy.model import (
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
    VolumeAttachment,
)
from policy.node_conditions import TYPES as LIFECYCLE
from runner.kube import JSON

STATES = {state.value: state for state in RequestState}


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def label_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _commits(value: Any) -> dict[str, datetime]:
    """`status.commits`: [{request, at}]; an entry without both is dropped (then it
    holds nothing: fail open only for a slot nobody can be writing for). A name listed
    twice keeps its latest instant."""
    return {name: when for name, _, when in _records(value, node=False)}


def _admissions(value: Any) -> tuple[tuple[str, datetime], ...]:
    """`status.recentAdmissions`: [{request, at}], as (request, at) pairs."""
    return tuple((name, when) for name, _, when in _records(value, node=False))


def _records(value: Any, *, node: bool = True) -> tuple[tuple[str, str, datetime], ...]:
    """A status list of [{request, at}] (with `node`: [{request, node, at}]), as
    (request, node, at) triples, sorted; an entry without them all is dropped."""
    found = set()
    for entry in value if isinstance(value, list) else ():
        if not isinstance(entry, dict) or not isinstance(entry.get("request"), str):
            continue
        where = entry.get("node", "") if node else ""
        when = _time(entry.get("at"))
        if when is not None and isinstance(where, str) and (where or not node):
            found.add((entry["request"], where, when))
    return tuple(sorted(found))


def _at_work(value: Any) -> tuple[tuple[str, str], ...]:
    """`status.atWork`: [{request, node}]; an entry without both is dropped."""
    found = set()
    for entry in value if isinstance(value, list) else ():
        if isinstance(entry, dict):
            name, node = entry.get("request"), entry.get("node")
            if isinstance(name, str) and isinstance(node, str) and name and node:
                found.add((name, node))
    return tuple(sorted(found))


def _int(value: Any, default: int | None = None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def node_of(raw: JSON) -> Node:
    meta, spec, status = raw.get("metadata", {}), raw.get("spec", {}), raw.get("status", {})
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    return Node(
        name=meta["name"],
        labels=label_map(meta.get("labels")),
        annotations=label_map(meta.get("annotations")),
        unschedulable=bool(spec.get("unschedulable")),
        ready=bool(ready and ready.get("status") == "True"),
        ready_since=_time(ready.get("lastTransitionTime")) if ready else None,
        conditions=tuple(
            NodeCondition(
                str(c["type"]),
                str(c.get("status") or "Unknown"),
                str(c.get("reason") or ""),
                str(c.get("message") or ""),
            )
            for c in status.get("conditions") or []
            if c.get("type") in LIFECYCLE
        ),
    )


def pod_of(raw: JSON) -> Pod:
    meta, spec, status = raw.get("metadata", {}), raw.get("spec", {}), raw.get("status", {})
    owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    return Pod(
        namespace=meta.get("namespace", ""),
        name=meta["name"],
        uid=meta.get("uid", ""),
        node=spec.get("nodeName", ""),
        labels=label_map(meta.get("labels")),
        resource_version=str(meta.get("resourceVersion") or ""),
        owner_kind=owner.get("kind") if owner else None,
        owner_name=owner.get("name") if owner else None,
        mirror="kubernetes.io/config.mirror" in (meta.get("annotations") or {}),
        phase=status.get("phase") or "Pending",
        deletion_timestamp=_time(meta.get("deletionTimestamp")),
        empty_dir=any("emptyDir" in v for v in spec.get("volumes") or []),
        ready=conditions.get("Ready") == "True",
        termination_grace_period_seconds=_int(spec.get("terminationGracePeriodSeconds")),
        follows_cordon=any(map(_tolerates_cordon, spec.get("tolerations") or ())),
    )


UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"


def _tolerates_cordon(toleration: Any) -> bool:
    """Does this toleration match the taint a cordon puts on a node
    (`node.kubernetes.io/unschedulable:NoSchedule`, no value)?"""
    if not isinstance(toleration, dict):
        return False
    key, operator = toleration.get("key") or "", toleration.get("operator") or "Equal"
    if toleration.get("effect") not in (None, "", "NoSchedule"):
        return False
    if operator == "Exists":
        return key in ("", UNSCHEDULABLE_TAINT)
    return key == UNSCHEDULABLE_TAINT and not toleration.get("value")


def selector_of(raw: Any) -> LabelSelector:
    raw = raw if isinstance(raw, dict) else {}
    return LabelSelector(
        label_map(raw.get("matchLabels")),
        tuple(
            LabelSelectorRequirement(
                str(e.get("key", "")), str(e.get("operator", "")), tuple(e.get("values") or ())
            )
            for e in raw.get("matchExpressions") or []
        ),
    )


def pdb_of(raw: JSON, version: str) -> PodDisruptionBudget:
    meta, spec, status = raw.get("metadata", {}), raw.get("spec", {}), raw.get("status") or {}
    selector = spec.get("selector")
    empty = not selector or (
        not selector.get("matchLabels") and not selector.get("matchExpressions")
    )
    return PodDisruptionBudget(
        namespace=meta.get("namespace", ""),
        name=meta["name"],
        # policy/v1beta1: an empty selector selects nothing; policy/v1: everything.
        selector=None
        if selector is None or (empty and version == "policy/v1beta1")
        else selector_of(selector),
        disruptions_allowed=_int(status.get("disruptionsAllowed"), 0) or 0,
        generation=_int(meta.get("generation"), 1) or 1,
        observed_generation=_int(status.get("observedGeneration")),
        current_healthy=_int(status.get("currentHealthy"), 0) or 0,
        desired_healthy=_int(status.get("desiredHealthy"), 0) or 0,
        expected_pods=_int(status.get("expectedPods"), 0) or 0,
        unhealthy_pod_eviction_policy=_text(spec.get("unhealthyPodEvictionPolicy")),
    )


def _object(value: Any) -> JSON:
    """A field that should hold an object; anything else reads as an empty one."""
    return value if isinstance(value, dict) else {}


def request_of(raw: JSON) -> MaintenanceRequest:
    meta, status = raw.get("metadata", {}), _object(raw.get("status"))
    return MaintenanceRequest(
        name=meta["name"],
        uid=meta.get("uid", ""),
        resource_version=meta.get("resourceVersion", ""),
        generation=_int(meta.get("generation"), 1) or 1,
        creation_timestamp=_time(meta.get("creationTimestamp")),
        spec=raw.get("spec") if "spec" in raw else {},
        status=RequestStatus(
            # An unknown state written by someone else is treated as never seen: the
            # request goes through admission again (fail closed).
            state=STATES.get(status.get("state")),
            reason=str(status.get("reason") or ""),
            message=str(status.get("message") or ""),
            target=status.get("target") if isinstance(status.get("target"), str) else None,
            preparing_since=_time(status.get("preparingSince")),
            drained_at=_time(status.get("drainedAt")),
            detached_at=_time(status.get("detachedAt")),
            approved_at=_time(status.get("approvedAt")),
            started_at=_time(status.get("startedAt")),
            completed_at=_time(status.get("completedAt")),
            finished_at=_time(status.get("finishedAt")),
            observed_generation=_int(status.get("observedGeneration")),
        ),
    )


def limit_of(raw: JSON) -> MaintenanceLimit:
    meta, status = raw.get("metadata", {}), _object(raw.get("status"))
    active = status.get("active")
    return MaintenanceLimit(
        name=meta["name"],
        uid=meta.get("uid", ""),
        resource_version=meta.get("resourceVersion", ""),
        generation=_int(meta.get("generation"), 1) or 1,
        spec=raw.get("spec") if "spec" in raw else {},
        status=LimitStatus(
            allowed=_int(status.get("limit")),
            in_use=_int(status.get("inUse")),
            unavailable=label_map(status.get("unavailable")),
            active=tuple(str(a) for a in active) if isinstance(active, list) else (),
            last_admission_at=_time(status.get("lastAdmissionAt")),
            message=str(status.get("message") or ""),
            commit=_int(status.get("commit"), 0) or 0,
            commits=_commits(status.get("commits")),
            admissions=_admissions(status.get("recentAdmissions")),
            finishes=_records(status.get("recentFinishes")),
            at_work=_at_work(status.get("atWork")),
            unhealthy=_records(status.get("unhealthy")),
            held=str(status.get("held") or ""),
        ),
    )


def attachment_of(raw: JSON) -> VolumeAttachment:
    return VolumeAttachment(
        name=raw["metadata"]["name"],
        node=(raw.get("spec") or {}).get("nodeName", ""),
        attached=bool((raw.get("status") or {}).get("attached")),
    )
