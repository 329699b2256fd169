"""scripts/control-plane without a cluster: its answers when there is nothing to run.

Covers: `status` and `down` on a directory where nothing was started, and `--help`.
Starting and stopping for real is exercised by every integration session
(tests/integration/conftest.py checks that no process is left behind).
"""

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "control-plane"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_status_of_nothing_is_down(tmp_path: Path) -> None:
    result = run("status", "--dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout.startswith("down")


def test_down_of_nothing_is_fine(tmp_path: Path) -> None:
    result = run("down", "--dir", str(tmp_path))
    assert result.returncode == 0
    assert "nothing to stop" in result.stderr


def test_help_names_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("build", "up", "down", "status"):
        assert command in result.stdout
