"""policy/ reads no clock and no environment (DESIGN §1), checked on its source.

import-linter (tox -e lint) forbids the modules; this catches what an import contract
cannot see, such as `datetime.now()` on a module the policy must import for types.
"""

import ast
from pathlib import Path

import pytest

POLICY = Path(__file__).parents[2] / "policy"
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "getenv", "perf_counter"}


@pytest.mark.parametrize("path", sorted(POLICY.glob("*.py")), ids=lambda p: p.name)
def test_no_clock_or_environment(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno}"
        if isinstance(node, ast.Attribute) and node.attr == "environ":
            raise AssertionError(f"{path.name}:{node.lineno} reads the environment")
