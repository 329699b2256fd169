"""Finished requests (policy/finishing.py, policy/usage.py soaking): soak keeps the
slot, TTL deletes.
"""

from __future__ import annotations

import attrs

from policy import (
    DeleteRequest,
    Reason,
    RequestState,
    Snapshot,
    plan,
)
from policy.model import Node, RequestStatus
from tests.helpers import (
    NOW,
    ago,
    limit,
    nodes,
    request,
)
from tests.model import advance

S = RequestState


def test_soak_keeps_the_slot_until_the_node_has_been_ready_long_enough() -> None:
    soaking = RequestStatus(
        state=S.COMPLETED,
        target="node/n0",
        approved_at=ago(hours=1),
        started_at=ago(hours=1),
        finished_at=ago(minutes=5),
    )
    snap = Snapshot(
        now=NOW,
        nodes=(Node("n0", ready_since=ago(minutes=2)), *nodes(1, prefix="m")),
        limits=(limit("node", limit=50, soakSeconds=600),),
        requests=(request("mr-old", "n0", status=soaking), request("mr-new", "m0")),
    )
    result = plan(snap)
    assert result.explanation("mr-new").reason is Reason.LIMIT_REACHED
    assert result.explanation("mr-new").message == "limit node: 1 of 1 in use (50% of 2)"
    # The limit's status and the plan's table show it in use, as admission counts it.
    report = next(r for r in result.limits if r.name == "node")
    assert (report.in_use, report.active) == (1, ("mr-old",))
    # Ready for 10 minutes (since 2 minutes ago): the slot frees at NOW + 8 minutes.
    assert plan(advance(snap, 479)).explanation("mr-new").state is S.PENDING
    assert plan(advance(snap, 480)).explanation("mr-new").state is S.APPROVED


def test_ttl_deletes_finished_requests() -> None:
    finished = RequestStatus(state=S.REJECTED, reason="InvalidSpec", finished_at=ago(seconds=100))
    snap = Snapshot(
        now=NOW,
        nodes=nodes(1),
        limits=(limit("node", limit=50, ttlSecondsAfterFinished=100),),
        requests=(
            request("mr-a", "n0", status=finished),
            request("mr-b", "n0", status=attrs.evolve(finished, finished_at=ago(seconds=99))),
        ),
    )
    result = plan(snap)
    assert [d.request for d in result.decisions if isinstance(d, DeleteRequest)] == ["mr-a"]


def test_a_finished_status_reason_that_is_no_status_reason_reads_as_the_state() -> None:
    """TTLExpired is the deletion's Event reason, not a status reason: a status written
    by hand with it is explained by its state, as any unknown reason is."""
    status = RequestStatus(state=S.COMPLETED, reason="TTLExpired", finished_at=NOW)
    snap = Snapshot(now=NOW, nodes=nodes(1), requests=(request("mr-a", "n0", status=status),))
    assert plan(snap).explanation("mr-a").reason is Reason.COMPLETED
