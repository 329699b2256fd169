"""A forecast for people and for tools: the text summary, the JSON, the what-if table.

Pure: strings and dicts from a `Forecast` (forecast.simulation).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from forecast.inputs import Model
from forecast.simulation import Forecast
from policy.snapshot_format import timestamp


def _duration_text(seconds: float) -> str:
    seconds = round(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    text = "".join(parts)
    return text + (f"{secs}s" if secs or not text else "")


def listed(names: tuple[str, ...], most: int = 10) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "") or "none"


def summary_json(result: Forecast) -> dict[str, Any]:
    return {
        "kind": "Forecast",
        "start": timestamp(result.start),
        "end": timestamp(result.end),
        "finished": result.finished,
        "makespanSeconds": result.makespan,
        "passes": result.passes,
        "stuck": list(result.stuck),
        "failedNodes": list(result.failed_nodes),
        "deadlinesMissed": list(result.deadlines_missed),
        "peaks": {k: {"inUse": v[0], "allowed": v[1]} for k, v in result.peaks.items()},
        "bottlenecks": [{"cause": c, "requestSeconds": s} for c, s in result.bottlenecks],
        "requests": [
            {
                "name": r.name,
                "target": r.target,
                "admittedAt": timestamp(r.admitted_at) if r.admitted_at else None,
                "approvedAt": timestamp(r.approved_at) if r.approved_at else None,
                "finishedAt": timestamp(r.finished_at) if r.finished_at else None,
                "state": r.state,
                "reason": r.reason,
            }
            for r in result.requests
        ],
    }


SHOWN_REQUESTS = 20


def _request_rows(result: Forecast) -> list[str]:
    """When each request is approved and finished, from the start, in finishing order
    (the first SHOWN_REQUESTS; -o json has them all)."""

    def after(instant: datetime | None) -> str:
        if instant is None:
            return "-"
        if instant < result.start:
            return "before"
        return f"+{_duration_text((instant - result.start).total_seconds())}"

    never = datetime.max.replace(tzinfo=result.start.tzinfo)
    ordered = sorted(
        result.requests,
        key=lambda r: (r.finished_at or never, r.approved_at or never, r.name),
    )
    rows = [("REQUEST", "TARGET", "APPROVED", "FINISHED", "STATE", "REASON")]
    rows += [
        (r.name, r.target, after(r.approved_at), after(r.finished_at), r.state, r.reason)
        for r in ordered[:SHOWN_REQUESTS]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    title = "Requests, in finishing order"
    if len(ordered) > SHOWN_REQUESTS:
        title += f" (the first {SHOWN_REQUESTS} of {len(ordered)}; -o json lists all)"
    return [f"{title}:", *lines]


def summary_text(result: Forecast, model: Model) -> str:
    states = Counter(r.state for r in result.requests)
    lines = [
        f"Forecast from {timestamp(result.start)}: a pass every {model.period:g} s, "
        f"actors start after {model.actor_start} and work {model.actor_duration}",
        f"{len(result.requests)} requests: "
        + ", ".join(f"{n} {s}" for s, n in sorted(states.items())),
        (
            f"Makespan {_duration_text(result.makespan)} "
            f"(all finished at {timestamp(result.end)}, {result.passes} passes)"
            if result.finished
            else f"NOT finished after {_duration_text(result.makespan)} ({result.passes} passes)"
        ),
        *(
            [f"Never finish without help ({len(result.stuck)}): {', '.join(result.stuck)}"]
            if result.stuck
            else []
        ),
        *(
            [
                f"Deadlines missed ({len(result.deadlines_missed)}): "
                + listed(result.deadlines_missed)
            ]
            if result.deadlines_missed
            else []
        ),
        *(
            [
                f"Left NotReady by their maintenance ({len(result.failed_nodes)}, "
                f"--fail-rate {model.fail_rate:g}): {listed(result.failed_nodes)}"
            ]
            if model.fail_rate
            else []
        ),
        "",
        *_request_rows(result),
        "",
        "Peak concurrency:",
        *(f"  {name}: {used} of {allowed}" for name, (used, allowed) in result.peaks.items()),
        "",
        "Held back by (request-time):",
        *(f"  {cause}: {_duration_text(held)}" for cause, held in result.bottlenecks[:10]),
    ]
    if not result.bottlenecks:
        lines.append("  nothing")
    return "\n".join(lines) + "\n"


def what_if_text(baseline: Forecast, variants: list[tuple[str, Forecast]]) -> str:
    rows = [("SCENARIO", "MAKESPAN", "CHANGE", "TOP BOTTLENECK")]

    def top(result: Forecast) -> str:
        return result.bottlenecks[0][0] if result.bottlenecks else "-"

    def span(result: Forecast) -> str:
        text = _duration_text(result.makespan)
        return text if result.finished else f">{text} (unfinished)"

    rows.append(("as is", span(baseline), "", top(baseline)))
    for name, result in variants:
        delta = result.makespan - baseline.makespan
        sign = "-" if delta < 0 else "+"
        rows.append((name, span(result), f"{sign}{_duration_text(abs(delta))}", top(result)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\nWhat if:\n" + "\n".join(lines) + "\n"
