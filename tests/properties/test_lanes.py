"""The applier's lanes (runner.apply._lanes), on the plans of generated clusters: what
one lane holds is written in plan order, and lanes run side by side, so every
decision but the limits' status is in exactly one lane, in plan order, and two
decisions that share a request or a node are in the same lane."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from policy import plan
from policy.decisions import UpdateLimitStatus
from policy.model import Snapshot
from runner.apply import _chain, _lanes, _node_of
from tests.properties.strategies import any_snapshots, draining_snapshots


@given(st.one_of(any_snapshots(), draining_snapshots()))
def test_lanes_keep_each_request_and_each_node_in_plan_order(snapshot: Snapshot) -> None:
    decisions = plan(snapshot).decisions
    lanes = _lanes(decisions)
    positions = [p for lane in lanes for p in lane]
    expected = [p for p, d in enumerate(decisions) if not isinstance(d, UpdateLimitStatus)]
    assert sorted(positions) == expected  # each exactly once, limits' status in none
    assert all(lane == sorted(lane) for lane in lanes)
    lane_of = {p: number for number, lane in enumerate(lanes) for p in lane}
    by_key: dict[str, set[int]] = {}
    for position in expected:
        decision = decisions[position]
        keys = [_chain(decision)]
        node = _node_of(decision)
        if node is not None:
            keys.append(f"node/{node}")
        for key in keys:
            by_key.setdefault(key, set()).add(lane_of[position])
    assert all(len(found) == 1 for found in by_key.values()), by_key
