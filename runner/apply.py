"""Turn a Plan into API calls: the only place where decisions touch the cluster.

Every write first checks whether it is already done (a second pass on an unchanged
cluster writes nothing) and is guarded against concurrent change: request status
writes carry the resourceVersion the plan was made from (409 means someone else moved
first: that request's remaining decisions are skipped, the next pass sees the new
state); cordons and uncordons re-read the node and patch with its resourceVersion;
evictions carry the pod's uid. Decisions of one request run in plan order and stop at
the first failure. Each applied decision becomes one JSON log line; transitions and
node changes also become Kubernetes Events.

Writes go out on up to `writers` connections at once, in this order:

1. the commit point (every limit an admission needs), alone, before anything else;
2. the lanes, side by side: a lane is every decision that touches one request or one
   node (a request's status, its cordon, its evictions, another request's uncordon of
   the same node), in plan order, one at a time. The plan never counts on one lane's
   write for another's: it frees a limit's slot only when a pass reads the node
   uncordoned, and each approval's gate reads fresh what another lane may change
   (the PDBs, after the evictions it counts have landed: `_gate`);
3. the limits' status, after every lane, in plan order;
4. the removal of commits this pass did not write, alone.
"""

from __future__ import annotations

import contextlib
import enum
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, assert_never

import attrs

from policy.decisions import (
    Admission,
    Cordon,
    Decision,
    DeleteRequest,
    Evict,
    Plan,
    SetNodeConditions,
    Uncordon,
    UpdateLimitStatus,
    UpdateRequestStatus,
)
from policy.disruption import LEFT_BEHIND, disposition, goes_down_in_place
from policy.gate import Basis, Refusal, recheck
from policy.limit_spec import LimitSpec, parse_limit_spec
from policy.model import (
    CORDONED_BY,
    CORDONED_BY_UID,
    LimitStatus,
    MaintenanceLimit,
    RequestState,
    Snapshot,
    claim_uid,
    claimed_uid,
)
from policy.snapshot_format import limit_status_json, request_status_json
from runner.convert import limit_of
from runner.fresh import FreshReads
from runner.kube import Kube, KubeError, Unreachable
from runner.node_status import publish
from runner.read import GROUP_PATH
from runner.signals import Signals, never

MERGE = "application/merge-patch+json"
NAMESPACE_TERMINATING = "NamespaceTerminating"
"""The cause the API server gives for a write refused in a namespace being deleted."""
FIELD_MANAGER = "repairman-runner"
"""Our name in the nodes' managedFields: who last set `spec.unschedulable` tells our
cordon from one an administrator made again under our annotation."""
ACTIVE_STATES = frozenset(s.value for s in RequestState if s.active)
ADMISSION_WRITE_TIMEOUT = 10.0
"""Seconds an admission's status write waits for its answer (see COMMIT_WRITE_WINDOW)."""
COMMIT_WRITE_WINDOW = 60.0
"""Seconds past its plan's instant (the API server's clock) after which a pass writes no
admission it committed: its commit may be near the end of its life for the other
runners (policy.commits.COMMIT_EXPIRY_SECONDS, three times this), and an admission
written after its commit expired could share a slot another pass gave away."""
EVENT_NAMESPACE = "default"  # where events about cluster-scoped objects live
EXPLAIN_WITHIN = 20.0
"""Seconds into its writes after which a pass leaves queued requests' explanations
(Pending, and Pending before) to the next pass: 5,000 requests filed at once would
otherwise keep a pass writing "why are you waiting" long past the CronJob's minute,
while admissions, drains and approvals go first (lanes with an admission lead)."""
WRITERS = 8
"""Requests in flight at once by default (`runner --writers`): the connections."""
LANE_THREADS = 64
"""Lanes under way at once. More than the connections: a lane whose gate waits for a
shared read of every pod (runner.fresh.QuorumPods) holds no connection, and the more
gates wait for one read, the fewer reads."""


class Result(enum.StrEnum):
    """What became of one decision (logged, counted in metrics)."""

    DONE = "done"
    ALREADY_DONE = "already-done"
    SKIPPED = "skipped"
    """Not attempted: not committed, or an earlier decision of the request failed."""
    BLOCKED = "blocked"
    """Refused for now (a PDB); the request's next decisions still run."""
    DEFERRED = "deferred"
    """The cluster moved under us (a concurrent write, pods still there); the request's
    next decisions wait for the next pass, and the pass still succeeds."""
    FAILED = "failed"
    """An error, which fails the pass."""


@attrs.frozen
class Outcome:
    decision: Decision
    result: Result
    detail: str = ""
    refusals: tuple[Refusal, ...] = ()
    """Why the approval gate refused it (typed: match on these, never on `detail`)."""
    contended: bool = False
    """Deferred because the object kept changing under our guarded writes."""


def _chain(decision: Decision) -> str:
    match decision:
        case UpdateLimitStatus():
            return f"limit/{decision.limit}"
        case UpdateRequestStatus() | Cordon() | Uncordon() | Evict() | DeleteRequest():
            return decision.request
        case SetNodeConditions():
            # After its request's status write, and skipped when that fails; a node no
            # request holds any more has a chain of its own.
            return decision.request or f"node/{decision.node}"
        case _:
            assert_never(decision)


def _lanes(decisions: Sequence[Decision]) -> list[list[int]]:
    """The positions of every decision but the limits' status, grouped into lanes: two
    decisions that share a request (its chain) or a node are in one lane, which keeps
    plan order. Lanes are ordered by their first decision."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    keys: dict[int, str] = {}
    for position, decision in enumerate(decisions):
        if isinstance(decision, UpdateLimitStatus):
            continue
        chain = _chain(decision)
        keys[position] = chain
        node = _node_of(decision)
        if node is not None:
            parent[root(f"node/{node}")] = root(chain)
    lanes: dict[str, list[int]] = {}
    for position, chain in keys.items():
        lanes.setdefault(root(chain), []).append(position)
    return list(lanes.values())


def _admits(decision: Decision, admitting: Mapping[str, Admission]) -> bool:
    return isinstance(decision, UpdateRequestStatus) and decision.request in admitting


def _explains_a_wait(decision: Decision, admitting: Mapping[str, Admission]) -> bool:
    """A queued request's status that only says why it waits: it stays Pending (or
    becomes Pending for the first time), is not admitted, and announces nothing."""
    return (
        isinstance(decision, UpdateRequestStatus)
        and decision.status.state is RequestState.PENDING
        and decision.previous in (None, RequestState.PENDING)
        and not decision.announce
        and decision.request not in admitting
    )


def _node_of(decision: Decision) -> str | None:
    match decision:
        case Cordon() | Uncordon() | Evict() | SetNodeConditions():
            return decision.node
        case UpdateRequestStatus() if decision.target.startswith("node/"):
            return decision.target.removeprefix("node/")
        case _:
            return None


def _cordon_setter(node: dict[str, Any]) -> str | None:
    """Who else owns the node's `spec.unschedulable` in its managedFields (the one who
    last set it with an update, or a co-owner by server-side apply); FIELD_MANAGER when
    we alone do; None when the server records no owner."""
    owners = sorted(
        str(entry.get("manager") or "")
        for entry in node["metadata"].get("managedFields") or []
        if "f:unschedulable" in ((entry.get("fieldsV1") or {}).get("f:spec") or {})
    )
    if not owners:
        return None
    others = [owner for owner in owners if owner != FIELD_MANAGER]
    return ", ".join(others) if others else FIELD_MANAGER


def _limit_type(limit: MaintenanceLimit) -> str | None:
    parsed = parse_limit_spec(limit.name, limit.spec)
    return parsed.type.value if isinstance(parsed, LimitSpec) else None


QUEUED_EVENTS_PER_PASS = 20
"""Events per pass for requests seen for the first time and queued (Pending)."""


def _without(
    status: LimitStatus, requests: Mapping[str, str | None], at: datetime, before: LimitStatus
) -> LimitStatus:
    """`status` without the admissions of `requests` made by the plan of `at`: DESIGN §3
    "An admission that is not written is not held". Left in, an admission never made
    would hold the limit's slot until its commit expired, its rate's slot for the
    whole period (it takes no slot of a rate: not admitted after all), and its minimum
    interval. `requests`: request -> its target node (None: not a node). `before`: the
    limit's status as the pass read it (what the plan changed is told from what was
    there)."""
    gone = {n for n in status.active if n in requests and n not in before.active}
    # A node already unavailable (NotReady, cordoned by someone) was in use before.
    counted = [n for n in gone if requests[n] is None or requests[n] not in status.unavailable]
    commits = {n: t for n, t in status.commits.items() if not (n in requests and t == at)}
    last = status.last_admission_at
    if last == at and at not in commits.values():
        last = before.last_admission_at
    return attrs.evolve(
        status,
        active=tuple(n for n in status.active if n not in gone),
        in_use=None if status.in_use is None else max(0, status.in_use - len(counted)),
        commits=commits,
        admissions=tuple((n, t) for n, t in status.admissions if not (n in requests and t == at)),
        at_work=tuple(
            (r, node)
            for r, node in status.at_work
            if r not in requests or (r, node) in before.at_work
        ),
        last_admission_at=last,
    )


class Applier:
    def __init__(
        self,
        kube: Kube,
        snapshot: Snapshot,
        *,
        policy_version: str,
        eviction_version: str = "policy/v1beta1",
        signals: Signals = never,
        writers: int = WRITERS,
        stop_at: float | None = None,
    ) -> None:
        self.kube = kube
        self.stop_at = stop_at
        """Our monotonic clock's instant after which no decision is begun (the run's
        deadline: `runner --until-stable --deadline`); None: none."""
        self.writers = max(1, writers)
        self._lock = threading.Lock()
        """Guards what the lanes share: the evictions counted and the events made."""
        self.eviction_version = eviction_version
        self.signals = signals
        self.policy_version = policy_version
        self.request_versions = {r.name: r.resource_version for r in snapshot.requests}
        self.request_uids = {r.name: r.uid for r in snapshot.requests}
        self.limit_versions = {m.name: m.resource_version for m in snapshot.limits}
        self.drained_before = {r.name: r.status.drained_at for r in snapshot.requests}
        self.limits = sorted(snapshot.limits, key=lambda m: m.name)
        self.limit_types = {m.name: _limit_type(m) for m in snapshot.limits}
        self.committed: set[str] = set()
        """Limits written at the commit point of this pass."""
        self.admitting: dict[str, Admission] = {}
        """Admissions committed by this pass, by request."""
        self.planned_at: datetime | None = None
        self.maybe_written: set[str] = set()
        """Requests whose status write failed without saying it did not happen."""
        self.applying_since = time.monotonic()
        self.fresh = FreshReads(kube, policy_version=policy_version)
        self.evicted: Counter[str] = Counter()
        """Evictions made in this pass, per PDB (the approval gate counts them once)."""
        self.queued_events = 0
        """Events made this pass for requests seen for the first time and queued."""
        self.explanations_left = 0
        """Queued requests' explanations left to the next pass (EXPLAIN_WITHIN)."""
        self.events_skipped = 0

    def apply(self, plan: Plan) -> list[Outcome]:
        """Every decision's outcome, in plan order. A SIGTERM or SIGINT meanwhile lets
        the write in flight finish; the decisions after it are skipped."""
        with self.signals.writing():
            return self._apply_all(plan)

    def _apply_all(self, plan: Plan) -> list[Outcome]:
        self.planned_at = plan.now
        self.applying_since = time.monotonic()
        stopped = self._commit_admissions(plan)
        # Admissions the commit point did not commit (too late, past the deadline, a
        # commit refused): the limits' planned status must not name them either.
        uncommitted = {a.request: a.node for a in plan.admissions if a.request in stopped}
        decisions = plan.decisions
        outcomes: list[Outcome | None] = [None] * len(decisions)

        broken: list[BaseException] = []

        def run(lane: list[int]) -> None:
            for position in lane:
                if broken:
                    return  # another lane failed unexpectedly: write nothing more
                try:
                    outcome = self._apply_in_chain(decisions[position], stopped)
                except BaseException as error:  # a bug or an answer we cannot read
                    broken.append(error)
                    return
                outcomes[position] = outcome

        # Lanes with an admission first: its status must be written within the
        # commit's window (COMMIT_WRITE_WINDOW); the others have no such deadline.
        lanes = sorted(
            _lanes(decisions),
            key=lambda lane: not any(_admits(decisions[p], self.admitting) for p in lane),
        )
        if self.writers == 1 or len(lanes) < 2:
            for lane in lanes:
                run(lane)
        else:
            with ThreadPoolExecutor(min(LANE_THREADS, len(lanes))) as pool:
                for done in [pool.submit(run, lane) for lane in lanes]:
                    done.result()
        for position, decision in enumerate(decisions):
            if isinstance(decision, UpdateLimitStatus) and not broken:
                status = self._without(decision, uncommitted, plan.now) if uncommitted else decision
                outcomes[position] = self._apply_in_chain(status, stopped)
        applied = [
            outcome if outcome is not None else Outcome(d, Result.SKIPPED, "the pass failed")
            for d, outcome in zip(decisions, outcomes, strict=True)
        ]
        # Even after an unexpected error: what this pass committed and did not write
        # leaves the limits now, not when it expires.
        applied.extend(self._drop_unwritten_commits(plan, applied))
        if broken:
            raise broken[0]
        return applied

    def _apply_in_chain(self, decision: Decision, stopped: set[str]) -> Outcome:
        """One decision, unless a signal came or its chain already stopped (adding its
        chain to `stopped` when it fails or is deferred). Its lane's thread only
        touches its own chain in `stopped`."""
        chain = _chain(decision)
        signal = self.signals.stop_requested()
        if signal is not None:
            return Outcome(decision, Result.SKIPPED, f"stopped by {signal.name}")
        if self._past_deadline() and not isinstance(decision, UpdateLimitStatus):
            # The limits' status still goes out: it records what the lanes did (at
            # work, finishes), which the failure budget counts on.
            return Outcome(decision, Result.SKIPPED, "past the run's deadline: the next run")
        if (
            _explains_a_wait(decision, self.admitting)
            and time.monotonic() - self.applying_since > EXPLAIN_WITHIN
        ):
            with self._lock:
                self.explanations_left += 1
            return Outcome(
                decision,
                Result.SKIPPED,
                f"a queued request's explanation: the next pass writes it (this pass has "
                f"written for {EXPLAIN_WITHIN:g} s)",
            )
        if chain in stopped:
            return Outcome(decision, Result.SKIPPED, "not committed or an earlier decision failed")
        try:
            outcome = self._apply(decision)
        except KubeError as error:
            outcome = Outcome(decision, Result.FAILED, str(error))
        if outcome.result in (Result.FAILED, Result.DEFERRED) and not isinstance(
            decision, SetNodeConditions
        ):
            # The node's conditions are an announcement: whatever becomes of them, the
            # cordon, evictions and uncordon after them go on (a refused write still
            # fails the pass, after the rest).
            stopped.add(chain)
        return outcome

    def _commit_admissions(self, plan: Plan) -> set[str]:
        """The commit point: before any request is touched, bump the status of every
        limit of each admitted target's type, each write guarded by the resourceVersion
        the plan was read at. Two passes that admit targets of one type at once thus
        collide on every such limit, whichever limits govern their targets (which also
        keeps PDB budgets spent by drain-less admissions in different zones from being
        given twice); the later pass gets 409 and drops all its admissions of that type
        for this pass. Returns the requests to skip."""
        admitted = {a.request: a.target.split("/", 1)[0] for a in plan.admissions}
        if not admitted:
            return set()
        if self._too_late():
            return set(admitted)  # its commit would be old on arrival: the next pass
        if self._past_deadline():
            return set(admitted)
        planned = {d.limit: d for d in plan.decisions if isinstance(d, UpdateLimitStatus)}
        cancelled_types: set[str] = set()
        for limit in self.limits:
            kind = self.limit_types.get(limit.name)
            if kind is None or kind not in admitted.values() or kind in cancelled_types:
                continue
            status = planned[limit.name].status if limit.name in planned else limit.status
            status = attrs.evolve(status, commit=limit.status.commit + 1)
            decision = UpdateLimitStatus(limit=limit.name, uid=limit.uid, status=status)
            if self._limit_status(decision):
                self.committed.add(limit.name)
            else:
                cancelled_types.add(kind)
        # Every admission that reached the commit point, cancelled ones too: a 409 on
        # one limit leaves the entries written to the others, which the end of the pass
        # removes with the rest of what it did not write.
        self.admitting = {a.request: a for a in plan.admissions}
        return {name for name, kind in admitted.items() if kind in cancelled_types}

    def _without(
        self, decision: UpdateLimitStatus, requests: Mapping[str, str | None], at: datetime
    ) -> UpdateLimitStatus:
        """The limit's planned status without the admissions of `requests` its plan
        made (at `at`)."""
        return attrs.evolve(
            decision, status=_without(decision.status, requests, at, self._read(decision.limit))
        )

    def _read(self, limit: str) -> LimitStatus:
        """The limit's status as this pass read it."""
        return next((m.status for m in self.limits if m.name == limit), LimitStatus())

    def _past_deadline(self) -> bool:
        return self.stop_at is not None and time.monotonic() > self.stop_at

    def _too_late(self) -> bool:
        """Past the commit write window of this pass's plan (COMMIT_WRITE_WINDOW), by
        the API server's clock; without one, by our monotonic clock since the apply
        began (which leaves out the read and the planning: a shorter window)."""
        now = self.kube.server_now()
        if now is not None and self.planned_at is not None:
            return (now - self.planned_at).total_seconds() > COMMIT_WRITE_WINDOW
        return time.monotonic() - self.applying_since > COMMIT_WRITE_WINDOW

    def _drop_unwritten_commits(self, plan: Plan, outcomes: list[Outcome]) -> list[Outcome]:
        """DESIGN §3 "An admission that is not written is not held": every admission
        this pass committed but did not write (the gate refused it, a 409 or 404,
        another limit's commit failed, a signal) leaves the limits' status in the same
        pass. Only our own entry (its instant is our plan's) is removed, each write
        guarded by the resourceVersion of a fresh read: another pass that committed the
        same request since keeps its entry."""
        written = {
            o.decision.request
            for o in outcomes
            if isinstance(o.decision, UpdateRequestStatus)
            and o.decision.request in self.admitting
            and o.result in (Result.DONE, Result.ALREADY_DONE)
        }
        unwritten = {name for name in self.admitting if name not in written | self.maybe_written}
        if not unwritten:
            return []
        limits = sorted({limit for name in unwritten for limit in self.admitting[name].limits})
        dropped = []
        for name in limits:
            if name not in self.committed:
                continue
            try:
                outcome = self._drop_commits(name, unwritten, plan.now)
            except KubeError as error:
                outcome = Outcome(
                    UpdateLimitStatus(limit=name, uid="", status=LimitStatus()),
                    Result.FAILED,
                    f"could not remove the unwritten commits of {', '.join(sorted(unwritten))}"
                    f" (they expire by themselves): {error}",
                )
            if outcome is not None:
                dropped.append(outcome)
        return dropped

    def _drop_commits(self, limit: str, requests: set[str], at: datetime) -> Outcome | None:
        # A LIST of the one limit (the runner's role lists limits, it does not get them),
        # from etcd: the entry as it is now, with the resourceVersion to guard the write.
        query = {"fieldSelector": f"metadata.name={limit}"}
        for _ in range(5):
            page = self.kube.request("GET", f"{GROUP_PATH}/maintenancelimits", query=query)
            items = page.get("items") or []
            if not items:
                return None
            current = limit_of(items[0])
            ours = {n for n in requests if current.status.commits.get(n) == at}
            if not ours:
                return None
            nodes = {n: self.admitting[n].node if n in self.admitting else None for n in ours}
            status = _without(current.status, nodes, at, self._read(limit))
            decision = UpdateLimitStatus(limit=limit, uid=current.uid, status=status)
            self.limit_versions[limit] = current.resource_version
            if self._limit_status(decision):
                return Outcome(
                    decision,
                    Result.DONE,
                    f"removed the commits of {', '.join(sorted(ours))}: not written this pass",
                )
        raise KubeError(f"limit {limit} kept changing")

    def _limit_status(self, decision: UpdateLimitStatus) -> bool:
        """Write a limit's status if it is unchanged since the read; False if it was not."""
        path = f"{GROUP_PATH}/maintenancelimits/{decision.limit}/status"
        body = {
            "metadata": {"resourceVersion": self.limit_versions.get(decision.limit, "")},
            "status": limit_status_json(decision.status),
        }
        try:
            written = self.kube.request("PATCH", path, body=body, content_type=MERGE)
        except KubeError as error:
            if error.status in (404, 409):
                return False
            raise
        self.limit_versions[decision.limit] = written["metadata"]["resourceVersion"]
        return True

    def _apply(self, decision: Decision) -> Outcome:
        match decision:
            case UpdateRequestStatus():
                return self._request_status(decision)
            case Cordon():
                return self._node(decision, cordon=True)
            case Uncordon():
                return self._node(decision, cordon=False)
            case Evict():
                return self._evict(decision)
            case DeleteRequest():
                return self._delete(decision)
            case SetNodeConditions():
                return self._conditions(decision)
            case UpdateLimitStatus():
                if decision.limit in self.committed:
                    return Outcome(decision, Result.ALREADY_DONE, "written at the commit point")
                if self._limit_status(decision):
                    return Outcome(decision, Result.DONE)
                return Outcome(decision, Result.SKIPPED, "changed since it was read; next pass")
            case _:
                assert_never(decision)

    def _conditions(self, decision: SetNodeConditions) -> Outcome:
        """Publish a node's lifecycle conditions (runner.node_status: the requests it
        is about read again first, since the plan's list may be stale)."""
        published = publish(self.kube, decision, field_manager=FIELD_MANAGER)
        if published.contended:
            return Outcome(decision, Result.DEFERRED, published.detail, contended=True)
        if published.held:
            return Outcome(decision, Result.DEFERRED, published.detail)
        if not published.written:
            return Outcome(decision, Result.ALREADY_DONE, published.detail)
        written = ", ".join(published.written)
        return Outcome(decision, Result.DONE, "; ".join(filter(None, (written, published.detail))))

    def _still_occupied(self, decision: UpdateRequestStatus) -> list[str]:
        """The plan says the node just became empty (pods were read from the watch
        cache): confirm it with a fresh read before anything builds on it."""
        status = decision.status
        if status.drained_at is None or self.drained_before.get(decision.request) is not None:
            return []
        if not decision.target.startswith("node/"):
            return []
        node = decision.target.removeprefix("node/")
        _, revision = self.fresh.limits()
        # Pods the plan counted as gone (terminating on a dead node) count so here too.
        return [
            pod.key
            for pod in self.fresh.pods_on(node, revision=revision)
            if disposition(pod, None, decision.gone_before) not in LEFT_BEHIND
        ]

    def _gate(self, basis: Basis) -> tuple[Refusal, ...]:
        """DESIGN §3 "Never approve on stale data": the approval's basis against a fresh
        read of the limits, the node's pods, the PDBs (when pods go down in place) and,
        last, the node; windows judged at the server's clock of that read. Nothing else stands
        between these reads and the status write. A pod bound or a cordon lifted between
        them and the write is the race no reader can close (there is no transaction
        across objects): a lifted cordon is put back right after the write
        (`_keep_cordon`); a pod bound in that moment is not seen."""
        # The evictions counted are copied before the revision the PDBs are read at is
        # taken, so every one counted shows in that read. Another lane's eviction that
        # lands meanwhile is not counted: the read may or may not show it, and not
        # counting one only refuses more. Counted and not shown would approve on a
        # budget that eviction spent.
        with self._lock:
            evicted = Counter(self.evicted)
        limits, revision = self.fresh.limits()
        pods = self.fresh.pods_on(basis.node, revision=revision)
        # The PDBs matter for the pods that go down in place: all of them without a
        # drain; with one, those it leaves (DaemonSet and cordon-tolerating pods).
        in_place = basis.budgets or any(goes_down_in_place(p, basis.drain) for p in pods)
        pdbs = self.fresh.pdbs(revision=revision) if in_place else []
        node = self.fresh.node(basis.node)
        return recheck(
            basis,
            node=node,
            pods=pods,
            pdbs=pdbs,
            limits=limits,
            evicted=evicted,
            now=self.kube.server_now(),
        )

    def _keep_cordon(self, basis: Basis) -> str:
        """After an approval that relied on a cordon: if the node became schedulable
        since the gate read it (an administrator lifting their own cordon in that
        moment), cordon it for the request now, as a Preparing pass would have; a cordon
        someone made since is left alone (`_node`'s ownership rules). What was done, for
        the log."""
        try:
            outcome = self._node(
                Cordon(node=basis.node, request=basis.request, uid=basis.request_uid), cordon=True
            )
        except KubeError as error:
            if error.status == 404:
                return ""  # the node is gone: the next pass rejects the request
            raise
        if outcome.result is Result.DONE:
            return f"{basis.node}'s cordon was lifted while approving: cordoned again for it"
        if outcome.contended:
            return f"{basis.node}'s cordon may be lifted: {outcome.detail}"
        return ""

    def _request_status(self, decision: UpdateRequestStatus) -> Outcome:
        basis = decision.basis
        # An approval under a drain proves the node empty in its gate: no second read.
        if basis is None or basis.drain is None:
            occupied = self._still_occupied(decision)
            if occupied:
                return Outcome(
                    decision,
                    Result.DEFERRED,
                    f"a fresh read still finds pods: {', '.join(occupied[:5])}",
                )
        if basis is not None:
            refusals = self._gate(basis)
            if refusals:
                return Outcome(
                    decision,
                    Result.DEFERRED,
                    "not approved: a fresh read finds "
                    + "; ".join(refusal.message() for refusal in refusals),
                    refusals=refusals,
                )
        if basis is not None and self._past_deadline():
            # The gate may have waited long for a shared read (runner.fresh): no
            # approval is written past the run's deadline, where the Job may stop it
            # between the approval and what follows it (`_keep_cordon`).
            return Outcome(decision, Result.DEFERRED, "past the run's deadline: the next run")
        admission = decision.request in self.admitting
        if admission and self._too_late():
            # Checked again after the gate's reads, right before the write: the gate
            # may have waited on retries (policy.commits: a commit must not be written
            # once others may have let it expire).
            return Outcome(
                decision,
                Result.DEFERRED,
                f"not admitted: more than {COMMIT_WRITE_WINDOW:g} s since its plan; the "
                "next pass plans again",
            )
        path = f"{GROUP_PATH}/maintenancerequests/{decision.request}/status"
        version = self.request_versions.get(decision.request, "")
        body = {
            "metadata": {"resourceVersion": version},
            "status": request_status_json(decision.status),
        }
        try:
            # An admission's write waits at most ADMISSION_WRITE_TIMEOUT an answer: with
            # the client's retries of a 429 (which the server did not act on) it lands
            # within 60 + 4 x 10 + 15 s of its plan, inside the commit's 180 s.
            written = self.kube.request(
                "PATCH",
                path,
                body=body,
                content_type=MERGE,
                timeout=ADMISSION_WRITE_TIMEOUT if admission else None,
            )
        except KubeError as error:
            if error.status == 409:
                return Outcome(decision, Result.DEFERRED, "changed since it was read; next pass")
            if error.status == 404:
                return Outcome(decision, Result.DEFERRED, "deleted since it was read")
            if isinstance(error, Unreachable) or error.status >= 500:
                # No answer, or the server failed while at it: this write may still
                # land. Its commit entry stays, to expire (policy.commits). (A failed
                # read of the gate before it wrote nothing: its commit goes.)
                self.maybe_written.add(decision.request)
            raise
        self.request_versions[decision.request] = written["metadata"]["resourceVersion"]
        detail = ""
        if basis is not None and basis.cordon:
            try:
                detail = self._keep_cordon(basis)
            except KubeError as error:
                return Outcome(decision, Result.FAILED, f"approved, but its cordon: {error}")
        if (decision.transition or decision.announce) and self._worth_an_event(decision):
            self._event(
                kind="MaintenanceRequest",
                name=decision.request,
                uid=self.request_uids.get(decision.request, ""),
                reason=decision.status.reason,
                message=decision.status.message,
            )
        return Outcome(decision, Result.DONE, detail)

    def _worth_an_event(self, decision: UpdateRequestStatus) -> bool:
        """Every transition is an Event, but a request seen for the first time and left
        Pending only for the first QUEUED_EVENTS_PER_PASS of a pass: its status says
        the same, and 5,000 requests filed at once would double the pass's writes.
        Admissions, approvals and endings always get theirs."""
        if decision.previous is not None or decision.status.state is not RequestState.PENDING:
            return True
        with self._lock:
            if self.queued_events < QUEUED_EVENTS_PER_PASS:
                self.queued_events += 1
                return True
            self.events_skipped += 1
            return False

    def _still_held(
        self, request: str, uid: str = "", *, node: str, claimant_uid: str = ""
    ) -> str | None:
        """Cordon ownership on the fresh object (DESIGN §3): the request a node's
        annotation names is over only if a GET says so — 404, another uid (deleted and
        filed again under its name), or a terminal state. A list that lacks it may be
        older than its admission by another runner. Under another uid the name's new
        request still holds the cordon if it is active on `node` (it relies on it),
        unless it is `claimant_uid`, the request we are cordoning for."""
        try:
            found = self.kube.request("GET", f"{GROUP_PATH}/maintenancerequests/{request}")
        except KubeError as error:
            if error.status == 404:
                return None
            raise
        status = found.get("status") or {}
        state = status.get("state")
        found_uid = (found.get("metadata") or {}).get("uid")
        if uid and found_uid != uid:
            if claimant_uid and found_uid == claimant_uid:
                return None
            if state in ACTIVE_STATES and status.get("target") == f"node/{node}":
                return f"{request} (filed again under that name) is {state} on {node}"
            return None
        if state in ACTIVE_STATES:
            return f"{request} is {state}"
        return None

    def _node(self, decision: Cordon | Uncordon, *, cordon: bool) -> Outcome:
        path = f"/api/v1/nodes/{decision.node}"
        for _attempt in range(2):
            node = self.kube.request("GET", path)
            annotations = node["metadata"].get("annotations") or {}
            unschedulable = bool(node.get("spec", {}).get("unschedulable"))
            owner = annotations.get(CORDONED_BY)
            owner_uid = claimed_uid(owner or "", annotations.get(CORDONED_BY_UID))
            setter = _cordon_setter(node)
            detail = ""
            if cordon:
                # Ours: the name, and the uid where both say one (an annotation without
                # one was written before uids were).
                ours = owner == decision.request and owner_uid in ("", decision.uid)
                if unschedulable and ours:
                    return Outcome(decision, Result.ALREADY_DONE)
                if unschedulable and owner is None:
                    # Cordoned by someone else since the read: theirs, never annotated
                    # (we would lift it when the request ends). The next pass plans on it.
                    return Outcome(
                        decision, Result.DEFERRED, "cordoned by someone else since the read"
                    )
                if unschedulable:
                    claimant = decision.uid if owner == decision.request else ""
                    held = self._still_held(
                        owner, owner_uid, node=decision.node, claimant_uid=claimant
                    )
                    if held is not None:
                        return Outcome(decision, Result.DEFERRED, f"cordoned for {held}")
                claim = {
                    CORDONED_BY: decision.request,
                    CORDONED_BY_UID: claim_uid(decision.request, decision.uid),
                }
                body: dict[str, Any] = {
                    "metadata": {"annotations": claim},
                    "spec": {"unschedulable": True},
                }
            else:
                if owner != decision.request or owner_uid != decision.uid:
                    named = f"{owner!r}" + (f" (uid {owner_uid})" if owner_uid else "")
                    return Outcome(decision, Result.ALREADY_DONE, f"annotation names {named}")
                body = {"metadata": {"annotations": {CORDONED_BY: None, CORDONED_BY_UID: None}}}
                theirs = setter is not None and setter != FIELD_MANAGER
                if decision.unschedulable:
                    # Lift our cordon: only for a request that is over, by a GET.
                    held = self._still_held(decision.request, decision.uid, node=decision.node)
                    if held is not None:
                        return Outcome(decision, Result.DEFERRED, f"left cordoned: {held}")
                    if unschedulable and theirs:
                        # Uncordoned and cordoned again under our annotation (their own
                        # drain, say): the cordon is theirs now; drop only our claim.
                        detail = f"cordoned again by {setter}: their cordon stays"
                    elif unschedulable:
                        body["spec"] = {"unschedulable": False}
                elif unschedulable and not theirs:
                    # The plan saw someone uncordon it, but it was cordoned again for
                    # this request since (another pass): the claim is ours again.
                    return Outcome(
                        decision, Result.ALREADY_DONE, "cordoned again for it since the read"
                    )
                # Else the plan found the node uncordoned by someone else and drops only
                # our claim; a cordon made since is theirs, and stays.
            body["metadata"]["resourceVersion"] = node["metadata"]["resourceVersion"]
            try:
                self.kube.request(
                    "PATCH",
                    path,
                    body=body,
                    content_type=MERGE,
                    query={"fieldManager": FIELD_MANAGER},
                )
            except KubeError as error:
                if error.status == 409:
                    continue  # the node changed (a heartbeat, an admin): look again
                raise
            lifted = "spec" in body or cordon
            self._event(
                kind="Node",
                name=decision.node,
                uid=node["metadata"].get("uid", ""),
                reason=("Cordoned" if cordon else "Uncordoned") if lifted else "ClaimDropped",
                message=(
                    f"{'' if cordon else 'un'}cordoned by repairman for {decision.request}"
                    if lifted
                    else f"repairman's claim for {decision.request} dropped; the node's "
                    f"cordon is not ours ({detail or 'uncordoned by someone else'})"
                ),
                api_version="v1",
            )
            return Outcome(decision, Result.DONE, detail)
        return Outcome(
            decision, Result.DEFERRED, "the node kept changing; next pass", contended=True
        )

    def _evict(self, decision: Evict) -> Outcome:
        path = f"/api/v1/namespaces/{decision.namespace}/pods/{decision.pod}/eviction"
        options: dict[str, Any] = {"preconditions": {"uid": decision.uid}}
        if decision.resource_version:
            # Judged free of budget on this very version of the pod (policy.decisions).
            options["preconditions"]["resourceVersion"] = decision.resource_version
        if decision.grace_period_seconds is not None:
            options["gracePeriodSeconds"] = decision.grace_period_seconds
        body = {
            "apiVersion": self.eviction_version,
            "kind": "Eviction",
            "metadata": {"name": decision.pod, "namespace": decision.namespace},
            "deleteOptions": options,
        }
        try:
            # Not retried: a 429 here is a PodDisruptionBudget's answer (next pass).
            self.kube.request("POST", path, body=body, retry=False)
        except KubeError as error:
            if error.status == 404:
                return Outcome(decision, Result.ALREADY_DONE, "the pod is gone")
            if error.status == 409:
                if decision.resource_version:
                    return Outcome(
                        decision,
                        Result.BLOCKED,
                        "the pod changed since it was read (judged free of budget on that "
                        "read); next pass",
                    )
                return Outcome(decision, Result.ALREADY_DONE, "the pod was replaced")
            if error.status == 429:
                return Outcome(
                    decision, Result.BLOCKED, f"a PodDisruptionBudget refused it: {error}"
                )
            if error.status == 500:
                return Outcome(
                    decision, Result.BLOCKED, f"misconfigured PodDisruptionBudgets: {error}"
                )
            if error.status == 403 and NAMESPACE_TERMINATING in error.causes:
                # No eviction is created in a namespace being deleted; its pods go with
                # it (kubectl drain waits for them the same way). Look again next pass.
                return Outcome(
                    decision,
                    Result.BLOCKED,
                    f"namespace {decision.namespace} is being deleted; its pods go with it",
                )
            raise
        if decision.pdb is not None:
            with self._lock:
                self.evicted[decision.pdb] += 1
        return Outcome(decision, Result.DONE)

    def _delete(self, decision: DeleteRequest) -> Outcome:
        path = f"{GROUP_PATH}/maintenancerequests/{decision.request}"
        try:
            self.kube.request(
                "DELETE",
                path,
                body={
                    "kind": "DeleteOptions",
                    "apiVersion": "v1",
                    "preconditions": {"uid": decision.uid},
                },
            )
        except KubeError as error:
            if error.status in (404, 409):
                return Outcome(decision, Result.ALREADY_DONE)
            raise
        return Outcome(decision, Result.DONE)

    def _event(
        self,
        *,
        kind: str,
        name: str,
        uid: str,
        reason: str,
        message: str,
        api_version: str = "repairman.k8s.io/v1",
    ) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{name}.", "namespace": EVENT_NAMESPACE},
            "involvedObject": {"kind": kind, "name": name, "uid": uid, "apiVersion": api_version},
            "reason": reason or "Updated",
            "message": message[:1024],
            "type": "Warning" if reason.endswith("Timeout") else "Normal",
            "source": {"component": "repairman-runner"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        # Events are for humans; a lost one must not fail the pass.
        with contextlib.suppress(KubeError):
            self.kube.request("POST", f"/api/v1/namespaces/{EVENT_NAMESPACE}/events", body=event)
