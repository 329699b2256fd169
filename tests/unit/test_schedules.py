"""Scheduled requests (DESIGN §7): notBefore holds admission until its time; a deadline
orders requests within a priority (earliest first, before those without one), never
overrides a limit, and once passed unadmitted is the reason (DeadlineMissed) and worth
an Event the first time. Pause and blackouts: tests/properties and the golden cases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs

from policy import UpdateLimitStatus, UpdateRequestStatus, plan
from policy.model import LimitStatus, MaintenanceRequest, RequestState, Snapshot
from tests.helpers import NOW, active, limit, nodes, request

S = "%Y-%m-%dT%H:%M:%SZ"


def scheduled(name: str, target: str, **spec: Any) -> MaintenanceRequest:
    made = request(name, target, priority=spec.pop("priority", 0))
    return attrs.evolve(made, spec={**made.spec, **spec})


def at(minutes: float) -> str:
    return (NOW + timedelta(minutes=minutes)).strftime(S)


def world(*requests: MaintenanceRequest, percent: int = 25) -> Snapshot:
    return Snapshot(
        now=NOW, nodes=nodes(4), limits=(limit("node", limit=percent),), requests=requests
    )


def test_not_before_holds_until_its_time_then_admits() -> None:
    later = world(scheduled("mr-a", "n0", notBefore=at(30)))
    waiting = plan(later).explanation("mr-a")
    assert (waiting.state.value, waiting.reason.value) == ("Pending", "NotBefore")
    assert at(30) in waiting.message
    due = plan(attrs.evolve(later, now=NOW + timedelta(minutes=30))).explanation("mr-a")
    assert due.state.value == "Approved"


def test_a_deadline_goes_first_within_its_priority_and_never_past_a_limit() -> None:
    snapshot = world(
        scheduled("mr-old", "n0"),
        scheduled("mr-late", "n1", deadline=at(120)),
        scheduled("mr-soon", "n2", deadline=at(60)),
        scheduled("mr-urgent", "n3", priority=1),
        percent=50,
    )
    result = plan(snapshot)
    admitted = {e.request for e in result.explanations if e.state.value == "Approved"}
    assert admitted == {"mr-urgent", "mr-soon"}  # 50% of 4: priority first, then deadline
    assert result.explanation("mr-late").reason.value == "LimitReached"


def test_a_missed_deadline_is_the_reason_and_an_event_once() -> None:
    busy = request("mr-busy", "n0", status=active(RequestState.APPROVED, "node/n0"))
    snapshot = world(busy, scheduled("mr-late", "n1", deadline=at(-5)), percent=1)
    first = plan(snapshot)
    late = first.explanation("mr-late")
    assert (late.state.value, late.reason.value) == ("Pending", "DeadlineMissed")
    assert "limit node" in late.message, "the limit that holds it is still said"
    (written,) = [
        d for d in first.decisions if isinstance(d, UpdateRequestStatus) and d.request == "mr-late"
    ]
    assert written.announce
    seen = attrs.evolve(snapshot.requests[1], status=attrs.evolve(written.status))
    again = plan(attrs.evolve(snapshot, requests=(snapshot.requests[0], seen)))
    rewritten = [
        d for d in again.decisions if isinstance(d, UpdateRequestStatus) and d.request == "mr-late"
    ]
    assert all(not d.announce for d in rewritten)


def test_a_rate_counts_admissions_of_deleted_requests_and_slides() -> None:
    """rate 2 per hour: mr-gone (deleted, kept in the limit's status, 50 min ago) and
    mr-done (finished, admitted 20 min ago) fill it; the next slot opens when mr-gone's
    admission leaves the period, at 12:10, and then one request is admitted, not two."""
    rated = attrs.evolve(
        limit("node", limit=100, rate={"count": 2, "perSeconds": 3600}),
        status=LimitStatus(admissions=(("mr-gone", NOW - timedelta(minutes=50)),)),
    )
    done = attrs.evolve(
        active(RequestState.COMPLETED, "node/n0", since=NOW - timedelta(minutes=20)),
        finished_at=NOW - timedelta(minutes=5),
    )
    snapshot = Snapshot(
        now=NOW,
        nodes=nodes(4),
        limits=(rated,),
        requests=(
            request("mr-done", "n0", status=done),
            request("mr-a", "n1"),
            request("mr-b", "n2"),
        ),
    )
    waiting = plan(snapshot).explanation("mr-a")
    assert waiting.reason.value == "RateLimited"
    assert "2 admitted in the period; next slot at 2026-11-25T12:10:00Z" in waiting.message
    later = plan(attrs.evolve(snapshot, now=NOW + timedelta(minutes=10)))
    states = {e.request: e.reason.value for e in later.explanations}
    assert states == {"mr-done": "Completed", "mr-a": "Approved", "mr-b": "RateLimited"}
    (record,) = [d for d in later.decisions if isinstance(d, UpdateLimitStatus)]
    assert {name for name, _ in record.status.admissions} == {"mr-done", "mr-a"}, "mr-gone left"


def _rate_of_two(*admitted: tuple[str, int]) -> Snapshot:
    rated = attrs.evolve(
        limit("node", limit=100, rate={"count": 2, "perSeconds": 3600}),
        status=LimitStatus(
            admissions=tuple((n, NOW - timedelta(minutes=ago)) for n, ago in admitted)
        ),
    )
    return Snapshot(now=NOW, nodes=nodes(4), limits=(rated,), requests=())


def test_a_name_filed_again_within_the_period_is_a_second_admission() -> None:
    """Review (helper, issue 17): mr-a admitted 50 min ago and deleted; a new mr-a and
    mr-b filed. The old mr-a's record is not overwritten by the new one's: one of the
    two is admitted, not both (fails with records keyed by name: 3 in the hour)."""
    snapshot = attrs.evolve(
        _rate_of_two(("mr-a", 50)), requests=(request("mr-a", "n1"), request("mr-b", "n2"))
    )
    result = plan(snapshot)
    approved = [e.request for e in result.explanations if e.state.value == "Approved"]
    assert len(approved) == 1, approved


def test_an_admission_record_stamped_in_the_future_counts_as_now_and_leaves() -> None:
    """A record dated year 8999 (a hand edit) holds the rate one period, not for ever."""
    far = attrs.evolve(_rate_of_two(("mr-x", 0), ("mr-y", 0)), requests=(request("mr-a", "n1"),))
    future = attrs.evolve(
        far.limits[0],
        status=LimitStatus(
            admissions=(("mr-x", NOW.replace(year=8999)), ("mr-y", NOW.replace(year=8999)))
        ),
    )
    held = plan(attrs.evolve(far, limits=(future,))).explanation("mr-a")
    assert held.reason.value == "RateLimited" and "2026-11-25T13:00:00Z" in held.message


def test_a_blackout_begun_while_a_node_prepares_holds_its_approval() -> None:
    """Found by the gate property: the plan approved a Preparing request inside a
    blackout that the approval gate then refused every pass. Like a closed window, the
    blackout holds the approval until it ends (fails without the check in
    policy.preparation)."""
    frozen = limit(
        "node",
        limit=100,
        blackouts=[{"start": "2026-11-25T11:59", "end": "2026-11-25T13:00"}],
    )
    preparing = request("mr-a", "n0", status=active(RequestState.PREPARING, "node/n0"))
    snapshot = Snapshot(now=NOW, nodes=nodes(2), limits=(frozen,), requests=(preparing,))
    held = plan(snapshot).explanation("mr-a")
    assert (held.state.value, held.reason.value) == ("Preparing", "Blackout")
    after = plan(attrs.evolve(snapshot, now=NOW + timedelta(hours=1))).explanation("mr-a")
    assert after.state.value == "Approved"
