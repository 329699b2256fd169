"""What the reboot agent does next: a pure function of what it sees.

The agent (repairman.agent) runs on every node. Each round it reads the sentinel (is a
reboot needed?), its node (boot ID, Ready), its own requests for that node and the
time since boot, and `next_step` says what to do. Everything it must remember across
its own restarts — a reboot restarts it — is on the request, not in the process:

- `BOOT_ID`: the node's boot ID when the agent declared InProgress (one write with
  the declaration, on the approval as read). A different boot ID now means the node
  rebooted since: the work is done.
- `REBOOT_UPTIME`: the node's time since boot (CLOCK_BOOTTIME, seconds) when the
  reboot command was begun, written just before it runs (with `REBOOTING`, the wall
  clock, for people). Compared only under the boot ID it was taken in, so no step of
  the wall clock moves it. With it and the same boot ID, a reboot is under way (the
  agent was restarted inside it): no second one — unless `reboot_timeout` has passed
  since with the boot ID still the same, when the command evidently never ran (the
  agent died between the mark and the command) or did nothing: then once more,
  logged. Without the mark, InProgress and the same boot ID mean the agent stopped
  before its command: reboot now.

A reboot is only ever begun under an approval the runner wrote (status Approved or
InProgress, `approvedAt` set): a request that lost its status (restored from a backup,
replaced) is not one. Requests are named after the node, its boot and how many the
agent filed in that boot (`request_name`), so two agents of one node (a DaemonSet's
rolling update, a cron `--once` beside it) that both decide to file make one request:
the second create is refused. Should two be in flight anyway, the agent follows the
one the runner is furthest with and withdraws its other waiting ones. After a
request ended (expired, say) while its reboot was under way, no new one is filed
until the reboot had `reboot_timeout` to happen.

So an agent killed at any point and restarted files one request per need and
reboots once per request; the only second command is one sent after
`reboot_timeout` without a reboot, on the node that is still drained and approved.
"""

from __future__ import annotations

import attrs

REQUESTER = "reboot-agent"
BOOT_ID = "repairman.k8s.io/boot-id"
REBOOTING = "repairman.k8s.io/rebooting-since"
REBOOT_UPTIME = "repairman.k8s.io/rebooting-at-uptime"
NODE_LABEL = "repairman.k8s.io/agent-node"
"""Label on the agent's requests: its node's name, so an agent lists only its own."""
TERMINAL = frozenset({"Completed", "Rejected", "Expired"})
UNDER_APPROVAL = frozenset({"Approved", "InProgress"})


@attrs.frozen
class Mine:
    """One of the agent's requests for its node, as read."""

    name: str
    spec_state: str  # Pending | InProgress | Completed: what the agent declared
    state: str  # the runner's status.state ("Pending" before its first pass)
    reason: str = ""
    message: str = ""
    boot_id: str = ""
    rebooting_since: str = ""
    rebooting_at_uptime: float | None = None
    resource_version: str = ""
    approved_at: str = ""
    created: str = ""

    @property
    def ended(self) -> bool:
        return self.state in TERMINAL


@attrs.frozen
class Seen:
    needed: bool
    """The sentinel says a reboot is needed."""
    boot_id: str
    ready: bool
    mine: Mine | None
    """The agent's request in flight (`mine_of`), if any."""
    spares: tuple[Mine, ...] = ()
    """Its other requests in flight, waiting (`mine_of`): withdrawn."""
    last_ended: Mine | None = None
    """Its latest ended request, if any."""
    uptime: float | None = None
    """The node's seconds since boot (CLOCK_BOOTTIME) now."""
    reboot_timeout: float = 600.0


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
    """InProgress under our boot ID and approval, no reboot begun (or one begun
    `reboot_timeout` ago that never came: `again`): mark it, then reboot."""

    request: Mine
    again: bool = False


@attrs.frozen
class Complete:
    """Declare Completed: after the reboot (the node is back), or withdrawing a request
    whose reboot is no longer needed, or a second request of ours, before it began."""

    request: Mine
    why: str


@attrs.frozen
class Idle:
    """Nothing needed, nothing in flight."""


Step = File | Wait | Start | Reboot | Complete | Idle


def next_step(seen: Seen) -> Step:
    for spare in seen.spares:
        if spare.spec_state == "Pending":
            return Complete(spare, f"a second request of this agent; it follows {_name(seen)}")
    mine = seen.mine
    if mine is None:
        if not seen.needed:
            return Idle()
        under_way = _reboot_under_way(seen, seen.last_ended)
        if under_way:
            return Wait(under_way)
        if not seen.boot_id:
            return Wait("the node reports no boot ID: nothing to tell a reboot by")
        return File()
    if mine.spec_state == "Completed":
        return Wait(f"{mine.name}: Completed, the runner ends it on its next pass")
    if mine.spec_state == "InProgress":
        return _in_progress(seen, mine)
    # Pending: waiting for the runner.
    if not seen.needed:
        return Complete(mine, "the sentinel is gone: no reboot needed any more")
    if mine.state == "Approved" and mine.approved_at:
        if not seen.boot_id:
            return Wait(f"{mine.name}: Approved, but the node reports no boot ID")
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
    if mine.state not in UNDER_APPROVAL or not mine.approved_at:
        return Wait(
            f"{mine.name}: InProgress but {mine.state} without an approval (restored or "
            "replaced?): no reboot until the runner approves"
        )
    if mine.rebooting_since or mine.rebooting_at_uptime is not None:
        if _waited_out(seen, mine):
            return Reboot(mine, again=True)
        return Wait(f"{mine.name}: reboot under way since {mine.rebooting_since or '?'}")
    return Reboot(mine)


def _waited_out(seen: Seen, mine: Mine) -> bool:
    """The reboot begun under this boot has had `reboot_timeout` to happen. A mark
    without a readable uptime, or no uptime now, never times out: waiting is safe."""
    if mine.rebooting_at_uptime is None or seen.uptime is None:
        return False
    return seen.uptime - mine.rebooting_at_uptime >= seen.reboot_timeout


def _reboot_under_way(seen: Seen, ended: Mine | None) -> str:
    """Why not to file again: the last request ended (the runner expired it, say)
    while the reboot it began under this very boot may still come."""
    if ended is None or ended.boot_id != seen.boot_id or not seen.boot_id:
        return ""
    if not (ended.rebooting_since or ended.rebooting_at_uptime is not None):
        return ""
    if _waited_out(seen, ended):
        return ""
    return f"{ended.name} ended ({ended.state}) while its reboot was under way: waiting for it"


def _name(seen: Seen) -> str:
    return seen.mine.name if seen.mine is not None else "none"


def request_name(node: str, boot_id: str, filed: int) -> str:
    """`reboot-<node>-<boot>-<n>`: the n-th request filed in this boot. Two agents that
    decide at once compute the same name; the API server refuses the second."""
    stem = node[:200].rstrip("-.")
    boot = "".join(c for c in boot_id.lower() if c.isalnum())[:8] or "noboot"
    return f"reboot-{stem}-{boot}-{filed}"


def requests_of(items: list[dict[str, object]], node: str) -> list[Mine]:
    """The agent's requests for `node` among the listed ones (by spec: requester and
    target; the label only narrows the list), oldest first."""
    found: list[Mine] = []
    for item in items:
        spec = _dict(item.get("spec"))
        status = _dict(item.get("status"))
        metadata = _dict(item.get("metadata"))
        annotations = _dict(metadata.get("annotations"))
        if spec.get("requester") != REQUESTER or spec.get("name") != node:
            continue
        if spec.get("type", "node") != "node":
            continue
        found.append(
            Mine(
                name=str(metadata.get("name", "")),
                spec_state=str(spec.get("state") or "Pending"),
                state=str(status.get("state") or "Pending"),
                reason=str(status.get("reason") or ""),
                message=str(status.get("message") or ""),
                boot_id=str(annotations.get(BOOT_ID) or ""),
                rebooting_since=str(annotations.get(REBOOTING) or ""),
                rebooting_at_uptime=_number(annotations.get(REBOOT_UPTIME)),
                resource_version=str(metadata.get("resourceVersion") or ""),
                approved_at=str(status.get("approvedAt") or ""),
                created=str(metadata.get("creationTimestamp") or ""),
            )
        )
    return sorted(found, key=lambda mine: (mine.created, mine.name))


_FURTHEST = {"InProgress": 0, "Approved": 1, "Preparing": 2}


def mine_of(requests: list[Mine]) -> tuple[Mine | None, tuple[Mine, ...], Mine | None]:
    """(the request in flight to follow, the others in flight, the latest ended).

    The one to follow is the one the work is furthest with: declared InProgress by
    the agent, then the runner's InProgress, Approved, Preparing, then the oldest
    waiting (the runner's order among equals)."""
    in_flight = [mine for mine in requests if not mine.ended]
    ended = [mine for mine in requests if mine.ended]

    def rank(mine: Mine) -> tuple[int, int, str, str]:
        declared = 0 if mine.spec_state == "InProgress" and mine.boot_id else 1
        return (declared, _FURTHEST.get(mine.state, 3), mine.created, mine.name)

    ordered = sorted(in_flight, key=rank)
    follow = ordered[0] if ordered else None
    return follow, tuple(ordered[1:]), (ended[-1] if ended else None)


def _number(value: object) -> float | None:
    try:
        return float(str(value)) if value is not None else None
    except ValueError:
        return None


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}
