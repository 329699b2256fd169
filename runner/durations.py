"""Durations as people type them on a command line: '90', '90s', '15m', '1h30m'.

Shared by `runner forecast` (forecast.inputs) and `kubectl repairman` (--timeout).
"""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def seconds_of(text: str) -> float:
    """'90', '90s', '15m', '1h30m' -> seconds."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m or 1h30m")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds
