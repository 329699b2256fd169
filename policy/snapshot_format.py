"""The recorded snapshot format: a Snapshot as JSON (`dump`; read back by
policy.snapshot_load, losslessly).

Pure: converts a `Snapshot` to JSON-compatible values (dicts, lists, strings, numbers);
reading and writing files is the runner's job. The format is documented in
docs/snapshot-format.md; `FORMAT_VERSION` changes whenever a reader of the old format
would misread the new one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from policy.model import (
    LabelSelector,
    LimitStatus,
    Node,
    NodeCondition,
    Pod,
    PodDisruptionBudget,
    RequestStatus,
    Snapshot,
)

KIND = "RepairmanSnapshot"
FORMAT_VERSION = 1

T = TypeVar("T")


class SnapshotFormatError(ValueError):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


# --- dump -----------------------------------------------------------------------------


def timestamp(instant: datetime) -> str:
    """RFC 3339 in UTC; microseconds only when there are any."""
    instant = instant.astimezone(UTC)
    if instant.microsecond:
        return instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ts(instant: datetime | None) -> str | None:
    return None if instant is None else timestamp(instant)


def _selector(selector: LabelSelector | None) -> dict[str, Any] | None:
    if selector is None:
        return None
    return {
        "matchLabels": dict(selector.match_labels),
        "matchExpressions": [
            {"key": r.key, "operator": r.operator, "values": list(r.values)}
            for r in selector.match_expressions
        ],
    }


def request_status_json(status: RequestStatus) -> dict[str, Any]:
    """A request's status as the CRD (and this format) spell it."""
    return {
        "state": status.state.value if status.state else None,
        "reason": status.reason,
        "message": status.message,
        "target": status.target,
        "preparingSince": _ts(status.preparing_since),
        "drainedAt": _ts(status.drained_at),
        "detachedAt": _ts(status.detached_at),
        "approvedAt": _ts(status.approved_at),
        "startedAt": _ts(status.started_at),
        "completedAt": _ts(status.completed_at),
        "finishedAt": _ts(status.finished_at),
        "observedGeneration": status.observed_generation,
    }


def limit_status_json(status: LimitStatus) -> dict[str, Any]:
    """A limit's status as the CRD (and this format) spell it."""
    return {
        "limit": status.allowed,
        "inUse": status.in_use,
        "unavailable": dict(status.unavailable),
        "active": list(status.active),
        "lastAdmissionAt": _ts(status.last_admission_at),
        "message": status.message,
        "commit": status.commit,
        # A list, not a map: a merge patch replaces a list whole, where it would keep
        # a map's keys that the new status no longer has.
        "commits": [
            {"request": name, "at": _ts(when)} for name, when in sorted(status.commits.items())
        ],
        "recentAdmissions": [
            {"request": name, "at": _ts(when)} for name, when in sorted(status.admissions)
        ],
        "recentFinishes": [
            {"request": name, "node": node, "at": _ts(when)}
            for name, node, when in sorted(status.finishes)
        ],
        "atWork": [{"request": name, "node": node} for name, node in sorted(status.at_work)],
        "unhealthy": [
            {"request": name, "node": node, "at": _ts(when)}
            for name, node, when in sorted(status.unhealthy)
        ],
        # None, not "": a merge patch removes the field (the API server refuses
        # empty strings in custom resources).
        "held": status.held or None,
    }


def dump(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "kind": KIND,
        "version": FORMAT_VERSION,
        "now": timestamp(snapshot.now),
        "nodes": [_node(n) for n in snapshot.nodes],
        "pods": [_pod(p) for p in snapshot.pods],
        "pdbs": [_pdb(b) for b in snapshot.pdbs],
        "volumeAttachments": [
            {"name": v.name, "node": v.node, "attached": v.attached}
            for v in snapshot.volume_attachments
        ],
        "workloads": [
            {
                "kind": w.kind.value,
                "namespace": w.namespace,
                "name": w.name,
                "labels": dict(w.labels),
            }
            for w in snapshot.workloads
        ],
        "limits": [
            {
                "name": m.name,
                "uid": m.uid,
                "resourceVersion": m.resource_version,
                "generation": m.generation,
                "spec": m.spec,
                "status": limit_status_json(m.status),
            }
            for m in snapshot.limits
        ],
        "requests": [
            {
                "name": r.name,
                "uid": r.uid,
                "resourceVersion": r.resource_version,
                "generation": r.generation,
                "creationTimestamp": _ts(r.creation_timestamp),
                "spec": r.spec,
                "status": request_status_json(r.status),
            }
            for r in snapshot.requests
        ],
        "gates": [
            {
                "limit": g.limit,
                "gate": g.gate.value,
                "at": timestamp(g.at),
                "found": list(g.found),
                "error": g.error or None,
            }
            for g in snapshot.gates
        ],
    }


def _node(n: Node) -> dict[str, Any]:
    return {
        "name": n.name,
        "labels": dict(n.labels),
        "annotations": dict(n.annotations),
        "unschedulable": n.unschedulable,
        "ready": n.ready,
        "readySince": _ts(n.ready_since),
        **({"conditions": [_condition(c) for c in n.conditions]} if n.conditions else {}),
    }


def _condition(c: NodeCondition) -> dict[str, Any]:
    return {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}


def _pod(p: Pod) -> dict[str, Any]:
    return {
        "namespace": p.namespace,
        "name": p.name,
        "uid": p.uid,
        "node": p.node,
        "labels": dict(p.labels),
        "resourceVersion": p.resource_version,
        "ownerKind": p.owner_kind,
        "ownerName": p.owner_name,
        "mirror": p.mirror,
        "phase": p.phase,
        "deletionTimestamp": _ts(p.deletion_timestamp),
        "emptyDir": p.empty_dir,
        "ready": p.ready,
        "terminationGracePeriodSeconds": p.termination_grace_period_seconds,
        "followsCordon": p.follows_cordon,
    }


def _pdb(b: PodDisruptionBudget) -> dict[str, Any]:
    return {
        "namespace": b.namespace,
        "name": b.name,
        "selector": _selector(b.selector),
        "disruptionsAllowed": b.disruptions_allowed,
        "generation": b.generation,
        "observedGeneration": b.observed_generation,
        "currentHealthy": b.current_healthy,
        "desiredHealthy": b.desired_healthy,
        "expectedPods": b.expected_pods,
        "unhealthyPodEvictionPolicy": b.unhealthy_pod_eviction_policy,
    }
