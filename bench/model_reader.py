"""The runner's `--plan` pass, but reading nodes and pods through the kubernetes client's
models, for bench/runner_vs_kubectl.py. Everything else is the runner's own code, so
the difference is the cost of model deserialization alone.

    python -m bench.model_reader KUBECONFIG
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from kubernetes import client, config

from policy import plan
from policy.model import Node, Pod, Snapshot
from runner import read
from runner.kube import Kube
from runner.memory import collector_paused, settle_snapshot


def node_of(model: client.V1Node) -> Node:
    ready = next((c for c in model.status.conditions or [] if c.type == "Ready"), None)
    return Node(
        name=model.metadata.name,
        labels=dict(model.metadata.labels or {}),
        annotations=dict(model.metadata.annotations or {}),
        unschedulable=bool(model.spec.unschedulable),
        ready=bool(ready and ready.status == "True"),
        ready_since=ready.last_transition_time if ready else None,
    )


def pod_of(model: client.V1Pod) -> Pod:
    owner = next((o for o in model.metadata.owner_references or [] if o.controller), None)
    conditions = {c.type: c.status for c in model.status.conditions or []}
    return Pod(
        namespace=model.metadata.namespace,
        name=model.metadata.name,
        uid=model.metadata.uid or "",
        node=model.spec.node_name or "",
        labels=dict(model.metadata.labels or {}),
        owner_kind=owner.kind if owner else None,
        owner_name=owner.name if owner else None,
        mirror="kubernetes.io/config.mirror" in (model.metadata.annotations or {}),
        phase=model.status.phase or "Pending",
        deletion_timestamp=model.metadata.deletion_timestamp,
        empty_dir=any(v.empty_dir is not None for v in model.spec.volumes or []),
        ready=conditions.get("Ready") == "True",
        termination_grace_period_seconds=model.spec.termination_grace_period_seconds,
    )


def read_with_models(kubeconfig: str) -> Snapshot:
    """read_cluster's reads, with nodes and pods deserialized into client models."""
    core = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    kube = Kube.connect(kubeconfig=kubeconfig)
    requests = [read.request_of(r) for r in kube.list(f"{read.GROUP_PATH}/maintenancerequests")]
    limits = [read.limit_of(m) for m in kube.list(f"{read.GROUP_PATH}/maintenancelimits")]
    nodes = []
    token = None
    while True:
        page = core.list_node(limit=500, _continue=token)
        nodes += [node_of(n) for n in page.items]
        token = page.metadata._continue
        if not token:
            break
    version = read.policy_version(kube)
    pdbs = [read.pdb_of(b, version) for b in kube.list(f"/apis/{version}/poddisruptionbudgets")]
    pods = [
        pod_of(p)
        for name in read.nodes_that_matter(requests, {n.name for n in nodes})
        for p in core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={name}", resource_version="0"
        ).items
    ]
    return Snapshot(
        now=datetime.now(UTC),
        nodes=tuple(nodes),
        pods=tuple(pods),
        pdbs=tuple(pdbs),
        limits=tuple(limits),
        requests=tuple(requests),
    )


def main() -> None:
    snapshot = read_with_models(sys.argv[1])
    settle_snapshot()
    with collector_paused():
        result = plan(snapshot)
    print(len(result.decisions))


if __name__ == "__main__":
    main()
