"""DESIGN §4 checked on a live control plane, at every change, while a test runs.

`InvariantWatcher` follows three watches (every MaintenanceRequest, the test's nodes,
the test's PodDisruptionBudgets) in resourceVersion order and checks, at each event:

1. every limit (a zone selector or all nodes, and its allowed count) holds no more
   active requests (Preparing, Approved, InProgress) than allowed;
2. no PDB reports currentHealthy < desiredHealthy (nothing but our evictions disrupts
   pods in these tests, so any dip would be ours);
3. at most one active request per target;
10. no limit's status, as a pass writes it, keeps a commit entry of a request still
   waiting for longer than COMMIT_EXPIRY_SECONDS (plus COMMIT_GRACE for the pass
   that notices): a reservation that nobody wrote (a runner died after its commit
   point, or dropped its admission) holds nothing past its documented expiry;
6. (in `finished()`) our cordoned-by annotation appears on a node only after the
   request it names was admitted (by resourceVersion), and no node is left cordoned
   by us once every request is terminal or gone.

Also in `finished()`, replaying every request, node and pod event of the run in
resourceVersion order (the watches are separate streams; one may run ahead):

8. no uncordon of ours (unschedulable cleared together with our annotation) while a
   request on that node is Approved or InProgress, and every approval finds its node
   unschedulable (all limits here cordon). A cordon lifted less than RACE_SECONDS
   before the approval was seen may have been lifted between the gate's node read and
   the status write: then the runner must cordon the node for the request within
   RACE_SECONDS after it (listed in `raced`), else it is a violation;
9. every approval finds no pod on its node that the drain would evict (all limits
   here drain): only DaemonSet pods, mirror pods and pods tolerating the cordon. A pod
   that landed less than RACE_SECONDS before the approval was seen may have come
   between the approval gate's read and the status write — the one race no reader
   closes — and is listed in `raced` instead (the tests report it);
- an administrator's cordon (unschedulable without our annotation) is never taken
  over (our annotation added while it stands) — we would lift it at the end;
- DESIGN §8, the node lifecycle conditions: every change of the four on a node is
  recorded (`node_conditions`); a condition of ours that says True says the state its
  request has at that resourceVersion (Repairman<State>, the request named in its
  message); none of ours is True once every request is terminal or gone (in
  `finished()`); and at each event, no condition disappears from a node: neither the
  kubelet's Ready (our writes never erase it) nor one of ours (its writes never erase
  them).

`end_state` is what a run leaves behind, with the test's prefix taken out of names, so
that runs of one scenario in different namespaces compare equal.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import urllib3

from policy.commits import COMMIT_EXPIRY_SECONDS
from policy.model import CORDONED_BY
from policy.node_conditions import TYPES as LIFECYCLE
from tests.integration.cluster import Cluster
from tests.integration.conftest import GROUP, VERSION

ACTIVE = frozenset({"Preparing", "Approved", "InProgress"})
RACE_SECONDS = 1.0
CONDITION_RACE_SECONDS = 5.0
"""A request that changed state (or was deleted) less than this before a True condition
naming it was seen, with its old state, may have changed between the runner's fresh
read of it and its node write (one round trip on a busy server; no transaction spans
the two objects; with several runners at once, another's approval): listed in `raced`;
the writer of the change, or the next pass, writes the node again."""
"""A pod that landed on a node less than this before the node's approval was seen
(watch events, as received) may have come after the approval gate's read."""
TERMINAL = frozenset({"Completed", "Rejected", "Expired"})
COMMIT_GRACE = 30.0
"""Seconds past a commit's expiry within which some pass must have dropped it."""


@attrs.frozen
class LimitRule:
    name: str
    allowed: int
    zone: str | None = None


class InvariantWatcher:
    def __init__(
        self,
        cluster: Cluster,
        *,
        limits: list[LimitRule],
        zone_of: dict[str, str],
        pdb_excused: Callable[[], bool] = lambda: False,
    ) -> None:
        self.cluster = cluster
        self.pdb_excused = pdb_excused
        """True while something other than us disrupts pods (a node failure)."""
        self.limits = limits
        self.zone_of = zone_of
        self.requests: dict[str, tuple[str, str]] = {}
        self.last_state: dict[str, str] = {}
        self.admitted_at: dict[str, int] = {}
        """resourceVersion at which each request first left Pending."""
        self.cordons: list[tuple[int, str, str]] = []
        """(resourceVersion, node, request) of every cordon-by annotation that appeared."""
        """Every request's last state seen, kept after it is deleted."""
        self.cordoned_by: dict[str, str] = {}
        self.node_conditions: list[tuple[int, str, dict[str, tuple[str, str, str]]]] = []
        """(resourceVersion, node, {type: (status, reason, message)}) at every change of
        a node's four lifecycle conditions."""
        self.shown: dict[str, dict[str, tuple[str, str, str]]] = {}
        """Each node's conditions (all of them) at its last event."""
        self.pdbs: dict[str, tuple[int, int]] = {}
        self.journal: list[tuple[int, str, str, Any, float]] = []
        """(resourceVersion, kind, name, facts, when received) of every event, replayed
        by `finished`."""
        self.raced: list[str] = []
        """Approvals that found a pod which landed within RACE_SECONDS before them:
        between the approval gate's read and its write (see `_replay`)."""
        self.violations: list[str] = []
        self.events = 0
        self.peak: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        configuration = cluster.api.configuration
        self.pool = urllib3.PoolManager(ca_certs=configuration.ssl_ca_cert)
        self.headers = {"Authorization": configuration.auth_settings()["BearerToken"]["value"]}
        self.host = configuration.host
        self.responses: list[urllib3.BaseHTTPResponse] = []
        self.threads = [
            threading.Thread(target=self._follow, args=(path, handler), daemon=True)
            for path, handler in (
                (f"/apis/{GROUP}/{VERSION}/maintenancerequests", self._request),
                (
                    f"/api/v1/nodes?labelSelector=repairman.test%2Fprefix%3D{cluster.prefix}",
                    self._node,
                ),
                (
                    f"/apis/policy/v1beta1/namespaces/{cluster.namespace}/poddisruptionbudgets",
                    self._pdb,
                ),
                (f"/api/v1/namespaces/{cluster.namespace}/pods", self._pod),
                (f"/apis/{GROUP}/{VERSION}/maintenancelimits", self._limit),
            )
        ]
        self.ready = threading.Barrier(len(self.threads) + 1)

    def start(self) -> InvariantWatcher:
        for thread in self.threads:
            thread.start()
        self.ready.wait(timeout=30)
        return self

    def stop(self) -> list[str]:
        self.stopping.set()
        for response in self.responses:
            with contextlib.suppress(Exception):
                response.shutdown()  # unblocks the reading thread
        for thread in self.threads:
            thread.join(timeout=5)
        return self.violations

    def finished(self) -> list[str]:
        """At the end: nothing left cordoned by us (invariant 6), and every cordon of
        ours came after the admission of the request it names. The second is checked
        here, by resourceVersion, rather than at each event: the node and request
        watches are separate streams, and one may run ahead of the other."""
        found = []
        left = sorted(node for node, owner in self.cordoned_by.items() if owner)
        if left:
            found.append(f"nodes left cordoned by repairman: {left}")
        still = sorted(
            f"{node} {kind}"
            for node, shown in self.shown.items()
            for kind, (status, reason, message) in shown.items()
            if kind in LIFECYCLE and status == "True" and _ours(reason, message)
        )
        if still:
            found.append(f"conditions of ours left True: {still}")
        for version, node, owner in self.cordons:
            admitted = self.admitted_at.get(owner)
            if admitted is None or admitted > version:
                found.append(f"rv {version}: node {node} cordoned for {owner} before its admission")
        return found + self._replay()

    def _replay(self) -> list[str]:
        """Invariants 8 and 9, and administrators' cordons, in resourceVersion order."""
        found: list[str] = []
        states: dict[str, tuple[str, str]] = {}
        changed: dict[str, float] = {}
        """Request -> when a change of its state (or its deletion) was last seen."""
        nodes: dict[str, tuple[bool, str]] = {}
        pods: dict[str, tuple[str, bool]] = {}
        landed: dict[str, float] = {}
        freed: dict[str, float] = {}
        """Node -> when it was last seen to become schedulable."""
        lifted: dict[str, tuple[str, str, float]] = {}
        """Node -> (request, resourceVersion, when seen) of an approval that found the
        node's cordon lifted less than RACE_SECONDS before."""
        with self.lock:
            journal = sorted(self.journal, key=lambda entry: entry[0])
        for version, kind, name, facts, received in journal:
            if kind == "request":
                was = states.get(name, ("", ""))[0]
                states[name] = facts
                if facts[0] != was:
                    changed[name] = received
                state, node = facts
                if state == "Approved" and was != "Approved":
                    unschedulable, _ = nodes.get(node, (False, ""))
                    if not unschedulable and received - freed.get(node, 0.0) < RACE_SECONDS:
                        # Lifted between the gate's node read and the write: the runner
                        # must cordon it for the request right after (checked below).
                        lifted[node] = (name, version, received)
                    elif not unschedulable:
                        found.append(f"rv {version}: {name} approved while {node} is schedulable")
                    left = sorted(
                        p for p, (on, exempt) in pods.items() if on == node and not exempt
                    )
                    # A pod bound in the moment between the gate's read and the status
                    # write is the race no reader closes (no transaction spans two
                    # objects): counted apart, not as a violation. Anything older is.
                    raced = [p for p in left if received - landed.get(p, 0.0) < RACE_SECONDS]
                    if raced:
                        self.raced.append(f"rv {version}: {name} on {node}: {raced}")
                    left = [p for p in left if p not in raced]
                    if left:
                        found.append(f"rv {version}: {name} approved with pods on {node}: {left}")
            elif kind == "conditions":
                for condition, (status, reason, message) in facts.items():
                    if status != "True" or not _ours(reason, message):
                        continue
                    request = message.split()[1]
                    said = reason.removeprefix("Repairman")
                    now_state = states.get(request, ("gone", ""))[0]
                    since = received - changed.get(request, float("-inf"))
                    if now_state != said and since < CONDITION_RACE_SECONDS:
                        self.raced.append(
                            f"rv {version}: {name} {condition}=True says {request} is {said}, "
                            f"it became {now_state or 'deleted'} {since:.2f} s before"
                        )
                    elif now_state != said:
                        found.append(
                            f"rv {version}: {name} {condition}=True says {request} is {said}, "
                            f"it is {states.get(request, ('gone', ''))[0]}"
                        )
            elif kind == "node":
                unschedulable, owner = facts
                before, before_owner = nodes.get(name, (False, ""))
                working = sorted(
                    r
                    for r, (s, n) in states.items()
                    if n == name and s in ("Approved", "InProgress")
                )
                if before and not unschedulable and before_owner and not owner and working:
                    found.append(
                        f"rv {version}: {name} uncordoned by us while {working} work on it"
                    )
                if before and not before_owner and owner and unschedulable:
                    found.append(
                        f"rv {version}: an administrator's cordon on {name} taken for {owner}"
                    )
                if before and not unschedulable:
                    freed[name] = received
                if name in lifted and unschedulable:
                    request, approved, seen = lifted.pop(name)
                    late = received - seen
                    if owner == request and late < RACE_SECONDS:
                        self.raced.append(
                            f"rv {approved}: {request} on {name}: its cordon lifted as it was "
                            f"approved, cordoned again {late:.2f} s later"
                        )
                    else:
                        found.append(
                            f"rv {approved}: {request} approved while {name} is schedulable "
                            f"(cordoned {late:.1f} s later, for {owner or 'someone else'})"
                        )
                nodes[name] = facts
            elif facts is None:
                pods.pop(name, None)
            else:
                if name not in pods:
                    landed[name] = received
                pods[name] = facts
        for node, (request, approved, _) in sorted(lifted.items()):
            found.append(f"rv {approved}: {request} approved while {node} is schedulable")
        return found

    # --- streams --------------------------------------------------------------------

    def _follow(self, path: str, handler: Any) -> None:
        separator = "&" if "?" in path else "?"
        try:
            listed = self.pool.request("GET", self.host + path, headers=self.headers)
            document = json.loads(listed.data)
            with self.lock:
                for item in document.get("items") or []:
                    handler("ADDED", item)
            version = document["metadata"]["resourceVersion"]
            response = self.pool.request(
                "GET",
                f"{self.host}{path}{separator}watch=1&resourceVersion={version}"
                "&timeoutSeconds=1800",
                headers=self.headers,
                preload_content=False,
                timeout=urllib3.Timeout(connect=5, read=None),
            )
            self.responses.append(response)
        except Exception as error:
            self.violations.append(f"cannot watch {path}: {error!r}")
            self.ready.wait(timeout=30)
            return
        self.ready.wait(timeout=30)
        try:
            buffer = b""
            for chunk in response.stream(4096):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    event = json.loads(line)
                    with self.lock:
                        self.events += 1
                        handler(event["type"], event["object"])
                        self._check(event["object"]["metadata"].get("resourceVersion", ""))
        except Exception as error:
            if not self.stopping.is_set():
                self.violations.append(f"watch of {path} ended: {error!r}")

    def _note(self, obj: dict[str, Any], kind: str, name: str, facts: Any) -> None:
        version = int(obj["metadata"].get("resourceVersion") or 0)
        self.journal.append((version, kind, name, facts, time.monotonic()))

    def _pod(self, kind: str, obj: dict[str, Any]) -> None:
        name, spec = obj["metadata"]["name"], obj.get("spec") or {}
        node = spec.get("nodeName") or ""
        if kind == "DELETED" or not node:
            self._note(obj, "pod", name, None)
            return
        owners = obj["metadata"].get("ownerReferences") or []
        exempt = any(o.get("kind") == "DaemonSet" for o in owners) or any(
            map(_follows_cordon, spec.get("tolerations") or [])
        )
        phase = (obj.get("status") or {}).get("phase")
        self._note(obj, "pod", name, None if phase in ("Succeeded", "Failed") else (node, exempt))

    def _request(self, kind: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if kind != "DELETED":
            state = (obj.get("status") or {}).get("state") or "Pending"
            target = (obj.get("status") or {}).get("target") or f"node/{obj['spec']['name']}"
            self._note(obj, "request", name, (state, target.removeprefix("node/")))
        else:
            self._note(obj, "request", name, ("", ""))
        if kind == "DELETED":
            self.requests.pop(name, None)
        else:
            state = (obj.get("status") or {}).get("state") or "Pending"
            self.last_state[name] = state
            if state in ACTIVE and name not in self.admitted_at:
                self.admitted_at[name] = int(obj["metadata"]["resourceVersion"])
            target = (obj.get("status") or {}).get("target") or f"node/{obj['spec']['name']}"
            self.requests[name] = (state, target.removeprefix("node/"))

    def _node(self, kind: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        owner = (obj["metadata"].get("annotations") or {}).get(CORDONED_BY, "")
        if kind == "DELETED":
            owner = ""
        if owner and owner != self.cordoned_by.get(name):
            self.cordons.append((int(obj["metadata"]["resourceVersion"]), name, owner))
        self.cordoned_by[name] = owner
        unschedulable = kind != "DELETED" and bool((obj.get("spec") or {}).get("unschedulable"))
        self._note(obj, "node", name, (unschedulable, owner))
        shown = {
            str(c.get("type")): (
                str(c.get("status")),
                str(c.get("reason") or ""),
                str(c.get("message") or ""),
            )
            for c in (obj.get("status") or {}).get("conditions") or []
        }
        before = self.shown.get(name)
        if kind == "DELETED":
            self.shown.pop(name, None)
            return
        self.shown[name] = shown
        if before is not None:
            gone = sorted(
                kind
                for kind, (_, reason, message) in before.items()
                if kind not in shown and (kind == "Ready" or _ours(reason, message))
            )
            if gone:
                self.violations.append(
                    f"rv {obj['metadata'].get('resourceVersion')}: {name} lost {gone}"
                )
        lifecycle = {kind: facts for kind, facts in shown.items() if kind in LIFECYCLE}
        if lifecycle != {k: f for k, f in (before or {}).items() if k in LIFECYCLE}:
            version = int(obj["metadata"]["resourceVersion"])
            self.node_conditions.append((version, name, lifecycle))
            self._note(obj, "conditions", name, lifecycle)

    def _limit(self, kind: str, obj: dict[str, Any]) -> None:
        """Invariant 10: commit entries older than their expiry, still written."""
        if kind == "DELETED":
            return
        for entry in (obj.get("status") or {}).get("commits") or []:
            request, at = entry.get("request"), entry.get("at")
            if self.last_state.get(request, "Pending") != "Pending" or not at:
                continue
            made = datetime.fromisoformat(str(at).replace("Z", "+00:00"))
            age = (datetime.now(UTC) - made).total_seconds()
            if age > COMMIT_EXPIRY_SECONDS + COMMIT_GRACE:
                self.violations.append(
                    f"rv {obj['metadata'].get('resourceVersion')}: limit "
                    f"{obj['metadata']['name']} still holds the commit of {request}, "
                    f"{age:.0f} s old (expiry {COMMIT_EXPIRY_SECONDS} s)"
                )

    def _pdb(self, kind: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        status = obj.get("status") or {}
        if kind == "DELETED" or status.get("observedGeneration") != obj["metadata"].get(
            "generation"
        ):
            self.pdbs.pop(name, None)
            return
        self.pdbs[name] = (status.get("currentHealthy", 0), status.get("desiredHealthy", 0))

    # --- the invariants -------------------------------------------------------------

    def _check(self, version: str) -> None:
        active = [(name, node) for name, (state, node) in self.requests.items() if state in ACTIVE]
        for limit in self.limits:
            governed = [
                a for a in active if limit.zone is None or self.zone_of.get(a[1]) == limit.zone
            ]
            self.peak[limit.name] = max(self.peak[limit.name], len(governed))
            if len(governed) > limit.allowed:
                self.violations.append(
                    f"rv {version}: limit {limit.name}: {len(governed)} active > "
                    f"{limit.allowed}: {sorted(governed)}"
                )
        per_target = Counter(node for _, node in active)
        doubled = {node: n for node, n in per_target.items() if n > 1}
        if doubled:
            self.violations.append(f"rv {version}: more than one active request on {doubled}")
        for pdb, (healthy, desired) in self.pdbs.items():
            if healthy < desired and not self.pdb_excused():
                self.violations.append(
                    f"rv {version}: PDB {pdb}: currentHealthy {healthy} < desiredHealthy {desired}"
                )


def _ours(reason: str, message: str) -> bool:
    """A condition repairman writes (DESIGN §8; policy.node_conditions.ours)."""
    return reason.startswith("Repairman") and message.startswith("repairman: ")


def _follows_cordon(toleration: dict[str, Any]) -> bool:
    """Tolerates the cordon's taint, node.kubernetes.io/unschedulable:NoSchedule."""
    if toleration.get("effect") not in (None, "", "NoSchedule"):
        return False
    key, exists = toleration.get("key") or "", toleration.get("operator") == "Exists"
    if not key:
        return exists
    return key == "node.kubernetes.io/unschedulable" and (exists or not toleration.get("value"))


def end_state(cluster: Cluster) -> dict[str, Any]:
    """Requests (state, reason), nodes (cordoned, by whom), the lifecycle conditions
    True on each node, limits' active lists and ready pods per app, with the test's
    prefix taken out of every name."""

    def short(text: str) -> str:
        return text.replace(f"{cluster.prefix}-", "")

    requests = {
        item["metadata"]["name"]: (
            (item.get("status") or {}).get("state"),
            (item.get("status") or {}).get("reason"),
        )
        for item in cluster.custom.list_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests"
        )["items"]
    }
    limits = {
        item["metadata"]["name"]: sorted((item.get("status") or {}).get("active") or [])
        for item in cluster.custom.list_cluster_custom_object(GROUP, VERSION, "maintenancelimits")[
            "items"
        ]
    }
    listed = cluster.core.list_node(label_selector=f"repairman.test/prefix={cluster.prefix}")
    nodes = {
        short(node.metadata.name): (
            bool(node.spec.unschedulable),
            (node.metadata.annotations or {}).get(CORDONED_BY),
        )
        for node in listed.items
    }
    conditions = {
        short(node.metadata.name): sorted(
            c.type
            for c in node.status.conditions or []
            if c.type in LIFECYCLE and c.status == "True"
        )
        for node in listed.items
    }
    ready: Counter[str] = Counter()
    for pod in cluster.pods():
        if pod.metadata.deletion_timestamp is None and any(
            c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []
        ):
            ready[pod.metadata.labels.get("app", "")] += 1
    return {
        "requests": requests,
        "limits": {name: [short(x) for x in active] for name, active in limits.items()},
        "nodes": nodes,
        "conditions": conditions,
        "ready": dict(ready),
    }
