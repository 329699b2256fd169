"""The test control plane for benchmarks: started, CRDs installed, stopped afterwards."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "control-plane"


@contextmanager
def running_control_plane(
    controllers: str | None = None, directory: Path | None = None
) -> Iterator[tuple[Path, list[str]]]:
    """Yields the admin kubeconfig and a kubectl command line bound to it;
    `controllers`, kube-controller-manager's --controllers (the script's own if None).
    In `directory` (kept afterwards: etcd's data, so a fleet built once starts again in
    seconds), else in a temporary one."""
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        extra = ["--controllers", controllers] if controllers else []
        subprocess.run(
            [str(SCRIPT), "up", "--dir", str(directory), *extra],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        try:
            state = json.loads((directory / "state.json").read_text())
            kubeconfig = Path(state["kubeconfig"])
            kubectl = [str(Path(state["binaries"]) / "kubectl"), "--kubeconfig", str(kubeconfig)]
            # kubectl 1.20 does not know the CRDs' CEL rules (docs/testing.md).
            subprocess.run(
                [*kubectl, "apply", "--validate=false", "-f", str(ROOT / "k8s" / "crds")],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            yield kubeconfig, kubectl
        finally:
            subprocess.run(
                [str(SCRIPT), "down", "--dir", str(directory)],
                check=False,
                stderr=subprocess.DEVNULL,
            )
