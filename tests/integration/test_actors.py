"""Actors on the control plane: one uses only `kubectl repairman`, one only the Python
API, both with the repairman-actor RBAC of k8s/rbac.yaml, while the runner (with its
own ServiceAccount) passes once a second in the background.

The plugin runs as kubectl runs it: the real kubectl 1.20 binary finds the installed
`kubectl-repairman` console script on PATH.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import repairman
from tests.integration.cluster import Cluster, wait_until
from tests.integration.conftest import ControlPlane
from tests.integration.test_runner import request_body, status_of

BIN = Path(sys.executable).parent


class RunnerLoop(threading.Thread):
    """`runner` once a second, as separate processes, until stopped."""

    def __init__(self, kubeconfig: Path) -> None:
        super().__init__(daemon=True)
        self.kubeconfig = kubeconfig
        self.stopping = threading.Event()
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            done = subprocess.run(
                [str(BIN / "runner"), "--kubeconfig", str(self.kubeconfig)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                self.failures.append(done.stderr[-500:])
            self.stopping.wait(1.0)


@pytest.fixture
def runner_loop(runner_kubeconfig: Path) -> Iterator[RunnerLoop]:
    loop = RunnerLoop(runner_kubeconfig)
    loop.start()
    yield loop
    loop.stopping.set()
    loop.join(timeout=30)
    assert not loop.failures, loop.failures[:2]


def kubectl_repairman(
    control_plane: ControlPlane, kubeconfig: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [control_plane.kubectl_binary, "repairman", "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def test_an_actor_using_only_the_kubectl_plugin(
    cluster: Cluster,
    control_plane: ControlPlane,
    actor_kubeconfig: Path,
    runner_loop: RunnerLoop,
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.limit("node", limit=50, drain={"timeoutSeconds": 120})

    def plugin(*args: str) -> subprocess.CompletedProcess[str]:
        return kubectl_repairman(control_plane, actor_kubeconfig, *args)

    filed = plugin(
        "request", nodes[0], "--requester", "scripted-actor", "--reason", "bios",
        "--wait", "--timeout", "60s",
    )  # fmt: skip
    assert filed.returncode == 0, filed.stderr
    name = filed.stdout.strip().removeprefix("maintenancerequest/")
    assert "Approved" in filed.stderr.splitlines()[-1], "the wait reports progress"
    assert status_of(cluster, name)["state"] == "Approved"
    assert cluster.core.read_node(nodes[0]).spec.unschedulable

    # A second request for the other node waits: the limit allows one of two.
    second = plugin("request", nodes[1], "--requester", "scripted-actor", "-o", "json")
    assert second.returncode == 0, second.stderr
    second_name = json.loads(second.stdout)["metadata"]["name"]
    wait_until(
        "the second request explained", lambda: status_of(cluster, second_name).get("reason")
    )
    assert status_of(cluster, second_name)["reason"] == "LimitReached"

    started = plugin("start", name)
    assert started.returncode == 0 and "started" in started.stdout, started.stderr
    wait_until("InProgress recorded", lambda: status_of(cluster, name).get("state") == "InProgress")

    table = plugin("list", "-o", "wide")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split()[:6] == ["NAME", "TARGET", "REQUESTER", "STATE", "REASON", "AGE"]
    by_name = {row.split()[0]: row for row in rows}
    assert "InProgress" in by_name[name] and "LimitReached" in by_name[second_name]
    assert "limit node" in by_name[second_name], "wide shows the message"

    explained = plugin("explain", second_name)
    assert explained.returncode == 0, explained.stderr
    assert "LimitReached" in explained.stdout and "limit node" in explained.stdout
    # An actor may not read nodes and pods: the stored explanation, and the limits.
    assert "(no live explanation: forbidden: list" in explained.stdout
    limits = plugin("limits")
    assert limits.returncode == 0, limits.stderr
    assert limits.stdout.splitlines()[1].split()[:4] == ["node", "node", "1", "1"]

    completed = plugin("complete", name)
    assert completed.returncode == 0, completed.stderr
    wait_until("Completed", lambda: status_of(cluster, name).get("state") == "Completed")
    wait_until("node uncordoned", lambda: not cluster.core.read_node(nodes[0]).spec.unschedulable)

    withdrawn = plugin("withdraw", second_name)
    assert withdrawn.returncode == 0, withdrawn.stderr
    wait_until(
        "withdrawn",
        lambda: status_of(cluster, second_name).get("reason") == "Withdrawn",
    )
    # kubectl conventions: one-line errors, exit 1 for the cluster's no, 2 for usage.
    missing = plugin("start", "no-such-request")
    assert missing.returncode == 1 and missing.stderr.startswith("error: get maintenancerequests")
    assert len(missing.stderr.strip().splitlines()) == 1
    late = plugin("start", second_name)
    assert late.returncode == 1 and "Completed" in late.stderr
    usage = plugin("request", nodes[0])
    assert usage.returncode == 2 and "--requester" in usage.stderr
    assert "Examples:" in plugin("request", "--help").stdout


def test_an_actor_using_only_the_python_api(
    cluster: Cluster,
    control_plane: ControlPlane,
    actor_kubeconfig: Path,
    runner_loop: RunnerLoop,
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.limit("node", limit=50, drain={"timeoutSeconds": 120})
    lines: list[str] = []
    with repairman.maintenance(
        nodes[0],
        requester="python-actor",
        reason="firmware",
        timeout=60,
        poll=0.5,
        progress=lines.append,
        kubeconfig=str(actor_kubeconfig),
    ) as request:
        assert request.status["state"] == "Approved"
        assert cluster.core.read_node(nodes[0]).spec.unschedulable, "drained before approval"
        assert request.get()["spec"]["state"] == "InProgress"
        wait_until("InProgress recorded", lambda: request.status.get("state") == "InProgress")
    assert lines[-1].startswith(f"{request.name}: Approved")
    wait_until("Completed", lambda: request.status.get("state") == "Completed")
    wait_until("uncordoned", lambda: not cluster.core.read_node(nodes[0]).spec.unschedulable)

    # An exception inside the block ends the request too, and is not swallowed.
    with (
        pytest.raises(RuntimeError, match="firmware flash failed"),
        repairman.maintenance(
            nodes[1],
            requester="python-actor",
            timeout=60,
            poll=0.5,
            progress=None,
            kubeconfig=str(actor_kubeconfig),
        ) as failing,
    ):
        raise RuntimeError("firmware flash failed")
    assert failing.get()["spec"]["state"] == "Completed"
    wait_until("Completed", lambda: failing.status.get("state") == "Completed")

    # Not approved in time (a frozen limit): the request is withdrawn, the error says why.
    cluster.custom.patch_cluster_custom_object(
        "repairman.k8s.io", "v1", "maintenancelimits", "node", {"spec": {"limit": 0}}
    )
    with (
        pytest.raises(repairman.MaintenanceTimeout, match="not approved within 3 s"),
        repairman.maintenance(
            nodes[0],
            requester="python-actor",
            timeout=3,
            poll=0.5,
            progress=lines.append,
            kubeconfig=str(actor_kubeconfig),
        ),
    ):
        pytest.fail("the block must not run without approval")
    frozen = lines[-1].split(":")[0]
    wait_until("withdrawn", lambda: status_of(cluster, frozen).get("reason") == "Withdrawn")


def parse_tables(text: str) -> dict[str, dict[str, str]]:
    """kubectl's tables (several, blank-line separated), cut at the header's columns."""
    rows: dict[str, dict[str, str]] = {}
    for block in text.strip().split("\n\n"):
        header, *lines = block.splitlines()
        names = re.findall(r"\S+(?: \S+)*", header)
        starts = [header.index(name) for name in names]
        for line in lines:
            cells = [
                line[start : (starts[i + 1] if i + 1 < len(starts) else None)].strip()
                for i, start in enumerate(starts)
            ]
            rows[cells[0]] = dict(zip(names, cells, strict=True))
    return rows


def test_kubectl_get_and_describe_say_what_is_happening_and_why(
    cluster: Cluster, control_plane: ControlPlane, runner_kubeconfig: Path
) -> None:
    """After real passes, an operator with nothing but kubectl sees each request's
    state and reason, the message on -o wide, each limit's allowed and in-use count,
    and in `describe` the request's Events (every transition, with its message)."""
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.limit("node", limit=50, drain={"timeoutSeconds": 120})
    custom = cluster.custom
    for name, node in (("mr-first", nodes[0]), ("mr-second", nodes[1])):
        custom.create_cluster_custom_object(
            "repairman.k8s.io", "v1", "maintenancerequests", request_body(name, node)
        )
    for _ in range(2):  # admit and drain (an empty node), then approve
        done = subprocess.run(
            [str(BIN / "runner"), "--kubeconfig", str(runner_kubeconfig)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    tables = parse_tables(control_plane.kubectl("get", "mr,ml", "-o", "wide").stdout)
    first = tables["maintenancerequest.repairman.k8s.io/mr-first"]
    second = tables["maintenancerequest.repairman.k8s.io/mr-second"]
    assert (first["STATE"], first["REASON"]) == ("Approved", "Approved")
    assert (second["STATE"], second["REASON"]) == ("Pending", "LimitReached")
    assert second["MESSAGE"].startswith("limit node: 1 of 1 in use"), "wide says why"
    limit = tables["maintenancelimit.repairman.k8s.io/node"]
    assert (limit["LIMIT"], limit["ALLOWED"], limit["IN USE"]) == ("50", "1", "1"), limit
    described = control_plane.kubectl("describe", "mr", "mr-first").stdout
    assert "State:" in described and "Approved" in described
    events = described.split("Events:", 1)[1]
    for reason in ("Cordoning", "Approved"):
        assert reason in events, events
    assert "repairman-runner" in events


def test_explain_shows_the_live_reason_the_limits_and_the_pods_left(
    cluster: Cluster, control_plane: ControlPlane, runner_kubeconfig: Path
) -> None:
    """With the cluster readable (an operator's credentials), `explain` adds what a
    pass would say now, each limit of the type, and the pods still on the node with
    their PDBs and budgets."""
    node = cluster.nodes(1)[0]
    cluster.wait_nodes_ready([node])
    cluster.deployment("db", 2)
    cluster.pdb("db", min_available=2)
    cluster.running_ready("db", 2)
    cluster.disruptions_allowed("db", 0)
    cluster.limit("node", limit=100, drain={"timeoutSeconds": 600})
    cluster.custom.create_cluster_custom_object(
        "repairman.k8s.io", "v1", "maintenancerequests", request_body("mr-db", node)
    )
    passed = subprocess.run(
        [str(BIN / "runner"), "--kubeconfig", str(runner_kubeconfig)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert passed.returncode == 0, passed.stderr
    explained = kubectl_repairman(control_plane, control_plane.kubeconfig, "explain", "mr-db")
    assert explained.returncode == 0, explained.stderr
    out = explained.stdout
    assert "State:     Preparing (Draining)" in out, out
    assert "\nNow (" in out and "Preparing (Draining)" in out.split("\nNow (", 1)[1]
    limits = out.split("Limits of its type:\n", 1)[1].splitlines()
    assert limits[1].split()[:4] == ["node", "1", "1", "mr-db"], limits
    pods = out.split(f"Pods left on {node}:\n", 1)[1].splitlines()
    assert pods[0].split() == ["POD", "OWNER", "STATE", "PDB", "EVICTION"]
    assert len(pods) == 3 and all(
        "db (allows 0)" in row and row.endswith("spends 1") for row in pods[1:]
    ), pods
