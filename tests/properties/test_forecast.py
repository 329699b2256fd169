"""The forecast's simulated timelines never break an invariant of DESIGN §4.

Every pass of a forecast — generated snapshots, malformed ones included, played
forward with random actor timings — is checked like a single plan is in
test_invariants.py: limits, PDB budgets, admissions (windows, intervals, targets,
forward-only states), one active request per target, cordons owned. The model
cluster moves time, pods and actors between passes, so these are states no single
generated snapshot reaches.

The model keeps its books incrementally (PDB counts pod by pod, nodes by load in a
heap); at every pass they are checked against the same books made from scratch.
"""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from forecast import Model, Simulation, Spread
from policy import Plan
from policy.model import Snapshot
from tests.forecast_books import budgets_counted_from_scratch, check_scheduling
from tests.properties import invariants
from tests.properties.strategies import any_snapshots


def check(before: Snapshot, plan: Plan, after: Snapshot) -> None:
    invariants.limits_respected(before, plan)
    invariants.budgets_respected(before, plan)
    invariants.admissions_allowed(before, plan)
    invariants.one_active_per_target(after)
    invariants.cordons_owned(before, plan, after)


@settings(max_examples=40, deadline=None)
@given(
    snapshot=any_snapshots(),
    seed=st.integers(0, 2**16),
    start=st.sampled_from(["0s", "30s", "2m..20m"]),
    duration=st.sampled_from(["1m", "5m..30m", "90m"]),
)
def test_no_pass_of_a_forecast_breaks_an_invariant(
    snapshot: Snapshot, seed: int, start: str, duration: str
) -> None:
    model = Model(
        period=60,
        actor_start=Spread.parse(start),
        actor_duration=Spread.parse(duration),
        horizon=6 * 3600,
    )
    passes = []

    def observer(before: Snapshot, plan: Plan, after: Snapshot) -> None:
        check(before, plan, after)
        budgets_counted_from_scratch(before)
        passes.append(plan)

    simulation = Simulation(snapshot, model, seed=seed, observer=observer)
    check_scheduling(simulation)
    result = simulation.run()
    assert len(passes) == result.passes >= 1
    event(f"passes: {'1' if result.passes == 1 else '2-10' if result.passes <= 10 else '>10'}")
    event(f"finished: {result.finished}")
    event(f"pods rescheduled: {'yes' if simulation.spawned else 'no'}")
