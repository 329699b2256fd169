"""DESIGN §8: the node lifecycle conditions follow the table through every life of a
request, never change an admin's condition, and are all False once it ended.

A node starts with some of the four conditions set by someone else (an admin, another
controller: reasons not starting with `Repairman`) and goes through a sequence of
request states drawn from the lifecycle (admitted, draining, drained, approved, in
progress; ended any way at any point, deleted, or sent back to waiting). At each step
the conditions `changes` returns are written as a pass would write them.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from policy.model import RequestState
from policy.node_conditions import (
    DRAINED,
    DRAINING,
    IN_MAINTENANCE,
    PLANNED,
    TYPES,
    NodeCondition,
    changes,
    wanted,
)

S = RequestState
# (state, drained) steps in the order a request lives them; any may be cut short.
LIFE = [
    (S.PREPARING, False),
    (S.PREPARING, True),
    (S.APPROVED, True),
    (S.IN_PROGRESS, True),
]
ENDINGS = [S.COMPLETED, S.EXPIRED, S.REJECTED, S.PENDING, None]

TABLE = {
    # (state, drains, drained) -> the statuses that must show (None: not written)
    (S.PREPARING, True, False): {
        PLANNED: "True",
        DRAINING: "True",
        DRAINED: None,
        IN_MAINTENANCE: None,
    },
    (S.PREPARING, True, True): {
        PLANNED: "True",
        DRAINING: "False",
        DRAINED: "True",
        IN_MAINTENANCE: None,
    },
    (S.APPROVED, True, True): {
        PLANNED: "True",
        DRAINING: "False",
        DRAINED: "True",
        IN_MAINTENANCE: "True",
    },
    (S.IN_PROGRESS, True, True): {
        PLANNED: "True",
        DRAINING: "False",
        DRAINED: "True",
        IN_MAINTENANCE: "True",
    },
}

admin_conditions = st.dictionaries(
    st.sampled_from(TYPES),
    st.builds(
        lambda status, reason: (status, reason),
        st.sampled_from(["True", "False", "Unknown"]),
        st.sampled_from(["AdminPlanned", "NodeProblemDetector", "", "repairmanLowercase"]),
    ),
)


@given(
    admin=admin_conditions,
    cut=st.integers(1, len(LIFE)),
    ending=st.sampled_from(ENDINGS),
    drains=st.booleans(),
    lives=st.integers(1, 3),
)
def test_the_conditions_follow_the_table_and_leave_others_alone(
    admin: dict[str, tuple[str, str]],
    cut: int,
    ending: RequestState | None,
    drains: bool,
    lives: int,
) -> None:
    node = {
        kind: NodeCondition(kind, status, reason, "set by hand")
        for kind, (status, reason) in admin.items()
    }
    theirs = dict(node)
    for life in range(lives):
        request = f"mr-{life}"
        for state, drained in [*LIFE[:cut], (ending, True)]:
            want = wanted(state, request=request, drains=drains, drained=drained)
            node.update(changes(node, want))
            # Idempotent: the next pass on the same facts writes nothing.
            assert changes(node, want) == {}
            # Someone else's condition is never touched.
            for kind, condition in theirs.items():
                assert node[kind] == condition
            ours = {kind: c for kind, c in node.items() if kind not in theirs}
            assert all(c.reason.startswith("Repairman") for c in ours.values())
            if state is not None and state.active and drains:
                for kind, status in TABLE[(state, drains, drained)].items():
                    if kind in theirs:
                        continue
                    if status is None:
                        # Not written in this row: whatever an earlier row of this
                        # life left (a Drained from before stays as it was).
                        continue
                    assert node[kind].status == status, (state, kind, node)
                    assert request in node[kind].message
            elif state is not None and state.active:
                # A limit that does not drain: planned, never draining, never drained.
                assert node[PLANNED].status == "True" or PLANNED in theirs
                assert (
                    DRAINING in theirs
                    or node.get(DRAINING) is None
                    or node[DRAINING].status == "False"
                )
                assert (
                    DRAINED in theirs
                    or node.get(DRAINED) is None
                    or node[DRAINED].status == "False"
                )
            else:
                # Ended (any way), deleted, or waiting again: nothing of ours is True.
                assert not [c for c in ours.values() if c.status == "True"], node


def test_a_cleared_condition_is_not_written_again_for_its_reason_alone() -> None:
    node = {PLANNED: NodeCondition(PLANNED, "False", "RepairmanCompleted", "repairman: mr-0 ended")}
    assert changes(node, wanted(S.EXPIRED, request="mr-1", drains=True, drained=True)) == {}
    assert changes({}, wanted(None, request="mr-1", drains=True, drained=True)) == {}
