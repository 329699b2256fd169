"""The `runner` command offline: tables, JSON, and errors as one line with exit codes.

Covers: `runner --plan --snapshot` on the shipped example (table and JSON), `--at`,
bad usage, unreadable and malformed snapshot files, and that the shipped example is
what examples/make_cluster.py writes, and the one-line errors of online mode without a
cluster. Online passes against a real cluster are in tests/integration/test_runner.py.
"""

import json
from pathlib import Path

from click.testing import CliRunner

from examples.make_cluster import render
from runner.cli import main

EXAMPLE = Path(__file__).parents[2] / "examples" / "cluster.json"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_example_is_up_to_date() -> None:
    assert EXAMPLE.read_text(encoding="utf-8") == render(), "run python examples/make_cluster.py"


def test_table_output_explains_every_request() -> None:
    code, out, _ = run("--plan", "--snapshot", str(EXAMPLE))
    assert code == 0
    document = json.loads(EXAMPLE.read_text())
    for request in document["requests"]:
        assert request["name"] in out
    assert "LimitReached" in out and "WindowClosed" in out and "Draining" in out
    assert "evict" in out and "cordon" in out and "uncordon" in out


def test_json_output_is_stable_and_complete() -> None:
    code, out, _ = run("--snapshot", str(EXAMPLE), "--output", "json")
    assert code == 0
    document = json.loads(out)
    assert document["kind"] == "RepairmanPlan" and document["version"] == 1
    assert {d["action"] for d in document["decisions"]} >= {
        "UpdateRequestStatus",
        "Cordon",
        "Evict",
        "Uncordon",
        "DeleteRequest",
        "UpdateLimitStatus",
    }
    states = {r["name"]: r["state"] for r in document["requests"]}
    assert states["mr-fw-a09"] == "Expired"
    assert states["mr-os-b03"] == "Preparing"
    assert states["mr-typo"] == "Rejected"
    # Same input, same output.
    assert run("--snapshot", str(EXAMPLE), "--output", "json")[1] == out


def test_at_moves_the_clock() -> None:
    code, out, _ = run("--snapshot", str(EXAMPLE), "-o", "json", "--at", "2026-11-28T00:30:00Z")
    assert code == 0
    states = {r["name"]: r for r in json.loads(out)["requests"]}
    # Saturday 01:30 in Berlin: zone c's window is open; the repair has priority.
    assert states["mr-repair-c03"]["state"] in ("Preparing", "Approved")
    assert states["mr-os-c04"]["reason"] == "LimitReached"


def test_unreachable_cluster_fails_the_pass_with_exit_code_1(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: x}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
    )
    code, out, err = run("--plan", "--kubeconfig", str(config))
    assert code == 1 and out == ""
    *retries, last = err.strip().splitlines()
    assert last.startswith("error: cannot reach the API server at https://127.0.0.1:1: ")
    assert "Connection refused" in last
    # Reads are retried (3 times, logged) before the pass gives up.
    assert [json.loads(line)["event"] for line in retries] == ["retry"] * 3
    assert "retry 3/3" in json.loads(retries[-1])["detail"]


def test_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    code, out, err = run("--plan", "--kubeconfig", str(tmp_path / "nope"))
    assert code == 2 and out == "" and "no usable cluster credentials" in err
    code, _, err = run("--snapshot", str(tmp_path / "missing.json"))
    assert code == 2 and err.strip().endswith("no such file") and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"kind": "RepairmanSnapshot", "version": 1, "now": "2026-11-25T12:00:00Z", "nodes": [{}]}'
    )
    code, _, err = run("--snapshot", str(bad))
    assert code == 2 and "$.nodes[0].name: required" in err and "Traceback" not in err
    code, _, err = run("--snapshot", str(bad), "--at", "noon")
    assert code == 2 and "--at" in err
    code, _, err = run("--snapshot", str(EXAMPLE), "-o", "yaml")
    assert code == 2
