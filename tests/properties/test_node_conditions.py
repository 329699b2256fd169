"""DESIGN §8: the node lifecycle conditions follow the table through every life of a
request, never change someone else's condition, and are all False once it ended.

A node starts with some of the four conditions set by someone else (an admin, another
controller, one whose reason merely starts with `Repairman`) and some left by an
earlier request of ours, then goes through lives of requests: each begins at any row
of the table (admission and approval may come in one pass), goes on through the
later rows, may fall back (a late pod: draining again) and ends any way (completed,
expired, rejected, deleted, back to waiting). At each step the conditions `changes`
returns are written as a pass would write them.
"""

from __future__ import annotations

import attrs
from hypothesis import given
from hypothesis import strategies as st

from policy.model import MaintenanceLimit, RequestState, Snapshot, TargetType
from policy.node_conditions import (
    DRAINED,
    DRAINING,
    IN_MAINTENANCE,
    PLANNED,
    TYPES,
    Holder,
    NodeCondition,
    changes,
    ours,
    publishes,
    wanted,
    wanted_for_node,
)
from policy.pass_state import Index
from policy.validation import Target
from tests.helpers import NOW, nodes

S = RequestState
LIFE = [(S.PREPARING, False), (S.PREPARING, True), (S.APPROVED, True), (S.IN_PROGRESS, True)]
ENDINGS = [S.COMPLETED, S.EXPIRED, S.REJECTED, S.PENDING, None]


def row(state: RequestState, drains: bool, drained: bool) -> dict[str, str]:
    """DESIGN §8's table, "—" read as False."""
    done = "True" if drained else "False"  # the request's drainedAt
    if state is S.PREPARING:
        draining = "True" if drains and not drained else "False"
        return {PLANNED: "True", DRAINING: draining, DRAINED: done, IN_MAINTENANCE: "False"}
    return {PLANNED: "True", DRAINING: "False", DRAINED: done, IN_MAINTENANCE: "True"}


theirs_strategy = st.dictionaries(
    st.sampled_from(TYPES),
    st.tuples(
        st.sampled_from(["True", "False", "Unknown"]),
        st.sampled_from(["AdminPlanned", "NodeProblemDetector", "", "RepairmanHold"]),
        st.sampled_from(["set by hand", "repairman: looks like ours"]),
    ),
    max_size=2,
)
leftovers = st.dictionaries(st.sampled_from(TYPES), st.sampled_from(["True", "False"]), max_size=4)


@given(
    theirs=theirs_strategy,
    left=leftovers,
    lives=st.lists(
        st.tuples(
            st.integers(0, len(LIFE) - 1),  # the row a life begins at
            st.integers(1, len(LIFE)),  # how many rows it goes through
            st.booleans(),  # falls back to draining once (a late pod)
            st.sampled_from(ENDINGS),
            st.booleans(),  # its limit drains
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_the_conditions_follow_the_table_and_leave_others_alone(
    theirs: dict[str, tuple[str, str, str]],
    left: dict[str, str],
    lives: list[tuple[int, int, bool, RequestState | None, bool]],
) -> None:
    node = {
        kind: NodeCondition(kind, status, "RepairmanInProgress", "repairman: mr-old is in progress")
        for kind, status in left.items()
    }
    node.update({kind: NodeCondition(kind, *values) for kind, values in theirs.items()})
    # Drawn as someone else's, whatever their reason looks like (not judged by `ours`).
    others = {kind: node[kind] for kind in theirs}
    for number, (begin, length, falls_back, ending, drains) in enumerate(lives):
        request = f"mr-{number}"
        steps = LIFE[begin : begin + length]
        if falls_back and drains and any(state is S.PREPARING and done for state, done in steps):
            steps = [*steps, (S.PREPARING, False), (S.PREPARING, True)]
        for state, drained in [*steps, (ending, True)]:
            want = wanted(state, request=request, drains=drains, drained=drained)
            node.update(changes(node, want))
            assert changes(node, want) == {}  # the next pass writes nothing
            for kind, condition in others.items():
                assert node[kind] == condition  # someone else's: never touched
            mine = {kind: c for kind, c in node.items() if kind not in others}
            assert all(ours(c) for c in mine.values())
            if state is not None and state.active:
                expected = row(state, drains, drained)
                for kind, condition in mine.items():
                    assert condition.status == expected[kind], (state, kind, node)
                    if condition.status == "True":
                        assert request in condition.message
                for kind, status in expected.items():
                    if status == "True" and kind not in others:
                        assert kind in mine, (state, kind, node)
            else:
                # Ended (any way), deleted, or waiting again: nothing of ours is True.
                assert not [c for c in mine.values() if c.status == "True"], node


def test_a_node_follows_its_active_request_not_the_one_that_ended_before() -> None:
    holders = [
        Holder("mr-done", S.COMPLETED),
        Holder("mr-now", S.IN_PROGRESS, drains=True, drained=True),
        Holder("mr-next", S.PENDING),
    ]
    want = wanted_for_node(holders)
    assert want[IN_MAINTENANCE].status == "True" and "mr-now" in want[IN_MAINTENANCE].message
    cleared = wanted_for_node([Holder("mr-done", S.COMPLETED), Holder("mr-gone", None)])
    assert {c.status for c in cleared.values()} == {"False"}
    assert all(c.reason == "RepairmanDeleted" for c in cleared.values())
    assert {c.status for c in wanted_for_node([]).values()} == {"False"}


def test_a_cleared_condition_is_not_written_again_for_its_reason_alone() -> None:
    node = {PLANNED: NodeCondition(PLANNED, "False", "RepairmanCompleted", "repairman: mr-0 ended")}
    assert changes(node, wanted(S.EXPIRED, request="mr-1", drains=True, drained=True)) == {}
    assert changes({}, wanted(None, request="mr-1", drains=True, drained=True)) == {}


limit_specs = st.fixed_dictionaries(
    {"type": st.sampled_from(["node", "pod", "nodes"]), "limit": st.sampled_from([5, "lots"])},
    optional={
        "selector": st.sampled_from(
            [
                {"matchLabels": {"zone": "a"}},
                {"matchExpressions": [{"key": "zone", "operator": "Inn", "values": ["a"]}]},
            ]
        ),
        "nodeConditions": st.booleans(),
    },
)


@given(st.lists(limit_specs, max_size=4), st.sampled_from(["a", "b"]))
def test_the_runners_fresh_judgement_of_nodeconditions_is_the_plans(
    specs: list[dict[str, object]], zone: str
) -> None:
    """`publishes` (what the runner asks of the limits it reads again before a write)
    says what the plan's holders say, for valid and invalid limits alike."""
    limits = tuple(
        MaintenanceLimit(name=f"l{i}", uid=f"u{i}", spec=spec) for i, spec in enumerate(specs)
    )
    (node,) = nodes(1)
    node = attrs.evolve(node, labels={**node.labels, "zone": zone})
    index = Index(Snapshot(now=NOW, nodes=(node,), limits=limits))
    target = Target(TargetType.NODE, node.name)
    invalid = index.governing(target)[1]
    planned = index.behaviour(target).node_conditions and all(i.node_conditions for i in invalid)
    assert publishes(limits, node.labels) == planned
