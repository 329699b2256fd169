"""DESIGN §3 "Drains behave like kubectl drain", as properties over draining nodes.

Every node is under one draining limit with room for all, so the pods the strategy
draws (Pending, unready, terminating on NotReady nodes, unmanaged, emptyDir, under
zero, one or several PDBs, AlwaysAllow or not) all meet the drain's rules:

- invariant 2 as the Eviction API counts it, with all or nothing
  (`invariants.budgets_respected`), and invariant 9 with dead nodes
  (`invariants.approvals_drained`);
- the approval gate lets through what did not change, and planning again on the
  applied plan repeats nothing;
- what the Eviction API would let go without spending budget is evicted in the same
  pass, whatever the budget, unless something blocks the whole node: a sick node is
  drained where kubectl would drain it.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given

from policy import plan
from policy.decisions import Evict, UpdateRequestStatus
from policy.model import RequestState, Snapshot
from tests.model import apply
from tests.properties import invariants
from tests.properties.strategies import draining_snapshots


@given(draining_snapshots())
def test_evictions_stay_within_the_budgets_the_eviction_api_counts(snapshot: Snapshot) -> None:
    invariants.budgets_respected(snapshot, plan(snapshot))


@given(draining_snapshots())
def test_approved_only_when_drained_dead_nodes_included(snapshot: Snapshot) -> None:
    invariants.approvals_drained(snapshot, plan(snapshot))


@given(draining_snapshots())
def test_the_gate_passes_what_did_not_change_and_nothing_repeats(snapshot: Snapshot) -> None:
    first = plan(snapshot)
    after = apply(snapshot, first)
    invariants.gate_passes_when_nothing_changed(snapshot, first, after)
    invariants.no_repeated_action(first, plan(after))


@given(draining_snapshots())
def test_pods_the_eviction_api_lets_go_freely_are_evicted_at_once(snapshot: Snapshot) -> None:
    result = plan(snapshot)
    evicted = {f"{d.namespace}/{d.pod}" for d in result.decisions if isinstance(d, Evict)}
    ended = {
        d.request
        for d in result.decisions
        if isinstance(d, UpdateRequestStatus) and d.status.state is not RequestState.PREPARING
    }
    limit = invariants.valid_limits(snapshot)[0]
    drain = limit.drain
    assert drain is not None
    pdbs = {b.key: b for b in snapshot.pdbs}
    for node in snapshot.nodes:
        if f"mr-{node.name}" in ended:
            continue
        on_node = [
            p
            for p in snapshot.pods
            if p.node == node.name
            and not (p.mirror or p.owner_kind == "DaemonSet" or p.terminal or p.follows_cordon)
            and not p.terminating
        ]
        blocked = any(
            (p.owner_kind is None and not drain.force)
            or (p.empty_dir and not drain.delete_empty_dir_data)
            or (p.phase != "Pending" and len(invariants.selecting(snapshot.pdbs, p)) > 1)
            for p in on_node
        )
        for pod in on_node:
            selected = invariants.selecting(snapshot.pdbs, pod)
            free = pod.phase == "Pending" or not selected
            if not free and not pod.ready and len(selected) == 1:
                pdb = pdbs[selected[0]]
                free = pdb.unhealthy_pod_eviction_policy == "AlwaysAllow" or (
                    pdb.current_healthy >= pdb.desired_healthy > 0
                )
            if free:
                assert (pod.key in evicted) is not blocked, (node.name, pod.key, blocked)
            elif blocked:
                assert pod.key not in evicted, (node.name, pod.key)


@given(draining_snapshots())
def test_a_dead_node_drains_once_its_deletions_are_past_the_wait(snapshot: Snapshot) -> None:
    """A Preparing request whose node is NotReady and holds nothing but pods terminating
    longer than the wait for deletes past their deletionTimestamp is drained in this
    pass (drainedAt set, or approved), never left waiting for a kubelet that is gone."""
    result = plan(snapshot)
    drain = invariants.valid_limits(snapshot)[0].drain
    assert drain is not None
    if drain.skip_wait_for_delete_timeout_seconds == 0:
        return  # never counted as gone
    cutoff = snapshot.now - timedelta(seconds=drain.skip_wait_for_delete_timeout_seconds)
    written = {d.request: d.status for d in result.decisions if isinstance(d, UpdateRequestStatus)}
    for request in snapshot.requests:
        node = next(n for n in snapshot.nodes if f"mr-{n.name}" == request.name)
        if request.status.state is not RequestState.PREPARING or node.ready:
            continue
        if request.status.drained_at is not None:
            continue
        on_node = [
            p
            for p in snapshot.pods
            if p.node == node.name
            and not (p.mirror or p.owner_kind == "DaemonSet" or p.terminal or p.follows_cordon)
        ]
        if not on_node or not all(
            p.deletion_timestamp is not None and p.deletion_timestamp < cutoff for p in on_node
        ):
            continue
        status = written.get(request.name, request.status)
        assert status.drained_at is not None or status.state is not RequestState.PREPARING, (
            request.name,
            status,
        )
