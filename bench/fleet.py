"""Benchmark: a whole-fleet rollout on the test control plane (issues 16, 29).

Starts the test control plane without the workload controllers and the garbage
collector (the pods' owners are not created; this benchmark plays their controllers)
in a data directory it keeps (`--data`, etcd's data and the certificates): the fleet
is built once (about 5 minutes at 5,000 nodes and 150,000 pods); a later run with
the same `--nodes` and `--pods` starts it again in seconds and resets the rollout
(deletes every request, uncordons the nodes, files the requests again). `--rebuild`
builds it anew. The fleet:

  nodes     `--nodes` (5,000), ~7 KB each: labels, annotations, conditions, addresses,
            images, nodeInfo, capacity; Ready
  pods      `--pods` (150,000) in 100 namespaces, bound round-robin to the nodes, each
            owned by one of ten ReplicaSets of its namespace, with resources, env,
            a probe and a volume; marked Running and Ready (a status write each)
  PDBs      one per namespace (100), `minAvailable` leaving 25 disruptions over
            half of the namespace's pods
  limit     one node limit: 5% of the nodes, drain (so 250 at a time at 5,000)
  requests  one per node

While it runs, a thread plays the kubelets and the ReplicaSet controller: a pod given
a deletionTimestamp (an eviction) is deleted at once and a Ready replacement is created
on a schedulable node, so budgets come back as in a real cluster.

Then, each as its own process under /usr/bin/time (wall seconds, peak RSS), as the
CronJob runs it:

  pass 1..n   `runner` (one real pass each) until a pass writes nothing (at most
              `--passes`); its pass log gives writes and the gate's fresh reads
  plan        `runner --plan -o json`
  forecast    `runner forecast -o json` on the live cluster (`--forecast`)
  kubectl     `kubectl get nodes,pods,pdb -A -o json` (`--kubectl`)

and, inside this process, the floor of a pass: the raw LIST of the nodes and of the
requests, and the pods of the nodes being worked on from the watch cache.

    python -m bench.fleet [--nodes 5000] [--pods 150000] [--forecast] [--kubectl]
                          [--data ~/.cache/repairman/fleet] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3

from bench.control_plane import SCRIPT, running_control_plane
from policy.node_conditions import TYPES
from runner.kube import Kube, KubeError
from runner.read import GROUP_PATH

NAMESPACES = 100
OWNERS_PER_NAMESPACE = 10
DISRUPTIONS_PER_PDB = 25
WORKERS = 32
CONTROLLERS = "disruption,namespace"
"""No garbage collector (the owners do not exist), no workload controllers."""


def node_body(index: int, name: str) -> dict[str, Any]:
    zone = f"zone-{index % 3}"
    now = "2026-12-05T10:00:00Z"
    conditions = [
        {
            "type": kind,
            "status": "False",
            "reason": f"Kubelet{reason}",
            "message": f"kubelet has {reason.lower()}",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        for kind, reason in (
            ("MemoryPressure", "HasSufficientMemory"),
            ("DiskPressure", "HasNoDiskPressure"),
            ("PIDPressure", "HasSufficientPID"),
            ("NetworkUnavailable", "RouteCreated"),
        )
    ]
    conditions.append(
        {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "kubelet is posting ready status",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
    )
    images = [
        {
            "names": [
                f"registry.example.com/team-{i:02d}/service-{i:02d}@sha256:{(index * 97 + i):064x}",
                f"registry.example.com/team-{i:02d}/service-{i:02d}:v1.{i}.{index % 50}",
            ],
            "sizeBytes": 50_000_000 + i * 1_000_003,
        }
        for i in range(14)
    ]
    resources = {"cpu": "16", "memory": "65843220Ki", "pods": "110", "ephemeral-storage": "100Gi"}
    return {
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "node.kubernetes.io/instance-type": "m5.4xlarge",
                "topology.kubernetes.io/region": "eu-west-1",
                "topology.kubernetes.io/zone": zone,
                "failure-domain.beta.kubernetes.io/zone": zone,
                "node-pool": f"pool-{index % 4}",
                "repairman.test/fleet": "true",
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                "csi.volume.kubernetes.io/nodeid": json.dumps(
                    {"ebs.csi.aws.com": f"i-{index:017x}"}
                ),
            },
        },
        "spec": {
            "podCIDR": f"10.{index // 250}.{index % 250}.0/24",
            "providerID": f"aws:///{zone}/i-{index:017x}",
        },
        "status": {
            "capacity": resources,
            "allocatable": {**resources, "cpu": "15890m"},
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": f"10.200.{index // 250}.{index % 250}"},
                {"type": "Hostname", "address": name},
                {"type": "InternalDNS", "address": f"{name}.eu-west-1.compute.internal"},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": f"{index:032x}",
                "systemUUID": f"ec2{index:029x}",
                "bootID": f"{index * 7:032x}",
                "kernelVersion": "5.10.0-26-cloud-amd64",
                "osImage": "Debian GNU/Linux 11 (bullseye)",
                "containerRuntimeVersion": "containerd://1.6.20",
                "kubeletVersion": "v1.20.2",
                "kubeProxyVersion": "v1.20.2",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "images": images,
        },
    }


def pod_body(name: str, namespace: str, owner: int, node: str) -> dict[str, Any]:
    tier = "web" if owner < OWNERS_PER_NAMESPACE // 2 else "batch"
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": f"svc-{owner}", "tier": tier, "pod-template-hash": f"h{owner}"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"svc-{owner}-h{owner}",
                    "uid": f"00000000-0000-0000-{NAMESPACES:04d}-{owner:012d}",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 30,
            "containers": [
                {
                    "name": "app",
                    "image": f"registry.example.com/team/svc-{owner}:v1.2.3",
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"cpu": "500m", "memory": "256Mi"},
                    },
                    "env": [{"name": f"SETTING_{i}", "value": f"value-{i}"} for i in range(8)],
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
                }
            ],
            "volumes": [{"name": "config", "configMap": {"name": f"svc-{owner}"}}],
        },
    }


READY_STATUS = {
    "status": {
        "phase": "Running",
        "startTime": "2026-12-05T10:00:00Z",
        "conditions": [
            {"type": kind, "status": "True", "lastTransitionTime": "2026-12-05T10:00:00Z"}
            for kind in ("Initialized", "ContainersReady", "Ready", "PodScheduled")
        ],
    }
}


def _pods_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def create_pod(kube: Kube, body: dict[str, Any]) -> None:
    namespace = body["metadata"]["namespace"]
    kube.request("POST", _pods_path(namespace), body=body)
    kube.request(
        "PATCH",
        f"{_pods_path(namespace)}/{body['metadata']['name']}/status",
        body=READY_STATUS,
        content_type="application/merge-patch+json",
    )


def populate(
    kube: Kube, *, nodes: int, pods: int, limit: int, node_conditions: bool = True
) -> list[str]:
    names = [f"node-{i:05d}" for i in range(nodes)]
    namespaces = [f"team-{i:03d}" for i in range(NAMESPACES)]
    started = time.monotonic()
    size = len(json.dumps(node_body(0, names[0])))
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(
            pool.map(
                lambda pair: kube.request("POST", "/api/v1/nodes", body=node_body(*pair)),
                enumerate(names),
            )
        )
        for namespace in namespaces:
            kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
        print(f"  {nodes} nodes ({size} bytes each as sent) in {time.monotonic() - started:.0f} s")

        def pod(index: int) -> None:
            namespace = namespaces[index % NAMESPACES]
            owner = (index // NAMESPACES) % OWNERS_PER_NAMESPACE
            name = f"svc-{owner}-h{owner}-{index:06d}"
            create_pod(kube, pod_body(name, namespace, owner, names[index % nodes]))

        list(pool.map(pod, range(pods)))
    print(f"  {pods} pods, Ready, in {time.monotonic() - started:.0f} s")
    per_namespace_web = sum(
        1
        for index in range(pods)
        if index % NAMESPACES == 0
        and (index // NAMESPACES) % OWNERS_PER_NAMESPACE < OWNERS_PER_NAMESPACE // 2
    )
    for namespace in namespaces:
        kube.request(
            "POST",
            f"/apis/policy/v1beta1/namespaces/{namespace}/poddisruptionbudgets",
            body={
                "apiVersion": "policy/v1beta1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "web"},
                "spec": {
                    "minAvailable": max(per_namespace_web - DISRUPTIONS_PER_PDB, 0),
                    "selector": {"matchLabels": {"tier": "web"}},
                },
            },
        )
    file_rollout(kube, names, limit=limit, node_conditions=node_conditions)
    print(f"  PDBs, the limit and {nodes} requests; built in {time.monotonic() - started:.0f} s")
    return names


def file_rollout(
    kube: Kube,
    names: list[str],
    *,
    limit: int,
    first: frozenset[str] = frozenset(),
    node_conditions: bool = True,
) -> None:
    """The limit (5% with drain; `nodeConditions: false` unless `node_conditions`) and a
    request for every node; those of the nodes in `first` at priority 1, ahead of the
    others."""
    kube.request(
        "POST",
        f"{GROUP_PATH}/maintenancelimits",
        body={
            "apiVersion": "repairman.k8s.io/v1",
            "kind": "MaintenanceLimit",
            "metadata": {"name": "fleet"},
            "spec": {
                "type": "node",
                "limit": limit,
                "drain": {"timeoutSeconds": 3600},
                **({} if node_conditions else {"nodeConditions": False}),
            },
        },
    )
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(
            pool.map(
                lambda name: kube.request(
                    "POST",
                    f"{GROUP_PATH}/maintenancerequests",
                    body={
                        "apiVersion": "repairman.k8s.io/v1",
                        "kind": "MaintenanceRequest",
                        "metadata": {"name": f"patch-{name}"},
                        "spec": {
                            "type": "node",
                            "name": name,
                            "requester": "os-patching",
                            **({"priority": 1} if name in first else {}),
                        },
                    },
                ),
                names,
            )
        )


def reset_rollout(
    kube: Kube, names: list[str], *, limit: int, node_conditions: bool = True
) -> None:
    """A kept fleet as before its rollout: no request, no limit, no node cordoned, no
    maintenance condition on a node."""
    started = time.monotonic()
    kube.request("DELETE", f"{GROUP_PATH}/maintenancerequests")
    kube.request("DELETE", f"{GROUP_PATH}/maintenancelimits")
    nodes = list(kube.list("/api/v1/nodes"))
    cordoned = [n["metadata"]["name"] for n in nodes if n["spec"].get("unschedulable")]
    announced = {
        n["metadata"]["name"]: sorted(
            {c["type"] for c in n["status"].get("conditions") or []} & set(TYPES)
        )
        for n in nodes
    }
    announced = {name: types for name, types in announced.items() if types}
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(
            pool.map(
                lambda item: kube.request(
                    "PATCH",
                    f"/api/v1/nodes/{item[0]}/status",
                    body={
                        "status": {"conditions": [{"type": t, "$patch": "delete"} for t in item[1]]}
                    },
                    content_type="application/strategic-merge-patch+json",
                ),
                announced.items(),
            )
        )
    del nodes
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(
            pool.map(
                lambda name: kube.request(
                    "PATCH",
                    f"/api/v1/nodes/{name}",
                    body={
                        "spec": {"unschedulable": None},
                        "metadata": {
                            "annotations": {
                                "repairman.k8s.io/cordoned-by": None,
                                "repairman.k8s.io/cordoned-by-uid": None,
                            }
                        },
                    },
                    content_type="application/merge-patch+json",
                ),
                cordoned,
            )
        )
    # An earlier run drained the nodes at the head of the queue, and the kubelet thread
    # put their pods elsewhere: the nodes that still hold their share go first, so that
    # this run drains as the first run did.
    per_node: dict[str, int] = {}
    for node in kube.list_as(
        "/api/v1/pods",
        lambda pod: str(pod["spec"]["nodeName"]),
        query={"fieldSelector": "spec.nodeName!="},
        page_size=5000,
    ):
        per_node[node] = per_node.get(node, 0) + 1
    share = sum(per_node.values()) // max(len(names), 1)
    full = frozenset(name for name in names if per_node.get(name, 0) >= share)
    file_rollout(kube, names, limit=limit, first=full, node_conditions=node_conditions)
    print(
        f"  reset: {len(cordoned)} nodes uncordoned, {len(announced)} nodes' maintenance "
        "conditions removed, requests filed again "
        f"({len(full)} nodes holding at least {share} pods first) "
        f"in {time.monotonic() - started:.0f} s"
    )


def wait_for_budgets(kube: Kube) -> None:
    """Until the disruption controller has given every PDB its status."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        pdbs = list(kube.list("/apis/policy/v1beta1/poddisruptionbudgets"))
        ready = [
            p
            for p in pdbs
            if (p.get("status") or {}).get("observedGeneration") == p["metadata"]["generation"]
            and (p.get("status") or {}).get("disruptionsAllowed", 0) > 0
        ]
        if len(ready) == len(pdbs):
            allowed = sum(p["status"]["disruptionsAllowed"] for p in pdbs)
            print(f"  {len(pdbs)} PDBs observed, {allowed} disruptions allowed in all")
            return
        time.sleep(2)
    raise SystemExit("the disruption controller did not observe every PDB in 300 s")


class FleetKubelet:
    """Finishes every graceful deletion at once and creates a Ready replacement on a
    schedulable node (the kubelet and the ReplicaSet controller, for this fleet)."""

    def __init__(self, kube: Kube, nodes: list[str], *, pods: int, churn: float) -> None:
        self.kube = kube
        self.nodes = nodes
        self.pods = pods
        self.churn = churn
        self.rng = random.Random(0)
        self.deleted = 0
        self.replaced = 0
        self.touched = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=8)
        self._seen: set[str] = set()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._churner = threading.Thread(target=self._churn, daemon=True)

    def start(self) -> FleetKubelet:
        self._thread.start()
        if self.churn > 0:
            self._churner.start()
        return self

    def _churn(self) -> None:
        """`churn` pod changes a second, as kubelets' status updates make in a real
        cluster: the pods' watch cache moves on, and a read at a recent revision is
        answered from it (runner.fresh)."""
        rng = random.Random(1)
        while not self._stop.wait(1 / self.churn):
            index = rng.randrange(self.pods)
            owner = (index // NAMESPACES) % OWNERS_PER_NAMESPACE
            path = (
                f"{_pods_path(f'team-{index % NAMESPACES:03d}')}/svc-{owner}-h{owner}-{index:06d}"
            )
            try:
                self.kube.request(
                    "PATCH",
                    path,
                    body={"metadata": {"annotations": {"bench/heartbeat": str(time.time())}}},
                    content_type="application/merge-patch+json",
                )
                self.touched += 1
            except KubeError:
                pass  # evicted since: another one next time

    def stop(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)

    def _watch(self) -> None:
        version = self.kube.request("GET", "/api/v1/pods", query={"limit": 1})["metadata"][
            "resourceVersion"
        ]
        while not self._stop.is_set():
            url = f"{self.kube.server}/api/v1/pods?watch=1&resourceVersion={version}"
            url += "&allowWatchBookmarks=true&timeoutSeconds=60"
            response = self.kube.pool.request(
                "GET", url, headers=self.kube.headers, preload_content=False, timeout=90
            )
            try:
                version = self._follow(response, version)
            except urllib3.exceptions.HTTPError:
                pass  # the server ended the watch early: watch again from `version`
            finally:
                response.release_conn()

    def _follow(self, response: urllib3.BaseHTTPResponse, version: str) -> str:
        """Finish every eviction the watch shows; the last resourceVersion seen."""
        buffer = b""
        for chunk in response.stream(65536):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                event = json.loads(line)
                pod = event["object"]
                version = pod["metadata"].get("resourceVersion", version)
                if event["type"] == "ERROR":
                    return str(
                        self.kube.request("GET", "/api/v1/pods", query={"limit": 1})["metadata"][
                            "resourceVersion"
                        ]
                    )
                if event["type"] == "MODIFIED" and pod["metadata"].get("deletionTimestamp"):
                    uid = pod["metadata"]["uid"]
                    if uid not in self._seen:
                        self._seen.add(uid)
                        self._pool.submit(self._finish, pod)
            if self._stop.is_set():
                break
        return version

    def _finish(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        try:
            self.kube.request(
                "DELETE",
                f"{_pods_path(meta['namespace'])}/{meta['name']}",
                body={"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}},
            )
            self.deleted += 1
            for _ in range(10):
                node = self.rng.choice(self.nodes)
                found = self.kube.request("GET", f"/api/v1/nodes/{node}")
                if not found["spec"].get("unschedulable"):
                    break
            owner = int(meta["labels"]["app"].removeprefix("svc-"))
            name = f"{meta['name'][:40]}-r{self.rng.randrange(10**6):06d}"
            create_pod(self.kube, pod_body(name, meta["namespace"], owner, node))
            self.replaced += 1
        except KubeError as error:
            self.errors.append(str(error))


class FleetActor:
    """The actor of every request: declares each Approved request Completed (its work
    done at once), polling every `period` seconds, so that the rollout goes on as fast
    as the runner lets it."""

    def __init__(self, kube: Kube, period: float = 2.0) -> None:
        self.kube = kube
        self.period = period
        self.completed = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> FleetActor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            while not self._stop.wait(self.period):
                approved = [
                    r["metadata"]["name"]
                    for r in self.kube.list(f"{GROUP_PATH}/maintenancerequests")
                    if (r.get("status") or {}).get("state") == "Approved"
                    and (r.get("spec") or {}).get("state") != "Completed"
                ]
                list(pool.map(self._complete, approved))

    def _complete(self, name: str) -> None:
        try:
            self.kube.request(
                "PATCH",
                f"{GROUP_PATH}/maintenancerequests/{name}",
                body={"spec": {"state": "Completed"}},
                content_type="application/merge-patch+json",
            )
            self.completed += 1
        except KubeError as error:
            self.errors.append(str(error))


def cronjob(kube: Kube, kubeconfig: Path, *, minutes: int, logs: Path) -> None:
    """`minutes` CronJob-like runs, one started every 60 s unless the last still runs
    (`concurrencyPolicy: Forbid`), each `runner --until-stable --deadline 45` with its
    log in `logs`; then the admissions of every minute, from the requests' own
    status. Prints as it goes."""
    logs.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    running: tuple[subprocess.Popen[bytes], int] | None = None
    at_work: list[int] = []
    for minute in range(minutes):
        tick = time.monotonic()
        if running is not None and running[0].poll() is None:
            print(f"  minute {minute}: the run of minute {running[1]} still runs: skipped")
        else:
            if running is not None:
                print(_finished_run(*running, logs), flush=True)
            command = [
                "/usr/bin/time",
                "-f",
                "%e %M",
                *runner(kubeconfig, "--until-stable", "--deadline", "45"),
                "--lease-namespace",
                "default",
            ]
            with (logs / f"cron-{minute}.log").open("wb") as log:
                process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
            running = (process, minute)
        at_work.append(_at_work(kube))
        # The Job's activeDeadlineSeconds: SIGTERM at 55 s of the run, as its kubelet
        # does (the runner stops between two writes).
        while (left := 60 - (time.monotonic() - tick)) > 0:
            _past_deadline(running, minute, tick)
            time.sleep(min(left, 0.5))
    if running is not None:
        running[0].wait(timeout=120)
        print(_finished_run(*running, logs))
    per_minute: dict[int, int] = {}
    for request in kube.list(f"{GROUP_PATH}/maintenancerequests"):
        status = request.get("status") or {}
        admitted = status.get("preparingSince") or status.get("approvedAt")
        if admitted:
            when = datetime.fromisoformat(admitted.replace("Z", "+00:00"))
            minute = int((when - started).total_seconds() // 60)
            if 0 <= minute < minutes:
                per_minute[minute] = per_minute.get(minute, 0) + 1
    print(
        "  at work (Preparing, Approved, InProgress) at each minute's start: "
        + ", ".join(map(str, at_work))
    )
    print(
        "  admissions per minute: " + ", ".join(str(per_minute.get(m, 0)) for m in range(minutes))
    )


def _at_work(kube: Kube) -> int:
    """Requests holding a slot of the limit: admitted and not finished."""
    return sum(
        (request.get("status") or {}).get("state") in ("Preparing", "Approved", "InProgress")
        for request in kube.list(f"{GROUP_PATH}/maintenancerequests")
    )


JOB_DEADLINE = 55.0
"""k8s/cronjob.yaml's activeDeadlineSeconds."""


def _past_deadline(
    running: tuple[subprocess.Popen[bytes], int] | None, minute: int, tick: float
) -> None:
    """SIGTERM to the runner (the child of /usr/bin/time, which then still reports)
    of the run started this minute once it is past JOB_DEADLINE."""
    if running is None:
        return
    process, started = running
    if started != minute or process.poll() is not None:
        return
    if time.monotonic() - tick < JOB_DEADLINE or getattr(process, "terminated", False):
        return
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        os.kill(int(child), signal.SIGTERM)
    process.terminated = True  # type: ignore[attr-defined]
    print(f"  minute {minute}: SIGTERM at {JOB_DEADLINE:g} s (activeDeadlineSeconds)")


def _finished_run(process: subprocess.Popen[bytes], minute: int, logs: Path) -> str:
    process.wait()
    *rest, last = (logs / f"cron-{minute}.log").read_text().strip().splitlines() or [""]
    passes = [json.loads(line) for line in rest if line.startswith("{") and '"pass"' in line]
    passes = [p for p in passes if p.get("event") == "pass"]
    seconds, _, kilobytes = last.partition(" ")
    return (
        f"  minute {minute}: exit {process.returncode}, {seconds} s, "
        f"{int(kilobytes or 0) // 1024} MB, {len(passes)} passes "
        f"({', '.join(str(p.get('seconds')) for p in passes)} s), "
        f"writes {sum(p.get('writes', 0) for p in passes)}"
    )


def until_stable_rows(
    kubeconfig: Path, rows: list[tuple[str, float, int, str]], logs: Path | None
) -> None:
    """The passes of one `runner --until-stable --deadline 120` run, from its log."""
    seconds, megabytes, stderr = timed(
        runner(kubeconfig, "--until-stable", "--deadline", "120", "--lease-namespace", "default")
    )
    if logs:
        logs.mkdir(parents=True, exist_ok=True)
        (logs / "until-stable.log").write_text(stderr)
    for line in stderr.splitlines():
        if not (line.startswith("{") and '"pass"' in line):
            continue
        entry = json.loads(line)
        if entry.get("event") != "pass":
            continue
        detail = (
            f"writes {entry.get('writes')}, requests {entry.get('requests')}, "
            f"read and plan {entry.get('read_and_plan_seconds')} s, "
            f"watched {entry.get('watched')}"
        )
        rows.append((f"pass {entry['number']} (one run)", entry["seconds"], megabytes, detail))
        print(f"  pass {entry['number']}: {entry['seconds']} s; {detail}", flush=True)
    rows.append(("the whole --until-stable run", seconds, megabytes, ""))


def timed(command: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (MB) and stderr of one process."""
    seconds, megabytes, stderr, _ = timed_exit(command)
    return seconds, megabytes, stderr


def timed_exit(command: list[str]) -> tuple[float, int, str, int]:
    """`timed`, and the exit code (137: killed, on this machine by the OOM killer)."""
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    *rest, last = out.stderr.strip().splitlines()
    if out.returncode != 0:
        print(f"  exit {out.returncode}: {' '.join(command[-6:])}: {rest[-3:]}")
    seconds, kilobytes = last.split()
    return float(seconds), int(kilobytes) // 1024, "\n".join(rest), out.returncode


def pass_log(stderr: str) -> dict[str, Any]:
    for line in reversed(stderr.splitlines()):
        if line.startswith("{") and '"pass"' in line:
            entry: dict[str, Any] = json.loads(line)
            if entry.get("event") == "pass" or entry.get("msg") == "pass":
                return entry
    return {}


def floor(kube: Kube) -> tuple[float, int]:
    """The raw reads no pass can do without: nodes, requests (both LISTs), the pods of
    the nodes being worked on from the watch cache. Seconds, and the nodes at work."""
    started = time.perf_counter()
    list(kube.list("/api/v1/nodes"))
    requests = list(kube.list(f"{GROUP_PATH}/maintenancerequests"))
    active = [
        r["spec"]["name"]
        for r in requests
        if (r.get("status") or {}).get("state") in ("Preparing", "Approved", "InProgress")
    ]
    for node in active:
        kube.request(
            "GET",
            "/api/v1/pods",
            query={"fieldSelector": f"spec.nodeName={node}", "resourceVersion": "0"},
        )
    return time.perf_counter() - started, len(active)


def runner(kubeconfig: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from runner.cli import main; main()",
        *args,
        "--kubeconfig",
        str(kubeconfig),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=150000)
    parser.add_argument("--limit", type=int, default=5, help="percent of the nodes")
    parser.add_argument("--passes", type=int, default=8)
    parser.add_argument("--forecast", action="store_true")
    parser.add_argument("--kubectl", action="store_true")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path.home() / ".cache" / "repairman" / "fleet",
        help="where the fleet is kept between runs",
    )
    parser.add_argument("--rebuild", action="store_true", help="build the fleet anew")
    parser.add_argument(
        "--no-node-conditions",
        dest="node_conditions",
        action="store_false",
        help="the limit says nodeConditions: false (no node condition written)",
    )
    parser.add_argument(
        "--until-stable",
        action="store_true",
        help="the passes as one `runner --until-stable` run (its later passes read from "
        "watches), instead of one process a pass",
    )
    parser.add_argument("--logs", type=Path, help="keep each pass's log here (pass-N.log)")
    parser.add_argument(
        "--churn",
        type=float,
        default=20.0,
        metavar="PER_SECOND",
        help="pod changes a second while it runs, as kubelets make (0: a quiet fleet)",
    )
    parser.add_argument(
        "--cronjob",
        type=int,
        default=0,
        metavar="MINUTES",
        help="instead of the passes: CronJob-like runs every 60 s for MINUTES, with an "
        "actor completing every approved request",
    )
    args = parser.parse_args()
    rows: list[tuple[str, float, int, str]] = []
    marker = args.data / "fleet.json"
    shape = {"nodes": args.nodes, "pods": args.pods}
    kept = not args.rebuild and marker.exists() and json.loads(marker.read_text()) == shape
    if not kept and args.data.exists():
        subprocess.run([str(SCRIPT), "down", "--dir", str(args.data)], check=False)
        shutil.rmtree(args.data)
    args.data.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with running_control_plane(CONTROLLERS, args.data) as (kubeconfig, kubectl):
        kube = Kube.connect(kubeconfig=str(kubeconfig), connections=WORKERS + 8, timeout=120)
        print(f"fleet: {args.nodes} nodes, {args.pods} pods in {args.data}")
        if kept:
            print(f"  kept fleet up in {time.monotonic() - started:.0f} s")
            names = [f"node-{i:05d}" for i in range(args.nodes)]
            reset_rollout(kube, names, limit=args.limit, node_conditions=args.node_conditions)
        else:
            names = populate(
                kube,
                nodes=args.nodes,
                pods=args.pods,
                limit=args.limit,
                node_conditions=args.node_conditions,
            )
            marker.write_text(json.dumps(shape))
        wait_for_budgets(kube)
        kubelet = FleetKubelet(kube, names, pods=args.pods, churn=args.churn).start()
        if args.cronjob:
            actor = FleetActor(kube).start()
            try:
                cronjob(
                    kube,
                    kubeconfig,
                    minutes=args.cronjob,
                    logs=args.logs or args.data / "cron-logs",
                )
            finally:
                actor.stop()
                kubelet.stop()
            print(f"actor: {actor.completed} completed, {len(actor.errors)} errors")
            print(f"kubelet: {kubelet.deleted} deletions finished, {kubelet.replaced} replaced")
            return
        try:
            seconds, megabytes, _ = timed(runner(kubeconfig, "--plan", "-o", "json"))
            rows.append(("runner --plan -o json (before any pass)", seconds, megabytes, ""))
            if args.until_stable:
                until_stable_rows(kubeconfig, rows, args.logs)
            for number in range(1, 0 if args.until_stable else args.passes + 1):
                seconds, megabytes, stderr = timed(
                    runner(kubeconfig, "--lease-namespace", "default")
                )
                entry = pass_log(stderr)
                if args.logs:
                    args.logs.mkdir(parents=True, exist_ok=True)
                    (args.logs / f"pass-{number}.log").write_text(stderr)
                writes = entry.get("writes", "?")
                detail = (
                    f"writes {writes}, requests {entry.get('requests')}, "
                    f"fresh reads {entry.get('fresh_reads')}, in-pass {entry.get('seconds')} s"
                )
                rows.append((f"pass {number}", seconds, megabytes, detail))
                print(f"  pass {number}: {seconds:.1f} s, {megabytes} MB; {detail}")
                if writes == 0:
                    break
                time.sleep(2)
            floor_s, active = floor(kube)
            rows.append(
                (f"floor: LIST nodes + LIST requests + pods of {active} nodes", floor_s, 0, "")
            )
            if args.forecast:
                seconds, megabytes, _ = timed(runner(kubeconfig, "forecast", "-o", "json"))
                rows.append(("runner forecast -o json", seconds, megabytes, ""))
            if args.kubectl:
                seconds, megabytes, _, code = timed_exit(
                    [*kubectl, "get", "nodes,pods,pdb", "-A", "-o", "json"]
                )
                # Killed (137: out of memory beside the API server): a lower bound.
                note = f"exit {code}: killed, out of memory; at least this long" if code else ""
                rows.append(("kubectl get nodes,pods,pdb -A -o json", seconds, megabytes, note))
        finally:
            kubelet.stop()
    print(
        f"kubelet: {kubelet.deleted} deletions finished, {kubelet.replaced} replacements, "
        f"{kubelet.touched} pods touched, "
        f"{len(kubelet.errors)} errors {kubelet.errors[:3]}"
    )
    print("\n| what | wall s | peak RSS MB | |\n|---|---|---|---|")
    for what, seconds, megabytes, detail in rows:
        print(f"| {what} | {seconds:.2f} | {megabytes or '—'} | {detail} |")
    passes = [r for r in rows if r[0].startswith("pass ")]
    if passes:
        print(f"last pass / floor: {passes[-1][1] / floor_s:.2f} (target <= 2)")
        kubectl_rows = [r for r in rows if r[0].startswith("kubectl")]
        if kubectl_rows:
            worst = max(r[1] for r in passes)
            print(f"slowest pass / kubectl: {worst / kubectl_rows[0][1]:.3f} (target <= 0.05)")


if __name__ == "__main__":
    main()
