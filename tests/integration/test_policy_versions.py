"""policy/v1 on the wire (issue 14 item 7), through a proxy that makes the 1.20 test
API server look like a later one (tests/translating.py).

- As 1.21: PDBs served in policy/v1, Evictions taken in policy/v1beta1 only. The runner
  must read PDBs in v1 but evict in v1beta1, found from `pods/eviction` in /api/v1's
  discovery as kubectl does (fails when the Eviction follows the PDB version: 400 on
  every eviction, and the drain times out).
- As 1.25 and later: policy/v1 only. Every policy path the runner asks for is v1, and
  its Evictions are policy/v1.

What this cannot prove (docs/testing.md): that a real later server agrees — only that
the runner speaks v1 where it should; behaviour that differs between the versions (an
empty PDB selector) is computed by the 1.20 server the v1beta1 way.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.faultproxy import FaultProxy
from tests.integration.cluster import GROUP, VERSION, Cluster, wait_until
from tests.integration.conftest import ControlPlane
from tests.integration.scenario import runner_kubeconfig_via
from tests.integration.test_runner import request_body, status_of
from tests.translating import Current, Kube121, Translation


@pytest.mark.parametrize(
    ("translation", "eviction"),
    [(Kube121(), "policy/v1beta1"), (Current(), "policy/v1")],
    ids=["as-1.21", "as-current"],
)
def test_the_runner_speaks_the_policy_versions_the_server_serves(
    cluster: Cluster,
    control_plane: ControlPlane,
    tmp_path: Path,
    translation: Translation,
    eviction: str,
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.deployment("web", 2)
    cluster.pdb("web", max_unavailable=1)
    pods = cluster.running_ready("web", 2)
    cluster.disruptions_allowed("web", 1)
    target = pods[0].spec.node_name
    cluster.limit("node", type="node", limit=100, drain={"timeoutSeconds": 120})
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-a", target)
    )
    configuration = control_plane.api.configuration
    proxy = FaultProxy(
        configuration.host, configuration.ssl_ca_cert, translation=translation
    ).start()
    try:
        kubeconfig = runner_kubeconfig_via(control_plane, proxy.url, tmp_path / "kubeconfig")
        done = subprocess.run(
            [
                sys.executable, "-c", "from runner.cli import main; main()",
                "--kubeconfig", str(kubeconfig), "--lease-namespace", "repairman-system",
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        proxy.stop()
    assert done.returncode == 0, done.stderr
    assert translation.evictions, ("no eviction was sent", done.stderr)
    assert set(translation.evictions) == {eviction}, translation.evictions
    read = [p for p in translation.paths if "poddisruptionbudgets" in p]
    assert read and all(p.startswith("/apis/policy/v1/") for p in read), read
    assert status_of(cluster, "mr-a")["state"] == "Preparing"
    wait_until(
        "the pod on the target evicted",
        lambda: (
            not [
                p
                for p in cluster.pods("web")
                if p.spec.node_name == target and p.metadata.deletion_timestamp is None
            ]
        ),
    )
