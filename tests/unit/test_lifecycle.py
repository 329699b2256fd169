"""The state machine and the behaviour several limits imply (policy/lifecycle.py).

Covers: the transition table (forward only, terminal states final) and how the
governing limits merge: cordon and drain if any asks, the shortest timeouts, the
longest grace periods and soak, destructive drain options only if every draining
limit allows them, volume detach from the limits that wait for it, and the pods' grace
period in evictions: the longest of the overrides and, when a limit sets none, the
pod's own (DESIGN §2; issue 15 item 4).
"""

from __future__ import annotations

import pytest

from policy.lifecycle import TRANSITIONS, Behaviour, may_move
from policy.limit_spec import DrainSpec, InfraDrainSpec, LimitSpec
from policy.model import RequestState, TargetType

S = RequestState


@pytest.mark.parametrize("terminal", [S.COMPLETED, S.REJECTED, S.EXPIRED])
def test_terminal_states_are_final(terminal: RequestState) -> None:
    assert TRANSITIONS[terminal] == frozenset({terminal})


@pytest.mark.parametrize(
    ("before", "after", "allowed"),
    [
        (None, S.PENDING, True),
        (S.PENDING, S.APPROVED, True),
        (S.PREPARING, S.PENDING, False),
        (S.APPROVED, S.PREPARING, False),
        (S.APPROVED, S.REJECTED, False),
        (S.IN_PROGRESS, S.APPROVED, False),
        (S.IN_PROGRESS, S.EXPIRED, True),
        (S.PREPARING, S.REJECTED, True),
    ],
)
def test_transitions(before: RequestState | None, after: RequestState, allowed: bool) -> None:
    assert may_move(before, after) is allowed


def spec(name: str, **fields: object) -> LimitSpec:
    return LimitSpec(name=name, type=TargetType.NODE, percent=10, **fields)  # type: ignore[arg-type]


def test_no_limit_means_the_defaults() -> None:
    assert Behaviour.of([]) == Behaviour()


def test_limits_merge_to_the_strictest() -> None:
    merged = Behaviour.of(
        [
            spec(
                "a",
                cordon=True,
                drain=DrainSpec(
                    timeout_seconds=900,
                    grace_period_seconds=10,
                    pod_grace_period_seconds=5,
                    delete_empty_dir_data=True,
                ),
                approved_timeout_seconds=600,
                soak_seconds=60,
                ttl_seconds_after_finished=100,
            ),
            spec(
                "b",
                drain=DrainSpec(
                    timeout_seconds=300,
                    grace_period_seconds=30,
                    pod_grace_period_seconds=20,
                    force=True,
                ),
                in_progress_timeout_seconds=60,
                infra_drain=InfraDrainSpec(timeout_seconds=120, grace_period_seconds=5),
            ),
            spec("c", infra_drain=InfraDrainSpec(wait_for_volume_detach=False, timeout_seconds=1)),
        ]
    )
    assert merged.cordon
    assert merged.drain == DrainSpec(
        timeout_seconds=300,
        grace_period_seconds=30,
        pod_grace_period_seconds=20,
        delete_empty_dir_data=False,  # b does not allow it
        force=False,  # a does not allow it
    )
    assert merged.infra_drain == InfraDrainSpec(timeout_seconds=120, grace_period_seconds=5)
    assert merged.waits_for_detach
    assert (merged.approved_timeout_seconds, merged.in_progress_timeout_seconds) == (600, 60)
    assert (merged.soak_seconds, merged.ttl_seconds_after_finished) == (60, 100)


def test_a_limit_that_does_not_drain_leaves_the_drain_to_the_others() -> None:
    merged = Behaviour.of([spec("a"), spec("b", drain=DrainSpec(force=True))])
    assert merged.drain == DrainSpec(force=True)
    assert not Behaviour.of([spec("a"), spec("b")]).waits_for_detach


@pytest.mark.parametrize(
    ("overrides", "own", "expected"),
    [
        ((None,), 600, None),  # one limit, no override: the pod's own
        ((5,), 600, 5),  # one limit: its override, as kubectl --grace-period
        ((5, 20), 600, 20),  # several overrides: the longest
        ((5, None), 600, None),  # a limit leaves the pod's own, which is longer: kept
        ((5, None), 1, 5),  # ... the override is longer than the pod's own: it wins
        ((5, None), None, None),  # no grace in the pod's spec: the API's 30 s is longer
        ((45, None), None, 45),
    ],
)
def test_the_longest_grace_period_wins_the_pods_own_included(
    overrides: tuple[int | None, ...], own: int | None, expected: int | None
) -> None:
    merged = Behaviour.of(
        [
            spec(f"l{i}", drain=DrainSpec(pod_grace_period_seconds=override))
            for i, override in enumerate(overrides)
        ]
    )
    assert merged.drain is not None
    assert merged.drain.grace_for(own) == expected


@pytest.mark.parametrize(
    ("waits", "expected"), [((60,), 60), ((60, 300), 300), ((300, 0), 0), ((0,), 0)]
)
def test_the_longest_wait_for_deletes_wins_and_never_above_all(
    waits: tuple[int, ...], expected: int
) -> None:
    merged = Behaviour.of(
        [
            spec(f"l{i}", drain=DrainSpec(skip_wait_for_delete_timeout_seconds=wait))
            for i, wait in enumerate(waits)
        ]
    )
    assert merged.drain is not None
    assert merged.drain.skip_wait_for_delete_timeout_seconds == expected
