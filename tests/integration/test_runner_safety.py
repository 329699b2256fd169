"""The runner's concurrency guards, on the real control plane.

The commit point's races are played deterministically, by hand: a stale read
(test_commit_point_refuses_an_admission_planned_on_a_stale_read) and a PDB budget
shared by two zones with no common limit; both fail without the commit point. Also: a
held Lease makes a second pass stop with success, a stale one is taken over, and
`--until-stable` finishes a drain in one run. Many runners at once over a busy
cluster: test_overlap.py; API faults and crashes: test_faults.py, test_crashes.py.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from policy import plan
from runner.apply import Applier
from runner.cli import main
from runner.kube import Kube
from runner.read import read_cluster
from tests.faultproxy import FaultProxy, Rule, delay, hold
from tests.integration.cluster import Cluster, wait_until
from tests.integration.conftest import GROUP, VERSION, ControlPlane
from tests.integration.scenario import runner_kubeconfig_via
from tests.integration.test_runner import limit_body, request_body, status_of

ACTIVE = {"Preparing", "Approved", "InProgress"}
TERMINAL = {"Completed", "Rejected", "Expired"}


def run_runner(kubeconfig: Path, *args: str) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(main, [*args, "--kubeconfig", str(kubeconfig)])
    return result.exit_code, [
        json.loads(x) for x in result.stderr.splitlines() if x.startswith("{")
    ]


def test_a_held_lease_stops_a_second_pass_and_a_stale_one_is_taken(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    namespace = f"{cluster.prefix}-lease"
    cluster.core.create_namespace({"metadata": {"name": namespace}})
    now = datetime.now(UTC)
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "repairman-runner", "namespace": namespace},
        "spec": {
            "holderIdentity": "another-runner",
            "leaseDurationSeconds": 60,
            "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
    }
    cluster.raw("POST", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases", lease)
    code, logs = run_runner(control_plane.kubeconfig, "--lease-namespace", namespace)
    assert code == 0
    assert logs[-1]["event"] == "lease-held" and "another-runner" in logs[-1]["holder"]

    stale = cluster.raw(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/repairman-runner"
    )
    stale["spec"]["renewTime"] = (now - timedelta(seconds=61)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    cluster.raw(
        "PUT", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/repairman-runner", stale
    )
    code, logs = run_runner(control_plane.kubeconfig, "--lease-namespace", namespace)
    assert code == 0
    assert logs[-1]["event"] == "pass"
    taken = cluster.raw(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/repairman-runner"
    )
    assert taken["spec"].get("leaseTransitions") == 1
    assert not taken["spec"].get("holderIdentity"), "released at the end of the pass"


def test_until_stable_drains_a_node_in_one_run(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(3)
    cluster.wait_nodes_ready(nodes)
    target = cluster.web_under_a_pdb(nodes, 4)
    cluster.custom.create_cluster_custom_object(
        GROUP,
        VERSION,
        "maintenancelimits",
        limit_body("node", limit=34, drain={"timeoutSeconds": 120}),
    )
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
    )
    namespace = f"{cluster.prefix}-lease"
    cluster.core.create_namespace({"metadata": {"name": namespace}})
    started = time.monotonic()
    code, logs = run_runner(
        control_plane.kubeconfig,
        "--until-stable",
        "--deadline",
        "60",
        "--lease-namespace",
        namespace,
    )
    assert code == 0, logs
    assert status_of(cluster, "mr-a")["state"] == "Approved", logs[-3:]
    passes = [entry for entry in logs if entry["event"] == "pass"]
    assert len(passes) >= 2
    assert passes[-1]["writes"] == 0
    assert time.monotonic() - started < 60
    wait_until("web back to 4 ready pods", lambda: cluster.running_ready("web", 4))
    assert all(p.spec.node_name != target for p in cluster.running_ready("web", 4))


def test_commit_point_refuses_an_admission_planned_on_a_stale_read(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    """Two passes interleaved by hand: B reads, x arrives, A reads; both plan to use the
    last slot for different requests. A commits first; B's commit fails on the limit's
    resourceVersion and B admits nothing."""
    nodes = cluster.nodes(3)
    cluster.wait_nodes_ready(nodes)
    custom = cluster.custom
    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancelimits", limit_body("node", limit=100, maxConcurrent=1)
    )
    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-w", nodes[0])
    )
    kube_b = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    seen_by_b = read_cluster(kube_b, now=datetime.now(UTC))
    urgent = request_body("mr-x", nodes[1])
    urgent["spec"]["priority"] = 10
    custom.create_cluster_custom_object(GROUP, VERSION, "maintenancerequests", urgent)
    kube_a = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    seen_by_a = read_cluster(kube_a, now=datetime.now(UTC))
    plan_a, plan_b = plan(seen_by_a), plan(seen_by_b)
    assert plan_a.explanation("mr-x").state.value == "Approved"
    assert plan_b.explanation("mr-w").state.value == "Approved"

    outcomes_a = Applier(kube_a, seen_by_a, policy_version="policy/v1beta1").apply(plan_a)
    outcomes_b = Applier(kube_b, seen_by_b, policy_version="policy/v1beta1").apply(plan_b)
    assert {o.result for o in outcomes_a} <= {"done", "already-done"}
    skipped = [o for o in outcomes_b if o.result == "skipped"]
    # mr-w's approval, and its node conditions with it.
    assert [
        (type(o.decision).__name__, o.decision.request)
        for o in skipped
        if hasattr(o.decision, "request")
    ] == [
        ("UpdateRequestStatus", "mr-w"),
        ("SetNodeConditions", "mr-w"),
    ]
    assert status_of(cluster, "mr-x")["state"] == "Approved"
    assert status_of(cluster, "mr-w").get("state") in (None, "Pending")


def test_commit_point_keeps_a_pdb_budget_from_being_given_twice_across_zones(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    """No limit is shared by zones a and b, but a PDB is: without a drain, admitting a
    node spends its pods' budget. B reads before mr-a exists and plans mr-b (zone b); A
    reads both and plans mr-a (zone a, older, higher priority). A commits first; B's
    commit must fail although no limit governs both nodes."""
    node_a = cluster.node("a0", zone="a")
    node_b = cluster.node("b0", zone="b")
    cluster.wait_nodes_ready([node_a, node_b])
    cluster.deployment("web", 2)
    cluster.pdb("web", max_unavailable=1)
    pods = cluster.running_ready("web", 2)
    cluster.disruptions_allowed("web", 1)
    if {p.spec.node_name for p in pods} != {node_a, node_b}:
        # Both pods on one node: move one so each node holds one pod of the PDB.
        crowded = pods[0].spec.node_name
        cluster.core.patch_node(crowded, {"spec": {"unschedulable": True}})
        cluster.evict(pods[0].metadata.name)
        wait_until(
            "web spread over both nodes",
            lambda: {p.spec.node_name for p in cluster.running_ready("web", 2)} == {node_a, node_b},
        )
        cluster.core.patch_node(crowded, {"spec": {"unschedulable": False}})
        cluster.disruptions_allowed("web", 1)
    custom = cluster.custom
    for zone in ("a", "b"):
        cluster.zone_limit(zone)
    # A first pass writes the limits' statuses, so that admitting mr-a later changes
    # zone-a's status only: nothing but the commit point then touches zone-b.
    warm = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    idle = read_cluster(warm, now=datetime.now(UTC))
    Applier(warm, idle, policy_version="policy/v1beta1").apply(plan(idle))
    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-b", node_b)
    )
    kube_b = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    seen_by_b = read_cluster(kube_b, now=datetime.now(UTC))
    urgent = request_body("mr-a", node_a)
    urgent["spec"]["priority"] = 10
    custom.create_cluster_custom_object(GROUP, VERSION, "maintenancerequests", urgent)
    kube_a = Kube.connect(kubeconfig=str(control_plane.kubeconfig))
    seen_by_a = read_cluster(kube_a, now=datetime.now(UTC))
    plan_a, plan_b = plan(seen_by_a), plan(seen_by_b)
    assert plan_a.explanation("mr-a").state.value == "Approved"
    assert plan_a.explanation("mr-b").reason.value == "DisruptionBudget"
    assert plan_b.explanation("mr-b").state.value == "Approved"

    Applier(kube_a, seen_by_a, policy_version="policy/v1beta1").apply(plan_a)
    outcomes_b = Applier(kube_b, seen_by_b, policy_version="policy/v1beta1").apply(plan_b)
    assert "mr-b" in [
        getattr(o.decision, "request", None) for o in outcomes_b if o.result == "skipped"
    ]
    assert status_of(cluster, "mr-a")["state"] == "Approved"
    assert status_of(cluster, "mr-b").get("state") in (None, "Pending")


def test_until_stable_in_a_terminal_shows_a_live_progress_line(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    """stdout on a terminal (a pty here): one progress line, rewritten in place after
    every pass; the JSON logs stay on stderr. Not on a terminal: nothing on stdout."""
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.deployment("web", 2)
    cluster.running_ready("web", 2)
    cluster.limit("node", limit=50, drain={"timeoutSeconds": 60})
    for name, node in (("mr-a", nodes[0]), ("mr-b", nodes[1])):
        cluster.custom.create_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests", request_body(name, node)
        )
    namespace = f"{cluster.prefix}-lease"
    cluster.core.create_namespace({"metadata": {"name": namespace}})
    command = [
        sys.executable, "-c", "from runner.cli import main; main()",
        "--kubeconfig", str(control_plane.kubeconfig), "--lease-namespace", namespace,
        "--until-stable", "--deadline", "30",
    ]  # fmt: skip
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, stdout=follower, stderr=subprocess.PIPE, text=True)
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the pty closes when the runner exits
            break
        if not chunk:
            break
        screen += chunk
    _, err = process.communicate(timeout=60)
    os.close(leader)
    assert process.returncode == 0, err
    shown = screen.decode()
    passes = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    passes = [p for p in passes if p["event"] == "pass"]
    assert len(passes) >= 2
    # Redrawn in place (carriage return, erase line) once per pass and per log line.
    assert shown.count("\r\x1b[K") >= len(passes) - 1
    last = shown.rsplit("\r\x1b[K", 1)[-1]
    assert last.startswith(f"pass {len(passes)} · ")
    assert "Pending 1, Approved 1" in last and "pods to evict 0" in last
    assert shown.endswith("\r\n") or shown.endswith("\n")
    plain = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    assert plain.returncode == 0 and plain.stdout == ""


def faked_runner(kubeconfig: Path, shift: str, *args: str) -> tuple[int, list[dict[str, Any]]]:
    """A real runner process under a shifted clock (Debian's faketime, libfaketime)."""
    command = [
        "faketime", "-f", shift, sys.executable, "-c", "from runner.cli import main; main()",
        "--kubeconfig", str(kubeconfig), *args,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, [json.loads(x) for x in done.stderr.splitlines() if x.startswith("{")]


def test_a_runner_whose_clock_is_ahead_neither_takes_a_live_lease_nor_expires_early(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    """Issue 14 item 8: the Lease (and the plan's instant) are judged by the API
    server's clock. A runner two minutes ahead sees another holder's fresh Lease as
    live; one an hour ahead does not expire an approval with 10 minutes to go. Both
    fail with the runner's own clock."""
    namespace = f"{cluster.prefix}-lease"
    cluster.core.create_namespace({"metadata": {"name": namespace}})
    assert subprocess.run(["faketime", "-f", "+120s", "true"], check=False).returncode == 0
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "repairman-runner", "namespace": namespace},
        "spec": {
            "holderIdentity": "another-runner",
            "leaseDurationSeconds": 60,
            "renewTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
    }
    cluster.raw("POST", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases", lease)
    code, logs = faked_runner(control_plane.kubeconfig, "+120s", "--lease-namespace", namespace)
    assert code == 0, logs
    assert logs[-1]["event"] == "lease-held", logs[-1]

    nodes = cluster.nodes(1)
    cluster.wait_nodes_ready(nodes)
    cluster.limit("node", type="node", limit=100, approvedTimeoutSeconds=600)
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", nodes[0])
    )
    other = f"{namespace}-2"
    cluster.core.create_namespace({"metadata": {"name": other}})
    code, logs = faked_runner(control_plane.kubeconfig, "+0s", "--lease-namespace", other)
    assert code == 0 and status_of(cluster, "mr-a")["state"] == "Approved", logs
    code, logs = faked_runner(control_plane.kubeconfig, "+3600s", "--lease-namespace", other)
    assert code == 0, logs
    assert status_of(cluster, "mr-a")["state"] == "Approved", status_of(cluster, "mr-a")


def test_sigterm_finishes_the_write_in_flight_then_stops_and_releases_the_lease(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """Issue 14 item 9. The runner is PID 1 in its container: without a handler a
    SIGTERM is ignored there (and kills a process elsewhere mid-write), leaving the Lease
    held. The fault proxy holds the pass's request status writes (both lanes': the
    writes go out side by side); SIGTERM arrives while they are in flight; then they go
    through. The runner must let them finish, write nothing more (no cordon after
    them), release the Lease and exit 143 with one line. Fails without the handler
    (killed mid-write: no line, Lease left held)."""
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.limit("node", type="node", limit=100, drain={"timeoutSeconds": 120})
    for name, node in (("mr-a", nodes[0]), ("mr-b", nodes[1])):
        cluster.custom.create_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests", request_body(name, node)
        )
    configuration = control_plane.api.configuration
    proxy = FaultProxy(configuration.host, configuration.ssl_ca_cert).start()
    try:
        proxy.add(
            Rule(
                hold(),
                method="PATCH",
                path=r"/maintenancerequests/[^/]+/status",
                probability=1,
            )
        )
        kubeconfig = runner_kubeconfig_via(control_plane, proxy.url, tmp_path / "kubeconfig")
        process = subprocess.Popen(
            [
                sys.executable, "-c", "from runner.cli import main; main()",
                "--kubeconfig", str(kubeconfig), "--lease-namespace", "repairman-system",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proxy.held.wait(timeout=60), "the runner never wrote a request status"
        time.sleep(1)  # the other lane's write arrives too
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        writes_before = proxy.writes_answered
        proxy.release()
        _, err = process.communicate(timeout=60)
    finally:
        proxy.stop()
    lines = err.splitlines()
    assert process.returncode == 143, err
    assert lines[-1].startswith("error: stopped by SIGTERM"), err
    assert sum(line.startswith("error:") for line in lines) == 1
    # The held write landed; after it, only the Lease's release.
    after = [h for h in proxy.history[-8:] if h[0] in ("PATCH", "PUT", "POST", "DELETE")]
    assert proxy.writes_answered - writes_before >= 1
    assert [m for m, path, _ in after if "/leases/" not in path and "/events" not in path][-1:] == [
        "PATCH"
    ]
    written = [
        s for s in (status_of(cluster, "mr-a"), status_of(cluster, "mr-b")) if s.get("state")
    ]
    assert [s["state"] for s in written] == ["Preparing"] * 2, written
    assert not any(cluster.core.read_node(n).spec.unschedulable for n in nodes)
    lease = cluster.raw(
        "GET", "/apis/coordination.k8s.io/v1/namespaces/repairman-system/leases/repairman-runner"
    )
    assert not lease["spec"].get("holderIdentity"), "the Lease was left held"


def second_runner_while_the_first_is_held(
    cluster: Cluster,
    control_plane: ControlPlane,
    tmp_path: Path,
    *,
    held: str,
    urgent: str,
    node: str,
) -> dict[str, Any]:
    """Runner A (a process, through the fault proxy) passes until its first status
    write of `held` is held there; meanwhile `urgent`, priority 10, is filed for `node`
    and runner B passes. Then A's write goes through and A finishes. Returns `urgent`'s
    status as B left it."""
    configuration = control_plane.api.configuration
    proxy = FaultProxy(configuration.host, configuration.ssl_ca_cert).start()
    try:
        path = f"/maintenancerequests/{held}/status"
        proxy.add(Rule(hold(), method="PATCH", path=path, nth=frozenset({1})))
        kubeconfig = runner_kubeconfig_via(control_plane, proxy.url, tmp_path / "kubeconfig")
        runner_a = subprocess.Popen(
            [
                sys.executable, "-c", "from runner.cli import main; main()",
                "--kubeconfig", str(kubeconfig), "--lease-namespace", "repairman-system",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proxy.held.wait(timeout=60), f"runner A never wrote {held}'s status"
        body = request_body(urgent, node)
        body["spec"]["priority"] = 10
        cluster.custom.create_cluster_custom_object(GROUP, VERSION, "maintenancerequests", body)
        namespace = f"{cluster.prefix}-b"
        cluster.core.create_namespace({"metadata": {"name": namespace}})
        code, logs = run_runner(control_plane.kubeconfig, "--lease-namespace", namespace)
        assert code == 0, logs
        left_by_b = status_of(cluster, urgent)
        proxy.release()
        _, err = runner_a.communicate(timeout=60)
    finally:
        proxy.stop()
    assert runner_a.returncode == 0, err
    return left_by_b


def test_a_committed_admission_holds_its_target_while_its_status_write_is_in_flight(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """Issue 14 item 5. Runner A commits mr-r for n0 (the limits' status names it) and
    its status write is held in the fault proxy; mr-r2 for n0, of higher priority,
    arrives and runner B passes. B must leave n0 to mr-r (TargetBusy); then A's write
    lands. Fails without the committed target held: B gives n0 to mr-r2 while mr-r's
    admission is in flight. (Here A's write then fails on mr-r's resourceVersion,
    because B rewrote mr-r's waiting message; had B had nothing to rewrite on mr-r, both
    would have become active on n0.)"""
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.limit("node", type="node", limit=100, cordon=True)
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-r", nodes[0])
    )
    second_runner_while_the_first_is_held(
        cluster, control_plane, tmp_path, held="mr-r", urgent="mr-r2", node=nodes[0]
    )
    states = {name: status_of(cluster, name) for name in ("mr-r", "mr-r2")}
    active = [n for n, s in states.items() if s.get("state") in ACTIVE]
    assert active == ["mr-r"], states
    assert states["mr-r2"].get("reason") == "TargetBusy", states


def test_a_committed_drainless_admission_keeps_its_pdb_budget_while_in_flight(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """Review of issue 14, finding F1. PDB web allows one disruption; web has a pod on
    n0 and one on n1. Runner A commits mr-b (drain-less, n1) and its status write is
    held in the fault proxy; mr-a for n0, of higher priority, arrives and runner B
    passes. The PDB status still allows 1 (nothing is down yet), so B must leave that
    disruption to mr-b (mr-a waits: DisruptionBudget). Fails without the reservation:
    B approves mr-a, both writes land, and both nodes go down with their web pods."""
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.deployment("web", 2)
    cluster.pdb("web", min_available=1)
    pods = cluster.running_ready("web", 2)
    if {p.spec.node_name for p in pods} != set(nodes):
        # The scheduler put both on one node: move one (cordon it, replace a pod there).
        crowded = pods[0].spec.node_name
        cluster.core.patch_node(crowded, {"spec": {"unschedulable": True}})
        cluster.core.delete_namespaced_pod(
            pods[0].metadata.name, cluster.namespace, grace_period_seconds=0
        )
        wait_until(
            "a web pod on each node",
            lambda: {p.spec.node_name for p in cluster.running_ready("web", 2)} == set(nodes),
        )
        cluster.core.patch_node(crowded, {"spec": {"unschedulable": False}})
    cluster.disruptions_allowed("web", 1)
    cluster.limit("node", type="node", limit=100, cordon=True)
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-b", nodes[1])
    )
    waiting = second_runner_while_the_first_is_held(
        cluster, control_plane, tmp_path, held="mr-b", urgent="mr-a", node=nodes[0]
    )
    assert waiting.get("state") == "Pending", waiting
    assert waiting.get("reason") == "DisruptionBudget", waiting
    states = {name: status_of(cluster, name).get("state") for name in ("mr-a", "mr-b")}
    assert states == {"mr-a": "Pending", "mr-b": "Approved"}, states


def test_a_slow_read_does_not_cut_the_drain_grace_short(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """The plan's instant is the end of the cluster read, not its start (review of
    issue 14): a node the read found empty was empty then, and `drainedAt`, from which
    the drain's grace counts, must not be earlier. Every pods read through the fault
    proxy takes 3 s more; `drainedAt` must come after them. Fails with the instant taken
    before the read: `drainedAt` is 3 s early, and so is the approval."""
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.limit(
        "node", type="node", limit=100, drain={"timeoutSeconds": 300, "gracePeriodSeconds": 30}
    )
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", nodes[0])
    )
    configuration = control_plane.api.configuration
    proxy = FaultProxy(configuration.host, configuration.ssl_ca_cert).start()
    try:
        proxy.add(Rule(delay(3.0), method="GET", path=r"^/api/v1/pods($|\?)", probability=1.0))
        kubeconfig = runner_kubeconfig_via(control_plane, proxy.url, tmp_path / "kubeconfig")
        before = datetime.now(UTC)
        code, logs = run_runner(kubeconfig, "--lease-namespace", "repairman-system")
    finally:
        proxy.stop()
    assert code == 0, logs
    assert [f for f in proxy.faults() if "delay" in f[2]], proxy.history[-5:]
    status = status_of(cluster, "mr-a")
    drained = datetime.fromisoformat(status["drainedAt"].replace("Z", "+00:00"))
    # Whole seconds on the wire: allow one for the rounding.
    assert drained >= before + timedelta(seconds=2), (before, status)
