"""An admission that is not written is not held (DESIGN §3, issue 28 defect 1), on the
real control plane, each moment forced with the fault proxy's hold.

- A drain-less admission is committed (the limit's status names it), then, while the
  gate's fresh read is held at the proxy, a pod under a PDB is bound to its node: the
  gate refuses, nothing is written for the request, and the same pass removes its
  commit entry. The next request under `maxConcurrent: 1` is approved in the next
  pass (fails without the removal: it waits `LimitReached` behind a request that can
  never be admitted — its PDB stays short — for as long as the entry lives).
- A runner is killed right after its commit point (its request's status write held at
  the proxy, then SIGKILL): its entry holds the slot until it expires
  (COMMIT_EXPIRY_SECONDS after its plan, by the API server's clock), and the request
  behind it is admitted by the first pass after that (planned at a clock moved past
  the expiry, as the timeout tests do). Before it, the entry holds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from policy import plan
from policy.commits import COMMIT_EXPIRY_SECONDS
from policy.gate import BudgetNotCounted
from runner import passes
from runner.apply import Applier, Outcome, Result
from runner.kube import Kube
from runner.read import read_cluster
from tests.faultproxy import FaultProxy, Rule, hold, status
from tests.integration.cluster import GROUP, VERSION, Cluster, wait_until
from tests.integration.conftest import ControlPlane
from tests.integration.scenario import runner_kubeconfig_via
from tests.integration.test_approval_gate import POLICY, one_pass
from tests.integration.test_cordon_ownership import proxied_runner
from tests.integration.test_crashes import LEASE
from tests.integration.test_runner import request_body, status_of


def limit_status(cluster: Cluster, name: str = "node") -> dict[str, object]:
    found = cluster.custom.get_cluster_custom_object(GROUP, VERSION, "maintenancelimits", name)
    return dict(found.get("status") or {})


def committed(cluster: Cluster) -> list[str]:
    return [str(e["request"]) for e in limit_status(cluster).get("commits") or []]  # type: ignore[union-attr, index]


def test_a_commit_the_gate_refused_is_removed_in_the_same_pass(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    first, second = nodes
    cluster.pdb("db", min_available=1)
    cluster.limit("node", type="node", limit=100, maxConcurrent=1)
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", first)
    )
    snapshot = read_cluster(
        Kube.connect(kubeconfig=str(control_plane.kubeconfig)), now=datetime.now(UTC)
    )
    planned = plan(snapshot)
    assert [a.request for a in planned.admissions] == ["mr-a"]
    assert planned.explanation("mr-a").state.value == "Approved", "nothing to prepare"

    # The gate's fresh LIST of limits comes after the commit point: hold it, and bind
    # a pod of a PDB at its minimum to the node meanwhile.
    rule = Rule(hold(), method="GET", path=r"/maintenancelimits$", nth=frozenset({1}))
    outcomes: list[Outcome] = []
    with proxied_runner(control_plane, rule, tmp_path / "kubeconfig") as (kube, proxy):
        applier = Applier(kube, snapshot, policy_version=POLICY)
        thread = threading.Thread(target=lambda: outcomes.extend(applier.apply(planned)))
        thread.start()
        assert proxy.held.wait(timeout=30), "the gate's read was never made"
        assert committed(cluster) == ["mr-a"], "the commit point names mr-a"
        cluster.unmanaged_pod("db-0", first, labels={"app": "db"})
        cluster.running_ready("db", 1)
        proxy.release()
        thread.join(timeout=60)
    results = {
        (type(o.decision).__name__, o.result): o.detail
        for o in outcomes
        if getattr(o.decision, "request", "mr-a") == "mr-a"
    }
    (deferred,) = [o for o in outcomes if o.result is Result.DEFERRED]
    assert [type(r) for r in deferred.refusals] == [BudgetNotCounted], deferred
    assert "removed the commits of mr-a" in results.get(("UpdateLimitStatus", Result.DONE), ""), [
        (type(o.decision).__name__, o.result, o.detail) for o in outcomes
    ]
    assert status_of(cluster, "mr-a").get("state") in (None, "Pending"), "nothing written"
    assert committed(cluster) == [] and "mr-a" not in (limit_status(cluster).get("active") or [])

    # mr-a now waits on its PDB (db allows 0); mr-b, behind it, is not held by it.
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-b", second)
    )
    one_pass(control_plane)
    assert status_of(cluster, "mr-a")["reason"] == "DisruptionBudget", status_of(cluster, "mr-a")
    assert status_of(cluster, "mr-b")["state"] == "Approved", status_of(cluster, "mr-b")


def test_a_runner_killed_after_its_commit_point_holds_the_slot_until_expiry(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    first, second = nodes
    cluster.limit("node", type="node", limit=100, maxConcurrent=1)
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", first)
    )
    configuration = control_plane.api.configuration
    proxy = FaultProxy(configuration.host, configuration.ssl_ca_cert).start()
    try:
        proxy.add(
            Rule(hold(), method="PATCH", path=r"/maintenancerequests/mr-a/status", probability=1)
        )
        via = runner_kubeconfig_via(control_plane, proxy.url, tmp_path / "via.kubeconfig")
        runner = subprocess.Popen(
            [sys.executable, "-c", "from runner.cli import main; main()", "--kubeconfig", str(via)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proxy.held.wait(timeout=60), "mr-a's status write was never made"
        os.kill(runner.pid, signal.SIGKILL)  # dead between the commit and the write
        runner.wait(timeout=30)
    finally:
        proxy.stop()
    # The dead runner's Lease would keep every runner of the next tests out for its
    # 60 s: gone, as it would be expired for the next CronJob run.
    cluster.raw("DELETE", LEASE)
    (entry,) = limit_status(cluster)["commits"]  # type: ignore[misc]
    made = datetime.fromisoformat(str(entry["at"]).replace("Z", "+00:00"))  # type: ignore[index]
    assert status_of(cluster, "mr-a").get("state") in (None, "Pending")

    # mr-a's actor goes out of order (InProgress before approval): it is not admitted
    # again, so only its dead commit can hold the slot.
    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", "mr-a", {"spec": {"state": "InProgress"}}
    )
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-b", second)
    )
    expiry = timedelta(seconds=COMMIT_EXPIRY_SECONDS)

    def pass_at(instant: datetime) -> None:
        passes.clock = lambda: instant
        try:
            one_pass_with_clock(control_plane)
        finally:
            passes.clock = None

    pass_at(made + expiry - timedelta(seconds=1))
    assert status_of(cluster, "mr-b")["reason"] == "LimitReached", "held until the expiry"
    pass_at(made + expiry)
    assert status_of(cluster, "mr-b")["state"] == "Approved", status_of(cluster, "mr-b")
    wait_until("the expired entry dropped", lambda: "mr-a" not in committed(cluster))


def one_pass_with_clock(control_plane: ControlPlane) -> None:
    """One pass as the runner makes it, at `runner.passes.clock`."""
    kube = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    snapshot, planned = passes.read_planned(kube)
    outcomes = Applier(kube, snapshot, policy_version=POLICY).apply(planned)
    failed = [o for o in outcomes if o.result is Result.FAILED]
    assert not failed, failed


def test_a_commit_cancelled_on_another_limit_is_removed_where_it_was_written(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """Found by the issue 28 review: two limits govern the node; the commit point
    writes `node`, then gets 409 on `zone-a` (anyone's write since the read). The
    admission is dropped, and its entry in `node` must go in the same pass."""
    node = cluster.nodes(1)[0]
    cluster.wait_nodes_ready([node])
    cluster.limit("node", type="node", limit=100, maxConcurrent=1)
    cluster.zone_limit("a")
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", node)
    )
    snapshot = read_cluster(
        Kube.connect(kubeconfig=str(control_plane.kubeconfig)), now=datetime.now(UTC)
    )
    planned = plan(snapshot)
    rule = Rule(
        status(409), method="PATCH", path=r"/maintenancelimits/zone-a/status$", nth=frozenset({1})
    )
    with proxied_runner(control_plane, rule, tmp_path / "kubeconfig") as (kube, _):
        outcomes = Applier(kube, snapshot, policy_version=POLICY).apply(planned)
    removed = [o for o in outcomes if "removed the commits of mr-a" in o.detail]
    assert removed and removed[0].decision.limit == "node", outcomes  # type: ignore[union-attr]
    assert committed(cluster) == [] and status_of(cluster, "mr-a").get("state") is None


def test_an_admission_is_not_written_once_its_plan_is_older_than_the_write_window(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """Found by the issue 28 review: the write window was checked before the gate's
    reads, which may wait on retries. A plan 58 s old commits; the gate's read is held
    4 s at the proxy; the admission is then past COMMIT_WRITE_WINDOW (60 s) and is not
    written (its commit is removed), where it used to be."""
    node = cluster.nodes(1)[0]
    cluster.wait_nodes_ready([node])
    cluster.limit("node", type="node", limit=100)
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", node)
    )
    admin = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    admin.request("GET", "/version")
    server_now = admin.server_now()
    assert server_now is not None
    snapshot = read_cluster(admin, now=server_now - timedelta(seconds=58))
    planned = plan(snapshot)
    rule = Rule(hold(), method="GET", path=r"/maintenancelimits$", nth=frozenset({1}))
    outcomes: list[Outcome] = []
    with proxied_runner(control_plane, rule, tmp_path / "kubeconfig") as (kube, proxy):
        kube.request("GET", "/version")  # the server's clock, as a pass has it
        applier = Applier(kube, snapshot, policy_version=POLICY)
        thread = threading.Thread(target=lambda: outcomes.extend(applier.apply(planned)))
        thread.start()
        assert proxy.held.wait(timeout=30), "the gate's read was never made"
        assert committed(cluster) == ["mr-a"]
        time.sleep(4)
        proxy.release()
        thread.join(timeout=60)
    (late,) = [o for o in outcomes if o.result is Result.DEFERRED]
    assert "more than 60 s since its plan" in late.detail, outcomes
    assert status_of(cluster, "mr-a").get("state") is None
    assert committed(cluster) == []


def test_a_write_that_may_have_landed_keeps_its_commit(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """Found by the issue 28 review: an admission's status write answered 504 (or not
    at all) may have landed; removing its commit then would let another pass give the
    slot away before the write shows. The entry stays, to expire. Here the proxy lets
    the write through and answers 504 after it (fails with the removal: commits [])."""
    node = cluster.nodes(1)[0]
    cluster.wait_nodes_ready([node])
    cluster.limit("node", type="node", limit=100, maxConcurrent=1)
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", node)
    )
    snapshot = read_cluster(
        Kube.connect(kubeconfig=str(control_plane.kubeconfig)), now=datetime.now(UTC)
    )
    planned = plan(snapshot)
    rule = Rule(
        status(504, after=True),
        method="PATCH",
        path=r"/maintenancerequests/mr-a/status$",
        nth=frozenset({1}),
    )
    with proxied_runner(control_plane, rule, tmp_path / "kubeconfig") as (kube, _):
        outcomes = Applier(kube, snapshot, policy_version=POLICY).apply(planned)
    assert [o.result for o in outcomes if getattr(o.decision, "request", "") == "mr-a"][:1] == [
        Result.FAILED
    ], outcomes
    assert status_of(cluster, "mr-a").get("state") == "Approved", "the write landed"
    assert committed(cluster) == ["mr-a"], "its commit stays until it expires"
