"""Pods that go down in place stay charged (DESIGN §3, issue 28 defects 2 and 4), on
the real control plane with real passes (read, plan, apply).

- A drain-less request is approved and InProgress; the operator then adds a drain to
  the limit. The node's pod still goes down with the node: another node's drain must
  not evict through the budget that pod needs (fails without: the pass evicts the
  other node's pod, and two of a PDB that allows one go down).
- A Deployment whose pods tolerate the cordon (a node agent) under a PDB allowing one,
  and a draining limit allowing two at once: the drain leaves those pods, so they go
  down with their nodes; only one node is approved (fails without: both approved in
  one pass, two replicas down).

Leaves out the charge after a PDB is created or pods relabelled (the replay cases and
the stateful property: the API server plays no part in it).
"""

from __future__ import annotations

from tests.integration.cluster import GROUP, VERSION, Cluster, wait_until
from tests.integration.conftest import ControlPlane
from tests.integration.test_approval_gate import one_pass
from tests.integration.test_runner import request_body, status_of


def spread(cluster: Cluster, app: str, count: int, nodes: list[str]) -> dict[str, list[str]]:
    pods = cluster.running_ready(app, count)
    on = {n: [p.metadata.name for p in pods if p.spec.node_name == n] for n in nodes}
    assert all(len(names) == 1 for names in on.values()), ("the scheduler spreads them", on)
    return on


def test_a_drain_added_after_approval_does_not_free_the_budget(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.deployment("web", 2)
    cluster.pdb("web", min_available=1)
    on = spread(cluster, "web", 2, nodes)
    cluster.disruptions_allowed("web", 1)
    cluster.limit("node", type="node", limit=100)
    first, second = nodes
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", first)
    )
    one_pass(control_plane)
    assert status_of(cluster, "mr-a")["state"] == "Approved", status_of(cluster, "mr-a")
    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", "mr-a", {"spec": {"state": "InProgress"}}
    )
    one_pass(control_plane)
    assert status_of(cluster, "mr-a")["state"] == "InProgress"

    # The operator adds a drain while mr-a's node is still up with its web pod on it.
    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, "maintenancelimits", "node",
        {"spec": {"cordon": True, "drain": {"timeoutSeconds": 600}}},
    )  # fmt: skip
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-b", second)
    )
    for _ in range(3):
        one_pass(control_plane)
    status = status_of(cluster, "mr-b")
    assert (status["state"], status["reason"]) == ("Preparing", "Draining"), status
    assert "PDB" in status["message"] and "0 disruptions allowed" in status["message"], status
    left = [p for p in cluster.pods("web") if p.metadata.name in on[second]]
    assert left and left[0].metadata.deletion_timestamp is None, "not evicted"
    cluster.disruptions_allowed("web", 1)  # both pods still up, nothing taken


def test_pods_that_follow_the_cordon_are_charged_to_their_pdb(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(3)
    cluster.wait_nodes_ready(nodes)
    cluster.deployment("agent", 3, follows_cordon=True)
    cluster.pdb("agent", min_available=2)
    spread(cluster, "agent", 3, nodes)
    cluster.disruptions_allowed("agent", 1)
    cluster.limit(
        "node", type="node", limit=100, maxConcurrent=2, cordon=True,
        drain={"timeoutSeconds": 600},
    )  # fmt: skip
    for index, node in enumerate(nodes[:2]):
        cluster.custom.create_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests", request_body(f"mr-{index}", node)
        )
    for _ in range(3):
        one_pass(control_plane)
    states = {name: status_of(cluster, name) for name in ("mr-0", "mr-1")}
    approved = [n for n, s in states.items() if s["state"] == "Approved"]
    assert len(approved) == 1, states
    (waiting,) = (s for n, s in states.items() if n not in approved)
    assert (waiting["state"], waiting["reason"]) == ("Pending", "DisruptionBudget"), waiting
    assert "agent" in waiting["message"]
    wait_until(
        "the agents untouched",
        lambda: (
            len([p for p in cluster.pods("agent") if p.metadata.deletion_timestamp is None]) == 3
        ),
    )
