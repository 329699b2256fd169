"""Benchmark: per-node pod reads of a pass with a long queue (issue 16).

Builds, offline, 5,000 nodes with 30 pods each (150,000), five PDBs, every node
requested under one 5% limit that drains, and counts the per-node pod reads that
`runner.read.pods_as_needed` makes for the first pass and the next (the 250 admitted
then Preparing), against the reads of every requested node before. Asserts that the
plan is the one every requested node's pods give. Counts, not timings on the control
plane.

    python -m bench.pod_reads
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import attrs

from policy import plan
from policy.model import (
    LabelSelector,
    MaintenanceLimit,
    MaintenanceRequest,
    Node,
    Pod,
    PodDisruptionBudget,
    Snapshot,
)
from runner.read import nodes_that_matter, pods_as_needed
from tests.model import apply

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NODES, PODS_PER_NODE = 5000, 30


def fleet() -> Snapshot:
    names = [f"n{i:04}" for i in range(NODES)]
    return Snapshot(
        now=NOW,
        nodes=tuple(Node(name, labels={"zone": f"z{i % 3}"}) for i, name in enumerate(names)),
        pods=tuple(
            Pod(
                "ns",
                f"p{i}-{j}",
                f"u{i}-{j}",
                name,
                labels={"app": f"a{j % 5}"},
                owner_kind="ReplicaSet",
            )
            for i, name in enumerate(names)
            for j in range(PODS_PER_NODE)
        ),
        pdbs=tuple(
            PodDisruptionBudget(
                "ns",
                f"a{k}",
                LabelSelector({"app": f"a{k}"}),
                disruptions_allowed=400,
                observed_generation=1,
            )
            for k in range(5)
        ),
        limits=(
            MaintenanceLimit(
                "node",
                uid="uid-node",
                spec={"type": "node", "limit": 5, "drain": {"timeoutSeconds": 900}},
            ),
        ),
        requests=tuple(
            MaintenanceRequest(
                f"mr-{name}",
                uid=f"uid-{name}",
                spec={"type": "node", "name": name, "state": "Pending"},
                creation_timestamp=NOW,
            )
            for name in names
        ),
    )


def one_pass(snapshot: Snapshot, label: str) -> None:
    by_node: dict[str, list[Pod]] = {}
    for pod in snapshot.pods:
        by_node.setdefault(pod.node, []).append(pod)
    read: list[str] = []
    plans: list[float] = []

    def fetch(node: str) -> list[Pod]:
        read.append(node)
        return by_node.get(node, [])

    def planner(s: Snapshot) -> object:
        started = time.perf_counter()
        result = plan(s)
        plans.append(time.perf_counter() - started)
        return result

    names = {n.name for n in snapshot.nodes}
    before = len(nodes_that_matter(list(snapshot.requests), names))
    _, result = pods_as_needed(fetch, attrs.evolve(snapshot, pods=()), planner, {})  # type: ignore[arg-type]
    assert result == plan(snapshot), "not the plan every requested node's pods give"
    print(
        f"{label}: per-node pod reads {before} -> {len(read)}; "
        f"{len(plans)} plans, {sum(plans):.2f} s"
    )


def main() -> None:
    first = fleet()
    one_pass(first, "first pass, every node requested")
    one_pass(apply(first, plan(first)), "next pass, 250 Preparing")


if __name__ == "__main__":
    main()
