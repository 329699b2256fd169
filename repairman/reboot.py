"""What the reboot agent does next: a pure function of what it sees.

The agent (repairman.agent) runs on every node. Each round it reads the sentinel (is a
reboot needed?), its node (boot ID, Ready) and its own request for that node, and
`next_step` says what to do. Everything it must remember across its own restarts — a
reboot restarts it — is on the request, not in the process:

- `BOOT_ID`: the node's boot ID when the agent declared InProgress (one write with
  the declaration, on the approval as read). A different boot ID now means the node
  rebooted since: the work is done.
- `REBOOTING`: when the reboot command was begun, written just before it runs. With
  it and the same boot ID, a reboot is under way (the agent was restarted inside it):
  no second one — unless `reboot_timeout` has passed since with the boot ID still the
  same, when the command evidently never ran (the agent died between the mark and the
  command) or did nothing: then once more, logged. Without the mark, InProgress and
  the same boot ID mean the agent stopped before its command: reboot now.

So an agent killed at any point and restarted files one request and reboots once per
request; the only second command is one sent after `reboot_timeout` without a reboot,
on the node that is still drained and approved for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

REQUESTER = "reboot-agent"
BOOT_ID = "repairman.k8s.io/boot-id"
REBOOTING = "repairman.k8s.io/rebooting-since"
NODE_LABEL = "repairman.k8s.io/agent-node"
"""Label on the agent's requests: its node's name, so an agent lists only its own."""
TERMINAL = frozenset({"Completed", "Rejected", "Expired"})


@attrs.frozen
class Mine:
    """The agent's request for its node, as read."""

    name: str
    spec_state: str  # Pending | InProgress | Completed: what the agent declared
    state: str  # the runner's status.state ("Pending" before its first pass)
    reason: str = ""
    message: str = ""
    boot_id: str = ""
    rebooting_since: str = ""
    resource_version: str = ""
    approved_at: str = ""


@attrs.frozen
class Seen:
    needed: bool
    """The sentinel says a reboot is needed."""
    boot_id: str
    ready: bool
    mine: Mine | None
    """The agent's request that is not yet ended, if any (the newest)."""
    now: datetime | None = None
    reboot_timeout: timedelta = timedelta(minutes=10)


@attrs.frozen
class File:
    """No request of ours in flight and a reboot is needed: ask."""


@attrs.frozen
class Wait:
    why: str


@attrs.frozen
class Start:
    """Approved: declare InProgress on this approval, recording the boot ID."""

    request: Mine
    boot_id: str


@attrs.frozen
class Reboot:
    """InProgress under our boot ID and no reboot begun (or one begun `reboot_timeout`
    ago that never came: `again`): mark it, then reboot."""

    request: Mine
    again: bool = False


@attrs.frozen
class Complete:
    """Declare Completed: after the reboot (the node is back), or withdrawing a request
    whose reboot is no longer needed before it began."""

    request: Mine
    why: str


@attrs.frozen
class Idle:
    """Nothing needed, nothing in flight."""


Step = File | Wait | Start | Reboot | Complete | Idle


def next_step(seen: Seen) -> Step:
    mine = seen.mine
    if mine is None:
        return File() if seen.needed else Idle()
    if mine.spec_state == "Completed":
        return Wait(f"{mine.name}: Completed, the runner ends it on its next pass")
    if mine.spec_state == "InProgress":
        return _in_progress(seen, mine)
    # Pending: waiting for the runner.
    if not seen.needed:
        return Complete(mine, "the sentinel is gone: no reboot needed any more")
    if mine.state == "Approved":
        return Start(mine, seen.boot_id)
    why = f"{mine.name}: {mine.state}"
    if mine.reason:
        why += f" ({mine.reason})"
    if mine.message:
        why += f": {mine.message}"
    return Wait(why)


def _in_progress(seen: Seen, mine: Mine) -> Step:
    if not mine.boot_id:
        # Only the agent declares InProgress, always with the boot ID: someone else did.
        return Wait(
            f"{mine.name}: InProgress without {BOOT_ID}, set by someone else; "
            "left alone (complete or withdraw it by hand)"
        )
    if seen.boot_id != mine.boot_id:
        if seen.ready:
            return Complete(mine, f"rebooted (boot ID {mine.boot_id} -> {seen.boot_id}), Ready")
        return Wait(f"{mine.name}: rebooted, waiting for the node to be Ready")
    if mine.rebooting_since:
        since = _time(mine.rebooting_since)
        if since is None or seen.now is None or seen.now - since < seen.reboot_timeout:
            return Wait(f"{mine.name}: reboot under way since {mine.rebooting_since}")
        return Reboot(mine, again=True)
    return Reboot(mine)


def mine_of(items: list[dict[str, object]], node: str) -> Mine | None:
    """The agent's request in flight for `node` among the listed requests (filtered by
    NODE_LABEL): not ended by the runner and filed by the agent; the newest when
    (against the agent's rules) there are several."""
    found: list[tuple[str, str, Mine]] = []
    for item in items:
        spec = _dict(item.get("spec"))
        status = _dict(item.get("status"))
        metadata = _dict(item.get("metadata"))
        annotations = _dict(metadata.get("annotations"))
        if spec.get("requester") != REQUESTER or spec.get("name") != node:
            continue
        if spec.get("type", "node") != "node":
            continue
        state = str(status.get("state") or "Pending")
        if state in TERMINAL:
            continue
        mine = Mine(
            name=str(metadata.get("name", "")),
            spec_state=str(spec.get("state") or "Pending"),
            state=state,
            reason=str(status.get("reason") or ""),
            message=str(status.get("message") or ""),
            boot_id=str(annotations.get(BOOT_ID) or ""),
            rebooting_since=str(annotations.get(REBOOTING) or ""),
            resource_version=str(metadata.get("resourceVersion") or ""),
            approved_at=str(status.get("approvedAt") or ""),
        )
        found.append((str(metadata.get("creationTimestamp") or ""), mine.name, mine))
    return max(found)[2] if found else None


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
