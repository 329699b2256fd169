"""Simulated actors for the overlap and soak tests."""

from __future__ import annotations

import random
import threading
import time

from kubernetes.client.exceptions import ApiException

from tests.integration.cluster import Cluster
from tests.integration.conftest import GROUP, VERSION
from tests.integration.invariants import TERMINAL
from tests.integration.test_runner import request_body


class RandomActor(threading.Thread):
    """Files its requests one by one, a few seconds apart, and plays each out as its
    seed says: complete (start when approved, complete a second later), stall (never
    start: the approval times out), overrun (start, never complete: the InProgress
    timeout ends it), withdraw (spec.state Completed once admitted) or delete (the
    request deleted once admitted)."""

    def __init__(
        self,
        cluster: Cluster,
        name: str,
        nodes: list[str],
        seed: int,
        *,
        requests: int = 12,
        fates: dict[str, int] | None = None,
        pace: tuple[float, float] = (0.5, 2.0),
    ) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.name_ = name
        self.random = random.Random(seed)
        self.targets = [self.random.choice(nodes) for _ in range(requests)]
        self.fates = fates or {"complete": 6, "stall": 1, "withdraw": 1, "delete": 1}
        self.pace = pace
        self.fate: dict[str, str] = {}
        self.filed: list[str] = []
        self.started: dict[str, float] = {}
        self.stopping = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        custom = self.cluster.custom
        for index, node in enumerate(self.targets):
            if self.stopping.is_set():
                return
            name = f"{self.name_}-{index:02d}"
            body = request_body(name, node)
            body["spec"]["requester"] = self.name_
            body["spec"]["priority"] = self.random.randint(0, 3)
            custom.create_cluster_custom_object(GROUP, VERSION, "maintenancerequests", body)
            self.filed.append(name)
            self.fate[name] = self.random.choices(list(self.fates), list(self.fates.values()))[0]
            self.play(wait=self.random.uniform(*self.pace))
        while not self.stopping.is_set():
            self.play(wait=0.3)

    def play(self, *, wait: float) -> None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not self.stopping.is_set():
            try:
                self.step()
            except ApiException as error:
                if error.status not in (404, 409):
                    self.errors.append(f"{error.status} {error.reason}")
            self.stopping.wait(0.2)

    def step(self) -> None:
        custom = self.cluster.custom
        for name in self.filed:
            try:
                item = custom.get_cluster_custom_object(GROUP, VERSION, "maintenancerequests", name)
            except ApiException as error:
                if error.status == 404:
                    continue
                raise
            state = (item.get("status") or {}).get("state") or "Pending"
            spec_state = item["spec"].get("state", "Pending")
            fate = self.fate[name]
            move = None
            if state in TERMINAL:
                continue
            if fate == "withdraw" and state in ("Preparing", "Approved"):
                move = "Completed"
            elif fate == "delete" and state in ("Preparing", "Approved"):
                custom.delete_cluster_custom_object(GROUP, VERSION, "maintenancerequests", name)
                continue
            elif fate in {"complete", "overrun"} and (state, spec_state) == ("Approved", "Pending"):
                move = "InProgress"
                self.started[name] = time.monotonic()
            elif (
                fate == "complete"
                and state == "InProgress"
                and time.monotonic() - self.started.get(name, 0) > 1.0
            ):
                move = "Completed"
            if move:
                custom.patch_cluster_custom_object(
                    GROUP, VERSION, "maintenancerequests", name, {"spec": {"state": move}}
                )


class Adversary(threading.Thread):
    """What a busy cluster does around the runners, at random but seeded (issue 14):

    - an administrator cordons a schedulable node of ours-free state, and some seconds
      later uncordons it (only the cordons it made: lifting ours is not its job);
    - an administrator takes a node we cordoned for their own work (`kubectl uncordon`
      then `kubectl cordon`, as their own drain would) and lifts it 5-20 s later; by
      then nobody else may have lifted it (`lifted` lists it if someone did: we would
      have taken their cordon for ours);
    - a pod is created with `spec.nodeName` on a node we cordoned (a debugging pod, a
      Job's pod bound by name: no scheduler, so the cordon does not stop it); it lives a
      few seconds, then is deleted. A drain must wait for it (no controller), and no
      approval may happen while it is there (the watcher checks invariant 9).

    Every action is counted in `done`; `stop_and_clean` lifts its cordons and deletes
    its pods.
    """

    def __init__(
        self, cluster: Cluster, nodes: list[str], seed: int, *, pace: tuple[float, float]
    ) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.nodes = nodes
        self.random = random.Random(seed)
        self.pace = pace
        self.cordoned: dict[str, float] = {}
        """Node -> when the administrator lifts its cordon."""
        self.pods: dict[str, float] = {}
        """Pod -> when it is deleted."""
        self.done: dict[str, int] = {
            "admin cordons": 0,
            "admin uncordons": 0,
            "admin takeovers": 0,
            "late pods": 0,
        }
        self.taken: set[str] = set()
        """Nodes the administrator cordoned again under our annotation."""
        self.lifted: list[str] = []
        """Administrators' cordons found lifted by someone else: must stay empty."""
        self.stopping = threading.Event()
        self.errors: list[str] = []
        self.counter = 0

    def run(self) -> None:
        while not self.stopping.wait(self.random.uniform(*self.pace)):
            try:
                self._step()
            except ApiException as error:
                if error.status not in (404, 409):
                    self.errors.append(f"{error.status}: {error.reason}")

    def _step(self) -> None:
        now = time.monotonic()
        for node, until in list(self.cordoned.items()):
            if now >= until:
                self._uncordon(node)
        for pod, until in list(self.pods.items()):
            if now >= until:
                del self.pods[pod]
                self.cluster.core.delete_namespaced_pod(
                    pod, self.cluster.namespace, grace_period_seconds=0
                )
        roll = self.random.random()
        if roll < 0.5:
            node = self.random.choice(self.nodes)
            current = self.cluster.core.read_node(node)
            if not current.spec.unschedulable and node not in self.cordoned:
                self.cluster.core.patch_node(node, {"spec": {"unschedulable": True}})
                self.cordoned[node] = now + self.random.uniform(5.0, 20.0)
                self.done["admin cordons"] += 1
            return
        if roll < 0.65:
            return
        # A node we cordoned (being drained, or under maintenance), if there is one.
        ours = sorted(
            n.metadata.name
            for n in self.cluster.core.list_node(
                label_selector=f"repairman.test/prefix={self.cluster.prefix}"
            ).items
            if n.spec.unschedulable
            and (n.metadata.annotations or {}).get("repairman.k8s.io/cordoned-by")
            and n.metadata.name not in self.cordoned
        )
        if ours and roll < 0.75:
            node = self.random.choice(ours)
            self.cluster.core.patch_node(node, {"spec": {"unschedulable": False}})
            self.cluster.core.patch_node(node, {"spec": {"unschedulable": True}})
            self.cordoned[node] = now + self.random.uniform(5.0, 20.0)
            self.taken.add(node)
            self.done["admin takeovers"] += 1
            return
        if ours:
            node = self.random.choice(ours)
            self.counter += 1
            name = f"late-{self.counter}"
            self.cluster.core.create_namespaced_pod(
                self.cluster.namespace,
                {
                    "metadata": {"name": name, "labels": {"app": "late"}},
                    "spec": {
                        "nodeName": node,
                        "containers": [{"name": "app", "image": "registry.invalid/pause:3"}],
                        "terminationGracePeriodSeconds": 1,
                    },
                },
            )
            self.pods[name] = now + self.random.uniform(3.0, 10.0)
            self.done["late pods"] += 1

    def _uncordon(self, node: str) -> None:
        del self.cordoned[node]
        current = self.cluster.core.read_node(node)
        if node in self.taken:
            self.taken.discard(node)
            if not current.spec.unschedulable:
                self.lifted.append(f"{node}: the administrator's cordon was lifted")
                return
        elif (current.metadata.annotations or {}).get("repairman.k8s.io/cordoned-by"):
            return  # taken over by the runner: a bug the watcher reports; leave it be
        self.cluster.core.patch_node(node, {"spec": {"unschedulable": False}})
        self.done["admin uncordons"] += 1

    def stop_and_clean(self) -> None:
        self.stopping.set()
        self.join(timeout=10)
        for node in list(self.cordoned):
            self._uncordon(node)
        for pod in list(self.pods):
            del self.pods[pod]
            try:
                self.cluster.core.delete_namespaced_pod(
                    pod, self.cluster.namespace, grace_period_seconds=0
                )
            except ApiException as error:
                if error.status != 404:
                    raise
