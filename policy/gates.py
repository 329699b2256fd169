"""Outside gates (DESIGN §7 `gates`): firing alerts and running blocker pods hold a
limit's admissions, as kured's `--prometheus-url` and `--blocking-pod-selector` do.

Pure. The runner reads each gate a valid limit asks for (runner.gates) into the
snapshot with the instant it read it; here those readings become causes. A gate with
no reading (a snapshot recorded by an older runner, a read that never happened), a
reading that failed (Prometheus unreachable, a bad query, no permission to list pods)
or one older than `MAX_READING_AGE` holds admissions and says why: fail closed.
Gates hold admissions only; what a limit admitted before goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from policy.explain import AlertFiring, BlockingPodsFound, GateUnavailable, at
from policy.limit_spec import LimitSpec
from policy.model import GateKind, GateReading

MAX_READING_AGE = 300
"""Seconds: a reading older than this (a snapshot replayed much later) is no reading."""

Gated = AlertFiring | BlockingPodsFound | GateUnavailable


def gate_causes(
    spec: LimitSpec, readings: Mapping[tuple[str, GateKind], GateReading], now: datetime
) -> tuple[Gated, ...]:
    """Why `spec`'s gates hold its admissions now (none: they let them through)."""
    causes: list[Gated] = []
    gates = spec.gates
    if gates.prometheus is not None:
        reading = readings.get((spec.name, GateKind.PROMETHEUS))
        problem = _unusable(reading, now)
        if problem is not None:
            causes.append(GateUnavailable(spec.name, "prometheus", problem))
        elif reading is not None and reading.found:
            causes.append(AlertFiring(spec.name, gates.prometheus.query, reading.found))
    if gates.blocking_pods is not None:
        reading = readings.get((spec.name, GateKind.BLOCKING_PODS))
        problem = _unusable(reading, now)
        if problem is not None:
            causes.append(GateUnavailable(spec.name, "blockingPods", problem))
        elif reading is not None and reading.found:
            selector = gates.blocking_pods.selector.query()
            causes.append(BlockingPodsFound(spec.name, selector, reading.found))
    return tuple(causes)


def _unusable(reading: GateReading | None, now: datetime) -> str | None:
    if reading is None:
        return "not read in this pass"
    if reading.error:
        return reading.error
    if reading.at < now - timedelta(seconds=MAX_READING_AGE):
        return f"read at {at(reading.at)}, more than {MAX_READING_AGE}s ago"
    return None
