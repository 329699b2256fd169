"""The test control plane itself: real scheduler, controllers and Eviction API at work.

Covers: simulated nodes become Ready and lose the not-ready taint; the real scheduler
binds Deployment, StatefulSet and DaemonSet pods and the simulated kubelet runs them;
the real disruption controller computes PDB status; the real Eviction API refuses an
eviction a PDB forbids (429) and, when allowed, the pod terminates and its ReplicaSet
recreates it on another node; a cordoned node gets no new pods. These are the
behaviours the runner's tests rely on. Leaves out repairman's own objects (test_crds.py).
"""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from tests.integration.cluster import Cluster, wait_until


def test_nodes_become_ready(cluster: Cluster) -> None:
    names = cluster.nodes(3)
    cluster.wait_nodes_ready(names)


def test_workloads_are_scheduled_and_run(cluster: Cluster) -> None:
    names = cluster.nodes(3)
    cluster.wait_nodes_ready(names)
    cluster.deployment("web", 3)
    cluster.statefulset("db", 2)
    cluster.daemonset("exporter")
    web = cluster.running_ready("web", 3)
    cluster.running_ready("db", 2)
    exporters = cluster.running_ready("exporter", 3)
    assert {p.spec.node_name for p in web} <= set(names)
    assert {p.spec.node_name for p in exporters} == set(names)


def test_pdb_status_eviction_refusal_and_rescheduling(cluster: Cluster) -> None:
    names = cluster.nodes(3)
    cluster.wait_nodes_ready(names)
    cluster.deployment("web", 3)
    cluster.pdb("web", max_unavailable=1)
    pods = cluster.running_ready("web", 3)
    cluster.disruptions_allowed("web", 1)

    victim = pods[0]
    cluster.core.patch_node(victim.spec.node_name, {"spec": {"unschedulable": True}})
    cluster.evict(victim.metadata.name)
    # The budget is spent at once by the Eviction API itself...
    cluster.disruptions_allowed("web", 0)
    with pytest.raises(ApiException) as refused:
        cluster.evict(pods[1].metadata.name)
    assert refused.value.status == 429
    # ...the kubelet finishes the pod, the ReplicaSet recreates it elsewhere, and the
    # disruption controller gives the budget back.
    replacement = wait_until(
        "a replacement pod on another node",
        lambda: [
            p
            for p in cluster.running_ready("web", 3)
            if p.metadata.name != victim.metadata.name
            and p.metadata.name not in {q.metadata.name for q in pods}
        ],
    )
    assert replacement[0].spec.node_name != victim.spec.node_name
    cluster.disruptions_allowed("web", 1)


def test_node_failure_makes_its_pods_unready_and_recovers(cluster: Cluster, control_plane) -> None:  # type: ignore[no-untyped-def]
    names = cluster.nodes(2)
    cluster.wait_nodes_ready(names)
    cluster.deployment("web", 2)
    cluster.pdb("web", min_available=2)
    pods = cluster.running_ready("web", 2)
    cluster.disruptions_allowed("web", 0)
    kubelet = control_plane.kubelet
    kubelet.not_ready.add(pods[0].spec.node_name)
    try:
        wait_until(
            "the node NotReady",
            lambda: any(
                c.type == "Ready" and c.status == "False"
                for c in cluster.core.read_node(pods[0].spec.node_name).status.conditions
            ),
        )
        wait_until(
            "its pod unready",
            lambda: any(
                c.type == "Ready" and c.status == "False"
                for c in cluster.core.read_namespaced_pod(
                    pods[0].metadata.name, cluster.namespace
                ).status.conditions
            ),
        )
    finally:
        kubelet.not_ready.discard(pods[0].spec.node_name)
    cluster.wait_nodes_ready(names)
    cluster.running_ready("web", 2)
    assert not kubelet.errors, kubelet.errors
