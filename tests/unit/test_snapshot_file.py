"""Loading recorded snapshots: one clear error with the file and the JSON path.

Covers: missing file, directory, invalid UTF-8, invalid JSON, wrong kind and version,
wrong field types deep inside, bad timestamps, and atomic writing. The round-trip of
valid snapshots is a property (tests/properties/test_roundtrip.py).
"""

import json
from pathlib import Path
from typing import Any

import pytest

from policy.model import Snapshot
from policy.snapshot_format import FORMAT_VERSION, KIND, dump
from runner.snapshot_file import SnapshotFileError, read_snapshot, write_snapshot
from tests.helpers import NOW


def minimal() -> dict[str, Any]:
    return {"kind": KIND, "version": FORMAT_VERSION, "now": "2026-11-25T12:00:00Z"}


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def error_for(path: Path) -> str:
    with pytest.raises(SnapshotFileError) as caught:
        read_snapshot(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def test_minimal_snapshot_loads(tmp_path: Path) -> None:
    snapshot = read_snapshot(write(tmp_path, minimal()))
    assert snapshot.now == NOW
    assert snapshot.nodes == ()


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert error_for(tmp_path / "nope.json").endswith("no such file")
    assert "is a directory" in error_for(tmp_path)


def test_not_utf8_and_not_json(tmp_path: Path) -> None:
    path = tmp_path / "snap.json"
    path.write_bytes(b"\xff\xfe{}")
    assert "not UTF-8" in error_for(path)
    path.write_text('{"kind": "RepairmanSnapshot",', encoding="utf-8")
    assert "not JSON" in error_for(path)
    assert "line 1" in error_for(path)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"kind": "Plan"}, "$.kind: 'Plan' is not 'RepairmanSnapshot'"),
        ({"version": 99}, "$.version: 99 is not a format version"),
        ({"now": None}, "$.now: required"),
        ({"now": "yesterday"}, "$.now: 'yesterday' is not an RFC 3339 timestamp"),
        ({"now": "2026-11-25T12:00:00"}, "$.now: '2026-11-25T12:00:00' has no time zone offset"),
        ({"nodes": {}}, "$.nodes: must be a list, not an object"),
        ({"nodes": [{"name": "a"}, {"labels": {}}]}, "$.nodes[1].name: required"),
        (
            {"nodes": [{"name": "a", "labels": {"zone": 1}}]},
            "$.nodes[0].labels['zone']: must be a string",
        ),
        ({"nodes": [{"name": "a", "ready": "yes"}]}, "$.nodes[0].ready: must be true or false"),
        ({"pods": [{"namespace": "ns", "name": "p"}]}, "$.pods[0].node: required"),
        (
            {"pdbs": [{"namespace": "ns", "name": "b", "disruptionsAllowed": "1"}]},
            "$.pdbs[0].disruptionsAllowed: must be an integer",
        ),
        (
            {
                "pdbs": [
                    {
                        "namespace": "ns",
                        "name": "b",
                        "selector": {"matchExpressions": [{"key": "a"}]},
                    }
                ]
            },
            "$.pdbs[0].selector.matchExpressions[0].operator: required",
        ),
        ({"workloads": [{"kind": "node", "namespace": "a", "name": "b"}]}, "$.workloads[0].kind"),
        (
            {"requests": [{"name": "r", "status": {"state": "Done"}}]},
            "$.requests[0].status.state: 'Done' is not one of",
        ),
        (
            {"requests": [{"name": "r", "status": {"approvedAt": 5}}]},
            "$.requests[0].status.approvedAt: must be an RFC 3339 timestamp",
        ),
        (
            {"limits": [{"name": "l", "status": {"active": [1]}}]},
            "$.limits[0].status.active[0]: must be a string",
        ),
        ([], "$: must be an object, not a list"),
        ({"nodes": [{"name": "a"}, {"name": "a"}]}, "$.nodes[1]: a second object named 'a'"),
        ({"requests": [{"name": "r"}, {"name": "q"}, {"name": "r"}]}, "$.requests[2]: a second"),
    ],
)
def test_errors_name_the_json_path(tmp_path: Path, change: Any, where: str) -> None:
    document = change if isinstance(change, list) else {**minimal(), **change}
    message = error_for(write(tmp_path, document))
    assert where in message


def test_authored_specs_are_kept_even_when_malformed(tmp_path: Path) -> None:
    # A bad spec is the policy's to reject, with a reason, not the loader's.
    document = {**minimal(), "requests": [{"name": "r", "spec": ["not", "an", "object"]}]}
    snapshot = read_snapshot(write(tmp_path, document))
    assert snapshot.requests[0].spec == ["not", "an", "object"]


def test_write_is_atomic_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    snapshot = Snapshot(now=NOW)
    write_snapshot(snapshot, path)
    assert read_snapshot(path) == snapshot
    assert json.loads(path.read_text()) == dump(snapshot)
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
