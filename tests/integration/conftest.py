"""Fixtures for tests against the real test control plane (scripts/control-plane).

`control_plane` (session): brings etcd, kube-apiserver, kube-controller-manager and
kube-scheduler up once in a temporary directory, installs k8s/ (CRDs, RBAC, namespace,
CronJob) with `kubectl apply -k`, starts the simulated kubelet, and stops all of it at
the end, leaving no process behind. `cluster` (per test): a fresh namespace and a name
prefix for the test's nodes and volume attachments; its objects, and every
MaintenanceRequest and MaintenanceLimit, are deleted after the test.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from tests.integration.cluster import GROUP, VERSION, Cluster, wait_until
from tests.integration.kubelet import SimulatedKubelet
from tests.integration.process_kubelet import ProcessKubelet

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "scripts" / "control-plane"


class ControlPlane:
    def __init__(self, directory: Path, state: dict[str, object]) -> None:
        self.directory = directory
        self.state = state
        self.kubeconfig = Path(str(state["kubeconfig"]))
        self.kubectl_binary = str(Path(str(state["binaries"])) / "kubectl")
        self.api = config.new_client_from_config(config_file=str(self.kubeconfig))

    def kubectl(
        self, *args: str, token: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryDirectory() as cache:
            # A fresh discovery cache: CRDs installed a moment ago must be visible.
            command = [
                self.kubectl_binary,
                "--kubeconfig",
                str(self.kubeconfig),
                "--cache-dir",
                cache,
            ]
            if token is not None:
                command += ["--token", token]
            result = subprocess.run(
                [*command, *args], capture_output=True, text=True, timeout=60, check=False
            )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def client_for_token(self, token: str) -> client.ApiClient:
        configuration = client.Configuration()
        base = self.api.configuration
        configuration.host = base.host
        configuration.ssl_ca_cert = base.ssl_ca_cert
        configuration.api_key = {"authorization": f"Bearer {token}"}
        return client.ApiClient(configuration)


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def install(plane: ControlPlane) -> None:
    """`kubectl apply -k k8s/`, as far as a 1.20 API server can take it.

    The kustomization is built by kubectl itself. Two things differ from a current
    cluster: the CronJob is left out (it is batch/v1, which 1.20 does not serve, and a
    runner every minute would act on every test's objects: test_cronjob.py installs a
    batch/v1beta1 copy of it while it runs), and kubectl 1.20's client-side schema does
    not know the CRDs' CEL rules (x-kubernetes-validations), which the server ignores.
    """
    built = plane.kubectl("kustomize", str(ROOT / "k8s")).stdout
    kept = [d for d in yaml.safe_load_all(built) if d and d["kind"] != "CronJob"]
    assert len(kept) == len([d for d in yaml.safe_load_all(built) if d]) - 1
    applied = subprocess.run(
        [
            plane.kubectl_binary,
            "--kubeconfig",
            str(plane.kubeconfig),
            "apply",
            "--validate=false",
            "-f",
            "-",
        ],
        input=yaml.safe_dump_all(kept),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if applied.returncode != 0:
        raise AssertionError(f"kubectl apply of k8s/ failed: {applied.stderr.strip()}")


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    directory = tmp_path_factory.mktemp("control-plane")
    started = subprocess.run(
        [str(SCRIPT), "up", "--dir", str(directory)], capture_output=True, text=True, check=False
    )
    if started.returncode != 0:
        subprocess.run([str(SCRIPT), "down", "--dir", str(directory)], check=False)
        pytest.fail(f"control plane did not start:\n{started.stderr}", pytrace=False)
    state = json.loads((directory / "state.json").read_text())
    plane = ControlPlane(directory, state)
    processes = ProcessKubelet(plane.api, logs=directory / "containers")
    kubelet = SimulatedKubelet(plane.api, processes=processes).start()
    try:
        install(plane)
        extensions = client.ApiextensionsV1Api(plane.api)
        for plural in ("maintenancerequests", "maintenancelimits"):
            wait_until(
                f"CRD {plural} Established",
                lambda plural=plural: any(
                    c.type == "Established" and c.status == "True"
                    for c in extensions.read_custom_resource_definition(
                        f"{plural}.{GROUP}"
                    ).status.conditions
                    or []
                ),
            )
        plane.kubelet = kubelet  # type: ignore[attr-defined]
        plane.processes = processes  # type: ignore[attr-defined]
        yield plane
    finally:
        kubelet.stop()
        subprocess.run([str(SCRIPT), "down", "--dir", str(directory)], check=False)
        left = [name for name, pid in state["pids"].items() if running(pid)]
        assert not left, f"still running after `control-plane down`: {left}"


@contextlib.contextmanager
def fresh_cluster(control_plane: ControlPlane, prefix: str) -> Iterator[Cluster]:
    """A namespace and a name prefix of one's own; everything made in them, and every
    MaintenanceRequest and MaintenanceLimit, is deleted at the end."""
    namespace = prefix
    core = client.CoreV1Api(control_plane.api)
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        yield Cluster(control_plane.api, prefix=prefix, namespace=namespace)
    finally:
        custom = client.CustomObjectsApi(control_plane.api)
        for plural in ("maintenancerequests", "maintenancelimits"):
            custom.delete_collection_cluster_custom_object(GROUP, VERSION, plural)
        core.delete_namespace(namespace, grace_period_seconds=0)
        core.delete_collection_node(label_selector=f"repairman.test/prefix={prefix}")
        storage = client.StorageV1Api(control_plane.api)
        for attachment in storage.list_volume_attachment().items:
            if attachment.metadata.name.startswith(f"{prefix}-"):
                storage.delete_volume_attachment(attachment.metadata.name)


@pytest.fixture
def cluster(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    prefix = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[-40:].strip("-")
    with fresh_cluster(control_plane, f"t-{prefix}") as made:
        yield made


def token_for(control_plane: ControlPlane, namespace: str, account: str) -> str:
    core = client.CoreV1Api(control_plane.api)
    request = core.create_namespaced_service_account_token(
        account,
        namespace,
        client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[])),
    )
    return str(request.status.token)


@pytest.fixture
def runner_kubeconfig(control_plane: ControlPlane, tmp_path: Path) -> Path:
    """A kubeconfig holding the runner ServiceAccount's token: RBAC as in k8s/rbac.yaml."""
    token = token_for(control_plane, "repairman-system", "repairman-runner")
    return kubeconfig_with(control_plane, token, tmp_path / "runner.kubeconfig")


def kubeconfig_with(
    control_plane: ControlPlane, token: str, path: Path, *, server: str | None = None
) -> Path:
    """The control plane's kubeconfig with `token` as its only user (and `server` as
    the API server's address: the fault proxy's), written to `path`."""
    config = json.loads(control_plane.kubeconfig.read_text())
    config["users"] = [{"name": "account", "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = "account"
    if server is not None:
        config["clusters"][0]["cluster"] = {"server": server}
    path.write_text(json.dumps(config))
    return path


@contextlib.contextmanager
def actor_account(control_plane: ControlPlane, cluster: Cluster) -> Iterator[str]:
    """A ServiceAccount `actor` in the test's namespace bound to the repairman-actor
    ClusterRole of k8s/rbac.yaml; yields its token."""
    core = client.CoreV1Api(control_plane.api)
    core.create_namespaced_service_account(cluster.namespace, {"metadata": {"name": "actor"}})
    rbac = client.RbacAuthorizationV1Api(control_plane.api)
    binding = f"{cluster.prefix}-actor"
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": binding},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "repairman-actor",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "actor", "namespace": cluster.namespace}
            ],
        }
    )
    try:
        yield token_for(control_plane, cluster.namespace, "actor")
    finally:
        rbac.delete_cluster_role_binding(binding)


@pytest.fixture
def actor_kubeconfig(
    control_plane: ControlPlane, cluster: Cluster, tmp_path: Path
) -> Iterator[Path]:
    """A kubeconfig with an actor's token: RBAC as k8s/rbac.yaml gives actors."""
    with actor_account(control_plane, cluster) as token:
        yield kubeconfig_with(control_plane, token, tmp_path / "actor.kubeconfig")
