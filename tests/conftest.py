"""Shared test configuration: Hypothesis profiles.

`quick` (the default, also used in CI) keeps the suite fast; `thorough` explores far
more examples for a nightly or local run:

    REPAIRMAN_HYPOTHESIS_PROFILE=thorough pytest tests/properties
"""

import os
import sys
from typing import Any

from hypothesis import HealthCheck, settings

settings.register_profile(
    "quick",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=3000,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("REPAIRMAN_HYPOTHESIS_PROFILE", "quick"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The bad-input sweep's table, when it ran (tests/unit/test_sweep.py)."""
    sweep = sys.modules.get("tests.sweep")
    if sweep is not None and sweep.LAST:
        terminalreporter.write_sep("-", "bad-input sweep (tests/sweep.py)")
        terminalreporter.write_line(sweep.table(sweep.LAST))
