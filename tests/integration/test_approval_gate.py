"""Never approve on stale data (DESIGN §3; issue 14 items 1, 2 and 6), on the real
control plane, each race forced by hand between a pass's read and its writes.

- A drain-less approval planned while the node held one pod of a PDB that allows one
  disruption; before the pass writes, the ReplicaSet puts a second pod of it there. The
  approval gate's fresh read refuses it (fails without the gate: Approved, and the
  reboot would take two pods of a PDB that allows one).
- A pod bound by name to the drained, cordoned node during the drain's grace: the next
  pass drains it before approving (fails without the policy's every-pass check: the
  gate alone would defer forever and the pod never leaves).
- The draining limit of a Preparing request is deleted, or edited into an invalid one,
  while a pod it protects is still on the node: nothing is approved, and the status
  says why (fails without the fail-closed rule: the request is then judged as if no
  drain had ever been asked — here it waits on the PDB instead; a pod under no PDB
  would have been taken down at once).
- A pass slow enough that a window closed between its snapshot and its write (here:
  the snapshot's instant inside the window, the server's clock outside it): the gate
  judges the window at the server's clock of its fresh read and writes nothing (fails
  without: Approved after the window closed). Review of issue 14.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from policy import RequestState, UpdateRequestStatus, plan
from policy.gate import BudgetShortNow, WindowClosedNow
from runner.apply import Applier, Result
from runner.kube import Kube
from runner.read import read_cluster
from tests.integration.cluster import GROUP, VERSION, Cluster, wait_until
from tests.integration.conftest import ControlPlane
from tests.integration.test_runner import request_body, status_of

POLICY = "policy/v1beta1"


def one_pass(control_plane: ControlPlane) -> list[tuple[str, str, str]]:
    """One pass as the runner makes it: read, plan, apply. (request, result, detail)."""
    kube = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    snapshot = read_cluster(kube, now=datetime.now(UTC))
    outcomes = Applier(kube, snapshot, policy_version=POLICY).apply(plan(snapshot))
    return [(getattr(o.decision, "request", ""), o.result, o.detail) for o in outcomes]


def web_on(cluster: Cluster, node: str) -> list[str]:
    return [p.metadata.name for p in cluster.running_ready("web", 3) if p.spec.node_name == node]


def test_a_drainless_approval_is_refused_when_a_pod_lands_after_the_read(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(3)
    cluster.wait_nodes_ready(nodes)
    cluster.deployment("web", 3)
    cluster.pdb("web", min_available=2)
    pods = cluster.running_ready("web", 3)
    cluster.disruptions_allowed("web", 1)
    count = {n: sum(p.spec.node_name == n for p in pods) for n in nodes}
    target = next(n for n in nodes if count[n] == 1)
    cluster.limit("node", type="node", limit=100, cordon=True)
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
    )
    kube = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    snapshot = read_cluster(kube, now=datetime.now(UTC))
    planned = plan(snapshot)
    assert planned.explanation("mr-a").state.value == "Approved"

    # The race: after the read, before the writes, a second web pod lands on the
    # target (the others are cordoned by an administrator; a pod elsewhere is replaced).
    others = [n for n in nodes if n != target]
    for node in others:
        cluster.core.patch_node(node, {"spec": {"unschedulable": True}})
    victim = next(p.metadata.name for p in pods if p.spec.node_name != target)
    cluster.core.delete_namespaced_pod(victim, cluster.namespace, grace_period_seconds=0)
    wait_until("a second web pod on the target", lambda: len(web_on(cluster, target)) == 2)
    cluster.disruptions_allowed("web", 1)

    outcomes = Applier(kube, snapshot, policy_version=POLICY).apply(planned)
    refused = [o for o in outcomes if o.result is Result.DEFERRED]
    assert len(refused) == 1, outcomes
    assert [type(r) for r in refused[0].refusals] == [BudgetShortNow], refused
    assert status_of(cluster, "mr-a")["state"] == "Preparing"

    # The next pass knows: it waits for the budget rather than approving.
    one_pass(control_plane)
    status = status_of(cluster, "mr-a")
    assert (status["state"], status["reason"]) == ("Preparing", "DisruptionBudget"), status


def test_a_pod_bound_to_a_drained_node_is_drained_before_approval(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    target = nodes[0]
    cluster.limit(
        "node",
        type="node",
        limit=100,
        drain={"timeoutSeconds": 300, "gracePeriodSeconds": 4, "force": True},
    )
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
    )
    one_pass(control_plane)
    status = status_of(cluster, "mr-a")
    assert (status["state"], status["reason"]) == ("Preparing", "DrainGracePeriod"), status

    # During the grace: a pod created with spec.nodeName (no scheduler, no cordon).
    cluster.unmanaged_pod("late", target)
    wait_until(
        "the late pod running",
        lambda: [p for p in cluster.pods("late") if p.status.phase == "Running"],
    )
    wait_until("the grace to pass", lambda: datetime.now(UTC) > _after(status, 5))
    one_pass(control_plane)
    status = status_of(cluster, "mr-a")
    assert status["state"] == "Preparing", status
    assert "arrived after the drain" in status["message"], status
    assert "drainedAt" not in status or status["drainedAt"] is None
    wait_until("the late pod evicted", lambda: not cluster.pods("late"))

    def approved() -> bool:
        one_pass(control_plane)
        return status_of(cluster, "mr-a")["state"] == "Approved"

    wait_until("mr-a approved once the node is empty again", approved, timeout=60)


def _after(status: dict[str, str], seconds: float) -> datetime:
    drained = datetime.fromisoformat(status["drainedAt"].replace("Z", "+00:00"))
    return drained + timedelta(seconds=seconds)


def test_a_preparing_request_is_not_approved_when_its_limit_breaks(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.deployment("web", 2)
    cluster.pdb("web", min_available=2)  # allows nothing: the drain waits
    pods = cluster.running_ready("web", 2)
    cluster.disruptions_allowed("web", 0)
    target = pods[0].spec.node_name
    drain = {"timeoutSeconds": 600}
    for broken in (
        {"windows": [{"days": ["Mon"], "start": "00:00", "end": "01:00", "timeZone": "Mars/Base"}]},
        None,  # deleted
    ):
        cluster.limit("node", type="node", limit=100, drain=drain)
        cluster.custom.create_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
        )
        one_pass(control_plane)
        status = status_of(cluster, "mr-a")
        assert (status["state"], status["reason"]) == ("Preparing", "Draining"), status

        if broken is None:
            cluster.custom.delete_cluster_custom_object(GROUP, VERSION, "maintenancelimits", "node")
        else:
            cluster.custom.patch_cluster_custom_object(
                GROUP,
                VERSION,
                "maintenancelimits",
                "node",
                {"spec": {"type": "node", "limit": 100, "drain": drain, **broken}},
            )
        one_pass(control_plane)
        status = status_of(cluster, "mr-a")
        expected = "NoLimit" if broken is None else "LimitInvalid"
        assert (status["state"], status["reason"]) == ("Preparing", expected), status
        assert "not approved until it is fixed" in status["message"]
        assert any(p.spec.node_name == target for p in cluster.pods("web"))

        # Clean up for the second round: withdraw, let the pass release the node.
        cluster.custom.patch_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests", "mr-a", {"spec": {"state": "Completed"}}
        )
        one_pass(control_plane)
        assert status_of(cluster, "mr-a")["reason"] == "Withdrawn"
        cluster.custom.delete_cluster_custom_object(GROUP, VERSION, "maintenancerequests", "mr-a")
        if broken is not None:
            cluster.custom.delete_cluster_custom_object(GROUP, VERSION, "maintenancelimits", "node")
        one_pass(control_plane)
        assert not cluster.core.read_node(target).spec.unschedulable


def test_an_approval_is_not_written_after_its_window_closed(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    later = datetime.now(UTC) + timedelta(hours=2)
    window = {
        "start": f"{later.hour:02d}:00",
        "end": f"{(later.hour + 1) % 24:02d}:00",
        "timeZone": "UTC",
    }
    cluster.limit("node", type="node", limit=100, cordon=True, windows=[window])
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", nodes[0])
    )
    kube = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    snapshot = read_cluster(kube, now=later)  # the plan's instant: inside the window
    planned = plan(snapshot)
    assert planned.explanation("mr-a").state.value == "Approved"
    outcomes = Applier(kube, snapshot, policy_version=POLICY).apply(planned)
    approvals = [
        o
        for o in outcomes
        if isinstance(o.decision, UpdateRequestStatus)
        and o.decision.status.state is RequestState.APPROVED
    ]
    assert len(approvals) == 1 and approvals[0].result is Result.DEFERRED, approvals
    (closed,) = approvals[0].refusals
    assert isinstance(closed, WindowClosedNow) and closed.limit == "node", approvals
    assert status_of(cluster, "mr-a")["state"] == "Preparing"  # admitted, not approved
