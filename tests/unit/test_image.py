"""The runner image (Dockerfile) as far as it can be checked without a container engine.

The final stage runs `runner` as the uid and gid the CronJob's securityContext asks
for, with the CronJob's arguments as default; and the build context that
.dockerignore lets through is enough to build the wheel the image installs (built
here with pip, as the Dockerfile's first stage does, fetching setuptools from PyPI),
which carries both packages and the `runner` console script.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]


def final_stage() -> list[str]:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    start = max(i for i, line in enumerate(instructions) if line.startswith("FROM "))
    return instructions[start:]


def cronjob_pod() -> dict:
    cronjob = yaml.safe_load((ROOT / "k8s" / "cronjob.yaml").read_text())
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def test_the_image_runs_the_runner_as_the_cronjobs_user() -> None:
    stage = final_stage()
    assert stage[0].startswith("FROM python:3.") and stage[0].endswith("-slim")
    context = cronjob_pod()["securityContext"]
    assert f"USER {context['runAsUser']}:{context['runAsGroup']}" in stage
    assert 'ENTRYPOINT ["runner"]' in stage
    cmd = next(line for line in stage if line.startswith("CMD "))
    assert json.loads(cmd.removeprefix("CMD ")) == cronjob_pod()["containers"][0]["args"]


def admitted(path: Path, patterns: list[str]) -> bool:
    """.dockerignore semantics for the patterns used there: last match wins."""
    relative = path.relative_to(ROOT).as_posix()
    keep = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        bare = pattern.removeprefix("!").rstrip("/")
        candidates = [relative, *(p.as_posix() for p in Path(relative).parents if p != Path("."))]
        if any(
            fnmatch.fnmatch(c, bare) or fnmatch.fnmatch(c, bare.removeprefix("**/"))
            for c in candidates
        ):
            keep = negated
    return keep


def test_the_build_context_builds_the_wheel(tmp_path: Path) -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    context = tmp_path / "context"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        source = ROOT / name
        if source.is_file() and admitted(source, patterns):
            target = context / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    assert (context / "pyproject.toml").exists() and not (context / "tests").exists()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--wheel-dir",
            str(tmp_path / "wheels"),
            str(context),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    wheel = next((tmp_path / "wheels").glob("repairman-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "policy/planner.py" in names and "runner/cli.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "runner = runner.cli:main" in text
