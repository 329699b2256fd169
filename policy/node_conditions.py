"""Kubernetes' node lifecycle conditions (KEP-5683, DESIGN §8) for node requests.

`wanted` is the table of DESIGN §8: what the four conditions should say on a node,
given the request that holds it (or the one that last did). `changes` is what must be
written to get there from what the node shows, and nothing more:

- a condition is ours when its reason is one we write (`Repairman` and a request
  state, or `RepairmanDeleted`) and its message begins `repairman: `; any other (an
  admin's, another controller's, one whose reason merely starts with `Repairman`) is
  never changed, as an admin's cordon is not — stricter than DESIGN §8's "reason
  starts with Repairman", so that nothing of someone else's is ever taken over;
- a condition already saying what we want (status, reason, message) is not written
  again: a pass on an unchanged cluster writes nothing;
- a condition that is absent and would be False is not written: nothing to clear.

Decided where the design is silent:
- A request back to Pending after it was admitted (none of the table's rows) is
  treated like a finished one: every condition of ours False, reason
  `RepairmanPending` — nothing is planned for the node any more.
- A node whose request is gone (deleted: the orphan rule) gets every condition of ours
  False with reason `RepairmanDeleted`.
- Every row says all four: the table's "—" is False (free when the node shows
  nothing of ours: nothing is written), so a leftover of ours from an earlier request
  or an earlier row (drained, then a late pod: draining again) is cleared.
  `Drained` says the request's drainedAt (False under a limit that never drained it),
  not what its limits say today.
- A node's row is its active request's; with none, all False (`wanted_for_node`).
- Messages name the request and say nothing that changes from pass to pass, so that
  they are written once per change of row.
- A limit with `nodeConditions: false` governing the node's request: all False (ours
  cleared, nothing new published).

`publish` is the plan's phase (after the cordons are released): a `SetNodeConditions`
for every node whose conditions must change, for the state each request has as the
pass leaves it. The nodes looked at are those a request holds or held, and those
showing a True condition of ours (a request deleted before its conditions were cleared).
In the decision list it follows the status write of the pass that put its request in
its final row (it says what was written, and is skipped with it when that write
fails): an admission that goes on draining announces it right after its commit, before
its cordon and evictions. With no status write of this pass: first (it says what was
read). With no active request, the row is in the name of the request whose row the
node shows (named by its True conditions of ours), when it is among the node's
requests: the one that just ended.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import partial

import attrs

from policy.decisions import Decision, SetNodeConditions, UpdateRequestStatus
from policy.limit_spec import parse_limit_spec
from policy.model import (
    MaintenanceLimit,
    MaintenanceRequest,
    NodeCondition,
    RequestState,
    TargetType,
)
from policy.pass_state import PassState

S = RequestState

PLANNED = "MaintenancePlanned"
DRAINING = "DrainInProgress"
DRAINED = "Drained"
IN_MAINTENANCE = "MaintenanceInProgress"
TYPES = (PLANNED, DRAINING, DRAINED, IN_MAINTENANCE)
OURS = "Repairman"


OUR_REASONS = frozenset({f"{OURS}{state.value}" for state in RequestState} | {f"{OURS}Deleted"})
MESSAGE = "repairman: "


def ours(condition: NodeCondition) -> bool:
    return condition.reason in OUR_REASONS and condition.message.startswith(MESSAGE)


@attrs.frozen
class Holder:
    """A request that holds or held a node, as the pass leaves it."""

    request: str
    state: RequestState | None  # None: deleted
    drains: bool = True
    drained: bool = False
    publish: bool = True
    """False: a governing limit says `nodeConditions: false`."""


def publishes(limits: Iterable[MaintenanceLimit], labels: Mapping[str, str]) -> bool:
    """Whether a node with `labels` publishes its conditions under `limits`: no limit
    governing it, valid or invalid, says `nodeConditions: false` (as the plan's
    Behaviour and Holder.publish judge it; the runner asks again on a fresh read)."""
    for limit in limits:
        parsed = parse_limit_spec(limit.name, limit.spec)
        if not parsed.node_conditions and parsed.governs(TargetType.NODE, labels):
            return False
    return True


def holding(holders: list[Holder]) -> Holder | None:
    """Whose row a node shows: its active request (one at most: §4.3), else the last
    of the others (the list's order); None when there are none."""
    active = [h for h in holders if h.state is not None and h.state.active]
    return active[0] if active else (holders[-1] if holders else None)


def wanted_for_node(holders: list[Holder]) -> dict[str, NodeCondition]:
    """The row of the node's active request (one at most: §4.3), else all False in
    the name of the latest of the others (the list's order)."""
    chosen = holding(holders)
    if chosen is None:
        return _all_false("", f"{OURS}Deleted", "no request holds the node")
    if not chosen.publish:
        reason = f"{OURS}{chosen.state.value}" if chosen.state else f"{OURS}Deleted"
        return _all_false(
            chosen.request, reason, "publishes no node conditions (nodeConditions: false)"
        )
    return wanted(
        chosen.state, request=chosen.request, drains=chosen.drains, drained=chosen.drained
    )


def wanted(
    state: RequestState | None, *, request: str, drains: bool, drained: bool
) -> dict[str, NodeCondition]:
    """The conditions of DESIGN §8 for a node held (or last held) by `request` in
    `state`; None as the state: the request is gone. `drains`: its limit drains;
    `drained`: the drain is done (its drainedAt: or nothing was left to evict)."""
    if state is None:
        return _all_false(request, "RepairmanDeleted", "deleted")
    reason = f"Repairman{state.value}"
    # By the request's drainedAt, as it was prepared: not by what its limits say today
    # (a drain taken off a limit after the approval does not undrain the node).
    done = "True" if drained else "False"
    if state is RequestState.PREPARING:
        if drains and not drained:
            statuses = {PLANNED: "True", DRAINING: "True", DRAINED: "False"}
            return _row(request, reason, statuses, "is draining the node")
        statuses = {PLANNED: "True", DRAINING: "False", DRAINED: done}
        words = "has the node drained, waiting before approval" if drains else "is preparing"
        return _row(request, reason, {**statuses, IN_MAINTENANCE: "False"}, words)
    if state in (RequestState.APPROVED, RequestState.IN_PROGRESS):
        statuses = {PLANNED: "True", DRAINING: "False", DRAINED: done, IN_MAINTENANCE: "True"}
        words = "is approved" if state is RequestState.APPROVED else "is in progress"
        return _row(request, reason, statuses, words)
    # Pending after all, or finished any way.
    return _all_false(request, reason, "ended" if state.terminal else "is waiting again")


def changes(
    current: Mapping[str, NodeCondition], wanted: Mapping[str, NodeCondition]
) -> dict[str, NodeCondition]:
    """What to write: the wanted conditions the node does not show yet, never over a
    condition that is not ours, never a False where there is nothing of ours."""
    out: dict[str, NodeCondition] = {}
    for kind, want in wanted.items():
        have = current.get(kind)
        if have is None:
            if want.status == "True":
                out[kind] = want
            continue
        if rewrites(have, want):
            out[kind] = want
    return out


def rewrites(have: NodeCondition, want: NodeCondition) -> bool:
    """Whether the entry `have` is to be written over with `want`: it is ours and says
    something else (a False of ours is not rewritten for its reason alone)."""
    if not ours(have):
        return False
    if (have.status, have.reason, have.message) == (want.status, want.reason, want.message):
        return False
    return not (want.status == "False" and have.status == "False")


def changes_in(
    entries: Iterable[NodeCondition], wanted: Mapping[str, NodeCondition]
) -> dict[str, NodeCondition]:
    """`changes` on a node's conditions as listed, where a type may be shown more than
    once (a PUT or JSON patch by hand): such a type is written when any entry of ours
    in it is to be rewritten; the runner then writes each such entry alone, by its
    place in the list, and never another's."""
    by_type: dict[str, list[NodeCondition]] = defaultdict(list)
    for entry in entries:
        by_type[entry.type].append(entry)
    out: dict[str, NodeCondition] = {}
    for kind, want in wanted.items():
        shown = by_type.get(kind, [])
        if len(shown) < 2:
            out.update(changes({kind: shown[0]} if shown else {}, {kind: want}))
        elif any(rewrites(have, want) for have in shown):
            out[kind] = want
    return out


def _row(
    request: str, reason: str, statuses: Mapping[str, str], words: str
) -> dict[str, NodeCondition]:
    full = {**dict.fromkeys(TYPES, "False"), **statuses}
    name = f"{request} " if request else ""
    return {
        kind: NodeCondition(kind, status, reason, f"{MESSAGE}{name}{words}")
        for kind, status in full.items()
    }


def _all_false(request: str, reason: str, words: str) -> dict[str, NodeCondition]:
    return _row(request, reason, dict.fromkeys(TYPES, "False"), words)


def publish(state: PassState) -> None:
    """The plan's phase: a SetNodeConditions for every node whose conditions must
    change, placed after its request's last status write (else first)."""
    index = state.index
    on_node: dict[str, str] = {}
    """Request -> the node it holds or held, as the pass leaves it."""
    for request in index.requests:
        target = state.final_target.get(request.name)
        if target is not None and target.type is TargetType.NODE and target.name in index.nodes:
            on_node[request.name] = target.name
    # Only these nodes can need a write: held by an active request, or showing a True
    # condition of ours. Any other's row is all False with nothing of ours to clear.
    looked_at = {
        node
        for name, node in on_node.items()
        if (state.final_state.get(name) or index.by_name[name].status.state or S.PENDING).active
    }
    looked_at.update(
        node.name
        for node in index.nodes.values()
        if node.conditions and any(c.status == "True" and ours(c) for c in node.conditions)
    )
    if not looked_at:
        return
    holders: dict[str, list[Holder]] = {node: [] for node in looked_at}
    for request in index.requests:
        node_name = on_node.get(request.name)
        if node_name not in holders:
            continue
        target = state.final_target[request.name]
        written = state.written.get(request.name)
        status = written.status if written is not None else request.status
        behaviour = index.behaviour(target)
        invalid = index.governing(target)[1]
        holders[node_name].append(
            Holder(
                request=request.name,
                state=state.final_state.get(request.name, status.state),
                drains=behaviour.drain is not None,
                drained=status.drained_at is not None,
                publish=behaviour.node_conditions and all(i.node_conditions for i in invalid),
            )
        )
    after: dict[int, list[Decision]] = defaultdict(list)
    first: list[Decision] = []
    # Where each request's row was written: the first of its status writes from which
    # on its row (state, drained) is the final one. An admission that goes on draining
    # announces it right after its commit, before its cordon and evictions.
    last_write: dict[str, int] = {}
    row_of: dict[str, tuple[RequestState | None, bool]] = {}
    for at, d in enumerate(state.decisions):
        if isinstance(d, UpdateRequestStatus):
            row = (d.status.state, d.status.drained_at is not None)
            if row_of.get(d.request) != row:
                row_of[d.request] = row
                last_write[d.request] = at
    for name in sorted(holders):
        entries = index.nodes[name].conditions
        # With no active holder, the row is in the name of the request whose row the
        # node shows (its True conditions of ours name it), the one that was active
        # when the pass began first (it just ended), then the latest written.
        shown = {
            c.message.split()[1]
            for c in entries
            if c.status == "True" and ours(c) and c.message.split()[1:]
        }
        of_node = sorted(holders[name], key=partial(_rank, shown, index.by_name, last_write))
        if not any(h.state is not None and h.state.active for h in of_node):
            # With none active, only a request whose row it may be can own the clear:
            # one the node names, or one that held it when the pass began. A request
            # only queued for it never did (the named one was deleted): the clear is
            # then no request's, and in no request's chain.
            of_node = [h for h in of_node if h.request in shown or _was_active(index.by_name, h)]
        want = wanted_for_node(of_node)
        write = changes_in(entries, want)
        if not write:
            continue
        chosen = holding(of_node)
        whose = chosen.request if chosen is not None else ""
        listed = index.by_name.get(whose) if whose else None
        publishing = SetNodeConditions(
            node=name,
            request=whose,
            uid=listed.uid if listed is not None else "",
            state=chosen.state if chosen is not None else None,
            drained=chosen.drained if chosen is not None else False,
            wanted=tuple(want[kind] for kind in TYPES),
            write=tuple(write[kind] for kind in TYPES if kind in write),
        )
        # In its request's chain, after the status write that put it in its row.
        position: int | None = last_write.get(whose) if whose else None
        if position is None:
            first.append(publishing)
        else:
            after[position].append(publishing)
    if not first and not after:
        return
    decisions = list(first)
    for position, decision in enumerate(state.decisions):
        decisions.append(decision)
        decisions.extend(after.get(position, ()))
    state.decisions[:] = decisions


def _was_active(listed: Mapping[str, MaintenanceRequest], holder: Holder) -> bool:
    """Active when the pass began (as listed)."""
    state = listed[holder.request].status.state
    return state is not None and state.active


def _rank(
    shown: set[str],
    listed: Mapping[str, MaintenanceRequest],
    last_write: Mapping[str, int],
    holder: Holder,
) -> tuple[bool, bool, int]:
    """Order of a node's holders, the one whose row it is last (with none active):
    named by the node's True conditions of ours, active when the pass began (it just
    ended), written latest in this pass."""
    return (
        holder.request in shown,
        _was_active(listed, holder),
        last_write.get(holder.request, -1),
    )
