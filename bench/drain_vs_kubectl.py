"""Benchmark: draining a node with `runner --until-stable` against `kubectl drain`.

On the test control plane with the simulated kubelet: two twin nodes share 60 pods of
six Deployments (each under a PDB with maxUnavailable 1), four empty nodes take the
evicted pods. One twin is drained by `kubectl drain --ignore-daemonsets
--delete-emptydir-data`, the other by filing a MaintenanceRequest and running
`runner --until-stable` until it is Approved (cordon, evictions one budget at a time,
drained). Reports both wall times and their ratio (issue 4 target: runner/kubectl <= 1.2).

    python -m bench.drain_vs_kubectl
"""

from __future__ import annotations

import subprocess
import sys
import time

from kubernetes import client, config

from bench.control_plane import running_control_plane
from tests.integration.cluster import Cluster, wait_until
from tests.integration.kubelet import SimulatedKubelet

APPS, REPLICAS = 6, 10


def main() -> None:
    with running_control_plane() as (kubeconfig, kubectl):
        kubelet = None
        try:
            api = config.new_client_from_config(config_file=str(kubeconfig))
            kubelet = SimulatedKubelet(api).start()
            client.CoreV1Api(api).create_namespace({"metadata": {"name": "bench"}})
            cluster = Cluster(api, prefix="bench", namespace="bench")
            twins = [cluster.node("twin-a"), cluster.node("twin-b")]
            cluster.wait_nodes_ready(twins)
            for app in range(APPS):
                cluster.deployment(f"app-{app}", REPLICAS)
                cluster.pdb(f"app-{app}", max_unavailable=1)
            for app in range(APPS):
                cluster.running_ready(f"app-{app}", REPLICAS)
                cluster.disruptions_allowed(f"app-{app}", 1)
            spare = [cluster.node(f"spare-{i}") for i in range(4)]
            cluster.wait_nodes_ready(spare)
            counts = {t: sum(p.spec.node_name == t for p in cluster.pods()) for t in twins}
            print(f"pods on the twins: {counts}", file=sys.stderr)

            started = time.monotonic()
            subprocess.run(
                [
                    *kubectl,
                    "drain",
                    twins[1],
                    "--ignore-daemonsets",
                    "--delete-emptydir-data",
                    "--timeout=300s",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            kubectl_seconds = time.monotonic() - started
            for app in range(APPS):
                cluster.running_ready(f"app-{app}", REPLICAS)
                cluster.disruptions_allowed(f"app-{app}", 1)

            custom = client.CustomObjectsApi(api)
            custom.create_cluster_custom_object(
                "repairman.k8s.io",
                "v1",
                "maintenancelimits",
                {
                    "apiVersion": "repairman.k8s.io/v1",
                    "kind": "MaintenanceLimit",
                    "metadata": {"name": "node"},
                    "spec": {"limit": 100, "drain": {"timeoutSeconds": 300}},
                },
            )
            custom.create_cluster_custom_object(
                "repairman.k8s.io",
                "v1",
                "maintenancerequests",
                {
                    "apiVersion": "repairman.k8s.io/v1",
                    "kind": "MaintenanceRequest",
                    "metadata": {"name": "mr-twin"},
                    "spec": {"type": "node", "name": twins[0]},
                },
            )
            client.CoreV1Api(api).create_namespace({"metadata": {"name": "repairman-system"}})
            started = time.monotonic()
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "from runner.cli import main; main()",
                    "--until-stable",
                    "--deadline",
                    "300",
                    "--kubeconfig",
                    str(kubeconfig),
                ],
                check=True,
                stderr=subprocess.DEVNULL,
            )
            runner_seconds = time.monotonic() - started
            status = custom.get_cluster_custom_object(
                "repairman.k8s.io", "v1", "maintenancerequests", "mr-twin"
            )
            assert status["status"]["state"] == "Approved", status["status"]
            wait_until(
                "no app pods on the twin",
                lambda: not [p for p in cluster.pods() if p.spec.node_name == twins[0]],
            )
        finally:
            if kubelet is not None:
                kubelet.stop()
    print(f"kubectl drain        {kubectl_seconds:6.1f} s  ({counts[twins[1]]} pods)")
    print(f"runner --until-stable {runner_seconds:6.1f} s  ({counts[twins[0]]} pods)")
    print(f"runner/kubectl: {runner_seconds / kubectl_seconds:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
