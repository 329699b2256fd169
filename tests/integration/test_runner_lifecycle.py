"""The rest of DESIGN §3's lifecycle, end to end through `runner` on the control plane.

Covers: approved, in-progress and drain timeouts (the runner's clock moved with
its clock parameter, never by sleeping), each expiring the request and uncordoning its node;
withdrawal by spec and by deleting the request; TTL deletion of finished requests;
an admin-cordoned node never uncordoned; a volume attachment holding approval until it
detaches; mirror and DaemonSet pods never evicted; the actor out of order; queueing on
a busy node.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner import passes
from tests.integration.cluster import Cluster
from tests.integration.conftest import GROUP, VERSION
from tests.integration.test_runner import limit_body, request_body, runner, status_of

CORDONED_BY = "repairman.k8s.io/cordoned-by"


@pytest.fixture
def kubeconfig(runner_kubeconfig: Path) -> Path:
    """The runner's own ServiceAccount token: k8s/rbac.yaml is enough for all of this."""
    return runner_kubeconfig


def one_pass(
    cluster: Cluster, kubeconfig: Path, at: datetime | None = None
) -> list[dict[str, Any]]:
    args = ("--lease-namespace", "repairman-system")
    if at is not None:
        # The pass plans as if at `at`; the API server and pods keep real time. (freezegun
        # cannot be used here: it breaks the kubernetes client's pydantic models.)
        passes.clock = lambda: at
    try:
        code, _, logs = runner(kubeconfig, *args)
    finally:
        passes.clock = None
    assert code == 0, logs
    return logs


def create(cluster: Cluster, plural: str, body: dict[str, Any]) -> None:
    cluster.custom.create_cluster_custom_object(GROUP, VERSION, plural, body)


def actor_says(cluster: Cluster, name: str, state: str) -> None:
    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", name, {"spec": {"state": state}}
    )


def cordoned(cluster: Cluster, node: str) -> tuple[bool, str | None]:
    fresh = cluster.core.read_node(node)
    return bool(fresh.spec.unschedulable), (fresh.metadata.annotations or {}).get(CORDONED_BY)


@pytest.fixture
def nodes(cluster: Cluster) -> list[str]:
    names = cluster.nodes(4)
    cluster.wait_nodes_ready(names)
    return names


def test_timeouts_expire_and_uncordon(cluster: Cluster, nodes: list[str], kubeconfig: Path) -> None:
    create(
        cluster,
        "maintenancelimits",
        limit_body(
            "node",
            limit=100,
            cordon=True,
            approvedTimeoutSeconds=600,
            inProgressTimeoutSeconds=3600,
            drain={"timeoutSeconds": 900},
        ),
    )
    cluster.deployment("web", 1)
    cluster.pdb("web", min_available=1)  # a pod no drain can move: the drain must time out
    stuck = cluster.running_ready("web", 1)[0].spec.node_name
    idle = [n for n in nodes if n != stuck]
    create(cluster, "maintenancerequests", request_body("mr-approved", idle[0]))
    create(cluster, "maintenancerequests", request_body("mr-working", idle[1]))
    create(cluster, "maintenancerequests", request_body("mr-draining", stuck))
    one_pass(cluster, kubeconfig)
    assert status_of(cluster, "mr-approved")["state"] == "Approved"
    assert status_of(cluster, "mr-draining")["state"] == "Preparing"
    actor_says(cluster, "mr-working", "InProgress")
    one_pass(cluster, kubeconfig)
    assert status_of(cluster, "mr-working")["state"] == "InProgress"

    now = datetime.now(UTC)
    one_pass(cluster, kubeconfig, at=now + timedelta(seconds=601))
    assert status_of(cluster, "mr-approved")["reason"] == "ApprovedTimeout"
    assert cordoned(cluster, idle[0]) == (False, None)
    one_pass(cluster, kubeconfig, at=now + timedelta(seconds=901))
    draining = status_of(cluster, "mr-draining")
    assert (draining["state"], draining["reason"]) == ("Expired", "DrainTimeout")
    assert "web" in draining["message"]
    assert cordoned(cluster, stuck) == (False, None)
    assert status_of(cluster, "mr-working")["state"] == "InProgress"
    one_pass(cluster, kubeconfig, at=now + timedelta(seconds=3700))
    working = status_of(cluster, "mr-working")
    assert (working["state"], working["reason"]) == ("Expired", "InProgressTimeout")
    assert cordoned(cluster, idle[1]) == (False, None)


def test_withdrawal_deletion_ttl_and_admin_cordon(
    cluster: Cluster, nodes: list[str], kubeconfig: Path
) -> None:
    create(
        cluster,
        "maintenancelimits",
        limit_body("node", limit=100, cordon=True, ttlSecondsAfterFinished=60),
    )
    cluster.core.patch_node(nodes[3], {"spec": {"unschedulable": True}})  # an admin's cordon
    for index, node in enumerate(nodes):
        create(cluster, "maintenancerequests", request_body(f"mr-{index}", node))
    one_pass(cluster, kubeconfig)
    assert all(status_of(cluster, f"mr-{i}")["state"] == "Approved" for i in range(4))
    assert cordoned(cluster, nodes[0]) == (True, "mr-0")
    assert cordoned(cluster, nodes[3]) == (True, None), "an admin's cordon is not taken over"

    actor_says(cluster, "mr-0", "Completed")  # a quick job: started and done between passes
    cluster.custom.delete_cluster_custom_object(GROUP, VERSION, "maintenancerequests", "mr-1")
    actor_says(cluster, "mr-3", "InProgress")
    one_pass(cluster, kubeconfig)
    quick = status_of(cluster, "mr-0")
    assert (quick["state"], quick["reason"]) == ("Completed", "Completed"), quick
    assert "InProgress was not seen" in quick["message"]
    assert cordoned(cluster, nodes[0]) == (False, None)
    assert cordoned(cluster, nodes[1]) == (False, None), "the deleted request's cordon is released"
    actor_says(cluster, "mr-3", "Completed")
    one_pass(cluster, kubeconfig)
    assert status_of(cluster, "mr-3")["state"] == "Completed"
    assert cordoned(cluster, nodes[3]) == (True, None), "the admin's cordon stays"

    one_pass(cluster, kubeconfig, at=datetime.now(UTC) + timedelta(seconds=120))
    names = {
        item["metadata"]["name"]
        for item in cluster.custom.list_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests"
        )["items"]
    }
    assert "mr-0" not in names and "mr-3" not in names, "finished requests deleted after their TTL"
    assert "mr-2" in names


def test_volume_detach_mirror_and_daemonset_pods(
    cluster: Cluster, nodes: list[str], kubeconfig: Path
) -> None:
    target = nodes[0]
    create(
        cluster,
        "maintenancelimits",
        limit_body(
            "node",
            limit=25,
            drain={"timeoutSeconds": 600},
            infraDrain={"waitForVolumeDetach": True},
        ),
    )
    cluster.daemonset("exporter")
    cluster.running_ready("exporter", len(nodes))
    cluster.core.create_namespaced_pod(
        cluster.namespace,
        {
            "metadata": {
                "name": f"static-{target}",
                "annotations": {
                    "kubernetes.io/config.mirror": "mirror",
                    "kubernetes.io/config.source": "file",
                },
            },
            "spec": {
                "nodeName": target,
                "containers": [{"name": "app", "image": "registry.invalid/pause:3"}],
            },
        },
    )
    attachment = cluster.volume_attachment("pv-0", target)
    create(cluster, "maintenancerequests", request_body("mr-a", target))
    create(cluster, "maintenancerequests", request_body("mr-queued", target))
    one_pass(cluster, kubeconfig)
    status = status_of(cluster, "mr-a")
    assert (status["state"], status["reason"]) == ("Preparing", "WaitingForVolumeDetach")
    assert attachment in status["message"]
    queued = status_of(cluster, "mr-queued")
    assert (queued["state"], queued["reason"]) == ("Pending", "TargetBusy")

    cluster.storage.patch_volume_attachment_status(attachment, {"status": {"attached": False}})
    logs = one_pass(cluster, kubeconfig)
    status = status_of(cluster, "mr-a")
    assert status["state"] == "Approved", (status, logs)  # the pass's log says why not
    on_node = {
        p.metadata.name
        for p in cluster.pods()
        if p.spec.node_name == target and not p.metadata.deletion_timestamp
    }
    assert f"static-{target}" in on_node, "mirror pods are never evicted"
    assert any(name.startswith("exporter") for name in on_node), "DaemonSet pods stay"


def test_actor_out_of_order_is_not_approved(
    cluster: Cluster, nodes: list[str], kubeconfig: Path
) -> None:
    create(cluster, "maintenancelimits", limit_body("node", limit=100))
    body = request_body("mr-eager", nodes[0])
    body["spec"]["state"] = "InProgress"
    create(cluster, "maintenancerequests", body)
    one_pass(cluster, kubeconfig)
    status = status_of(cluster, "mr-eager")
    assert (status["state"], status["reason"]) == ("Pending", "ActorOutOfOrder")
    actor_says(cluster, "mr-eager", "Pending")
    one_pass(cluster, kubeconfig)
    assert status_of(cluster, "mr-eager")["state"] == "Approved"
