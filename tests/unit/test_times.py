"""Instants no recorded value can break (policy/times.py, issue 32 item 3): a status
time of year 9999, or after now, no longer stops every pass or freezes a timer; a
window in a time zone that skipped a day finds its next opening; --at and a
snapshot's `now` are refused outside the years a plan can be made at.

Leaves out the runner reading such a status from the API server (the same values go
through `runner.read`, which parses every RFC 3339 date-time the CRD admits).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from click.testing import CliRunner

from policy import Reason, RequestState, Snapshot, UpdateRequestStatus, plan
from policy.commits import COMMIT_EXPIRY_SECONDS
from policy.decisions import UpdateLimitStatus
from policy.limit_spec import LimitSpec, parse_limit_spec
from policy.model import LimitStatus, RequestStatus
from policy.snapshot_format import SnapshotFormatError, dump
from policy.snapshot_load import load
from policy.times import CLOCK_SKEW, LATEST, later
from runner.apply import COMMIT_WRITE_WINDOW
from runner.cli import main
from tests.helpers import NOW, active, ago, limit, nodes, request
from tests.model import advance, apply

S = RequestState
FAR = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)


def test_later_saturates() -> None:
    assert later(NOW, 60) == NOW + timedelta(seconds=60)
    assert later(FAR, 3600) == LATEST


@pytest.mark.parametrize(
    ("status", "declared"),
    [
        (active(S.APPROVED, "node/n0", approved_at=FAR), "Pending"),
        (active(S.IN_PROGRESS, "node/n0", approved_at=FAR, started_at=FAR), "InProgress"),
        (active(S.PREPARING, "node/n0", since=FAR), "Pending"),
    ],
)
def test_a_status_time_in_year_9999_is_read_as_now_and_its_timer_runs(
    status: RequestStatus, declared: str
) -> None:
    """Before: OverflowError in policy/progress.py every pass, so nothing anywhere
    expired or was uncordoned. Saturating alone would leave the timer at 'never'."""
    snap = Snapshot(
        now=NOW,
        nodes=nodes(2),
        limits=(
            limit("node", limit=100, approvedTimeoutSeconds=600, inProgressTimeoutSeconds=600),
        ),
        requests=(request("mr-a", "n0", state=declared, status=status), request("mr-b", "n1")),
    )
    first = plan(snap)
    assert first.explanation("mr-b").state is S.APPROVED, "the others go on"
    (written,) = [
        d.status
        for d in first.decisions
        if isinstance(d, UpdateRequestStatus) and d.request == "mr-a"
    ]
    times = (written.preparing_since, written.approved_at, written.started_at)
    assert all(t is None or t <= NOW for t in times), written
    expired = plan(advance(apply(snap, first), 601)).explanation("mr-a")
    assert expired.state is S.EXPIRED, expired


def test_a_finished_request_from_the_future_is_deleted_after_its_ttl() -> None:
    done = active(S.COMPLETED, "node/n0", finished_at=FAR, completed_at=FAR)
    snap = Snapshot(
        now=NOW,
        nodes=nodes(1),
        limits=(limit("node", limit=100, ttlSecondsAfterFinished=60),),
        requests=(request("mr-a", "n0", state="Completed", status=done),),
    )
    first = plan(snap)
    (write,) = [d.status for d in first.decisions if getattr(d, "request", "") == "mr-a"]
    assert write.finished_at == NOW
    gone = plan(advance(apply(snap, first), 61))
    assert [type(d).__name__ for d in gone.decisions] == ["DeleteRequest"]
    assert gone.explanation("mr-a").reason is Reason.COMPLETED


def test_a_window_in_a_zone_that_skipped_a_day_opens() -> None:
    """Pacific/Apia went from Thursday 2011-12-29 to Saturday 2011-12-31: a Friday-only
    window opened within eight days raised an AssertionError every pass."""
    spec = parse_limit_spec(
        "z",
        {
            "type": "node",
            "limit": 10,
            "windows": [
                {"days": ["Fri"], "start": "01:00", "end": "05:00", "timeZone": "Pacific/Apia"}
            ],
        },
    )
    assert isinstance(spec, LimitSpec)
    (window,) = spec.windows
    for day in range(20, 32):
        instant = datetime(2011, 12, day, 12, 0, tzinfo=UTC)
        opening = window.next_opening(instant)
        assert opening >= instant and window.contains(opening), (instant, opening)


@pytest.mark.parametrize("at", ["9999-01-01T00:00:00Z", "0001-01-01T00:00:00Z"])
def test_at_outside_the_plannable_years_is_a_usage_error(at: str) -> None:
    result = CliRunner().invoke(main, ["--snapshot", "examples/cluster.json", "--at", at])
    assert result.exit_code == 2
    assert "outside the years 1970-8999" in result.output


def test_a_snapshot_of_year_9999_is_refused_naming_now() -> None:
    document = dump(Snapshot(now=NOW))
    document["now"] = "9999-12-31T23:00:00Z"
    with pytest.raises(SnapshotFormatError, match=r"\$\.now"):
        load(document)


def _shifted(snap: Snapshot, field: str, by: timedelta) -> Snapshot:
    def moved(status: RequestStatus) -> RequestStatus:
        return attrs.evolve(status, **{field: getattr(status, field) + by})

    return attrs.evolve(
        snap, requests=tuple(attrs.evolve(r, status=moved(r.status)) for r in snap.requests)
    )


@pytest.mark.parametrize(
    ("status", "declared", "field", "by"),
    [
        (active(S.APPROVED, "node/n0", approved_at=NOW), "Pending", "approved_at", 138e-6),
        (active(S.PREPARING, "node/n0", since=NOW), "Pending", "preparing_since", 0.9),
        (
            active(S.COMPLETED, "node/n0", completed_at=NOW, finished_at=NOW),
            "Completed",
            "finished_at",
            0.5,
        ),
    ],
)
def test_a_time_within_the_clocks_resolution_after_now_is_not_written_back(
    status: RequestStatus, declared: str, field: str, by: float
) -> None:
    """The runner reads the server's clock in whole seconds: a pass within the same
    second as the one that wrote approvedAt may plan at an instant microseconds before
    it (seen on the control plane: 16:45:04.000154, then .000016, then .000015, one
    status write each). Not a time in the future: nothing to write. A time CLOCK_SKEW
    or more after now still is written back."""
    snap = Snapshot(
        now=NOW,
        nodes=nodes(1),
        limits=(limit("node", limit=100, cordon=False),),
        requests=(request("mr-a", "n0", state=declared, status=status),),
    )
    steady = apply(snap, plan(snap))
    assert [d for d in plan(steady).decisions if isinstance(d, UpdateRequestStatus)] == []
    within = _shifted(steady, field, timedelta(seconds=by))
    assert [d for d in plan(within).decisions if isinstance(d, UpdateRequestStatus)] == []
    beyond = _shifted(steady, field, CLOCK_SKEW)
    (written,) = [d for d in plan(beyond).decisions if isinstance(d, UpdateRequestStatus)]
    assert getattr(written.status, field) == NOW


def _settled(snapshot: Snapshot) -> Snapshot:
    for _ in range(6):
        result = plan(snapshot)
        if not result.decisions:
            return snapshot
        snapshot = apply(snapshot, result)
    raise AssertionError(f"still writing: {result.decisions}")


def test_records_of_limits_keep_an_instant_read_within_the_resolution() -> None:
    """A rate's admissions and a failure budget's finishes are recorded on the limit; a
    pass planning up to a second before the instant recorded (the server's clock read
    in whole seconds) must neither write them again nor count one twice (a 'break this'
    review of the resolution: mr-a counted as two admissions held mr-b for the hour)."""
    stamped = NOW + timedelta(microseconds=154)
    governing = limit(
        "node",
        limit=100,
        cordon=False,
        rate={"count": 2, "perSeconds": 3600},
        failureBudget={"maxUnhealthy": 1, "withinSeconds": 3600},
    )
    snapshot = Snapshot(
        now=stamped, nodes=nodes(3), limits=(governing,), requests=(request("mr-a", "n0"),)
    )
    snapshot = _settled(snapshot)
    done = attrs.evolve(
        snapshot.requests[0], spec={**snapshot.requests[0].spec, "state": "Completed"}
    )
    snapshot = _settled(attrs.evolve(snapshot, requests=(done,)))
    assert snapshot.requests[0].status.state is S.COMPLETED
    for lag in (timedelta(microseconds=138), timedelta(microseconds=139), timedelta(seconds=0)):
        snapshot = attrs.evolve(snapshot, now=stamped - lag)
        assert plan(snapshot).decisions == (), lag
    (recorded,) = snapshot.limits
    assert [name for name, _ in recorded.status.admissions] == ["mr-a"]
    assert [name for name, _, _ in recorded.status.finishes] == ["mr-a"]
    later_on = attrs.evolve(
        snapshot,
        now=NOW + timedelta(minutes=10),
        requests=(*snapshot.requests, request("mr-b", "n1")),
    )
    assert plan(later_on).explanation("mr-b").state is S.APPROVED


def test_a_commit_dated_an_hour_ahead_counts_once_from_now_and_expires() -> None:
    """A limit's commit entry an hour ahead (a hand edit, a restored backup) for a
    request still Pending: read as now and written so, one admission under the rate
    (it was one more every pass), and it holds its node the commit's few minutes, not
    the hour (a 'break this' review)."""
    governing = attrs.evolve(
        limit("node", limit=100, cordon=False, rate={"count": 3, "perSeconds": 3600}),
        status=LimitStatus(commits={"mr-x": NOW + timedelta(hours=1)}),
    )
    held = request("mr-x", "n0")
    held = attrs.evolve(held, spec={**held.spec, "notBefore": "2026-11-26T12:00:00Z"})
    snapshot = Snapshot(now=NOW, nodes=nodes(3), limits=(governing,), requests=(held,))
    snapshot = apply(snapshot, plan(snapshot))
    (recorded,) = snapshot.limits
    assert dict(recorded.status.commits) == {"mr-x": NOW}
    for seconds in (0.3, 0.6, 0.9):
        later_on = advance(snapshot, seconds)
        assert not any(isinstance(d, UpdateLimitStatus) for d in plan(later_on).decisions)
    snapshot = attrs.evolve(
        advance(snapshot, 240), requests=(*snapshot.requests, request("mr-b", "n0"))
    )
    assert plan(snapshot).explanation("mr-b").state is S.APPROVED, "the commit expired"


def test_a_last_admission_an_hour_ahead_holds_an_interval_from_now_only() -> None:
    """`lastAdmissionAt`, or the `preparingSince` it comes from, an hour ahead: read as
    now (as the request's own status is), so `minIntervalSeconds: 60` holds the next
    admission a minute, not an hour."""
    ahead = NOW + timedelta(hours=1)
    for status, recorded in (
        (active(S.APPROVED, "node/n0", since=ahead, approved_at=ago(minutes=1)), None),
        (active(S.APPROVED, "node/n0", since=ago(minutes=2), approved_at=ago(minutes=1)), ahead),
    ):
        governing = attrs.evolve(
            limit("node", limit=100, cordon=False, minIntervalSeconds=60),
            status=LimitStatus(last_admission_at=recorded),
        )
        snapshot = Snapshot(
            now=NOW,
            nodes=nodes(3),
            limits=(governing,),
            requests=(request("mr-a", "n0", state="InProgress", status=status),),
        )
        snapshot = apply(snapshot, plan(snapshot))
        snapshot = attrs.evolve(
            advance(snapshot, 120), requests=(*snapshot.requests, request("mr-b", "n1"))
        )
        assert plan(snapshot).explanation("mr-b").state is S.APPROVED, (status, recorded)


def test_a_runner_whose_clock_reads_seconds_behind_rewrites_no_record() -> None:
    """Runner A committed mr-x at 12:00:00 (entry, admission, lastAdmissionAt); runner B,
    whose reading of the server's clock is 5 s behind (another API server, a Date read
    after a long answer), plans at 11:59:55. It must not move A's records back: A would
    not find its own entry to remove when its write fails, and minIntervalSeconds would
    run from 5 s early (a 'break this' review of the first rule, of one second)."""
    governing = attrs.evolve(
        limit(
            "node",
            limit=100,
            cordon=False,
            minIntervalSeconds=60,
            rate={"count": 3, "perSeconds": 3600},
        ),
        status=LimitStatus(
            commits={"mr-x": NOW}, admissions=(("mr-x", NOW),), last_admission_at=NOW
        ),
    )
    held = request("mr-x", "n0")
    held = attrs.evolve(held, spec={**held.spec, "notBefore": "2026-11-26T12:00:00Z"})
    behind = Snapshot(
        now=NOW - timedelta(seconds=5), nodes=nodes(3), limits=(governing,), requests=(held,)
    )
    for decision in plan(behind).decisions:
        if isinstance(decision, UpdateLimitStatus):
            assert dict(decision.status.commits) == {"mr-x": NOW}, decision.status
            assert decision.status.admissions == (("mr-x", NOW),), decision.status
            assert decision.status.last_admission_at == NOW, decision.status


def test_the_skew_leaves_a_commit_room_to_be_written() -> None:
    """A runner may write an admission up to COMMIT_WRITE_WINDOW after its plan; a
    runner whose reading of the clock is CLOCK_SKEW behind must still see that commit
    in force then, with room to spare (a 'break this' review of a 3-minute skew)."""
    spare = COMMIT_EXPIRY_SECONDS - COMMIT_WRITE_WINDOW - CLOCK_SKEW.total_seconds()
    assert spare >= 60, spare
