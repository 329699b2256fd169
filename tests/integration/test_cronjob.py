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

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.integration.cluster import Cluster, wait_until
from tests.integration.conftest import GROUP, ROOT, VERSION, ControlPlane
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
    cluster: Cluster, host: str, batch: client.BatchV1Api, processes: ProcessKubelet
) -> None:
    (node,) = cluster.nodes(1)
    cluster.wait_nodes_ready([node])
    cluster.zone_limit("a")
    request(cluster, f"{cluster.prefix}-plan", node)
    name = f"{cluster.prefix}-plan"

    batch.create_namespaced_job(SYSTEM, job_from(shipped(), name, host, args=["--plan"]))

    job = finished(batch, name)
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


def test_the_process_kubelet_runs_only_the_projects_images() -> None:
    """Not a control-plane test: the image matching that decides what runs as a process."""
    assert entrypoint("repairman/runner:0.1.0") == "runner"
    assert entrypoint("registry.example:5000/repairman-runner:0.1.0") == "runner"
    assert entrypoint("registry.example/team/repairman/runner") == "runner"
    assert entrypoint("registry.k8s.io/pause:3.9") is None
    assert entrypoint("example/repairman/runner-debug:1") is None
