"""Read one snapshot of the cluster from the API (converted by runner.convert).

It lists the MaintenanceRequests and MaintenanceLimits, the nodes, the
PodDisruptionBudgets (policy/v1 where served, else v1beta1), the VolumeAttachments,
and the Deployments, StatefulSets or DaemonSets only when a request targets that kind.
Pods are read only for the nodes that matter (targets of active and waiting node
requests), one `fieldSelector=spec.nodeName=...` list each, from the watch cache,
`READERS` nodes at once; or for none, then `pods_as_needed` reads those the plan does
need; or every node's the same way (a forecast).
The limits' outside gates are read too (runner.gates: a gate that cannot be read is a
reading with its error, never a failed pass). Missing CRDs, missing permissions and an
unreachable server are `KubeError`s with one clear line.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

import attrs

from policy import commits
from policy.decisions import Plan
from policy.model import (
    MaintenanceLimit,
    MaintenanceRequest,
    Node,
    Pod,
    RequestState,
    Snapshot,
    TargetType,
    Workload,
)
from policy.validation import Target, parse_request_spec
from runner.convert import (
    attachment_of,
    label_map,
    limit_of,
    node_of,
    pdb_of,
    pod_of,
    request_of,
)
from runner.gates import read_gates
from runner.kube import JSON, Kube, KubeError, side_by_side
from runner.mirror import Mirror, Mirrors

GROUP_PATH = "/apis/repairman.k8s.io/v1"
READERS = 4
"""Nodes whose pods are read at once (each read converted in its thread, so that only
Pods are held, never a node's JSON longer than its conversion). At 5,000 nodes and
150,000 pods, every pod read this way takes 14-16 s with 4 to 16 readers, against
40 s for one paged list of all pods from etcd (docs/performance.md)."""
WORKLOAD_PATHS = {
    TargetType.DEPLOYMENT: "/apis/apps/v1/deployments",
    TargetType.STATEFULSET: "/apis/apps/v1/statefulsets",
    TargetType.DAEMONSET: "/apis/apps/v1/daemonsets",
}


def policy_version(kube: Kube) -> str:
    """The PodDisruptionBudget version: policy/v1 when served (1.21+), else v1beta1."""
    return "policy/v1" if kube.served("policy/v1") else "policy/v1beta1"


def eviction_version(kube: Kube) -> str:
    """The Eviction version, from the `pods/eviction` entry of /api/v1's discovery, as
    kubectl drain finds it. Not the PDB version: 1.21 serves PDBs in policy/v1 but takes
    evictions in policy/v1beta1 only (policy/v1 Evictions came in 1.22), and an
    Eviction of the wrong version is answered 400 — every drain would time out."""
    for resource in kube.request("GET", "/api/v1").get("resources") or ():
        if (
            resource.get("name") == "pods/eviction"
            and resource.get("kind") == "Eviction"
            and resource.get("group")
            and resource.get("version")
        ):
            return f"{resource['group']}/{resource['version']}"
    return "policy/v1beta1"  # servers before 1.8 named no version: v1beta1 it was


def _repairman(kube: Kube, plural: str) -> tuple[list[JSON], str]:
    try:
        return kube.list_at(f"{GROUP_PATH}/{plural}", lambda raw: raw)
    except KubeError as error:
        if error.status == 404:
            raise KubeError(
                f"the {plural}.repairman.k8s.io CRD is not installed: run kubectl apply -k k8s/",
                status=404,
            ) from None
        raise


def mirrors_of(kube: Kube) -> Mirrors:
    """The mirrors of a run of `--until-stable` (runner.mirror), not yet listed: the
    requests, the limits and the nodes. PodDisruptionBudgets and VolumeAttachments are
    listed every pass: few, and what a drain and an approval's storage wait build on
    (a watch that went quiet would hide a new PDB over a pod being drained, or a volume
    attached by a late pod, for the rest of the run)."""
    mirrors = Mirrors(kube)
    for plural, convert in (
        ("maintenancerequests", request_of),
        ("maintenancelimits", limit_of),
    ):
        mirrors.add(
            Mirror(
                kube,
                plural,
                f"{GROUP_PATH}/{plural}",
                convert,
                lister=lambda plural=plural: _repairman(kube, plural),
            )
        )
    mirrors.add(Mirror(kube, "nodes", "/api/v1/nodes", node_of))
    return mirrors


def nodes_that_matter(requests: list[MaintenanceRequest], nodes: set[str]) -> list[str]:
    """Nodes whose pods the plan may look at: targets of unfinished node requests, as
    their status names them and as their spec does (a waiting request with a stale
    status target is admitted for its spec's)."""
    wanted = set()
    for request in requests:
        state = request.status.state
        if state is not None and state.terminal:
            continue
        for target in _targets(request):
            if target.type is TargetType.NODE and target.name in nodes:
                wanted.add(target.name)
    return sorted(wanted)


def pods_on(kube: Kube, node: str) -> list[JSON]:
    """The pods bound to `node`, from the API server's watch cache (resourceVersion=0),
    which indexes pods by node: a consistent read scans every pod of the cluster in
    etcd, about 0.35 s per node with 20,000 pods. The cache may be behind, and a
    cordoned node still gains pods (bound by name, or tolerating the cordon): the plan
    looks at a Preparing node's pods on every pass, and the applier proves a node
    empty, and every approval, on a fresh read (runner.fresh, policy.gate).
    """
    items: list[JSON] = (
        kube.request(
            "GET",
            "/api/v1/pods",
            query={"fieldSelector": f"spec.nodeName={node}", "resourceVersion": "0"},
        ).get("items")
        or []
    )
    return items


def nodes_at_work(snapshot: Snapshot) -> set[str]:
    """Nodes whose pods any plan of `snapshot` looks at, whatever it admits: targets of
    active requests (drains, their budgets, approvals), and of waiting requests that a
    limit names as committing (another pass may be writing their admission; a
    drain-less one keeps its pods' budget, policy.usage)."""
    names = {n.name for n in snapshot.nodes}
    wanted = set()
    committing = {name for limit in snapshot.limits for name in commits.named(limit)}
    for request in snapshot.requests:
        state = request.status.state
        if not (
            (state is not None and state.active)
            or (request.name in committing and (state is None or not state.terminal))
        ):
            continue
        # The admitted target, and the spec's: the plan holds the spec's when the
        # status names none or garbage (policy.pass_state.Index.status_target).
        for target in _targets(request):
            # A node under maintenance that was deleted still has its pods read: they
            # are bound to it until garbage-collected, and charged (policy.usage).
            approved = state in (RequestState.APPROVED, RequestState.IN_PROGRESS)
            if target.type is TargetType.NODE and (target.name in names or approved):
                wanted.add(target.name)
    return wanted


def _targets(request: MaintenanceRequest) -> list[Target]:
    """The node or workload a request's status names, and the one its spec names."""
    found = []
    status = Target.from_key(request.status.target or "")
    if status is not None:
        found.append(status)
    spec = getattr(parse_request_spec(request.spec), "target", None)
    if spec is not None and spec != status:
        found.append(spec)
    return found


MAX_POD_ROUNDS = 8
"""Rounds of `pods_as_needed` before it reads the pods of every requested node."""


def pods_as_needed(
    fetch: Callable[[str], list[Pod]],
    snapshot: Snapshot,
    planner: Callable[[Snapshot], Plan],
    fetched: dict[str, list[Pod]],
    *,
    ended: Callable[[Snapshot], Snapshot] = lambda snapshot: snapshot,
) -> tuple[Snapshot, Plan]:
    """`snapshot` with the pods of the nodes the plan needs, read node by node: those at
    work, then those the plan admits, until it admits no node whose pods it has not
    seen (issue 16: a queue of 5,000 requests under a 5% limit cost 5,000 reads a
    pass, for the 250 that could be admitted).

    A waiting request's plan needs its node's pods only if it is admitted: before, it
    waits for room, windows or intervals, which pods do not change. A plan that read
    no pods for a node sees it empty, so it admits optimistically (a drain-less
    admission finds every budget covering an empty node); its pods are read and the
    plan made again, where they may keep it waiting and admit the next one instead.
    The plan returned admits only nodes whose pods it saw: the same plan as with every
    requested node's pods. After MAX_POD_ROUNDS it reads them all, as before.

    Every round plans at `ended(snapshot)`: the instant its reads ended (the runner
    passes the API server's clock as its last answer said it), so that a node found
    empty by a read is judged empty from then, not from before the read.

    `fetch(node)` reads a node's pods (`node_pods`); `fetched` (node -> its pods) is
    what earlier calls read, and is added to."""
    wanted = nodes_at_work(snapshot)
    for _ in range(MAX_POD_ROUNDS):
        fetched.update(read_pods(fetch, wanted - fetched.keys()))
        snapshot = ended(snapshot)
        current = _with_pods(snapshot, fetched)
        result = planner(current)
        wanted = _admitted_nodes(result) - fetched.keys()
        if not wanted:
            return current, result
    names = {n.name for n in snapshot.nodes}
    fetched.update(
        read_pods(fetch, set(nodes_that_matter(list(snapshot.requests), names)) - fetched.keys())
    )
    current = _with_pods(ended(snapshot), fetched)
    return current, planner(current)


def read_pods(fetch: Callable[[str], list[Pod]], nodes: Collection[str]) -> dict[str, list[Pod]]:
    """Each node's pods by `fetch`, `READERS` nodes at once (`Kube`'s side_by_side: the
    first error stops the rest, and nothing waits for a read in flight after a stop)."""
    ordered = sorted(nodes)
    if len(ordered) <= 1:
        return {node: fetch(node) for node in ordered}
    return dict(zip(ordered, side_by_side(fetch, ordered, at_once=READERS), strict=True))


def node_pods(kube: Kube) -> Callable[[str], list[Pod]]:
    """Reads one node's pods, for `pods_as_needed`."""
    return lambda node: [pod_of(p) for p in pods_on(kube, node)]


def _with_pods(snapshot: Snapshot, fetched: dict[str, list[Pod]]) -> Snapshot:
    return attrs.evolve(
        snapshot, pods=tuple(pod for node in sorted(fetched) for pod in fetched[node])
    )


def _admitted_nodes(plan: Plan) -> set[str]:
    """Nodes a plan admits a waiting request for (its commit point): the plan says."""
    return {a.node for a in plan.admissions if a.node is not None}


def read_cluster(
    kube: Kube,
    *,
    now: datetime,
    all_pods: bool = False,
    pods: bool = True,
    mirrors: Mirrors | None = None,
) -> Snapshot:
    """The cluster as the policy sees it. Pods of every node a plan may need (every
    requested node's); of every node with `all_pods` (a forecast moves pods onto other
    nodes and needs them all); of none without `pods` (then `pods_as_needed` reads
    those the plan does need). The requests, limits and nodes from `mirrors` when
    given (listed there the first time), else listed."""
    if mirrors is not None:
        if not mirrors.started:
            mirrors.start()
        requests: list[MaintenanceRequest] = mirrors.kinds["maintenancerequests"].items()
        limits: list[MaintenanceLimit] = mirrors.kinds["maintenancelimits"].items()
        nodes: list[Node] = mirrors.kinds["nodes"].items()
    else:
        requests = [request_of(r) for r in _repairman(kube, "maintenancerequests")[0]]
        limits = [limit_of(m) for m in _repairman(kube, "maintenancelimits")[0]]
        nodes = kube.list_as("/api/v1/nodes", node_of)
    version = policy_version(kube)
    pdbs = kube.list_as(f"/apis/{version}/poddisruptionbudgets", lambda raw: pdb_of(raw, version))
    attachments = kube.list_as("/apis/storage.k8s.io/v1/volumeattachments", attachment_of)
    if all_pods or pods:
        # A forecast reads every node's pods the same way as a pass reads those of the
        # nodes that matter: node by node from the watch cache. One paged list of every
        # pod is a read of etcd, and 2.6 times slower at 150,000 pods. Pods bound to a
        # node that is gone are read where a request at work names it (they are
        # charged, policy.usage), else left to the pod garbage collector.
        names = {n.name for n in nodes}
        if all_pods:
            listed = Snapshot(
                now=now, nodes=tuple(nodes), limits=tuple(limits), requests=tuple(requests)
            )
            wanted: Collection[str] = names | nodes_at_work(listed)
        else:
            wanted = nodes_that_matter(requests, names)
        fetched = read_pods(node_pods(kube), wanted)
        found = [pod for node in sorted(fetched) for pod in fetched[node]]
    else:
        found = []
    kinds = set()
    for request in requests:
        kind = request.spec.get("type") if isinstance(request.spec, dict) else None
        if kind in ("deployment", "statefulset", "daemonset"):
            kinds.add(TargetType(kind))
    workloads = [
        Workload(
            kind=kind,
            namespace=w["metadata"].get("namespace", ""),
            name=w["metadata"]["name"],
            labels=label_map(w["metadata"].get("labels")),
        )
        for kind in sorted(kinds, key=lambda k: k.value)
        for w in kube.list(WORKLOAD_PATHS[kind])
    ]
    return Snapshot(
        now=now,
        nodes=tuple(nodes),
        pods=tuple(found),
        pdbs=tuple(pdbs),
        volume_attachments=tuple(attachments),
        workloads=tuple(workloads),
        limits=tuple(limits),
        requests=tuple(requests),
        gates=read_gates(kube, limits, now),
    )
