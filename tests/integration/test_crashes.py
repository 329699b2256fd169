"""The runner killed (SIGKILL) right after its k-th mutating request, for every k.

The scenario of scenario.py, with a TTL of 0 so that finished requests are also
deleted, is first played undisturbed through the fault proxy, which counts the
runner's mutating requests that change maintenance state: W status writes (requests
and limits, the commit point included), cordons, uncordons, evictions and deletes.
Then, for every k in 1..W, the scenario is built afresh and played again; the proxy
answers the k-th such request and at once kills the runner process with SIGKILL. Fresh
runner processes then play on to the end. The dead runner's Lease is aged by its
duration instead of waiting 60 s for it to expire (what the next CronJob run would
see). Lease and Event writes are not kill points of their own: a kill after one of
them leaves the same maintenance state as a kill after the write before it.

At every k: the invariant watcher sees no violation at any moment, every request was
Completed before its deletion, and the end state equals the undisturbed run's.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.faultproxy import FaultProxy
from tests.integration.conftest import ControlPlane, fresh_cluster
from tests.integration.invariants import end_state
from tests.integration.scenario import (
    Actor,
    PassResult,
    Scenario,
    build,
    drive,
    expected_end_state,
    runner_kubeconfig_via,
)
from tests.report import report

COUNTED = re.compile(
    r"/maintenance(requests|limits)/[^/]+(/status)?$|^/api/v1/nodes/[^/]+$|/eviction$"
)
LEASE = "/apis/coordination.k8s.io/v1/namespaces/repairman-system/leases/repairman-runner"


class Killer:
    """Counts counted writes as the proxy answers them; kills the runner at the k-th."""

    def __init__(self, kill_at: int | None) -> None:
        self.kill_at = kill_at
        self.count = 0
        self.pid = 0
        self.killed = ""

    def __call__(self, method: str, path: str, code: int) -> None:
        if method == "GET" or not COUNTED.search(path.split("?", 1)[0]):
            return
        self.count += 1
        if self.count == self.kill_at and self.pid:
            os.kill(self.pid, signal.SIGKILL)
            self.killed = f"{method} {path} -> {code}"


def runner_process(kubeconfig: Path, killer: Killer) -> PassResult:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from runner.cli import main; main()",
            "--kubeconfig",
            str(kubeconfig),
            "--until-stable",
            "--deadline",
            "20",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    killer.pid = process.pid
    _, err = process.communicate(timeout=60)
    killer.pid = 0
    if process.returncode == -signal.SIGKILL:
        return PassResult(0, [], "")  # the kill we asked for; checked by the caller
    return PassResult(process.returncode, err.splitlines(), "")


def age_the_lease(scenario: Scenario) -> None:
    """What 60 s would do: the dead holder's Lease expires."""
    lease = scenario.cluster.raw("GET", LEASE)
    if lease["spec"].get("holderIdentity"):
        past = datetime.now(UTC) - timedelta(seconds=120)
        lease["spec"]["renewTime"] = past.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        scenario.cluster.raw("PUT", LEASE, lease)


def play(
    control_plane: ControlPlane, proxy: FaultProxy, kubeconfig: Path, prefix: str, k: int | None
) -> dict[str, Any]:
    killer = Killer(k)
    proxy.on_answered = killer
    with fresh_cluster(control_plane, prefix) as cluster:
        scenario = build(cluster, ttl=0)
        watcher = scenario.watcher()
        actor = Actor(cluster)
        actor.start()

        def one_pass() -> PassResult:
            result = runner_process(kubeconfig, killer)
            if killer.killed and killer.pid == 0:
                age_the_lease(scenario)
            return result

        started = time.monotonic()
        try:
            results = drive(scenario, one_pass, passes=40)
        finally:
            actor.stop()
        violations = watcher.stop() + watcher.finished()
        return {
            "k": k,
            "writes": killer.count,
            "killed": killer.killed,
            "violations": violations,
            "unclean": [r.clean() for r in results if r.clean()],
            "last_states": watcher.last_state,
            "end": end_state(cluster),
            "expected": expected_end_state(scenario),
            "done": scenario.done(),
            "seconds": round(time.monotonic() - started, 1),
        }


def test_a_kill_after_any_write_leaves_no_violation_and_the_same_end(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    configuration = control_plane.api.configuration
    proxy = FaultProxy(configuration.host, configuration.ssl_ca_cert).start()
    try:
        kubeconfig = runner_kubeconfig_via(control_plane, proxy.url, tmp_path / "kubeconfig")
        reference = play(control_plane, proxy, kubeconfig, "t-crash-reference", None)
        assert reference["done"] and not reference["violations"], reference
        assert reference["end"] == reference["expected"]
        completed = {f"mr-{short}": "Completed" for short in ("a0", "a1", "b0")}
        assert reference["last_states"] == completed
        total = reference["writes"]
        assert total >= 20, f"a scenario of {total} writes is too small to mean much"
        problems = []
        runs: list[dict[str, Any]] = []
        kills = 0
        only = os.environ.get("REPAIRMAN_CRASH_K")  # to replay one k by hand
        for k in [int(only)] if only else range(1, total + 1):
            run = play(control_plane, proxy, kubeconfig, f"t-crash-k{k}", k)
            kills += bool(run["killed"])
            wrong = {key: run[key] for key in ("violations", "unclean") if run[key]}
            if not run["done"] or run["end"] != reference["end"]:
                wrong["end"] = run["end"]
            if run["last_states"] != completed:
                wrong["last_states"] = run["last_states"]
            if wrong:
                problems.append((k, run["killed"], wrong))
            runs.append({"k": k, "killed after": run["killed"], "seconds": run["seconds"]})
        report(
            "crashes",
            counted_writes=total,
            killed_runs=kills,
            reference_seconds=reference["seconds"],
            runs=runs,
            problems=len(problems),
        )
    finally:
        proxy.stop()
    assert not problems, problems[:3]
    # A run may write a little less than the reference (one pod fewer to evict): its
    # last k's then find nothing to kill. Nearly all must have been killed.
    if not only:
        assert kills >= total - 3, (kills, total)
