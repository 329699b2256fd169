"""Benchmark: one `runner --plan` pass on a big cluster, beside the alternatives.

Starts the test control plane (scripts/control-plane), creates 2,000 nodes and 20,000
pods bound to them (with PDBs, DaemonSet-owned pods and a limit), files 50 pending
requests, then times, each as its own process under /usr/bin/time (wall seconds and
peak RSS), median of 3:

  runner      `runner --plan -o json` (reads raw JSON; pods only for the 50 nodes)
  models      the same pass reading through the kubernetes client's models
  kubectl     `kubectl get nodes,pods,pdb -A -o json`

Targets (issue 4): runner / kubectl <= 0.25; models / runner >= 2.5.

    python -m bench.runner_vs_kubectl [--nodes 2000] [--pods 20000] [--requests 50]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.control_plane import running_control_plane


def api(kubeconfig: Path) -> Any:
    from kubernetes import client, config  # noqa: PLC0415 - only this benchmark needs it

    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))


def populate(kubeconfig: Path, *, nodes: int, pods: int, requests: int) -> None:
    from kubernetes import client, config  # noqa: PLC0415

    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    core = client.CoreV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    rng = random.Random(0)
    names = [f"bench-{i:05d}" for i in range(nodes)]
    namespaces = [f"team-{i:03d}" for i in range(max(pods // 200, 1))]

    def node(name: str) -> None:
        core.create_node(
            {
                "metadata": {
                    "name": name,
                    "labels": {"topology.kubernetes.io/zone": f"z{hash(name) % 3}"},
                },
                "status": {"capacity": {"pods": "110"}, "allocatable": {"pods": "110"}},
            }
        )

    def pod(index: int) -> None:
        namespace = namespaces[index % len(namespaces)]
        app = f"app-{index % 5}"
        core.create_namespaced_pod(
            namespace,
            {
                "metadata": {"name": f"{app}-{index:06d}", "labels": {"app": app}},
                "spec": {
                    "nodeName": names[index % len(names)],
                    "containers": [{"name": "c", "image": "registry.invalid/pause:3"}],
                },
            },
        )

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(node, names))
        for namespace in namespaces:
            core.create_namespace({"metadata": {"name": namespace}})
        list(pool.map(pod, range(pods)))
    for namespace in namespaces:
        for app in range(5):
            body = {
                "apiVersion": "policy/v1beta1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": f"app-{app}"},
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": f"app-{app}"}}},
            }
            custom.create_namespaced_custom_object(
                "policy", "v1beta1", namespace, "poddisruptionbudgets", body
            )
    custom.create_cluster_custom_object(
        "repairman.k8s.io",
        "v1",
        "maintenancelimits",
        {
            "apiVersion": "repairman.k8s.io/v1",
            "kind": "MaintenanceLimit",
            "metadata": {"name": "node"},
            "spec": {"limit": 5, "policies": ["NotReady", "Unschedulable"], "drain": {}},
        },
    )
    for index, name in enumerate(rng.sample(names, requests)):
        custom.create_cluster_custom_object(
            "repairman.k8s.io",
            "v1",
            "maintenancerequests",
            {
                "apiVersion": "repairman.k8s.io/v1",
                "kind": "MaintenanceRequest",
                "metadata": {"name": f"mr-{index:03d}"},
                "spec": {"type": "node", "name": name, "requester": "bench"},
            },
        )
    print(f"populated in {time.monotonic() - started:.0f} s", file=sys.stderr)


def timed(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MB) of one process."""
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    seconds, kilobytes = out.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kilobytes) // 1024


def in_process_reads(kubeconfig: Path, repeat: int) -> tuple[float, float]:
    """The reads alone (no interpreter start-up or imports): raw JSON vs models."""
    from bench.model_reader import read_with_models  # noqa: PLC0415
    from runner.kube import Kube  # noqa: PLC0415
    from runner.read import read_cluster  # noqa: PLC0415

    def median(action: Any) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            action()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    now = datetime.now(UTC)
    raw = median(lambda: read_cluster(Kube.connect(kubeconfig=str(kubeconfig)), now=now))
    models = median(lambda: read_with_models(str(kubeconfig)))
    return raw, models


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--pods", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with running_control_plane() as (kubeconfig, kubectl):
        time.sleep(3)
        populate(kubeconfig, nodes=args.nodes, pods=args.pods, requests=args.requests)
        commands = {
            "runner": [
                sys.executable,
                "-c",
                "from runner.cli import main; main()",
                "--plan",
                "-o",
                "json",
                "--kubeconfig",
                str(kubeconfig),
            ],
            "models": [sys.executable, "-m", "bench.model_reader", str(kubeconfig)],
            "kubectl": [*kubectl, "get", "nodes,pods,pdb", "-A", "-o", "json"],
        }
        rows = {}
        for name, command in commands.items():
            runs = [timed(command) for _ in range(args.repeat)]
            rows[name] = (
                statistics.median(r[0] for r in runs),
                statistics.median(r[1] for r in runs),
            )
        raw_s, models_s = in_process_reads(kubeconfig, args.repeat)
    print(f"{'':10} {'wall s':>8} {'peak MB':>8}")
    for name, (seconds, megabytes) in rows.items():
        print(f"{name:10} {seconds:8.2f} {megabytes:8d}")
    print(f"runner/kubectl wall: {rows['runner'][0] / rows['kubectl'][0]:.3f} (target <= 0.25)")
    print(f"models/runner wall: {rows['models'][0] / rows['runner'][0]:.2f} (target >= 2.5)")
    print(f"reads alone, in one process: raw {raw_s:.3f} s, models {models_s:.3f} s")
    print(f"models/raw reads: {models_s / raw_s:.2f}x")


if __name__ == "__main__":
    main()
