"""`plan(snapshot) -> Plan`: one runner pass's decisions, and why.

Pure: the instant comes from the snapshot, nothing is read from outside, and the same
snapshot always gives the same plan. The runner consumes the plan (applies it, or
prints it in a dry run); the forecast and the property tests replay it against model
clusters.

A pass considers requests in four groups, each in priority order (higher first, then
older, then by name): finished requests (TTL deletion), active ones (drain progress,
actor steps, timeouts, withdrawal), waiting ones (validation, queueing, admission
through the ledger, and the first preparation step in the same pass), and finally the
nodes whose cordon we own but whose request is over (uncordon).
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta

import attrs

from policy.decisions import (
    Cordon,
    Decision,
    DeleteRequest,
    Evict,
    LimitReport,
    Plan,
    Uncordon,
    UpdateLimitStatus,
    UpdateRequestStatus,
)
from policy.disruption import BudgetIndex, PodDisposition, disposition, disrupted_by_maintenance
from policy.explain import (
    AwaitingActor,
    Cause,
    DetachGrace,
    DrainGrace,
    Explanation,
    Finished,
    LimitUnusable,
    NoGoverningLimit,
    OutOfOrder,
    PodsLeft,
    Reason,
    SeveralBudgets,
    SoakingAfter,
    SpecIgnored,
    TargetHeld,
    VolumesAttached,
    WindowClosed,
    Working,
    at,
)
from policy.ledger import Ledger, LimitUsage
from policy.lifecycle import Behaviour, may_move
from policy.model import (
    CORDONED_BY,
    ActorState,
    LimitStatus,
    MaintenanceRequest,
    Node,
    Pod,
    RequestState,
    RequestStatus,
    Snapshot,
    TargetType,
    VolumeAttachment,
)
from policy.validation import (
    DrainSpec,
    FieldError,
    InvalidLimit,
    LimitSpec,
    NodePolicy,
    RequestSpec,
    Target,
    parse_limit_spec,
    parse_request_spec,
)
from policy.windows import next_opening

S = RequestState
REASONS = {reason.value: reason for reason in Reason}
_POD_ORDER = operator.attrgetter("namespace", "name")
_ATTACHMENT_ORDER = operator.attrgetter("name")


def plan(snapshot: Snapshot) -> Plan:
    """Decide this pass's actions for `snapshot`. Pure and deterministic."""
    return _Planner(snapshot).run()


def order_key(request: MaintenanceRequest) -> tuple[int, float, str]:
    """Priority order: higher priority first, then older, then by name."""
    priority = request.spec.get("priority") if isinstance(request.spec, dict) else None
    if not isinstance(priority, int) or isinstance(priority, bool):
        priority = 0
    created = request.creation_timestamp
    return (-priority, created.timestamp() if created else math.inf, request.name)


@attrs.define
class _Outcome:
    """Where one request ends up in this plan."""

    status: RequestStatus
    causes: tuple[Cause, ...]


class _Planner:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.now = snapshot.now
        # One pass over the nodes for every per-node table (large clusters: memory-bound).
        self.nodes: dict[str, Node] = {}
        self.unschedulable: dict[str, bool] = {}
        self.cordon_owner: dict[str, str] = {}
        for node in snapshot.nodes:
            self.nodes[node.name] = node
            self.unschedulable[node.name] = node.unschedulable
            owner = node.annotations.get(CORDONED_BY)
            if owner:
                self.cordon_owner[node.name] = owner
        self.workloads = {(w.kind, w.key): w for w in snapshot.workloads}
        # Grouped here, sorted when first asked for (see _pods_on): a pass looks at the
        # pods of the few nodes it prepares, not at every node's.
        self.pods_by_node: dict[str, list[Pod]] = defaultdict(list)
        for pod in snapshot.pods:
            self.pods_by_node[pod.node].append(pod)
        self.pods_sorted: set[str] = set()
        self.attachments_by_node: dict[str, list[VolumeAttachment]] = defaultdict(list)
        for attachment in snapshot.volume_attachments:
            self.attachments_by_node[attachment.node].append(attachment)
        for attachments in self.attachments_by_node.values():
            attachments.sort(key=_ATTACHMENT_ORDER)
        self.budgets = BudgetIndex.build(snapshot.pdbs)

        self.valid_limits: list[LimitSpec] = []
        self.invalid_limits: list[InvalidLimit] = []
        for limit in sorted(snapshot.limits, key=lambda lim: lim.name):
            parsed = parse_limit_spec(limit.name, limit.spec)
            if isinstance(parsed, LimitSpec):
                self.valid_limits.append(parsed)
            else:
                self.invalid_limits.append(parsed)

        self.requests = sorted(snapshot.requests, key=order_key)
        self.by_name = {request.name: request for request in self.requests}
        self.specs: dict[str, RequestSpec | FieldError] = {
            r.name: parse_request_spec(r.spec) for r in self.requests
        }
        self.decisions: list[Decision] = []
        # The last status decision per request, so a later write knows what it follows.
        self.written: dict[str, UpdateRequestStatus] = {}
        self.explanations: list[Explanation] = []
        self.final_state: dict[str, RequestState] = {}
        self.final_target: dict[str, Target] = {}
        # Who holds each target ('type/name' -> request name): active requests, then
        # waiting requests in queue order.
        self.holder: dict[str, str] = {}
        # Node state as our decisions leave it: self.unschedulable and self.cordon_owner
        # (filled above) change with each cordon and uncordon of the plan.
        self.touched_nodes: set[str] = set()
        self.window_cache: dict[str, WindowClosed | None] = {}
        self.governing_cache: dict[Target, tuple[list[LimitSpec], list[InvalidLimit]]] = {}
        self.behaviour_cache: dict[Target, Behaviour] = {}
        self.behaviour_by_limits: dict[tuple[str, ...], Behaviour] = {}
        self.shown: dict[str, str] = {}
        """Request -> the target its decisions and explanation name."""
        # Cause -> its message, for causes many requests share (a full limit's).
        self.messages: dict[int, tuple[Cause, str]] = {}
        # Per node limit: the nodes unavailable by its policies.
        self.unavailable: dict[str, dict[str, str]] = {}
        self.ledger = self._open_ledger()

    # --- setup --------------------------------------------------------------------

    def _labels(self, target: Target) -> Mapping[str, str] | None:
        if target.type is TargetType.NODE:
            node = self.nodes.get(target.name)
            return None if node is None else node.labels
        workload = self.workloads.get((target.type, target.name))
        return None if workload is None else workload.labels

    def _pods_on(self, node: str) -> list[Pod]:
        """The node's pods in namespace/name order."""
        pods = self.pods_by_node.get(node)
        if pods is None:
            return []
        if node not in self.pods_sorted:
            pods.sort(key=_POD_ORDER)
            self.pods_sorted.add(node)
        return pods

    def _governing(self, target: Target) -> tuple[list[LimitSpec], list[InvalidLimit]]:
        cached = self.governing_cache.get(target)
        if cached is None:
            labels = self._labels(target) or {}
            cached = (
                [lim for lim in self.valid_limits if lim.governs(target.type, labels)],
                [lim for lim in self.invalid_limits if lim.governs(target.type, labels)],
            )
            self.governing_cache[target] = cached
        return cached

    def _behaviour(self, target: Target | None) -> Behaviour:
        if target is None:
            return Behaviour()
        behaviour = self.behaviour_cache.get(target)
        if behaviour is None:
            behaviour = self._behaviour_of(self._governing(target)[0])
            self.behaviour_cache[target] = behaviour
        return behaviour

    def _behaviour_of(self, limits: list[LimitSpec]) -> Behaviour:
        """The behaviour of a set of limits, computed once per set (limit names are
        unique, so they identify it)."""
        key = tuple(limit.name for limit in limits)
        behaviour = self.behaviour_by_limits.get(key)
        if behaviour is None:
            behaviour = self.behaviour_by_limits[key] = Behaviour.of(limits)
        return behaviour

    def _status_target(self, request: MaintenanceRequest) -> Target | None:
        """The target a request holds: the admitted one from status, else its spec's."""
        if request.status.target:
            target = Target.from_key(request.status.target)
            if target is not None:
                return target
        spec = self.specs[request.name]
        return spec.target if isinstance(spec, RequestSpec) else None

    def _soak(self, request: MaintenanceRequest, target: Target | None) -> SoakingAfter | None:
        status = request.status
        if status.state is None or not status.state.terminal or target is None:
            return None
        if status.approved_at is None:
            return None  # never had authority to work on the target: nothing to soak
        soak = self._behaviour(target).soak_seconds
        if soak == 0:
            return None
        ended = f"{status.state.value} at {at(status.finished_at or self.now)}"
        finished = status.finished_at or self.now
        if target.type is TargetType.NODE:
            node = self.nodes.get(target.name)
            if node is None:
                return None
            if not node.ready or node.unschedulable:
                return SoakingAfter(target.key, None, ended)
            start = max(finished, node.ready_since or finished)
        else:
            start = finished
        until = start + timedelta(seconds=soak)
        return SoakingAfter(target.key, until, ended) if self.now < until else None

    def _unavailability(self, spec: LimitSpec, node: Node) -> str | None:
        """Why a governed node uses up `spec` by itself, as our decisions leave it."""
        if NodePolicy.NOT_READY in spec.policies and not node.ready:
            return NodePolicy.NOT_READY
        if NodePolicy.UNSCHEDULABLE in spec.policies and self.unschedulable[node.name]:
            return NodePolicy.UNSCHEDULABLE
        return None

    def _open_ledger(self) -> Ledger:
        node_limits = [spec for spec in self.valid_limits if spec.type is TargetType.NODE]
        users: dict[str, dict[str, str]] = {spec.name: {} for spec in self.valid_limits}
        population = dict.fromkeys((spec.name for spec in node_limits), 0)
        for spec in node_limits:
            self.unavailable[spec.name] = {}
        for node in self.snapshot.nodes:
            for spec in node_limits:
                if not spec.governs(TargetType.NODE, node.labels):
                    continue
                population[spec.name] += 1
                if not spec.policies:
                    continue
                why = self._unavailability(spec, node)
                if why is not None:
                    users[spec.name][node.name] = self.unavailable[spec.name][node.name] = why
        usage: dict[str, LimitUsage] = {}
        for spec in self.valid_limits:
            if spec.type is not TargetType.NODE:
                population[spec.name] = sum(
                    1
                    for w in self.snapshot.workloads
                    if w.kind is spec.type and spec.governs(spec.type, w.labels)
                )
            usage[spec.name] = LimitUsage(
                spec=spec,
                population=population[spec.name],
                allowed=spec.allowed(population[spec.name]),
                users=users[spec.name],
                last_admission=None,
            )
        for limit in self.snapshot.limits:
            if limit.name in usage:
                usage[limit.name].last_admission = limit.status.last_admission_at

        pdbs = self.snapshot.pdbs
        ledger = Ledger.open(usage=usage, pdbs=pdbs)
        for request in self.requests:
            state = request.status.state
            if state is None or (
                state is S.PENDING
                and request.status.preparing_since is None
                and request.status.approved_at is None
            ):
                continue  # holds nothing, admitted never: the common case of a long queue
            target = self._status_target(request)
            if target is None:
                continue
            valid, _ = self._governing(target)
            admitted = request.status.preparing_since or request.status.approved_at
            for spec in valid:
                lim = usage[spec.name]
                if admitted is not None and (
                    lim.last_admission is None or admitted > lim.last_admission
                ):
                    lim.last_admission = admitted
            if state.active:
                self.holder[target.key] = self.holder.get(target.key, request.name)
                if self._labels(target) is None:
                    continue  # the target is gone: it is no longer in any population
                for spec in valid:
                    usage[spec.name].users[target.name] = f"by {request.name}"
                if target.type is TargetType.NODE and self._behaviour(target).drain is None:
                    # Maintenance without a drain disrupts the node's pods in place; until
                    # they go unready the PDB status does not show it, so keep it spent.
                    self._spend_in_place(ledger, target.name)
            else:
                soak = self._soak(request, target)
                if soak is not None:
                    how = f"soaking after {request.name}"
                    for spec in valid:
                        usage[spec.name].users.setdefault(target.name, how)
        self._count_commits(usage)
        return ledger

    def _count_commits(self, usage: dict[str, LimitUsage]) -> None:
        """Admissions another runner committed to a limit but has not yet written.

        The runner commits an admission by writing the governing limits' status (with
        a resourceVersion precondition) before the request's own status. A waiting
        request named in a limit's `status.active` was admitted by a pass that may
        still be writing (or died): its target keeps the slot, so no other pass can
        give it away meanwhile.
        """
        for limit in self.snapshot.limits:
            spec_usage = usage.get(limit.name)
            if spec_usage is None:
                continue
            for name in limit.status.active:
                request = self.by_name.get(name)
                if request is None or request.status.state not in (None, S.PENDING):
                    continue
                spec = self.specs[name]
                if not isinstance(spec, RequestSpec) or self._labels(spec.target) is None:
                    continue
                if spec_usage.spec in self._governing(spec.target)[0]:
                    spec_usage.users.setdefault(spec.target.name, f"by {name} (committing)")

    def _spend_in_place(self, ledger: Ledger, node: str) -> None:
        for pod in self._pods_on(node):
            if not disrupted_by_maintenance(pod) or not pod.ready:
                continue
            pdbs = self.budgets.selecting(pod)
            if len(pdbs) == 1:
                ledger.budget_left[pdbs[0].key] = max(ledger.budget_left[pdbs[0].key] - 1, 0)

    # --- the pass -----------------------------------------------------------------

    def run(self) -> Plan:
        terminal, active, waiting = [], [], []
        for request in self.requests:
            state = request.status.state
            if state is not None and state.terminal:
                terminal.append(request)
            elif state is not None and state.active:
                active.append(request)
            else:
                waiting.append(request)
        for request in terminal:
            self._finished(request)
        for request in active:
            self._record(request, self._active(request))
        for request in waiting:
            self._record(request, self._waiting(request))
        self._release_cordons()
        reports = self._limit_reports()
        return Plan(
            now=self.now,
            decisions=tuple(self.decisions),
            explanations=tuple(self.explanations),
            limits=reports,
        )

    def _message(self, cause: Cause) -> str:
        cached = self.messages.get(id(cause))
        if cached is None:
            # The cause is kept alive with its message, so its id is not reused.
            cached = self.messages[id(cause)] = (cause, cause.message())
        return cached[1]

    def _record(self, request: MaintenanceRequest, outcome: _Outcome) -> None:
        status = outcome.status
        reason = outcome.causes[0].reason.value
        message = "; ".join(self._message(cause) for cause in outcome.causes)
        if not (
            status is request.status
            and status.reason == reason
            and status.message == message
            and status.observed_generation == request.generation
        ):
            status = status.explained(reason, message, request.generation)
        state = status.state
        assert state is not None
        if not may_move(request.status.state, state):
            raise AssertionError(f"{request.name}: {request.status.state} -> {state}")
        if state.terminal and status.finished_at is None:
            status = attrs.evolve(status, finished_at=self.now)
        if status is not request.status and status != request.status:
            self._write_status(request, status)
        self._explain(request, state, outcome.causes)
        self.final_state[request.name] = state
        target = Target.from_key(status.target) if status.target else None
        if target is not None:
            self.final_target[request.name] = target
        if state.terminal:
            self._uncordon_if_ours(request.name, target, f"{request.name} is {state.value}")

    def _write_status(self, request: MaintenanceRequest, status: RequestStatus) -> None:
        last = self.written.get(request.name)
        if last is not None and last.status == status:
            return
        decision = UpdateRequestStatus(
            request=request.name,
            uid=request.uid,
            previous=last.status.state if last is not None else request.status.state,
            status=status,
            target=self._shown_target(request),
        )
        self.decisions.append(decision)
        self.written[request.name] = decision

    def _explain(
        self, request: MaintenanceRequest, state: RequestState, causes: tuple[Cause, ...]
    ) -> None:
        self.explanations.append(
            Explanation(
                request=request.name,
                target=self._shown_target(request),
                previous_state=request.status.state,
                state=state,
                causes=causes,
            )
        )

    def _shown_target(self, request: MaintenanceRequest) -> str:
        shown = self.shown.get(request.name)
        if shown is None:
            target = self._status_target(request)
            if target is not None:
                shown = target.key
            elif isinstance(request.spec, dict):
                shown = f"{request.spec.get('type', '?')}/{request.spec.get('name', '?')}"
            else:
                shown = "?"
            self.shown[request.name] = shown
        return shown

    # --- finished requests --------------------------------------------------------

    def _finished(self, request: MaintenanceRequest) -> None:
        status = request.status
        state = status.state
        assert state is not None
        target = self._status_target(request)
        self.final_state[request.name] = state
        if target is not None:
            self.final_target[request.name] = target
        recorded = REASONS.get(status.reason)
        if recorded is None:
            recorded = Reason.COMPLETED if state is S.COMPLETED else Reason.INVALID_SPEC
        causes: list[Cause] = [Finished(recorded, status.message or state.value)]
        soak = self._soak(request, target)
        if soak is not None:
            causes.append(soak)
        if status.finished_at is None:
            self._write_status(request, attrs.evolve(status, finished_at=self.now))
        else:
            ttl = timedelta(seconds=self._behaviour(target).ttl_seconds_after_finished)
            if soak is None and self.now >= status.finished_at + ttl:
                self.decisions.append(DeleteRequest(request=request.name, uid=request.uid))
        self._explain(request, state, tuple(causes))

    # --- active requests ----------------------------------------------------------

    def _active(self, request: MaintenanceRequest) -> _Outcome:
        status = request.status
        state = status.state
        target = self._status_target(request)
        if target is None:
            # Nothing names the target any more (a corrupted status.target and an
            # invalid spec). Approved and InProgress may not become Rejected: the work
            # may have started, so they end as Expired, with the same reason.
            return _Outcome(
                attrs.evolve(status, state=S.REJECTED if state is S.PREPARING else S.EXPIRED),
                (
                    Finished(
                        Reason.INVALID_SPEC,
                        f"status.target {status.target!r} and the spec name no valid target",
                    ),
                ),
            )
        status = attrs.evolve(status, target=target.key)
        notes: list[Cause] = []
        actor: ActorState | None = None
        spec = self.specs[request.name]
        if isinstance(spec, FieldError):
            notes.append(SpecIgnored(str(spec)))
        else:
            actor = spec.state
            if spec.target != target:
                notes.append(
                    SpecIgnored(f"spec names {spec.target.key}, admitted for {target.key}")
                )
        behaviour = self._behaviour(target)
        now = self.now

        if state is S.PREPARING:
            if actor is ActorState.COMPLETED:
                return self._withdrawn(status, "withdrawn while preparing")
            if self._labels(target) is None:
                return _Outcome(
                    attrs.evolve(status, state=S.REJECTED),
                    (Finished(Reason.TARGET_NOT_FOUND, f"{target.key} vanished while preparing"),),
                )
            outcome = self._prepare(request, target, behaviour, status)
            return _Outcome(outcome.status, outcome.causes + tuple(notes))

        if state is S.APPROVED:
            if actor is ActorState.IN_PROGRESS:
                deadline = now + timedelta(seconds=behaviour.in_progress_timeout_seconds)
                return _Outcome(
                    attrs.evolve(status, state=S.IN_PROGRESS, started_at=now),
                    (Working(target.key, deadline), *notes),
                )
            if actor is ActorState.COMPLETED:
                return self._withdrawn(
                    status, "completed by the actor before it was seen InProgress"
                )
            approved_at = status.approved_at or now
            deadline = approved_at + timedelta(seconds=behaviour.approved_timeout_seconds)
            if now >= deadline:
                return _Outcome(
                    attrs.evolve(status, state=S.EXPIRED),
                    (
                        Finished(
                            Reason.APPROVED_TIMEOUT,
                            f"approved at {at(approved_at)} but not InProgress within "
                            f"{behaviour.approved_timeout_seconds}s",
                        ),
                    ),
                )
            return _Outcome(
                attrs.evolve(status, approved_at=approved_at),
                (AwaitingActor(target.key, deadline), *notes),
            )

        assert state is S.IN_PROGRESS
        if actor is ActorState.COMPLETED:
            return _Outcome(
                attrs.evolve(status, state=S.COMPLETED, completed_at=now),
                (Finished(Reason.COMPLETED, f"maintenance of {target.key} completed"),),
            )
        started_at = status.started_at or now
        deadline = started_at + timedelta(seconds=behaviour.in_progress_timeout_seconds)
        if now >= deadline:
            return _Outcome(
                attrs.evolve(status, state=S.EXPIRED),
                (
                    Finished(
                        Reason.IN_PROGRESS_TIMEOUT,
                        f"in progress since {at(started_at)}, not Completed within "
                        f"{behaviour.in_progress_timeout_seconds}s",
                    ),
                ),
            )
        return _Outcome(
            attrs.evolve(status, started_at=started_at), (Working(target.key, deadline), *notes)
        )

    def _withdrawn(self, status: RequestStatus, how: str) -> _Outcome:
        return _Outcome(
            attrs.evolve(status, state=S.COMPLETED, completed_at=self.now),
            (Finished(Reason.WITHDRAWN, f"withdrawn: {how}"),),
        )

    # --- waiting requests ---------------------------------------------------------

    def _waiting(self, request: MaintenanceRequest) -> _Outcome:
        status = request.status
        if status.state is not S.PENDING:
            status = attrs.evolve(status, state=S.PENDING)
        spec = self.specs[request.name]
        if isinstance(spec, FieldError):
            return _Outcome(
                attrs.evolve(status, state=S.REJECTED),
                (Finished(Reason.INVALID_SPEC, f"invalid {spec}"),),
            )
        target = spec.target
        if spec.state is ActorState.COMPLETED:
            return self._withdrawn(status, "spec.state set to Completed before approval")
        labels = self._labels(target)
        if labels is None:
            return _Outcome(
                attrs.evolve(status, state=S.REJECTED),
                (Finished(Reason.TARGET_NOT_FOUND, f"{target.key} does not exist"),),
            )
        holder = self.holder.get(target.key)
        if holder is not None and holder != request.name:
            holder_state = self.final_state.get(holder) or S.PENDING
            return _Outcome(status, (TargetHeld(target.key, holder, holder_state.value),))
        self.holder[target.key] = request.name
        if spec.state is ActorState.IN_PROGRESS:
            return _Outcome(status, (OutOfOrder(spec.state.value, S.PENDING.value),))

        valid, invalid = self._governing(target)
        causes: list[Cause] = [LimitUnusable(lim.name, str(lim.error)) for lim in invalid]
        if not valid and not invalid:
            causes.append(NoGoverningLimit(target.key))
        for spec_limit in valid:
            usage = self.ledger.usage[spec_limit.name]
            closed = self._window_closed(spec_limit)
            if closed is not None:
                causes.append(closed)
            interval = usage.interval_cause(self.now)
            if interval is not None:
                causes.append(interval)
            if not usage.has_room_for(target.name):
                causes.append(usage.full_cause())
        if causes:
            return _Outcome(status, tuple(causes))
        behaviour = self._behaviour_of(valid)
        spend: dict[str, int] = {}
        if target.type is TargetType.NODE and behaviour.drain is None:
            causes.extend(self._in_place_budget(target.name, spend))
            if causes:
                return _Outcome(status, tuple(causes))

        # Admitted: the ledger counts it from here on, for every limit it is under.
        self.ledger.admit(target=target.name, request=request.name, limits=valid, now=self.now)
        for pdb, count in spend.items():
            spent = self.ledger.spend(pdb, count)
            assert spent
        admitted = attrs.evolve(
            status,
            state=S.PREPARING,
            target=target.key,
            preparing_since=self.now,
            drained_at=None,
            detached_at=None,
            approved_at=None,
            started_at=None,
            completed_at=None,
            finished_at=None,
        )
        mark = len(self.decisions)
        self.final_state[request.name] = S.PREPARING
        outcome = self._prepare(request, target, behaviour, admitted)
        if len(self.decisions) > mark:
            # Actions follow: commit the admission first, so that nothing is cordoned or
            # evicted for a request whose admission did not stick.
            commit = UpdateRequestStatus(
                request=request.name,
                uid=request.uid,
                previous=request.status.state,
                target=target.key,
                status=attrs.evolve(
                    admitted,
                    reason=Reason.CORDONING.value if behaviour.cordon else Reason.DRAINING.value,
                    message=f"admitted at {at(self.now)}; preparing {target.key}",
                    observed_generation=request.generation,
                ),
            )
            self.decisions.insert(mark, commit)
            self.written[request.name] = commit
        return outcome

    def _window_closed(self, spec: LimitSpec) -> WindowClosed | None:
        if not spec.windows:
            return None
        if spec.name not in self.window_cache:
            opens = next_opening(spec.windows, self.now)
            self.window_cache[spec.name] = (
                None if opens <= self.now else self._window_cause(spec, opens)
            )
        return self.window_cache[spec.name]

    def _window_cause(self, spec: LimitSpec, opens: datetime) -> WindowClosed:
        first = min(spec.windows, key=lambda w: w.next_opening(self.now))
        local = opens.astimezone(first.zone)
        return WindowClosed(
            limit=spec.name,
            windows=tuple(w.describe() for w in spec.windows),
            opens_at=opens,
            opens_local=f"{local.strftime('%a %Y-%m-%d %H:%M')} {first.time_zone}",
        )

    def _in_place_budget(self, node: str, spend: dict[str, int]) -> list[Cause]:
        """Would maintenance without a drain fit every PDB? Fills `spend` when it does."""
        causes: list[Cause] = []
        pods_by_pdb: dict[str, list[str]] = defaultdict(list)
        for pod in self._pods_on(node):
            if not disrupted_by_maintenance(pod):
                continue
            pdbs = self.budgets.selecting(pod)
            if len(pdbs) > 1:
                causes.append(SeveralBudgets(pod.key, tuple(p.key for p in pdbs)))
            elif pdbs:
                pods_by_pdb[pdbs[0].key].append(pod.key)
        for pdb, pods in sorted(pods_by_pdb.items()):
            if self.ledger.budget_left[pdb] < len(pods):
                causes.append(self.ledger.budget_cause(pdb, needed=len(pods), pods=tuple(pods)))
            else:
                spend[pdb] = len(pods)
        return causes

    # --- preparation: cordon, drain, detach, approve ------------------------------

    def _prepare(
        self,
        request: MaintenanceRequest,
        target: Target,
        behaviour: Behaviour,
        status: RequestStatus,
    ) -> _Outcome:
        now = self.now
        since = status.preparing_since or now
        if target.type is not TargetType.NODE:
            return self._approve(target, behaviour, status)
        node = target.name
        if behaviour.cordon and self._needs_cordon(node, request.name):
            self.decisions.append(Cordon(node=node, request=request.name))
            self.unschedulable[node] = True
            self.touched_nodes.add(node)
            self.cordon_owner[node] = request.name

        drain = behaviour.drain
        drained_at = status.drained_at
        if drain is not None and drained_at is None:
            deadline = since + timedelta(seconds=drain.timeout_seconds)
            remaining = [
                pod
                for pod in self._pods_on(node)
                if disposition(pod, drain) is not PodDisposition.IGNORED
            ]
            if remaining and now >= deadline:
                return _Outcome(
                    attrs.evolve(status, state=S.EXPIRED),
                    (
                        Finished(
                            Reason.DRAIN_TIMEOUT,
                            f"{node} not drained within {drain.timeout_seconds}s; "
                            f"{len(remaining)} pods left: "
                            + ", ".join(p.key for p in remaining[:5]),
                        ),
                    ),
                )
            if remaining:
                left = tuple(self._evict_or_explain(pod, request.name, drain) for pod in remaining)
                return _Outcome(status, (PodsLeft(node, left, deadline),))
            drained_at = now
            status = attrs.evolve(status, drained_at=drained_at)
        if drain is not None and drained_at is not None:
            grace_until = drained_at + timedelta(seconds=drain.grace_period_seconds)
            if now < grace_until:
                return _Outcome(status, (DrainGrace(f"{node} drained", grace_until),))

        infra = behaviour.infra_drain
        if infra is not None and behaviour.waits_for_detach:
            detached_at = status.detached_at
            if detached_at is None:
                attached = tuple(
                    a.name for a in self.attachments_by_node.get(node, ()) if a.attached
                )
                deadline = (drained_at or since) + timedelta(seconds=infra.timeout_seconds)
                if attached and now >= deadline:
                    return _Outcome(
                        attrs.evolve(status, state=S.EXPIRED),
                        (
                            Finished(
                                Reason.VOLUME_DETACH_TIMEOUT,
                                f"volumes still attached to {node} after "
                                f"{infra.timeout_seconds}s: " + ", ".join(attached[:5]),
                            ),
                        ),
                    )
                if attached:
                    return _Outcome(status, (VolumesAttached(node, attached, deadline),))
                detached_at = now
                status = attrs.evolve(status, detached_at=detached_at)
            grace_until = detached_at + timedelta(seconds=infra.grace_period_seconds)
            if now < grace_until:
                return _Outcome(
                    status, (DetachGrace(f"volumes detached from {node}", grace_until),)
                )
        return self._approve(target, behaviour, status)

    def _approve(self, target: Target, behaviour: Behaviour, status: RequestStatus) -> _Outcome:
        deadline = self.now + timedelta(seconds=behaviour.approved_timeout_seconds)
        return _Outcome(
            attrs.evolve(status, state=S.APPROVED, approved_at=self.now),
            (AwaitingActor(target.key, deadline),),
        )

    def _needs_cordon(self, node: str, request: str) -> bool:
        owner = self.cordon_owner.get(node)
        if owner == request:
            # Ours already; cordon again only if someone uncordoned it meanwhile.
            return not self.unschedulable.get(node, False)
        if not self.unschedulable.get(node, False):
            return True
        # Unschedulable: leave someone else's cordon alone, but take over one we made for
        # a request that is over, so that its release does not uncordon this drain.
        return owner is not None and not self._owner_active(owner)

    def _owner_active(self, owner: str) -> bool:
        state = self.final_state.get(owner)
        if state is None and owner in self.by_name:
            state = self.by_name[owner].status.state
        return state is not None and state.active

    def _evict_or_explain(self, pod: Pod, request: str, drain: DrainSpec) -> str:
        kind = disposition(pod, drain)
        if kind is PodDisposition.TERMINATING:
            return f"{pod.key} (terminating)"
        if kind is PodDisposition.KEEPS_EMPTY_DIR:
            return f"{pod.key} (emptyDir data; drain.deleteEmptyDirData is false)"
        if kind is PodDisposition.UNMANAGED:
            return f"{pod.key} (no controller; drain.force is false)"
        pdbs = self.budgets.selecting(pod)
        if len(pdbs) > 1:
            return f"{pod.key} (matches PDBs {', '.join(p.key for p in pdbs)}: eviction refused)"
        pdb = pdbs[0].key if pdbs else None
        if pdb is not None and not self.ledger.spend(pdb):
            if pdbs[0].stale:
                return f"{pod.key} (PDB {pdb}: stale status)"
            return f"{pod.key} (PDB {pdb}: {self.ledger.budget_left[pdb]} disruptions allowed)"
        self.decisions.append(
            Evict(
                namespace=pod.namespace,
                pod=pod.name,
                uid=pod.uid,
                node=pod.node,
                request=request,
                pdb=pdb,
                grace_period_seconds=drain.pod_grace_period_seconds,
            )
        )
        return f"{pod.key} (evicting)"

    # --- cordons we own -----------------------------------------------------------

    def _uncordon_if_ours(self, request: str, target: Target | None, why: str) -> None:
        if target is None or target.type is not TargetType.NODE:
            return
        node = target.name
        if self.cordon_owner.get(node) != request:
            return
        self.decisions.append(
            Uncordon(
                node=node,
                request=request,
                reason=why,
                unschedulable=self.unschedulable.get(node, False),
            )
        )
        self.unschedulable[node] = False
        self.touched_nodes.add(node)
        del self.cordon_owner[node]

    def _release_cordons(self) -> None:
        for node, owner in sorted(self.cordon_owner.items()):
            if self._owner_active(owner):
                continue
            state = self.final_state.get(owner)
            why = (
                f"{owner} no longer exists"
                if owner not in self.by_name
                else (f"{owner} is {state.value if state else 'not active'}")
            )
            self.decisions.append(
                Uncordon(
                    node=node,
                    request=owner,
                    reason=why,
                    unschedulable=self.unschedulable.get(node, False),
                )
            )
            self.unschedulable[node] = False
            self.touched_nodes.add(node)
        self.cordon_owner = {
            node: owner for node, owner in self.cordon_owner.items() if self._owner_active(owner)
        }

    # --- limits -------------------------------------------------------------------

    def _limit_reports(self) -> tuple[LimitReport, ...]:
        reports: list[LimitReport] = []
        by_name = {limit.name: limit for limit in self.snapshot.limits}
        active_targets = {
            name: self.final_target[name]
            for name, state in self.final_state.items()
            if state.active
            and name in self.final_target
            and self._labels(self.final_target[name]) is not None
        }
        for spec in self.valid_limits:
            usage = self.ledger.usage[spec.name]
            unavailable = dict(self.unavailable.get(spec.name, {}))
            # Only nodes we cordoned or uncordoned in this plan can have changed.
            for name in sorted(self.touched_nodes) if spec.type is TargetType.NODE else ():
                if not spec.governs(TargetType.NODE, self.nodes[name].labels):
                    continue
                why = self._unavailability(spec, self.nodes[name])
                if why is None:
                    unavailable.pop(name, None)
                else:
                    unavailable[name] = why
            active = sorted(
                name
                for name, target in active_targets.items()
                if spec in self._governing(target)[0]
            )
            in_use = set(unavailable) | {self.final_target[name].name for name in active}
            opens = next_opening(spec.windows, self.now) if spec.windows else None
            report = LimitReport(
                name=spec.name,
                type=spec.type.value,
                valid=True,
                population=usage.population,
                allowed=usage.allowed,
                in_use=len(in_use),
                unavailable=tuple(sorted(unavailable.items())),
                active=tuple(active),
                window_open=opens is None or opens <= self.now,
                next_opening=opens,
                windows=tuple(w.describe() for w in spec.windows),
            )
            reports.append(report)
            status = LimitStatus(
                allowed=usage.allowed,
                in_use=len(in_use),
                unavailable=dict(report.unavailable),
                active=report.active,
                last_admission_at=usage.last_admission,
                message=(
                    f"{len(in_use)} of {usage.allowed} in use "
                    f"({spec.describe_allowed(usage.population)})"
                ),
            )
            self._limit_status(by_name[spec.name].uid, spec.name, status, by_name[spec.name].status)
        for invalid in self.invalid_limits:
            reports.append(
                LimitReport(
                    name=invalid.name,
                    type=invalid.type.value if invalid.type else None,
                    valid=False,
                    error=str(invalid.error),
                )
            )
            status = LimitStatus(
                message=f"invalid, admissions it governs are blocked: {invalid.error}"
            )
            self._limit_status(
                by_name[invalid.name].uid, invalid.name, status, by_name[invalid.name].status
            )
        reports.sort(key=lambda r: r.name)
        return tuple(reports)

    def _limit_status(self, uid: str, name: str, status: LimitStatus, old: LimitStatus) -> None:
        status = attrs.evolve(status, commit=old.commit)  # the runner's to bump, not ours
        if status != old:
            self.decisions.append(UpdateLimitStatus(limit=name, uid=uid, status=status))
