"""Overlapping runners over a busy cluster, with a watcher on every change.

20 nodes in 2 zones; three Deployments of 6 replicas, each under a PDB allowing one
disruption; a node limit of 10% (2 nodes) with drain, and a limit of 1 per zone. Three
simulated actors file 36 requests over time (some nodes get two, from different
actors) and, at random but seeded, start and complete what is approved, stall until
the approval times out, or withdraw (by spec or by deleting the request). Rounds of 4
runner processes start together (spread over 0.4 s), each with its own Lease, so that
nothing but the commit point keeps them apart, until every request is terminal or
gone. Around them (issue 14): a Deployment whose pods tolerate the cordon, an
administrator who cordons and uncordons nodes at random, pods bound by name to nodes
being drained that live a few seconds, and two of the four runners with clocks 90 s
ahead and behind (faketime). The invariant watcher (invariants.py) follows every
request, node, PDB and pod change and fails the test on any moment where a limit, a PDB
or one-active-request-per-target is violated, a node is cordoned for a request never
admitted, an approval finds its node schedulable or a pod the drain would evict on it,
one of our uncordons lifts a node under maintenance, or an administrator's cordon is
taken over.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from tests import faultproxy
from tests.faultproxy import FaultProxy, Rule
from tests.integration.actors import Adversary, RandomActor
from tests.integration.cluster import Cluster
from tests.integration.conftest import GROUP, VERSION, ControlPlane
from tests.integration.invariants import TERMINAL, InvariantWatcher, LimitRule
from tests.report import report

ACTORS = ("patcher", "repair-bot", "firmware")
# CI plays seed 0; other seeds explore other schedules (REPAIRMAN_OVERLAP_SEED=N).
SEED = int(os.environ.get("REPAIRMAN_OVERLAP_SEED", "0"))

# The test ends when every request is terminal, and gives up only when nothing has
# moved for a while, so that its length follows the machine's speed, not a deadline.
# Longest honest standstill: a drain held by a PDB runs to its 120 s timeout (the
# other requests wait behind it), then the next pass expires it. So "stuck" means no
# request changed state, reason or declared state for STALL_SECONDS and STALL_ROUNDS.
STALL_SECONDS = 200.0
STALL_ROUNDS = 10
# A bound on the whole run in case requests move forever without finishing
# (a livelock); measured runs take 50-60 rounds, 250-300 s on 2 cores.
GIVE_UP_SECONDS = 1500.0


@attrs.define
class Progress:
    """When each request last changed what the test watches: status state and reason,
    and the actor's declared state. Filing a request counts as a change."""

    started: float = attrs.field(factory=time.monotonic)
    seen: dict[str, tuple[str, str, str]] = attrs.field(factory=dict)
    changed: dict[str, int] = attrs.field(factory=dict)
    """The round in which each request was last seen to change."""
    filed: int = 0
    last_round: int = 0
    last_time: float = attrs.field(factory=time.monotonic)
    longest: tuple[int, float] = (0, 0.0)
    """The longest standstill seen: rounds and seconds without a change."""

    def observe(self, round_: int, filed: int, items: list[dict[str, Any]]) -> str | None:
        """Record a round; return why the test should give up, or None."""
        now = time.monotonic()
        moved = filed != self.filed
        self.filed = filed
        for item in items:
            name = item["metadata"]["name"]
            status = item.get("status") or {}
            key = (
                status.get("state") or "",
                status.get("reason") or "",
                item["spec"].get("state") or "",
            )
            if self.seen.get(name) != key:
                self.seen[name] = key
                self.changed[name] = round_
                moved = True
        if moved:
            self.longest = max(self.longest, (round_ - self.last_round - 1, now - self.last_time))
            self.last_round, self.last_time = round_, now
            if now - self.started > GIVE_UP_SECONDS:
                return f"still moving but unfinished after {now - self.started:.0f} s"
            return None
        if round_ - self.last_round >= STALL_ROUNDS and now - self.last_time >= STALL_SECONDS:
            return (
                f"no request moved for {round_ - self.last_round} rounds "
                f"({now - self.last_time:.0f} s)"
            )
        return None


def unfinished(
    items: list[dict[str, Any]], actors: list[RandomActor], progress: Progress, round_: int
) -> str:
    """One line per request not yet terminal: what it asks, what the actor chose to do
    with it, its status, and how many rounds it has not moved."""
    fates = {name: fate for actor in actors for name, fate in actor.fate.items()}
    lines = []
    for item in sorted(items, key=lambda i: i["metadata"]["name"]):
        name = item["metadata"]["name"]
        status = item.get("status") or {}
        if status.get("state") in TERMINAL:
            continue
        lines.append(
            f"  {name} node/{item['spec']['name']} fate={fates.get(name, '?')} "
            f"spec={item['spec'].get('state', 'Pending')} "
            f"status={status.get('state', '-')}/{status.get('reason', '-')} "
            f"unchanged for {round_ - progress.changed.get(name, round_)} rounds: "
            f"{status.get('message', '')}"
        )
    unfiled = [
        f"{actor.name_}: {len(actor.targets) - len(actor.filed)} not filed"
        for actor in actors
        if len(actor.filed) < len(actor.targets)
    ]
    return "\n".join(lines + unfiled) or "  (none: every request finished)"


def test_four_runners_at_once_over_a_busy_cluster_never_break_an_invariant(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    configuration = control_plane.api.configuration
    proxy = FaultProxy(configuration.host, configuration.ssl_ca_cert, seed=3 + SEED).start()
    proxy.add(
        Rule(
            faultproxy.delay(0, jitter=1.0), method="GET", path=r"^/api/v1/nodes\?", probability=1.0
        )
    )
    kubeconfig = tmp_path / "via-proxy.kubeconfig"
    admin = json.loads(control_plane.kubeconfig.read_text())
    admin["clusters"][0]["cluster"] = {"server": proxy.url}
    kubeconfig.write_text(json.dumps(admin))
    zones = {"a": cluster.nodes(10, zone="a"), "b": cluster.nodes(10, zone="b")}
    nodes = zones["a"] + zones["b"]
    cluster.wait_nodes_ready(nodes)
    zone_of = {node: zone for zone, members in zones.items() for node in members}
    for app in ("web", "api", "cache"):
        cluster.deployment(app, 6)
        cluster.pdb(app, max_unavailable=1)
    # A node agent whose pods tolerate the cordon: drains leave them where they are.
    cluster.deployment("agent", 4, follows_cordon=True)
    for app in ("web", "api", "cache"):
        cluster.running_ready(app, 6)
        cluster.disruptions_allowed(app, 1)
    custom = cluster.custom
    cluster.limit(
        "node",
        limit=10,
        drain={"timeoutSeconds": 120},
        approvedTimeoutSeconds=4,
        inProgressTimeoutSeconds=60,
    )
    for zone in zones:
        cluster.zone_limit(zone, maxConcurrent=1)
    watcher = InvariantWatcher(
        cluster,
        limits=[LimitRule("node", 2), LimitRule("zone-a", 1, "a"), LimitRule("zone-b", 1, "b")],
        zone_of=zone_of,
    ).start()
    actors = [
        RandomActor(cluster, name, nodes, SEED * 10 + seed, pace=(1.0, 5.0))
        for seed, name in enumerate(ACTORS)
    ]
    for actor in actors:
        actor.start()
    adversary = Adversary(cluster, nodes, SEED * 10 + 7, pace=(1.0, 3.0))
    adversary.start()
    for index in range(4):
        cluster.core.create_namespace({"metadata": {"name": f"{cluster.prefix}-lease-{index}"}})
    command = [
        sys.executable,
        "-c",
        "import random, sys, time; time.sleep(random.Random(sys.argv[1]).random() * 0.4); "
        "from runner.cli import main; main(sys.argv[2:])",
    ]
    # Two of the four runners' clocks are off (Debian's faketime): one ahead, one behind.
    clocks = [[], ["faketime", "-f", "+90s"], ["faketime", "-f", "-90s"], []]
    rounds = 0
    exits: Counter[int] = Counter()
    progress = Progress()
    try:
        while True:
            rounds += 1
            runners = [
                subprocess.Popen(
                    [
                        *clocks[index],
                        *command,
                        f"{rounds}-{index}",
                        "--kubeconfig",
                        str(kubeconfig),
                        "--lease-namespace",
                        f"{cluster.prefix}-lease-{index}",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for index in range(4)
            ]
            for process in runners:
                _, err = process.communicate(timeout=120)
                exits[process.returncode] += 1
                assert process.returncode in (0, 1), err
                assert "Traceback" not in err, err
            filed = sum(len(a.filed) for a in actors)
            items = custom.list_cluster_custom_object(GROUP, VERSION, "maintenancerequests")[
                "items"
            ]
            if filed == len(ACTORS) * 12 and all(
                (i.get("status") or {}).get("state") in TERMINAL for i in items
            ):
                break
            stuck = progress.observe(rounds, filed, items)
            if stuck:
                limits = custom.list_cluster_custom_object(GROUP, VERSION, "maintenancelimits")
                raise AssertionError(
                    f"{stuck} after {rounds} rounds; unfinished:\n"
                    + unfinished(items, actors, progress, rounds)
                    + "\nlimits:\n"
                    + "\n".join(
                        f"  {limit['metadata']['name']}: {json.dumps(limit.get('status'))}"
                        for limit in limits["items"]
                    )
                )
    finally:
        for actor in actors:
            actor.stopping.set()
        for actor in actors:
            actor.join(timeout=10)
        adversary.stop_and_clean()
        proxy.stop()
    # Let the last uncordons land in the watch.
    time.sleep(1)
    violations = watcher.stop() + watcher.finished()
    outcomes = Counter(watcher.last_state.values())
    report(
        "overlap",
        rounds=rounds,
        runner_exits=dict(exits),
        watch_events=watcher.events,
        peaks=dict(watcher.peak),
        final_states=dict(outcomes),
        violations=len(violations),
        longest_standstill={
            "rounds": progress.longest[0],
            "seconds": round(progress.longest[1], 1),
        },
        delayed_node_lists=len(proxy.faults()),
        adversary=adversary.done,
        administrators_cordons_lifted=adversary.lifted,
        approvals_raced_by_a_pod=watcher.raced,
    )
    assert not violations, violations[:5]
    assert not [e for a in actors for e in a.errors], [a.errors for a in actors]
    assert not adversary.errors, adversary.errors
    assert not adversary.lifted, adversary.lifted
    assert adversary.done["late pods"] >= 1 and adversary.done["admin cordons"] >= 1
    assert len(watcher.last_state) == 36
    # Every fate happened, and the limits were used to the full.
    assert outcomes["Completed"] >= 20 and outcomes["Expired"] >= 1, outcomes
    assert watcher.peak["node"] == 2 and watcher.peak["zone-a"] == 1, watcher.peak
    shared = Counter(node for a in actors for node in a.targets)
    assert max(shared.values()) >= 2, "some node is asked for by two requests"
