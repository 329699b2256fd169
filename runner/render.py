"""A plan for people (tables) and for tools (a stable JSON document).

The JSON form is documented in docs/plan-format.md; its `version` changes whenever a
consumer of the old form would misread the new one.
"""

from __future__ import annotations

from typing import Any, assert_never

from policy.decisions import (
    Cordon,
    Decision,
    DeleteRequest,
    Evict,
    Plan,
    SetNodeConditions,
    Uncordon,
    UpdateLimitStatus,
    UpdateRequestStatus,
)
from policy.snapshot_format import timestamp

PLAN_KIND = "RepairmanPlan"
PLAN_VERSION = 1


def decision_json(decision: Decision) -> dict[str, Any]:
    base: dict[str, Any]
    match decision:
        case UpdateRequestStatus():
            status = decision.status
            base = {
                "action": "UpdateRequestStatus",
                "request": decision.request,
                "from": decision.previous.value if decision.previous else None,
                "to": status.state.value if status.state else None,
                "reason": status.reason,
                "message": status.message,
            }
        case Cordon():
            base = {"action": "Cordon", "node": decision.node, "request": decision.request}
        case Uncordon():
            base = {
                "action": "Uncordon",
                "node": decision.node,
                "request": decision.request,
                "annotationOnly": not decision.unschedulable,
            }
        case Evict():
            base = {
                "action": "Evict",
                "pod": f"{decision.namespace}/{decision.pod}",
                "uid": decision.uid,
                "node": decision.node,
                "request": decision.request,
                "pdb": decision.pdb,
                "unbudgeted": decision.unbudgeted.value if decision.unbudgeted else None,
                "resourceVersion": decision.resource_version,
                "gracePeriodSeconds": decision.grace_period_seconds,
            }
        case DeleteRequest():
            base = {"action": "DeleteRequest", "request": decision.request}
        case SetNodeConditions():
            base = {
                "action": "SetNodeConditions",
                "node": decision.node,
                "request": decision.request or None,
                "conditions": [
                    {
                        "type": c.type,
                        "status": c.status,
                        "reason": c.reason,
                        "message": c.message,
                    }
                    for c in decision.write
                ],
            }
        case UpdateLimitStatus():
            base = {
                "action": "UpdateLimitStatus",
                "limit": decision.limit,
                "allowed": decision.status.allowed,
                "inUse": decision.status.in_use,
            }
        case _:
            assert_never(decision)
    base["target"] = decision.target
    base.setdefault("reason", decision.reason)
    return base


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "kind": PLAN_KIND,
        "version": PLAN_VERSION,
        "now": timestamp(plan.now),
        "decisions": [decision_json(d) for d in plan.decisions],
        "requests": [
            {
                "name": e.request,
                "target": e.target,
                "previousState": e.previous_state.value if e.previous_state else None,
                "state": e.state.value,
                "reason": e.reason.value,
                "message": e.message,
            }
            for e in plan.explanations
        ],
        "limits": [
            {
                "name": r.name,
                "type": r.type,
                "valid": r.valid,
                "error": r.error or None,
                "population": r.population,
                "allowed": r.allowed,
                "inUse": r.in_use,
                "unavailable": dict(r.unavailable),
                "active": list(r.active),
                "windows": list(r.windows),
                "windowOpen": r.window_open,
                "nextOpening": timestamp(r.next_opening) if r.next_opening else None,
                "paused": r.paused,
                "blackout": r.blackout or None,
                "failureBudget": r.failure or None,
                "gates": list(r.gated),
            }
            for r in plan.limits
        ],
    }


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row[:-1]):
            widths[index] = max(widths[index], len(cell))
    lines = []
    for row in [headers, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _decision_row(decision: Decision) -> tuple[str, ...]:
    match decision:
        case UpdateRequestStatus():
            before = decision.previous.value if decision.previous else "-"
            after = decision.status.state.value if decision.status.state else "-"
            what = f"{before} -> {after}" if decision.transition else f"{after} (message)"
            return ("status", decision.request, decision.target or "-", what)
        case Cordon():
            return ("cordon", decision.request, decision.target, "")
        case Uncordon():
            what = (
                decision.reason
                if decision.unschedulable
                else f"{decision.reason} (annotation only)"
            )
            return ("uncordon", decision.request, decision.target, what)
        case Evict():
            what = f"node {decision.node}" + (f", PDB {decision.pdb}" if decision.pdb else "")
            if decision.unbudgeted is not None:
                what += f", no budget spent ({decision.unbudgeted.value})"
            return ("evict", decision.request, decision.target, what)
        case DeleteRequest():
            return ("delete", decision.request, decision.target, decision.reason)
        case SetNodeConditions():
            what = ", ".join(f"{c.type}={c.status}" for c in decision.write)
            return ("conditions", decision.request or "-", decision.target, what)
        case UpdateLimitStatus():
            return ("limit", "-", decision.target, decision.status.message)
        case _:
            assert_never(decision)


def plan_table(plan: Plan) -> str:
    parts = [f"Plan at {timestamp(plan.now)}: {len(plan.decisions)} decisions", ""]
    if plan.decisions:
        parts.append(
            _table(
                ("ACTION", "REQUEST", "TARGET", "DETAIL"),
                [_decision_row(d) for d in plan.decisions],
            )
        )
    else:
        parts.append("(nothing to do)")
    parts += ["", "Requests:"]
    rows = []
    for e in plan.explanations:
        before = e.previous_state.value if e.previous_state else "New"
        state = e.state.value if e.previous_state is e.state else f"{before} -> {e.state.value}"
        rows.append((e.request, e.target, state, e.reason.value, e.message))
    parts.append(
        _table(("NAME", "TARGET", "STATE", "REASON", "MESSAGE"), rows) if rows else "(none)"
    )
    parts += ["", "Limits:"]
    limit_rows = []
    for r in plan.limits:
        if not r.valid:
            limit_rows.append((r.name, r.type or "?", "-", "-", "invalid", r.error))
            continue
        if r.paused:
            window = "paused"
        elif r.blackout:
            window = "blackout"
        elif r.failure:
            window = "failure budget"
        elif r.gated:
            window = "gate"
        elif not r.windows:
            window = "always"
        elif r.window_open:
            window = "open"
        else:
            window = f"opens {timestamp(r.next_opening)}" if r.next_opening else "closed"
        unavailable = ", ".join(f"{n} {why}" for n, why in r.unavailable) or "-"
        limit_rows.append(
            (
                r.name,
                r.type or "?",
                str(r.allowed),
                str(r.in_use),
                window,
                f"unavailable: {unavailable}",
            )
        )
    parts.append(
        _table(("NAME", "TYPE", "ALLOWED", "IN USE", "WINDOW", "DETAIL"), limit_rows)
        if limit_rows
        else "(none)"
    )
    return "\n".join(parts) + "\n"
