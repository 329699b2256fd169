"""Metrics of a run, pushed to a real Pushgateway (Debian's prometheus-pushgateway,
started on loopback by the test) and written as a textfile, read back and checked
against what the run did; a failed run adds its error without hiding the last
success."""

from __future__ import annotations

import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.cluster import Cluster, wait_until
from tests.integration.conftest import GROUP, VERSION, ControlPlane
from tests.integration.test_runner import request_body, runner


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(what: str, url: str, timeout: float = 30.0) -> None:
    """Until `url`/-/ready answers 200 (Prometheus' and the Pushgateway's readiness)."""

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as answer:
                return answer.status == 200
        except OSError:
            return False

    wait_until(f"{what} ready", ready, timeout=timeout)


@pytest.fixture
def pushgateway() -> Iterator[str]:
    binary = shutil.which("prometheus-pushgateway")
    assert binary, "prometheus-pushgateway is installed by scripts/control-plane build"
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready("the Pushgateway", url)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(
                sorted((k, v) for k, v in sample.labels.items() if k not in ("job", "instance"))
            )
            found[(sample.name, labels)] = sample.value
    return found


def scraped(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
        return {k: v for k, v in samples(answer.read().decode()).items() if "repairman" in k[0]}


def test_a_run_pushes_and_writes_its_metrics(
    cluster: Cluster,
    control_plane: ControlPlane,
    runner_kubeconfig: Path,
    pushgateway: str,
    tmp_path: Path,
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.deployment("web", 2)
    cluster.running_ready("web", 2)
    cluster.limit("node", limit=50, drain={"timeoutSeconds": 120})
    pods = cluster.running_ready("web", 2)
    target = pods[0].spec.node_name
    other = next(n for n in nodes if n != target)
    for name, node in (("mr-a", target), ("mr-b", other)):
        cluster.custom.create_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests", request_body(name, node)
        )
    textfile = tmp_path / "repairman.prom"
    code, _, logs = runner(
        runner_kubeconfig,
        "--until-stable",
        "--deadline",
        "30",
        "--pushgateway",
        pushgateway,
        "--metrics-file",
        str(textfile),
    )
    assert code == 0, logs
    passes = [e for e in logs if e["event"] == "pass"]
    pushed = scraped(pushgateway)
    written = samples(textfile.read_text())
    for metrics in (pushed, written):
        assert metrics[("repairman_requests", (("reason", "Approved"), ("state", "Approved")))] == 1
        assert (
            metrics[("repairman_requests", (("reason", "LimitReached"), ("state", "Pending")))] == 1
        )
        assert metrics[("repairman_limit_allowed", (("limit", "node"),))] == 1
        assert metrics[("repairman_limit_in_use", (("limit", "node"),))] == 1
        on_target = sum(p.spec.node_name == target for p in pods)
        assert metrics[("repairman_evictions", (("result", "ok"),))] == on_target
        assert metrics[("repairman_passes", ())] == len(passes)
        assert metrics[("repairman_writes", ())] == sum(p["writes"] for p in passes)
        assert metrics[("repairman_errors", ())] == 0
        assert metrics[("repairman_run_duration_seconds", ())] > 0
    success = pushed[("repairman_last_success_timestamp_seconds", ())]

    # A run that fails (credentials refused) adds its error; the last success stays.
    broken = tmp_path / "broken.kubeconfig"
    broken.write_text(
        runner_kubeconfig.read_text().replace('"token": "', '"token": "not-a-valid-token-')
    )
    code, _, _ = runner(broken, "--pushgateway", pushgateway, "--metrics-file", str(textfile))
    assert code == 1
    after = scraped(pushgateway)
    assert after[("repairman_errors", ())] == 1
    assert after[("repairman_last_success_timestamp_seconds", ())] == success
    assert after[("repairman_last_run_timestamp_seconds", ())] > success
    assert ("repairman_last_success_timestamp_seconds", ()) not in samples(textfile.read_text())


def test_an_unreachable_pushgateway_does_not_fail_the_run(
    cluster: Cluster, runner_kubeconfig: Path
) -> None:
    code, _, logs = runner(runner_kubeconfig, "--pushgateway", f"http://127.0.0.1:{free_port()}")
    assert code == 0, logs
    failed = [e for e in logs if e["event"] == "metrics-failed"]
    assert len(failed) == 1 and "push to http://127.0.0.1:" in failed[0]["detail"]
