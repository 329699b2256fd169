"""Figures a long test measures (overlap, crashes, soak), kept for the docs.

`report(name, **figures)` writes them as JSON to reports/NAME.json at the top of the
work tree (ignored by git) and repeats them on stderr, where `pytest -s` shows them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DIRECTORY = Path(__file__).parents[1] / "reports"


def report(name: str, **figures: Any) -> Path:
    DIRECTORY.mkdir(exist_ok=True)
    path = DIRECTORY / f"{name}.json"
    text = json.dumps(figures, indent=2, sort_keys=True, default=str)
    path.write_text(text + "\n")
    sys.stderr.write(f"{name}: {json.dumps(figures, sort_keys=True, default=str)}\n")
    return path
