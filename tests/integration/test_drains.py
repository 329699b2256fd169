"""Drains that behave like kubectl drain (DESIGN §3; issue 15), with the 1.20 API
server's Eviction API as the judge.

- Two limits govern a node: one evicts with a 5 s grace period, the other leaves the
  pods' own (-1, kubectl's default). The API server is watched as the pass evicts: the
  database pod's deletion gets its own 600 s, the pod with 1 s of its own gets 5 s
  (fails with the shortest override winning: the database gets 5 s). Item 4.
- An eviction in a namespace being deleted is answered 403 (NamespaceTerminating): the
  pass leaves it for the next one and exits 0; the namespace's pods go with it, and the
  request is approved once they are gone (fails without: the pass fails, exit 1). Item 5.
- A sick node: a crash-looping pod and a Pending pod (an image that never pulls) under
  a PDB that allows 0 disruptions, and a Pending pod under a PDB below its healthy
  count. The API server lets all three go (Pending: no PDB check; unready with the PDB
  at its healthy count: no budget spent), so the drain finishes and the request is
  approved, the healthy pods untouched (fails when Pending pods spend budget, or
  unready ones do: the request stays Draining). Item 1.
- A dead node: NotReady, its kubelet finishes no deletion. Its pods are evicted and
  stay terminating; once skipWaitForDeleteTimeoutSeconds have passed since their
  deletionTimestamp they count as gone and the request is approved, the pods still
  there (fails without the rule: never approved). Item 2.
- One unmanaged pod beside three managed ones: nothing is evicted, the request says
  which pod and which option, and expires at the drain timeout naming it; the managed
  pods never moved (fails with partial drains: the three are evicted). Item 3.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from kubernetes import client, watch

from policy import plan
from runner.apply import Applier, Result
from runner.kube import Kube
from runner.read import read_cluster
from tests.integration.cluster import GROUP, VERSION, Cluster, wait_until
from tests.integration.conftest import ControlPlane
from tests.integration.kubelet import BEHAVIOUR
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


def _approve(control_plane: ControlPlane, cluster: Cluster, request: str, timeout: float) -> None:
    def approved() -> bool:
        one_pass(control_plane)
        return status_of(cluster, request)["state"] == "Approved"

    wait_until(f"{request} approved", approved, timeout=timeout)


def test_a_sick_node_drains_what_the_eviction_api_lets_go(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(3)
    cluster.wait_nodes_ready(nodes)
    target = nodes[0]
    web = {"app": "web"}
    cluster.unmanaged_pod("web-0", nodes[1], labels=web)
    cluster.unmanaged_pod("web-1", nodes[2], labels=web)
    cluster.unmanaged_pod("web-crash", target, labels={**web, BEHAVIOUR: "crash-loop"})
    cluster.unmanaged_pod("web-pull", target, labels={**web, BEHAVIOUR: "pending"})
    cluster.pdb("web", min_available=2)
    # Below its healthy count (1 of 2): only the Pending rule lets batch-pull go.
    batch = {"app": "batch"}
    cluster.unmanaged_pod("batch-0", nodes[1], labels=batch)
    cluster.unmanaged_pod("batch-pull", target, labels={**batch, BEHAVIOUR: "pending"})
    cluster.pdb("batch", min_available=2)
    expected = {
        "web-0": ("Running", True),
        "web-1": ("Running", True),
        "web-crash": ("Running", False),
        "web-pull": ("Pending", False),
        "batch-0": ("Running", True),
        "batch-pull": ("Pending", False),
    }
    wait_until(
        "web-0, web-1 and batch-0 ready, web-crash running unready, the others Pending",
        lambda: {p.metadata.name: (p.status.phase, _ready(p)) for p in cluster.pods()} == expected,
    )
    cluster.disruptions_allowed("web", 0)
    cluster.disruptions_allowed("batch", 0)
    cluster.limit(
        "node", type="node", limit=100, cordon=True, drain={"timeoutSeconds": 120, "force": True}
    )
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
    )
    _approve(control_plane, cluster, "mr-a", timeout=60)
    left = {p.metadata.name for p in cluster.pods()}
    assert left == {"web-0", "web-1", "batch-0"}, left
    cluster.disruptions_allowed("web", 0)
    cluster.disruptions_allowed("batch", 0)


def test_a_dead_node_drains_once_its_deletions_are_past_the_wait(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    kubelet = control_plane.kubelet  # type: ignore[attr-defined]
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    target = nodes[0]
    for name in ("db", "web"):
        cluster.unmanaged_pod(name, target, grace=2)
    cluster.running_ready("db", 1)
    cluster.running_ready("web", 1)
    kubelet.dead.add(target)
    try:
        wait_until(
            f"{target} NotReady",
            lambda: any(
                c.type == "Ready" and c.status != "True"
                for c in cluster.core.read_node(target).status.conditions or []
            ),
        )
        wait = 3
        cluster.limit(
            "node",
            type="node",
            limit=100,
            cordon=True,
            drain={"timeoutSeconds": 120, "force": True, "skipWaitForDeleteTimeoutSeconds": wait},
        )
        cluster.custom.create_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
        )
        one_pass(control_plane)
        stuck = cluster.pods()
        assert {p.metadata.name for p in stuck} == {"db", "web"}
        assert all(p.metadata.deletion_timestamp is not None for p in stuck), stuck
        gone_after = max(p.metadata.deletion_timestamp for p in stuck) + timedelta(seconds=wait)
        assert status_of(cluster, "mr-a")["state"] == "Preparing"

        _approve(control_plane, cluster, "mr-a", timeout=60)
        approved_at = datetime.fromisoformat(status_of(cluster, "mr-a")["approvedAt"])
        assert approved_at >= gone_after - timedelta(seconds=1), (approved_at, gone_after)
        # Counted as gone, not gone: the kubelet that would finish them is dead.
        assert {p.metadata.name for p in cluster.pods()} == {"db", "web"}
    finally:
        kubelet.dead.discard(target)


def test_one_pod_that_can_never_go_blocks_the_whole_drain(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    target = nodes[0]
    cluster.unmanaged_pod("shell", target)
    # All three managed pods on the target: the other node is cordoned meanwhile.
    cluster.core.patch_node(nodes[1], {"spec": {"unschedulable": True}})
    cluster.deployment("web", 3)
    pods = cluster.running_ready("web", 3)
    cluster.core.patch_node(nodes[1], {"spec": {"unschedulable": False}})
    on_target = sorted(p.metadata.name for p in pods if p.spec.node_name == target)
    cluster.running_ready("shell", 1)
    timeout = 8
    cluster.limit("node", type="node", limit=100, cordon=True, drain={"timeoutSeconds": timeout})
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
    )
    one_pass(control_plane)
    status = status_of(cluster, "mr-a")
    assert (status["state"], status["reason"]) == ("Preparing", "DrainBlocked"), status
    assert f"{cluster.namespace}/shell (declares no controller" in status["message"], status
    assert "drain.force" in status["message"] and "kubectl drain --force" in status["message"]

    def expired() -> bool:
        one_pass(control_plane)
        return status_of(cluster, "mr-a")["state"] == "Expired"

    wait_until("mr-a expired at its drain timeout", expired, timeout=timeout + 30)
    status = status_of(cluster, "mr-a")
    assert status["reason"] == "DrainTimeout", status
    assert "the drain was blocked by" in status["message"], status
    assert f"{cluster.namespace}/shell" in status["message"], status
    after = sorted(p.metadata.name for p in cluster.pods("web") if p.spec.node_name == target)
    assert after == on_target and all(
        p.metadata.deletion_timestamp is None for p in cluster.pods("web")
    ), (on_target, after)
    node = cluster.core.read_node(target)
    assert not node.spec.unschedulable, "the node is uncordoned when the request expires"


def _ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def test_a_pod_judged_unready_is_not_evicted_once_it_is_ready(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    """The plan judges an unready pod free of budget on a read of the pods that may be
    behind the PDBs' (the watch cache, several API servers). If the pod is Ready when
    the eviction lands, the API server would take it through the budget, spending what
    the plan gave to another pod: the eviction carries the pod's resourceVersion as
    read, and the API server refuses it (fails without: w-u is evicted too)."""
    nodes = cluster.nodes(3)
    cluster.wait_nodes_ready(nodes)
    target = nodes[0]
    web = {"app": "web"}
    cluster.unmanaged_pod("w-u", target, labels={**web, BEHAVIOUR: "crash-loop"})
    cluster.unmanaged_pod("w-v", target, labels=web)
    cluster.unmanaged_pod("w-x", nodes[1], labels=web)
    cluster.unmanaged_pod("w-y", nodes[2], labels=web)
    cluster.pdb("web", min_available=2)
    wait_until(
        "w-u running unready, the others ready",
        lambda: (
            {p.metadata.name: _ready(p) for p in cluster.pods("web")}
            == {"w-u": False, "w-v": True, "w-x": True, "w-y": True}
        ),
    )
    cluster.disruptions_allowed("web", 1)
    cluster.limit(
        "node", type="node", limit=100, cordon=True, drain={"timeoutSeconds": 120, "force": True}
    )
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
    )
    kube = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    snapshot = read_cluster(kube, now=datetime.now(UTC))
    planned = plan(snapshot)
    evictions = {d.pod: d.pdb for d in planned.decisions if type(d).__name__ == "Evict"}
    assert evictions == {"w-u": None, "w-v": f"{cluster.namespace}/web"}, evictions

    # w-u recovers before the plan is applied; the PDB sees it (2 allowed now).
    cluster.core.patch_namespaced_pod(
        "w-u", cluster.namespace, {"metadata": {"labels": {BEHAVIOUR: None}}}
    )
    wait_until(
        "w-u ready", lambda: _ready(cluster.core.read_namespaced_pod("w-u", cluster.namespace))
    )
    cluster.disruptions_allowed("web", 2)

    outcomes = Applier(kube, snapshot, policy_version=POLICY).apply(planned)
    result = {
        o.decision.pod: (o.result, o.detail)  # type: ignore[union-attr]
        for o in outcomes
        if type(o.decision).__name__ == "Evict"
    }
    assert result["w-u"][0] is Result.BLOCKED and "changed since it was read" in result["w-u"][1]
    assert result["w-v"][0] is Result.DONE, result
    kept = cluster.core.read_namespaced_pod("w-u", cluster.namespace)
    assert kept.metadata.deletion_timestamp is None, "w-u was evicted"
