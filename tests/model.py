"""A model cluster for tests: applies a plan to a snapshot the way the API server would.

Not a second policy, and not a second model: the forecast's `ModelCluster`
(forecast/cluster.py) carries out the decisions (status writes, cordons, evictions
taking one disruption from their PDB at once, deletions) and plays the disruption
controller. This module only adds what the tests need around it: a check that a plan
evicts no pod that is missing or already going, the kubelet finishing terminating
pods, and moving time.
"""

from __future__ import annotations

from datetime import timedelta

import attrs

from forecast.cluster import ModelCluster
from policy.decisions import Evict, Plan
from policy.model import PodDisruptionBudget, Snapshot


def apply(snapshot: Snapshot, plan: Plan) -> Snapshot:
    """The snapshot after every decision of `plan` succeeded (time does not move)."""
    pods = {p.key: p for p in snapshot.pods}
    for decision in plan.decisions:
        if isinstance(decision, Evict):
            pod = pods.get(f"{decision.namespace}/{decision.pod}")
            # The model ignores such an eviction, as the API server would; a plan that
            # asks for one is wrong, and the tests should say so.
            assert pod is not None and not pod.terminating, decision
    cluster = ModelCluster(snapshot)
    cluster.apply(plan, now=snapshot.now)
    return cluster.snapshot(snapshot.now)


def finish_terminating(snapshot: Snapshot) -> Snapshot:
    """The kubelet: terminating pods are gone."""
    return attrs.evolve(snapshot, pods=tuple(p for p in snapshot.pods if not p.terminating))


def advance(snapshot: Snapshot, seconds: float) -> Snapshot:
    return attrs.evolve(snapshot, now=snapshot.now + timedelta(seconds=seconds))


def recompute_budgets(snapshot: Snapshot) -> tuple[PodDisruptionBudget, ...]:
    """The disruption controller's count of every PDB with a selector, from the pods
    now: healthy pods minus desired."""
    cluster = ModelCluster(snapshot)
    cluster.recount_budgets()
    return tuple(cluster.pdbs.values())
