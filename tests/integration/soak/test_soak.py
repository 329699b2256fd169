"""The soak run: a long, busy, failing cluster until every request is finished.

Not part of every CI run: `tox -e soak` (docs/reliability.md). 50 nodes in 3 zones,
six Deployments of 8 replicas under PDBs, a node limit of 10% (5 nodes) with drain and
2 per zone; four actors file 200 requests in all, a few a second, and play each out
at random (seeded): complete, stall until the approval times out, overrun the
InProgress timeout, withdraw, or delete. Every 15-25 s a random node fails (the
simulated kubelet reports it NotReady) for 5-10 s. Adversaries (issue 14): a Deployment
whose pods tolerate the cordon, an administrator cordoning and uncordoning at random,
pods bound by name to nodes being drained, and every third job's clock 90 s ahead and
every third 90 s behind (faketime). The runner runs as the CronJob runs it
(`--until-stable`, with the runner ServiceAccount's RBAC), one job after another, until
every request is terminal or gone.

Reported (reports/soak.json, and docs/reliability.md): passes, writes per pass,
violations seen by the invariant watcher (must be 0), and by its end-of-run checks:
nodes left cordoned by the runner, invariants 8 and 9, administrators' cordons (must
be 0), time to finish, and how the requests ended. PDB dips are excused
from 10 s before a node failure to 15 s after it (the failed node's pods are not
ready: not our doing); limits and one-request-per-target are checked at every moment.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from tests.integration.actors import Adversary, RandomActor
from tests.integration.cluster import Cluster
from tests.integration.conftest import GROUP, VERSION, ControlPlane
from tests.integration.invariants import TERMINAL, InvariantWatcher, LimitRule
from tests.report import report

SEED = int(os.environ.get("REPAIRMAN_SOAK_SEED", "1"))
ZONES = {"a": 17, "b": 17, "c": 16}
APPS = ("web", "api", "cache", "queue", "search", "auth")
ACTORS = ("patcher", "repair-bot", "firmware", "cloud-events")
REQUESTS_PER_ACTOR = 50


class NodeFailures(threading.Thread):
    """Every 15-25 s, one random node NotReady for 5-10 s."""

    def __init__(self, kubelet: object, nodes: list[str], seed: int) -> None:
        super().__init__(daemon=True)
        self.kubelet = kubelet
        self.nodes = nodes
        self.random = random.Random(seed)
        self.stopping = threading.Event()
        self.windows: list[tuple[float, float]] = []
        self.failures = 0

    def run(self) -> None:
        while not self.stopping.wait(self.random.uniform(15, 25)):
            node = self.random.choice(self.nodes)
            length = self.random.uniform(5, 10)
            start = time.monotonic()
            self.windows.append((start, start + length))
            self.kubelet.not_ready.add(node)  # type: ignore[attr-defined]
            self.failures += 1
            self.stopping.wait(length)
            self.kubelet.not_ready.discard(node)  # type: ignore[attr-defined]

    def excused(self) -> bool:
        now = time.monotonic()
        return any(start - 10 <= now <= end + 15 for start, end in self.windows)


def test_soak(cluster: Cluster, control_plane: ControlPlane, runner_kubeconfig: Path) -> None:
    zones = {zone: cluster.nodes(count, zone=zone) for zone, count in ZONES.items()}
    nodes = [node for members in zones.values() for node in members]
    cluster.wait_nodes_ready(nodes)
    zone_of = {node: zone for zone, members in zones.items() for node in members}
    for app in APPS:
        cluster.deployment(app, 8)
        cluster.pdb(app, max_unavailable=1)
    cluster.deployment("agent", 6, follows_cordon=True)  # tolerates the cordon
    for app in APPS:
        cluster.running_ready(app, 8)
        cluster.disruptions_allowed(app, 1)
    custom = cluster.custom
    cluster.limit(
        "node",
        limit=10,
        drain={"timeoutSeconds": 60},
        approvedTimeoutSeconds=8,
        inProgressTimeoutSeconds=20,
    )
    for zone in zones:
        cluster.zone_limit(zone, maxConcurrent=2)
    failures = NodeFailures(control_plane.kubelet, nodes, SEED)  # type: ignore[attr-defined]
    watcher = InvariantWatcher(
        cluster,
        limits=[
            LimitRule("node", 5),
            *(LimitRule(f"zone-{zone}", 2, zone) for zone in zones),
        ],
        zone_of=zone_of,
        pdb_excused=failures.excused,
    ).start()
    actors = [
        RandomActor(
            cluster,
            name,
            nodes,
            SEED * 100 + index,
            requests=REQUESTS_PER_ACTOR,
            fates={"complete": 10, "stall": 1, "overrun": 1, "withdraw": 1, "delete": 1},
            pace=(0.5, 2.5),
        )
        for index, name in enumerate(ACTORS)
    ]
    adversary = Adversary(cluster, nodes, SEED * 100 + 99, pace=(1.0, 3.0))
    started = time.monotonic()
    for actor in [*actors, failures, adversary]:
        actor.start()
    jobs = 0
    exits: Counter[int] = Counter()
    writes: list[int] = []
    retries = 0
    actions: Counter[str] = Counter()
    rewritten: Counter[str] = Counter()
    """Explanation rewrites of requests that stay in their state, by state/reason."""
    try:
        deadline = started + 1800
        while time.monotonic() < deadline:
            jobs += 1
            # Every third job's clock is 90 s ahead, every third 90 s behind (faketime).
            clock = (["faketime", "-f", "+90s"], ["faketime", "-f", "-90s"], [])[jobs % 3]
            job = subprocess.run(
                [
                    *clock,
                    sys.executable,
                    "-c",
                    "from runner.cli import main; main()",
                    "--kubeconfig",
                    str(runner_kubeconfig),
                    "--until-stable",
                    "--deadline",
                    "20",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                timeout=120,
                check=False,
            )
            exits[job.returncode] += 1
            assert "Traceback" not in job.stderr, job.stderr
            logs = [json.loads(x) for x in job.stderr.splitlines() if x.startswith("{")]
            writes += [e["writes"] for e in logs if e["event"] == "pass"]
            for entry in logs:
                if entry["event"] == "decision" and entry["result"] == "done":
                    kind = entry["action"]
                    if kind == "UpdateRequestStatus":
                        moved = entry.get("from") != entry.get("to")
                        kind += " (transition)" if moved else " (explanation)"
                        if not moved:
                            rewritten[f"{entry.get('to')}/{entry.get('reason')}"] += 1
                    actions[kind] += 1
            retries += sum(e["event"] == "retry" for e in logs)
            filed = sum(len(a.filed) for a in actors)
            items = custom.list_cluster_custom_object(GROUP, VERSION, "maintenancerequests")[
                "items"
            ]
            if filed == len(ACTORS) * REQUESTS_PER_ACTOR and all(
                (i.get("status") or {}).get("state") in TERMINAL for i in items
            ):
                break
            time.sleep(1)
        else:
            raise AssertionError(f"not every request finished in 30 minutes ({jobs} jobs)")
        finished = time.monotonic() - started
    finally:
        for thread in [*actors, failures]:
            thread.stopping.set()
        for thread in [*actors, failures]:
            thread.join(timeout=15)
        adversary.stop_and_clean()
    time.sleep(2)  # the last uncordons reach the watch
    violations = watcher.stop()
    left = watcher.finished()
    reasons = Counter(
        f"{(i.get('status') or {}).get('state')}/{(i.get('status') or {}).get('reason')}"
        for i in custom.list_cluster_custom_object(GROUP, VERSION, "maintenancerequests")["items"]
    )
    report(
        "soak",
        seed=SEED,
        nodes=len(nodes),
        requests=len(ACTORS) * REQUESTS_PER_ACTOR,
        deleted_by_actors=len(ACTORS) * REQUESTS_PER_ACTOR - sum(reasons.values()),
        node_failures=failures.failures,
        jobs=jobs,
        job_exits=dict(exits),
        passes=len(writes),
        writes_total=sum(writes),
        writes_by_action=dict(actions),
        explanation_rewrites_by_reason=dict(rewritten.most_common()),
        writes_per_pass_mean=round(statistics.mean(writes), 2),
        writes_per_pass_max=max(writes),
        passes_writing_nothing=sum(w == 0 for w in writes),
        retries=retries,
        adversary=adversary.done,
        administrators_cordons_lifted=adversary.lifted,
        approvals_raced_by_a_pod=watcher.raced,
        violations=len(violations),
        violation_samples=(violations + left)[:5],
        end_checks_failed=len(left),
        peaks=dict(watcher.peak),
        watch_events=watcher.events,
        seconds_to_finish=round(finished, 1),
        outcomes=dict(reasons),
    )
    assert not violations, violations[:5]
    assert not left, left
    assert not [e for a in actors for e in a.errors], [a.errors for a in actors]
    assert not adversary.errors, adversary.errors
    assert not adversary.lifted, adversary.lifted
