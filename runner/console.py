"""What the runner says while it works: log lines on stderr, a live line on stdout.

`Logger` writes one JSON object a line (or text for a terminal). With `live`
(--until-stable with stdout on a terminal) a progress line is kept at the bottom of
stdout and rewritten in place after each pass; a log line clears it, prints, and draws
it again, so the two never run into each other. `progress_line` is that line.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

import attrs
import click

from policy import Plan, RequestState
from policy.decisions import Evict


@attrs.define
class Logger:
    text: bool = False
    verbose: bool = False
    live: bool = False
    progress: str = ""

    def __call__(self, event: str, **fields: Any) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self._clear()
        if self.text:
            details = " ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, ""))
            click.echo(f"{stamp} {event} {details}", err=True)
        else:
            click.echo(json.dumps({"time": stamp, "event": event, **fields}, default=str), err=True)
        self._draw()

    def show(self, line: str) -> None:
        if self.live:
            self._clear()
            self.progress = line
            self._draw()

    def done(self) -> None:
        if self.live and self.progress:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.progress = ""

    def _clear(self) -> None:
        if self.live and self.progress:
            sys.stdout.write("\r\x1b[K")
            sys.stdout.flush()

    def _draw(self) -> None:
        if self.live and self.progress:
            sys.stdout.write(self.progress)
            sys.stdout.flush()


def progress_line(number: int, plan: Plan, started: float) -> str:
    """pass 3 · 12.4 s · Pending 7, Preparing 1, Approved 2 · pods to evict 4"""
    states: dict[str, int] = {}
    for explanation in plan.explanations:
        states[explanation.state.value] = states.get(explanation.state.value, 0) + 1
    order = [state.value for state in RequestState]
    counts = ", ".join(f"{state} {states[state]}" for state in order if state in states)
    evictions = sum(isinstance(d, Evict) for d in plan.decisions)
    return (
        f"pass {number} · {time.monotonic() - started:.1f} s · "
        f"{counts or 'no requests'} · pods to evict {evictions}"
    )
