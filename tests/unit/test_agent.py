"""The reboot agent's pieces that need no cluster: its sentinel, which request is its
own, and its command line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from repairman.agent import Sentinel, main
from repairman.reboot import BOOT_ID, REQUESTER, mine_of


def _request(name: str, *, node: str = "n1", requester: str = REQUESTER, **more: object) -> dict:
    status = more.pop("status", {})
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": more.pop("created", "2026-12-07T00:00:00Z"),
        },
        "spec": {"type": "node", "name": node, "requester": requester, "state": "Pending", **more},
        "status": status,
    }


def test_the_sentinel_file_and_its_packages(tmp_path: Path) -> None:
    sentinel = Sentinel(str(tmp_path / "reboot-required"), None)
    assert not sentinel.needed()
    (tmp_path / "reboot-required").write_text("*** System restart required ***\n")
    assert sentinel.needed()
    assert sentinel.reason() == f"reboot required ({tmp_path / 'reboot-required'})"
    (tmp_path / "reboot-required.pkgs").write_text("linux-image-6.1.0-28-amd64\nlibc6\n\nlibc6\n")
    assert sentinel.reason() == "reboot required by libc6, linux-image-6.1.0-28-amd64"
    (tmp_path / "reboot-required.pkgs").write_text("\n".join(f"package-{i}" for i in range(50)))
    assert len(sentinel.reason()) == 200 and sentinel.reason().endswith("…")


def test_the_sentinel_command_says_yes_with_exit_0() -> None:
    assert Sentinel("/nonexistent", "true").needed()
    assert not Sentinel("/nonexistent", "false").needed()
    assert not Sentinel("/nonexistent", "/no/such/command").needed()


def test_its_own_request_is_the_newest_unended_one_it_filed_for_its_node() -> None:
    items = [
        _request("ended", status={"state": "Completed"}, created="2026-12-07T03:00:00Z"),
        _request("someone-elses", requester="firmware", created="2026-12-07T04:00:00Z"),
        _request("other-node", node="n2", created="2026-12-07T05:00:00Z"),
        _request("older", created="2026-12-07T01:00:00Z"),
        _request("mine", created="2026-12-07T02:00:00Z", status={"state": "Approved"}),
    ]
    found = mine_of(items, "n1")
    assert found is not None and found.name == "mine" and found.state == "Approved"
    items[4]["metadata"]["annotations"] = {BOOT_ID: "b1"}
    assert mine_of(items, "n1").boot_id == "b1"  # type: ignore[union-attr]
    assert mine_of(items[:3], "n1") is None


def test_bad_command_lines_are_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["--node", "n1", "--period", "soon"])
    assert result.exit_code == 2 and result.stderr.startswith("error: 'soon' is not a duration")
    result = runner.invoke(main, ["--node", "n1", "--poll", "0s"])
    assert result.exit_code == 2 and "must be above 0" in result.stderr
    result = runner.invoke(main, ["--period", "1m"], env={"NODE_NAME": ""})
    assert result.exit_code == 2 and "--node" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    missing = tmp_path / "missing.kubeconfig"
    result = runner.invoke(main, ["--node", "n1", "--once", "--kubeconfig", str(missing)])
    assert result.exit_code == 1 and result.stderr.startswith("error: ")
    assert str(missing) in result.stderr and "Traceback" not in result.stderr
