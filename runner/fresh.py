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
change all the time and the cache answers at once; on a quiet one the etcd read is
cheap.
"""

from __future__ import annotations

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
        query = {"fieldSelector": f"spec.nodeName={node}"}
        return [pod_of(raw) for raw in self._list("/api/v1/pods", query, revision=revision)]

    def pdbs(self, *, revision: str) -> list[PodDisruptionBudget]:
        version = self.policy_version
        raws = self._list(f"/apis/{version}/poddisruptionbudgets", {}, revision=revision)
        return [pdb_of(raw, version) for raw in raws]

    def _list(self, path: str, query: Mapping[str, str], *, revision: str) -> list[JSON]:
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
                self.cache_reads += 1
                items: list[JSON] = page.get("items") or []
                return items
        self.quorum_reads += 1
        return list(self.kube.list(path, query=query))
