"""Drains that behave like kubectl drain (DESIGN §3; issue 15), with the 1.20 API
server's Eviction API as the judge.

- Two limits govern a node: one evicts with a 5 s grace period, the other leaves the
  pods' own (-1, kubectl's default). The API server is watched as the pass evicts: the
  database pod's deletion gets its own 600 s, the pod with 1 s of its own gets 5 s
  (fails with the shortest override winning: the database gets 5 s). Item 4.
- An eviction in a namespace being deleted is answered 403 (NamespaceTerminating): the
  pass leaves it for the next one and exits 0; the namespace's pods go with it, and the
  request is approved once they are gone (fails without: the pass fails, exit 1). Item 5.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from kubernetes import watch

from policy import plan
from runner.apply import Applier, Result
from runner.kube import Kube
from runner.read import read_cluster
from tests.integration.cluster import GROUP, VERSION, Cluster, wait_until
from tests.integration.conftest import ControlPlane
from tests.integration.test_approval_gate import POLICY, one_pass
from tests.integration.test_runner import request_body, status_of


def test_a_short_grace_override_never_cuts_a_long_shutdown_another_limit_leaves(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    target = nodes[0]
    cluster.unmanaged_pod("db", target, grace=600)
    cluster.unmanaged_pod("web", target, grace=1)
    wait_until(
        "both pods running",
        lambda: (
            all(p.status.phase == "Running" for a in ("db", "web") for p in cluster.pods(a))
            and len(cluster.pods("db")) == len(cluster.pods("web")) == 1
        ),
    )
    drain = {"timeoutSeconds": 600, "force": True}
    cluster.limit("fast", type="node", limit=100, drain={**drain, "podGracePeriodSeconds": 5})
    cluster.limit("zone", type="node", limit=100, drain={**drain, "podGracePeriodSeconds": -1})
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
    )

    given: dict[str, int] = {}
    stream = watch.Watch()

    def follow() -> None:
        for event in stream.stream(
            cluster.core.list_namespaced_pod, cluster.namespace, timeout_seconds=60
        ):
            pod = event["object"]
            seconds = pod.metadata.deletion_grace_period_seconds
            if pod.metadata.deletion_timestamp is not None and seconds is not None:
                given.setdefault(pod.metadata.name, seconds)
            if len(given) == 2:
                stream.stop()

    watcher = threading.Thread(target=follow, daemon=True)
    watcher.start()
    one_pass(control_plane)
    watcher.join(timeout=60)
    assert given == {"db": 600, "web": 5}, given


def test_an_eviction_in_a_namespace_being_deleted_waits_for_the_next_pass(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    target = nodes[0]
    doomed = f"{cluster.prefix}-doomed"
    cluster.core.create_namespace({"metadata": {"name": doomed}})
    cluster.unmanaged_pod("victim", target, namespace=doomed)
    # Keeps the namespace Terminating while the pass writes (removed at the end).
    cluster.core.create_namespaced_pod(
        doomed,
        {
            "metadata": {"name": "anchor", "finalizers": ["repairman.test/keep"]},
            "spec": {
                "nodeName": nodes[1],
                "containers": [{"name": "app", "image": "registry.invalid/pause:3"}],
            },
        },
    )
    cluster.limit("node", type="node", limit=100, drain={"timeoutSeconds": 300, "force": True})
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
    )
    kube = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    snapshot = read_cluster(kube, now=datetime.now(UTC))
    planned = plan(snapshot)
    assert [d.pod for d in planned.decisions if type(d).__name__ == "Evict"] == ["victim"]

    cluster.core.delete_namespace(doomed)
    outcomes = Applier(kube, snapshot, policy_version=POLICY).apply(planned)
    evictions = [(o.result, o.detail) for o in outcomes if type(o.decision).__name__ == "Evict"]
    assert evictions == [
        (Result.BLOCKED, f"namespace {doomed} is being deleted; its pods go with it")
    ], evictions
    assert not [o for o in outcomes if o.result is Result.FAILED], outcomes

    wait_until("the victim gone with its namespace", lambda: not _pods(cluster, doomed, target))

    def approved() -> bool:
        one_pass(control_plane)
        return status_of(cluster, "mr-a")["state"] == "Approved"

    try:
        wait_until("mr-a approved once the node is empty", approved, timeout=60)
    finally:
        cluster.core.patch_namespaced_pod("anchor", doomed, {"metadata": {"finalizers": None}})


def _pods(cluster: Cluster, namespace: str, node: str) -> list[str]:
    return [
        p.metadata.name
        for p in cluster.core.list_namespaced_pod(namespace).items
        if p.spec.node_name == node
    ]
