"""Builders for integration tests: simulated nodes, workloads with PDBs, volumes.

Everything is created through the real API server; the real scheduler binds the pods,
the real controllers own them, the simulated kubelet (kubelet.py) runs them. Names are
prefixed per test so that tests cannot see each other's objects.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.integration.kubelet import NOT_READY_TAINT, SIMULATED

GROUP, VERSION = "repairman.k8s.io", "v1"


def wait_until(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


class Cluster:
    """One test's view of the shared control plane."""

    def __init__(self, api: client.ApiClient, *, prefix: str, namespace: str) -> None:
        self.api = api
        self.prefix = prefix
        self.namespace = namespace
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.storage = client.StorageV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def raw(self, method: str, path: str, body: Any = None) -> Any:
        """A JSON request by path: for APIs this client no longer models (policy/v1beta1)."""
        method, url, headers, serialized, _ = self.api.param_serialize(
            method=method,
            resource_path=path,
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(method, url, header_params=headers, body=serialized)
        response.read()
        if response.status >= 400:
            raise ApiException(http_resp=response)
        return json.loads(response.data)

    def evict(self, pod: str) -> None:
        """POST an Eviction (policy/v1beta1, what this API server serves)."""
        self.raw(
            "POST",
            f"/api/v1/namespaces/{self.namespace}/pods/{pod}/eviction",
            {
                "apiVersion": "policy/v1beta1",
                "kind": "Eviction",
                "metadata": {"name": pod, "namespace": self.namespace},
            },
        )

    # --- nodes ----------------------------------------------------------------------

    def node(self, name: str, *, zone: str = "a", pool: str = "general", **labels: str) -> str:
        full = f"{self.prefix}-{name}"
        self.core.create_node(
            {
                "metadata": {
                    "name": full,
                    "labels": {
                        SIMULATED: "true",
                        "repairman.test/prefix": self.prefix,
                        "kubernetes.io/hostname": full,
                        "topology.kubernetes.io/zone": zone,
                        "node.kubernetes.io/pool": pool,
                        **labels,
                    },
                },
                # Registered the way a kubelet registers: not ready until it says so.
                "spec": {"taints": [{"key": NOT_READY_TAINT, "effect": "NoSchedule"}]},
                "status": {
                    "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                    "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                },
            }
        )
        return full

    def nodes(self, count: int, *, zone: str = "a", start: int = 0) -> list[str]:
        return [self.node(f"{zone}{i}", zone=zone) for i in range(start, start + count)]

    def wait_nodes_ready(self, names: list[str]) -> None:
        def ready() -> bool:
            for name in names:
                node = self.core.read_node(name)
                conditions = {c.type: c.status for c in node.status.conditions or []}
                taints = {t.key for t in node.spec.taints or []}
                if conditions.get("Ready") != "True" or NOT_READY_TAINT in taints:
                    return False
            return True

        wait_until(f"nodes {names} Ready", ready)

    # --- limits -----------------------------------------------------------------------

    def limit(self, name: str, **spec: Any) -> None:
        self.custom.create_cluster_custom_object(
            GROUP,
            VERSION,
            "maintenancelimits",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "MaintenanceLimit",
                "metadata": {"name": name},
                "spec": spec,
            },
        )

    def zone_limit(self, zone: str, **spec: Any) -> None:
        """A node limit named zone-ZONE over the nodes of that zone (100% unless said)."""
        selector = {"matchLabels": {"topology.kubernetes.io/zone": zone}}
        self.limit(f"zone-{zone}", **{"type": "node", "limit": 100, "selector": selector, **spec})

    # --- workloads ------------------------------------------------------------------

    def _pod_template(
        self, app: str, *, empty_dir: bool = False, follows_cordon: bool = False
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "containers": [{"name": "app", "image": "registry.invalid/pause:3"}],
            "terminationGracePeriodSeconds": 1,
            "tolerations": [],
        }
        if follows_cordon:
            # Meant to run on cordoned nodes (a node agent): a drain leaves it alone.
            spec["tolerations"] = [
                {
                    "key": "node.kubernetes.io/unschedulable",
                    "operator": "Exists",
                    "effect": "NoSchedule",
                }
            ]
        if empty_dir:
            spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
        return {"metadata": {"labels": {"app": app}}, "spec": spec}

    def deployment(
        self, app: str, replicas: int, *, empty_dir: bool = False, follows_cordon: bool = False
    ) -> None:
        self.apps.create_namespaced_deployment(
            self.namespace,
            {
                "metadata": {"name": app},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": app}},
                    "template": self._pod_template(
                        app, empty_dir=empty_dir, follows_cordon=follows_cordon
                    ),
                },
            },
        )

    def statefulset(self, app: str, replicas: int) -> None:
        self.apps.create_namespaced_stateful_set(
            self.namespace,
            {
                "metadata": {"name": app},
                "spec": {
                    "replicas": replicas,
                    "serviceName": app,
                    "podManagementPolicy": "Parallel",
                    "selector": {"matchLabels": {"app": app}},
                    "template": self._pod_template(app),
                },
            },
        )

    def daemonset(self, app: str) -> None:
        template = self._pod_template(app)
        template["spec"]["nodeSelector"] = {"repairman.test/prefix": self.prefix}
        self.apps.create_namespaced_daemon_set(
            self.namespace,
            {
                "metadata": {"name": app},
                "spec": {"selector": {"matchLabels": {"app": app}}, "template": template},
            },
        )

    def pdb(
        self, app: str, *, max_unavailable: int | None = None, min_available: int | None = None
    ) -> None:
        spec: dict[str, Any] = {"selector": {"matchLabels": {"app": app}}}
        if max_unavailable is not None:
            spec["maxUnavailable"] = max_unavailable
        if min_available is not None:
            spec["minAvailable"] = min_available
        self.raw(
            "POST",
            f"/apis/policy/v1beta1/namespaces/{self.namespace}/poddisruptionbudgets",
            {
                "apiVersion": "policy/v1beta1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": app},
                "spec": spec,
            },
        )

    def unmanaged_pod(
        self,
        name: str,
        node: str,
        *,
        grace: int = 1,
        namespace: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.core.create_namespaced_pod(
            namespace or self.namespace,
            {
                "metadata": {"name": name, "labels": labels or {"app": name}},
                "spec": {
                    "nodeName": node,
                    "containers": [{"name": "app", "image": "registry.invalid/pause:3"}],
                    "terminationGracePeriodSeconds": grace,
                },
            },
        )

    def volume_attachment(self, name: str, node: str, *, attached: bool = True) -> str:
        full = f"{self.prefix}-{name}"
        self.storage.create_volume_attachment(
            {
                "metadata": {"name": full},
                "spec": {
                    "attacher": "csi.repairman.test",
                    "nodeName": node,
                    "source": {"persistentVolumeName": f"pv-{full}"},
                },
            }
        )
        self.storage.patch_volume_attachment_status(full, {"status": {"attached": attached}})
        return full

    def web_under_a_pdb(self, nodes: list[str], replicas: int) -> str:
        """`replicas` Running, Ready `web` pods under a PDB that allows one disruption;
        the node of `nodes` with the most of them (its drain needs the budget more than
        once, one eviction at a time)."""
        self.deployment("web", replicas)
        self.pdb("web", max_unavailable=1)
        pods = self.running_ready("web", replicas)
        self.disruptions_allowed("web", 1)
        return max(nodes, key=lambda n: sum(p.spec.node_name == n for p in pods))

    # --- reading back ---------------------------------------------------------------

    def pods(self, app: str | None = None) -> list[client.V1Pod]:
        selector = f"app={app}" if app else None
        return self.core.list_namespaced_pod(self.namespace, label_selector=selector).items

    def running_ready(self, app: str, count: int) -> list[client.V1Pod]:
        def check() -> list[client.V1Pod]:
            pods = [
                p
                for p in self.pods(app)
                if p.metadata.deletion_timestamp is None
                and p.status.phase == "Running"
                and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
            ]
            return pods if len(pods) == count else []

        return wait_until(f"{count} running, ready pods of {app}", check)

    def disruptions_allowed(self, app: str, expected: int) -> None:
        def check() -> bool:
            pdb = self.raw(
                "GET",
                f"/apis/policy/v1beta1/namespaces/{self.namespace}/poddisruptionbudgets/{app}",
            )
            status = pdb.get("status") or {}
            return bool(
                status.get("observedGeneration") == pdb["metadata"]["generation"]
                and status.get("disruptionsAllowed") == expected
            )

        wait_until(f"PDB {app} to allow {expected} disruptions", check)
