"""The applier's lanes when something other than an API error breaks one of them
(runner.apply): the lanes not yet begun write nothing, the error reaches the caller,
and what the pass committed but did not write is still removed from the limits."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

import runner.apply
from policy.decisions import Admission, Evict, Plan, UpdateLimitStatus, UpdateRequestStatus
from policy.model import LimitStatus, MaintenanceLimit, RequestState, RequestStatus, Snapshot
from runner.apply import Applier, Result
from runner.kube import KubeError

NOW = datetime(2026, 12, 6, tzinfo=UTC)
NODE_LIMIT = {"type": "node", "limit": 1}


class Server:
    """Answers every call after a pause; the eviction of pod `bad` gets an answer
    the applier cannot read (here: a ValueError from deep inside)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def server_now(self) -> datetime:
        return NOW

    def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append((method, path))
        if "/pods/bad/" in path:
            raise ValueError("an answer nobody expected")
        time.sleep(0.05)
        return {}


def evict(pod: str, node: str) -> Evict:
    return Evict(namespace="ns", pod=pod, uid="u", node=node, request=f"mr-{node}", pdb=None)


@pytest.mark.parametrize("writers", [1, 4])
def test_an_unexpected_error_in_one_lane_stops_the_lanes_not_yet_begun(writers: int) -> None:
    decisions = (evict("bad", "n-bad"), *[evict(f"p{i}", f"n{i}") for i in range(30)])
    plan = Plan(now=NOW, decisions=decisions, explanations=(), limits=())
    server = Server()
    applier = Applier(server, Snapshot(now=NOW), policy_version="policy/v1", writers=writers)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nobody expected"):
        applier.apply(plan)
    evictions = [path for method, path in server.calls if path.endswith("/eviction")]
    # The failing lane, and at most the lanes already under way beside it.
    assert 1 <= len(evictions) <= writers, evictions


class Committing(Server):
    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = super().request(method, path, **kwargs)
        if method == "PATCH":
            return {"metadata": {"resourceVersion": "2"}}
        if path.endswith("/maintenancelimits"):
            return {"items": []}  # the entry is gone already: nothing left to remove
        return answer


def test_an_unexpected_error_still_removes_the_commits_not_written() -> None:
    limit = MaintenanceLimit(name="nodes", uid="u1", resource_version="1", spec=NODE_LIMIT)
    plan = Plan(
        now=NOW,
        decisions=(evict("bad", "n-bad"),),
        explanations=(),
        limits=(),
        admissions=(Admission(request="mr-x", target="node/x", limits=("nodes",)),),
    )
    server = Committing()
    applier = Applier(server, Snapshot(now=NOW, limits=(limit,)), policy_version="policy/v1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        applier.apply(plan)
    assert [m for m, p in server.calls if "maintenancelimits" in p] == ["PATCH", "GET"]


def waiting(name: str, state: RequestState = RequestState.PENDING) -> UpdateRequestStatus:
    return UpdateRequestStatus(
        request=name,
        uid=f"uid-{name}",
        previous=None,
        status=RequestStatus(state=state, reason="Queued", message="waits"),
        target=f"node/{name}",
    )


def test_lanes_with_an_admission_go_first() -> None:
    """An admission's status must land within its commit's window; a queued request's
    "why are you waiting" has no deadline. 5,000 of those first in plan order kept the
    admissions of a whole-fleet rollout past the window."""
    limit = MaintenanceLimit(name="nodes", uid="u1", resource_version="1", spec=NODE_LIMIT)
    queued = [waiting(f"q{i}") for i in range(5)]
    admitted = waiting("mr-x", RequestState.PREPARING)
    plan = Plan(
        now=NOW,
        decisions=(*queued, admitted),
        explanations=(),
        limits=(),
        admissions=(Admission(request="mr-x", target="node/mr-x", limits=("nodes",)),),
    )
    server = Committing()
    applier = Applier(
        server, Snapshot(now=NOW, limits=(limit,)), policy_version="policy/v1", writers=1
    )  # type: ignore[arg-type]
    applier.apply(plan)
    statuses = [p for m, p in server.calls if m == "PATCH" and "maintenancerequests" in p]
    assert statuses[0].endswith("/mr-x/status"), statuses
    assert len(statuses) == 6


def test_queued_explanations_past_the_budget_are_left_to_the_next_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runner.apply, "EXPLAIN_WITHIN", 0.0)
    limit = MaintenanceLimit(name="nodes", uid="u1", resource_version="1", spec=NODE_LIMIT)
    queued = [waiting(f"q{i}") for i in range(3)]
    announced = attrs.evolve(waiting("late"), announce=True)
    admitted = waiting("mr-x", RequestState.PREPARING)
    plan = Plan(
        now=NOW,
        decisions=(*queued, announced, admitted),
        explanations=(),
        limits=(),
        admissions=(Admission(request="mr-x", target="node/mr-x", limits=("nodes",)),),
    )
    server = Committing()
    applier = Applier(server, Snapshot(now=NOW, limits=(limit,)), policy_version="policy/v1")  # type: ignore[arg-type]
    outcomes = applier.apply(plan)
    statuses = sorted(
        p.split("/")[-2] for m, p in server.calls if m == "PATCH" and "maintenancerequests" in p
    )
    assert statuses == ["late", "mr-x"]
    assert applier.explanations_left == 3
    skipped = [o.decision.request for o in outcomes if o.result is Result.SKIPPED]  # type: ignore[union-attr]
    assert sorted(skipped) == ["q0", "q1", "q2"]


def past_deadline(server: Server, limit: MaintenanceLimit) -> Applier:
    """An applier whose run's deadline has passed (`stop_at` a second ago)."""
    return Applier(
        server,  # type: ignore[arg-type]
        Snapshot(now=NOW, limits=(limit,)),
        policy_version="policy/v1",
        stop_at=time.monotonic() - 1,
    )


def test_past_the_runs_deadline_nothing_more_is_begun_and_commits_are_removed() -> None:
    """`runner --until-stable --deadline 45` in a CronJob killed at 55 s: a pass still
    writing at 50 s stops between decisions by itself, as SIGTERM would stop it; past
    the deadline it commits nothing either."""
    limit = MaintenanceLimit(name="nodes", uid="u1", resource_version="1", spec=NODE_LIMIT)
    plan = Plan(
        now=NOW,
        decisions=(evict("p1", "n1"), waiting("mr-x", RequestState.PREPARING)),
        explanations=(),
        limits=(),
        admissions=(Admission(request="mr-x", target="node/mr-x", limits=("nodes",)),),
    )
    server = Committing()
    applier = past_deadline(server, limit)
    outcomes = applier.apply(plan)
    assert [o.result for o in outcomes[:2]] == [Result.SKIPPED] * 2
    assert all("deadline" in o.detail for o in outcomes[:2])
    assert server.calls == []  # not even the commit point


def test_past_the_deadline_the_limits_status_is_still_written() -> None:
    """It records what the lanes did (at work, finishes): a failure budget that lost
    an approval written just before the deadline would forget its node."""
    limit = MaintenanceLimit(name="nodes", uid="u1", resource_version="1", spec=NODE_LIMIT)
    plan = Plan(
        now=NOW,
        decisions=(UpdateLimitStatus(limit="nodes", uid="u1", status=LimitStatus()),),
        explanations=(),
        limits=(),
    )
    server = Committing()
    applier = past_deadline(server, limit)
    assert [o.result for o in applier.apply(plan)] == [Result.DONE]


class Recording(Committing):
    """Keeps the bodies of the limits' status writes."""

    def __init__(self) -> None:
        super().__init__()
        self.limit_bodies: list[dict[str, Any]] = []

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if method == "PATCH" and "/maintenancelimits/" in path:
            self.limit_bodies.append(kwargs["body"])
        return super().request(method, path, **kwargs)


EARLIER = datetime(2026, 12, 5, tzinfo=UTC)


def test_an_admission_not_committed_is_not_written_into_the_limits_status() -> None:
    """Review of step 10: past the deadline the commit point commits nothing, but the
    limit's planned status still went out naming mr-x as active, committed and
    admitted at the plan's instant: an admission never made then held a `rate` for its
    whole period and `minIntervalSeconds` from that instant (DESIGN §3, "An admission
    that is not written is not held"). Fails without `_without`."""
    rated = {**NODE_LIMIT, "rate": {"count": 1, "perSeconds": 3600}}
    limit = MaintenanceLimit(
        name="nodes",
        uid="u1",
        resource_version="1",
        spec=rated,
        status=LimitStatus(
            active=("mr-old",),
            in_use=1,
            last_admission_at=EARLIER,
            admissions=(("mr-old", EARLIER),),
            at_work=(("mr-old", "old"),),
        ),
    )
    planned = LimitStatus(
        active=("mr-old", "mr-x"),
        in_use=2,
        last_admission_at=NOW,
        commits={"mr-x": NOW},
        admissions=(("mr-old", EARLIER), ("mr-x", NOW)),
        at_work=(("mr-old", "old"), ("mr-x", "x")),
    )
    plan = Plan(
        now=NOW,
        decisions=(
            waiting("mr-x", RequestState.APPROVED),
            UpdateLimitStatus(limit="nodes", uid="u1", status=planned),
        ),
        explanations=(),
        limits=(),
        admissions=(Admission(request="mr-x", target="node/x", limits=("nodes",)),),
    )
    server = Recording()
    applier = past_deadline(server, limit)
    applier.apply(plan)
    (body,) = server.limit_bodies
    assert "mr-x" not in str(body), body
    written = body["status"]
    assert written["active"] == ["mr-old"]
    assert written["inUse"] == 1
    assert written["lastAdmissionAt"].startswith("2026-12-05")


class Refusing(Recording):
    """Answers 409 to the commit on limit `a-all` (an administrator edited it)."""

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if method == "PATCH" and path.endswith("/maintenancelimits/a-all/status"):
            raise KubeError("patch maintenancelimits: 409 Conflict", status=409)
        return super().request(method, path, **kwargs)


def test_an_admission_whose_commit_was_refused_is_not_written_into_other_limits() -> None:
    """Review of step 10: the commit on `a-all` is refused, which cancels the pass's
    node admissions, so `z-zone` is not committed; its planned status, written at the
    end of the pass, named mr-x all the same. Fails without `_without`."""
    limits = [
        MaintenanceLimit(name=name, uid=f"u-{name}", resource_version="1", spec=NODE_LIMIT)
        for name in ("a-all", "z-zone")
    ]
    planned = LimitStatus(active=("mr-x",), in_use=1, last_admission_at=NOW, commits={"mr-x": NOW})
    plan = Plan(
        now=NOW,
        decisions=(
            waiting("mr-x", RequestState.APPROVED),
            UpdateLimitStatus(limit="a-all", uid="u-a-all", status=planned),
            UpdateLimitStatus(limit="z-zone", uid="u-z-zone", status=planned),
        ),
        explanations=(),
        limits=(),
        admissions=(Admission(request="mr-x", target="node/x", limits=("a-all", "z-zone")),),
    )
    server = Refusing()
    applier = Applier(server, Snapshot(now=NOW, limits=tuple(limits)), policy_version="policy/v1")  # type: ignore[arg-type]
    outcomes = applier.apply(plan)
    assert not any(
        isinstance(o.decision, UpdateRequestStatus) and o.result is Result.DONE for o in outcomes
    )
    assert server.limit_bodies, "z-zone's status is still written"
    for body in server.limit_bodies:
        assert "mr-x" not in str(body), body


def test_an_uncommitted_admission_of_a_node_already_unavailable_leaves_in_use_alone() -> None:
    """A NotReady node under repair counted in `inUse` before its admission, which
    added nothing to it: taking the admission out must not count it off (review)."""
    planned = LimitStatus(
        active=("mr-x",), in_use=1, unavailable={"x": "NotReady"}, commits={"mr-x": NOW}
    )
    before = LimitStatus(in_use=1, unavailable={"x": "NotReady"})
    stripped = runner.apply._without(planned, {"mr-x": "x"}, NOW, before)
    assert stripped.active == () and stripped.commits == {}
    assert stripped.in_use == 1
    assert runner.apply._without(planned, {"mr-x": "y"}, NOW, before).in_use == 0
