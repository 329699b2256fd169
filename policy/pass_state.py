"""One pass's state: what the snapshot holds, indexed, and what the plan has decided.

Pure. `Index` holds the snapshot's facts arranged for look-up (nodes, pods by node,
PDBs by selector, limits parsed, requests in priority order) and the memos of values
derived from them alone (governing limits, merged behaviour, closed windows, messages).
It never changes a fact. `PassState` holds the rule state a plan builds up as it goes:
the ledger of limit slots and PDB budgets, node state as our decisions leave it, who
holds each target, where each request ends, and the decision log. The phase modules
(admission, preparation, progress, finishing, cordons, reports) read the index (filling
its memos) and change only the pass state.
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs

from policy.blackouts import blacked_out
from policy.decisions import Admission, Decision, UpdateRequestStatus
from policy.disruption import BudgetIndex
from policy.endings import Withdrawn
from policy.explain import (
    EVENTFUL_REASONS,
    BlackedOut,
    Cause,
    Explanation,
    Paused,
    WindowClosed,
)
from policy.fields import FieldError
from policy.gate import Basis
from policy.gates import Gated, gate_causes
from policy.ledger import Ledger
from policy.lifecycle import Behaviour
from policy.limit_spec import InvalidLimit, LimitSpec, parse_limit_spec
from policy.model import (
    CORDONED_BY,
    CORDONED_BY_UID,
    MaintenanceRequest,
    Node,
    Pod,
    RequestState,
    RequestStatus,
    Snapshot,
    TargetType,
    VolumeAttachment,
    claimed_uid,
)
from policy.validation import RequestSpec, Target, parse_request_spec
from policy.windows import next_opening
from policy.zones import zone

S = RequestState
_POD_ORDER = operator.attrgetter("namespace", "name")
_ATTACHMENT_ORDER = operator.attrgetter("name")


def order_key(
    request: MaintenanceRequest, spec: RequestSpec | FieldError | None = None
) -> tuple[int, float, float, str]:
    """Priority order: higher priority first; within one, requests with a deadline
    first, the earliest first (DESIGN §7); then older, then by name. `spec`: the
    request's spec parsed, when the caller has it."""
    priority = request.spec.get("priority") if isinstance(request.spec, dict) else None
    if not isinstance(priority, int) or isinstance(priority, bool):
        priority = 0
    if spec is None:
        spec = parse_request_spec(request.spec)
    deadline = spec.deadline if isinstance(spec, RequestSpec) else None
    created = request.creation_timestamp
    return (
        -priority,
        deadline.timestamp() if deadline else math.inf,
        created.timestamp() if created else math.inf,
        request.name,
    )


@attrs.define
class Outcome:
    """Where one request ends up in this plan, and why (the first cause is the reason)."""

    status: RequestStatus
    causes: tuple[Cause, ...]


def withdrawn(status: RequestStatus, how: str, *, now: datetime) -> Outcome:
    """The actor gave the request up (DESIGN §3 Withdrawn): Completed, reason Withdrawn."""
    return Outcome(
        attrs.evolve(status, state=S.COMPLETED, completed_at=now),
        (Withdrawn(how),),
    )


class Index:
    """The snapshot's facts, indexed, with memos of what derives from them alone."""

    def __init__(
        self, snapshot: Snapshot, pods_by_node: Mapping[str, Sequence[Pod]] | None = None
    ) -> None:
        self.snapshot = snapshot
        self.now = snapshot.now
        # One pass over the nodes for every per-node table (large clusters: memory-bound).
        self.nodes: dict[str, Node] = {}
        self.unschedulable: dict[str, bool] = {}
        self.cordon_owner: dict[str, str] = {}
        """Who our annotation names, per node, as the snapshot has it."""
        self.cordon_uid: dict[str, str] = {}
        """The uid our annotation names beside the request, per node, where it has one."""
        for node in snapshot.nodes:
            self.nodes[node.name] = node
            self.unschedulable[node.name] = node.unschedulable
            owner = node.annotations.get(CORDONED_BY)
            if owner:
                self.cordon_owner[node.name] = owner
                uid = claimed_uid(owner, node.annotations.get(CORDONED_BY_UID))
                if uid:
                    self.cordon_uid[node.name] = uid
        self.workloads = {(w.kind, w.key): w for w in snapshot.workloads}
        # Grouped here (unless the caller keeps them grouped: see plan), sorted when
        # first asked for (see pods_on): a pass looks at the pods of the few nodes it
        # prepares, not at every node's.
        self._pods_by_node: Mapping[str, Sequence[Pod]]
        if pods_by_node is None:
            grouped: dict[str, list[Pod]] = defaultdict(list)
            for pod in snapshot.pods:
                grouped[pod.node].append(pod)
            self._pods_by_node = grouped
        else:
            self._pods_by_node = pods_by_node
        self._pods_sorted: dict[str, list[Pod]] = {}
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
        self.limits_by_name = {limit.name: limit for limit in snapshot.limits}
        self.gate_readings = {(g.limit, g.gate): g for g in snapshot.gates}
        self._gated: dict[str, tuple[Gated, ...]] = {}

        # Each spec parsed once (a forecast plans 5,000 requests hundreds of times).
        self.specs: dict[str, RequestSpec | FieldError] = {
            r.name: parse_request_spec(r.spec) for r in snapshot.requests
        }
        self.requests = sorted(snapshot.requests, key=lambda r: order_key(r, self.specs[r.name]))
        self.by_name = {request.name: request for request in self.requests}

        # Memos: each a pure function of the snapshot, kept only for speed.
        self._governing: dict[Target, tuple[list[LimitSpec], list[InvalidLimit]]] = {}
        self._behaviour: dict[Target, Behaviour] = {}
        self._behaviour_by_limits: dict[tuple[str, ...], Behaviour] = {}
        self._shown: dict[str, str] = {}
        self._messages: dict[int, tuple[Cause, str]] = {}
        self.window_closed: dict[str, WindowClosed | None] = {}
        """Limit name -> why its windows are closed now (None: open); see admission."""

    def labels(self, target: Target) -> Mapping[str, str] | None:
        """The target's labels, or None when it does not exist."""
        if target.type is TargetType.NODE:
            node = self.nodes.get(target.name)
            return None if node is None else node.labels
        workload = self.workloads.get((target.type, target.name))
        return None if workload is None else workload.labels

    def pods_on(self, node: str) -> list[Pod]:
        """The node's pods in namespace/name order."""
        pods = self._pods_sorted.get(node)
        if pods is None:
            pods = self._pods_sorted[node] = sorted(
                self._pods_by_node.get(node, ()), key=_POD_ORDER
            )
        return pods

    def governing(self, target: Target) -> tuple[list[LimitSpec], list[InvalidLimit]]:
        """The valid and the invalid limits that govern `target`."""
        cached = self._governing.get(target)
        if cached is None:
            labels = self.labels(target) or {}
            cached = (
                [lim for lim in self.valid_limits if lim.governs(target.type, labels)],
                [lim for lim in self.invalid_limits if lim.governs(target.type, labels)],
            )
            self._governing[target] = cached
        return cached

    def gated(self, limit: LimitSpec) -> tuple[Gated, ...]:
        """Why `limit`'s outside gates hold its admissions now (policy.gates)."""
        if not limit.gates:
            return ()
        cached = self._gated.get(limit.name)
        if cached is None:
            cached = self._gated[limit.name] = gate_causes(limit, self.gate_readings, self.now)
        return cached

    def blackout(self, limit: LimitSpec) -> BlackedOut | None:
        """Why `limit` admits nothing now because of a blackout, or None."""
        if not limit.blackouts:
            return None
        found = blacked_out(limit.blackouts, self.now)
        if found is None:
            return None
        blackout, until = found
        local = until.astimezone(zone(blackout.time_zone))
        return BlackedOut(
            limit=limit.name,
            blackout=blackout.describe(),
            until=until,
            until_local=f"{local.strftime('%a %Y-%m-%d %H:%M')} {blackout.time_zone}",
        )

    def closed_window(self, limit: LimitSpec) -> WindowClosed | None:
        """Why `limit` admits and approves nothing now because of its windows, or None
        when one is open (or it has none). Judged once per limit and pass."""
        if not limit.windows:
            return None
        if limit.name not in self.window_closed:
            opens = next_opening(limit.windows, self.now)
            self.window_closed[limit.name] = (
                None if opens <= self.now else _window_cause(limit, opens, now=self.now)
            )
        return self.window_closed[limit.name]

    def behaviour(self, target: Target | None) -> Behaviour:
        """What the valid limits governing `target` ask, merged (policy.lifecycle)."""
        if target is None:
            return Behaviour()
        behaviour = self._behaviour.get(target)
        if behaviour is None:
            behaviour = self.behaviour_of(self.governing(target)[0])
            self._behaviour[target] = behaviour
        return behaviour

    def behaviour_of(self, limits: list[LimitSpec]) -> Behaviour:
        """The behaviour of a set of limits, computed once per set (limit names are
        unique, so they identify it)."""
        key = tuple(limit.name for limit in limits)
        behaviour = self._behaviour_by_limits.get(key)
        if behaviour is None:
            behaviour = self._behaviour_by_limits[key] = Behaviour.of(limits)
        return behaviour

    def status_target(self, request: MaintenanceRequest) -> Target | None:
        """The target a request holds: the admitted one from status, else its spec's."""
        if request.status.target:
            target = Target.from_key(request.status.target)
            if target is not None:
                return target
        spec = self.specs[request.name]
        return spec.target if isinstance(spec, RequestSpec) else None

    def shown_target(self, request: MaintenanceRequest) -> str:
        """`type/name` for decisions and explanations, even when the spec is invalid."""
        shown = self._shown.get(request.name)
        if shown is None:
            target = self.status_target(request)
            if target is not None:
                shown = target.key
            elif isinstance(request.spec, dict):
                shown = f"{request.spec.get('type', '?')}/{request.spec.get('name', '?')}"
            else:
                shown = "?"
            self._shown[request.name] = shown
        return shown

    def message(self, cause: Cause) -> str:
        """A cause's message, made once for causes many requests share (a full limit's)."""
        cached = self._messages.get(id(cause))
        if cached is None:
            # The cause is kept alive with its message, so its id is not reused.
            cached = self._messages[id(cause)] = (cause, cause.message())
        return cached[1]


@attrs.frozen
class Opening:
    """Who uses what when the pass starts (made by `policy.usage.open_ledger`)."""

    ledger: Ledger
    unavailable: dict[str, dict[str, str]]
    holder: dict[str, str]
    soaking: dict[str, Target]
    """Finished requests whose target still soaks, by name: in use like active ones."""


class PassState:
    """What this plan has decided so far; every phase reads and extends it."""

    def __init__(self, index: Index, opening: Opening) -> None:
        self.index = index
        self.now = index.now
        self.ledger = opening.ledger
        self.unavailable = opening.unavailable
        """Per node limit: the nodes unavailable by its policies at the start."""
        self.holder = opening.holder
        self.soaking = opening.soaking
        """Who holds each target ('type/name' -> request): active requests, then waiting
        requests in queue order."""
        # Node state as our decisions leave it: changed by each cordon and uncordon.
        self.unschedulable = dict(index.unschedulable)
        self.cordon_owner = dict(index.cordon_owner)
        self.cordon_uid = dict(index.cordon_uid)
        self.touched_nodes: set[str] = set()
        self.final_state: dict[str, RequestState] = {}
        self.final_target: dict[str, Target] = {}
        self.decisions: list[Decision] = []
        self.written: dict[str, UpdateRequestStatus] = {}
        """The last status decision per request, so a later write knows what it follows."""
        self.explanations: list[Explanation] = []
        self._at_work: dict[str, set[str]] = {}
        self.admissions: list[Admission] = []
        """Requests this plan admits (policy.admission), in order."""
        self.bases: dict[str, Basis] = {}
        """What each node approval of this plan relied on (policy.gate)."""
        self.gone_before: dict[str, datetime] = {}
        """Requests whose node this plan found drained with pods still terminating on
        it, NotReady: the instant before which a deletion counts as gone
        (policy.disruption.gone_before), for the runner's confirming read."""

    def held(self, limit: LimitSpec) -> tuple[Cause, ...]:
        """What holds every admission under `limit` now, by an operator's control or
        an outside fact (DESIGN §7): its pause, a blackout, its failure budget
        exceeded, its gates. Admission and the limit's report both say it from here."""
        found: list[Cause] = [Paused(limit.name)] if limit.paused else []
        blackout = self.index.blackout(limit)
        if blackout is not None:
            found.append(blackout)
        failure = self.ledger.usage[limit.name].failure
        if failure is not None:
            found.append(failure)
        found.extend(self.index.gated(limit))
        return tuple(found)

    def at_work(self, limit: LimitSpec) -> set[str]:
        """The targets of `limit` whose maintenance may be under way: Approved or
        InProgress when the pass started, still soaking, unavailable by its policies,
        and those approved in this pass (the caller adds them). What an approval must
        find room beside; Preparing requests do not hold each other back."""
        working = self._at_work.get(limit.name)
        if working is None:
            working = set(self.unavailable.get(limit.name, {}))
            working.update(
                target.name
                for target in self.soaking.values()
                if limit in self.index.governing(target)[0]
            )
            for request in self.index.requests:
                if request.status.state not in (RequestState.APPROVED, RequestState.IN_PROGRESS):
                    continue
                target = self.index.status_target(request)
                if target is not None and limit in self.index.governing(target)[0]:
                    working.add(target.name)
            self._at_work[limit.name] = working
        return working

    def owns(self, node: str, request: str) -> bool:
        """Does our annotation on `node` name this very request: its name, and its uid
        where the annotation has one (a request filed again under a deleted one's name
        is another request)?"""
        if self.cordon_owner.get(node) != request:
            return False
        uid = self.cordon_uid.get(node)
        listed = self.index.by_name.get(request)
        return not uid or listed is None or not listed.uid or listed.uid == uid

    def owner_active_on(self, node: str) -> bool:
        """Is the request our annotation on `node` names (that very one) active?"""
        owner = self.cordon_owner.get(node)
        return owner is not None and self.owns(node, owner) and self.owner_active(owner)

    def owner_active(self, owner: str) -> bool:
        """Is the request named in a cordoned-by annotation active, as this plan leaves it?"""
        state = self.final_state.get(owner)
        if state is None and owner in self.index.by_name:
            state = self.index.by_name[owner].status.state
        return state is not None and state.active

    def write_status(self, request: MaintenanceRequest, status: RequestStatus) -> None:
        last = self.written.get(request.name)
        if last is not None and last.status == status:
            return
        previous = last.status.state if last is not None else request.status.state
        approving = status.state is RequestState.APPROVED and previous is not status.state
        decision = UpdateRequestStatus(
            request=request.name,
            uid=request.uid,
            previous=previous,
            status=status,
            target=self.index.shown_target(request),
            basis=self.bases.get(request.name) if approving else None,
            gone_before=self.gone_before.get(request.name),
            announce=status.reason in EVENTFUL_REASONS and status.reason != request.status.reason,
        )
        self.decisions.append(decision)
        self.written[request.name] = decision

    def explain(
        self, request: MaintenanceRequest, state: RequestState, causes: tuple[Cause, ...]
    ) -> None:
        self.explanations.append(
            Explanation(
                request=request.name,
                target=self.index.shown_target(request),
                previous_state=request.status.state,
                state=state,
                causes=causes,
            )
        )


def _window_cause(limit: LimitSpec, opens: datetime, *, now: datetime) -> WindowClosed:
    first = min(limit.windows, key=lambda w: w.next_opening(now))
    local = opens.astimezone(first.zone)
    return WindowClosed(
        limit=limit.name,
        windows=tuple(w.describe() for w in limit.windows),
        opens_at=opens,
        opens_local=f"{local.strftime('%a %Y-%m-%d %H:%M')} {first.time_zone}",
    )
