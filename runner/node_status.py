"""A node's lifecycle conditions (DESIGN §8), written through `nodes/status`.

The plan says the whole row it wants (policy.node_conditions); here it is compared
with a fresh read of the node, and only what still differs is written — never over a
condition that is not ours (an administrator's, set since the plan's read, stays
theirs). The write is a strategic merge patch of `status.conditions`, which merges by
`type`: the kubelet's Ready and node-problem-detector's conditions are not in it and
are not touched. It carries the node's resourceVersion, so a change between our read
and our write (a heartbeat, an administrator) makes the API server refuse it; we read
again and judge again, a few times.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from policy.model import NodeCondition
from policy.node_conditions import TYPES, changes
from policy.snapshot_format import timestamp
from runner.kube import Kube, KubeError

STRATEGIC = "application/strategic-merge-patch+json"
ATTEMPTS = 3
"""Reads and writes before a node that keeps changing is left to the next pass."""


@attrs.frozen
class Published:
    written: tuple[str, ...] = ()
    """The condition types written; none when the node already said it all."""
    detail: str = ""
    contended: bool = False
    """The node kept changing between our reads and writes: the next pass."""


def _shown(raw: dict[str, Any]) -> NodeCondition:
    return NodeCondition(
        str(raw.get("type") or ""),
        str(raw.get("status") or "Unknown"),
        str(raw.get("reason") or ""),
        str(raw.get("message") or ""),
    )


def publish(
    kube: Kube, node: str, wanted: Sequence[NodeCondition], *, field_manager: str
) -> Published:
    """Make `node` show `wanted` where its conditions are ours or absent."""
    want = {c.type: c for c in wanted}
    for _attempt in range(ATTEMPTS):
        try:
            found = kube.request("GET", f"/api/v1/nodes/{node}")
        except KubeError as error:
            if error.status == 404:
                return Published(detail="the node no longer exists")
            raise
        raw = {
            str(c.get("type")): c
            for c in (found.get("status") or {}).get("conditions") or []
            if c.get("type") in TYPES
        }
        current = {kind: _shown(c) for kind, c in raw.items()}
        write = changes(current, want)
        if not write:
            return Published(detail="the node already shows them")
        now = timestamp(kube.server_now() or datetime.now(UTC))
        conditions = []
        for kind in TYPES:
            if kind not in write:
                continue
            condition = write[kind]
            before = raw.get(kind)
            same = before is not None and before.get("status") == condition.status
            conditions.append(
                {
                    "type": kind,
                    "status": condition.status,
                    "reason": condition.reason,
                    "message": condition.message,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": (
                        before.get("lastTransitionTime") or now if same and before else now
                    ),
                }
            )
        body = {
            "metadata": {"resourceVersion": found["metadata"]["resourceVersion"]},
            "status": {"conditions": conditions},
        }
        try:
            kube.request(
                "PATCH",
                f"/api/v1/nodes/{node}/status",
                body=body,
                content_type=STRATEGIC,
                query={"fieldManager": field_manager},
            )
        except KubeError as error:
            if error.status == 409:
                continue  # the node changed since the read: judge again
            if error.status == 404:
                return Published(detail="the node no longer exists")
            raise
        return Published(written=tuple(c["type"] for c in conditions))
    return Published(detail="the node kept changing; next pass", contended=True)
