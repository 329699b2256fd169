"""The README's five-minute walkthrough, run line by line on the session's control
plane (its `up`, `env` and `down` lines are what the session fixture already did; the
venv line is this test's own interpreter). Fails when the README drifts from what
works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.integration.cluster import Cluster
from tests.integration.conftest import ROOT, ControlPlane
from tests.integration.test_runner import status_of

SECTION = "## Five minutes on the test control plane"
DONE_BY_THE_FIXTURE = ("python3 -m venv", "scripts/control-plane up", "scripts/control-plane down")


def walkthrough() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split(SECTION, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_readme_walkthrough_works(cluster: Cluster, control_plane: ControlPlane) -> None:
    lines = walkthrough()
    assert len(lines) >= 10
    script = [line for line in lines if not line.startswith(DONE_BY_THE_FIXTURE)]
    environment = {
        **os.environ,
        "KUBECONFIG": str(control_plane.kubeconfig),
        "PATH": os.pathsep.join(
            [
                str(Path(control_plane.kubectl_binary).parent),
                str(Path(sys.executable).parent),
                os.environ.get("PATH", ""),
            ]
        ),
    }
    try:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", "\n".join(script)],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        requests = cluster.custom.list_cluster_custom_object(
            "repairman.k8s.io", "v1", "maintenancerequests"
        )["items"]
        assert len(requests) == 1
        name = requests[0]["metadata"]["name"]
        assert status_of(cluster, name)["state"] == "Completed"
        assert "Completed" in done.stdout.splitlines()[-1]
        assert not cluster.core.read_node("worker-17").spec.unschedulable
    finally:
        cluster.core.delete_node("worker-17")
