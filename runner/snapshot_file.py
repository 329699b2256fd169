"""Reading and writing recorded snapshot files, with one-line errors."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from policy.model import Snapshot
from policy.snapshot_format import SnapshotFormatError, dump
from policy.snapshot_load import load
from runner.files import FileProblem, parse_json, read_text


class SnapshotFileError(Exception):
    """A snapshot file that cannot be used; the message names the file and the problem."""


def read_snapshot(path: Path) -> Snapshot:
    try:
        document = parse_json(read_text(path))
    except FileProblem as problem:
        raise SnapshotFileError(f"{path}: {problem}") from None
    try:
        return load(document)
    except SnapshotFormatError as error:
        raise SnapshotFileError(f"{path}: {error}") from None
    except RecursionError:
        raise SnapshotFileError(f"{path}: nested too deeply to be a snapshot") from None


def write_snapshot(snapshot: Snapshot, path: Path) -> None:
    """Write atomically: a reader never sees half a file, a failure leaves no file."""
    text = json.dumps(dump(snapshot), indent=1, sort_keys=False, allow_nan=False) + "\n"
    directory = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
