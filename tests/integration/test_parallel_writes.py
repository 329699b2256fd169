"""Writes on several connections at once (issue 29), on the real control plane, each
interleaving forced with the fault proxy's per-rule holds.

- An eviction of one lane lands while another lane's approval gate is between its
  PDB read and its decision, after an eviction by someone else took a disruption
  the plan had counted on. The gate counts only the evictions that landed before its
  reads began, and refuses (fails when it counts this pass's evictions as they stand
  at the decision: the eviction is added back to a PDB read that never showed it, and
  a drain-less approval takes the PDB's last healthy pod above its desired count).
- Lanes really run side by side: with one request's status write held, the others'
  are written meanwhile; with `writers=1` the same pass writes nothing else until it
  is released.
- The API server's 429 (API Priority and Fairness shedding load) on the lanes'
  writes is waited out: every write lands, in its request's order.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from policy import RequestState, UpdateRequestStatus, plan
from policy.decisions import Evict
from policy.gate import BudgetShortNow
from runner.apply import Applier, Outcome, Result
from runner.kube import Kube
from runner.read import read_cluster
from tests.faultproxy import Rule, hold, status
from tests.integration.cluster import GROUP, VERSION, Cluster, wait_until
from tests.integration.conftest import ControlPlane
from tests.integration.test_approval_gate import POLICY, one_pass
from tests.integration.test_cordon_ownership import proxied_runner
from tests.integration.test_runner import request_body, status_of


def _file(cluster: Cluster, name: str, node: str) -> None:
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body(name, node)
    )


def _evict(cluster: Cluster, pod: str) -> None:
    cluster.raw(
        "POST",
        f"/api/v1/namespaces/{cluster.namespace}/pods/{pod}/eviction",
        {
            "apiVersion": "policy/v1beta1",
            "kind": "Eviction",
            "metadata": {"name": pod, "namespace": cluster.namespace},
        },
    )


def test_a_gate_counts_only_the_evictions_that_landed_before_its_reads(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    drained = cluster.nodes(1, zone="a")[0]
    in_place = cluster.nodes(1, zone="b")[0]
    others = cluster.nodes(3, zone="c")
    cluster.wait_nodes_ready([drained, in_place, *others])
    pods = {"p-drained": drained, "p-in-place": in_place}
    pods.update({f"p-{i}": node for i, node in enumerate(others)})
    for name, node in pods.items():
        cluster.unmanaged_pod(name, node, labels={"app": "web"})
    wait_until(
        "five web pods running",
        lambda: sum(p.status.phase == "Running" for p in cluster.pods("web")) == 5,
    )
    cluster.pdb("web", min_available=5)
    cluster.disruptions_allowed("web", 0)
    cluster.zone_limit("a", drain={"timeoutSeconds": 600, "force": True})
    cluster.zone_limit("b")
    _file(cluster, "mr-drain", drained)
    one_pass(control_plane)  # admitted, cordoned; its eviction waits on the PDB
    assert status_of(cluster, "mr-drain")["state"] == "Preparing"

    # Two disruptions now: the plan evicts p-drained with one and approves mr-in-place
    # (its pod goes down in place) with the other.
    _set_min_available(cluster, 3)
    cluster.disruptions_allowed("web", 2)
    _file(cluster, "mr-in-place", in_place)
    snapshot = read_cluster(
        Kube.connect(kubeconfig=str(control_plane.kubeconfig)), now=datetime.now(UTC)
    )
    planned = plan(snapshot)
    assert [d.pod for d in planned.decisions if isinstance(d, Evict)] == ["p-drained"]
    assert planned.explanation("mr-in-place").state is RequestState.APPROVED

    eviction = Rule(hold(), method="POST", path=r"/pods/p-drained/eviction", probability=1)
    gate_begins = Rule(hold(), method="GET", path=r"/maintenancelimits", nth=frozenset({1}))
    gate_decides = Rule(hold(), method="GET", path=rf"/api/v1/nodes/{in_place}$", probability=1)
    outcomes: list[Outcome] = []
    with proxied_runner(control_plane, eviction, tmp_path / "kubeconfig") as (kube, proxy):
        proxy.add(gate_begins)
        proxy.add(gate_decides)
        applier = Applier(kube, snapshot, policy_version=POLICY, writers=4)
        thread = threading.Thread(target=lambda: outcomes.extend(applier.apply(planned)))
        thread.start()
        assert eviction.arrived.wait(30) and gate_begins.arrived.wait(30)
        # Someone else's eviction takes one of the two disruptions before the gate reads.
        _evict(cluster, "p-0")
        cluster.disruptions_allowed("web", 1)
        gate_begins.release()
        assert gate_decides.arrived.wait(30)  # the gate has read the PDB: 1 allowed
        eviction.release()  # this pass's eviction lands: 0 allowed
        wait_until(
            "the eviction answered",
            lambda: any(
                m == "POST" and "p-drained/eviction" in p and c == "201"
                for m, p, c in proxy.history
            ),
        )
        time.sleep(0.3)  # its lane counts it
        gate_decides.release()
        thread.join(60)
    assert not thread.is_alive()
    approval = [
        o
        for o in outcomes
        if isinstance(o.decision, UpdateRequestStatus) and o.decision.request == "mr-in-place"
    ]
    assert [o.result for o in approval] == [Result.DEFERRED], outcomes
    assert [type(r) for r in approval[0].refusals] == [BudgetShortNow], approval
    assert status_of(cluster, "mr-in-place").get("state") in (None, "Pending")


def _set_min_available(cluster: Cluster, count: int) -> None:
    path = f"/apis/policy/v1beta1/namespaces/{cluster.namespace}/poddisruptionbudgets/web"
    found = cluster.raw("GET", path)
    found["spec"]["minAvailable"] = count
    cluster.raw("PUT", path, found)


def _three_requests(cluster: Cluster, **limit: object) -> list[str]:
    nodes = cluster.nodes(3)
    cluster.wait_nodes_ready(nodes)
    cluster.limit("node", type="node", limit=100, **limit)
    for letter, node in zip("abc", nodes, strict=True):
        _file(cluster, f"mr-{letter}", node)
    return nodes


def _states(cluster: Cluster) -> list[str | None]:
    return [status_of(cluster, f"mr-{letter}").get("state") for letter in "abc"]


def test_lanes_are_written_side_by_side(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    _three_requests(cluster)
    snapshot = read_cluster(
        Kube.connect(kubeconfig=str(control_plane.kubeconfig)), now=datetime.now(UTC)
    )
    planned = plan(snapshot)
    held = Rule(hold(), method="PATCH", path=r"/maintenancerequests/mr-a/status", probability=1)
    with proxied_runner(control_plane, held, tmp_path / "kubeconfig") as (kube, _):
        # One writer: nothing after mr-a's write goes out while it is held.
        outcomes: list[Outcome] = []
        serial = Applier(kube, snapshot, policy_version=POLICY, writers=1)
        thread = threading.Thread(target=lambda: outcomes.extend(serial.apply(planned)))
        thread.start()
        assert held.arrived.wait(30)
        time.sleep(2)
        assert _states(cluster) == [None, None, None]
        held.release()
        thread.join(60)
    assert _states(cluster) == ["Approved"] * 3

    for letter in "abc":  # filed again, to be approved again
        cluster.custom.delete_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests", f"mr-{letter}"
        )
    one_pass(control_plane)  # the cordon-less limit: nothing to undo
    nodes = [n for n in snapshot.nodes if n.name.endswith(("a0", "a1", "a2"))]
    for letter, node in zip("abc", sorted(n.name for n in nodes), strict=True):
        _file(cluster, f"mr-{letter}", node)
    snapshot = read_cluster(
        Kube.connect(kubeconfig=str(control_plane.kubeconfig)), now=datetime.now(UTC)
    )
    planned = plan(snapshot)
    held = Rule(hold(), method="PATCH", path=r"/maintenancerequests/mr-a/status", probability=1)
    with proxied_runner(control_plane, held, tmp_path / "kubeconfig2") as (kube, _):
        # Several: mr-b and mr-c are written while mr-a's write is held.
        outcomes = []
        parallel = Applier(kube, snapshot, policy_version=POLICY, writers=4)
        thread = threading.Thread(target=lambda: outcomes.extend(parallel.apply(planned)))
        thread.start()
        assert held.arrived.wait(30)
        wait_until("mr-b and mr-c approved", lambda: _states(cluster)[1:] == ["Approved"] * 2)
        assert _states(cluster)[0] is None
        held.release()
        thread.join(60)
    assert _states(cluster) == ["Approved"] * 3
    assert {o.result for o in outcomes} == {Result.DONE, Result.ALREADY_DONE}, outcomes


def test_the_servers_429s_are_waited_out_and_each_request_keeps_its_order(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    nodes = _three_requests(cluster, cordon=True)
    snapshot = read_cluster(
        Kube.connect(kubeconfig=str(control_plane.kubeconfig)), now=datetime.now(UTC)
    )
    planned = plan(snapshot)
    shed = Rule(
        status(429, retry_after=1),
        method="PATCH",
        path=r"/nodes/|/maintenancerequests/",
        nth=frozenset({1, 2, 3, 5}),
    )
    with proxied_runner(control_plane, shed, tmp_path / "kubeconfig") as (kube, proxy):
        outcomes = Applier(kube, snapshot, policy_version=POLICY, writers=4).apply(planned)
        history = list(proxy.history)
    assert {o.result for o in outcomes} == {Result.DONE, Result.ALREADY_DONE}, outcomes
    assert sum("429" in what for _, _, what in history) == 4, history
    assert _states(cluster) == ["Approved"] * 3
    written = [
        path.split("?")[0]
        for method, path, what in history
        if method == "PATCH" and what.isdigit() and int(what) < 300
    ]
    for letter, node in zip("abc", nodes, strict=True):
        # Admitted (Preparing), cordoned, approved: in that order, whatever the 429s.
        status_path = f"/apis/{GROUP}/{VERSION}/maintenancerequests/mr-{letter}/status"
        mine = [p for p in written if p in (status_path, f"/api/v1/nodes/{node}")]
        assert mine == [status_path, f"/api/v1/nodes/{node}", status_path], written
