"""API faults between the runner and the kube-apiserver (tests/faultproxy.py).

For each fault, the scenario of scenario.py is played through the fault proxy: every
pass either completes or fails cleanly (exit 1 with one `error:` line, or failed
decisions each on one log line; never a traceback), the invariant watcher sees no
violation at any moment, and once the fault is gone the passes converge to the same
end state as a run that never saw it. Each case also checks that its fault did fire,
and what the runner made of it (retried, deferred, failed the pass).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

import runner.kube
from tests import faultproxy
from tests.faultproxy import FaultProxy, Rule
from tests.integration.cluster import Cluster
from tests.integration.conftest import ControlPlane
from tests.integration.invariants import end_state
from tests.integration.scenario import (
    Actor,
    build,
    drive,
    expected_end_state,
    run_pass,
    runner_kubeconfig_via,
)

REQUEST_STATUS = r"/maintenancerequests/[^/]+/status"
LIMIT_STATUS = r"/maintenancelimits/[^/]+/status"
EVICTION = r"/pods/[^/]+/eviction"
NODE = r"^/api/v1/nodes/[^/?]+(\?[^/]*)?$"  # our node patches carry ?fieldManager=
EVENTS = r"/events$"


@pytest.fixture
def proxy(control_plane: ControlPlane) -> Iterator[FaultProxy]:
    configuration = control_plane.api.configuration
    started = FaultProxy(configuration.host, configuration.ssl_ca_cert, seed=5).start()
    yield started
    started.stop()


@pytest.fixture
def via_proxy(control_plane: ControlPlane, proxy: FaultProxy, tmp_path: Path) -> Path:
    return runner_kubeconfig_via(control_plane, proxy.url, tmp_path / "runner.kubeconfig")


@attrs.frozen
class Case:
    rules: tuple[Rule, ...]
    expect: str
    """retried: every pass exits 0 and retries are logged; failed: some pass exits 1;
    deferred: passes exit 0 and some decision is deferred or skipped; any: no claim."""


def once(fault: faultproxy.Fault, method: str, path: str, *nth: int) -> Rule:
    return Rule(fault, method=method, path=path, nth=frozenset(nth or (1,)))


CASES = {
    "429-retry-after-on-lists": Case(
        (once(faultproxy.status(429, retry_after=1), "GET", r"/nodes\?", 1, 2),), "retried"
    ),
    "429-without-retry-after-on-a-status-write": Case(
        (once(faultproxy.status(429), "PATCH", REQUEST_STATUS),), "retried"
    ),
    "409-on-a-request-status-write": Case(
        (once(faultproxy.status(409), "PATCH", REQUEST_STATUS, 1, 3),), "deferred"
    ),
    "409-at-the-commit-point": Case(
        (once(faultproxy.status(409), "PATCH", LIMIT_STATUS),), "deferred"
    ),
    # One node's pods (they are read several nodes at once: a0's, every try of it).
    "500-on-every-try-of-a-list": Case(
        (
            once(
                faultproxy.status(500),
                "GET",
                r"/api/v1/pods\?.*nodeName%3D[^&]*a0(&|$)",
                1,
                2,
                3,
                4,
            ),
        ),
        "failed",
    ),
    "500-after-a-cordon-was-made": Case(
        (once(faultproxy.status(500, after=True), "PATCH", NODE),), "failed"
    ),
    "503-with-retry-after-on-an-eviction": Case(
        (once(faultproxy.status(503, retry_after=1), "POST", EVICTION),), "failed"
    ),
    "503-with-retry-after-on-a-status-write": Case(
        (once(faultproxy.status(503, retry_after=1), "PATCH", REQUEST_STATUS, 2),), "retried"
    ),
    "reset-before-an-eviction": Case((once(faultproxy.reset(), "POST", EVICTION),), "failed"),
    "reset-after-an-admission-was-written": Case(
        (once(faultproxy.reset(after=True), "PATCH", REQUEST_STATUS),), "failed"
    ),
    "reset-on-a-read": Case((once(faultproxy.reset(), "GET", r"maintenancelimits"),), "retried"),
    "timeout-on-a-read": Case((once(faultproxy.delay(3), "GET", r"/api/v1/nodes\?"),), "retried"),
    "timeout-on-the-commit-point-write": Case(
        (once(faultproxy.delay(3), "PATCH", LIMIT_STATUS),), "failed"
    ),
    "410-between-list-pages": Case(
        (once(faultproxy.expire_continue(), "GET", r"/api/v1/nodes\?", 1),), "retried"
    ),
    "events-refused": Case(
        (Rule(faultproxy.status(500), method="POST", path=EVENTS, probability=1.0),), "retried"
    ),
    "random-mix": Case(
        (
            Rule(faultproxy.status(429, retry_after=0), probability=0.05),
            Rule(faultproxy.status(500), probability=0.04),
            Rule(faultproxy.status(503), method="write", probability=0.05),
            Rule(faultproxy.status(409), method="PATCH", probability=0.05),
            Rule(faultproxy.reset(), probability=0.03),
            Rule(faultproxy.reset(after=True), method="write", probability=0.03),
            Rule(faultproxy.status(500, after=True), method="write", probability=0.03),
        ),
        "any",
    ),
}


def test_the_scenario_without_faults_ends_in_the_expected_state(
    cluster: Cluster, proxy: FaultProxy, via_proxy: Path
) -> None:
    scenario = build(cluster)
    watcher = scenario.watcher()
    actor = Actor(cluster)
    actor.start()
    try:
        results = drive(scenario, lambda: run_pass(via_proxy, scenario))
    finally:
        actor.stop()
    assert not watcher.stop() + watcher.finished()
    assert [r.clean() for r in results] == [""] * len(results)
    assert all(r.code == 0 for r in results)
    assert end_state(cluster) == expected_end_state(scenario)
    assert watcher.peak["node"] == 2 and watcher.peak["zone-a"] == 1
    assert not proxy.faults()


@pytest.mark.parametrize("name", list(CASES))
def test_a_fault_leaves_no_violation_and_the_next_passes_converge(
    name: str,
    cluster: Cluster,
    proxy: FaultProxy,
    via_proxy: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = CASES[name]
    # Small pages, so that LISTs have a second page to cut; short waits.
    monkeypatch.setattr(runner.kube, "PAGE_SIZE", 2)
    monkeypatch.setattr(runner.kube, "BACKOFF", 0.1)
    scenario = build(cluster)
    watcher = scenario.watcher()
    actor = Actor(cluster)
    actor.start()
    try:
        for rule in case.rules:
            proxy.add(attrs.evolve(rule))
        faulty = drive(
            scenario,
            lambda: run_pass(via_proxy, scenario, "--request-timeout", "1"),
            passes=12,
            stop_when_done=False,
        )
        fired = proxy.faults()
        proxy.clear()
        after = drive(scenario, lambda: run_pass(via_proxy, scenario))
    finally:
        actor.stop()
    violations = watcher.stop() + watcher.finished()
    assert fired, "the fault never fired"
    assert [r.clean() for r in faulty + after] == [""] * len(faulty + after)
    assert not violations, violations[:5]
    assert end_state(cluster) == expected_end_state(scenario)
    assert all(r.code == 0 for r in after)
    logs = [entry for r in faulty for entry in r.logs]
    if case.expect == "retried":
        assert all(r.code == 0 for r in faulty), [r.lines[-3:] for r in faulty if r.code]
        if not name.startswith("events"):
            assert any(e["event"] == "retry" for e in logs) or name.startswith("410")
    elif case.expect == "failed":
        assert any(r.code == 1 for r in faulty)
    elif case.expect == "deferred":
        assert all(r.code == 0 for r in faulty)
        assert any(
            e["event"] == "decision" and e["result"] in ("deferred", "skipped") for e in logs
        ) or any(e["event"] == "decision" and "commit" in str(e) for e in logs)
