"""A node's lifecycle conditions (DESIGN §8), written through `nodes/status`.

The plan says the whole row it wants (policy.node_conditions); here it is compared
with a fresh read of the node, and only what still differs is written — never over a
condition that is not ours (an administrator's, set since the plan's read, stays
theirs). The write is a strategic merge patch of `status.conditions`, which merges by
`type`: the kubelet's Ready and node-problem-detector's conditions are not in it and
are not touched; on a node showing one of the four types more than once (a hand
edit), a JSON patch replacing each entry of ours where it is instead. Either carries
the node's resourceVersion, so a change between our read and our write (a heartbeat,
an administrator) makes the API server refuse it; we read again and judge again, a
few times.

Before a True row (and before clearing an active request's own row) the limits are
read again too: `nodeConditions: false` set since the plan's read holds the write.

The plan's list may be stale (another runner moved on since), so each attempt also
reads, after the node, the requests the write is about: a row that says anything True
only while its request still says that state (uid, state, drainedAt set); a clear only
of conditions whose request (named in their message) is not active on the node. Read
after the node, a request's change made since (and the conditions it brought) moves
the node's resourceVersion, and our write is refused and judged again.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import attrs

from policy.decisions import SetNodeConditions
from policy.model import NodeCondition, RequestState
from policy.node_conditions import TYPES, changes_in, ours, publishes, rewrites
from policy.snapshot_format import timestamp
from runner.kube import Kube, KubeError
from runner.read import GROUP_PATH, limit_of

STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
ATTEMPTS = 3
"""Reads and writes before a node that keeps changing is left to the next pass."""
ACTIVE = frozenset(state.value for state in RequestState if state.active)


@attrs.frozen
class Published:
    written: tuple[str, ...] = ()
    """The condition types written; none when the node already said it all."""
    detail: str = ""
    contended: bool = False
    """The node kept changing between our reads and writes: the next pass."""
    held: str = ""
    """Not written: a request moved on since the plan's read (what a fresh read says)."""


def _shown(raw: dict[str, Any]) -> NodeCondition:
    return NodeCondition(
        str(raw.get("type") or ""),
        str(raw.get("status") or "Unknown"),
        str(raw.get("reason") or ""),
        str(raw.get("message") or ""),
    )


def publish(kube: Kube, decision: SetNodeConditions, *, field_manager: str) -> Published:
    """Make the node show the decision's row where its conditions are ours or absent."""
    node = decision.node
    want = {c.type: c for c in decision.wanted}
    for _attempt in range(ATTEMPTS):
        try:
            found = kube.request("GET", f"/api/v1/nodes/{node}")
        except KubeError as error:
            if error.status == 404:
                return Published(detail="the node no longer exists")
            raise
        every = list((found.get("status") or {}).get("conditions") or [])
        listed = [_shown(c) for c in every if c.get("type") in TYPES]
        write = changes_in(listed, want)
        if not write:
            return Published(detail="the node already shows them")
        labels = dict((found.get("metadata") or {}).get("labels") or {})
        held = _moved_on(kube, decision, listed, labels)
        if held:
            return Published(detail=f"{held}; next pass", held=held)
        now = timestamp(kube.server_now() or datetime.now(UTC))
        version = found["metadata"]["resourceVersion"]
        counts = Counter(c.type for c in listed)
        if any(counts[kind] > 1 for kind in write):
            # A type shown more than once (a PUT by hand): a patch merging by type
            # would land on its first entry, whoever's. Each entry of ours is written
            # by its place in the list, as read (tested), and no other.
            body: Any = _by_place(every, write, version, now)
            content_type = JSON_PATCH
        else:
            body = {
                "metadata": {"resourceVersion": version},
                "status": {
                    "conditions": [
                        _entry(write[kind], _last(every, kind), now)
                        for kind in TYPES
                        if kind in write
                    ]
                },
            }
            content_type = STRATEGIC
        try:
            kube.request(
                "PATCH",
                f"/api/v1/nodes/{node}/status",
                body=body,
                content_type=content_type,
                query={"fieldManager": field_manager},
            )
        except KubeError as error:
            if error.status == 409 or (error.status == 422 and content_type == JSON_PATCH):
                continue  # the node changed since the read (a failed test): judge again
            if error.status == 404:
                return Published(detail="the node no longer exists")
            raise
        return Published(written=tuple(kind for kind in TYPES if kind in write))
    return Published(detail="the node kept changing; next pass", contended=True)


def _last(every: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((c for c in reversed(every) if c.get("type") == kind), None)


def _entry(condition: NodeCondition, before: dict[str, Any] | None, now: str) -> dict[str, Any]:
    """The condition as written: its transition time kept while its status stays."""
    same = before is not None and before.get("status") == condition.status
    return {
        "type": condition.type,
        "status": condition.status,
        "reason": condition.reason,
        "message": condition.message,
        "lastHeartbeatTime": now,
        "lastTransitionTime": (before or {}).get("lastTransitionTime") or now if same else now,
    }


def _by_place(
    every: list[dict[str, Any]], write: dict[str, NodeCondition], version: str, now: str
) -> list[dict[str, Any]]:
    """A JSON patch: each entry of ours to rewrite, replaced where it is (after a test
    that it is still there as read); each type not shown, added; the resourceVersion
    as read, so that any change since is refused (409)."""
    ops: list[dict[str, Any]] = [
        {"op": "replace", "path": "/metadata/resourceVersion", "value": version}
    ]
    shown = set()
    for place, raw in enumerate(every):
        kind = str(raw.get("type") or "")
        if kind not in write:
            continue
        shown.add(kind)
        if rewrites(_shown(raw), write[kind]):
            path = f"/status/conditions/{place}"
            ops.append({"op": "test", "path": path, "value": raw})
            ops.append({"op": "replace", "path": path, "value": _entry(write[kind], raw, now)})
    for kind in TYPES:
        if kind in write and kind not in shown:
            ops.append(
                {
                    "op": "add",
                    "path": "/status/conditions/-",
                    "value": _entry(write[kind], None, now),
                }
            )
    return ops


def _moved_on(
    kube: Kube,
    decision: SetNodeConditions,
    listed: list[NodeCondition],
    labels: dict[str, str],
) -> str:
    """Why the row must not be written now, by fresh reads of the requests it is
    about (and, where the row rests on `nodeConditions`, of the limits); "" when
    nothing stands in its way."""
    if decision.request and any(c.status == "True" for c in decision.wanted):
        moved = _differs(decision, _request(kube, decision.request), drained=True)
        if moved:
            return moved
        if not _publishing(kube, labels):
            return f"a limit governing {decision.node} says nodeConditions: false now"
        return ""
    # A clear: of each request named by a True condition of ours, whether it holds the
    # node now (a list that lacked it, or showed it ended, may be older than it). The
    # row's own request may: its clear stands while it is as the plan saw it (its
    # limit turned the conditions off, `nodeConditions: false`).
    named = {
        c.message.split()[1]
        for c in listed
        if c.status == "True" and ours(c) and len(c.message.split()) > 1
    }
    for name in sorted(named):
        found = _request(kube, name)
        status = (found or {}).get("status") or {}
        if name == decision.request and not _differs(decision, found, drained=False):
            # Its own row, cleared while it is active: nodeConditions false, unless
            # turned back on since the plan's read.
            if status.get("state") in ACTIVE and _publishing(kube, labels):
                return f"the limits governing {decision.node} publish its conditions again"
            continue
        if status.get("state") in ACTIVE and status.get("target") == f"node/{decision.node}":
            return f"{name} is {status['state']} on {decision.node}"
    return ""


def _differs(decision: SetNodeConditions, found: dict[str, Any] | None, *, drained: bool) -> str:
    """How the decision's request, read again (`found`; None: gone), differs from what
    the plan saw of it: its uid, its state (and whether it is drained); "" when not."""
    if found is None:
        return f"{decision.request} no longer exists"
    if decision.uid and (found.get("metadata") or {}).get("uid") != decision.uid:
        return f"{decision.request} was filed again"
    status = found.get("status") or {}
    state = decision.state.value if decision.state else None
    if status.get("state") != state or (
        drained and bool(status.get("drainedAt")) != decision.drained
    ):
        return f"{decision.request} is {status.get('state') or 'Pending'} now"
    return ""


def _publishing(kube: Kube, labels: dict[str, str]) -> bool:
    """Whether the limits, read now, let a node with `labels` publish its conditions."""
    page = kube.request("GET", f"{GROUP_PATH}/maintenancelimits")
    return publishes((limit_of(raw) for raw in page.get("items") or []), labels)


def _request(kube: Kube, name: str) -> dict[str, Any] | None:
    try:
        # A name read from a message (anyone may write one): quoted, never a path.
        return kube.request("GET", f"{GROUP_PATH}/maintenancerequests/{quote(name, safe='')}")
    except KubeError as error:
        if error.status == 404:
            return None
        raise
