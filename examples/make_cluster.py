"""Writes examples/cluster.json: a realistic recorded snapshot to plan from offline.

50 nodes in three zones on a Wednesday morning. A cluster-wide limit in the original
repairman form (20% of nodes, NotReady and cordoned nodes count), per-zone limits that
cordon, drain and wait for volumes (zone c only on weekend nights, Europe/Berlin), a
StatefulSet limit and a deployment limit with a broken window. Deployments and
StatefulSets under PDBs (shop/api already at 0, data/kafka's status stale), DaemonSet
pods, an emptyDir pod, an admin-cordoned node and a NotReady node. Requests in every
state, with an approval timeout that has fired, an in-progress timeout one minute away,
a request for a node that does not exist and one with an invalid type.

Run `python examples/make_cluster.py` after changing it; a test checks that the
committed file is what this script writes.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from policy.model import (
    CORDONED_BY,
    LabelSelector,
    LimitStatus,
    MaintenanceLimit,
    MaintenanceRequest,
    Node,
    Pod,
    PodDisruptionBudget,
    RequestState,
    RequestStatus,
    Snapshot,
    TargetType,
    VolumeAttachment,
    Workload,
)
from policy.snapshot_format import dump

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
ZONES = {"a": 17, "b": 17, "c": 16}


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def nodes() -> list[Node]:
    result = []
    for zone, count in ZONES.items():
        for index in range(1, count + 1):
            name = f"worker-{zone}-{index:02d}"
            labels = {
                "kubernetes.io/hostname": name,
                "topology.kubernetes.io/zone": f"eu-1{zone}",
                "node.kubernetes.io/pool": "general" if index <= 12 else "memory",
            }
            annotations: dict[str, str] = {}
            unschedulable = False
            ready = True
            if name == "worker-b-05":
                unschedulable = True  # cordoned by an admin: never ours to uncordon
            if name == "worker-c-03":
                ready = False
            if name in ("worker-a-02", "worker-a-09", "worker-b-07", "worker-b-10"):
                unschedulable = True
                owner = {
                    "worker-a-02": "mr-os-a02",
                    "worker-a-09": "mr-fw-a09",
                    "worker-b-07": "mr-repair-b07",
                    "worker-b-10": "mr-fw-b10",
                }[name]
                annotations[CORDONED_BY] = owner
            result.append(
                Node(
                    name=name,
                    labels=labels,
                    annotations=annotations,
                    unschedulable=unschedulable,
                    ready=ready,
                    ready_since=ago(minutes=7) if name == "worker-c-03" else ago(days=30),
                )
            )
    return result


def pod(namespace: str, name: str, node: str, **fields: object) -> Pod:
    return Pod(namespace=namespace, name=name, uid=f"uid-{namespace}-{name}", node=node, **fields)  # type: ignore[arg-type]


def pods() -> list[Pod]:
    result = []
    # Nodes that matter: those of active and waiting requests.
    for node in (
        "worker-a-02",
        "worker-a-05",
        "worker-a-09",
        "worker-a-14",
        "worker-b-03",
        "worker-b-07",
        "worker-c-03",
        "worker-c-04",
    ):
        result.append(
            pod(
                "monitoring",
                f"node-exporter-{node[-4:]}",
                node,
                labels={"app": "node-exporter"},
                owner_kind="DaemonSet",
                owner_name="node-exporter",
            )
        )
    result += [
        pod(
            "shop",
            "web-7d9f-x2k4p",
            "worker-b-03",
            labels={"app": "web"},
            owner_kind="ReplicaSet",
            owner_name="web-7d9f",
        ),
        pod(
            "shop",
            "api-5c8b-q7z2m",
            "worker-b-03",
            labels={"app": "api"},
            owner_kind="ReplicaSet",
            owner_name="api-5c8b",
        ),
        pod(
            "shop",
            "cache-6f4d-h8w1r",
            "worker-b-03",
            labels={"app": "cache"},
            owner_kind="ReplicaSet",
            owner_name="cache-6f4d",
            empty_dir=True,
        ),
        pod(
            "data",
            "kafka-1",
            "worker-b-03",
            labels={"app": "kafka"},
            owner_kind="StatefulSet",
            owner_name="kafka",
        ),
        pod(
            "shop",
            "web-7d9f-m3n8b",
            "worker-a-05",
            labels={"app": "web"},
            owner_kind="ReplicaSet",
            owner_name="web-7d9f",
        ),
        pod(
            "data",
            "postgres-0",
            "worker-a-05",
            labels={"app": "postgres"},
            owner_kind="StatefulSet",
            owner_name="postgres",
        ),
        pod("default", "debug-shell", "worker-a-14"),
        pod(
            "kube-system",
            "etcd-backup-worker-c-04",
            "worker-c-04",
            mirror=True,
            owner_kind="Node",
            owner_name="worker-c-04",
        ),
        pod(
            "shop",
            "web-7d9f-p1c6t",
            "worker-c-04",
            labels={"app": "web"},
            owner_kind="ReplicaSet",
            owner_name="web-7d9f",
        ),
        pod(
            "batch",
            "report-28871-9kq2d",
            "worker-c-04",
            owner_kind="Job",
            owner_name="report-28871",
            phase="Succeeded",
            ready=False,
        ),
    ]
    return result


def pdbs() -> list[PodDisruptionBudget]:
    def pdb(
        namespace: str, name: str, app: str, *, allowed: int, healthy: int, desired: int, **kw: int
    ) -> PodDisruptionBudget:
        return PodDisruptionBudget(
            namespace=namespace,
            name=name,
            selector=LabelSelector({"app": app}),
            disruptions_allowed=allowed,
            generation=kw.get("generation", 1),
            observed_generation=kw.get("observed", 1),
            current_healthy=healthy,
            desired_healthy=desired,
            expected_pods=healthy,
        )

    return [
        pdb("shop", "web", "web", allowed=1, healthy=6, desired=5),
        pdb("shop", "api", "api", allowed=0, healthy=3, desired=3),
        pdb("data", "postgres", "postgres", allowed=1, healthy=3, desired=2),
        pdb("data", "kafka", "kafka", allowed=1, healthy=3, desired=2, generation=2, observed=1),
    ]


def limits() -> list[MaintenanceLimit]:
    def zone(zone: str, max_concurrent: int, **extra: object) -> MaintenanceLimit:
        return MaintenanceLimit(
            name=f"zone-{zone}",
            uid=f"uid-limit-zone-{zone}",
            resource_version="1000",
            spec={
                "type": "node",
                "limit": 100,
                "maxConcurrent": max_concurrent,
                "selector": {"matchLabels": {"topology.kubernetes.io/zone": f"eu-1{zone}"}},
                "cordon": True,
                "drain": {
                    "timeoutSeconds": 900,
                    "gracePeriodSeconds": 30,
                    "deleteEmptyDirData": True,
                },
                "infraDrain": {"waitForVolumeDetach": True, "timeoutSeconds": 300},
                "approvedTimeoutSeconds": 600,
                "inProgressTimeoutSeconds": 7200,
                "ttlSecondsAfterFinished": 86400,
                **extra,
            },
        )

    return [
        # The original repairman form: named after its type, only limit and policies.
        MaintenanceLimit(
            name="node",
            uid="uid-limit-node",
            resource_version="1000",
            spec={"limit": 20, "policies": ["NotReady", "Unschedulable"]},
            status=LimitStatus(last_admission_at=ago(hours=3)),
        ),
        zone("a", 2),
        zone("b", 2),
        zone(
            "c",
            1,
            windows=[
                {
                    "days": ["Sat", "Sun"],
                    "start": "01:00",
                    "end": "05:00",
                    "timeZone": "Europe/Berlin",
                }
            ],
        ),
        MaintenanceLimit(
            name="statefulsets",
            uid="uid-limit-statefulsets",
            resource_version="1000",
            spec={
                "type": "statefulset",
                "limit": 50,
                "maxConcurrent": 1,
                "minIntervalSeconds": 3600,
            },
        ),
        MaintenanceLimit(
            name="deployments",
            uid="uid-limit-deployments",
            resource_version="1000",
            spec={
                "type": "deployment",
                "limit": 10,
                "windows": [
                    {
                        "days": ["Tue"],
                        "start": "22:00",
                        "end": "02:00",
                        "timeZone": "Mars/Olympus_Mons",
                    }
                ],
            },
        ),
    ]


def request(
    name: str,
    target: str,
    *,
    kind: str = "node",
    state: str = "Pending",
    requester: str = "os-patcher",
    reason: str = "kernel 6.8 security update",
    priority: int = 0,
    created: datetime,
    status: RequestStatus | None = None,
) -> MaintenanceRequest:
    return MaintenanceRequest(
        name=name,
        uid=f"uid-{name}",
        resource_version="2000",
        generation=2 if status is not None else 1,
        creation_timestamp=created,
        spec={
            "type": kind,
            "name": target,
            "state": state,
            "requester": requester,
            "reason": reason,
            "priority": priority,
        },
        status=status or RequestStatus(),
    )


def requests() -> list[MaintenanceRequest]:
    S = RequestState
    return [
        request(
            "mr-os-a02",
            "worker-a-02",
            state="InProgress",
            created=ago(hours=3),
            status=RequestStatus(
                state=S.IN_PROGRESS,
                reason="InProgress",
                message="maintenance in progress",
                target="node/worker-a-02",
                preparing_since=ago(hours=2, minutes=10),
                drained_at=ago(hours=2, minutes=5),
                detached_at=ago(hours=2, minutes=4),
                approved_at=ago(hours=2, minutes=3),
                started_at=ago(hours=2) + timedelta(minutes=1),
                observed_generation=2,
            ),
        ),
        request(
            "mr-fw-a09",
            "worker-a-09",
            requester="firmware-updater",
            reason="BMC firmware 2.31",
            created=ago(minutes=40),
            status=RequestStatus(
                state=S.APPROVED,
                reason="Approved",
                message="approved",
                target="node/worker-a-09",
                preparing_since=ago(minutes=25),
                drained_at=ago(minutes=20),
                detached_at=ago(minutes=19),
                approved_at=ago(minutes=11),
                observed_generation=2,
            ),
        ),
        request("mr-os-a05", "worker-a-05", created=ago(minutes=30)),
        request(
            "mr-repair-b07",
            "worker-b-07",
            requester="node-repair",
            reason="disk errors on /dev/nvme1",
            priority=100,
            created=ago(minutes=12),
            status=RequestStatus(
                state=S.PREPARING,
                reason="Draining",
                message="draining",
                target="node/worker-b-07",
                preparing_since=ago(minutes=10),
                drained_at=ago(minutes=1),
                observed_generation=2,
            ),
        ),
        request(
            "mr-repair-b07-again",
            "worker-b-07",
            requester="node-repair",
            reason="disk errors on /dev/nvme1 (second report)",
            priority=100,
            created=ago(minutes=2),
        ),
        request("mr-os-b03", "worker-b-03", created=ago(minutes=29)),
        request(
            "mr-repair-c03",
            "worker-c-03",
            requester="node-repair",
            reason="NotReady for 7 minutes",
            priority=100,
            created=ago(minutes=6),
        ),
        request("mr-os-c04", "worker-c-04", created=ago(minutes=28)),
        request("mr-os-c08", "worker-c-08", state="Completed", created=ago(minutes=27)),
        request(
            "mr-rogue-a14",
            "worker-a-14",
            state="InProgress",
            requester="hand-script",
            reason="reboot",
            created=ago(minutes=5),
        ),
        request("mr-os-a99", "worker-a-99", created=ago(minutes=4)),
        request(
            "mr-typo",
            "worker-a-03",
            kind="nod",
            requester="alice",
            reason="reboot",
            created=ago(minutes=3),
        ),
        request(
            "mr-pg-minor",
            "data/postgres",
            kind="statefulset",
            requester="db-operator",
            reason="postgres 16.4 -> 16.5",
            created=ago(minutes=20),
        ),
        request(
            "mr-web-restart",
            "shop/web",
            kind="deployment",
            requester="alice",
            reason="rotate TLS certificates",
            created=ago(minutes=15),
        ),
        request(
            "mr-os-a11",
            "worker-a-11",
            state="Completed",
            created=ago(hours=6),
            status=RequestStatus(
                state=S.COMPLETED,
                reason="Completed",
                message="maintenance of node/worker-a-11 completed",
                target="node/worker-a-11",
                preparing_since=ago(hours=5),
                drained_at=ago(hours=5),
                detached_at=ago(hours=5),
                approved_at=ago(hours=5),
                started_at=ago(hours=5),
                completed_at=ago(hours=4),
                finished_at=ago(hours=4),
                observed_generation=2,
            ),
        ),
        request(
            "mr-os-a12",
            "worker-a-12",
            state="Completed",
            created=ago(days=3),
            status=RequestStatus(
                state=S.COMPLETED,
                reason="Completed",
                message="maintenance of node/worker-a-12 completed",
                target="node/worker-a-12",
                preparing_since=ago(days=2, hours=3),
                approved_at=ago(days=2, hours=3),
                started_at=ago(days=2, hours=3),
                completed_at=ago(days=2),
                finished_at=ago(days=2),
                observed_generation=2,
            ),
        ),
        request(
            "mr-fw-b10",
            "worker-b-10",
            requester="firmware-updater",
            reason="BMC firmware 2.31",
            created=ago(hours=2),
            status=RequestStatus(
                state=S.EXPIRED,
                reason="DrainTimeout",
                message="worker-b-10 not drained within 900s; 1 pods left: shop/api-5c8b-k2j9d",
                target="node/worker-b-10",
                preparing_since=ago(hours=1, minutes=20),
                finished_at=ago(hours=1, minutes=5),
                observed_generation=2,
            ),
        ),
        request(
            "mr-old-typo",
            "worker-c-01",
            kind="nodes",
            requester="bob",
            created=ago(hours=8),
            status=RequestStatus(
                state=S.REJECTED,
                reason="InvalidSpec",
                message=(
                    "invalid spec.type: 'nodes' is not one of "
                    "node, deployment, statefulset, daemonset"
                ),
                finished_at=ago(hours=8),
                observed_generation=1,
            ),
        ),
    ]


def snapshot() -> Snapshot:
    return Snapshot(
        now=NOW,
        nodes=tuple(nodes()),
        pods=tuple(pods()),
        pdbs=tuple(pdbs()),
        volume_attachments=(
            VolumeAttachment("csi-4a1f0c", "worker-b-07", attached=True),
            VolumeAttachment("csi-9e2b71", "worker-a-05", attached=True),
            VolumeAttachment("csi-77d0aa", "worker-b-03", attached=False),
        ),
        workloads=(
            Workload(TargetType.DEPLOYMENT, "shop", "web", {"app": "web"}),
            Workload(TargetType.DEPLOYMENT, "shop", "api", {"app": "api"}),
            Workload(TargetType.DEPLOYMENT, "shop", "cache", {"app": "cache"}),
            Workload(TargetType.STATEFULSET, "data", "postgres", {"app": "postgres"}),
            Workload(TargetType.STATEFULSET, "data", "kafka", {"app": "kafka"}),
            Workload(TargetType.DAEMONSET, "monitoring", "node-exporter", {"app": "node-exporter"}),
        ),
        limits=tuple(limits()),
        requests=tuple(requests()),
    )


def render() -> str:
    return json.dumps(dump(snapshot()), indent=1, allow_nan=False) + "\n"


if __name__ == "__main__":
    target = Path(__file__).with_name("cluster.json")
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}", file=sys.stderr)
