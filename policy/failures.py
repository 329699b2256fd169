"""Failure budgets (DESIGN §7): stop admitting when maintenance seems to break nodes.

Pure. A limit with `failureBudget` remembers the maintenance that ended under it (a
request that had been approved, then ended by any path: completed, withdrawn,
expired, or deleted) within the last `withinSeconds`, from the requests still listed
and from its own status (`recentFinishes`; `atWork`, its approved requests, so that
one deleted before it finished is seen to have ended). A node counts against the
budget when its latest maintenance finished at least `afterSeconds` ago, after the
operator's acknowledgement, and the node is NotReady, or cordoned by someone other
than repairman, now. A node gone (a repair may replace it) does not count; a node
under maintenance again keeps counting if it counted before that maintenance began
(`status.unhealthy`), else it is the new maintenance's to judge when it ends. More
than `maxUnhealthy` of them trip the budget: the limit admits nothing until they
recover or an operator acknowledges (`spec.failureBudget.acknowledgedAt`).

A finished request is not deleted (TTL) before the limit's status holds its finish
(`recorded`): a delete that lands while the status write does not would forget it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs

from policy.explain import FailureBudgetExceeded, Unhealthy
from policy.limit_spec import LimitSpec
from policy.model import CORDONED_BY, LimitStatus, MaintenanceRequest, Node, TargetType
from policy.times import at_most_now
from policy.validation import Target


@attrs.frozen(order=True)
class Finish:
    """One maintenance that ended: the request, its node, when (`finishedAt`)."""

    request: str
    node: str
    at: datetime


def finishes(
    spec: LimitSpec,
    status: LimitStatus,
    finished: Iterable[tuple[MaintenanceRequest, Target]],
    *,
    listed: set[str],
    now: datetime,
) -> tuple[Finish, ...]:
    """The maintenance under `spec` that finished within its period, sorted: what the
    limit's status records and its budget judges. `finished` are the listed requests it
    governs that had been approved and have a finishedAt, with their targets; `listed`
    every request name in the snapshot (one at work in the status but no longer listed
    was deleted: it ended now). A record stamped after now (a clock far ahead, a hand
    edit) counts as now, so that it leaves the period in time."""
    budget = spec.failure_budget
    if budget is None:
        return ()
    start = now - timedelta(seconds=budget.within_seconds)
    found = {Finish(name, node, at_most_now(when, now)) for name, node, when in status.finishes}
    recorded = {(f.request, f.node) for f in found}
    for name, node in status.at_work:
        if name not in listed and (name, node) not in recorded:
            found.add(Finish(name, node, now))
    for request, target in finished:
        when = request.status.finished_at
        if target.type is TargetType.NODE and when is not None:
            found.add(Finish(request.name, target.name, at_most_now(when, now)))
    return tuple(sorted(f for f in found if f.at > start))


def unhealthy(
    spec: LimitSpec,
    recent: tuple[Finish, ...],
    *,
    before: LimitStatus,
    nodes: dict[str, Node],
    busy: set[str],
    now: datetime,
) -> tuple[Unhealthy, ...]:
    """The nodes that count against the budget now (see the module): each judged by
    its latest finish; `busy` are nodes with an active request, `before` the status
    the last pass wrote."""
    budget = spec.failure_budget
    if budget is None:
        return ()
    latest: dict[str, Finish] = {}
    for finish in recent:
        if finish.node not in latest or finish.at > latest[finish.node].at:
            latest[finish.node] = finish
    counted = {node: Finish(name, node, at) for name, node, at in before.unhealthy}
    settled = now - timedelta(seconds=budget.after_seconds)
    found = []
    for name, last in sorted(latest.items()):
        finish = last
        if name in busy:
            # Under maintenance again: it counts on if it counted when that began.
            if name not in counted or counted[name].at < last.at:
                continue
            finish = counted[name]
        elif last.at > settled:
            continue
        if budget.acknowledged_at is not None and finish.at <= budget.acknowledged_at:
            continue
        node = nodes.get(name)
        if node is None:
            continue
        if name in busy:
            found.append(Unhealthy(name, finish.request, "under maintenance again", finish.at))
        elif not node.ready:
            found.append(Unhealthy(name, finish.request, "NotReady", finish.at))
        elif node.unschedulable and CORDONED_BY not in node.annotations:
            found.append(Unhealthy(name, finish.request, "cordoned", finish.at))
    return tuple(found)


def exceeded(spec: LimitSpec, failing: tuple[Unhealthy, ...]) -> FailureBudgetExceeded | None:
    budget = spec.failure_budget
    if budget is None or len(failing) <= budget.max_unhealthy:
        return None
    return FailureBudgetExceeded(spec.name, failing, budget.max_unhealthy, budget.after_seconds)


def recorded(
    request: MaintenanceRequest,
    node: str,
    limits: Iterable[tuple[LimitSpec, LimitStatus]],
    now: datetime,
) -> bool:
    """May the finished `request` on `node` be deleted? Only once every governing
    limit that still counts it (a failure budget within its period, a rate within its
    period) has it in the status as read: else the delete may land and the status
    write that records it not, and the limit forgets it."""
    status = request.status
    admitted = status.preparing_since or status.approved_at
    for spec, limit_status in limits:
        budget = spec.failure_budget
        if (
            budget is not None
            and status.approved_at is not None
            and status.finished_at is not None
            and status.finished_at > now - timedelta(seconds=budget.within_seconds)
            and not any(r == request.name and n == node for r, n, _ in limit_status.finishes)
        ):
            return False
        rate = spec.rate
        if (
            rate is not None
            and admitted is not None
            and admitted > now - timedelta(seconds=rate.per_seconds)
            and not any(r == request.name for r, _ in limit_status.admissions)
        ):
            return False
    return True
