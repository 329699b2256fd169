"""Small builders for hand-written snapshots in unit and replay tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from policy.decisions import Plan
from policy.model import (
    LabelSelector,
    MaintenanceLimit,
    MaintenanceRequest,
    Node,
    Pod,
    PodDisruptionBudget,
    RequestState,
    RequestStatus,
    Snapshot,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def nodes(
    count: int, zone: str | None = None, prefix: str = "n", **fields: Any
) -> tuple[Node, ...]:
    labels = {"zone": zone} if zone else {}
    return tuple(Node(name=f"{prefix}{i}", labels=dict(labels), **fields) for i in range(count))


def limit(name: str, **spec: Any) -> MaintenanceLimit:
    return MaintenanceLimit(name=name, uid=f"uid-{name}", spec=spec)


def request(
    name: str,
    target: str,
    *,
    kind: str = "node",
    state: str = "Pending",
    priority: int = 0,
    created: datetime | None = None,
    status: RequestStatus | None = None,
) -> MaintenanceRequest:
    return MaintenanceRequest(
        name=name,
        uid=f"uid-{name}",
        creation_timestamp=created or ago(minutes=10),
        spec={"type": kind, "name": target, "state": state, "priority": priority},
        status=status or RequestStatus(),
    )


def active(state: RequestState, target: str, **times: datetime) -> RequestStatus:
    return RequestStatus(
        state=state, target=target, preparing_since=times.pop("since", ago(minutes=5)), **times
    )


def app_pod(name: str, node: str, app: str, **fields: Any) -> Pod:
    fields.setdefault("owner_kind", "ReplicaSet")
    return Pod(
        namespace="ns", name=name, uid=f"uid-{name}", node=node, labels={"app": app}, **fields
    )


def pdb(name: str, app: str, allowed: int, **fields: Any) -> PodDisruptionBudget:
    fields.setdefault("observed_generation", 1)
    return PodDisruptionBudget(
        namespace="ns",
        name=name,
        selector=LabelSelector({"app": app}),
        disruptions_allowed=allowed,
        **fields,
    )


DRAINING_LIMIT = limit(
    "node",
    type="node",
    limit=50,
    drain={"timeoutSeconds": 600, "gracePeriodSeconds": 30},
    infraDrain={"waitForVolumeDetach": True, "timeoutSeconds": 300, "gracePeriodSeconds": 10},
)


def state_of(snapshot: Snapshot, name: str) -> RequestState | None:
    return next(r.status.state for r in snapshot.requests if r.name == name)


def kinds(p: Plan) -> list[str]:
    return [type(d).__name__ for d in p.decisions]
