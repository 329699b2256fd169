"""The bad-input sweep (tests/sweep.py) is clean: every bad object, command line, file
and API misuse it tries is handled as its category requires. pytest's summary prints
the table of tried / clean / not per category."""

from tests.sweep import sweep, table


def test_every_bad_input_is_handled_cleanly() -> None:
    results = sweep()
    assert len(results) >= 232, "the sweep tries at least the 232 inputs of issue 32"
    assert all(result.clean for result in results), table(results)
