"""The reboot agent (repairman-agent) on the control plane, as an OS-patching rollout.

One agent per simulated node runs as a local process with the agent's own RBAC
(k8s/agent/rbac.yaml, a token of its ServiceAccount), its own sentinel file in a
temporary directory, and a reboot command the test provides: the command only asks
the test's "power" thread for a reboot (as `systemctl reboot` asks systemd) and
returns; the power thread then does what a reboot does — the agent's process dies
(SIGKILL), the node goes NotReady, /var/run is emptied (the sentinel goes), the boot
ID changes, and after a few seconds the node is Ready again and the agent starts
anew. The runner's passes run in the test's thread, with the runner's own RBAC.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cluster import Cluster, wait_until
from tests.integration.conftest import (
    GROUP,
    ROOT,
    VERSION,
    ControlPlane,
    kubeconfig_with,
    token_for,
)
from tests.integration.invariants import InvariantWatcher, LimitRule
from tests.integration.scenario import PassResult
from tests.integration.test_runner import runner as run_runner

AGENT = str(Path(sys.executable).parent / "repairman-agent")
REBOOT_COMMAND = f"{sys.executable} -c 'import os, sys; open(sys.argv[1], \"w\").close()'"


class Power:
    """The nodes' power: reboots that the agents' reboot commands ask for, and the
    agents' processes, (re)started as a node's boot would."""

    def __init__(
        self,
        cluster: Cluster,
        control_plane: ControlPlane,
        directory: Path,
        kubeconfig: Path,
        *,
        down_seconds: float = 3.0,
        shutdown_seconds: float = 0.0,
        agent_before_ready: bool = False,
        poll: str = "0.5s",
    ) -> None:
        self.cluster, self.kubelet = cluster, control_plane.kubelet  # type: ignore[attr-defined]
        self.directory, self.kubeconfig = directory, kubeconfig
        self.down_seconds = down_seconds
        self.shutdown_seconds = shutdown_seconds
        """From the reboot command to the power going: the agent runs on meanwhile."""
        self.agent_before_ready = agent_before_ready
        """After the boot, the agent starts before the node reports Ready."""
        self.poll = poll
        self.lock = threading.RLock()
        self.agents: dict[str, subprocess.Popen[bytes]] = {}
        self.reboots: dict[str, list[tuple[float, float]]] = {}
        """node -> (went down, came back) of every reboot."""
        self.boots: dict[str, str] = {}
        self.asks: dict[str, int] = {}
        """node -> how many times its reboot command ran (the power saw it)."""
        self.stopping = threading.Event()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def sentinel(self, node: str) -> Path:
        return self.directory / node / "reboot-required"

    def boot(self, node: str, *, ready: bool = True) -> str:
        """A new boot ID for the node, as its kubelet would report after a boot; with
        `ready` False, in the same write as Ready False (its first status, the runtime
        not yet up), so that no one reads the new boot ID beside the old boot's Ready."""
        self.boots[node] = str(uuid.uuid4())
        status: dict[str, Any] = {"nodeInfo": {"bootID": self.boots[node]}}
        if not ready:
            status["conditions"] = [
                {"type": "Ready", "status": "False", "reason": "KubeletNotReady"}
            ]
        self.cluster.core.patch_node_status(node, {"status": status})
        return self.boots[node]

    def restart_agent(self, node: str) -> None:
        with self.lock:
            self.kill_agent(node)
            self.start_agent(node)

    def start_agent(self, node: str) -> None:
        (self.directory / node).mkdir(parents=True, exist_ok=True)
        log = (self.directory / node / "agent.log").open("ab")
        asked = self.directory / node / "reboot-asked"
        self.agents[node] = subprocess.Popen(
            [
                # Killed with the test if it is killed (the thread that started it ends).
                "setpriv",
                "--pdeathsig",
                "KILL",
                "--",
                AGENT,
                "--node",
                node,
                "--kubeconfig",
                str(self.kubeconfig),
                "--period",
                "1s",
                "--poll",
                self.poll,
                "--reboot-sentinel",
                str(self.sentinel(node)),
                "--reboot-command",
                f"{REBOOT_COMMAND} {asked}",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )

    def kill_agent(self, node: str) -> None:
        with self.lock:
            process = self.agents.pop(node, None)
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)

    def log(self, node: str) -> list[dict[str, Any]]:
        path = self.directory / node / "agent.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines if line.startswith("{")]

    def start(self) -> Power:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)
        for node in list(self.agents):
            self.kill_agent(node)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            for node in list(self.agents):
                asked = self.directory / node / "reboot-asked"
                if asked.exists():
                    try:
                        self._reboot(node, asked)
                    except Exception as error:  # the test reads .errors
                        self.errors.append(f"{node}: {error!r}")
            self.stopping.wait(0.1)

    def _reboot(self, node: str, asked: Path) -> None:
        asked.unlink()
        self.asks[node] = self.asks.get(node, 0) + 1
        time.sleep(self.shutdown_seconds)
        with self.lock:
            went_down = time.monotonic()
            self.kill_agent(node)  # the power goes: no clean stop
            self.kubelet.not_ready.add(node)
            self.sentinel(node).unlink(missing_ok=True)  # /var/run is a tmpfs
            self.sentinel(node).with_name("reboot-required.pkgs").unlink(missing_ok=True)
            self.boot(node, ready=False)
            if self.agent_before_ready:
                self.start_agent(node)
        time.sleep(self.down_seconds)
        self.kubelet.not_ready.discard(node)
        self.reboots.setdefault(node, []).append((went_down, time.monotonic()))
        if not self.agent_before_ready:
            self.start_agent(node)


@pytest.fixture
def agent_kubeconfig(control_plane: ControlPlane, tmp_path: Path) -> Path:
    """The agent's ServiceAccount from k8s/agent/rbac.yaml, as a kubeconfig."""
    control_plane.kubectl("apply", "-f", str(ROOT / "k8s" / "agent" / "rbac.yaml"))
    token = token_for(control_plane, "repairman-system", "repairman-agent")
    return kubeconfig_with(control_plane, token, tmp_path / "agent.kubeconfig")


@contextlib.contextmanager
def powered(
    cluster: Cluster,
    control_plane: ControlPlane,
    tmp_path: Path,
    kubeconfig: Path,
    nodes: list[str],
    **options: Any,
) -> Iterator[Power]:
    power = Power(cluster, control_plane, tmp_path / "nodes", kubeconfig, **options).start()
    try:
        for node in nodes:
            power.boot(node)
        yield power
    finally:
        power.stop()
        for node in nodes:
            control_plane.kubelet.not_ready.discard(node)  # type: ignore[attr-defined]


def requests_of(cluster: Cluster) -> list[dict[str, Any]]:
    return list(
        cluster.custom.list_cluster_custom_object(GROUP, VERSION, "maintenancerequests")["items"]
    )


def one_pass(runner_kubeconfig: Path) -> PassResult:
    code, _out, logs = run_runner(runner_kubeconfig)
    return PassResult(code, [json.dumps(entry) for entry in logs])


def test_an_os_patching_rollout_reboots_each_node_once_within_the_limits(
    control_plane: ControlPlane,
    cluster: Cluster,
    tmp_path: Path,
    runner_kubeconfig: Path,
    agent_kubeconfig: Path,
) -> None:
    """Six nodes in two zones, at most one per zone at a time, cordoned and drained; a
    Deployment under a PDB. Five nodes need a reboot, the sixth does not. Every one of
    the five reboots exactly once, never two of a zone at once, the PDB is never broken
    (the invariant watcher), and the sixth is never touched."""
    nodes = {zone: cluster.nodes(3, zone=zone) for zone in ("a", "b")}
    every = nodes["a"] + nodes["b"]
    cluster.wait_nodes_ready(every)
    cluster.deployment("web", 4)
    cluster.pdb("web", max_unavailable=1)
    cluster.running_ready("web", 4)
    cluster.disruptions_allowed("web", 1)
    drain = {"timeoutSeconds": 300, "gracePeriodSeconds": 0}
    for zone in ("a", "b"):
        cluster.zone_limit(zone, maxConcurrent=1, drain=drain)
    spared = nodes["b"][2]
    zone_of = {node: zone for zone, members in nodes.items() for node in members}
    watcher = InvariantWatcher(
        cluster,
        limits=[LimitRule("zone-a", 1, zone="a"), LimitRule("zone-b", 1, zone="b")],
        zone_of=zone_of,
    ).start()
    with powered(cluster, control_plane, tmp_path, agent_kubeconfig, every) as power:
        for node in every:
            (power.directory / node).mkdir(parents=True, exist_ok=True)
            if node != spared:
                power.sentinel(node).write_text("*** System restart required ***\n")
                power.sentinel(node).with_name("reboot-required.pkgs").write_text("linux-image\n")
            power.start_agent(node)
        try:

            def done() -> bool:
                result = one_pass(runner_kubeconfig)
                assert result.clean() == "", result.lines[-5:]
                finished = [
                    r
                    for r in requests_of(cluster)
                    if (r.get("status") or {}).get("state") == "Completed"
                ]
                return (
                    len(finished) == 5
                    and len(power.reboots) == 5
                    and not any(cluster.core.read_node(n).spec.unschedulable for n in every)
                )

            wait_until("every needed reboot done", done, timeout=300)
        finally:
            violations = watcher.stop()
        assert power.errors == [], power.errors
        logs = {node: power.log(node) for node in every}
    assert violations == [], violations
    assert watcher.finished() == [], watcher.finished()
    assert {node: len(times) for node, times in power.reboots.items()} == {
        node: 1 for node in every if node != spared
    }
    for zone, members in nodes.items():
        spans = sorted(span for node in members for span in power.reboots.get(node, []))
        for (_, came_back), (went_down, _) in itertools.pairwise(spans):
            assert came_back <= went_down, f"two reboots at once in zone {zone}: {spans}"
    requests = requests_of(cluster)
    assert sorted(r["spec"]["name"] for r in requests) == sorted(n for n in every if n != spared)
    for request in requests:
        assert request["spec"]["requester"] == "reboot-agent"
        assert request["spec"]["reason"] == "reboot required by linux-image"
        assert request["status"]["state"] == "Completed", request["status"]
    assert not [e for e in logs[spared] if e["event"] not in ("started", "idle")], logs[spared]
    assert cluster.core.read_node(spared).spec.unschedulable is None


class RunnerPasses(threading.Thread):
    """`runner` passes, a second apart, as processes with the runner's RBAC."""

    def __init__(self, kubeconfig: Path) -> None:
        super().__init__(daemon=True)
        self.kubeconfig = kubeconfig
        self.stopping = threading.Event()
        self.failures: list[str] = []

    def run(self) -> None:
        program = str(Path(sys.executable).parent / "runner")
        while not self.stopping.is_set():
            done = subprocess.run(
                [program, "--kubeconfig", str(self.kubeconfig)],
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            if done.returncode != 0:
                self.failures.append(done.stderr[-2000:])
            self.stopping.wait(1.0)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=150)


def test_an_agent_killed_at_every_step_reboots_its_node_exactly_once(
    control_plane: ControlPlane,
    cluster: Cluster,
    tmp_path: Path,
    runner_kubeconfig: Path,
    agent_kubeconfig: Path,
) -> None:
    """The agent's process is killed (SIGKILL) and started again at each step: before
    it filed, while its request waits, after it declared InProgress, inside the
    reboot (the command sent, the power not yet gone), and after the boot before the
    node is Ready. One request, one reboot, Completed, the node uncordoned."""
    (node,) = cluster.nodes(1)
    cluster.wait_nodes_ready([node])
    cluster.zone_limit("a", maxConcurrent=1, drain={"timeoutSeconds": 300})
    passes = RunnerPasses(runner_kubeconfig)
    killed: list[str] = []
    seen = 0
    with powered(
        cluster,
        control_plane,
        tmp_path,
        agent_kubeconfig,
        [node],
        poll="3s",
        shutdown_seconds=6.0,
        down_seconds=6.0,
        agent_before_ready=True,
    ) as power:

        def kill_after(event: str, contains: str = "", *, asked: int = 0) -> None:
            """At the agent's next `event` (its log), once its reboot command has run
            `asked` times, kill it and start it again."""

            def logged() -> bool:
                nonlocal seen
                entries = power.log(node)
                for index in range(seen, len(entries)):
                    entry = entries[index]
                    if entry["event"] == event and contains in str(entry.get("why", "")):
                        seen = index + 1
                        return True
                return False

            wait_until(f"the agent's {event} {contains}".strip(), logged, timeout=90)
            # The log line comes before the command: killed between the two, the agent
            # rightly waits --reboot-timeout (10 min) for a reboot that never comes.
            wait_until(
                "the reboot command ran", lambda: power.asks.get(node, 0) >= asked, timeout=30
            )
            power.restart_agent(node)
            killed.append(event)

        power.start_agent(node)
        kill_after("idle")  # before filing: nothing needed yet
        power.sentinel(node).write_text("*** System restart required ***\n")
        kill_after("filed")  # its request waits: no runner pass yet
        assert len(requests_of(cluster)) == 1
        passes.start()
        try:
            kill_after("in-progress")  # InProgress declared, the reboot not begun
            kill_after("rebooting", asked=1)  # the command sent, the power not yet gone
            kill_after("waiting", "rebooted")  # booted, the node not yet Ready
            wait_until(
                "the request Completed and the node uncordoned",
                lambda: (
                    [(r.get("status") or {}).get("state") for r in requests_of(cluster)]
                    == ["Completed"]
                    and not cluster.core.read_node(node).spec.unschedulable
                ),
                timeout=120,
            )
        finally:
            passes.stop()
        assert power.errors == [], power.errors
    assert killed == ["idle", "filed", "in-progress", "rebooting", "waiting"]
    assert len(power.reboots.get(node, [])) == 1, power.reboots
    assert len(requests_of(cluster)) == 1
    assert passes.failures == [], passes.failures


def test_a_closed_window_then_a_blocking_pod_hold_every_agent(
    control_plane: ControlPlane,
    cluster: Cluster,
    tmp_path: Path,
    runner_kubeconfig: Path,
    agent_kubeconfig: Path,
) -> None:
    """Three nodes need a reboot. While the limit's window is closed, every agent's
    request waits (WindowClosed) and no node is cordoned or rebooted; with the window
    open and a backup pod running that the limit's blockingPods gate names, they wait
    (BlockingPods); once the pod is gone, each node reboots once, one at a time."""
    nodes = cluster.nodes(3)
    cluster.wait_nodes_ready(nodes)
    cluster.core.patch_namespace(
        cluster.namespace,
        {"metadata": {"labels": {"kubernetes.io/metadata.name": cluster.namespace}}},
    )
    later = (datetime.now(UTC) + timedelta(days=3)).strftime("%a")
    closed = [{"days": [later], "start": "00:00", "end": "00:01", "timeZone": "UTC"}]
    gates = {
        "blockingPods": {
            "selector": {"matchLabels": {"app": "backup"}},
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": cluster.namespace}
            },
        }
    }
    cluster.zone_limit(
        "a", maxConcurrent=1, drain={"timeoutSeconds": 300}, windows=closed, gates=gates
    )
    passes = RunnerPasses(runner_kubeconfig)

    def held(reason: str) -> None:
        def all_held() -> bool:
            found = requests_of(cluster)
            return len(found) == 3 and all(
                (r.get("status") or {}).get("reason") == reason for r in found
            )

        wait_until(f"every request {reason}", all_held, timeout=60)
        time.sleep(5)  # passes go on: still nothing moves
        assert all((r.get("status") or {}).get("state") == "Pending" for r in requests_of(cluster))
        assert not any(cluster.core.read_node(node).spec.unschedulable for node in nodes)
        assert power.reboots == {}

    with powered(cluster, control_plane, tmp_path, agent_kubeconfig, nodes) as power:
        for node in nodes:
            (power.directory / node).mkdir(parents=True, exist_ok=True)
            power.sentinel(node).write_text("*** System restart required ***\n")
            power.start_agent(node)
        passes.start()
        try:
            held("WindowClosed")
            cluster.unmanaged_pod("nightly", nodes[0], labels={"app": "backup"}, grace=0)
            cluster.custom.patch_cluster_custom_object(
                GROUP, VERSION, "maintenancelimits", "zone-a", {"spec": {"windows": None}}
            )
            held("BlockingPods")
            cluster.core.delete_namespaced_pod("nightly", cluster.namespace, grace_period_seconds=0)
            wait_until(
                "every node rebooted and its request Completed",
                lambda: (
                    len(power.reboots) == 3
                    and all(
                        (r.get("status") or {}).get("state") == "Completed"
                        for r in requests_of(cluster)
                    )
                ),
                timeout=180,
            )
        finally:
            passes.stop()
        assert power.errors == [], power.errors
    assert {node: len(spans) for node, spans in power.reboots.items()} == dict.fromkeys(nodes, 1)
    spans = sorted(span for each in power.reboots.values() for span in each)
    for (_, came_back), (went_down, _) in itertools.pairwise(spans):
        assert came_back <= went_down, spans
    assert passes.failures == [], passes.failures
