"""Synthetic snapshots of large clusters, for benchmarks and the forecast.

`synthetic(nodes=5000, requests=1000, pods=30000, pdbs=2000, seed=0)` builds a
deterministic snapshot shaped like a real fleet: three zones, a cluster-wide limit in
the original form, per-zone limits that drain and wait for volumes (one with a window),
requests in every state (40% already active, spread over zones), the pods of the nodes
that matter (those with a request) spread over namespaces of five apps each, each app
under one PDB, plus a DaemonSet pod per node that matters and one volume attachment.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from policy.model import (
    CORDONED_BY,
    LabelSelector,
    MaintenanceLimit,
    MaintenanceRequest,
    Node,
    Pod,
    PodDisruptionBudget,
    RequestState,
    RequestStatus,
    Snapshot,
    VolumeAttachment,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ZONES = ("eu-1a", "eu-1b", "eu-1c")
APPS_PER_NAMESPACE = 5


def synthetic(
    *, nodes: int = 5000, requests: int = 1000, pods: int = 30000, pdbs: int = 2000, seed: int = 0
) -> Snapshot:
    rng = random.Random(seed)
    node_list = [
        Node(
            name=f"worker-{i:06d}",
            labels={
                "topology.kubernetes.io/zone": ZONES[i % len(ZONES)],
                "node.kubernetes.io/pool": "general" if i % 4 else "memory",
            },
            ready=rng.random() > 0.005,
            unschedulable=rng.random() < 0.005,
            ready_since=NOW - timedelta(days=3),
        )
        for i in range(nodes)
    ]
    targets = rng.sample(range(nodes), requests)
    active_states = (RequestState.PREPARING, RequestState.APPROVED, RequestState.IN_PROGRESS)
    request_list = []
    for index, node_index in enumerate(targets):
        name = f"mr-{index:06d}"
        node = node_list[node_index].name
        status = RequestStatus()
        if index % 5 < 2:
            state = active_states[index % 3]
            status = RequestStatus(
                state=state,
                reason="Recorded",
                target=f"node/{node}",
                preparing_since=NOW - timedelta(minutes=5),
                approved_at=None if state is RequestState.PREPARING else NOW - timedelta(minutes=4),
                started_at=NOW - timedelta(minutes=3)
                if state is RequestState.IN_PROGRESS
                else None,
            )
            node_list[node_index] = Node(
                name=node,
                labels=node_list[node_index].labels,
                annotations={CORDONED_BY: name},
                unschedulable=True,
                ready_since=NOW - timedelta(days=3),
            )
        request_list.append(
            MaintenanceRequest(
                name=name,
                uid=f"uid-{name}",
                resource_version=str(1000 + index),
                creation_timestamp=NOW - timedelta(seconds=rng.randrange(86400)),
                spec={
                    "type": "node",
                    "name": node,
                    "state": "InProgress"
                    if status.state is RequestState.IN_PROGRESS
                    else "Pending",
                    "requester": "os-patcher",
                    "reason": "kernel update",
                    "priority": rng.choice((0, 0, 0, 10)),
                },
                status=status,
            )
        )
    namespaces = max(pdbs // APPS_PER_NAMESPACE, 1)
    pdb_list = [
        PodDisruptionBudget(
            namespace=f"team-{i // APPS_PER_NAMESPACE:05d}",
            name=f"app-{i % APPS_PER_NAMESPACE}",
            selector=LabelSelector({"app": f"app-{i % APPS_PER_NAMESPACE}"}),
            disruptions_allowed=rng.choice((0, 1, 1, 2)),
            generation=1,
            observed_generation=1,
            current_healthy=5,
            desired_healthy=4,
            expected_pods=5,
        )
        for i in range(pdbs)
    ]
    pod_list = []
    nodes_that_matter = [node_list[i].name for i in targets]
    per_node = -(-pods // len(nodes_that_matter))
    for i in range(pods):
        # Node by node, as the runner lists them (one fieldSelector=spec.nodeName each).
        node = nodes_that_matter[i // per_node]
        namespace = f"team-{rng.randrange(namespaces):05d}"
        app = f"app-{rng.randrange(APPS_PER_NAMESPACE)}"
        pod_list.append(
            Pod(
                namespace=namespace,
                name=f"{app}-{i:07d}",
                uid=f"uid-pod-{i}",
                node=node,
                labels={"app": app, "pod-template-hash": f"{i % 97:05d}"},
                owner_kind="ReplicaSet",
                owner_name=f"{app}-rs",
                empty_dir=rng.random() < 0.05,
            )
        )
    for node in nodes_that_matter:
        pod_list.append(
            Pod(
                namespace="monitoring",
                name=f"node-exporter-{node}",
                uid=f"uid-ds-{node}",
                node=node,
                labels={"app": "node-exporter"},
                owner_kind="DaemonSet",
                owner_name="node-exporter",
            )
        )
    zone_spec = {
        "type": "node",
        "limit": 10,
        "cordon": True,
        "drain": {"timeoutSeconds": 1800, "gracePeriodSeconds": 30},
        "infraDrain": {"waitForVolumeDetach": True, "timeoutSeconds": 600},
    }
    limits = [
        MaintenanceLimit(
            "node", uid="uid-node", spec={"limit": 10, "policies": ["NotReady", "Unschedulable"]}
        ),
        *(
            MaintenanceLimit(
                f"zone-{zone}",
                uid=f"uid-zone-{zone}",
                spec={
                    **zone_spec,
                    "selector": {"matchLabels": {"topology.kubernetes.io/zone": zone}},
                },
            )
            for zone in ZONES[:2]
        ),
        MaintenanceLimit(
            f"zone-{ZONES[2]}",
            uid=f"uid-zone-{ZONES[2]}",
            spec={
                **zone_spec,
                "selector": {"matchLabels": {"topology.kubernetes.io/zone": ZONES[2]}},
                "windows": [
                    {
                        "days": ["Sat", "Sun"],
                        "start": "01:00",
                        "end": "05:00",
                        "timeZone": "Europe/Berlin",
                    }
                ],
            },
        ),
    ]
    attachments = [
        VolumeAttachment(f"csi-{i:06d}", node, attached=i % 3 == 0)
        for i, node in enumerate(nodes_that_matter)
    ]
    return Snapshot(
        now=NOW,
        nodes=tuple(node_list),
        pods=tuple(pod_list),
        pdbs=tuple(pdb_list),
        volume_attachments=tuple(attachments),
        limits=tuple(limits),
        requests=tuple(request_list),
    )
