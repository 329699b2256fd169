"""Outside gates (DESIGN §7 `gates`) on the real control plane, against a real
Prometheus (Debian's `prometheus`, started on loopback by the test, scraping a real
Pushgateway where the test sets a metric).

Covers: a running blocking pod holds admissions (reason BlockingPods, naming it)
until it is gone, and a namespaceSelector that matches no namespace holds them; a
series the Prometheus query returns holds them (AlertFiring, naming it), none releases
them; a bad query and a Prometheus that is down hold them too (GateUnavailable,
saying why: fail closed); `kubectl get ml` shows the limit held.
The policy's rules are property-tested (tests/properties) and table-tested
(tests/unit/test_outside_gates.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cluster import GROUP, VERSION, Cluster, wait_until
from tests.integration.conftest import ControlPlane
from tests.integration.test_approval_gate import one_pass
from tests.integration.test_metrics import (  # noqa: F401 (pushgateway: a fixture)
    free_port,
    pushgateway,
    wait_ready,
)
from tests.integration.test_runner import request_body, status_of
from tests.integration.test_schedules import limit_status


def file(cluster: Cluster, name: str, node: str) -> None:
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body(name, node)
    )


def waiting(cluster: Cluster, name: str) -> tuple[str | None, str, str]:
    status = status_of(cluster, name)
    return status.get("state"), status.get("reason", ""), status.get("message", "")


def test_a_blocking_pod_holds_admissions_until_it_is_gone(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    gates = {
        "blockingPods": {
            "selector": {"matchLabels": {"app": "backup"}},
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": cluster.namespace}
            },
        }
    }
    cluster.limit("node", type="node", limit=100, gates=gates)
    cluster.unmanaged_pod("nightly", nodes[1], labels={"app": "backup"}, grace=0)
    file(cluster, "mr-a", nodes[0])
    # The 1.20 server does not label namespaces with their name: the selector matches
    # none yet, which holds (a typo must not open the gate).
    one_pass(control_plane)
    state, reason, message = waiting(cluster, "mr-a")
    assert (state, reason) == ("Pending", "GateUnavailable"), message
    assert "matches no namespace" in message, message
    cluster.core.patch_namespace(
        cluster.namespace,
        {"metadata": {"labels": {"kubernetes.io/metadata.name": cluster.namespace}}},
    )
    one_pass(control_plane)
    state, reason, message = waiting(cluster, "mr-a")
    assert (state, reason) == ("Pending", "BlockingPods"), message
    assert f"1 pod running matching app=backup: {cluster.namespace}/nightly" in message
    assert limit_status(cluster, "node")["held"] == "gate"
    header, row = control_plane.kubectl("get", "ml", "node").stdout.splitlines()[:2]
    assert row[header.index("HELD") :].startswith("gate"), (header, row)

    cluster.core.delete_namespaced_pod("nightly", cluster.namespace, grace_period_seconds=0)
    wait_until("the pod gone", lambda: not cluster.pods("backup"))
    one_pass(control_plane)
    assert waiting(cluster, "mr-a")[0] == "Approved"


@pytest.fixture
def prometheus(pushgateway: str, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:  # noqa: F811
    binary = shutil.which("prometheus")
    assert binary, "prometheus is installed by scripts/control-plane build"
    target = urllib.parse.urlparse(pushgateway).netloc
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "pushgateway",
                        "honor_labels": True,
                        "static_configs": [{"targets": [target]}],
                    }
                ],
            }
        )
    )
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready("Prometheus", url, timeout=60)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=20)


QUERY = 'gate_test_alert{severity="critical"} > 0'


def series(url: str) -> list[object]:
    query = urllib.parse.urlencode({"query": QUERY})
    with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=5) as answer:
        return list(json.load(answer)["data"]["result"])


def push(gateway: str, value: int | None) -> None:
    """Set gate_test_alert{severity="critical"} on the Pushgateway, or remove it (None)."""
    where = f"{gateway}/metrics/job/gate-test"
    if value is None:
        request = urllib.request.Request(where, method="DELETE")
    else:
        body = f'gate_test_alert{{severity="critical"}} {value}\n'.encode()
        request = urllib.request.Request(where, data=body, method="PUT")
    with urllib.request.urlopen(request, timeout=5):
        pass


def test_the_prometheus_gate_against_a_real_prometheus(
    cluster: Cluster,
    control_plane: ControlPlane,
    pushgateway: str,  # noqa: F811
    prometheus: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = prometheus
    nodes = cluster.nodes(3)
    cluster.wait_nodes_ready(nodes)
    gate = {"url": url, "query": QUERY, "timeoutSeconds": 2}
    cluster.limit("node", type="node", limit=100, gates={"prometheus": gate})

    push(pushgateway, 1)
    wait_until("Prometheus sees the alert", lambda: len(series(url)) == 1, timeout=60)
    file(cluster, "mr-a", nodes[0])
    one_pass(control_plane)
    state, reason, message = waiting(cluster, "mr-a")
    assert (state, reason) == ("Pending", "AlertFiring"), message
    assert f"alert gate: 1 series matches {QUERY}: " in message
    # The comparison drops the metric's name: the series is its labels.
    assert message.endswith('{job="gate-test",severity="critical"}'), message

    push(pushgateway, None)
    wait_until("the alert gone", lambda: series(url) == [], timeout=60)
    one_pass(control_plane)
    assert waiting(cluster, "mr-a")[0] == "Approved", "no series: the gate is open"

    # A bad query holds admissions, with Prometheus' own reason.
    bad = {**gate, "query": "gate_test_alert{"}
    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, "maintenancelimits", "node", {"spec": {"gates": {"prometheus": bad}}}
    )
    file(cluster, "mr-b", nodes[1])
    one_pass(control_plane)
    state, reason, message = waiting(cluster, "mr-b")
    assert (state, reason) == ("Pending", "GateUnavailable"), message
    assert "HTTP 400: bad_data" in message, message

    # Prometheus down holds them too.
    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, "maintenancelimits", "node", {"spec": {"gates": {"prometheus": gate}}}
    )
    process.terminate()
    process.wait(timeout=20)
    one_pass(control_plane)
    state, reason, message = waiting(cluster, "mr-b")
    assert (state, reason) == ("Pending", "GateUnavailable"), message
    assert f"{url}/api/v1/query: unreachable (" in message and "refused" in message, message
