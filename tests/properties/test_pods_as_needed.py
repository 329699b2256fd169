"""Reading pods only for the nodes a plan needs (runner.read.pods_as_needed, issue 16)
plans exactly as reading every requested node's pods, and as reading every pod: same
decisions, same explanations, for any snapshot. Also on snapshots the strategies do
not make by themselves (`perturbed`): a status target missing, unparseable or naming
another node (edited by hand, or a spec edited after admission), and limits whose
status.active names requests (committed by another runner, not yet written)."""

from __future__ import annotations

import attrs
from hypothesis import given
from hypothesis import strategies as st

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


@st.composite
def perturbed(draw: st.DrawFn, base: st.SearchStrategy[Snapshot]) -> Snapshot:
    snapshot = draw(base)
    names = [n.name for n in snapshot.nodes] + ["ghost"]
    requests = []
    for original in snapshot.requests:
        request = original
        if draw(st.integers(0, 3)) == 0:
            target = draw(
                st.sampled_from([None, "", "node/", "garbage"])
                | st.sampled_from(names).map(lambda n: f"node/{n}")
            )
            request = attrs.evolve(original, status=attrs.evolve(original.status, target=target))
        requests.append(request)
    known = [r.name for r in requests]
    limits = []
    for original_limit in snapshot.limits:
        limit = original_limit
        if known and draw(st.booleans()):
            active = tuple(draw(st.lists(st.sampled_from(known), max_size=3, unique=True)))
            limit = attrs.evolve(limit, status=attrs.evolve(limit.status, active=active))
        limits.append(limit)
    return attrs.evolve(snapshot, requests=tuple(requests), limits=tuple(limits))


def _check(snapshot: Snapshot) -> None:
    full, bare, read = _as_runner_reads(snapshot)
    by_node: dict[str, list[Pod]] = {}
    for pod in full.pods:
        by_node.setdefault(pod.node, []).append(pod)

    def fetch(node: str) -> list[Pod]:
        read.append(node)
        return by_node.get(node, [])

    _, result = pods_as_needed(fetch, bare, plan, {})
    for expected in (plan(full), plan(snapshot)):  # every requested node's pods; every pod
        assert result.decisions == expected.decisions
        assert result.explanations == expected.explanations
    assert len(read) == len(set(read)), read  # each node read once
    assert set(read) >= nodes_at_work(bare) | _admitted_nodes(result)


@given(any_snapshots())
def test_plans_as_with_every_requested_nodes_pods(snapshot: Snapshot) -> None:
    _check(snapshot)


@given(draining_snapshots())
def test_plans_as_with_every_requested_nodes_pods_while_draining(snapshot: Snapshot) -> None:
    _check(snapshot)


@given(perturbed(any_snapshots()))
def test_plans_as_with_every_pod_when_status_targets_and_commits_are_odd(
    snapshot: Snapshot,
) -> None:
    _check(snapshot)


@given(perturbed(draining_snapshots()))
def test_plans_as_with_every_pod_when_status_targets_and_commits_are_odd_draining(
    snapshot: Snapshot,
) -> None:
    _check(snapshot)
