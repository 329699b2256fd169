"""Cordon ownership holds on the fresh object, not only in the snapshot (DESIGN §3;
issue 14 items 3 and 4), on the real control plane, each race forced by hand.

- Runner A lists the requests before mr-x exists; runner B admits mr-x (cordon, no
  drain: cordon and Approved in one pass); A's node list, read after, shows
  `cordoned-by: mr-x`, which A's request list lacks. A's orphan rule wants to uncordon
  it; a GET of mr-x says Approved, so A leaves it (fails without: the maintenance runs
  on a schedulable node).
- An administrator cordons a node after the pass read it and before the pass cordons
  it: the pass leaves that cordon alone and never annotates it, and when the request
  ends the node stays cordoned (fails without: the request's end lifts the
  administrator's quarantine).
- An administrator lifts their own cordon, on which a drain-less approval relies, while
  the approval gate reads (held in the fault proxy at the gate's limits read): the gate
  sees it, because it reads the node last, and defers; the next pass cordons the node
  for the request and approves (fails with the node read first: approved, the cordon
  lifted a moment before the write).
- The same lift while the approval's status write is held (after the gate, the race no
  reader closes): right after the write the runner finds the node schedulable and
  cordons it for the request (fails without `_keep_cordon`: the maintenance runs on a
  schedulable node).
- An administrator uncordons and cordons again (their own drain) a node we cordoned,
  between two passes, so no pass sees it schedulable and our annotation stays: when
  the request ends, their cordon stays and only our claim goes (managedFields say who
  set `spec.unschedulable` last; fails without: their quarantine is lifted as ours).
  Review finding F3.
- Runner A plans to drop our claim on a node an administrator uncordoned under an
  Approved request; before A writes, runner B (whose list still showed the request
  Preparing) cordons it again for the request. A's drop must leave that claim, else
  our cordon has no owner and is never lifted (fails without: the node stays cordoned
  after the request ends). Review finding F2.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import attrs

from policy import plan
from policy.decisions import Cordon
from policy.gate import CordonLost
from policy.model import CORDONED_BY, CORDONED_BY_UID
from runner.apply import FIELD_MANAGER, Applier, Outcome, Result
from runner.convert import node_of
from runner.kube import Kube
from runner.read import read_cluster
from tests.faultproxy import FaultProxy, Rule, hold
from tests.integration.cluster import GROUP, VERSION, Cluster
from tests.integration.conftest import ControlPlane
from tests.integration.scenario import runner_kubeconfig_via
from tests.integration.test_approval_gate import POLICY, one_pass
from tests.integration.test_runner import request_body, status_of


def test_the_orphan_rule_never_lifts_a_cordon_another_runner_just_made(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.limit("node", type="node", limit=100, cordon=True)
    kube_a = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    seen_by_a = read_cluster(kube_a, now=datetime.now(UTC))  # its request list: no mr-x

    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-x", nodes[0])
    )
    one_pass(control_plane)  # runner B
    assert status_of(cluster, "mr-x")["state"] == "Approved"
    node = cluster.core.read_node(nodes[0])
    assert node.spec.unschedulable and node.metadata.annotations[CORDONED_BY] == "mr-x"

    # A's node list comes after B's cordon: A's snapshot pairs old requests, new nodes.
    fresh_nodes = [node_of(raw) for raw in kube_a.list("/api/v1/nodes")]
    seen_by_a = attrs.evolve(seen_by_a, nodes=tuple(fresh_nodes))
    plan_a = plan(seen_by_a)
    assert [d.node for d in plan_a.decisions if type(d).__name__ == "Uncordon"] == [nodes[0]]
    outcomes = Applier(kube_a, seen_by_a, policy_version=POLICY).apply(plan_a)
    left = [o for o in outcomes if type(o.decision).__name__ == "Uncordon"]
    assert [(o.result, o.detail) for o in left] == [
        (Result.DEFERRED, "left cordoned: mr-x is Approved")
    ]
    node = cluster.core.read_node(nodes[0])
    assert node.spec.unschedulable and node.metadata.annotations[CORDONED_BY] == "mr-x"


def test_an_administrators_cordon_made_after_the_read_is_never_taken_over(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    target = nodes[0]
    cluster.limit("node", type="node", limit=100, drain={"timeoutSeconds": 120})
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
    )
    kube = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    snapshot = read_cluster(kube, now=datetime.now(UTC))
    planned = plan(snapshot)
    assert any(type(d).__name__ == "Cordon" for d in planned.decisions)

    cluster.core.patch_node(target, {"spec": {"unschedulable": True}})  # the administrator
    outcomes = Applier(kube, snapshot, policy_version=POLICY).apply(planned)
    cordons = [o for o in outcomes if type(o.decision).__name__ == "Cordon"]
    assert [(o.result, o.detail) for o in cordons] == [
        (Result.DEFERRED, "cordoned by someone else since the read")
    ]
    assert CORDONED_BY not in (cluster.core.read_node(target).metadata.annotations or {})

    # The next passes see the administrator's cordon, drain and approve under it.
    for _ in range(3):
        one_pass(control_plane)
        if status_of(cluster, "mr-a")["state"] == "Approved":
            break
    assert status_of(cluster, "mr-a")["state"] == "Approved"
    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", "mr-a", {"spec": {"state": "InProgress"}}
    )
    one_pass(control_plane)
    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", "mr-a", {"spec": {"state": "Completed"}}
    )
    one_pass(control_plane)
    one_pass(control_plane)
    assert status_of(cluster, "mr-a")["state"] == "Completed"
    node = cluster.core.read_node(target)
    assert node.spec.unschedulable, "the administrator's cordon was lifted"
    assert CORDONED_BY not in (node.metadata.annotations or {})


def test_an_administrators_uncordon_and_recordon_during_the_work_is_never_lifted(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    """mr-a is Approved on n0, cordoned by us. The administrator uncordons n0 (our
    annotation stays); a pass reads that and plans to drop our claim; the administrator
    cordons n0 again before the pass writes. The write drops the annotation only, and
    mr-a's end leaves the administrator's cordon (fails when an annotation-only release
    also clears unschedulable, or when the claim is never dropped)."""
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    target = nodes[0]
    cluster.limit("node", type="node", limit=100, cordon=True)
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
    )
    one_pass(control_plane)
    assert status_of(cluster, "mr-a")["state"] == "Approved"
    cluster.core.patch_node(target, {"spec": {"unschedulable": False}})  # kubectl uncordon
    kube = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    snapshot = read_cluster(kube, now=datetime.now(UTC))
    planned = plan(snapshot)
    drops = [d for d in planned.decisions if type(d).__name__ == "Uncordon"]
    assert [(d.node, d.unschedulable) for d in drops] == [(target, False)]  # type: ignore[attr-defined]
    cluster.core.patch_node(target, {"spec": {"unschedulable": True}})  # kubectl cordon
    Applier(kube, snapshot, policy_version=POLICY).apply(planned)
    node = cluster.core.read_node(target)
    assert node.spec.unschedulable and CORDONED_BY not in (node.metadata.annotations or {})
    for state in ("InProgress", "Completed"):
        cluster.custom.patch_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests", "mr-a", {"spec": {"state": state}}
        )
        one_pass(control_plane)
    assert status_of(cluster, "mr-a")["state"] == "Completed"
    assert cluster.core.read_node(target).spec.unschedulable, (
        "the administrator's cordon was lifted"
    )


@contextmanager
def proxied_runner(
    control_plane: ControlPlane, rule: Rule, path: Path
) -> Iterator[tuple[Kube, FaultProxy]]:
    """The runner's credentials through the fault proxy, with `rule` in force."""
    configuration = control_plane.api.configuration
    proxy = FaultProxy(configuration.host, configuration.ssl_ca_cert).start()
    try:
        proxy.add(rule)
        yield (
            Kube.connect(kubeconfig=str(runner_kubeconfig_via(control_plane, proxy.url, path))),
            proxy,
        )
    finally:
        proxy.release()
        proxy.stop()


def lift_while_held(
    cluster: Cluster, control_plane: ControlPlane, rule: Rule, path: Path, target: str
) -> list[tuple[Result, object]]:
    """One pass of mr-a's approval, planned while the administrator's cordon stands on
    `target`; the administrator lifts it while the request `rule` matches is held."""
    snapshot = read_cluster(
        Kube.connect(kubeconfig=str(control_plane.kubeconfig)), now=datetime.now(UTC)
    )
    planned = plan(snapshot)
    assert planned.explanation("mr-a").state.value == "Approved"
    assert not [d for d in planned.decisions if type(d).__name__ == "Cordon"]
    outcomes: list[Outcome] = []
    with proxied_runner(control_plane, rule, path) as (kube, proxy):
        applier = Applier(kube, snapshot, policy_version=POLICY)
        thread = threading.Thread(target=lambda: outcomes.extend(applier.apply(planned)))
        thread.start()
        assert proxy.held.wait(timeout=30), "the held request was never made"
        cluster.core.patch_node(target, {"spec": {"unschedulable": False}})
        proxy.release()
        thread.join(timeout=60)
    return [
        (o.result, o.refusals or o.detail)
        for o in outcomes
        if getattr(o.decision, "request", "") == "mr-a"
    ]


def admin_cordoned_request(cluster: Cluster) -> str:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    target = nodes[0]
    cluster.limit("node", type="node", limit=100, cordon=True)
    cluster.core.patch_node(target, {"spec": {"unschedulable": True}})  # the administrator
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
    )
    return target


def test_a_cordon_lifted_during_the_gates_reads_defers_the_approval(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    target = admin_cordoned_request(cluster)
    rule = Rule(hold(), method="GET", path=r"/maintenancelimits($|\?)", nth=frozenset({1}))
    results = lift_while_held(cluster, control_plane, rule, tmp_path / "kubeconfig", target)
    # The approval deferred, its node conditions skipped with it (nothing announced).
    assert [r for r, _ in results] == [Result.DEFERRED, Result.SKIPPED], results
    assert results[0][1] == (CordonLost(target, None, None),), results
    assert status_of(cluster, "mr-a").get("state") in (None, "Pending")  # nothing written

    one_pass(control_plane)  # the node is schedulable now: cordoned for mr-a, approved
    assert status_of(cluster, "mr-a")["state"] == "Approved"
    node = cluster.core.read_node(target)
    assert node.spec.unschedulable and node.metadata.annotations[CORDONED_BY] == "mr-a"


def test_a_cordon_lifted_while_the_approval_is_written_is_put_back(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    target = admin_cordoned_request(cluster)
    rule = Rule(
        hold(), method="PATCH", path=r"/maintenancerequests/mr-a/status", nth=frozenset({1})
    )
    results = lift_while_held(cluster, control_plane, rule, tmp_path / "kubeconfig", target)
    assert results == [
        (Result.DONE, f"{target}'s cordon was lifted while approving: cordoned again for it"),
        (Result.DONE, "MaintenancePlanned, MaintenanceInProgress"),
    ], results
    assert status_of(cluster, "mr-a")["state"] == "Approved"
    node = cluster.core.read_node(target)
    assert node.spec.unschedulable and node.metadata.annotations[CORDONED_BY] == "mr-a"


def actor_finishes(cluster: Cluster, control_plane: ControlPlane, name: str) -> None:
    for state in ("InProgress", "Completed"):
        cluster.custom.patch_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests", name, {"spec": {"state": state}}
        )
        one_pass(control_plane)
    one_pass(control_plane)
    assert status_of(cluster, name)["state"] == "Completed"


def cordon_setter(cluster: Cluster, node: str) -> str:
    raw = cluster.raw("GET", f"/api/v1/nodes/{node}")
    for entry in raw["metadata"].get("managedFields") or []:
        if "f:unschedulable" in ((entry.get("fieldsV1") or {}).get("f:spec") or {}):
            return str(entry["manager"])
    return ""


def approved_on_our_cordon(cluster: Cluster, control_plane: ControlPlane) -> str:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    target = nodes[0]
    cluster.limit("node", type="node", limit=100, cordon=True)
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-1", target)
    )
    one_pass(control_plane)
    assert status_of(cluster, "mr-1")["state"] == "Approved"
    node = cluster.core.read_node(target)
    assert node.spec.unschedulable and node.metadata.annotations[CORDONED_BY] == "mr-1"
    assert cordon_setter(cluster, target) == FIELD_MANAGER
    return target


def test_an_administrators_uncordon_and_cordon_between_passes_is_theirs_at_the_end(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    target = approved_on_our_cordon(cluster, control_plane)
    cluster.core.patch_node(target, {"spec": {"unschedulable": False}})  # the administrator
    cluster.core.patch_node(target, {"spec": {"unschedulable": True}})
    assert cordon_setter(cluster, target) not in ("", FIELD_MANAGER)
    actor_finishes(cluster, control_plane, "mr-1")
    node = cluster.core.read_node(target)
    assert node.spec.unschedulable, "the administrator's cordon was lifted"
    assert CORDONED_BY not in (node.metadata.annotations or {})


def test_a_claim_dropped_on_a_stale_read_never_strips_a_cordon_made_again_for_it(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    target = approved_on_our_cordon(cluster, control_plane)
    cluster.core.patch_node(target, {"spec": {"unschedulable": False}})  # the administrator
    kube = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    seen_by_a = read_cluster(kube, now=datetime.now(UTC))
    plan_a = plan(seen_by_a)
    drops = [d for d in plan_a.decisions if type(d).__name__ == "Uncordon"]
    assert [(d.node, d.unschedulable) for d in drops] == [(target, False)]

    # Runner B cordons the node again for mr-1, through the runner's own write path.
    uid = cluster.custom.get_cluster_custom_object(GROUP, VERSION, "maintenancerequests", "mr-1")[
        "metadata"
    ]["uid"]
    again = Applier(kube, seen_by_a, policy_version=POLICY)._node(
        Cordon(node=target, request="mr-1", uid=uid), cordon=True
    )
    assert again.result is Result.DONE

    outcomes = Applier(kube, seen_by_a, policy_version=POLICY).apply(plan_a)
    dropped = [o for o in outcomes if type(o.decision).__name__ == "Uncordon"]
    assert [(o.result, o.detail) for o in dropped] == [
        (Result.ALREADY_DONE, "cordoned again for it since the read")
    ]
    assert cluster.core.read_node(target).metadata.annotations[CORDONED_BY] == "mr-1"
    actor_finishes(cluster, control_plane, "mr-1")
    node = cluster.core.read_node(target)
    assert not node.spec.unschedulable, "our cordon outlived its request"
    assert CORDONED_BY not in (node.metadata.annotations or {})


def test_a_request_filed_again_under_a_deleted_ones_name_does_not_keep_its_cordon(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    """Review finding (issue 32): actor A's mr-a cordoned n0 and was deleted; before the
    next pass actor B filed a new mr-a for n1 (the admission policy lets B name its
    request anything). The annotation names mr-a by name and uid, so the pass lifts
    A's cordon and cordons n1 for B's request (fails with ownership by name only: n0
    stays cordoned for nobody until B's request ends, a day by default)."""
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.limit("node", type="node", limit=100, cordon=True)
    custom = cluster.custom
    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", nodes[0])
    )
    one_pass(control_plane)
    assert status_of(cluster, "mr-a")["state"] == "Approved"
    first = custom.get_cluster_custom_object(GROUP, VERSION, "maintenancerequests", "mr-a")
    annotations = cluster.core.read_node(nodes[0]).metadata.annotations or {}
    assert annotations[CORDONED_BY_UID] == f"mr-a/{first['metadata']['uid']}"

    custom.delete_cluster_custom_object(GROUP, VERSION, "maintenancerequests", "mr-a")
    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", nodes[1])
    )
    one_pass(control_plane)
    again = custom.get_cluster_custom_object(GROUP, VERSION, "maintenancerequests", "mr-a")
    assert status_of(cluster, "mr-a")["state"] == "Approved"
    released = cluster.core.read_node(nodes[0])
    assert not released.spec.unschedulable, "A's cordon is kept by B's request of that name"
    assert CORDONED_BY not in (released.metadata.annotations or {})
    taken = cluster.core.read_node(nodes[1])
    assert taken.spec.unschedulable
    assert (taken.metadata.annotations or {})[CORDONED_BY_UID] == f"mr-a/{again['metadata']['uid']}"


def test_a_stale_uncordon_never_lifts_a_cordon_a_request_of_that_name_works_under(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    """Review (helper, issue 32): runner A lists after mr-a (uid 1) was deleted and plans
    to release its cordon on n0; before A writes, mr-a is filed again for n0 and an
    older runner (which writes names only; simulated by writing its status) approves it
    under that very cordon, leaving uid 1 in the annotation. A's write-time GET finds
    mr-a active on n0 under another uid and defers (fails with "another uid is gone":
    n0 is uncordoned under an Approved request)."""
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.limit("node", type="node", limit=100, cordon=True)
    custom = cluster.custom
    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", nodes[0])
    )
    one_pass(control_plane)
    assert status_of(cluster, "mr-a")["state"] == "Approved"
    custom.delete_cluster_custom_object(GROUP, VERSION, "maintenancerequests", "mr-a")
    kube = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    seen_by_a = read_cluster(kube, now=datetime.now(UTC))
    plan_a = plan(seen_by_a)
    assert [(d.node, d.request) for d in plan_a.decisions if type(d).__name__ == "Uncordon"] == [
        (nodes[0], "mr-a")
    ]

    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", nodes[0])
    )
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    custom.patch_cluster_custom_object_status(
        GROUP,
        VERSION,
        "maintenancerequests",
        "mr-a",
        {
            "status": {
                "state": "Approved",
                "reason": "Approved",
                "target": f"node/{nodes[0]}",
                "preparingSince": now,
                "approvedAt": now,
            }
        },
    )
    outcomes = Applier(kube, seen_by_a, policy_version=POLICY).apply(plan_a)
    (released,) = [o for o in outcomes if type(o.decision).__name__ == "Uncordon"]
    assert released.result is Result.DEFERRED, released
    assert "filed again" in released.detail
    assert cluster.core.read_node(nodes[0]).spec.unschedulable
    # The next pass (this version) takes the cordon over for the new mr-a by its uid.
    one_pass(control_plane)
    again = custom.get_cluster_custom_object(GROUP, VERSION, "maintenancerequests", "mr-a")
    annotations = cluster.core.read_node(nodes[0]).metadata.annotations or {}
    assert annotations[CORDONED_BY_UID] == f"mr-a/{again['metadata']['uid']}"
    assert cluster.core.read_node(nodes[0]).spec.unschedulable
