"""The write stop of `--until-stable` on a run's first pass (runner.passes, issue 29),
on the real control plane, through the fault proxy.

A CronJob's run is stopped by SIGTERM at `activeDeadlineSeconds`; a pass still
writing 5 s past `--deadline` begins no more decisions, the first pass of a run too
(a whole fleet's first pass evicted for 50 to 100 s and ran past the Job's 55 s).
But a first pass whose read alone outlasts the deadline still writes for
`FIRST_WRITES` seconds after its plan, so that a slow read does not stop the
rollout for good.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner import passes
from tests.faultproxy import Rule, delay
from tests.integration.cluster import Cluster
from tests.integration.conftest import ControlPlane
from tests.integration.test_cordon_ownership import proxied_runner, runner_kubeconfig_via
from tests.integration.test_mirror import _file
from tests.integration.test_runner import runner, status_of


def _decisions(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in logs if line.get("event") == "decision"]


def test_a_first_pass_still_writing_past_the_deadline_begins_no_more(
    cluster: Cluster,
    control_plane: ControlPlane,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eight pods to evict, each eviction answered after 1 s, one writer, `--deadline 1`:
    the pass stops beginning evictions at 6 s (1 + WRITE_GRACE) and the rest wait for
    the next run. (Fails when the first pass has no stop: all eight are evicted, the
    last at about 9 s.)"""
    monkeypatch.setattr(passes, "FIRST_WRITES", 2.0)
    node = cluster.nodes(1, zone="a")[0]
    cluster.wait_nodes_ready([node])
    cluster.deployment("web", 8)
    cluster.running_ready("web", 8)
    cluster.zone_limit("a", drain={"timeoutSeconds": 600})
    _file(cluster, "mr-a", node)
    slow = Rule(delay(1.0), method="POST", path=r"/eviction", probability=1)
    with proxied_runner(control_plane, slow, tmp_path / "kubeconfig") as (_kube, proxy):
        kubeconfig = runner_kubeconfig_via(control_plane, proxy.url, tmp_path / "k2")
        code, _out, logs = runner(kubeconfig, "--until-stable", "--deadline", "1", "--writers", "1")
    assert code == 0, logs
    passes_run = [line for line in logs if line.get("event") == "pass"]
    assert len(passes_run) == 1, passes_run
    evicted = [d for d in _decisions(logs) if d.get("action") == "Evict" and d["result"] == "done"]
    stopped = [d for d in _decisions(logs) if "past the run's deadline" in d.get("detail", "")]
    assert stopped, _decisions(logs)
    assert 1 <= len(evicted) < 8, _decisions(logs)
    assert "Evict" in {d["action"] for d in stopped}, stopped


def test_a_first_pass_whose_read_outlasts_the_deadline_still_writes(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """The nodes' list answered after 8 s, `--deadline 1` (writes stop at 6 s): the
    first pass still approves mr-a, within FIRST_WRITES of its plan. (Fails when the
    first pass stops at the deadline like the others: it writes nothing, and no run
    whose read is that slow would ever write.)"""
    node = cluster.nodes(1, zone="a")[0]
    cluster.wait_nodes_ready([node])
    cluster.zone_limit("a")
    _file(cluster, "mr-a", node)
    slow = Rule(delay(8.0), method="GET", path=r"^/api/v1/nodes\?", nth=frozenset({1}))
    with proxied_runner(control_plane, slow, tmp_path / "kubeconfig") as (_kube, proxy):
        kubeconfig = runner_kubeconfig_via(control_plane, proxy.url, tmp_path / "k2")
        code, _out, logs = runner(kubeconfig, "--until-stable", "--deadline", "1")
        assert ("GET", "fault: delay 8 s") in {(m, f) for m, _p, f in proxy.history}, proxy.history
    assert code == 0, logs
    assert status_of(cluster, "mr-a")["state"] == "Approved", _decisions(logs)
