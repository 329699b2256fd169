"""A model cluster for tests: applies a plan to a snapshot the way the API server would.

Not a second policy: it only carries out decisions (status writes, cordons, evictions,
deletions) and plays the cluster's own machinery (the kubelet finishing terminating
pods, ReplicaSets recreating them elsewhere, the disruption controller recomputing PDB
status). The eviction decrements the PDB's disruptionsAllowed at once, as the real
Eviction API does.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import assert_never

import attrs

from policy.decisions import (
    Cordon,
    DeleteRequest,
    Evict,
    Plan,
    Uncordon,
    UpdateLimitStatus,
    UpdateRequestStatus,
)
from policy.model import CORDONED_BY, Pod, PodDisruptionBudget, Snapshot


def apply(snapshot: Snapshot, plan: Plan) -> Snapshot:
    """The snapshot after every decision of `plan` succeeded (time does not move)."""
    nodes = {n.name: n for n in snapshot.nodes}
    requests = {r.name: r for r in snapshot.requests}
    limits = {m.name: m for m in snapshot.limits}
    pods = {p.key: p for p in snapshot.pods}
    pdbs = {b.key: b for b in snapshot.pdbs}
    for decision in plan.decisions:
        match decision:
            case UpdateRequestStatus():
                if decision.request in requests:
                    requests[decision.request] = attrs.evolve(
                        requests[decision.request], status=decision.status
                    )
            case Cordon():
                node = nodes[decision.node]
                nodes[node.name] = attrs.evolve(
                    node,
                    unschedulable=True,
                    annotations={**node.annotations, CORDONED_BY: decision.request},
                )
            case Uncordon():
                node = nodes[decision.node]
                annotations = {k: v for k, v in node.annotations.items() if k != CORDONED_BY}
                nodes[node.name] = attrs.evolve(node, unschedulable=False, annotations=annotations)
            case Evict():
                key = f"{decision.namespace}/{decision.pod}"
                pods[key] = attrs.evolve(pods[key], deletion_timestamp=snapshot.now)
                if decision.pdb is not None:
                    budget = pdbs[decision.pdb]
                    pdbs[decision.pdb] = attrs.evolve(
                        budget, disruptions_allowed=budget.disruptions_allowed - 1
                    )
            case DeleteRequest():
                requests.pop(decision.request, None)
            case UpdateLimitStatus():
                limits[decision.limit] = attrs.evolve(
                    limits[decision.limit], status=decision.status
                )
            case _:
                assert_never(decision)
    return attrs.evolve(
        snapshot,
        nodes=tuple(nodes.values()),
        requests=tuple(requests.values()),
        limits=tuple(limits.values()),
        pods=tuple(pods.values()),
        pdbs=tuple(pdbs.values()),
    )


def finish_terminating(snapshot: Snapshot) -> Snapshot:
    """The kubelet: terminating pods are gone."""
    return attrs.evolve(snapshot, pods=tuple(p for p in snapshot.pods if not p.terminating))


def advance(snapshot: Snapshot, seconds: float) -> Snapshot:
    return attrs.evolve(snapshot, now=snapshot.now + timedelta(seconds=seconds))


def recompute_budgets(
    pdbs: Iterable[PodDisruptionBudget], pods: Iterable[Pod], ready_nodes: set[str]
) -> tuple[PodDisruptionBudget, ...]:
    """The disruption controller: healthy pods minus desired, for PDBs with minAvailable
    expressed as `desired_healthy`."""
    pods = list(pods)
    result = []
    for pdb in pdbs:
        selected = [
            p
            for p in pods
            if p.namespace == pdb.namespace
            and pdb.selector is not None
            and pdb.selector.matches(p.labels)
            and not p.terminal
        ]
        healthy = sum(
            1 for p in selected if p.ready and not p.terminating and p.node in ready_nodes
        )
        result.append(
            attrs.evolve(
                pdb,
                current_healthy=healthy,
                expected_pods=len(selected),
                disruptions_allowed=max(healthy - pdb.desired_healthy, 0),
                observed_generation=pdb.generation,
            )
        )
    return tuple(result)


def at(snapshot: Snapshot, now: datetime) -> Snapshot:
    return attrs.evolve(snapshot, now=now)
