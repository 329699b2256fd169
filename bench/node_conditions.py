"""Benchmark: what publishing the node lifecycle conditions (DESIGN §8) costs a plan.

On the synthetic fleet of bench.synthetic (base: 5,000 nodes, 1,000 requests, 30,000
pods; and every count grown 10x), in this process: the median of 7 `plan` calls with
the phase (policy.node_conditions.publish) and without it, each with the garbage
collector as the runner has it while planning (runner.passes.planned: paused); on a
fleet that shows no conditions yet (the first pass after an upgrade: a
SetNodeConditions per node an active request holds) and on the fleet after that plan
was applied (the steady state: none).
Each SetNodeConditions costs the runner one node GET, at most one request GET per
request involved, and one PATCH (runner/node_status.py).

    python -m bench.node_conditions
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

import policy.planner
from bench.synthetic import synthetic
from policy import Plan, SetNodeConditions, Snapshot, plan
from runner.memory import collector_paused
from tests.model import apply


def timed(call: Callable[[], Plan], repeat: int = 7) -> tuple[float, Plan]:
    seconds = []
    result = call()
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        with collector_paused():
            result = call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def conditions(result: Plan) -> int:
    return sum(isinstance(d, SetNodeConditions) for d in result.decisions)


def with_and_without(snapshot: Snapshot) -> tuple[float, float, Plan]:
    """Milliseconds to plan with the phase and without it, and the plan."""
    with_phase, result = timed(lambda: plan(snapshot))
    phase = policy.planner.node_conditions.publish
    policy.planner.node_conditions.publish = lambda state: None  # type: ignore[assignment]
    try:
        without, _ = timed(lambda: plan(snapshot))
    finally:
        policy.planner.node_conditions.publish = phase  # type: ignore[assignment]
    return with_phase * 1000, without * 1000, result


def measure(snapshot: Snapshot) -> dict[str, float]:
    first_with, first_without, first = with_and_without(snapshot)
    after = apply(snapshot, first)
    next_with, next_without, again = with_and_without(after)
    return {
        "first_with_ms": first_with,
        "first_without_ms": first_without,
        "first_pass": conditions(first),
        "next_with_ms": next_with,
        "next_without_ms": next_without,
        "next_pass": conditions(again),
    }


def main() -> None:
    print("                                 first pass (none shown)      next pass (all shown)")
    print("size   nodes requests    pods   with  without  decisions    with  without  decisions")
    for scale in (1, 10):
        snapshot = synthetic(nodes=5000 * scale, requests=1000 * scale, pods=30000 * scale)
        f = measure(snapshot)
        sizes = f"{len(snapshot.nodes):>7} {len(snapshot.requests):>8} {len(snapshot.pods):>7}"
        first = f"{f['first_with_ms']:>5.0f} ms {f['first_without_ms']:>5.0f} ms"
        after = f"{f['next_with_ms']:>5.0f} ms {f['next_without_ms']:>5.0f} ms"
        print(
            f"{scale:>3}x {sizes} {first} {f['first_pass']:>8.0f}  {after} {f['next_pass']:>8.0f}"
        )


if __name__ == "__main__":
    main()
