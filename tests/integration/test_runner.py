"""The runner against the real control plane, with its own ServiceAccount token.

Covers: `runner --plan` reads and explains but writes nothing; a full node lifecycle
through real objects — admission, cordon with the cordoned-by annotation, evictions one
PDB budget at a time with the real ReplicaSet rescheduling pods elsewhere, drained,
grace period, approval, the actor's InProgress and Completed, uncordon; a second pass on an
unchanged cluster writes nothing; record -> replay plans exactly what was planned
from the live read; one-line errors for bad credentials, a missing permission and
missing CRDs. Timeouts and the rest of the lifecycle are in test_runner_lifecycle.py,
overlap, leases and --until-stable in test_runner_safety.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from policy import plan
from runner.cli import main
from runner.kube import Kube
from runner.read import read_cluster
from runner.snapshot_file import read_snapshot, write_snapshot
from tests.integration.cluster import Cluster, wait_until
from tests.integration.conftest import GROUP, SCRIPT, VERSION, ControlPlane, token_for


def runner(kubeconfig: Path, *args: str) -> tuple[int, str, list[dict[str, Any]]]:
    result = CliRunner().invoke(main, [*args, "--kubeconfig", str(kubeconfig)])
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    return result.exit_code, result.stdout, logs


def request_body(name: str, node: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MaintenanceRequest",
        "metadata": {"name": name},
        "spec": {"type": "node", "name": node, "requester": "test-actor", "reason": "kernel"},
    }


def limit_body(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MaintenanceLimit",
        "metadata": {"name": name},
        "spec": spec,
    }


def status_of(cluster: Cluster, name: str) -> dict[str, Any]:
    obj = cluster.custom.get_cluster_custom_object(GROUP, VERSION, "maintenancerequests", name)
    return dict(obj.get("status") or {})


def everything(cluster: Cluster) -> dict[str, str]:
    """resourceVersion of every object a pass may touch."""
    versions = {}
    for plural in ("maintenancerequests", "maintenancelimits"):
        for item in cluster.custom.list_cluster_custom_object(GROUP, VERSION, plural)["items"]:
            versions[f"{plural}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    for node in cluster.core.list_node(
        label_selector=f"repairman.test/prefix={cluster.prefix}"
    ).items:
        versions[f"node/{node.metadata.name}"] = "cordoned" if node.spec.unschedulable else "open"
    for pod in cluster.pods():
        versions[f"pod/{pod.metadata.name}"] = (
            "terminating" if pod.metadata.deletion_timestamp else "live"
        )
    return versions


@pytest.fixture
def three_nodes(cluster: Cluster) -> Iterator[list[str]]:
    nodes = cluster.nodes(3)
    cluster.wait_nodes_ready(nodes)
    yield nodes


def test_plan_writes_nothing(
    cluster: Cluster, three_nodes: list[str], runner_kubeconfig: Path
) -> None:
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancelimits", limit_body("node", limit=50)
    )
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-dry", three_nodes[0])
    )
    before = everything(cluster)
    code, out, _ = runner(runner_kubeconfig, "--plan")
    assert code == 0
    assert "mr-dry" in out and "Approved" in out
    assert everything(cluster) == before
    assert status_of(cluster, "mr-dry") == {}


def test_passes_in_a_row_on_an_unchanged_cluster_write_nothing_again(
    cluster: Cluster, three_nodes: list[str], runner_kubeconfig: Path
) -> None:
    """The runner reads the API server's clock in whole seconds (the Date of its
    answers): passes within one second each plan at a slightly different instant, and
    one may plan microseconds before the approvedAt an earlier one wrote. That is not a
    time in the future to write back (it was, every pass or two: approvedAt went
    .000154, .000016, .000015, the CI's "unchanged cluster wrote 1"). Thirty passes
    back to back: after the approval's two, none writes."""
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancelimits", limit_body("node", limit=34)
    )
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", three_nodes[0])
    )
    written = []
    for _ in range(30):
        code, _, logs = runner(runner_kubeconfig)
        assert code == 0, logs
        written.append([(e["action"], e.get("request")) for e in logs if "action" in e])
    assert status_of(cluster, "mr-a")["state"] == "Approved"
    assert [w for w in written[2:] if w] == [], written


def test_node_lifecycle_with_drain_under_a_pdb(
    cluster: Cluster, three_nodes: list[str], runner_kubeconfig: Path
) -> None:
    target = cluster.web_under_a_pdb(three_nodes, 3)
    cluster.daemonset("exporter")
    cluster.running_ready("exporter", 3)
    cluster.custom.create_cluster_custom_object(
        GROUP,
        VERSION,
        "maintenancelimits",
        limit_body(
            "node",
            limit=34,
            drain={"timeoutSeconds": 300, "gracePeriodSeconds": 2},
            approvedTimeoutSeconds=600,
        ),
    )
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
    )

    def one_pass() -> list[dict[str, Any]]:
        code, _, logs = runner(runner_kubeconfig)
        assert code == 0, logs
        return logs

    logs = one_pass()
    node = cluster.core.read_node(target)
    assert node.spec.unschedulable
    assert node.metadata.annotations["repairman.k8s.io/cordoned-by"] == "mr-a"
    evicted = [entry for entry in logs if entry.get("action") == "Evict"]
    assert len(evicted) <= 1, "one PDB budget allows one eviction per pass"

    reasons = []

    def approved() -> bool:
        one_pass()
        reasons.append(status_of(cluster, "mr-a").get("reason"))
        return status_of(cluster, "mr-a").get("state") == "Approved"

    wait_until("mr-a Approved", approved, timeout=60)
    assert "DrainGracePeriod" in reasons, reasons  # drained, then the grace, then approval
    status = status_of(cluster, "mr-a")
    assert status["drainedAt"] and status["approvedAt"] and status["target"] == f"node/{target}"
    web_now = cluster.running_ready("web", 3)
    assert all(p.spec.node_name != target for p in web_now)
    exporters = cluster.running_ready("exporter", 3)
    assert any(p.spec.node_name == target for p in exporters), "DaemonSet pods stay"

    # An unchanged cluster: the next pass writes nothing (what it wrote, if it did).
    unchanged = one_pass()
    assert unchanged[-1]["writes"] == 0, json.dumps([e for e in unchanged if "action" in e])

    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", "mr-a", {"spec": {"state": "InProgress"}}
    )
    one_pass()
    assert status_of(cluster, "mr-a")["state"] == "InProgress"
    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", "mr-a", {"spec": {"state": "Completed"}}
    )
    one_pass()
    assert status_of(cluster, "mr-a")["state"] == "Completed"
    node = cluster.core.read_node(target)
    assert not node.spec.unschedulable
    assert "repairman.k8s.io/cordoned-by" not in (node.metadata.annotations or {})
    events = cluster.core.list_namespaced_event(
        "default", field_selector="involvedObject.name=mr-a"
    ).items
    assert {e.reason for e in events} >= {"Approved", "Completed"}


def test_record_then_replay_plans_the_same(
    cluster: Cluster,
    three_nodes: list[str],
    control_plane: ControlPlane,
    runner_kubeconfig: Path,
    tmp_path: Path,
) -> None:
    cluster.deployment("web", 2)
    cluster.pdb("web", max_unavailable=1)
    cluster.running_ready("web", 2)
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancelimits", limit_body("node", limit=34, drain={})
    )
    for index, node in enumerate(three_nodes):
        cluster.custom.create_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests", request_body(f"mr-{index}", node)
        )
    kube = Kube.connect(kubeconfig=str(runner_kubeconfig))
    live = read_cluster(kube, now=datetime.now(UTC))
    write_snapshot(live, tmp_path / "recorded.json")
    assert read_snapshot(tmp_path / "recorded.json") == live
    assert plan(read_snapshot(tmp_path / "recorded.json")) == plan(live)
    assert kube.writes == 0
    code, _, logs = runner(runner_kubeconfig, "record", str(tmp_path / "cli.json"))
    assert code == 0 and logs[-1]["event"] == "recorded"
    assert len(read_snapshot(tmp_path / "cli.json").requests) == 3


def test_bad_credentials_and_missing_permissions_are_one_line(
    control_plane: ControlPlane, cluster: Cluster, tmp_path: Path
) -> None:
    admin = json.loads(control_plane.kubeconfig.read_text())

    def as_user(name: str, token: str) -> Path:
        config = {**admin, "users": [{"name": name, "user": {"token": token}}]}
        config["contexts"] = [
            {**admin["contexts"][0], "context": {**admin["contexts"][0]["context"], "user": name}}
        ]
        path = tmp_path / f"{name}.kubeconfig"
        path.write_text(json.dumps(config))
        return path

    result = CliRunner().invoke(
        main, ["--plan", "--kubeconfig", str(as_user("nobody", "not-a-token"))]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unauthorized")
    assert len(result.stderr.strip().splitlines()) == 1

    # A ServiceAccount without the runner's role: the first read it may not do is named.
    cluster.core.create_namespaced_service_account(
        cluster.namespace, {"metadata": {"name": "stranger"}}
    )
    stranger = as_user("stranger", token_for(control_plane, cluster.namespace, "stranger"))
    result = CliRunner().invoke(main, ["--plan", "--kubeconfig", str(stranger)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: forbidden: list maintenancerequests"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_crds_say_how_to_install_them(control_plane: ControlPlane, tmp_path: Path) -> None:
    # A second, empty control plane: nothing from k8s/ installed.
    directory = tmp_path / "bare"
    started = subprocess.run(
        [str(SCRIPT), "up", "--dir", str(directory)], capture_output=True, text=True, check=False
    )
    assert started.returncode == 0, started.stderr
    try:
        result = CliRunner().invoke(main, ["--plan", "--kubeconfig", str(directory / "kubeconfig")])
    finally:
        subprocess.run(
            [str(SCRIPT), "down", "--dir", str(directory)], capture_output=True, check=False
        )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: the maintenancerequests.repairman.k8s.io CRD is not installed: "
        "run kubectl apply -k k8s/"
    )


def test_forecast_reads_the_live_cluster_and_writes_nothing(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(3)
    cluster.wait_nodes_ready(nodes)
    cluster.deployment("web", 3)
    cluster.pdb("web", max_unavailable=1)
    cluster.running_ready("web", 3)
    cluster.disruptions_allowed("web", 1)
    cluster.limit("node", limit=34, drain={"timeoutSeconds": 600})
    before = everything(cluster)
    code, out, logs = runner(
        control_plane.kubeconfig, "forecast", "--all-nodes", "--actor-duration", "10m", "-o", "json"
    )
    assert code == 0, logs
    document = json.loads(out)
    assert document["finished"] and len(document["requests"]) == 3
    assert {r["state"] for r in document["requests"]} == {"Completed"}
    # One node at a time (34% of 3), each drained and worked on for 10 minutes.
    assert document["makespanSeconds"] >= 3 * 600
    assert document["peaks"]["node"] == {"inUse": 1, "allowed": 1}
    assert everything(cluster) == before, "a forecast writes nothing"


def test_insecure_skip_tls_verify_is_one_line_of_our_log_and_nothing_from_the_plugin(
    control_plane: ControlPlane, cluster: Cluster, tmp_path: Path
) -> None:
    """Issue 17, also: with insecure-skip-tls-verify urllib3 warned once per request
    (InsecureRequestWarning lines on stderr); kubectl says nothing. The runner now logs
    it once in its own format, the plugin not at all."""
    config = json.loads(control_plane.kubeconfig.read_text())
    config["clusters"][0]["cluster"] = {
        "server": config["clusters"][0]["cluster"]["server"],
        "insecure-skip-tls-verify": True,
    }
    path = tmp_path / "insecure.kubeconfig"
    path.write_text(json.dumps(config))
    bin_dir = Path(sys.executable).parent
    planned = subprocess.run(
        [str(bin_dir / "runner"), "--plan", "--kubeconfig", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert planned.returncode == 0, planned.stderr
    assert "InsecureRequestWarning" not in planned.stderr
    lines = planned.stderr.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["event"] == "insecure", lines
    listed = subprocess.run(
        [str(bin_dir / "kubectl-repairman"), "--kubeconfig", str(path), "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
