"""The shipped CronJob (k8s/cronjob.yaml) really run, by the process kubelet.

The Job and CronJob controllers of the test control plane make the pods; the scheduler
binds them to a simulated node of the test; the process kubelet
(process_kubelet.py) runs the runner in them as a local process with the in-cluster
configuration: the pod's service account token, CA and namespace at
/var/run/secrets/kubernetes.io/serviceaccount, KUBERNETES_SERVICE_HOST/PORT. Nothing is
given to the runner but what a pod gets; its identity is the shipped ServiceAccount
with the shipped RBAC.

1.20 serves CronJob as batch/v1beta1 only: the tests install a copy of the shipped
manifest with that apiVersion, everything else as shipped unless a test says what it
changes and why. The Jobs' pods are pinned to the test's own host node (a
nodeSelector), so that the runner never drains the node it runs on.
"""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.faultproxy import MUTATING, FaultProxy, Rule, hold
from tests.integration.cluster import Cluster, wait_until
from tests.integration.conftest import GROUP, ROOT, VERSION, ControlPlane
from tests.integration.invariants import InvariantWatcher, LimitRule
from tests.integration.process_kubelet import ProcessKubelet, entrypoint

SYSTEM = "repairman-system"
HOST_ROLE = "repairman.test/role"


def shipped() -> dict[str, Any]:
    manifest = yaml.safe_load((ROOT / "k8s" / "cronjob.yaml").read_text())
    assert manifest["apiVersion"] == "batch/v1" and manifest["kind"] == "CronJob"
    return manifest


def pinned(template: dict[str, Any], host: str) -> dict[str, Any]:
    """The pod template with a nodeSelector for the test's host node (the only change)."""
    template = copy.deepcopy(template)
    template["spec"]["nodeSelector"] = {"kubernetes.io/hostname": host}
    return template


def job_from(cronjob: dict[str, Any], name: str, host: str, **changes: Any) -> dict[str, Any]:
    """What `kubectl create job --from=cronjob/...` makes of the CronJob, pinned to the
    host; `changes` replace fields of the container (e.g. args) where a test says so."""
    spec = copy.deepcopy(cronjob["spec"]["jobTemplate"]["spec"])
    spec["template"] = pinned(spec["template"], host)
    spec["template"]["spec"]["containers"][0].update(changes)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": SYSTEM},
        "spec": spec,
    }


@pytest.fixture
def host(cluster: Cluster) -> str:
    """A node for the runner's pods, outside every limit's selector of the tests."""
    name = cluster.node("runner-host", zone="system", **{HOST_ROLE: "runner-host"})
    cluster.wait_nodes_ready([name])
    return name


@pytest.fixture
def processes(control_plane: ControlPlane) -> ProcessKubelet:
    return control_plane.processes  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
def batch(control_plane: ControlPlane) -> Iterator[client.BatchV1Api]:
    """The Batch API; every Job (and its pods) the test made in repairman-system is
    deleted at the end, and waited for."""
    api = client.BatchV1Api(control_plane.api)
    core = client.CoreV1Api(control_plane.api)
    before = {job.metadata.name for job in api.list_namespaced_job(SYSTEM).items}
    yield api
    for job in api.list_namespaced_job(SYSTEM).items:
        if job.metadata.name not in before:
            try:
                api.delete_namespaced_job(
                    job.metadata.name, SYSTEM, propagation_policy="Background"
                )
            except ApiException as error:
                if error.status != 404:
                    raise
    wait_until(
        "the test's Job pods gone",
        lambda: (
            not [
                pod
                for pod in core.list_namespaced_pod(SYSTEM).items
                if (pod.metadata.labels or {}).get("job-name") not in before
            ]
        ),
        timeout=60,
    )
    # A runner killed without its release (a failed test) must not hold the next
    # test's runners back for a minute.
    coordination = client.CoordinationV1Api(control_plane.api)
    with contextlib.suppress(ApiException):
        coordination.delete_namespaced_lease("repairman-runner", SYSTEM)


def job_pods(core: client.CoreV1Api, job: str) -> list[client.V1Pod]:
    return list(core.list_namespaced_pod(SYSTEM, label_selector=f"job-name={job}").items)


def finished(batch: client.BatchV1Api, name: str, timeout: float = 90) -> client.V1Job:
    def done() -> client.V1Job | None:
        job = batch.read_namespaced_job_status(name, SYSTEM)
        conditions = {c.type for c in job.status.conditions or [] if c.status == "True"}
        return job if conditions & {"Complete", "Failed"} else None

    return wait_until(f"Job {name} finished", done, timeout=timeout)


def terminated(pod: client.V1Pod) -> client.V1ContainerStateTerminated:
    (status,) = pod.status.container_statuses
    assert status.state.terminated is not None, status.state
    return status.state.terminated


def request(cluster: Cluster, name: str, node: str) -> None:
    cluster.custom.create_cluster_custom_object(
        GROUP,
        VERSION,
        "maintenancerequests",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "MaintenanceRequest",
            "metadata": {"name": name},
            "spec": {"type": "node", "name": node, "requester": "test-actor", "reason": "kernel"},
        },
    )


def request_status(cluster: Cluster, name: str) -> dict[str, Any]:
    obj = cluster.custom.get_cluster_custom_object(GROUP, VERSION, "maintenancerequests", name)
    return dict(obj.get("status") or {})


def test_a_job_of_the_shipped_template_runs_runner_plan_in_cluster(
    control_plane: ControlPlane,
    cluster: Cluster,
    host: str,
    batch: client.BatchV1Api,
    processes: ProcessKubelet,
) -> None:
    (node,) = cluster.nodes(1)
    cluster.wait_nodes_ready([node])
    cluster.zone_limit("a")
    request(cluster, f"{cluster.prefix}-plan", node)
    name = f"{cluster.prefix}-plan"

    with pods_through(control_plane, processes) as proxy:
        batch.create_namespaced_job(SYSTEM, job_from(shipped(), name, host, args=["--plan"]))
        job = finished(batch, name)
    # It found its API server the in-cluster way (the only address it was given is the
    # proxy's), and wrote nothing.
    assert proxy.history, "the runner made no request through KUBERNETES_SERVICE_HOST"
    assert not [entry for entry in proxy.history if entry[0] in MUTATING], proxy.history
    assert job.status.succeeded == 1, job.status
    (pod,) = job_pods(batch_core(batch), name)
    assert pod.spec.node_name == host
    assert pod.status.phase == "Succeeded"
    assert terminated(pod).exit_code == 0
    log = processes.log(SYSTEM, pod.metadata.name)
    # The plan names the request and would approve it; --plan writes nothing.
    assert f"{cluster.prefix}-plan" in log and "Approved" in log, log
    assert request_status(cluster, f"{cluster.prefix}-plan") == {}


def batch_core(batch: client.BatchV1Api) -> client.CoreV1Api:
    return client.CoreV1Api(batch.api_client)


def as_served(cronjob: dict[str, Any], host: str) -> dict[str, Any]:
    """The shipped CronJob as a 1.20 API server takes it: batch/v1beta1 (the same fields
    in both), pinned to the host node."""
    served = copy.deepcopy(cronjob)
    served["apiVersion"] = "batch/v1beta1"
    template = served["spec"]["jobTemplate"]["spec"]["template"]
    served["spec"]["jobTemplate"]["spec"]["template"] = pinned(template, host)
    return served


CRONJOBS = f"/apis/batch/v1beta1/namespaces/{SYSTEM}/cronjobs"


@pytest.fixture
def install_cronjob(cluster: Cluster, batch: client.BatchV1Api) -> Iterator[Any]:
    """Installs a CronJob (as_served) on demand; deletes it at the end, before the
    `batch` fixture deletes its Jobs."""
    installed: list[str] = []

    def install(cronjob: dict[str, Any]) -> None:
        cluster.raw("POST", CRONJOBS, cronjob)
        installed.append(cronjob["metadata"]["name"])

    yield install
    for name in installed:  # suspended first: no new Job from here on
        cluster.custom.patch_namespaced_custom_object(
            "batch", "v1beta1", SYSTEM, "cronjobs", name, {"spec": {"suspend": True}}
        )
        cluster.raw("DELETE", f"{CRONJOBS}/{name}")


def jobs_of(batch: client.BatchV1Api, cronjob: str) -> list[client.V1Job]:
    """The cronjob's Jobs, oldest first."""
    jobs = [
        job
        for job in batch.list_namespaced_job(SYSTEM).items
        if any(
            o.kind == "CronJob" and o.name == cronjob for o in job.metadata.owner_references or []
        )
    ]
    return sorted(jobs, key=lambda job: job.metadata.creation_timestamp)


def killed_by_the_job_controller(
    batch: client.BatchV1Api, core: client.CoreV1Api, job: str, pod: str
) -> None:
    """Wait for the Job controller to delete the Job's pod at activeDeadlineSeconds."""
    spec = batch.read_namespaced_job(job, SYSTEM)
    deadline = spec.status.start_time.timestamp() + spec.spec.active_deadline_seconds
    wait_until(
        f"the Job controller's kill of {pod}",
        lambda: core.read_namespaced_pod(pod, SYSTEM).metadata.deletion_timestamp,
        timeout=deadline - time.time() + 30,
    )


def lease_holder(cluster: Cluster) -> str | None:
    lease = cluster.raw(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/{SYSTEM}/leases/repairman-runner"
    )
    return (lease.get("spec") or {}).get("holderIdentity")


def test_the_shipped_cronjob_runs_the_runner_on_its_schedule(
    cluster: Cluster,
    host: str,
    batch: client.BatchV1Api,
    processes: ProcessKubelet,
    install_cronjob: Any,
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    # One of the two at a time, cordoned and drained (nothing on them to evict).
    cluster.zone_limit("a", limit=50, drain={"timeoutSeconds": 120, "gracePeriodSeconds": 0})
    for index, node in enumerate(nodes):
        request(cluster, f"{cluster.prefix}-r{index}", node)
    cronjob = shipped()
    install_cronjob(as_served(cronjob, host))
    name = cronjob["metadata"]["name"]

    # "* * * * *": the controller makes a Job at the next minute (it looks every 10 s).
    first = wait_until("the CronJob's first Job", lambda: jobs_of(batch, name), timeout=80)[0]
    job = finished(batch, first.metadata.name, timeout=70)
    assert job.status.succeeded == 1, job.status
    (pod,) = job_pods(batch_core(batch), first.metadata.name)
    assert terminated(pod).exit_code == 0
    assert pod.spec.service_account_name == "repairman-runner"
    log = processes.log(SYSTEM, pod.metadata.name)

    states = {index: request_status(cluster, f"{cluster.prefix}-r{index}") for index in range(2)}
    approved = [index for index, status in states.items() if status.get("state") == "Approved"]
    assert len(approved) == 1, (states, log)
    (waiting,) = {0, 1} - set(approved)
    assert states[waiting].get("state") == "Pending", states
    assert "zone-a" in states[waiting].get("message", ""), states[waiting]
    # Each node's cordon is the runner's, through the shipped RBAC; the run gave its
    # Lease back when it ended.
    assert cluster.core.read_node(nodes[approved[0]]).spec.unschedulable
    assert lease_holder(cluster) is None


def test_a_missing_rbac_rule_fails_the_job_with_the_runners_one_line_error(
    cluster: Cluster, host: str, batch: client.BatchV1Api, processes: ProcessKubelet
) -> None:
    """The shipped ClusterRole less one rule (maintenancelimits), bound to a
    ServiceAccount of the test: the Job fails, and the pod says why in one line, in its
    log and (FallbackToLogsOnError) in its termination message."""
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    shipped_role = rbac.read_cluster_role("repairman-runner")
    rules = [
        rule for rule in shipped_role.rules if "maintenancelimits" not in (rule.resources or [])
    ]
    assert len(rules) == len(shipped_role.rules) - 1
    account = f"{cluster.prefix}-short"
    cluster.core.create_namespaced_service_account(SYSTEM, {"metadata": {"name": account}})
    rbac.create_cluster_role({"metadata": {"name": account}, "rules": rules})
    subjects = [{"kind": "ServiceAccount", "name": account, "namespace": SYSTEM}]
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": account},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": account,
            },
            "subjects": subjects,
        }
    )
    rbac.create_namespaced_role_binding(
        SYSTEM,
        {
            "metadata": {"name": account},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "repairman-runner",
            },
            "subjects": subjects,
        },
    )
    try:
        job = job_from(shipped(), account, host)
        job["spec"]["template"]["spec"]["serviceAccountName"] = account
        batch.create_namespaced_job(SYSTEM, job)

        done = finished(batch, account)
        assert not done.status.succeeded and done.status.failed == 1, done.status
        (pod,) = job_pods(batch_core(batch), account)
        state = terminated(pod)
        assert state.exit_code == 1, state
        log = processes.log(SYSTEM, pod.metadata.name)
        errors = [line for line in log.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, log
        assert errors[0].startswith("error: forbidden: list maintenancelimits"), log
        assert "Traceback" not in log, log
        assert state.message is not None and errors[0] in state.message, state.message
    finally:
        rbac.delete_namespaced_role_binding(account, SYSTEM)
        rbac.delete_cluster_role_binding(account)
        rbac.delete_cluster_role(account)
        cluster.core.delete_namespaced_service_account(account, SYSTEM)


def test_the_process_kubelet_runs_only_the_projects_images() -> None:
    """Not a control-plane test: the image matching that decides what runs as a process."""
    assert entrypoint("repairman/runner:0.1.0") == "runner"
    assert entrypoint("registry.example:5000/repairman-runner:0.1.0") == "runner"
    assert entrypoint("registry.example/team/repairman/runner") == "runner"
    assert entrypoint("registry.k8s.io/pause:3.9") is None
    assert entrypoint("example/repairman/runner-debug:1") is None


@contextlib.contextmanager
def pods_through(control_plane: ControlPlane, processes: ProcessKubelet) -> Iterator[FaultProxy]:
    """Pods started meanwhile reach the API server through a fault proxy that serves
    TLS with the API server's own certificate (they trust the cluster's CA only)."""
    configuration = control_plane.api.configuration
    pki = control_plane.directory / "pki"
    proxy = FaultProxy(
        configuration.host,
        configuration.ssl_ca_cert,
        serve_tls=(str(pki / "server.crt"), str(pki / "server.key")),
    ).start()
    processes.service = proxy.url
    try:
        yield proxy
    finally:
        processes.service = processes.api_server
        proxy.release()
        proxy.stop()


def test_a_run_past_its_deadline_stops_on_sigterm_and_the_next_run_finishes(
    control_plane: ControlPlane,
    cluster: Cluster,
    host: str,
    batch: client.BatchV1Api,
    processes: ProcessKubelet,
) -> None:
    """The adversary: the Job controller's kill lands while an eviction is in flight.
    The first eviction is held at the proxy until the Job is past its
    activeDeadlineSeconds and its pod is being deleted (SIGTERM); then it is let
    through. Meanwhile the Job is Failed (DeadlineExceeded) while its pod terminates,
    so the next run may start (Forbid counts Jobs, not processes): it finds the Lease
    held and writes nothing. The first runner finishes its write, begins no other,
    gives the Lease back and exits 143. The next Job of the template as shipped
    finishes the drain one PDB budget at a time and approves; after the actor's
    Completed, a third uncordons. The invariant watcher runs throughout.

    Changed for the first Job: its deadline is 10 s rather than the shipped 55 (a
    write answered after the runner's 30 s request timeout fails at the client, so a
    write held from the pass's start across a 55 s deadline would fail, exit 1, before
    the kill), and its grace 30 s rather than the shipped 4 (time for the test to start
    the next run inside it; the shipped grace leaves the same window, shorter)."""
    nodes = cluster.nodes(3)
    cluster.wait_nodes_ready(nodes)
    target = cluster.web_under_a_pdb(nodes, 3)
    cluster.zone_limit("a", limit=34, drain={"timeoutSeconds": 600, "gracePeriodSeconds": 0})
    watcher = InvariantWatcher(
        cluster, limits=[LimitRule("zone-a", 1, zone="a")], zone_of=dict.fromkeys(nodes, "a")
    ).start()
    mr = f"{cluster.prefix}-mr"
    request(cluster, mr, target)
    template = shipped()
    core = batch_core(batch)
    try:
        with pods_through(control_plane, processes) as proxy:
            eviction = proxy.add(Rule(hold(), method="POST", path=r"/eviction", nth=frozenset({1})))
            first = f"{cluster.prefix}-1"
            killed = job_from(template, first, host)
            killed["spec"]["activeDeadlineSeconds"] = 10
            killed["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30
            batch.create_namespaced_job(SYSTEM, killed)
            assert eviction.arrived.wait(timeout=60), proxy.history
            held_since = time.monotonic()
            assert cluster.core.read_node(target).spec.unschedulable  # cordoned before
            (pod,) = job_pods(core, first)
            killed_by_the_job_controller(batch, core, first, pod.metadata.name)
            time.sleep(2)  # SIGTERM delivered; the runner waits for its write in flight
            assert pod.metadata.uid in processes.running()
            holder = lease_holder(cluster)
            assert holder and holder.startswith(pod.metadata.name), holder
            # The Job is Failed already, its pod still terminating: Forbid no longer
            # holds the next run back. That run finds the Lease held and writes nothing.
            job = finished(batch, first, timeout=10)
            failed = {c.type: c.reason for c in job.status.conditions or []}
            assert failed.get("Failed") == "DeadlineExceeded", job.status.conditions
            seen = len(proxy.history)
            overlapping = f"{cluster.prefix}-overlap"
            batch.create_namespaced_job(SYSTEM, job_from(template, overlapping, host))
            overlap_pod = wait_until(
                "the next run's pod", lambda: job_pods(core, overlapping), timeout=20
            )[0]
            overlap_log = wait_until(
                "the next run's lease-held",
                lambda: (
                    '"lease-held"' in (text := processes.log(SYSTEM, overlap_pod.metadata.name))
                    and text
                ),
                timeout=20,
            )
            assert holder in overlap_log, overlap_log
            assert not [entry for entry in proxy.history[seen:] if entry[0] in MUTATING]
            assert pod.metadata.uid in processes.running()
            # Let the write go before the runner's 30 s request timeout would fail it.
            assert time.monotonic() - held_since < 25, "the scenario ran too slowly"
            seen = len(proxy.history)
            eviction.release()

            wait_until("the first runner gone", lambda: pod.metadata.uid in processes.exits)
            assert processes.exits[pod.metadata.uid] == 143
            log = processes.log(SYSTEM, pod.metadata.name)
            assert "stopped by SIGTERM" in log, log
            after = [(m, p) for m, p, _ in proxy.history[seen:] if m in MUTATING]
            assert [p for _m, p in after if "/eviction" not in p and "/leases/" not in p] == [], (
                after
            )
            assert lease_holder(cluster) is None
            assert finished(batch, overlapping, timeout=30).status.succeeded == 1

            # The next run, on the template as shipped, finishes what the first began.
            second = f"{cluster.prefix}-2"
            batch.create_namespaced_job(SYSTEM, job_from(template, second, host))
            assert finished(batch, second, timeout=90).status.succeeded == 1
            status = request_status(cluster, mr)
            (second_pod,) = job_pods(core, second)
            assert status.get("state") == "Approved", (
                status,
                processes.log(SYSTEM, second_pod.metadata.name),
            )
            assert all(p.spec.node_name != target for p in cluster.running_ready("web", 3))

            for state in ("InProgress", "Completed"):
                cluster.custom.patch_cluster_custom_object(
                    GROUP, VERSION, "maintenancerequests", mr, {"spec": {"state": state}}
                )
            third = f"{cluster.prefix}-3"
            batch.create_namespaced_job(SYSTEM, job_from(template, third, host))
            assert finished(batch, third, timeout=90).status.succeeded == 1
            assert request_status(cluster, mr).get("state") == "Completed"
            assert not cluster.core.read_node(target).spec.unschedulable
    finally:
        violations = watcher.stop()
    assert violations == [], violations
    assert watcher.finished() == [], watcher.finished()


def test_forbid_starts_no_job_while_a_frozen_run_spans_its_schedule(
    *,
    control_plane: ControlPlane,
    cluster: Cluster,
    host: str,
    batch: client.BatchV1Api,
    processes: ProcessKubelet,
    install_cronjob: Any,
) -> None:
    """The adversary: a run that outlives its minute (a stuck process: it is stopped
    with SIGSTOP while its first request is in flight, and continued 20 s after the
    next scheduled time). While it runs, the CronJob controller starts no other Job
    (`concurrencyPolicy: Forbid`); once it ends, the next Job comes, and no two
    runner processes ever ran at once. The run still does its work when continued.

    Changed from the shipped CronJob: activeDeadlineSeconds 170 instead of 55, so
    that the frozen run is not killed before it has spanned a scheduled time."""
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.zone_limit("a", limit=50, drain={"timeoutSeconds": 120, "gracePeriodSeconds": 0})
    mr = f"{cluster.prefix}-mr"
    request(cluster, mr, nodes[0])
    cronjob = shipped()
    name = cronjob["metadata"]["name"]
    served = as_served(cronjob, host)
    served["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] = 170

    samples: list[tuple[float, list[str]]] = []
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            active = [
                job.metadata.name
                for job in jobs_of(batch, name)
                if not {c.type for c in job.status.conditions or [] if c.status == "True"}
                & {"Complete", "Failed"}
            ]
            samples.append((time.time(), active))
            sampling.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    with pods_through(control_plane, processes) as proxy:
        first_request = proxy.add(Rule(hold(), nth=frozenset({1})))
        install_cronjob(served)
        sampler.start()
        try:
            assert first_request.arrived.wait(timeout=80), "no run began within 80 s"
            (first,) = jobs_of(batch, name)
            (pod,) = job_pods(batch_core(batch), first.metadata.name)
            pid = processes.pid(pod.metadata.uid)
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
            first_request.release()  # answered while the process is stopped
            scheduled = (int(time.time()) // 60 + 1) * 60
            time.sleep(scheduled + 20 - time.time())
            assert [job.metadata.name for job in jobs_of(batch, name)] == [first.metadata.name]
            os.kill(pid, signal.SIGCONT)

            job = finished(batch, first.metadata.name, timeout=60)
            assert job.status.succeeded == 1, processes.log(SYSTEM, pod.metadata.name)
            assert request_status(cluster, mr).get("state") == "Approved"
            second = wait_until("the next Job", lambda: jobs_of(batch, name)[1:], timeout=80)[0]
            finished(batch, second.metadata.name, timeout=60)
        finally:
            sampling.set()
            sampler.join(timeout=10)

    assert max(len(active) for _, active in samples) == 1, samples
    spanned = [at for at, active in samples if scheduled <= at and first.metadata.name in active]
    assert spanned and spanned[-1] - scheduled >= 15, "the first run spanned its next time"
    runs = sorted(
        processes.lifetimes[p.metadata.uid]
        for job in (first, second)
        for p in job_pods(batch_core(batch), job.metadata.name)
    )
    assert len(runs) == 2 and all(end is not None for _, end in runs), runs
    (_, first_end), (second_start, _) = runs
    assert first_end is not None and first_end <= second_start, runs


def test_a_run_that_ignores_sigterm_is_killed_after_the_shipped_grace(
    control_plane: ControlPlane,
    cluster: Cluster,
    host: str,
    batch: client.BatchV1Api,
    processes: ProcessKubelet,
) -> None:
    """The other end of the kill: a runner that cannot act on SIGTERM (stopped with
    SIGSTOP while its first request is in flight) is killed with SIGKILL once the
    shipped terminationGracePeriodSeconds (4 s) has passed after its pod was deleted
    (exit 137), and the pod goes."""
    name = f"{cluster.prefix}-stuck"
    with pods_through(control_plane, processes) as proxy:
        first_request = proxy.add(Rule(hold(), nth=frozenset({1})))
        batch.create_namespaced_job(SYSTEM, job_from(shipped(), name, host))
        assert first_request.arrived.wait(timeout=60), proxy.history
        core = batch_core(batch)
        (pod,) = job_pods(core, name)
        pid = processes.pid(pod.metadata.uid)
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        deleted = time.monotonic()
        core.delete_namespaced_pod(pod.metadata.name, SYSTEM)
        wait_until("the stuck runner killed", lambda: pod.metadata.uid in processes.exits)
        took = time.monotonic() - deleted
        assert processes.exits[pod.metadata.uid] == 128 + signal.SIGKILL
        assert 4 <= took < 10, took
        wait_until(
            "the pod gone",
            lambda: pod.metadata.name not in {p.metadata.name for p in job_pods(core, name)},
        )
