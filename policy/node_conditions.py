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
  `Drained` is False under a limit that does not drain.
- A node's row is its active request's; with none, all False (`wanted_for_node`).
- Messages name the request and say nothing that changes from pass to pass, so that
  they are written once per change of row.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from policy.model import NodeCondition, RequestState

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


def wanted_for_node(holders: list[Holder]) -> dict[str, NodeCondition]:
    """The row of the node's active request (one at most: §4.3), else all False in
    the name of the latest of the others (the list's order)."""
    active = [h for h in holders if h.state is not None and h.state.active]
    chosen = active[0] if active else (holders[-1] if holders else None)
    if chosen is None:
        return _all_false("", f"{OURS}Deleted", "no request holds the node")
    return wanted(
        chosen.state, request=chosen.request, drains=chosen.drains, drained=chosen.drained
    )


def wanted(
    state: RequestState | None, *, request: str, drains: bool, drained: bool
) -> dict[str, NodeCondition]:
    """The conditions of DESIGN §8 for a node held (or last held) by `request` in
    `state`; None as the state: the request is gone. `drains`: its limit drains;
    `drained`: the drain is done (or nothing was left to evict)."""
    if state is None:
        return _all_false(request, "RepairmanDeleted", "deleted")
    reason = f"Repairman{state.value}"
    done = "True" if drains and drained else "False"
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
        if not ours(have):
            continue
        if (have.status, have.reason, have.message) != (want.status, want.reason, want.message):
            if want.status == "False" and have.status == "False":
                continue  # already cleared: the reason of a cleared one is not worth a write
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
