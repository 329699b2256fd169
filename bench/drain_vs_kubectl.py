"""Benchmark: draining a node with `runner --until-stable` against `kubectl drain`, and
both against the drain's physical floor.

On the test control plane with the simulated kubelet: two twin nodes share 60 pods of
six Deployments (each under a PDB with maxUnavailable 1), four empty nodes take the
evicted pods. One twin is drained by `kubectl drain --ignore-daemonsets
--delete-emptydir-data`, the other by filing a MaintenanceRequest and running
`runner --until-stable` until it is Approved (cordon, evictions one budget at a time,
drained). Reports both wall times and their ratio (issue 4 target: runner/kubectl <= 1.2).

The floor (issue 15): no drain can be faster than the rounds its PDBs force times the
time one round takes.

- Rounds, per drained node, just before its drain: for each PDB, `n` = the node's pods
  (not terminating) its selector matches and `d` = its `status.disruptionsAllowed`
  (here 1: maxUnavailable 1, every pod healthy). The PDB's pods on the node can only
  leave `d` at a time, each batch after the previous one's replacements are Ready;
  different PDBs' evictions go in parallel. So rounds = max over PDBs of ceil(n / d) —
  here the largest number of one Deployment's pods on the node (5 of 30 when the
  scheduler spread the 10 replicas evenly over the twins).
- One round, measured on this control plane before the drains: a third node `probe`
  (tainted, so no app pod lands on it and it takes no part in the drains) runs six
  Deployments `probe-N` of 3 pods, each under its own PDB (maxUnavailable 1). We evict
  one pod of each `probe-N` at once through the Eviction API, as each round of a drain
  evicts one pod per PDB, and time until all six are gone and every PDB's
  status.disruptionsAllowed is back to 1: the pods' termination (the simulated
  kubelet), their replacements created, scheduled and Ready, and the PDB controller
  noticing — everything a drain must wait for between two rounds. Median of
  ROUND_SAMPLES. A round of one eviction alone is printed beside it: on two cores
  with a simulated kubelet that handles one pod at a time it is 3-4 times shorter,
  which no drain of six PDBs can reach.

floor = rounds x round. Printed: both wall times, the floor, runner/floor (issue 15
target <= 1.3; the runner measured to the request's Approved, what an actor waits
for, and to the end of its run, one idle pass later) and kubectl/floor (to the end of
`kubectl drain`). The floor is a little generous to the drains: the last round only
needs its pods gone, not their replacements Ready.
With `--runner-log FILE` the runner's JSON log (its stderr) is kept in FILE; a
one-line summary of its passes goes to stderr either way.

    python -m bench.drain_vs_kubectl [--runner-log FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kubernetes import client, config

from bench.control_plane import running_control_plane
from tests.integration.cluster import Cluster, wait_until
from tests.integration.kubelet import SimulatedKubelet

APPS, REPLICAS = 6, 10
PROBE_REPLICAS, ROUND_SAMPLES = 3, 9
PROBES = [f"probe-{app}" for app in range(APPS)]
PROBE_TAINT = {"key": "repairman.bench/probe", "effect": "NoSchedule"}
POLL = 0.05


def probe_deployment(cluster: Cluster, name: str, node: str) -> None:
    """PROBE_REPLICAS pods pinned to the probe node, like the apps' pods otherwise."""
    cluster.apps.create_namespaced_deployment(
        cluster.namespace,
        {
            "metadata": {"name": name},
            "spec": {
                "replicas": PROBE_REPLICAS,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "containers": [{"name": "app", "image": "registry.invalid/pause:3"}],
                        "terminationGracePeriodSeconds": 1,
                        "nodeSelector": {"kubernetes.io/hostname": node},
                        "tolerations": [{**PROBE_TAINT, "operator": "Exists"}],
                    },
                },
            },
        },
    )


def one_round(cluster: Cluster, probes: list[str]) -> tuple[float, float]:
    """Evict one pod of each probe at once; seconds until they are gone, and until every
    probe's PDB allows 1 disruption again. Polls with two raw lists a time, to disturb
    the cluster (and the simulated kubelet's thread) as little as possible."""
    pods = []
    for probe in probes:
        pods.append(cluster.running_ready(probe, PROBE_REPLICAS)[0].metadata.name)
        cluster.disruptions_allowed(probe, 1)
    base = f"/namespaces/{cluster.namespace}"
    selector = f"app+in+({','.join(probes)})"
    started = time.monotonic()
    for pod in pods:
        cluster.evict(pod)
    gone: float | None = None
    while time.monotonic() - started < 60:
        if gone is None:
            listed = cluster.raw("GET", f"/api/v1{base}/pods?labelSelector={selector}")
            if not {p["metadata"]["name"] for p in listed["items"]} & set(pods):
                gone = time.monotonic() - started
        if gone is not None:
            pdbs = cluster.raw("GET", f"/apis/policy/v1beta1{base}/poddisruptionbudgets")
            allowed = {
                pdb["metadata"]["name"]
                for pdb in pdbs["items"]
                if (pdb.get("status") or {}).get("observedGeneration")
                == pdb["metadata"]["generation"]
                and pdb["status"].get("disruptionsAllowed") == 1
            }
            if allowed >= set(probes):
                return gone, time.monotonic() - started
        time.sleep(POLL)
    raise AssertionError(f"PDBs {probes} did not allow 1 disruption again within 60 s")


def measure_round(cluster: Cluster, probes: list[str]) -> tuple[float, float, list[float]]:
    """Median termination, median round and every round, over ROUND_SAMPLES rounds."""
    samples = []
    for _ in range(ROUND_SAMPLES):
        samples.append(one_round(cluster, probes))
        time.sleep(0.5)  # let the controllers settle before the next sample
    rounds = [r for _, r in samples]
    return statistics.median(g for g, _ in samples), statistics.median(rounds), rounds


def rounds_forced(cluster: Cluster, node: str) -> tuple[int, int]:
    """The node's pods and the rounds of evictions its PDBs force (module docstring)."""
    pods = [
        p
        for p in cluster.pods()
        if p.spec.node_name == node and p.metadata.deletion_timestamp is None
    ]
    pdbs = cluster.raw(
        "GET", f"/apis/policy/v1beta1/namespaces/{cluster.namespace}/poddisruptionbudgets"
    )["items"]
    rounds = 0
    for pdb in pdbs:
        wanted = pdb["spec"]["selector"]["matchLabels"].items()
        n = sum(wanted <= (p.metadata.labels or {}).items() for p in pods)
        allowed = (pdb.get("status") or {}).get("disruptionsAllowed", 0)
        if n:
            assert allowed >= 1, f"PDB {pdb['metadata']['name']} allows no disruption"
            rounds = max(rounds, math.ceil(n / allowed))
    return len(pods), rounds


def pass_summary(log: Path) -> str:
    """How the runner spent its time: passes, their lengths, evictions per pass."""
    passes, evictions, current = [], [], 0
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "decision" and entry.get("action") == "Evict":
            current += entry.get("result") == "done"
        elif entry.get("event") == "pass":
            passes.append(entry["seconds"])
            evictions.append(current)
            current = 0
    if not passes:
        return "runner: no pass logged"
    return (
        f"runner: {len(passes)} passes, each {min(passes):.2f}-{max(passes):.2f} s "
        f"(median {statistics.median(passes):.2f} s), evictions per pass {evictions}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runner-log", type=Path, help="keep the runner's JSON log here")
    args = parser.parse_args()
    with running_control_plane() as (kubeconfig, kubectl), tempfile.TemporaryDirectory() as tmp:
        runner_log = args.runner_log or Path(tmp) / "runner.log"
        kubelet = None
        try:
            api = config.new_client_from_config(config_file=str(kubeconfig))
            kubelet = SimulatedKubelet(api).start()
            client.CoreV1Api(api).create_namespace({"metadata": {"name": "bench"}})
            cluster = Cluster(api, prefix="bench", namespace="bench")
            twins = [cluster.node("twin-a"), cluster.node("twin-b")]
            probe_node = cluster.node("probe")
            cluster.wait_nodes_ready([*twins, probe_node])
            # Ready, so the kubelet no longer rewrites its taints; before any app pod.
            cluster.core.patch_node(probe_node, {"spec": {"taints": [PROBE_TAINT]}})
            for probe in PROBES:
                probe_deployment(cluster, probe, probe_node)
                cluster.pdb(probe, max_unavailable=1)
            for app in range(APPS):
                cluster.deployment(f"app-{app}", REPLICAS)
                cluster.pdb(f"app-{app}", max_unavailable=1)
            for app in range(APPS):
                cluster.running_ready(f"app-{app}", REPLICAS)
                cluster.disruptions_allowed(f"app-{app}", 1)
            for probe in PROBES:
                cluster.running_ready(probe, PROBE_REPLICAS)
                cluster.disruptions_allowed(probe, 1)
            spare = [cluster.node(f"spare-{i}") for i in range(4)]
            cluster.wait_nodes_ready(spare)
            counts = {t: sum(p.spec.node_name == t for p in cluster.pods()) for t in twins}
            print(f"pods on the twins: {counts}", file=sys.stderr)

            termination, round_seconds, samples = measure_round(cluster, PROBES[:1])
            _, parallel_seconds, parallel_samples = measure_round(cluster, PROBES)
            print(
                f"rounds measured: one eviction {', '.join(f'{r:.2f}' for r in samples)} s; "
                f"{len(PROBES)} at once {', '.join(f'{r:.2f}' for r in parallel_samples)} s",
                file=sys.stderr,
            )

            kubectl_pods, kubectl_rounds = rounds_forced(cluster, twins[1])
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
            # Counted again: kubectl's drain may have put replacements on this twin.
            runner_pods, runner_rounds = rounds_forced(cluster, twins[0])
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
            with runner_log.open("w") as log:
                process = subprocess.Popen(
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
                    stderr=log,
                )
                # What an actor waits for: the request Approved (the node drained and
                # proven so); the run itself ends one idle pass later.
                approved_seconds = None
                while process.poll() is None and approved_seconds is None:
                    state = (
                        custom.get_cluster_custom_object(
                            "repairman.k8s.io", "v1", "maintenancerequests", "mr-twin"
                        ).get("status")
                        or {}
                    ).get("state")
                    if state == "Approved":
                        approved_seconds = time.monotonic() - started
                    else:
                        time.sleep(POLL)
                assert process.wait(timeout=300) == 0, "runner failed"
            runner_seconds = time.monotonic() - started
            if approved_seconds is None:
                approved_seconds = runner_seconds
            status = custom.get_cluster_custom_object(
                "repairman.k8s.io", "v1", "maintenancerequests", "mr-twin"
            )
            assert status["status"]["state"] == "Approved", status["status"]
            wait_until(
                "no app pods on the twin",
                lambda: not [p for p in cluster.pods() if p.spec.node_name == twins[0]],
            )
            print(pass_summary(runner_log), file=sys.stderr)
        finally:
            if kubelet is not None:
                kubelet.stop()
    # The floor: the rounds the PDBs force, each as long as a round of one eviction per
    # PDB at once takes here (what every round of both drains is).
    kubectl_floor = kubectl_rounds * parallel_seconds
    runner_floor = runner_rounds * parallel_seconds
    print(
        f"round ({len(PROBES)} evictions at once, one per PDB -> every PDB allows 1 again), "
        f"median of {ROUND_SAMPLES}: {parallel_seconds:.2f} s; one eviction alone "
        f"{round_seconds:.2f} s (termination {termination:.2f} s)"
    )
    print(
        f"kubectl drain          {kubectl_seconds:6.1f} s  ({kubectl_pods} pods, "
        f"floor {kubectl_rounds} rounds = {kubectl_floor:.1f} s)"
    )
    print(
        f"runner, to Approved    {approved_seconds:6.1f} s  ({runner_pods} pods, "
        f"floor {runner_rounds} rounds = {runner_floor:.1f} s); the run ends at "
        f"{runner_seconds:.1f} s"
    )
    print(f"runner/kubectl: {approved_seconds / kubectl_seconds:.2f} (target <= 1.2)")
    print(
        f"runner/floor: {approved_seconds / runner_floor:.2f} (target <= 1.3; "
        f"{runner_seconds / runner_floor:.2f} to the run's end)   "
        f"kubectl/floor: {kubectl_seconds / kubectl_floor:.2f}"
    )
    print(
        f"against one eviction alone a round ({round_seconds:.2f} s): "
        f"runner/floor {approved_seconds / (runner_rounds * round_seconds):.2f}, "
        f"kubectl/floor {kubectl_seconds / (kubectl_rounds * round_seconds):.2f}"
    )


if __name__ == "__main__":
    main()
