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
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, assert_never

import attrs
import yaml

from policy import Plan, RequestState, Snapshot
from policy import plan as make_plan
from policy.decisions import (
    Cordon,
    DeleteRequest,
    Evict,
    Uncordon,
    UpdateLimitStatus,
    UpdateRequestStatus,
)
from policy.explain import (
    BudgetExhausted,
    Cause,
    IntervalNotPassed,
    LimitFull,
    PodsLeft,
    Reason,
    WindowClosed,
)
from policy.model import (
    CORDONED_BY,
    ActorState,
    LabelSelector,
    MaintenanceRequest,
    Pod,
    RequestStatus,
)
from policy.snapshot_format import timestamp
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
    }
)
"""Waits the model never ends: an actor, an operator or a PDB owner must act."""
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def seconds_of(text: str) -> float:
    """'90', '90s', '15m', '1h30m' -> seconds."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m or 1h30m")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


@attrs.frozen
class Spread:
    """A delay: fixed, or uniform between `low` and `high` ('10m', '5m..15m')."""

    low: float
    high: float

    @classmethod
    def parse(cls, text: str) -> Spread:
        low, _, high = text.partition("..")
        first = seconds_of(low)
        return cls(first, seconds_of(high) if high else first)

    def draw(self, rng: random.Random) -> float:
        return self.low if self.high == self.low else rng.uniform(self.low, self.high)

    def __str__(self) -> str:
        return f"{self.low:g} s" if self.low == self.high else f"{self.low:g}..{self.high:g} s"


@attrs.frozen
class Model:
    period: float = 60.0
    actor_start: Spread = Spread(0.0, 0.0)
    actor_duration: Spread = Spread(600.0, 600.0)
    pod_ready: float = 30.0
    volume_detach: float = 30.0
    default_grace: float = 30.0
    horizon: float = 60 * 86400.0
    """Give up after this much simulated time (60 days)."""


@attrs.frozen
class RequestTimeline:
    name: str
    target: str
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

    @property
    def makespan(self) -> float:
        return (self.end - self.start).total_seconds()


def add_requests(snapshot: Snapshot, selector: LabelSelector | None, now: datetime) -> Snapshot:
    """Synthetic Pending requests for every node matching `selector` (all when None)
    that has no unfinished request yet."""
    busy = {
        r.spec.get("name")
        for r in snapshot.requests
        if r.status.state not in TERMINAL and r.spec.get("type") in ("node", "Node")
    }
    added = [
        MaintenanceRequest(
            name=f"forecast-{node.name}",
            uid=f"forecast-{node.name}",
            resource_version="1",
            generation=1,
            creation_timestamp=now,
            spec={"type": "node", "name": node.name, "requester": "forecast"},
            status=RequestStatus(),
        )
        for node in snapshot.nodes
        if node.name not in busy and (selector is None or selector.matches(node.labels))
    ]
    return attrs.evolve(snapshot, requests=(*snapshot.requests, *added))


def requests_from_file(path: Path, snapshot: Snapshot) -> Snapshot:
    """Add the MaintenanceRequests of a YAML or JSON file (one or more documents, each a
    request or a List of them), as if created now and not yet seen by the runner.

    A request without a name (`generateName`, as actors file them) is named like the
    API server would, with a counter instead of random letters. The spec is the
    policy's to judge (an invalid one is forecast as Rejected); anything that is not
    a MaintenanceRequest, or a name already taken, is an error naming the document.
    """
    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except OSError as error:
        raise ValueError(f"--from-file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ValueError(f"--from-file {path}: not UTF-8 text") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ValueError(f"--from-file {path}: not YAML or JSON{where}") from None
    objects: list[tuple[str, Any]] = []
    for index, document in enumerate(documents, start=1):
        if document is None:
            continue
        if isinstance(document, dict) and document.get("kind") == "List":
            items = document.get("items")
            if not isinstance(items, list):
                raise ValueError(f"--from-file {path}: document {index}: List without items")
            objects.extend((f"document {index} item {n}", o) for n, o in enumerate(items, 1))
        else:
            objects.append((f"document {index}", document))
    taken = {r.name for r in snapshot.requests}
    added = []
    for where, raw in objects:
        if not isinstance(raw, dict) or raw.get("kind") != "MaintenanceRequest":
            kind = raw.get("kind") if isinstance(raw, dict) else type(raw).__name__
            raise ValueError(
                f"--from-file {path}: {where} is {kind or 'without a kind'}, "
                "not a MaintenanceRequest"
            )
        meta = raw.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            prefix = meta.get("generateName")
            prefix = prefix if isinstance(prefix, str) and prefix else "forecast-"
            number = 1
            while f"{prefix}{number}" in taken:
                number += 1
            name = f"{prefix}{number}"
        elif name in taken:
            raise ValueError(f"--from-file {path}: {where}: a request named {name!r} exists")
        taken.add(name)
        added.append(
            MaintenanceRequest(
                name=name,
                uid=f"forecast-{name}",
                resource_version="1",
                generation=1,
                creation_timestamp=snapshot.now,
                spec=raw.get("spec", {}),
                status=RequestStatus(),
            )
        )
    if not added:
        raise ValueError(f"--from-file {path}: no MaintenanceRequest in it")
    return attrs.evolve(snapshot, requests=(*snapshot.requests, *added))


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
        self.nodes = {n.name: n for n in snapshot.nodes}
        self.ready_nodes = frozenset(n.name for n in snapshot.nodes if n.ready)
        """Nodes do not change readiness in this model."""
        self.pdbs = {b.key: b for b in snapshot.pdbs}
        self.pdbs_in: dict[str, list[str]] = {}
        """Namespace -> its PDBs with a selector (the ones the controller counts)."""
        for budget in snapshot.pdbs:
            if budget.selector is not None:
                self.pdbs_in.setdefault(budget.namespace, []).append(budget.key)
        self.selected_by: dict[str, tuple[str, ...]] = {}
        self.counts: dict[str, list[int]] = {
            key: [0, 0] for pdb in self.pdbs_in.values() for key in pdb
        }
        """PDB -> [pods selected, of them healthy], kept up to date pod by pod."""
        self.dirty: set[str] = set(self.counts)
        """PDBs whose counts changed since the last recount (at first: all of them, as
        the disruption controller's own first sync)."""
        self.pods: dict[str, Pod] = {}
        self.on_node: dict[str, set[str]] = {}
        self.free: list[tuple[int, str]] = []
        """Schedulable nodes by (pods on them, name), lazily updated: see _schedule."""
        for node in self.nodes.values():
            self._offer(node.name)
        for pod in snapshot.pods:
            self._put(pod)
        self.attachments = {v.name: v for v in snapshot.volume_attachments}
        self.requests = {r.name: r for r in snapshot.requests}
        self.limits = {m.name: m for m in snapshot.limits}
        self.rest = snapshot
        self.events: list[tuple[float, int, str, str]] = []
        self.sequence = 0
        self.approved: dict[str, datetime] = {}
        self.finished: dict[str, datetime] = {}
        self.last: dict[str, tuple[str, str, str]] = {}
        self.held: Counter[str] = Counter()
        self.in_use: list[tuple[datetime, dict[str, int]]] = []
        self.peaks: dict[str, tuple[int, int]] = {}
        self.spawned = 0
        self.stuck: set[str] = set()
        self.active_by_zone: list[tuple[datetime, dict[str, int]]] = []
        self.windows_closed: list[tuple[datetime, tuple[str, ...]]] = []
        for request in self.requests.values():
            if request.status.approved_at is not None:
                self.approved[request.name] = request.status.approved_at
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
            self._recount_budgets()
            before = self.snapshot()
            with collector_paused():
                # The plan's objects die by reference counting; the collector would
                # walk the whole model cluster for nothing (see runner.memory).
                result = make_plan(before)
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
            finished=self._done(),
            stuck=tuple(sorted(self.stuck)),
            active_by_zone=tuple(self.active_by_zone),
            windows_closed=tuple(self.windows_closed),
        )

    def _done(self) -> bool:
        """Every request finished, or waiting for something the model never does."""
        open_requests = {r.name for r in self.requests.values() if r.status.state not in TERMINAL}
        return open_requests <= self.stuck and not any(
            kind.startswith("actor") and key in open_requests for _, _, kind, key in self.events
        )

    def snapshot(self) -> Snapshot:
        return attrs.evolve(
            self.rest,
            now=self.now,
            nodes=tuple(self.nodes.values()),
            pods=tuple(self.pods.values()),
            pdbs=tuple(self.pdbs.values()),
            volume_attachments=tuple(self.attachments.values()),
            requests=tuple(self.requests.values()),
            limits=tuple(self.limits.values()),
        )

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
            if explanation.reason in STUCK:
                self.stuck.add(explanation.request)
            elif self.stuck:
                self.stuck.discard(explanation.request)
        zones: Counter[str] = Counter()
        for explanation in result.explanations:
            if explanation.state in ACTIVE and explanation.target.startswith("node/"):
                node = self.nodes.get(explanation.target.removeprefix("node/"))
                labels = node.labels if node is not None else {}
                zones[labels.get(ZONE_LABEL) or labels.get("zone") or "-"] += 1
        self.active_by_zone.append((self.now, dict(zones)))
        self.windows_closed.append(
            (self.now, tuple(r.name for r in result.limits if r.windows and not r.window_open))
        )
        uses = {}
        for report in result.limits:
            if report.valid:
                uses[report.name] = report.in_use
                if report.in_use > self.peaks.get(report.name, (-1, 0))[0]:
                    self.peaks[report.name] = (report.in_use, report.allowed)
        self.in_use.append((self.now, uses))

    def _apply(self, result: Plan) -> None:
        for decision in result.decisions:
            match decision:
                case UpdateRequestStatus():
                    self._status(decision)
                case Cordon():
                    node = self.nodes[decision.node]
                    self.nodes[node.name] = attrs.evolve(
                        node,
                        unschedulable=True,
                        annotations={**node.annotations, CORDONED_BY: decision.request},
                    )
                case Uncordon():
                    node = self.nodes[decision.node]
                    annotations = {k: v for k, v in node.annotations.items() if k != CORDONED_BY}
                    self.nodes[node.name] = attrs.evolve(
                        node, unschedulable=False, annotations=annotations
                    )
                    self._offer(node.name)
                case Evict():
                    self._evict(decision)
                case DeleteRequest():
                    self.requests.pop(decision.request, None)
                case UpdateLimitStatus():
                    self.limits[decision.limit] = attrs.evolve(
                        self.limits[decision.limit], status=decision.status
                    )
                case _:
                    assert_never(decision)

    def _status(self, decision: UpdateRequestStatus) -> None:
        request = self.requests.get(decision.request)
        if request is None:
            return
        # What the API server stores (spelled out: attrs.evolve is the slowest part
        # of applying a pass that rewrites thousands of waiting requests' messages).
        self.requests[request.name] = MaintenanceRequest(
            request.name,
            request.uid,
            request.resource_version,
            request.generation,
            request.creation_timestamp,
            request.spec,
            decision.status,
        )
        state = decision.status.state
        if state is RequestState.APPROVED and request.name not in self.approved:
            self.approved[request.name] = self.now
            self._at(self.model.actor_start.draw(self.rng), "actor-start", request.name)
        if state in TERMINAL and request.name not in self.finished:
            self.finished[request.name] = self.now

    def _evict(self, decision: Evict) -> None:
        key = f"{decision.namespace}/{decision.pod}"
        pod = self.pods.get(key)
        if pod is None or pod.terminating:
            return
        self._put(attrs.evolve(pod, deletion_timestamp=self.now))
        if decision.pdb is not None and decision.pdb in self.pdbs:
            budget = self.pdbs[decision.pdb]
            self.pdbs[decision.pdb] = attrs.evolve(
                budget, disruptions_allowed=max(budget.disruptions_allowed - 1, 0)
            )
        grace = decision.grace_period_seconds
        if grace is None:
            grace = pod.termination_grace_period_seconds
        self._at(self.model.default_grace if grace is None else grace, "pod-gone", key)

    # --- what happens between passes --------------------------------------------------

    def _declare(self, name: str, state: ActorState) -> None:
        request = self.requests.get(name)
        if request is None:
            return
        self.requests[name] = attrs.evolve(
            request,
            spec={**request.spec, "state": state.value},
            generation=request.generation + 1,
        )

    def _on_actor_start(self, name: str, _moment: datetime) -> None:
        request = self.requests.get(name)
        if request is None or request.status.state is not RequestState.APPROVED:
            return
        self._declare(name, ActorState.IN_PROGRESS)
        self._at(self.model.actor_duration.draw(self.rng), "actor-finish", name)

    def _on_actor_finish(self, name: str, _moment: datetime) -> None:
        self._declare(name, ActorState.COMPLETED)

    def _on_pod_gone(self, key: str, _moment: datetime) -> None:
        pod = self._drop(key)
        if pod is None:
            return
        if pod.owner_kind is not None and pod.owner_kind != "DaemonSet":
            home = self._schedule(pod)
            if home is not None:
                self.spawned += 1
                name = f"{pod.name}-r{self.spawned}"
                self._put(
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
        left = (self.pods[k] for k in self.on_node.get(pod.node, ()))
        if not any(not p.terminal for p in left):
            for attachment in self.attachments.values():
                if attachment.node == pod.node and attachment.attached:
                    self._at(self.model.volume_detach, "detach", attachment.name)

    def _on_pod_ready(self, key: str, _moment: datetime) -> None:
        pod = self.pods.get(key)
        if pod is not None:
            self._put(attrs.evolve(pod, ready=True))

    def _on_detach(self, name: str, _moment: datetime) -> None:
        attachment = self.attachments.get(name)
        if attachment is not None:
            self.attachments[name] = attrs.evolve(attachment, attached=False)

    def _put(self, pod: Pod) -> None:
        """Add or replace a pod, keeping the indexes by node and namespace and the PDB
        counts."""
        key = pod.key
        old = self.pods.get(key)
        self.pods[key] = pod
        if old is not None:
            self._count(old, -1)
        self._count(pod, +1)
        if old is None or old.node != pod.node:
            if old is not None:
                self.on_node[old.node].discard(key)
                self._offer(old.node)
            self.on_node.setdefault(pod.node, set()).add(key)
            self._offer(pod.node)

    def _drop(self, key: str) -> Pod | None:
        pod = self.pods.pop(key, None)
        if pod is not None:
            self._count(pod, -1)
            self.on_node[pod.node].discard(key)
            self._offer(pod.node)
        return pod

    def _count(self, pod: Pod, sign: int) -> None:
        """Add (or take back) what a pod counts for in the PDBs that select it, as the
        disruption controller counts: selected unless terminal; healthy if also Ready,
        not terminating and on a Ready node."""
        if pod.terminal:
            return
        budgets = self.pdbs_in.get(pod.namespace)
        if not budgets:
            return
        healthy = pod.ready and not pod.terminating and pod.node in self.ready_nodes
        for pdb in self._selecting(pod, budgets):
            counts = self.counts[pdb]
            counts[0] += sign
            if healthy:
                counts[1] += sign
            self.dirty.add(pdb)

    def _load(self, node: str) -> int:
        return len(self.on_node.get(node, ()))

    def _offer(self, name: str) -> None:
        """Record a schedulable node's current load in the heap (older entries for it
        go stale and are skipped when they surface)."""
        node = self.nodes.get(name)
        if node is not None and node.ready and not node.unschedulable:
            heapq.heappush(self.free, (self._load(name), name))

    def _schedule(self, pod: Pod) -> str | None:
        """The schedulable Ready node with the fewest pods (then by name), not the pod's
        own: what a spreading scheduler does, found in the lazily updated heap."""
        aside = None
        chosen = None
        while self.free:
            load, name = self.free[0]
            node = self.nodes[name]
            if load != self._load(name) or not node.ready or node.unschedulable:
                heapq.heappop(self.free)  # stale
            elif name == pod.node:
                aside = heapq.heappop(self.free)
            else:
                chosen = name
                break
        if aside is not None:
            heapq.heappush(self.free, aside)
        return chosen

    def _recount_budgets(self) -> None:
        """The disruption controller: the status of every PDB whose pods changed since
        the last pass."""
        for key in self.dirty:
            pdb = self.pdbs[key]
            selected, healthy = self.counts[key]
            self.pdbs[key] = attrs.evolve(
                pdb,
                current_healthy=healthy,
                expected_pods=selected,
                disruptions_allowed=max(healthy - pdb.desired_healthy, 0),
                observed_generation=pdb.generation,
            )
        self.dirty.clear()

    def _selecting(self, pod: Pod, budgets: list[str]) -> tuple[str, ...]:
        """The PDBs (of `budgets`, the namespace's) that select the pod: worked out once
        per pod, since neither labels nor selectors change in the model."""
        chosen = self.selected_by.get(pod.key)
        if chosen is None:
            selectors = ((key, self.pdbs[key].selector) for key in budgets)
            chosen = self.selected_by[pod.key] = tuple(
                key for key, chooses in selectors if chooses and chooses.matches(pod.labels)
            )
        return chosen


def forecast(snapshot: Snapshot, model: Model, *, seed: int = 0) -> Forecast:
    return Simulation(snapshot, model, seed=seed).run()


def _duration_text(seconds: float) -> str:
    seconds = round(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    text = "".join(parts)
    return text + (f"{secs}s" if secs or not text else "")


def summary_json(result: Forecast) -> dict[str, Any]:
    return {
        "kind": "Forecast",
        "start": timestamp(result.start),
        "end": timestamp(result.end),
        "finished": result.finished,
        "makespanSeconds": result.makespan,
        "passes": result.passes,
        "stuck": list(result.stuck),
        "peaks": {k: {"inUse": v[0], "allowed": v[1]} for k, v in result.peaks.items()},
        "bottlenecks": [{"cause": c, "requestSeconds": s} for c, s in result.bottlenecks],
        "requests": [
            {
                "name": r.name,
                "target": r.target,
                "approvedAt": timestamp(r.approved_at) if r.approved_at else None,
                "finishedAt": timestamp(r.finished_at) if r.finished_at else None,
                "state": r.state,
                "reason": r.reason,
            }
            for r in result.requests
        ],
    }


SHOWN_REQUESTS = 20


def _request_rows(result: Forecast) -> list[str]:
    """When each request is approved and finished, from the start, in finishing order
    (the first SHOWN_REQUESTS; -o json has them all)."""

    def after(instant: datetime | None) -> str:
        if instant is None:
            return "-"
        if instant < result.start:
            return "before"
        return f"+{_duration_text((instant - result.start).total_seconds())}"

    never = datetime.max.replace(tzinfo=result.start.tzinfo)
    ordered = sorted(
        result.requests,
        key=lambda r: (r.finished_at or never, r.approved_at or never, r.name),
    )
    rows = [("REQUEST", "TARGET", "APPROVED", "FINISHED", "STATE", "REASON")]
    rows += [
        (r.name, r.target, after(r.approved_at), after(r.finished_at), r.state, r.reason)
        for r in ordered[:SHOWN_REQUESTS]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    title = "Requests, in finishing order"
    if len(ordered) > SHOWN_REQUESTS:
        title += f" (the first {SHOWN_REQUESTS} of {len(ordered)}; -o json lists all)"
    return [f"{title}:", *lines]


def summary_text(result: Forecast, model: Model) -> str:
    states = Counter(r.state for r in result.requests)
    lines = [
        f"Forecast from {timestamp(result.start)}: a pass every {model.period:g} s, "
        f"actors start after {model.actor_start} and work {model.actor_duration}",
        f"{len(result.requests)} requests: "
        + ", ".join(f"{n} {s}" for s, n in sorted(states.items())),
        (
            f"Makespan {_duration_text(result.makespan)} "
            f"(all finished at {timestamp(result.end)}, {result.passes} passes)"
            if result.finished
            else f"NOT finished after {_duration_text(result.makespan)} ({result.passes} passes)"
        ),
        *(
            [f"Never finish without help ({len(result.stuck)}): {', '.join(result.stuck)}"]
            if result.stuck
            else []
        ),
        "",
        *_request_rows(result),
        "",
        "Peak concurrency:",
        *(f"  {name}: {used} of {allowed}" for name, (used, allowed) in result.peaks.items()),
        "",
        "Held back by (request-time):",
        *(f"  {cause}: {_duration_text(held)}" for cause, held in result.bottlenecks[:10]),
    ]
    if not result.bottlenecks:
        lines.append("  nothing")
    return "\n".join(lines) + "\n"


@attrs.frozen
class Change:
    limit: str
    field: str
    value: Any

    def __str__(self) -> str:
        return f"{self.limit}.{self.field}={json.dumps(self.value)}"


def parse_changes(text: str) -> tuple[Change, ...]:
    """'node.limit=10,zone-a.maxConcurrent=2' -> changes (values read as JSON when they
    parse, else as strings)."""
    changes = []
    for part in text.split(","):
        left, equals, raw = part.partition("=")
        limit, dot, field = left.strip().rpartition(".")
        if not equals or not dot or not limit or not field:
            raise ValueError(f"{part.strip()!r} is not LIMIT.FIELD=VALUE (e.g. node.limit=10)")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw.strip()
        changes.append(Change(limit, field, value))
    return tuple(changes)


def changed(snapshot: Snapshot, changes: Iterable[Change]) -> Snapshot:
    """The snapshot with the limits' specs changed; a limit that does not exist is an
    error (a typo would otherwise forecast nothing new)."""
    limits = {m.name: m for m in snapshot.limits}
    for change in changes:
        if change.limit not in limits:
            raise ValueError(
                f"--set {change}: no limit named {change.limit!r} "
                f"(limits: {', '.join(sorted(limits)) or 'none'})"
            )
        limit = limits[change.limit]
        spec = dict(limit.spec) if isinstance(limit.spec, dict) else {}
        spec[change.field] = change.value
        limits[change.limit] = attrs.evolve(limit, spec=spec, generation=limit.generation + 1)
    return attrs.evolve(snapshot, limits=tuple(limits.values()))


def what_if_text(baseline: Forecast, variants: list[tuple[str, Forecast]]) -> str:
    rows = [("SCENARIO", "MAKESPAN", "CHANGE", "TOP BOTTLENECK")]

    def top(result: Forecast) -> str:
        return result.bottlenecks[0][0] if result.bottlenecks else "-"

    def span(result: Forecast) -> str:
        text = _duration_text(result.makespan)
        return text if result.finished else f">{text} (unfinished)"

    rows.append(("as is", span(baseline), "", top(baseline)))
    for name, result in variants:
        delta = result.makespan - baseline.makespan
        sign = "-" if delta < 0 else "+"
        rows.append((name, span(result), f"{sign}{_duration_text(abs(delta))}", top(result)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\nWhat if:\n" + "\n".join(lines) + "\n"
