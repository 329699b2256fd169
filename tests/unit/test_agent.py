"""The reboot agent's pieces that need no cluster: its sentinel, which request is its
own, and its command line."""

from __future__ import annotations

from pathlib import Path

import attrs
from click.testing import CliRunner

from repairman.agent import Sentinel, main
from repairman.reboot import (
    BOOT_ID,
    REQUESTER,
    Complete,
    File,
    Mine,
    Reboot,
    Seen,
    Wait,
    mine_of,
    next_step,
    request_name,
    requests_of,
)


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


def test_it_follows_the_request_the_work_is_furthest_with() -> None:
    items = [
        _request("ended", status={"state": "Completed"}, created="2026-12-07T03:00:00Z"),
        _request("someone-elses", requester="firmware", created="2026-12-07T04:00:00Z"),
        _request("other-node", node="n2", created="2026-12-07T05:00:00Z"),
        _request("newer", created="2026-12-07T02:00:00Z"),
        _request("admitted", created="2026-12-07T02:30:00Z", status={"state": "Preparing"}),
        _request("older", created="2026-12-07T01:00:00Z"),
    ]
    follow, spares, ended = mine_of(requests_of(items, "n1"))
    assert follow is not None and follow.name == "admitted"
    assert [spare.name for spare in spares] == ["older", "newer"]
    assert ended is not None and ended.name == "ended"
    # A spare waiting is withdrawn before anything else.
    step = next_step(Seen(needed=True, boot_id="b", ready=True, mine=follow, spares=spares))
    assert isinstance(step, Complete) and step.request.name == "older"
    items[4]["metadata"]["annotations"] = {BOOT_ID: "b1"}
    items[4]["spec"]["state"] = "InProgress"
    items[3]["status"] = {"state": "Approved"}
    follow, _, _ = mine_of(requests_of(items, "n1"))
    assert follow is not None and follow.name == "admitted" and follow.boot_id == "b1"
    assert mine_of(requests_of(items[:3], "n1"))[0] is None


def test_names_are_per_node_boot_and_count() -> None:
    assert request_name("worker-1", "3F2a-77b1-99", 0) == "reboot-worker-1-3f2a77b1-0"
    assert request_name("worker-1", "", 2) == "reboot-worker-1-noboot-2"
    assert len(request_name("n" * 300, "b", 0)) <= 253


def test_no_reboot_without_an_approval_the_runner_wrote() -> None:
    """A request restored from a backup (spec InProgress with our boot ID, no status)
    is no approval: wait."""
    restored = Mine(name="r", spec_state="InProgress", state="Pending", boot_id="b")
    step = next_step(Seen(needed=True, boot_id="b", ready=True, mine=restored))
    assert isinstance(step, Wait) and "without an approval" in step.why
    approved = attrs.evolve(restored, state="InProgress", approved_at="2026-12-07T00:00:00Z")
    assert isinstance(next_step(Seen(needed=True, boot_id="b", ready=True, mine=approved)), Reboot)


def test_no_boot_id_means_no_request_and_no_start() -> None:
    assert isinstance(next_step(Seen(needed=True, boot_id="", ready=True, mine=None)), Wait)
    approved = Mine(name="r", spec_state="Pending", state="Approved", approved_at="t")
    assert isinstance(next_step(Seen(needed=True, boot_id="", ready=True, mine=approved)), Wait)


def test_a_request_ended_inside_its_reboot_is_not_filed_again_until_the_timeout() -> None:
    ended = Mine(
        name="r", spec_state="InProgress", state="Expired", boot_id="b", rebooting_at_uptime=100
    )
    seen = Seen(needed=True, boot_id="b", ready=True, mine=None, last_ended=ended, uptime=200)
    step = next_step(seen)
    assert isinstance(step, Wait) and "under way" in step.why
    assert isinstance(next_step(attrs.evolve(seen, uptime=700)), File)
    assert isinstance(next_step(attrs.evolve(seen, boot_id="c")), File)


def test_a_mark_that_cannot_be_read_waits_rather_than_reboots() -> None:
    marked = Mine(
        name="r",
        spec_state="InProgress",
        state="InProgress",
        boot_id="b",
        approved_at="t",
        rebooting_since="2026-12-07T00:00:00",
    )
    step = next_step(Seen(needed=True, boot_id="b", ready=True, mine=marked, uptime=10**6))
    assert isinstance(step, Wait)


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
