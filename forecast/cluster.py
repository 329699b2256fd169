"""The model cluster a forecast plays on: the API server and the controllers around it.

Pure and deterministic (no clock: the caller says what time it is). `ModelCluster`
keeps the objects a snapshot holds, indexed for the simulation's needs, and carries
out a plan's decisions the way the API server would: status writes stored, cordons and
uncordons with our annotation, evictions marking the pod terminating and taking one
disruption from its PDB at once, requests deleted, limit status stored. Between passes
it plays the controllers: the disruption controller's counts are kept pod by pod and
published by `recount_budgets`; `schedule` picks the node a replacement pod lands on
(the schedulable Ready node with the fewest pods, as a spreading scheduler would).

The forecast's simulation (forecast.simulation) and the property tests (tests/model.py)
apply plans through `apply`.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from datetime import datetime
from typing import assert_never

import attrs

from policy import Plan, Snapshot
from policy.decisions import (
    Cordon,
    DeleteRequest,
    Evict,
    SetNodeConditions,
    Uncordon,
    UpdateLimitStatus,
    UpdateRequestStatus,
)
from policy.model import (
    CORDONED_BY,
    CORDONED_BY_UID,
    ActorState,
    MaintenanceRequest,
    Pod,
    claim_uid,
)
from policy.node_conditions import rewrites

_CLAIM = (CORDONED_BY, CORDONED_BY_UID)


def _claimed(annotations: Mapping[str, str], request: str, uid: str) -> dict[str, str]:
    """A node's annotations after our cordon's merge patch (runner/apply.py)."""
    claimed = {k: v for k, v in annotations.items() if k not in _CLAIM}
    claimed[CORDONED_BY] = request
    value = claim_uid(request, uid)
    if value is not None:
        claimed[CORDONED_BY_UID] = value
    return claimed


@attrs.frozen
class Evicted:
    """An eviction that took effect: the pod is terminating for `grace` seconds
    (None: the pod's own period, unknown to the model)."""

    key: str
    grace: float | None


Effect = UpdateRequestStatus | Evicted
"""What `apply` did that the simulation reacts to, in the plan's order."""


class ModelCluster:
    def __init__(self, snapshot: Snapshot) -> None:
        self.nodes = {n.name: n for n in snapshot.nodes}
        self.ready_nodes = {n.name for n in snapshot.nodes if n.ready}
        """Nodes change readiness only by `fail` (the forecast's --fail-rate)."""
        self.pdbs = {b.key: b for b in snapshot.pdbs}
        self.pdbs_in: dict[str, list[str]] = {}
        """Namespace -> its PDBs with a selector (the ones the controller counts)."""
        for budget in snapshot.pdbs:
            if budget.selector is not None:
                self.pdbs_in.setdefault(budget.namespace, []).append(budget.key)
        self.selected_by: dict[str, tuple[str, ...]] = {}
        self.counts: dict[str, list[int]] = {
            key: [0, 0] for pdb in self.pdbs_in.values() for key in pdb
        }
        """PDB -> [pods selected, of them healthy], kept up to date pod by pod."""
        self.dirty: set[str] = set(self.counts)
        """PDBs whose counts changed since the last recount (at first: all of them, as
        the disruption controller's own first sync)."""
        self.pods: dict[str, Pod] = {}
        self.on_node: dict[str, set[str]] = {}
        self._by_node: dict[str, tuple[Pod, ...]] = {}
        """Node -> its pods, as the plan takes them (see pods_by_node)."""
        self._changed: set[str] = set()
        """Nodes whose pods changed since pods_by_node last looked."""
        self.free: list[tuple[int, str]] = []
        """Schedulable nodes by (pods on them, name), lazily updated: see schedule."""
        for node in self.nodes.values():
            self.offer(node.name)
        for pod in snapshot.pods:
            self.put(pod)
        self.attachments = {v.name: v for v in snapshot.volume_attachments}
        self.requests = {r.name: r for r in snapshot.requests}
        self.limits = {m.name: m for m in snapshot.limits}
        self.rest = snapshot

    def snapshot(self, now: datetime) -> Snapshot:
        return attrs.evolve(
            self.rest,
            now=now,
            nodes=tuple(self.nodes.values()),
            pods=tuple(self.pods.values()),
            pdbs=tuple(self.pdbs.values()),
            volume_attachments=tuple(self.attachments.values()),
            requests=tuple(self.requests.values()),
            limits=tuple(self.limits.values()),
            # Outside gates keep what they were read as (alerts firing, blockers
            # running, a gate that failed): read again at each step.
            gates=tuple(attrs.evolve(g, at=now) for g in self.rest.gates),
        )

    def pods_by_node(self) -> dict[str, tuple[Pod, ...]]:
        """The pods grouped by node, for `policy.plan`: regrouped only where a pod came,
        went or changed since the last call (a few hundred of 5,000 nodes a pass), where
        the plan would group all 150,000 pods again."""
        for node in self._changed:
            keys = self.on_node.get(node)
            if keys:
                self._by_node[node] = tuple(self.pods[key] for key in keys)
            else:
                self._by_node.pop(node, None)
        self._changed.clear()
        return dict(self._by_node)  # tuples: the copy is a snapshot

    # --- the API server -----------------------------------------------------------------

    def apply(self, plan: Plan, *, now: datetime) -> list[Effect]:
        """Carry out every decision of `plan` as the API server would at `now`."""
        effects: list[Effect] = []
        for decision in plan.decisions:
            match decision:
                case UpdateRequestStatus():
                    if self._store_status(decision):
                        effects.append(decision)
                case Cordon():
                    node = self.nodes[decision.node]
                    self.nodes[node.name] = attrs.evolve(
                        node,
                        unschedulable=True,
                        annotations=_claimed(node.annotations, decision.request, decision.uid),
                    )
                case Uncordon():
                    node = self.nodes[decision.node]
                    annotations = {k: v for k, v in node.annotations.items() if k not in _CLAIM}
                    self.nodes[node.name] = attrs.evolve(
                        node, unschedulable=False, annotations=annotations
                    )
                    self.offer(node.name)
                case Evict():
                    evicted = self._evict(decision, now=now)
                    if evicted is not None:
                        effects.append(evicted)
                case DeleteRequest():
                    self.requests.pop(decision.request, None)
                case SetNodeConditions():
                    # Stored as the runner writes them (each entry of ours in its
                    # place, a type not shown added); nothing in the model reads them
                    # (they change no timing: the forecast ignores them otherwise).
                    node = self.nodes[decision.node]
                    written = {c.type: c for c in decision.write}
                    shown = {c.type for c in node.conditions}
                    placed = tuple(
                        written[c.type] if c.type in written and rewrites(c, written[c.type]) else c
                        for c in node.conditions
                    )
                    added = tuple(c for kind, c in written.items() if kind not in shown)
                    self.nodes[node.name] = attrs.evolve(node, conditions=placed + added)
                case UpdateLimitStatus():
                    self.limits[decision.limit] = attrs.evolve(
                        self.limits[decision.limit], status=decision.status
                    )
                case _:
                    assert_never(decision)
        return effects

    def _store_status(self, decision: UpdateRequestStatus) -> bool:
        request = self.requests.get(decision.request)
        if request is None:
            return False
        # What the API server stores (spelled out: attrs.evolve is the slowest part
        # of applying a pass that rewrites thousands of waiting requests' messages).
        self.requests[request.name] = MaintenanceRequest(
            request.name,
            request.uid,
            request.resource_version,
            request.generation,
            request.creation_timestamp,
            request.spec,
            decision.status,
        )
        return True

    def _evict(self, decision: Evict, *, now: datetime) -> Evicted | None:
        key = f"{decision.namespace}/{decision.pod}"
        pod = self.pods.get(key)
        if pod is None or pod.terminating:
            return None
        self.put(attrs.evolve(pod, deletion_timestamp=now))
        if decision.pdb is not None and decision.pdb in self.pdbs:
            budget = self.pdbs[decision.pdb]
            self.pdbs[decision.pdb] = attrs.evolve(
                budget, disruptions_allowed=max(budget.disruptions_allowed - 1, 0)
            )
        grace = decision.grace_period_seconds
        if grace is None:
            grace = pod.termination_grace_period_seconds
        return Evicted(key, grace)

    def fail(self, node: str, now: datetime) -> None:
        """Maintenance left `node` NotReady for good: its pods count as unhealthy."""
        known = self.nodes.get(node)
        if known is None or not known.ready:
            return
        pods = [self.pods[key] for key in sorted(self.on_node.get(node, ()))]
        for pod in pods:
            self._count(pod, -1)
        self.ready_nodes.discard(node)
        self.nodes[node] = attrs.evolve(known, ready=False, ready_since=now)
        for pod in pods:
            self._count(pod, +1)

    def declare(self, name: str, state: ActorState) -> None:
        """An actor sets `spec.state` (a new generation)."""
        request = self.requests.get(name)
        if request is None:
            return
        self.requests[name] = attrs.evolve(
            request,
            spec={**request.spec, "state": state.value},
            generation=request.generation + 1,
        )

    # --- pods, and where they go ----------------------------------------------------------

    def put(self, pod: Pod) -> None:
        """Add or replace a pod, keeping the indexes by node and namespace and the PDB
        counts."""
        key = pod.key
        old = self.pods.get(key)
        self.pods[key] = pod
        self._changed.add(pod.node)
        if old is not None:
            self._count(old, -1)
        self._count(pod, +1)
        if old is None or old.node != pod.node:
            if old is not None:
                self.on_node[old.node].discard(key)
                self._changed.add(old.node)
                self.offer(old.node)
            self.on_node.setdefault(pod.node, set()).add(key)
            self.offer(pod.node)

    def drop(self, key: str) -> Pod | None:
        pod = self.pods.pop(key, None)
        if pod is not None:
            self._count(pod, -1)
            self.on_node[pod.node].discard(key)
            self._changed.add(pod.node)
            self.offer(pod.node)
        return pod

    def _count(self, pod: Pod, sign: int) -> None:
        """Add (or take back) what a pod counts for in the PDBs that select it, as the
        disruption controller counts: selected unless terminal; healthy if also Ready,
        not terminating and on a Ready node."""
        if pod.terminal:
            return
        budgets = self.pdbs_in.get(pod.namespace)
        if not budgets:
            return
        healthy = pod.ready and not pod.terminating and pod.node in self.ready_nodes
        for pdb in self._selecting(pod, budgets):
            counts = self.counts[pdb]
            counts[0] += sign
            if healthy:
                counts[1] += sign
            self.dirty.add(pdb)

    def load(self, node: str) -> int:
        return len(self.on_node.get(node, ()))

    def offer(self, name: str) -> None:
        """Record a schedulable node's current load in the heap (older entries for it
        go stale and are skipped when they surface)."""
        node = self.nodes.get(name)
        if node is not None and node.ready and not node.unschedulable:
            heapq.heappush(self.free, (self.load(name), name))

    def schedule(self, pod: Pod) -> str | None:
        """The schedulable Ready node with the fewest pods (then by name), not the pod's
        own: what a spreading scheduler does, found in the lazily updated heap."""
        aside = None
        chosen = None
        while self.free:
            load, name = self.free[0]
            node = self.nodes[name]
            if load != self.load(name) or not node.ready or node.unschedulable:
                heapq.heappop(self.free)  # stale
            elif name == pod.node:
                aside = heapq.heappop(self.free)
            else:
                chosen = name
                break
        if aside is not None:
            heapq.heappush(self.free, aside)
        return chosen

    def recount_budgets(self) -> None:
        """The disruption controller: the status of every PDB whose pods changed since
        the last recount."""
        for key in self.dirty:
            pdb = self.pdbs[key]
            selected, healthy = self.counts[key]
            self.pdbs[key] = attrs.evolve(
                pdb,
                current_healthy=healthy,
                expected_pods=selected,
                disruptions_allowed=max(healthy - pdb.desired_healthy, 0),
                observed_generation=pdb.generation,
            )
        self.dirty.clear()

    def _selecting(self, pod: Pod, budgets: list[str]) -> tuple[str, ...]:
        """The PDBs (of `budgets`, the namespace's) that select the pod: worked out once
        per pod, since neither labels nor selectors change in the model."""
        chosen = self.selected_by.get(pod.key)
        if chosen is None:
            selectors = ((key, self.pdbs[key].selector) for key in budgets)
            chosen = self.selected_by[pod.key] = tuple(
                key for key, chooses in selectors if chooses and chooses.matches(pod.labels)
            )
        return chosen
