"""DESIGN §8 on the control plane: the node lifecycle conditions (KEP-5683) a request
shows on its Node, as the runner writes them through `nodes/status`.

The 1.20 API server stores these condition types as any other. The invariant watcher
records every change of the four on the test's nodes and checks, at each event, that
no condition disappears (the simulated kubelet's Ready under our writes, ours under
its), that a True condition of ours says the state its request has, and at the end
that none of ours is left True.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from tests.faultproxy import Fault, FaultProxy, Rule, hold, status
from tests.integration.cluster import Cluster, wait_until
from tests.integration.conftest import GROUP, VERSION, ControlPlane
from tests.integration.invariants import InvariantWatcher, LimitRule
from tests.integration.scenario import runner_kubeconfig_via
from tests.integration.test_runner import limit_body, request_body, runner, status_of

LIFECYCLE = ("MaintenancePlanned", "DrainInProgress", "Drained", "MaintenanceInProgress")
LEASE = "/apis/coordination.k8s.io/v1/namespaces/repairman-system/leases/repairman-runner"


def row(shown: dict[str, tuple[str, str, str]]) -> tuple[tuple[str, ...], str]:
    """The four statuses ('-' when absent) and MaintenancePlanned's reason (written at
    every change of row: True throughout, False at the end). A condition already False
    keeps its reason: not rewritten for it alone."""
    statuses = tuple(shown[kind][0] if kind in shown else "-" for kind in LIFECYCLE)
    return statuses, shown.get("MaintenancePlanned", ("", "", ""))[1]


def conditions(cluster: Cluster, node: str) -> dict[str, Any]:
    found = cluster.core.read_node_status(node).status.conditions or []
    return {c.type: c for c in found}


def one_pass(kubeconfig: Path) -> list[dict[str, Any]]:
    code, _, logs = runner(kubeconfig)
    assert code == 0, logs
    return logs


def move(cluster: Cluster, request: str, state: str) -> None:
    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request, {"spec": {"state": state}}
    )


def drained_under_a_pdb(cluster: Cluster, nodes: list[str], **drain: Any) -> str:
    """Three web pods on `nodes` under a PDB allowing one disruption, and a limit of
    one node in three that drains; the node with the most of the pods (its drain
    needs the budget more than once)."""
    cluster.wait_nodes_ready(nodes)
    target = cluster.web_under_a_pdb(nodes, 3)
    cluster.custom.create_cluster_custom_object(
        GROUP,
        VERSION,
        "maintenancelimits",
        limit_body("node", limit=34, drain={"timeoutSeconds": 300, **drain}),
    )
    return target


def test_a_drain_and_reboot_request_shows_the_table_on_its_node(
    cluster: Cluster, control_plane: ControlPlane, runner_kubeconfig: Path
) -> None:
    nodes = cluster.nodes(3)
    target = drained_under_a_pdb(cluster, nodes, gracePeriodSeconds=2)
    watcher = InvariantWatcher(
        cluster, limits=[LimitRule("node", 1)], zone_of=dict.fromkeys(nodes, "a")
    ).start()
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
    )
    kubelet = control_plane.kubelet  # type: ignore[attr-defined]
    try:
        wait_until(
            "mr-a Approved",
            lambda: (
                one_pass(runner_kubeconfig)
                and status_of(cluster, "mr-a").get("state") == "Approved"
            ),
            timeout=90,
        )
        move(cluster, "mr-a", "InProgress")
        one_pass(runner_kubeconfig)
        # The reboot: the kubelet reports NotReady, then Ready, writing its condition
        # while ours are True; a pass in between.
        kubelet.not_ready.add(target)
        wait_until("NotReady", lambda: conditions(cluster, target)["Ready"].status == "False")
        one_pass(runner_kubeconfig)
        kubelet.not_ready.discard(target)
        wait_until("Ready", lambda: conditions(cluster, target)["Ready"].status == "True")
        shown = conditions(cluster, target)
        assert shown["MaintenanceInProgress"].status == "True", "the kubelet's writes kept ours"
        move(cluster, "mr-a", "Completed")
        one_pass(runner_kubeconfig)
        assert status_of(cluster, "mr-a")["state"] == "Completed"
        unchanged = one_pass(runner_kubeconfig)
        assert unchanged[-1]["writes"] == 0, [e for e in unchanged if "action" in e]
        wait_until(
            "the watcher saw the last write",
            lambda: (
                watcher.node_conditions and row(watcher.node_conditions[-1][2])[0] == ("False",) * 4
            ),
        )
    finally:
        kubelet.not_ready.discard(target)
        violations = watcher.stop() + watcher.finished()
    assert not violations, violations
    seen = [row(shown) for _, node, shown in watcher.node_conditions if node == target]
    assert seen == [
        (("True", "True", "-", "-"), "RepairmanPreparing"),  # draining
        (("True", "False", "True", "-"), "RepairmanPreparing"),  # drained, the grace
        (("True", "False", "True", "True"), "RepairmanApproved"),
        (("True", "False", "True", "True"), "RepairmanInProgress"),
        (("False", "False", "False", "False"), "RepairmanCompleted"),
    ], seen
    others = [node for _, node, _ in watcher.node_conditions if node != target]
    assert not others, "no other node shows anything"
    final = conditions(cluster, target)
    assert final["Ready"].status == "True" and final["Ready"].reason == "KubeletReady"
    assert final["MaintenancePlanned"].message == "repairman: mr-a ended"
    assert final["MaintenancePlanned"].reason == "RepairmanCompleted"


def cordon_only(cluster: Cluster, **spec: Any) -> None:
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancelimits", limit_body("node", limit=100, cordon=True, **spec)
    )


def set_condition(cluster: Cluster, node: str, kind: str, reason: str, message: str) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    condition = {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }
    cluster.core.patch_node_status(node, {"status": {"conditions": [condition]}})


@contextlib.contextmanager
def runner_through_proxy(
    control_plane: ControlPlane,
    tmp_path: Path,
    node: str,
    fault: Fault,
    *,
    first_only: bool,
    args: tuple[str, ...] = (),
) -> Iterator[tuple[Rule, subprocess.Popen[str]]]:
    """A runner process (with `args`) whose only API server is the fault proxy,
    `fault` on the PATCHes of `node`'s status (the first only, or every one)."""
    configuration = control_plane.api.configuration
    proxy = FaultProxy(configuration.host, configuration.ssl_ca_cert).start()
    try:
        path = rf"/api/v1/nodes/{node}/status"
        rule = proxy.add(
            Rule(fault, method="PATCH", path=path, nth=frozenset({1}))
            if first_only
            else Rule(fault, method="PATCH", path=path, probability=1)
        )
        via = runner_kubeconfig_via(control_plane, proxy.url, tmp_path / "via.kubeconfig")
        command = [sys.executable, "-c", "from runner.cli import main; main()"]
        yield (
            rule,
            subprocess.Popen(
                [*command, "--kubeconfig", str(via), *args],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
    finally:
        proxy.stop()


def one_request(cluster: Cluster, *, before: Callable[[str], None] = lambda node: None) -> str:
    """A node, a cordon-only limit, `before(node)`, then mr-a for the node."""
    (node,) = cluster.nodes(1)
    cluster.wait_nodes_ready([node])
    cordon_only(cluster)
    before(node)
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", node)
    )
    return node


def test_an_administrators_conditions_stay_theirs_even_when_set_during_our_write(
    cluster: Cluster, control_plane: ControlPlane, runner_kubeconfig: Path, tmp_path: Path
) -> None:
    """Theirs before the pass, and theirs set between our read of the node and our
    write (held at the proxy): never changed. Mutation: without the resourceVersion
    in the patch, the held write lands over the administrator's condition."""
    node = one_request(
        cluster,
        before=lambda node: set_condition(
            cluster, node, "MaintenancePlanned", "RackMove", "ops: rack 12 moves"
        ),
    )
    with runner_through_proxy(control_plane, tmp_path, node, hold(), first_only=True) as (
        rule,
        process,
    ):
        assert rule.arrived.wait(timeout=60), "the conditions were never written"
        assert status_of(cluster, "mr-a")["state"] == "Approved"
        set_condition(cluster, node, "MaintenanceInProgress", "OnCall", "ops: working on it")
        rule.release()
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    shown = conditions(cluster, node)
    assert (shown["MaintenancePlanned"].reason, shown["MaintenancePlanned"].message) == (
        "RackMove",
        "ops: rack 12 moves",
    )
    assert shown["MaintenanceInProgress"].reason == "OnCall", shown["MaintenanceInProgress"]
    assert "DrainInProgress" not in shown and "Drained" not in shown, "nothing to say: False"
    # The request ends: still nothing of theirs changes, nothing of ours is True.
    move(cluster, "mr-a", "InProgress")
    one_pass(runner_kubeconfig)
    move(cluster, "mr-a", "Completed")
    one_pass(runner_kubeconfig)
    shown = conditions(cluster, node)
    assert shown["MaintenancePlanned"].reason == "RackMove"
    assert shown["MaintenanceInProgress"].reason == "OnCall"
    assert shown["Ready"].status == "True"


def test_a_runner_killed_between_the_approval_and_the_conditions_converges(
    cluster: Cluster, control_plane: ControlPlane, runner_kubeconfig: Path, tmp_path: Path
) -> None:
    node = one_request(cluster)
    with runner_through_proxy(control_plane, tmp_path, node, hold(), first_only=False) as (
        rule,
        process,
    ):
        assert rule.arrived.wait(timeout=60), "the conditions were never written"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    cluster.raw("DELETE", LEASE)  # what its expiry would do for the next run
    assert status_of(cluster, "mr-a")["state"] == "Approved"
    assert "MaintenanceInProgress" not in conditions(cluster, node), "the kill came first"
    one_pass(runner_kubeconfig)
    shown = conditions(cluster, node)
    assert {k: shown[k].status for k in LIFECYCLE if k in shown} == {
        "MaintenancePlanned": "True",
        "MaintenanceInProgress": "True",
    }
    assert shown["MaintenanceInProgress"].reason == "RepairmanApproved"


def test_node_conditions_false_publishes_nothing_and_clears_ours(
    cluster: Cluster, runner_kubeconfig: Path
) -> None:
    first, second = cluster.nodes(2)
    cluster.wait_nodes_ready([first, second])
    cordon_only(cluster)
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", first)
    )
    one_pass(runner_kubeconfig)
    assert conditions(cluster, first)["MaintenanceInProgress"].status == "True"
    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, "maintenancelimits", "node", {"spec": {"nodeConditions": False}}
    )
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-b", second)
    )
    one_pass(runner_kubeconfig)
    assert status_of(cluster, "mr-a")["state"] == "Approved"
    assert status_of(cluster, "mr-b")["state"] == "Approved"
    shown = conditions(cluster, first)
    assert {shown[k].status for k in LIFECYCLE if k in shown} == {"False"}, shown
    assert not any(k in conditions(cluster, second) for k in LIFECYCLE)


def test_a_refused_conditions_write_still_uncordons(
    cluster: Cluster, control_plane: ControlPlane, runner_kubeconfig: Path, tmp_path: Path
) -> None:
    """The conditions are an announcement: refused (a 403, as with an image upgraded
    before its RBAC), the pass fails and says so, but the request still ends and its
    node is uncordoned. Mutation: a failed conditions write that stops its request's
    chain leaves the node cordoned."""
    node = one_request(cluster)
    one_pass(runner_kubeconfig)
    move(cluster, "mr-a", "InProgress")
    one_pass(runner_kubeconfig)
    move(cluster, "mr-a", "Completed")
    with runner_through_proxy(control_plane, tmp_path, node, status(403), first_only=False) as (
        _,
        process,
    ):
        _, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert "SetNodeConditions" in err and "forbidden: patch nodes/status" in err, err
    assert status_of(cluster, "mr-a")["state"] == "Completed"
    assert not cluster.core.read_node(node).spec.unschedulable, "uncordoned all the same"
    assert conditions(cluster, node)["MaintenanceInProgress"].status == "True", "refused"
    one_pass(runner_kubeconfig)
    shown = conditions(cluster, node)
    assert {shown[k].status for k in LIFECYCLE if k in shown} == {"False"}, shown


def test_refused_conditions_writes_do_not_end_a_run_until_stable(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """A drain that takes several passes (two pods, a PDB allowing one disruption)
    under `--until-stable` while every nodes/status write is refused: the passes go on
    and the request is approved within the run, which then exits 1 naming the refusal.
    Mutation: a failed conditions write that ends the run leaves it draining."""
    target = drained_under_a_pdb(cluster, cluster.nodes(3))
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
    )
    until_stable = ("--until-stable", "--deadline", "40")
    with runner_through_proxy(
        control_plane, tmp_path, target, status(403), first_only=False, args=until_stable
    ) as (_, process):
        _, err = process.communicate(timeout=90)
    assert process.returncode == 1, err
    assert "forbidden: patch nodes/status" in err
    assert status_of(cluster, "mr-a")["state"] == "Approved", status_of(cluster, "mr-a")


def json_patch_status(cluster: Cluster, node: str, ops: list[dict[str, Any]]) -> None:
    """A JSON patch of the node's status (the client sends a list body as one)."""
    cluster.core.patch_node_status(node, ops)


def test_a_type_shown_twice_is_cleared_entry_by_entry_and_anothers_stays(
    cluster: Cluster, runner_kubeconfig: Path
) -> None:
    """mr-a Approved; then a hand edit adds a second MaintenancePlanned entry, the
    operator's own (the API server keeps both: nothing merges a JSON patch's add), and
    a copy of ours. mr-a completes: both entries of ours go False where they are, the
    operator's stays as written, and nothing of ours is left True. A JSON patch that
    carries a resourceVersion older than the node's is refused (409): the guard our
    write relies on."""
    node = one_request(cluster)
    one_pass(runner_kubeconfig)
    assert status_of(cluster, "mr-a")["state"] == "Approved"
    theirs = {"type": "MaintenancePlanned", "status": "True", "reason": "Ops", "message": "mine"}
    ours = next(
        c.to_dict()
        for c in cluster.core.read_node_status(node).status.conditions
        if c.type == "MaintenancePlanned"
    )
    ours = {k: v for k, v in ours.items() if v is not None}
    for key in ("last_heartbeat_time", "last_transition_time"):
        ours.pop(key, None)
    add = [{"op": "add", "path": "/status/conditions/-", "value": v} for v in (theirs, ours)]
    json_patch_status(cluster, node, add)
    listed = cluster.core.read_node_status(node).status.conditions
    assert [c.type for c in listed].count("MaintenancePlanned") == 3, listed
    stale = cluster.core.read_node(node).metadata.resource_version
    cluster.core.patch_node_status(node, {"status": {"nodeInfo": {"bootID": "moved-on"}}})
    refused = [
        {"op": "replace", "path": "/metadata/resourceVersion", "value": stale},
        {"op": "add", "path": "/status/conditions/-", "value": theirs},
    ]
    try:
        json_patch_status(cluster, node, refused)
    except ApiException as error:
        assert error.status == 409, error
    else:
        raise AssertionError("a JSON patch with a stale resourceVersion was taken")
    move(cluster, "mr-a", "Completed")
    one_pass(runner_kubeconfig)
    one_pass(runner_kubeconfig)
    planned = [
        (c.status, c.reason, c.message)
        for c in cluster.core.read_node_status(node).status.conditions
        if c.type == "MaintenancePlanned"
    ]
    assert planned.count(("True", "Ops", "mine")) == 1, planned
    ours_now = [p for p in planned if p[1] != "Ops"]
    assert len(ours_now) == 2 and {p[0] for p in ours_now} == {"False"}, planned
    shown = conditions(cluster, node)
    assert all(
        shown[k].status == "False" for k in LIFECYCLE if k in shown and k != "MaintenancePlanned"
    ), shown
