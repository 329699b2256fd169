"""A small maintenance scenario played to its end, for the fault and crash tests.

Three nodes (a0, a1 in zone a; b0 in zone b), a Deployment `web` of 3 replicas under a
PDB allowing 1 disruption, a node limit of 2 at once with drain, a zone-a limit of 1,
and one request per node. A simulated actor (a thread) starts every Approved request
and completes every InProgress one. The end state of an undisturbed run is known in
advance: every request Completed (or deleted, with a TTL of 0), no node cordoned, no
request listed active, 3 ready `web` pods — `expected_end_state` spells it out and
`test_faults.py::test_the_scenario_without_faults_ends_in_the_expected_state` checks
that an undisturbed run does end there.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from click.testing import CliRunner

from runner.cli import main
from tests.integration.cluster import Cluster
from tests.integration.conftest import GROUP, VERSION, ControlPlane, kubeconfig_with, token_for
from tests.integration.invariants import TERMINAL, InvariantWatcher, LimitRule, end_state
from tests.integration.test_runner import request_body

ZONES = {"a0": "a", "a1": "a", "b0": "b"}
LIMITS = [LimitRule("node", 2), LimitRule("zone-a", 1, zone="a")]


@attrs.define
class Scenario:
    cluster: Cluster
    nodes: dict[str, str]
    """short name -> full name"""
    ttl: int | None
    lease_namespace: str

    @property
    def zone_of(self) -> dict[str, str]:
        return {full: ZONES[short] for short, full in self.nodes.items()}

    def watcher(self) -> InvariantWatcher:
        return InvariantWatcher(self.cluster, limits=LIMITS, zone_of=self.zone_of).start()

    def done(self) -> bool:
        items = self.cluster.custom.list_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests"
        )["items"]
        finished = all((i.get("status") or {}).get("state") in TERMINAL for i in items)
        if self.ttl == 0:
            finished = not items
        state = end_state(self.cluster)
        return (
            finished
            and not any(by for _, by in state["nodes"].values())
            and not any(state["conditions"].values())
        )


def build(cluster: Cluster, *, ttl: int | None = None) -> Scenario:
    nodes = {short: cluster.node(short, zone=zone) for short, zone in ZONES.items()}
    cluster.wait_nodes_ready(list(nodes.values()))
    cluster.deployment("web", 3)
    cluster.pdb("web", max_unavailable=1)
    cluster.running_ready("web", 3)
    cluster.disruptions_allowed("web", 1)
    extra = {} if ttl is None else {"ttlSecondsAfterFinished": ttl}
    cluster.limit("node", limit=100, maxConcurrent=2, drain={"timeoutSeconds": 300}, **extra)
    cluster.zone_limit("a", maxConcurrent=1)
    for short, full in nodes.items():
        cluster.custom.create_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests", request_body(f"mr-{short}", full)
        )
    # The runner's Role lets it hold its Lease in repairman-system only.
    return Scenario(cluster, nodes, ttl, "repairman-system")


def expected_end_state(scenario: Scenario) -> dict[str, Any]:
    requests = (
        {}
        if scenario.ttl == 0
        else {f"mr-{short}": ("Completed", "Completed") for short in scenario.nodes}
    )
    return {
        "requests": requests,
        "limits": {"node": [], "zone-a": []},
        "nodes": {short: (False, None) for short in scenario.nodes},
        "conditions": {short: [] for short in scenario.nodes},
        "ready": {"web": 3},
    }


class Actor(threading.Thread):
    """Starts what is Approved, completes what is InProgress, every 0.3 s."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.stopping = threading.Event()

    def run(self) -> None:
        custom = self.cluster.custom
        while not self.stopping.is_set():
            try:
                items = custom.list_cluster_custom_object(GROUP, VERSION, "maintenancerequests")
                for item in items["items"]:
                    state = (item.get("status") or {}).get("state")
                    move = {
                        ("Approved", "Pending"): "InProgress",
                        ("InProgress", "InProgress"): "Completed",
                    }.get((state, item["spec"].get("state", "Pending")))
                    if move:
                        custom.patch_cluster_custom_object(
                            GROUP,
                            VERSION,
                            "maintenancerequests",
                            item["metadata"]["name"],
                            {"spec": {"state": move}},
                        )
            except Exception:  # a request deleted between list and patch: try again
                pass
            self.stopping.wait(0.3)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)


def runner_kubeconfig_via(control_plane: ControlPlane, server: str, path: Path) -> Path:
    """The runner ServiceAccount's kubeconfig, pointed at `server` (the fault proxy)."""
    token = token_for(control_plane, "repairman-system", "repairman-runner")
    return kubeconfig_with(control_plane, token, path, server=server)


@attrs.frozen
class PassResult:
    code: int
    lines: list[str]
    crashed: str = ""

    @property
    def logs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines if line.startswith("{")]

    def clean(self) -> str:
        """'' when the pass completed, or failed the way a pass may fail: exit 1 with
        one `error:` line, or with failed decisions each logged on one JSON line."""
        if self.crashed:
            return f"crashed: {self.crashed}"
        if self.code not in (0, 1):
            return f"exit {self.code}"
        others = [line for line in self.lines if not line.startswith("{")]
        if self.code == 0:
            return f"exit 0 with non-log output {others}" if others else ""
        failed = [
            entry
            for entry in self.logs
            if entry["event"] == "decision" and entry["result"] == "failed"
        ]
        if len(others) == 1 and others[0].startswith("error: ") and others == self.lines[-1:]:
            return ""
        if not others and failed:
            return ""
        return f"exit 1 without one clear error line: {self.lines[-5:]}"


def run_pass(kubeconfig: Path, scenario: Scenario, *args: str) -> PassResult:
    result = CliRunner().invoke(
        main,
        [*args, "--kubeconfig", str(kubeconfig), "--lease-namespace", scenario.lease_namespace],
    )
    crashed = ""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        crashed = repr(result.exception)
    return PassResult(result.exit_code, result.stderr.splitlines(), crashed)


def drive(
    scenario: Scenario,
    one_pass: Callable[[], PassResult],
    *,
    passes: int = 60,
    stop_when_done: bool = True,
) -> list[PassResult]:
    """Passes 0.3 s apart until the scenario is done and a pass wrote nothing."""
    results: list[PassResult] = []
    for _ in range(passes):
        result = one_pass()
        results.append(result)
        writes = [e.get("writes") for e in result.logs if e["event"] == "pass"]
        if stop_when_done and writes == [0] and result.code == 0 and scenario.done():
            return results
        time.sleep(0.3)
    return results
