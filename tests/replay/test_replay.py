"""Golden replay: every case in cases/ is a recorded snapshot and the plan expected.

One parametrized test walks the directory (resolvelib's functional tests). Each case
was checked by hand; its description says what it shows. Known bugs are marked
xfail(strict=True) in KNOWN_BUGS with their reason, never deleted. Regenerate after a
deliberate change with `python -m tests.replay.build_cases` and review the diff.
"""

import json
from pathlib import Path

import pytest

from policy import plan
from policy.snapshot_load import load
from runner.render import plan_json
from tests.replay.build_cases import BUILDERS, build

CASES = sorted(Path(__file__).with_name("cases").glob("*.json"))
KNOWN_BUGS: dict[str, str] = {}


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 12


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(
            p, id=p.stem, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[p.stem])]
        )
        if p.stem in KNOWN_BUGS
        else pytest.param(p, id=p.stem)
        for p in CASES
    ],
)
def test_replay(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    snapshot = load(case["snapshot"])
    assert plan_json(plan(snapshot)) == case["expected"]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_case_files_match_their_builders(name: str) -> None:
    path = Path(__file__).with_name("cases") / f"{name}.json"
    recorded = json.loads(path.read_text(encoding="utf-8"))
    built = json.loads(json.dumps(build(name)))
    # The expected plan is what test_replay checks; here only the inputs must agree.
    assert (recorded["description"], recorded["snapshot"]) == (
        built["description"],
        built["snapshot"],
    )
