"""The request state machine as a table, and the behaviour a request's limits imply.

Pure. `TRANSITIONS` is the whole state machine of `status.state` (DESIGN §3): the
planner asserts every status it writes against it, and the property tests check it
independently. `Behaviour` merges the limits governing one target: cordon and drain if
any asks, the shortest timeouts, the longest grace periods and soak, and destructive
drain options (deleting emptyDir data, forcing unmanaged pods) only if every limit
that drains allows them, and the node lifecycle conditions unless one turns them off.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from policy.limit_spec import (
    DEFAULT_APPROVED_TIMEOUT,
    DEFAULT_IN_PROGRESS_TIMEOUT,
    DEFAULT_TTL,
    DrainSpec,
    InfraDrainSpec,
    LimitSpec,
)
from policy.model import RequestState

S = RequestState

TRANSITIONS: dict[RequestState | None, frozenset[RequestState]] = {
    None: frozenset({S.PENDING, S.PREPARING, S.APPROVED, S.REJECTED, S.COMPLETED}),
    S.PENDING: frozenset({S.PENDING, S.PREPARING, S.APPROVED, S.REJECTED, S.COMPLETED}),
    S.PREPARING: frozenset({S.PREPARING, S.APPROVED, S.EXPIRED, S.COMPLETED, S.REJECTED}),
    S.APPROVED: frozenset({S.APPROVED, S.IN_PROGRESS, S.EXPIRED, S.COMPLETED}),
    S.IN_PROGRESS: frozenset({S.IN_PROGRESS, S.COMPLETED, S.EXPIRED}),
    S.COMPLETED: frozenset({S.COMPLETED}),
    S.REJECTED: frozenset({S.REJECTED}),
    S.EXPIRED: frozenset({S.EXPIRED}),
}


def may_move(previous: RequestState | None, new: RequestState) -> bool:
    return new in TRANSITIONS[previous]


@attrs.frozen
class Behaviour:
    cordon: bool = False
    drain: DrainSpec | None = None
    infra_drain: InfraDrainSpec | None = None
    approved_timeout_seconds: int = DEFAULT_APPROVED_TIMEOUT
    in_progress_timeout_seconds: int = DEFAULT_IN_PROGRESS_TIMEOUT
    soak_seconds: int = 0
    ttl_seconds_after_finished: int = DEFAULT_TTL
    node_conditions: bool = True
    """Publish the node lifecycle conditions: unless a governing limit says not to."""

    @property
    def waits_for_detach(self) -> bool:
        return self.infra_drain is not None and self.infra_drain.wait_for_volume_detach

    @classmethod
    def of(cls, limits: Sequence[LimitSpec]) -> Behaviour:
        if not limits:
            return cls()
        drains = [limit.drain for limit in limits if limit.drain is not None]
        infra = [
            limit.infra_drain
            for limit in limits
            if limit.infra_drain is not None and limit.infra_drain.wait_for_volume_detach
        ]
        return cls(
            cordon=any(limit.cordon for limit in limits),
            drain=_merge_drains(drains),
            infra_drain=_merge_infra(infra),
            approved_timeout_seconds=min(limit.approved_timeout_seconds for limit in limits),
            in_progress_timeout_seconds=min(limit.in_progress_timeout_seconds for limit in limits),
            soak_seconds=max(limit.soak_seconds for limit in limits),
            ttl_seconds_after_finished=min(limit.ttl_seconds_after_finished for limit in limits),
            node_conditions=all(limit.node_conditions for limit in limits),
        )


def _merge_drains(drains: list[DrainSpec]) -> DrainSpec | None:
    if not drains:
        return None
    overrides = [
        d.pod_grace_period_seconds for d in drains if d.pod_grace_period_seconds is not None
    ]
    return DrainSpec(
        timeout_seconds=min(d.timeout_seconds for d in drains),
        grace_period_seconds=max(d.grace_period_seconds for d in drains),
        pod_grace_period_seconds=max(overrides) if overrides else None,
        delete_empty_dir_data=all(d.delete_empty_dir_data for d in drains),
        force=all(d.force for d in drains),
        skip_wait_for_delete_timeout_seconds=_longest_wait_for_deletes(drains),
        keeps_pod_grace=any(d.pod_grace_period_seconds is None or d.keeps_pod_grace for d in drains)
        and bool(overrides),
    )


def _longest_wait_for_deletes(drains: list[DrainSpec]) -> int:
    """The longest `skipWaitForDeleteTimeoutSeconds`; 0 (never count a terminating pod
    as gone) is the longest of all."""
    waits = [d.skip_wait_for_delete_timeout_seconds for d in drains]
    return 0 if 0 in waits else max(waits)


def _merge_infra(infra: list[InfraDrainSpec]) -> InfraDrainSpec | None:
    if not infra:
        return None
    return InfraDrainSpec(
        wait_for_volume_detach=True,
        timeout_seconds=min(i.timeout_seconds for i in infra),
        grace_period_seconds=max(i.grace_period_seconds for i in infra),
    )
