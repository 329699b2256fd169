"""The forecast model's incremental books, made again from scratch to check them.

The model cluster keeps PDB counts pod by pod and schedulable nodes in a heap by load; these
helpers compute the same from the whole model at each step, the slow obvious way.
"""

from __future__ import annotations

from collections import Counter

from forecast import Simulation
from policy.model import Pod, Snapshot


def budgets_counted_from_scratch(snapshot: Snapshot) -> None:
    """Every PDB as the disruption controller would count it from the pods now."""
    ready = {n.name for n in snapshot.nodes if n.ready}
    for pdb in snapshot.pdbs:
        if pdb.selector is None:
            continue
        selected = [
            p
            for p in snapshot.pods
            if p.namespace == pdb.namespace and pdb.selector.matches(p.labels) and not p.terminal
        ]
        healthy = sum(1 for p in selected if p.ready and not p.terminating and p.node in ready)
        assert (pdb.current_healthy, pdb.expected_pods, pdb.disruptions_allowed) == (
            healthy,
            len(selected),
            max(healthy - pdb.desired_healthy, 0),
        ), pdb.key


def check_scheduling(simulation: Simulation) -> None:
    """Make every replacement's node be checked against the plain definition: the
    Ready, schedulable node with the fewest pods (then by name), not the pod's own."""
    cluster = simulation.cluster
    scheduled = cluster.schedule

    def schedule_checked(pod: Pod) -> str | None:
        load = Counter(p.node for p in cluster.pods.values())
        candidates = [
            n.name
            for n in cluster.nodes.values()
            if n.ready and not n.unschedulable and n.name != pod.node
        ]
        expected = min(candidates, key=lambda n: (load[n], n), default=None)
        chosen = scheduled(pod)
        assert chosen == expected, (chosen, expected)
        simulation.checked_schedules += 1  # type: ignore[attr-defined]
        return chosen

    simulation.checked_schedules = 0  # type: ignore[attr-defined]
    cluster.schedule = schedule_checked  # type: ignore[method-assign]
