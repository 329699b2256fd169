"""Operators' controls of DESIGN §7 on the real control plane.

Covers: `kubectl repairman pause LIMIT` holds every new admission under the limit
(reason Paused, the limit's status and `kubectl get ml` say so) while what it admitted
goes on, and `resume` admits on the next pass; a blackout covering now holds new
admissions (reason Blackout, naming it and when it ends, in its zone) and its removal
releases them; a rate remembers deleted requests; a failure budget trips on a node
left NotReady after its maintenance and `kubectl repairman acknowledge` releases it.
The policy's rules are property-tested (tests/properties).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from kubernetes import client

from tests.integration.cluster import GROUP, VERSION, Cluster, wait_until
from tests.integration.conftest import ControlPlane
from tests.integration.test_actors import kubectl_repairman
from tests.integration.test_approval_gate import one_pass
from tests.integration.test_runner import request_body, status_of


def limit_status(cluster: Cluster, name: str) -> dict[str, object]:
    found = cluster.custom.get_cluster_custom_object(GROUP, VERSION, "maintenancelimits", name)
    return dict(found.get("status") or {})


def test_pause_holds_new_admissions_and_resume_releases_them(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.limit("node", type="node", limit=100)
    custom = cluster.custom
    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", nodes[0])
    )
    one_pass(control_plane)
    assert status_of(cluster, "mr-a")["state"] == "Approved"

    paused = kubectl_repairman(control_plane, control_plane.kubeconfig, "pause", "ml/node")
    assert paused.returncode == 0 and paused.stdout.strip() == "maintenancelimit/node paused"
    header, row = control_plane.kubectl("get", "ml", "node").stdout.splitlines()[:2]
    column = header.index("PAUSED")
    assert row[column:].split()[0] == "true", (header, row)

    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-b", nodes[1])
    )
    one_pass(control_plane)
    waiting = status_of(cluster, "mr-b")
    assert (waiting.get("state"), waiting["reason"]) == ("Pending", "Paused"), waiting
    assert "paused by the operator" in waiting["message"]
    assert "paused by the operator" in str(limit_status(cluster, "node")["message"])
    assert status_of(cluster, "mr-a")["state"] == "Approved", "what it admitted goes on"

    resumed = kubectl_repairman(control_plane, control_plane.kubeconfig, "resume", "node")
    assert resumed.returncode == 0, resumed.stderr
    one_pass(control_plane)
    assert status_of(cluster, "mr-b")["state"] == "Approved"


def test_a_blackout_holds_new_admissions_until_it_is_gone(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(1)
    cluster.wait_nodes_ready(nodes)
    berlin_now = datetime.now(UTC) + timedelta(hours=1)  # Europe/Berlin is UTC+1 in winter
    ends = (berlin_now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    blackout = {
        "start": (berlin_now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "end": ends,
        "timeZone": "Europe/Berlin",
        "reason": "launch",
    }
    cluster.limit("node", type="node", limit=100, blackouts=[blackout])
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", nodes[0])
    )
    one_pass(control_plane)
    waiting = status_of(cluster, "mr-a")
    assert waiting["reason"] == "Blackout", waiting
    assert "blackout 'launch'" in waiting["message"]
    assert (
        f"until {datetime.fromisoformat(ends).strftime('%a %Y-%m-%d %H:%M')} Europe/Berlin"
        in (waiting["message"])
    )

    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, "maintenancelimits", "node", {"spec": {"blackouts": None}}
    )
    one_pass(control_plane)
    assert status_of(cluster, "mr-a")["state"] == "Approved"


def test_a_rate_holds_the_next_admission_and_remembers_deleted_requests(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    """rate 1 per hour: mr-a is admitted, finishes and is deleted at once (TTL 0); its
    admission stays in the limit's status.recentAdmissions (the CRD keeps the field),
    so mr-b still waits, RateLimited, with the next slot an hour after mr-a's."""
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.limit(
        "node",
        type="node",
        limit=100,
        ttlSecondsAfterFinished=0,
        rate={"count": 1, "perSeconds": 3600},
    )
    custom = cluster.custom
    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", nodes[0])
    )
    one_pass(control_plane)
    assert status_of(cluster, "mr-a")["state"] == "Approved"
    custom.patch_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", "mr-a", {"spec": {"state": "Completed"}}
    )
    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-b", nodes[1])
    )
    for _ in range(3):
        one_pass(control_plane)
    names = [
        item["metadata"]["name"]
        for item in custom.list_cluster_custom_object(GROUP, VERSION, "maintenancerequests")[
            "items"
        ]
    ]
    assert "mr-a" not in names, "deleted after its TTL of 0"
    recorded = limit_status(cluster, "node")["recentAdmissions"]
    assert [entry["request"] for entry in recorded] == ["mr-a"]  # type: ignore[index]
    waiting = status_of(cluster, "mr-b")
    assert (waiting.get("state"), waiting["reason"]) == ("Pending", "RateLimited"), waiting
    assert "next slot at" in waiting["message"]


def test_the_plugin_files_a_request_for_later(
    cluster: Cluster, control_plane: ControlPlane, actor_kubeconfig: Path
) -> None:
    """`kubectl repairman request --not-before` (a cloud's scheduled event): the request
    waits, reason NotBefore, naming the time."""
    nodes = cluster.nodes(1)
    cluster.wait_nodes_ready(nodes)
    cluster.limit("node", type="node", limit=100)
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    filed = kubectl_repairman(
        control_plane,
        actor_kubeconfig,
        "request",
        nodes[0],
        "--requester",
        "cloud-events",
        "--not-before",
        later,
    )
    assert filed.returncode == 0, filed.stderr
    name = filed.stdout.strip().split("/")[1]
    one_pass(control_plane)
    waiting = status_of(cluster, name)
    assert (waiting.get("state"), waiting["reason"]) == ("Pending", "NotBefore"), waiting
    assert later in waiting["message"]


def test_a_failure_budget_trips_on_a_node_left_down_and_acknowledging_resumes(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    """maxUnhealthy 0: mr-a's maintenance leaves its node NotReady (the simulated
    kubelet keeps it down) and the request is deleted at once (TTL 0). The limit's
    status.recentFinishes keeps it, so mr-b waits, FailureBudgetExceeded, naming the
    node; `kubectl get ml` shows it held. `kubectl repairman acknowledge` lets mr-b be
    admitted on the next pass while the node is still down."""
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.limit(
        "node",
        type="node",
        limit=100,
        ttlSecondsAfterFinished=0,
        failureBudget={"maxUnhealthy": 0, "afterSeconds": 0, "withinSeconds": 3600},
    )
    cluster.limit("plain", type="node", limit=100, selector={"matchLabels": {"zone": "z"}})
    for limit, error in (
        ("node", "error: maintenancelimit/node: no node counts against its failure budget"),
        ("plain", "error: maintenancelimit/plain has no spec.failureBudget"),
        ("missing", "error: "),
    ):
        refused = kubectl_repairman(control_plane, control_plane.kubeconfig, "acknowledge", limit)
        assert refused.returncode == 1, (limit, refused)
        assert refused.stderr.startswith(error) and refused.stderr.count("\n") == 1, refused
    custom = cluster.custom
    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", nodes[0])
    )
    one_pass(control_plane)
    assert status_of(cluster, "mr-a")["state"] == "Approved"
    kubelet = control_plane.kubelet  # type: ignore[attr-defined]
    kubelet.not_ready.add(nodes[0])
    try:
        for state in ("InProgress", "Completed"):
            custom.patch_cluster_custom_object(
                GROUP, VERSION, "maintenancerequests", "mr-a", {"spec": {"state": state}}
            )
        wait_until("the node NotReady", lambda: not node_ready(cluster, nodes[0]))
        one_pass(control_plane)  # mr-a Completed: its finish is judged from the next pass
        custom.create_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests", request_body("mr-b", nodes[1])
        )
        for _ in range(3):
            one_pass(control_plane)
        listed = custom.list_cluster_custom_object(GROUP, VERSION, "maintenancerequests")
        assert "mr-a" not in [i["metadata"]["name"] for i in listed["items"]], "TTL 0"
        status = limit_status(cluster, "node")
        assert [e["request"] for e in status["recentFinishes"]] == ["mr-a"]  # type: ignore[index]
        assert status["held"] == "failure budget", status
        waiting = status_of(cluster, "mr-b")
        assert (waiting.get("state"), waiting["reason"]) == ("Pending", "FailureBudgetExceeded")
        assert f"{nodes[0]} NotReady after mr-a" in waiting["message"], waiting
        header, row = control_plane.kubectl("get", "ml", "node").stdout.splitlines()[:2]
        assert row[header.index("HELD") :].startswith("failure budget"), (header, row)

        acknowledged = kubectl_repairman(
            control_plane, control_plane.kubeconfig, "acknowledge", "node"
        )
        assert acknowledged.returncode == 0, acknowledged.stderr
        assert f"acknowledged: {nodes[0]} after mr-a (finished up to" in acknowledged.stdout
        one_pass(control_plane)
        assert status_of(cluster, "mr-b")["state"] == "Approved"
        assert not node_ready(cluster, nodes[0]), "still down: acknowledged, not recovered"
        assert "held" not in limit_status(cluster, "node"), "cleared"
    finally:
        kubelet.not_ready.discard(nodes[0])


def node_ready(cluster: Cluster, name: str) -> bool:
    node = client.CoreV1Api(cluster.api).read_node(name)
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or ())
