"""What each limit allows and uses as this plan leaves it (DESIGN §2 MaintenanceLimit
`status`): a report for the plan's table and a status write when it changed.

Pure. In use = targets of requests active after this plan or still soaking after they
finished (both listed as `active`), and nodes unavailable by the limit's policies, with
node state as our cordons and uncordons leave it. An invalid limit reports its error,
and that the admissions it governs are blocked.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from policy import commits
from policy.decisions import LimitReport, UpdateLimitStatus
from policy.explain import Cause, Reason
from policy.limit_spec import LimitSpec
from policy.model import LimitStatus, RequestState, TargetType
from policy.pass_state import PassState
from policy.usage import unavailability
from policy.validation import RequestSpec, Target
from policy.windows import next_opening

SHORT = {
    Reason.PAUSED: "paused",
    Reason.BLACKOUT: "blackout",
    Reason.FAILURE_BUDGET_EXCEEDED: "failure budget",
}
"""How `status.held` (a printer column) names each hold; every other one is a gate."""


def limit_reports(state: PassState) -> tuple[LimitReport, ...]:
    """Every limit's report, in name order; appends a status write for each that changed."""
    index = state.index
    reports: list[LimitReport] = []
    active_targets = {
        name: state.final_target[name]
        for name, final in state.final_state.items()
        if final.active
        and name in state.final_target
        and index.labels(state.final_target[name]) is not None
    }
    # In use, like active requests (DESIGN §2): finished ones whose target still soaks.
    active_targets.update(
        (name, target) for name, target in state.soaking.items() if index.labels(target) is not None
    )
    for spec in index.valid_limits:
        reports.append(_valid_report(state, spec=spec, active_targets=active_targets))
    for invalid in index.invalid_limits:
        reports.append(
            LimitReport(
                name=invalid.name,
                type=invalid.type.value if invalid.type else None,
                valid=False,
                error=str(invalid.error),
            )
        )
        # Its records stay: a typo fixed a pass later must not forget the admissions a
        # rate counts or the failures a budget counts.
        old = index.limits_by_name[invalid.name].status
        status = LimitStatus(
            message=f"invalid, admissions it governs are blocked: {invalid.error}",
            admissions=old.admissions,
            finishes=old.finishes,
            at_work=old.at_work,
            unhealthy=old.unhealthy,
            held="invalid",
        )
        _write_if_changed(state, invalid.name, status)
    reports.sort(key=lambda r: r.name)
    return tuple(reports)


def _valid_report(
    state: PassState, *, spec: LimitSpec, active_targets: dict[str, Target]
) -> LimitReport:
    index = state.index
    usage = state.ledger.usage[spec.name]
    unavailable = dict(state.unavailable.get(spec.name, {}))
    # Only nodes we cordoned or uncordoned in this plan can have changed.
    for name in sorted(state.touched_nodes) if spec.type is TargetType.NODE else ():
        node = index.nodes[name]
        if not spec.governs(TargetType.NODE, node.labels):
            continue
        why = unavailability(spec, node, unschedulable=state.unschedulable[name])
        if why is None:
            unavailable.pop(name, None)
        else:
            unavailable[name] = why
    holding = {
        name: target
        for name, target in active_targets.items()
        if spec in index.governing(target)[0]
    }
    committing = _still_committing(state, spec)
    holding.update((name, target) for name, (target, _) in committing.items())
    entries = {name: when for name, (_, when) in committing.items()}
    entries.update(
        (admission.request, state.now)
        for admission in state.admissions
        if spec.name in admission.limits and state.final_state[admission.request].active
    )
    active = sorted(holding)
    in_use = set(unavailable) | {target.name for target in holding.values()}
    opens = next_opening(spec.windows, state.now) if spec.windows else None
    holds = state.held(spec)

    def said(cause: Cause) -> str:
        return cause.message().removeprefix(f"limit {spec.name}: ")

    report = LimitReport(
        name=spec.name,
        type=spec.type.value,
        valid=True,
        population=usage.population,
        allowed=usage.allowed,
        in_use=len(in_use),
        unavailable=tuple(sorted(unavailable.items())),
        active=tuple(active),
        window_open=opens is None or opens <= state.now,
        next_opening=opens,
        windows=tuple(w.describe() for w in spec.windows),
        paused=spec.paused,
        blackout=next((c.message() for c in holds if c.reason is Reason.BLACKOUT), ""),
        failure=next((said(c) for c in holds if c.reason is Reason.FAILURE_BUDGET_EXCEEDED), ""),
        gated=tuple(said(c) for c in holds if c.reason not in SHORT),
    )
    held = [said(cause) for cause in holds]
    short = ", ".join(dict.fromkeys(SHORT.get(cause.reason, "gate") for cause in holds))
    status = LimitStatus(
        allowed=usage.allowed,
        in_use=len(in_use),
        unavailable=dict(report.unavailable),
        active=report.active,
        last_admission_at=usage.last_admission,
        commits=entries,
        admissions=usage.in_period(state.now),
        finishes=tuple((f.request, f.node, f.at) for f in usage.finishes),
        at_work=_at_work(state, spec, recorded={(f.request, f.node) for f in usage.finishes}),
        unhealthy=tuple((u.request, u.node, u.at) for u in usage.unhealthy),
        held=short,
        message=(
            f"{len(in_use)} of {usage.allowed} in use ({spec.describe_allowed(usage.population)})"
            + "".join(f"; {why}" for why in held)
        ),
    )
    _write_if_changed(state, spec.name, status)
    return report


def _at_work(
    state: PassState, spec: LimitSpec, *, recorded: set[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """Under a failure budget: the approved requests on its nodes as this plan leaves
    them, and those it finishes (their finish is recorded from the next pass), so that
    one deleted meanwhile is still seen to have ended (policy.failures)."""
    if spec.failure_budget is None:
        return ()
    found = set()
    for request in state.index.requests:
        final = state.final_state.get(request.name)
        if final is None:
            continue
        working = final in (RequestState.APPROVED, RequestState.IN_PROGRESS)
        finishing = final.terminal and request.status.approved_at is not None
        if not working and not (finishing and request.status.finished_at is None):
            continue
        target = state.final_target.get(request.name) or state.index.status_target(request)
        if target is None or target.type is not TargetType.NODE:
            continue
        if (request.name, target.name) in recorded:
            continue
        if spec in state.index.governing(target)[0]:
            found.add((request.name, target.name))
    return tuple(sorted(found))


def _still_committing(state: PassState, spec: LimitSpec) -> dict[str, tuple[Target, datetime]]:
    """Admissions another runner committed to this limit (policy.commits) whose own
    status write this pass has not seen land: they stay listed, with the instant of
    their commit, so the slot and target they hold survive this pass's status write. A
    third pass that dropped them could let a fourth give both away while the first
    runner is still writing (DESIGN §5 commit point). They leave the list once the
    request is seen admitted (then listed as active), finished, deleted, or invalid, or
    once the commit expired."""
    index = state.index
    limit = index.limits_by_name[spec.name]
    kept: dict[str, tuple[Target, datetime]] = {}
    for name in commits.named(limit):
        request = index.by_name.get(name)
        if request is None or request.status.state not in (None, RequestState.PENDING):
            continue
        when = commits.live(limit, name, state.now)
        if when is None:
            continue
        if state.final_state.get(name) not in (None, RequestState.PENDING):
            continue
        parsed = index.specs[name]
        if not isinstance(parsed, RequestSpec) or index.labels(parsed.target) is None:
            continue
        if spec in index.governing(parsed.target)[0]:
            kept[name] = (parsed.target, when)
    return kept


def _write_if_changed(state: PassState, name: str, status: LimitStatus) -> None:
    limit = state.index.limits_by_name[name]
    status = attrs.evolve(status, commit=limit.status.commit)  # the runner's to bump, not ours
    if status != limit.status:
        state.decisions.append(UpdateLimitStatus(limit=name, uid=limit.uid, status=status))
