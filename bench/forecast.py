"""How long a forecast of a whole-fleet rollout takes to compute.

    python -m bench.forecast [--nodes 5000] [--pods-per-node 6] [--repeat 3]

A fleet of NODES nodes in three zones with pods of 2,000 apps (15 replicas each, the
count scaled with the fleet) spread over them, every app under a PDB that allows one
disruption, and a 5% node limit that drains; every node requested (`--all-nodes`);
actors start within 0-5 minutes and work 10-30 minutes. One process, one core
(`taskset` when available). Target (issue 7): under 60 s for 5,000 nodes.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime

from forecast import Model, Spread, forecast
from forecast.inputs import add_requests
from policy.model import (
    LabelSelector,
    MaintenanceLimit,
    Node,
    Pod,
    PodDisruptionBudget,
    Snapshot,
)
from runner.memory import settle_snapshot

START = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
ZONES = ("eu-1a", "eu-1b", "eu-1c")
REPLICAS = 15


def fleet(nodes: int, pods_per_node: int, seed: int = 0) -> Snapshot:
    rng = random.Random(seed)
    node_list = tuple(
        Node(name=f"worker-{i:06d}", labels={"topology.kubernetes.io/zone": ZONES[i % 3]})
        for i in range(nodes)
    )
    apps = max(1, nodes * pods_per_node // REPLICAS)
    pods = []
    pdbs = []
    for app in range(apps):
        namespace, name = f"team-{app // 5:04d}", f"app-{app % 5}"
        pdbs.append(
            PodDisruptionBudget(
                namespace=namespace,
                name=name,
                selector=LabelSelector({"app": name}),
                disruptions_allowed=1,
                observed_generation=1,
                current_healthy=REPLICAS,
                desired_healthy=REPLICAS - 1,
                expected_pods=REPLICAS,
            )
        )
        for replica in range(REPLICAS):
            pods.append(
                Pod(
                    namespace=namespace,
                    name=f"{name}-{replica}",
                    uid=f"{namespace}-{name}-{replica}",
                    node=node_list[rng.randrange(nodes)].name,
                    labels={"app": name},
                    owner_kind="ReplicaSet",
                    owner_name=name,
                    termination_grace_period_seconds=30,
                )
            )
    limit = MaintenanceLimit(
        name="node",
        uid="uid-node",
        resource_version="1",
        spec={"limit": 5, "drain": {"timeoutSeconds": 3600}},
    )
    snapshot = Snapshot(
        now=START, nodes=node_list, pods=tuple(pods), pdbs=tuple(pdbs), limits=(limit,)
    )
    return add_requests(snapshot, None, START)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods-per-node", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    model = Model(actor_start=Spread(0, 300), actor_duration=Spread(600, 1800))
    snapshot = fleet(args.nodes, args.pods_per_node)
    settle_snapshot()  # as `runner forecast` does once the snapshot is read
    print(
        f"{len(snapshot.nodes)} nodes, {len(snapshot.pods)} pods, {len(snapshot.pdbs)} PDBs, "
        f"{len(snapshot.requests)} requests, limit 5%"
    )
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        result = forecast(snapshot, model, seed=0)
        times.append(time.perf_counter() - started)
        print(
            f"  {times[-1]:.1f} s: {result.passes} passes "
            f"({times[-1] / result.passes * 1000:.0f} ms each), makespan "
            f"{result.makespan / 3600:.1f} h, finished {result.finished}, "
            f"peak {result.peaks.get('node')}"
        )
    print(f"median {statistics.median(times):.1f} s (target < 60 s)")


if __name__ == "__main__":
    main()
