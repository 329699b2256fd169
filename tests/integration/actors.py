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
