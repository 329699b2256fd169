"""The original repairman objects work unchanged on the control plane.

k8s/examples/limit-original.yaml (a limit named `node` with only `limit: 5`) and
k8s/examples/request-original.yaml (`spec.name`, `spec.type: Node`, `spec.state`) are
applied as they are with kubectl, and an actor follows the original protocol by
setting spec.state only (Pending, then InProgress, then Completed) — reading approval
from status.state, where authority lives now (docs/migration.md). A request that the
original operator had marked Approved in its spec is read as Pending and queued.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.integration.cluster import SIMULATED, Cluster
from tests.integration.conftest import GROUP, VERSION, ControlPlane
from tests.integration.test_runner import runner, status_of

EXAMPLES = Path(__file__).parents[2] / "k8s" / "examples"


def test_the_original_samples_work_unchanged(
    cluster: Cluster, control_plane: ControlPlane, runner_kubeconfig: Path
) -> None:
    for name in ("node1", "node2"):
        cluster.core.create_node(
            {
                "metadata": {
                    "name": name,
                    "labels": {SIMULATED: "true", "repairman.test/prefix": cluster.prefix},
                },
                "status": {"capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"}},
            }
        )
    cluster.wait_nodes_ready(["node1", "node2"])
    for sample in ("limit-original.yaml", "request-original.yaml"):
        control_plane.kubectl("apply", "-f", str(EXAMPLES / sample))
    # Written by the original operator during a migration: approval in the spec. One
    # second younger than the sample (creationTimestamp has seconds), so queued behind it.
    time.sleep(1.1)
    cluster.custom.create_cluster_custom_object(
        GROUP,
        VERSION,
        "maintenancerequests",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "MaintenanceRequest",
            "metadata": {"name": "approved-by-the-old-operator"},
            "spec": {"name": "node2", "type": "Node", "state": "Approved"},
        },
    )

    def step(expected: dict[str, str]) -> None:
        code, _, logs = runner(runner_kubeconfig)
        assert code == 0, logs
        states = {name: status_of(cluster, name).get("state") for name in expected}
        assert states == expected

    # 5% of 2 nodes rounds to at least 1: one at a time, the older sample first.
    step({"maintenancerequest-sample": "Approved", "approved-by-the-old-operator": "Pending"})
    assert status_of(cluster, "approved-by-the-old-operator")["reason"] == "LimitReached"
    for declared, seen in (("InProgress", "InProgress"), ("Completed", "Completed")):
        cluster.custom.patch_cluster_custom_object(
            GROUP,
            VERSION,
            "maintenancerequests",
            "maintenancerequest-sample",
            {"spec": {"state": declared}},
        )
        step({"maintenancerequest-sample": seen})
    step({"approved-by-the-old-operator": "Approved"})
    table = control_plane.kubectl("get", "mr", "maintenancerequest-sample").stdout
    assert "Completed" in table
