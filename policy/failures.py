"""Failure budgets (DESIGN §7): stop admitting when maintenance seems to break nodes.

Pure. A limit with `failureBudget` remembers the maintenance that finished under it
(a request that had been approved, then ended by any path: completed, withdrawn,
expired) within the last `withinSeconds`, from the requests still listed and from its
own `status.recentFinishes` (a finished request may be deleted before its node stops
counting). A node counts against the budget when its latest such maintenance finished
at least `afterSeconds` ago, after the operator's acknowledgement, and the node is not
Ready, or is cordoned by someone other than repairman, now; a node under maintenance
again, or gone (a repair may replace it), does not. More than `maxUnhealthy` of them
trip the budget: the limit admits nothing until they recover or an operator
acknowledges (`spec.failureBudget.acknowledgedAt`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs

from policy.explain import FailureBudgetExceeded, Unhealthy
from policy.limit_spec import LimitSpec
from policy.model import CORDONED_BY, LimitStatus, MaintenanceRequest, Node, TargetType
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
    now: datetime,
) -> tuple[Finish, ...]:
    """The maintenance under `spec` that finished within its period, sorted: what the
    limit's status records and its budget judges. `finished` are the listed requests it
    governs that had been approved and have a finishedAt, with their targets. A record
    stamped after now (a clock far ahead, a hand edit) counts as now, so that it leaves
    the period in time."""
    budget = spec.failure_budget
    if budget is None:
        return ()
    start = now - timedelta(seconds=budget.within_seconds)
    found = {Finish(name, node, min(when, now)) for name, node, when in status.finishes}
    for request, target in finished:
        when = request.status.finished_at
        if target.type is TargetType.NODE and when is not None:
            found.add(Finish(request.name, target.name, min(when, now)))
    return tuple(sorted(f for f in found if f.at > start))


def unhealthy(
    spec: LimitSpec,
    recent: tuple[Finish, ...],
    *,
    nodes: dict[str, Node],
    busy: set[str],
    now: datetime,
) -> tuple[Unhealthy, ...]:
    """The nodes that count against the budget now (see the module): each judged by
    its latest finish; `busy` are nodes with an active request."""
    budget = spec.failure_budget
    if budget is None:
        return ()
    latest: dict[str, Finish] = {}
    for finish in recent:
        if finish.node not in latest or finish.at > latest[finish.node].at:
            latest[finish.node] = finish
    settled = now - timedelta(seconds=budget.after_seconds)
    found = []
    for name, finish in sorted(latest.items()):
        if finish.at > settled or name in busy:
            continue
        if budget.acknowledged_at is not None and finish.at <= budget.acknowledged_at:
            continue
        node = nodes.get(name)
        if node is None:
            continue
        if not node.ready:
            found.append(Unhealthy(name, finish.request, "NotReady"))
        elif node.unschedulable and CORDONED_BY not in node.annotations:
            found.append(Unhealthy(name, finish.request, "cordoned"))
    return tuple(found)


def exceeded(spec: LimitSpec, failing: tuple[Unhealthy, ...]) -> FailureBudgetExceeded | None:
    budget = spec.failure_budget
    if budget is None or len(failing) <= budget.max_unhealthy:
        return None
    return FailureBudgetExceeded(spec.name, failing, budget.max_unhealthy, budget.after_seconds)
