"""Forecast a maintenance: play the policy forward in time on a model of the cluster.

The rules are `policy.plan`'s alone; this module is the cluster around them, and a
clock. From a snapshot (recorded, or read live) it runs one pass per CronJob period,
applies each plan the way the API server and the cluster's controllers would, and
moves time on to the next pass, carrying out what happens in between:

- actors start an approved request after a delay and complete it after a duration
  (fixed, or uniform in a range, drawn with the seed);
- an evicted pod terminates after its grace period; a pod with a controller comes back
  on another schedulable node (the one with the fewest pods) and is Ready after
  `pod_ready` seconds, and the disruption controller recounts every PDB;
- a drained node's volumes detach after `volume_detach` seconds;
- windows open and close on the real calendar, because `now` is the simulated time.

It records when each request is approved and finished, each limit's use at each pass,
and what held each waiting request back at each pass (the first cause of its
explanation: a limit, a window, an interval, a PDB), so that the forecast can rank the
bottlenecks by the request-time they cost.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from forecast.cluster import Evicted, ModelCluster
from forecast.inputs import Model
from policy import Plan, RequestState, Snapshot
from policy import plan as make_plan
from policy.explain import (
    BudgetExhausted,
    Cause,
    IntervalNotPassed,
    LimitFull,
    Reason,
    WindowClosed,
)
from policy.model import ActorState
from policy.preparing_causes import PodsLeft
from runner.memory import collector_paused

TERMINAL = frozenset({RequestState.COMPLETED, RequestState.REJECTED, RequestState.EXPIRED})
ACTIVE = frozenset({RequestState.PREPARING, RequestState.APPROVED, RequestState.IN_PROGRESS})
ZONE_LABEL = "topology.kubernetes.io/zone"
STUCK = frozenset(
    {
        Reason.ACTOR_OUT_OF_ORDER,
        Reason.LIMIT_INVALID,
        Reason.NO_LIMIT,
        Reason.MULTIPLE_PDBS,
        Reason.PAUSED,
        Reason.ALERT_FIRING,
        Reason.BLOCKING_PODS,
        Reason.GATE_UNAVAILABLE,
    }
)
"""Waits the model never ends: an actor, an operator or a PDB owner must act (gates
keep what they were read as; a tripped failure budget is not here: its failures
leave its period)."""


@attrs.frozen
class RequestTimeline:
    name: str
    target: str
    admitted_at: datetime | None
    """Left the queue (Preparing, or Approved at once): what a limit's rate counts."""
    approved_at: datetime | None
    finished_at: datetime | None
    state: str
    reason: str


@attrs.frozen
class Forecast:
    start: datetime
    end: datetime
    passes: int
    requests: tuple[RequestTimeline, ...]
    peaks: dict[str, tuple[int, int]]
    """limit -> (peak in use, allowed at that moment)"""
    bottlenecks: tuple[tuple[str, float], ...]
    """(cause, request-seconds held back), largest first"""
    in_use: tuple[tuple[datetime, dict[str, int]], ...]
    """each pass: in use per limit"""
    finished: bool
    stuck: tuple[str, ...] = ()
    """Requests left waiting for something the model never does (see STUCK)."""
    active_by_zone: tuple[tuple[datetime, dict[str, int]], ...] = ()
    """each pass: nodes in maintenance (preparing, approved, in progress) per zone"""
    windows_closed: tuple[tuple[datetime, tuple[str, ...]], ...] = ()
    """each pass: the limits with windows that were closed"""
    allowed: tuple[tuple[datetime, dict[str, int]], ...] = ()
    """each pass: what each valid limit allowed"""
    failed_nodes: tuple[str, ...] = ()
    """Nodes the --fail-rate left NotReady after their maintenance."""
    deadlines_missed: tuple[str, ...] = ()
    """Requests whose spec.deadline passed before they were admitted."""

    @property
    def makespan(self) -> float:
        return (self.end - self.start).total_seconds()


def _cause_key(cause: Cause) -> str:
    match cause:
        case LimitFull():
            return f"limit {cause.limit}"
        case WindowClosed():
            return f"window of {cause.limit}"
        case IntervalNotPassed():
            return f"interval of {cause.limit}"
        case BudgetExhausted():
            return f"PDB {cause.pdb}"
        case PodsLeft():
            # A drain held up by a budget is the budget's doing; else the drain's own.
            for pod in cause.pods:
                pdb = pod.held_by_budget
                if pdb is not None:
                    return f"PDB {pdb}"
            return cause.reason.value
        case _:
            return cause.reason.value


class Simulation:
    def __init__(
        self,
        snapshot: Snapshot,
        model: Model,
        *,
        seed: int = 0,
        observer: Callable[[Snapshot, Plan, Snapshot], None] | None = None,
    ) -> None:
        self.model = model
        self.observer = observer
        """Told (before, plan, after) at every pass: the invariant tests watch here."""
        self.rng = random.Random(seed)
        self.now = snapshot.now
        self.start = snapshot.now
        self.cluster = ModelCluster(snapshot)
        self.events: list[tuple[float, int, str, str]] = []
        self.sequence = 0
        self.approved: dict[str, datetime] = {}
        self.admitted: dict[str, datetime] = {}
        self.finished: dict[str, datetime] = {}
        self.last: dict[str, tuple[str, str, str]] = {}
        self.held: Counter[str] = Counter()
        self.in_use: list[tuple[datetime, dict[str, int]]] = []
        self.allowed: list[tuple[datetime, dict[str, int]]] = []
        self.peaks: dict[str, tuple[int, int]] = {}
        self.spawned = 0
        self.stuck: set[str] = set()
        self.active_by_zone: list[tuple[datetime, dict[str, int]]] = []
        self.windows_closed: list[tuple[datetime, tuple[str, ...]]] = []
        self.failed_nodes: list[str] = []
        self.missed: set[str] = set()
        for request in self.cluster.requests.values():
            if request.status.approved_at is not None:
                self.approved[request.name] = request.status.approved_at
            admitted = request.status.preparing_since or request.status.approved_at
            if admitted is not None:
                self.admitted[request.name] = admitted
            # Work already under way when the forecast starts.
            if request.status.state is RequestState.APPROVED:
                self._at(self.model.actor_start.draw(self.rng), "actor-start", request.name)
            elif request.status.state is RequestState.IN_PROGRESS:
                self._at(self.model.actor_duration.draw(self.rng), "actor-finish", request.name)

    # --- the clock ------------------------------------------------------------------

    def _at(self, delay: float, kind: str, key: str) -> None:
        when = (self.now - self.start).total_seconds() + delay
        self.sequence += 1
        heapq.heappush(self.events, (when, self.sequence, kind, key))

    def _happen(self, until: float) -> None:
        while self.events and self.events[0][0] <= until:
            when, _, kind, key = heapq.heappop(self.events)
            moment = self.start + timedelta(seconds=when)
            getattr(self, f"_on_{kind.replace('-', '_')}")(key, moment)

    def run(self) -> Forecast:
        passes = 0
        elapsed = 0.0
        while True:
            self._happen(elapsed)
            self.now = self.start + timedelta(seconds=elapsed)
            self.cluster.recount_budgets()
            before = self.snapshot()
            with collector_paused():
                # The plan's objects die by reference counting; the collector would
                # walk the whole model cluster for nothing (see runner.memory).
                result = make_plan(before, pods_by_node=self.cluster.pods_by_node())
            passes += 1
            self._record(result)
            self._apply(result)
            if self.observer is not None:
                self.observer(before, result, self.snapshot())
            if self._done():
                break
            elapsed += self.model.period
            if elapsed > self.model.horizon:
                break
        end = max(self.finished.values(), default=self.start)
        return Forecast(
            start=self.start,
            end=end if self._done() else self.now,
            passes=passes,
            requests=tuple(
                RequestTimeline(
                    name=name,
                    target=target,
                    admitted_at=self.admitted.get(name),
                    approved_at=self.approved.get(name),
                    finished_at=self.finished.get(name),
                    state=state,
                    reason=reason,
                )
                for name, (target, state, reason) in sorted(self.last.items())
            ),
            peaks=dict(sorted(self.peaks.items())),
            bottlenecks=tuple(sorted(self.held.items(), key=lambda item: (-item[1], item[0]))),
            in_use=tuple(self.in_use),
            allowed=tuple(self.allowed),
            finished=self._done(),
            stuck=tuple(sorted(self.stuck)),
            active_by_zone=tuple(self.active_by_zone),
            windows_closed=tuple(self.windows_closed),
            failed_nodes=tuple(self.failed_nodes),
            deadlines_missed=tuple(sorted(self.missed)),
        )

    def _done(self) -> bool:
        """Every request finished, or waiting for something the model never does."""
        open_requests = {
            r.name for r in self.cluster.requests.values() if r.status.state not in TERMINAL
        }
        return open_requests <= self.stuck and not any(
            kind.startswith("actor") and key in open_requests for _, _, kind, key in self.events
        )

    def snapshot(self) -> Snapshot:
        return self.cluster.snapshot(self.now)

    # --- what a pass decided ----------------------------------------------------------

    def _record(self, result: Plan) -> None:
        keys: dict[int, str] = {}  # many waiting requests share one cause object
        for explanation in result.explanations:
            self.last[explanation.request] = (
                explanation.target,
                explanation.state.value,
                explanation.reason.value,
            )
            if explanation.state in (RequestState.PENDING, RequestState.PREPARING):
                cause = explanation.causes[0]
                key = keys.get(id(cause))
                if key is None:
                    key = keys[id(cause)] = _cause_key(cause)
                self.held[key] += self.model.period
            if explanation.reason is Reason.DEADLINE_MISSED:
                self.missed.add(explanation.request)
            if explanation.reason in STUCK:
                self.stuck.add(explanation.request)
            elif self.stuck:
                self.stuck.discard(explanation.request)
        zones: Counter[str] = Counter()
        for explanation in result.explanations:
            if explanation.state in ACTIVE and explanation.target.startswith("node/"):
                node = self.cluster.nodes.get(explanation.target.removeprefix("node/"))
                labels = node.labels if node is not None else {}
                zones[labels.get(ZONE_LABEL) or labels.get("zone") or "-"] += 1
        self.active_by_zone.append((self.now, dict(zones)))
        self.windows_closed.append(
            (self.now, tuple(r.name for r in result.limits if r.windows and not r.window_open))
        )
        uses, allowed = {}, {}
        for report in result.limits:
            if report.valid:
                uses[report.name] = report.in_use
                allowed[report.name] = report.allowed
                if report.in_use > self.peaks.get(report.name, (-1, 0))[0]:
                    self.peaks[report.name] = (report.in_use, report.allowed)
        self.in_use.append((self.now, uses))
        self.allowed.append((self.now, allowed))

    def _apply(self, result: Plan) -> None:
        for effect in self.cluster.apply(result, now=self.now):
            if isinstance(effect, Evicted):
                grace = self.model.default_grace if effect.grace is None else effect.grace
                self._at(grace, "pod-gone", effect.key)
                continue
            name, state = effect.request, effect.status.state
            if state in (RequestState.PREPARING, RequestState.APPROVED):
                self.admitted.setdefault(name, self.now)
            if state is RequestState.APPROVED and name not in self.approved:
                self.approved[name] = self.now
                self._at(self.model.actor_start.draw(self.rng), "actor-start", name)
            if state in TERMINAL and name not in self.finished:
                self.finished[name] = self.now

    # --- what happens between passes --------------------------------------------------

    def _on_actor_start(self, name: str, _moment: datetime) -> None:
        request = self.cluster.requests.get(name)
        if request is None or request.status.state is not RequestState.APPROVED:
            return
        self.cluster.declare(name, ActorState.IN_PROGRESS)
        self._at(self.model.actor_duration.draw(self.rng), "actor-finish", name)

    def _on_actor_finish(self, name: str, moment: datetime) -> None:
        # Drawn only with a rate, so that forecasts without one keep their draws.
        if self.model.fail_rate > 0 and self.rng.random() < self.model.fail_rate:
            request = self.cluster.requests.get(name)
            target = request.status.target if request is not None else None
            if target is not None and target.startswith("node/"):
                node = target.removeprefix("node/")
                self.cluster.fail(node, moment)
                self.failed_nodes.append(node)
        self.cluster.declare(name, ActorState.COMPLETED)

    def _on_pod_gone(self, key: str, _moment: datetime) -> None:
        pod = self.cluster.drop(key)
        if pod is None:
            return
        if pod.owner_kind is not None and pod.owner_kind != "DaemonSet":
            home = self.cluster.schedule(pod)
            if home is not None:
                self.spawned += 1
                name = f"{pod.name}-r{self.spawned}"
                self.cluster.put(
                    attrs.evolve(
                        pod,
                        name=name,
                        uid=f"{pod.uid}-r{self.spawned}",
                        node=home,
                        deletion_timestamp=None,
                        ready=False,
                    )
                )
                self._at(self.model.pod_ready, "pod-ready", f"{pod.namespace}/{name}")
        left = (self.cluster.pods[k] for k in self.cluster.on_node.get(pod.node, ()))
        if not any(not p.terminal for p in left):
            for attachment in self.cluster.attachments.values():
                if attachment.node == pod.node and attachment.attached:
                    self._at(self.model.volume_detach, "detach", attachment.name)

    def _on_pod_ready(self, key: str, _moment: datetime) -> None:
        pod = self.cluster.pods.get(key)
        if pod is not None:
            self.cluster.put(attrs.evolve(pod, ready=True))

    def _on_detach(self, name: str, _moment: datetime) -> None:
        attachments = self.cluster.attachments
        attachment = attachments.get(name)
        if attachment is not None:
            attachments[name] = attrs.evolve(attachment, attached=False)


def forecast(snapshot: Snapshot, model: Model, *, seed: int = 0) -> Forecast:
    return Simulation(snapshot, model, seed=seed).run()
