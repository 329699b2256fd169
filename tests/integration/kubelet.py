"""A simulated kubelet for the test control plane (there is no real one here).

For every node labelled `repairman.test/simulated=true` it does what a kubelet's
status loop would: marks the node Ready (lastTransitionTime when it changes) and
removes the `node.kubernetes.io/not-ready` taint; marks pods bound to the node Running
and Ready; and finishes graceful deletions (deletes with grace 0 once
`deletionTimestamp` is set, after `termination_delay` seconds). Nodes listed in
`not_ready` are reported NotReady instead, to play node failures; nodes in `dead` too,
and nothing on them is touched any more (a kubelet that is gone finishes no deletion).
A pod labelled `repairman.test/kubelet: pending` is left Pending (an image that never
pulls), one labelled `crash-loop` runs but is never Ready.

A pod of one of this project's images (process_kubelet.IMAGES) on a simulated node is
not simulated: it is handed to the process kubelet given as `processes`, which runs its
container as a local process; without one, it is left Pending.

It polls (every `interval` seconds) rather than watches: simple, and the clusters in
tests are small. Runs as a daemon thread; `stop()` ends it.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.integration.process_kubelet import ProcessKubelet, delete_at_once, runs_as_process

SIMULATED = "repairman.test/simulated"
BEHAVIOUR = "repairman.test/kubelet"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimulatedKubelet:
    def __init__(
        self,
        api: client.ApiClient,
        *,
        interval: float = 0.2,
        termination_delay: float = 0.0,
        processes: ProcessKubelet | None = None,
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.processes = processes
        self.interval = interval
        self.termination_delay = termination_delay
        self.not_ready: set[str] = set()
        self.dead: set[str] = set()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="simulated-kubelet", daemon=True)
        self._terminating_since: dict[str, float] = {}

    def start(self) -> SimulatedKubelet:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.processes is not None:
            self.processes.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync()
            except ApiException as error:
                # A conflict or a vanished object is normal between two polls.
                if error.status not in (404, 409):
                    self.errors.append(f"{error.status} {error.reason}")
            except Exception as error:  # keep simulating; tests read .errors
                self.errors.append(repr(error))
            self._stop.wait(self.interval)

    def sync(self) -> None:
        nodes = self.core.list_node(label_selector=f"{SIMULATED}=true").items
        names = {node.metadata.name for node in nodes}
        for node in nodes:
            self._sync_node(node)
        if not names:
            return
        processes: list[str] = []
        for pod in self.core.list_pod_for_all_namespaces().items:
            if pod.spec.node_name not in names or pod.spec.node_name in self.dead:
                continue
            if not runs_as_process(pod):
                self._sync_pod(pod)
            elif self.processes is not None:
                processes.append(pod.metadata.uid)
                self.processes.sync_pod(pod)
        if self.processes is not None:
            self.processes.forget_others(processes)

    def _sync_node(self, node: client.V1Node) -> None:
        name = node.metadata.name
        want = "False" if name in self.not_ready or name in self.dead else "True"
        conditions = {c.type: c for c in (node.status.conditions or [])}
        ready = conditions.get("Ready")
        if ready is None or ready.status != want:
            self.core.patch_node_status(
                name,
                {
                    "status": {
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": want,
                                "reason": "KubeletReady" if want == "True" else "KubeletStopped",
                                "message": "simulated kubelet",
                                "lastHeartbeatTime": _now(),
                                "lastTransitionTime": _now(),
                            }
                        ]
                    }
                },
            )
        taints = node.spec.taints or []
        if want == "True" and any(t.key == NOT_READY_TAINT for t in taints):
            kept = [
                {"key": t.key, "value": t.value, "effect": t.effect}
                for t in taints
                if t.key != NOT_READY_TAINT
            ]
            self.core.patch_node(name, {"spec": {"taints": kept or None}})

    def _sync_pod(self, pod: client.V1Pod) -> None:
        namespace, name = pod.metadata.namespace, pod.metadata.name
        if pod.metadata.deletion_timestamp is not None:
            first = self._terminating_since.setdefault(pod.metadata.uid, time.monotonic())
            if time.monotonic() - first >= self.termination_delay:
                delete_at_once(self.core, pod)
                self._terminating_since.pop(pod.metadata.uid, None)
            return
        if pod.status.phase in ("Succeeded", "Failed"):
            return
        behaviour = (pod.metadata.labels or {}).get(BEHAVIOUR)
        if behaviour == "pending":
            return
        on_ready_node = pod.spec.node_name not in self.not_ready
        conditions = {c.type: c.status for c in (pod.status.conditions or [])}
        want_ready = "True" if on_ready_node and behaviour != "crash-loop" else "False"
        if pod.status.phase == "Running" and conditions.get("Ready") == want_ready:
            return
        now = _now()
        self.core.patch_namespaced_pod_status(
            name,
            namespace,
            {
                "status": {
                    "phase": "Running",
                    "startTime": pod.status.start_time.strftime("%Y-%m-%dT%H:%M:%SZ")
                    if pod.status.start_time
                    else now,
                    "conditions": [
                        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                        {
                            "type": "ContainersReady",
                            "status": want_ready,
                            "lastTransitionTime": now,
                        },
                        {"type": "Ready", "status": want_ready, "lastTransitionTime": now},
                        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                    ],
                }
            },
        )
