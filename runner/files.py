"""Reading the files a person names (snapshots, kubeconfigs, request files), safely.

A named path must be a regular file: a FIFO would block the read until some writer
comes (a CronJob or a script hangs), a device may never end. It is opened without
blocking and checked on the open descriptor, so a path swapped between a check and the
read is still judged. Structured text nested deeper than any real document (JSON or
YAML of thousands of levels) is refused with a line, not a RecursionError traceback.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml


class FileProblem(Exception):
    """What is wrong with reading a named file, without its name (callers add it)."""


def read_text(path: Path) -> str:
    """The UTF-8 text of a regular file."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileProblem("no such file") from None
    except IsADirectoryError:
        raise FileProblem("is a directory, not a file") from None
    except OSError as error:
        raise FileProblem(f"cannot read: {error.strerror or error}") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        if stat.S_ISDIR(mode):
            raise FileProblem("is a directory, not a file")
        raise FileProblem("is not a regular file (a FIFO, socket or device is not read)")
    os.set_blocking(descriptor, True)
    with os.fdopen(descriptor, "rb") as opened:
        try:
            data = opened.read()
        except OSError as error:
            raise FileProblem(f"cannot read: {error.strerror or error}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FileProblem(f"not UTF-8 text (byte {error.start})") from None


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise FileProblem(
            f"not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise FileProblem("nested too deeply to be read") from None


def yaml_documents(text: str) -> list[Any]:
    """Every document of a YAML (or JSON) text; a YAML error gives its line and column
    only: the text may hold a credential."""
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise FileProblem(f"not YAML or JSON{where}") from None
    except RecursionError:
        raise FileProblem("nested too deeply to be read") from None
