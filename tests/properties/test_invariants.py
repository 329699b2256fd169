"""DESIGN §4's invariants as properties of `plan` over generated snapshots.

Covers invariants 1-6, 8 and 9 for a single pass (before, plan, and the plan applied by the
model cluster), determinism, and that planning never raises on any generated input
(malformed specs included). Multi-pass behaviour is in test_stateful.py; the
round-trip (invariant 7) in test_roundtrip.py.
"""

from datetime import timedelta
from typing import Any

import attrs
from hypothesis import given

from policy import plan
from policy.limit_spec import LimitSpec, parse_limit_spec
from policy.model import LimitStatus, MaintenanceLimit, Snapshot, TargetType
from tests.model import apply
from tests.properties import invariants
from tests.properties.strategies import any_snapshots


@given(any_snapshots())
def test_limits_never_exceeded_by_our_admissions(snapshot: Snapshot) -> None:
    invariants.limits_respected(snapshot, plan(snapshot))


@given(any_snapshots())
def test_rates_never_exceeded_by_our_admissions(snapshot: Snapshot) -> None:
    invariants.rates_respected(snapshot, plan(snapshot))


@given(any_snapshots())
def test_pdb_budgets_never_exceeded(snapshot: Snapshot) -> None:
    invariants.budgets_respected(snapshot, plan(snapshot))


@given(any_snapshots())
def test_one_active_request_per_target(snapshot: Snapshot) -> None:
    invariants.one_active_per_target(apply(snapshot, plan(snapshot)))


@given(any_snapshots())
def test_deterministic_and_idempotent(snapshot: Snapshot) -> None:
    first = plan(snapshot)
    assert plan(snapshot) == first
    invariants.no_repeated_action(first, plan(apply(snapshot, first)))


@given(any_snapshots())
def test_admissions_only_when_allowed_and_states_move_forward(snapshot: Snapshot) -> None:
    invariants.admissions_allowed(snapshot, plan(snapshot))


@given(any_snapshots())
def test_cordon_ownership(snapshot: Snapshot) -> None:
    result = plan(snapshot)
    invariants.cordons_owned(snapshot, result, apply(snapshot, result))


@given(any_snapshots())
def test_approved_nodes_stay_cordoned(snapshot: Snapshot) -> None:
    result = plan(snapshot)
    invariants.cordons_kept(snapshot, result, apply(snapshot, result))


@given(any_snapshots())
def test_approved_only_when_drained(snapshot: Snapshot) -> None:
    invariants.approvals_drained(snapshot, plan(snapshot))


@given(any_snapshots())
def test_the_approval_gate_passes_what_did_not_change(snapshot: Snapshot) -> None:
    result = plan(snapshot)
    invariants.gate_passes_when_nothing_changed(snapshot, result, apply(snapshot, result))


@given(any_snapshots())
def test_every_request_is_explained(snapshot: Snapshot) -> None:
    result = plan(snapshot)
    assert sorted(e.request for e in result.explanations) == sorted(
        r.name for r in snapshot.requests
    )
    for explanation in result.explanations:
        assert explanation.message


def _with_budget(snapshot: Snapshot, budget: dict[str, Any] | None) -> Snapshot:
    """The snapshot with one more limit over every node, 'broken', whose spec carries
    `budget` (none: no failure budget); its status records that mr-gone's maintenance
    of the first node finished a minute ago, and that node is NotReady."""
    first = snapshot.nodes[0].name
    spec: dict[str, Any] = {"type": "node", "limit": 100}
    if budget is not None:
        spec["failureBudget"] = budget
    broken = MaintenanceLimit(
        name="broken",
        uid="uid-broken",
        spec=spec,
        status=LimitStatus(finishes=(("mr-gone", first, snapshot.now - timedelta(minutes=1)),)),
    )
    down = tuple(attrs.evolve(n, ready=False) if n.name == first else n for n in snapshot.nodes)
    return attrs.evolve(snapshot, nodes=down, limits=(*snapshot.limits, broken))


@given(any_snapshots())
def test_a_tripped_failure_budget_admits_nothing_until_acknowledged(snapshot: Snapshot) -> None:
    """A budget of 0 with one node down after its maintenance admits nothing it governs;
    acknowledging that failure admits exactly what the same cluster without a budget
    would, on the next pass."""
    budget = {"maxUnhealthy": 0, "afterSeconds": 0, "withinSeconds": 3600}
    tripped = _with_budget(snapshot, budget)
    result = plan(tripped)
    invariants.admissions_allowed(tripped, result)
    if invariants.failure_budget_tripped(tripped, _broken(tripped)):
        assert not any(
            t.type is TargetType.NODE for t in invariants.admitted(tripped, result).values()
        )
    acknowledged = {**budget, "acknowledgedAt": tripped.now.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert invariants.admitted(
        _with_budget(snapshot, acknowledged), plan(_with_budget(snapshot, acknowledged))
    ) == invariants.admitted(_with_budget(snapshot, None), plan(_with_budget(snapshot, None)))


def _broken(snapshot: Snapshot) -> LimitSpec:
    parsed = parse_limit_spec("broken", snapshot.limits[-1].spec)
    assert isinstance(parsed, LimitSpec)
    return parsed


@given(any_snapshots())
def test_a_paused_limit_admits_nothing_and_resuming_admits_as_never_paused(
    snapshot: Snapshot,
) -> None:
    """Every valid limit paused: nothing any of them governs is admitted. Resumed
    (`paused: false`, what `kubectl repairman resume` writes): the next pass admits
    exactly what the same cluster never paused would."""

    def paused(value: bool | None) -> Snapshot:
        limits = []
        for limit in snapshot.limits:
            spec = limit.spec
            if isinstance(spec, dict):
                spec = {k: v for k, v in spec.items() if k != "paused"}
                if value is not None:
                    spec["paused"] = value
            limits.append(attrs.evolve(limit, spec=spec))
        return attrs.evolve(snapshot, limits=tuple(limits))

    held = paused(True)
    governed = [
        spec for m in held.limits if isinstance(spec := parse_limit_spec(m.name, m.spec), LimitSpec)
    ]
    for target in invariants.admitted(held, plan(held)).values():
        assert not any(invariants.governs(g, held, target) for g in governed), target
    resumed, never = paused(False), paused(None)
    assert invariants.admitted(resumed, plan(resumed)) == invariants.admitted(never, plan(never))
