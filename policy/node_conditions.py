"""Kubernetes' node lifecycle conditions (KEP-5683, DESIGN §8) for node requests.

`wanted` is the table of DESIGN §8: what the four conditions should say on a node,
given the request that holds it (or the one that last did). `changes` is what must be
written to get there from what the node shows, and nothing more:

- a condition is ours when its reason starts with `Repairman`; one that is not (an
  admin's, another controller's) is never changed, as an admin's cordon is not;
- a condition already saying what we want (status, reason, message) is not written
  again: a pass on an unchanged cluster writes nothing;
- a condition that is absent and would be False is not written: nothing to clear.

Decided where the design is silent:
- A request back to Pending after it was admitted (none of the table's rows) is
  treated like a finished one: every condition of ours False, reason
  `RepairmanPending` — nothing is planned for the node any more.
- A node whose request is gone (deleted: the orphan rule) gets every condition of ours
  False with reason `RepairmanDeleted`.
- `Drained` on an Approved or InProgress request whose limit does not drain (the
  table's "True if drained") is not written.
- Messages name the request and say nothing that changes from pass to pass, so that
  they are written once per change of row.
"""

from __future__ import annotations

from collections.abc import Mapping

from policy.model import NodeCondition, RequestState

PLANNED = "MaintenancePlanned"
DRAINING = "DrainInProgress"
DRAINED = "Drained"
IN_MAINTENANCE = "MaintenanceInProgress"
TYPES = (PLANNED, DRAINING, DRAINED, IN_MAINTENANCE)
OURS = "Repairman"


def ours(condition: NodeCondition) -> bool:
    return condition.reason.startswith(OURS)


def wanted(
    state: RequestState | None, *, request: str, drains: bool, drained: bool
) -> dict[str, NodeCondition]:
    """The conditions of DESIGN §8 for a node held (or last held) by `request` in
    `state`; None as the state: the request is gone. `drains`: its limit drains;
    `drained`: the drain is done (or nothing was left to evict)."""
    if state is None:
        return _all_false(request, "RepairmanDeleted", "deleted")
    reason = f"Repairman{state.value}"
    if state is RequestState.PREPARING:
        if drains and not drained:
            return _row(
                request,
                reason,
                {PLANNED: "True", DRAINING: "True"},
                "is draining the node",
            )
        return _row(
            request,
            reason,
            {PLANNED: "True", DRAINING: "False", **({DRAINED: "True"} if drains else {})},
            "has the node drained, waiting before approval" if drains else "is preparing",
        )
    if state in (RequestState.APPROVED, RequestState.IN_PROGRESS):
        statuses = {PLANNED: "True", DRAINING: "False", IN_MAINTENANCE: "True"}
        if drains and drained:
            statuses[DRAINED] = "True"
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
    return {
        kind: NodeCondition(kind, status, reason, f"repairman: {request} {words}")
        for kind, status in statuses.items()
    }


def _all_false(request: str, reason: str, words: str) -> dict[str, NodeCondition]:
    return _row(request, reason, dict.fromkeys(TYPES, "False"), words)
