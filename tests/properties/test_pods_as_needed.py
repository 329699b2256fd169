"""Reading pods only for the nodes a plan needs (runner.read.pods_as_needed, issue 16)
plans exactly as reading every requested node's pods: same decisions, same
explanations, for any snapshot. Its reads are counted: only nodes at work and nodes
the plan admits."""

from __future__ import annotations

import attrs
from hypothesis import given

from policy import plan
from policy.model import Pod, Snapshot
from runner.read import _admitted_nodes, nodes_at_work, nodes_that_matter, pods_as_needed
from tests.properties.strategies import any_snapshots, draining_snapshots


def _as_runner_reads(snapshot: Snapshot) -> tuple[Snapshot, Snapshot, list[str]]:
    """The snapshot the runner read before (pods of every requested node), the same
    without pods, and the nodes read since (filled by the fake `fetch`)."""
    names = {n.name for n in snapshot.nodes}
    requested = set(nodes_that_matter(list(snapshot.requests), names))
    full = attrs.evolve(snapshot, pods=tuple(p for p in snapshot.pods if p.node in requested))
    bare = attrs.evolve(snapshot, pods=())
    return full, bare, []


def _check(snapshot: Snapshot) -> None:
    full, bare, read = _as_runner_reads(snapshot)
    by_node: dict[str, list[Pod]] = {}
    for pod in full.pods:
        by_node.setdefault(pod.node, []).append(pod)

    def fetch(node: str) -> list[Pod]:
        read.append(node)
        return by_node.get(node, [])

    _, result = pods_as_needed(fetch, bare, plan, {})
    expected = plan(full)
    assert result.decisions == expected.decisions
    assert result.explanations == expected.explanations
    assert len(read) == len(set(read)), read  # each node read once
    assert set(read) >= nodes_at_work(bare) | _admitted_nodes(expected)


@given(any_snapshots())
def test_plans_as_with_every_requested_nodes_pods(snapshot: Snapshot) -> None:
    _check(snapshot)


@given(draining_snapshots())
def test_plans_as_with_every_requested_nodes_pods_while_draining(snapshot: Snapshot) -> None:
    _check(snapshot)
