"""Outside gates (DESIGN §7 `gates`, policy.gates): readings in the snapshot hold a
limit's admissions when they find something, when they failed, and when they are
missing or stale (fail closed); an open gate lets them through."""

from __future__ import annotations

from datetime import timedelta

import attrs
from prometheus_client import generate_latest

from policy import UpdateLimitStatus, plan
from policy.model import (
    GateKind,
    GateReading,
    Node,
    RequestState,
    RequestStatus,
    Snapshot,
)
from policy.snapshot_format import dump
from policy.snapshot_load import load
from runner.metrics import RunMetrics
from tests.helpers import NOW, active, limit, nodes, request

PROMETHEUS = {"url": "http://prometheus:9090", "query": 'ALERTS{severity="critical"}'}
PODS = {"selector": {"matchLabels": {"app": "backup"}}}


def gated(*readings: GateReading, **gates: object) -> Snapshot:
    return Snapshot(
        now=NOW,
        nodes=nodes(3),
        limits=(limit("node", limit=100, gates=gates or {"prometheus": PROMETHEUS}),),
        requests=(
            request("mr-a", "n0"),
            request("mr-on", "n1", status=active(RequestState.PREPARING, "node/n1")),
        ),
        gates=readings,
    )


def reading(gate: GateKind = GateKind.PROMETHEUS, **fields: object) -> GateReading:
    return GateReading(limit="node", gate=gate, at=fields.pop("at", NOW), **fields)  # type: ignore[arg-type]


def test_an_open_gate_admits() -> None:
    assert plan(gated(reading())).explanation("mr-a").state.value == "Approved"


def test_firing_alerts_hold_admissions_and_name_the_series() -> None:
    series = ('ALERTS{alertname="NodeDown",severity="critical"}',)
    result = plan(gated(reading(found=series)))
    held = result.explanation("mr-a")
    assert held.reason.value == "AlertFiring"
    assert held.message == (
        'limit node: alert gate: 1 series matches ALERTS{severity="critical"}: '
        'ALERTS{alertname="NodeDown",severity="critical"}'
    )
    assert result.explanation("mr-on").state.value == "Approved", "what it admitted goes on"
    (status,) = [d.status for d in result.decisions if isinstance(d, UpdateLimitStatus)]
    assert status.held == "gate" and "alert gate" in status.message


def test_running_blocking_pods_hold_admissions() -> None:
    found = reading(GateKind.BLOCKING_PODS, found=("backups/nightly-1", "backups/nightly-2"))
    held = plan(gated(found, blockingPods=PODS)).explanation("mr-a")
    assert held.reason.value == "BlockingPods"
    assert "2 pods running matching app=backup: backups/nightly-1, backups/nightly-2" in (
        held.message
    )


def test_a_gate_that_cannot_be_evaluated_holds_admissions() -> None:
    """Fail closed: no reading, a failed one, or a stale one."""
    cases = {
        "not read in this pass": gated(),
        "connection refused": gated(reading(error="connection refused")),
        "more than 300s ago": gated(reading(at=NOW - timedelta(minutes=6))),
    }
    for words, snapshot in cases.items():
        held = plan(snapshot).explanation("mr-a")
        assert held.reason.value == "GateUnavailable", words
        assert words in held.message and "prometheus gate cannot be evaluated" in held.message
    # A reading of another limit or another gate is no reading of this one.
    other = attrs.evolve(reading(), limit="zone-a")
    assert plan(gated(other)).explanation("mr-a").reason.value == "GateUnavailable"
    both = gated(reading(), blockingPods=PODS, prometheus=PROMETHEUS)
    assert plan(both).explanation("mr-a").reason.value == "GateUnavailable"


def test_readings_round_trip_through_the_snapshot_format() -> None:
    snapshot = gated(
        reading(found=("up",)), reading(GateKind.BLOCKING_PODS, error="forbidden: pods")
    )
    assert load(dump(snapshot)) == snapshot


def test_the_held_metric_says_why_each_limit_is_held() -> None:
    """repairman_limit_held{limit, why}: 1 for a paused limit, one in a blackout, one
    whose failure budget is exceeded, one whose gates hold; 0 otherwise."""
    broken = RequestStatus(
        state=RequestState.COMPLETED,
        target="node/n1",
        preparing_since=NOW - timedelta(minutes=40),
        approved_at=NOW - timedelta(minutes=35),
        finished_at=NOW - timedelta(minutes=20),
    )
    snapshot = Snapshot(
        now=NOW,
        nodes=(Node("n0"), Node("n1", ready=False)),
        limits=(
            limit("a", type="node", limit=100, paused=True),
            limit(
                "b",
                type="node",
                limit=100,
                blackouts=[{"start": "2026-11-25T11:00", "end": "2026-11-25T13:00"}],
            ),
            limit("c", type="node", limit=100, gates={"prometheus": PROMETHEUS}),
            limit("d", type="node", limit=100),
            limit("e", type="node", limit=100, failureBudget={"maxUnhealthy": 0}),
        ),
        requests=(request("mr-x", "n1", state="Completed", status=broken),),
        gates=(attrs.evolve(reading(), limit="c", found=("up{}",)),),
    )
    metrics = RunMetrics()
    metrics.record_pass(plan(snapshot), [], 0, 0.0)
    text = generate_latest(metrics.registry(now=0.0)).decode()
    held = {
        line.split(" ")[0]: line.split(" ")[1]
        for line in text.splitlines()
        if line.startswith("repairman_limit_held{")
    }
    ones = sorted(key for key, value in held.items() if float(value) == 1)
    assert ones == [
        'repairman_limit_held{limit="a",why="paused"}',
        'repairman_limit_held{limit="b",why="blackout"}',
        'repairman_limit_held{limit="c",why="gate"}',
        'repairman_limit_held{limit="e",why="failure-budget"}',
    ]
    assert held['repairman_limit_held{limit="d",why="failure-budget"}'] == "0.0"
