"""Successive runner passes against a model cluster, with invariants after every step.

Hypothesis plays a story: actors file requests, start, complete, stall and withdraw;
nodes fail and recover; an admin cordons and uncordons; pods are bound by name to any
node at any moment (some tolerating the cordon); an admin sets and removes node
lifecycle conditions of their own; an operator breaks or deletes a draining limit and
mends it, or turns the node conditions off; the kubelet finishes
terminating pods; ReplicaSets recreate evicted pods on other nodes; the disruption
controller recomputes PDB status; time advances; and the runner passes (plan, check,
apply). DESIGN §4's invariants and §8's node conditions are checked on every pass,
and cordon ownership, the admin's conditions and one-active-per-target after every
step. Leaves out API faults and concurrent runners (the runner issues test those on a
real control plane).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import attrs
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from policy import UpdateLimitStatus, UpdateRequestStatus, plan
from policy.model import (
    CORDONED_BY,
    LabelSelector,
    LabelSelectorRequirement,
    MaintenanceLimit,
    MaintenanceRequest,
    Node,
    NodeCondition,
    Pod,
    PodDisruptionBudget,
    RequestState,
    Snapshot,
    VolumeAttachment,
)
from tests.model import apply, recompute_budgets
from tests.properties import invariants

S = RequestState
NODES = [f"n{i}" for i in range(6)]
APPS = {"web": 4, "db": 3}
START = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)
LIFECYCLE = ["MaintenancePlanned", "DrainInProgress", "Drained", "MaintenanceInProgress"]


class MaintenanceStory(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.counter = itertools.count()
        self.admin_cordoned: set[str] = set()
        self.admin_conditions: dict[tuple[str, str], NodeCondition] = {}
        """An admin's lifecycle conditions, by node and type: never changed by us."""
        self.broken: dict[str, MaintenanceLimit] = {}
        self.snapshot = Snapshot(now=START)

    @initialize(
        grace=st.sampled_from([0, 30]),
        soak=st.sampled_from([0, 120]),
        window=st.booleans(),
        cluster_percent=st.sampled_from([17, 34, 50]),
    )
    def cluster(self, grace: int, soak: int, window: bool, cluster_percent: int) -> None:
        nodes = tuple(
            Node(
                name,
                labels={"zone": "a" if i % 2 == 0 else "b"},
                ready_since=START - timedelta(days=1),
            )
            for i, name in enumerate(NODES)
        )
        pods: list[Pod] = []
        for name in NODES:
            pods.append(self._pod("ds", name, owner="DaemonSet"))
        for app, replicas in APPS.items():
            for r in range(replicas):
                pods.append(self._pod(app, NODES[(r * 2 + len(app)) % len(NODES)]))
        zone_spec: dict[str, object] = {
            "type": "node",
            "maxConcurrent": 1,
            "drain": {"timeoutSeconds": 900, "gracePeriodSeconds": grace},
            "infraDrain": {"waitForVolumeDetach": True, "timeoutSeconds": 600},
            "approvedTimeoutSeconds": 900,
            "inProgressTimeoutSeconds": 3600,
            "soakSeconds": soak,
            "ttlSecondsAfterFinished": 1800,
        }
        if window:
            zone_spec["windows"] = [
                {
                    "days": ["Sat", "Sun"],
                    "start": "00:00",
                    "end": "06:00",
                    "timeZone": "Europe/Berlin",
                }
            ]
        limits = (
            MaintenanceLimit(
                "node", spec={"limit": cluster_percent, "policies": ["NotReady", "Unschedulable"]}
            ),
            MaintenanceLimit(
                "zone-a", spec={**zone_spec, "selector": {"matchLabels": {"zone": "a"}}}
            ),
            MaintenanceLimit(
                "zone-b", spec={**zone_spec, "selector": {"matchLabels": {"zone": "b"}}}
            ),
        )
        pdbs = tuple(
            PodDisruptionBudget(
                "ns", app, LabelSelector({"app": app}), desired_healthy=replicas - 1
            )
            for app, replicas in APPS.items()
        )
        self.snapshot = self._settle(
            Snapshot(now=START, nodes=nodes, pods=tuple(pods), pdbs=pdbs, limits=limits)
        )

    # --- helpers ------------------------------------------------------------------

    def _pod(self, app: str, node: str, owner: str = "ReplicaSet") -> Pod:
        n = next(self.counter)
        return Pod("ns", f"{app}-{n}", f"uid-{n}", node, labels={"app": app}, owner_kind=owner)

    def _settle(self, snapshot: Snapshot) -> Snapshot:
        """Volume attachments follow db pods; the disruption controller recomputes."""
        attachments = tuple(
            VolumeAttachment(f"va-{p.name}", p.node)
            for p in snapshot.pods
            if p.labels.get("app") == "db"
        )
        return attrs.evolve(
            snapshot,
            volume_attachments=attachments,
            pdbs=recompute_budgets(snapshot),
        )

    def _requests(self, state: S | None = None, spec_state: str | None = None) -> list[str]:
        return sorted(
            r.name
            for r in self.snapshot.requests
            if (state is None or r.status.state is state)
            and (spec_state is None or r.spec.get("state") == spec_state)
        )

    def _set_spec_state(self, name: str, value: str) -> None:
        self.snapshot = attrs.evolve(
            self.snapshot,
            requests=tuple(
                attrs.evolve(r, spec={**r.spec, "state": value}, generation=r.generation + 1)
                if r.name == name
                else r
                for r in self.snapshot.requests
            ),
        )

    def _set_node(self, name: str, **changes: object) -> None:
        self.snapshot = attrs.evolve(
            self.snapshot,
            nodes=tuple(
                attrs.evolve(n, **changes) if n.name == name else n for n in self.snapshot.nodes
            ),
        )

    def _node(self, name: str) -> Node:
        return next(n for n in self.snapshot.nodes if n.name == name)

    # --- actors -------------------------------------------------------------------

    @rule(node=st.sampled_from(NODES), priority=st.integers(0, 2))
    def file_request(self, node: str, priority: int) -> None:
        name = f"mr-{next(self.counter)}"
        request = MaintenanceRequest(
            name=name,
            uid=f"uid-{name}",
            creation_timestamp=self.snapshot.now,
            spec={"type": "node", "name": node, "state": "Pending", "priority": priority},
        )
        self.snapshot = attrs.evolve(self.snapshot, requests=(*self.snapshot.requests, request))

    @rule(data=st.data())
    def actor_starts(self, data: st.DataObject) -> None:
        approved = self._requests(S.APPROVED, "Pending")
        if approved:
            self._set_spec_state(data.draw(st.sampled_from(approved)), "InProgress")

    @rule(data=st.data())
    def actor_completes(self, data: st.DataObject) -> None:
        working = self._requests(S.IN_PROGRESS, "InProgress")
        if working:
            self._set_spec_state(data.draw(st.sampled_from(working)), "Completed")

    @rule(data=st.data())
    def actor_finishes_between_passes(self, data: st.DataObject) -> None:
        """A quick job: started and done while the runner still says Approved."""
        approved = self._requests(S.APPROVED, "Pending")
        if approved:
            self._set_spec_state(data.draw(st.sampled_from(approved)), "Completed")

    @rule(data=st.data())
    def actor_withdraws(self, data: st.DataObject) -> None:
        waiting = self._requests(S.PENDING) + self._requests(S.PREPARING)
        if waiting:
            self._set_spec_state(data.draw(st.sampled_from(waiting)), "Completed")

    @rule(data=st.data())
    def actor_deletes(self, data: st.DataObject) -> None:
        names = self._requests()
        if names:
            gone = data.draw(st.sampled_from(names))
            self.snapshot = attrs.evolve(
                self.snapshot, requests=tuple(r for r in self.snapshot.requests if r.name != gone)
            )

    # --- the cluster --------------------------------------------------------------

    @rule(node=st.sampled_from(NODES))
    def node_fails(self, node: str) -> None:
        self._set_node(node, ready=False, ready_since=self.snapshot.now)

    @rule(node=st.sampled_from(NODES))
    def node_recovers(self, node: str) -> None:
        if not self._node(node).ready:
            self._set_node(node, ready=True, ready_since=self.snapshot.now)

    @rule(node=st.sampled_from(NODES), app=st.sampled_from(sorted(APPS)), follows=st.booleans())
    def pod_bound_by_name(self, node: str, app: str, follows: bool) -> None:
        """A pod created with spec.nodeName (no scheduler, so the cordon does not stop
        it), at any moment: during a drain's grace, the volume wait, after approval. Or
        one that tolerates the cordon, as node agents do."""
        pod = attrs.evolve(self._pod(app, node), follows_cordon=follows)
        self.snapshot = self._settle(attrs.evolve(self.snapshot, pods=(*self.snapshot.pods, pod)))

    @rule(zone=st.sampled_from(["zone-a", "zone-b"]), how=st.sampled_from(["break", "delete"]))
    def operator_breaks_a_limit(self, zone: str, how: str) -> None:
        """An edit that makes a draining limit invalid, or deletes it (fail closed)."""
        if zone not in self.broken:
            self.broken[zone] = next(m for m in self.snapshot.limits if m.name == zone)
        limits = tuple(m for m in self.snapshot.limits if m.name != zone)
        if how == "break":
            # What it said of the node conditions it says still (only its limit is bad).
            kept = {k: v for k, v in self.broken[zone].spec.items() if k == "nodeConditions"}
            spec = {"type": "node", "limit": "lots", **kept}
            limits += (attrs.evolve(self.broken[zone], spec=spec),)
        self.snapshot = attrs.evolve(self.snapshot, limits=limits)

    @rule(zone=st.sampled_from(["zone-a", "zone-b"]))
    def operator_toggles_the_drain(self, zone: str) -> None:
        """A drain added to a limit, or taken away, while its requests go on: what
        went down in place stays charged by how it was approved (DESIGN §3)."""
        self._edit_limit(
            zone,
            lambda spec: (
                {k: v for k, v in spec.items() if k != "drain"}
                if "drain" in spec
                else {**spec, "drain": {"timeoutSeconds": 900}}
            ),
        )

    @rule(zone=st.sampled_from(["zone-a", "zone-b"]), to=st.sampled_from(["a", "b", None]))
    def operator_moves_a_selector(self, zone: str, to: str | None) -> None:
        """A limit made to govern the other zone, or every node."""
        self._edit_limit(
            zone,
            lambda spec: (
                {k: v for k, v in spec.items() if k != "selector"}
                | ({"selector": {"matchLabels": {"zone": to}}} if to else {})
            ),
        )

    def _edit_limit(self, name: str, edit: object) -> None:
        if name in self.broken:
            return
        self.snapshot = attrs.evolve(
            self.snapshot,
            limits=tuple(
                attrs.evolve(m, spec=edit(dict(m.spec)), generation=m.generation + 1)  # type: ignore[operator]
                if m.name == name
                else m
                for m in self.snapshot.limits
            ),
        )

    @rule(app=st.sampled_from(sorted(APPS)), both=st.booleans())
    def operator_creates_a_pdb(self, app: str, both: bool) -> None:
        """A second PDB over an app's pods (or over both apps'): pods under two."""
        name = f"extra-{'all' if both else app}"
        if any(b.name == name for b in self.snapshot.pdbs):
            return
        selector = (
            LabelSelector(
                match_expressions=(LabelSelectorRequirement("app", "In", tuple(sorted(APPS))),)
            )
            if both
            else LabelSelector({"app": app})
        )
        healthy = sum(APPS.values()) if both else APPS[app]
        pdb = PodDisruptionBudget("ns", name, selector, desired_healthy=healthy - 1)
        self.snapshot = self._settle(attrs.evolve(self.snapshot, pdbs=(*self.snapshot.pdbs, pdb)))

    @rule(data=st.data())
    def operator_deletes_a_pdb(self, data: st.DataObject) -> None:
        if self.snapshot.pdbs:
            gone = data.draw(st.sampled_from(sorted(b.name for b in self.snapshot.pdbs)))
            self.snapshot = attrs.evolve(
                self.snapshot, pdbs=tuple(b for b in self.snapshot.pdbs if b.name != gone)
            )

    @rule(data=st.data(), app=st.sampled_from([*sorted(APPS), "other"]))
    def pod_relabelled(self, data: st.DataObject, app: str) -> None:
        """A pod's labels change: it moves into another PDB, or out of every one."""
        pods = [p for p in self.snapshot.pods if p.owner_kind != "DaemonSet"]
        if pods:
            pod = data.draw(st.sampled_from(pods))
            self.snapshot = self._settle(
                attrs.evolve(
                    self.snapshot,
                    pods=tuple(
                        attrs.evolve(p, labels={**p.labels, "app": app}) if p is pod else p
                        for p in self.snapshot.pods
                    ),
                )
            )

    @rule()
    def operator_mends_the_limits(self) -> None:
        for zone, original in self.broken.items():
            limits = tuple(m for m in self.snapshot.limits if m.name != zone)
            self.snapshot = attrs.evolve(self.snapshot, limits=(*limits, original))
        self.broken.clear()

    @rule(node=st.sampled_from(NODES))
    def admin_cordons(self, node: str) -> None:
        current = self._node(node)
        if not current.unschedulable and CORDONED_BY not in current.annotations:
            self._set_node(node, unschedulable=True)
            self.admin_cordoned.add(node)

    @rule(node=st.sampled_from(NODES))
    def admin_uncordons(self, node: str) -> None:
        if node in self.admin_cordoned:
            self._set_node(node, unschedulable=False)
            self.admin_cordoned.discard(node)

    @rule(
        node=st.sampled_from(NODES),
        kind=st.sampled_from(LIFECYCLE),
        status=st.sampled_from(["True", "False"]),
        reason=st.sampled_from(["HandsOff", "RepairmanHold", "RepairmanApproved"]),
    )
    def admin_sets_a_condition(self, node: str, kind: str, status: str, reason: str) -> None:
        """An admin's own condition of one of the four types (over ours, if we had
        one: it is theirs now). `RepairmanApproved` with their own message is theirs
        too: only our message makes it ours."""
        condition = NodeCondition(kind, status, reason, "set by hand")
        kept = tuple(c for c in self._node(node).conditions if c.type != kind)
        self._set_node(node, conditions=(*kept, condition))
        self.admin_conditions[(node, kind)] = condition

    @rule(data=st.data())
    def admin_removes_a_condition(self, data: st.DataObject) -> None:
        if not self.admin_conditions:
            return
        node, kind = data.draw(st.sampled_from(sorted(self.admin_conditions)))
        del self.admin_conditions[(node, kind)]
        kept = tuple(c for c in self._node(node).conditions if c.type != kind)
        self._set_node(node, conditions=kept)

    @rule(zone=st.sampled_from(["zone-a", "zone-b"]))
    def operator_toggles_node_conditions(self, zone: str) -> None:
        """`nodeConditions: false` on a limit, or back to the default."""
        self._edit_limit(
            zone,
            lambda spec: (
                {k: v for k, v in spec.items() if k != "nodeConditions"}
                if "nodeConditions" in spec
                else {**spec, "nodeConditions": False}
            ),
        )

    @rule()
    def kubelet_and_controllers(self) -> None:
        snapshot = self.snapshot
        pods = [p for p in snapshot.pods if not p.terminating]
        usable = [n.name for n in snapshot.nodes if n.ready and not n.unschedulable]
        for app, replicas in APPS.items():
            missing = replicas - sum(1 for p in pods if p.labels.get("app") == app)
            for _ in range(missing):
                if not usable:
                    break
                load = {n: sum(1 for p in pods if p.node == n) for n in usable}
                pods.append(self._pod(app, min(usable, key=lambda n: (load[n], n))))
        self.snapshot = self._settle(attrs.evolve(snapshot, pods=tuple(pods)))

    @rule(seconds=st.sampled_from([10, 60, 300, 1200, 3600]))
    def time_passes(self, seconds: int) -> None:
        self.snapshot = attrs.evolve(
            self.snapshot, now=self.snapshot.now + timedelta(seconds=seconds)
        )

    @rule()
    def runner_pass(self) -> None:
        before = self.snapshot
        result = plan(before)
        after = apply(before, result)
        invariants.limits_respected(before, result)
        invariants.budgets_respected(before, result)
        invariants.admissions_allowed(before, result)
        invariants.cordons_owned(before, result, after)
        invariants.cordons_kept(before, result, after)
        invariants.approvals_drained(before, result)
        invariants.gate_passes_when_nothing_changed(before, result, after)
        invariants.no_repeated_action(result, plan(after))
        invariants.expired_commits_hold_nothing(before, plan)
        invariants.node_conditions_follow(before, result, after)
        for decision in result.decisions:
            # Shown by --hypothesis-show-statistics: proof the story reaches every step.
            label = type(decision).__name__
            if isinstance(decision, UpdateRequestStatus) and decision.transition:
                label = f"-> {decision.status.state.value if decision.status.state else None}"
            event(label)
        self.snapshot = after

    @rule()
    def runner_dies_after_its_commit_point(self) -> None:
        """A pass that wrote only its commit point (the limits' status, naming what it
        admits) and died before any request's status: its entries must stop holding
        anything once they expire (policy.commits)."""
        result = plan(self.snapshot)
        if not result.admissions:
            return
        kinds = {a.target.split("/", 1)[0] for a in result.admissions}
        written = {d.limit: d.status for d in result.decisions if isinstance(d, UpdateLimitStatus)}
        self.snapshot = attrs.evolve(
            self.snapshot,
            limits=tuple(
                attrs.evolve(m, status=attrs.evolve(written[m.name], commit=m.status.commit + 1))
                if m.name in written and (m.spec.get("type") or m.name) in kinds
                else m
                for m in self.snapshot.limits
            ),
        )

    @rule(passes=st.integers(1, 8), data=st.data())
    def a_busy_hour(self, passes: int, data: st.DataObject) -> None:
        """A run of passes one minute apart, with a kubelet and actors that keep up."""
        for _ in range(passes):
            self.kubelet_and_controllers()
            self.runner_pass()
            preparing = [
                r.status.target.removeprefix("node/")
                for r in self.snapshot.requests
                if r.status.state is S.PREPARING and r.status.target
            ]
            if preparing and data.draw(st.booleans()):
                # The late pod: bound by name while the node drains or waits.
                node = data.draw(st.sampled_from(sorted(preparing)))
                self.pod_bound_by_name(node, "web", data.draw(st.booleans()))
            for name in self._requests(S.APPROVED, "Pending"):
                if data.draw(st.booleans()):
                    self._set_spec_state(name, "InProgress")
            for name in self._requests(S.IN_PROGRESS, "InProgress"):
                if data.draw(st.booleans()):
                    self._set_spec_state(name, "Completed")
            self.time_passes(60)

    # --- after every step ---------------------------------------------------------

    @invariant()
    def one_active_request_per_target(self) -> None:
        invariants.one_active_per_target(self.snapshot)

    @invariant()
    def admin_conditions_stay(self) -> None:
        for (node, kind), condition in self.admin_conditions.items():
            shown = [c for c in self._node(node).conditions if c.type == kind]
            assert shown == [condition], (node, kind, shown)

    @invariant()
    def admin_cordons_stay(self) -> None:
        for node in self.admin_cordoned:
            assert self._node(node).unschedulable, node


TestMaintenanceStory = MaintenanceStory.TestCase
