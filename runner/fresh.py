"""Reads that see every write made before them: what the approval gate decides on.

The snapshot's pods come from the API server's watch cache (`resourceVersion=0`),
which may be behind; a quorum read sees everything but scans every pod of the cluster
in etcd (9.8 s per node at 150,000 pods). In between: first a quorum LIST of the
MaintenanceLimits (a handful of objects, needed by the gate anyway), whose
`resourceVersion` is etcd's revision now; then the node's pods (and the PDBs) from the
watch cache with `resourceVersion=<that>&resourceVersionMatch=NotOlderThan`, which
the API server answers only once its cache has caught up with that revision.

Kubernetes 1.20's cache moves only on events of its own kind: when no pod changed
since the revision, it cannot show that it is up to date, and answers 504 "Too large
resource version" after 3 s. The runner waits `CACHE_WAIT` for it instead; then, and
for the rest of the pass for that kind, the read goes to etcd. On a busy cluster pods
change all the time and the cache answers at once. On a quiet one the etcd read of a
node's pods scans every pod of the cluster (6 s at 150,000; 40 s for all of them):
those reads are shared (`QuorumPods`). A gate that must read from etcd joins the next
read that has not begun: one paged LIST of every pod, begun after every gate it
serves asked, keeps the pods of their nodes. Each gate thus sees every write made
before it asked, as a read of its own would; the gates that ask while one read is
under way (the applier runs many lanes on few connections) share the next.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping

from policy.model import MaintenanceLimit, Node, Pod, PodDisruptionBudget
from runner.convert import limit_of, node_of, pdb_of, pod_of
from runner.kube import JSON, Kube, KubeError
from runner.read import GROUP_PATH

NOT_OLDER_THAN = "NotOlderThan"
CACHE_WAIT = 0.5
"""Seconds to wait for the watch cache to catch up before reading from etcd."""


class FreshReads:
    def __init__(self, kube: Kube, *, policy_version: str) -> None:
        self.kube = kube
        self.policy_version = policy_version
        self.quiet: set[str] = set()
        """Paths whose watch cache could not show it was up to date in this pass."""
        self.cache_reads = 0
        self.quorum_reads = 0
        self.shared = QuorumPods(kube)
        self._lock = threading.Lock()

    def limits(self) -> tuple[list[MaintenanceLimit], str]:
        """Every limit, read from etcd, and etcd's revision at that read."""
        page = self.kube.request("GET", f"{GROUP_PATH}/maintenancelimits")
        revision = str((page.get("metadata") or {}).get("resourceVersion") or "")
        return [limit_of(raw) for raw in page.get("items") or []], revision

    def node(self, name: str) -> Node | None:
        try:
            return node_of(self.kube.request("GET", f"/api/v1/nodes/{name}"))
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    def pods_on(self, node: str, *, revision: str) -> list[Pod]:
        """`node`'s pods as of `revision` from the watch cache; else from a read of
        every pod in etcd begun after this call (QuorumPods)."""
        query = {"fieldSelector": f"spec.nodeName={node}"}
        cached = self._cached("/api/v1/pods", query, revision=revision)
        if cached is not None:
            return [pod_of(raw) for raw in cached]
        with self._lock:
            self.quorum_reads += 1
        return self.shared.pods_on(node)

    def pdbs(self, *, revision: str) -> list[PodDisruptionBudget]:
        version = self.policy_version
        raws = self._list(f"/apis/{version}/poddisruptionbudgets", {}, revision=revision)
        return [pdb_of(raw, version) for raw in raws]

    def _list(self, path: str, query: Mapping[str, str], *, revision: str) -> list[JSON]:
        cached = self._cached(path, query, revision=revision)
        if cached is not None:
            return cached
        with self._lock:
            self.quorum_reads += 1
        return list(self.kube.list(path, query=query))

    def _cached(self, path: str, query: Mapping[str, str], *, revision: str) -> list[JSON] | None:
        """The items from the watch cache once it has caught up with `revision`; None
        when it could not show it had, in this pass."""
        if revision and path not in self.quiet:
            try:
                page = self.kube.request(
                    "GET",
                    path,
                    query={
                        **query,
                        "resourceVersion": revision,
                        "resourceVersionMatch": NOT_OLDER_THAN,
                    },
                    retry=False,
                    timeout=CACHE_WAIT,
                )
            except KubeError as error:
                if error.status in (401, 403, 404):
                    raise
                self.quiet.add(path)  # e.g. 504 Too large resource version: see above
            else:
                with self._lock:
                    self.cache_reads += 1
                items: list[JSON] = page.get("items") or []
                return items
        return None


class QuorumPods:
    """Nodes' pods from etcd, one LIST of every pod shared by the gates that asked
    while no read of it had begun (see the module's docstring)."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.reads = 0
        """LISTs of every pod made (each may serve several gates)."""
        self._changed = threading.Condition()
        self._waiting: set[str] = set()
        """Nodes asked for since the last read began: the next read's."""
        self._next = 0
        """The number of the next read to begin."""
        self._reading = False
        self._done: dict[int, dict[str, list[Pod]] | KubeError] = {}

    def pods_on(self, node: str) -> list[Pod]:
        with self._changed:
            mine = self._next
            self._waiting.add(node)
            while mine not in self._done:
                if not self._reading and self._next == mine:
                    break  # nobody is reading: this thread reads for everyone waiting
                self._changed.wait()
            else:
                return self._answer(mine, node)
            self._reading, self._next = True, mine + 1
            nodes, self._waiting = self._waiting, set()
        found: dict[str, list[Pod]] | KubeError
        try:
            found = self._read(nodes)
        except KubeError as error:
            found = error
        except BaseException:
            self._finish(mine, KubeError("the shared read of every pod was interrupted"))
            raise
        self._finish(mine, found)
        with self._changed:
            return self._answer(mine, node)

    def _finish(self, read: int, found: dict[str, list[Pod]] | KubeError) -> None:
        with self._changed:
            self._done[read] = found
            self._reading = False
            self._changed.notify_all()

    def _answer(self, read: int, node: str) -> list[Pod]:
        found = self._done[read]
        if isinstance(found, KubeError):
            raise copy.copy(found) from None  # one each: the gates' tracebacks stay apart
        return found.get(node, [])

    def _read(self, nodes: set[str]) -> dict[str, list[Pod]]:
        self.reads += 1

        def wanted(raw: JSON) -> bool:
            return (raw.get("spec") or {}).get("nodeName") in nodes

        found: dict[str, list[Pod]] = {node: [] for node in nodes}
        for pod in self.kube.list_as("/api/v1/pods", pod_of, keep=wanted):
            found[pod.node].append(pod)
        return found
