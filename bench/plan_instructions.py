"""Instructions one cold plan of the base snapshot costs, counted by callgrind.

    python -m bench.plan_instructions            # needs valgrind (Debian: valgrind)

Wall time on a shared 2-core machine varies by more than the few percent a change to
the policy's hot paths costs; instruction counts do not. Builds `bench.synthetic`'s
base snapshot (5,000 nodes, 1,000 requests, 30,000 pods, 2,000 PDBs), then runs the
process under `valgrind --tool=callgrind` twice, with 0 and with 2 cold plans (the
collector frozen and disabled, as the runner does), and reports the difference / 2.
Compare two commits by running it in a worktree of each (docs/performance.md).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.synthetic import synthetic
from policy import plan
from policy.validation import clear_caches
from runner.memory import settle_snapshot

BASE = {"nodes": 5000, "requests": 1000, "pods": 30000, "pdbs": 2000}


def _worker(plans: int) -> None:
    snapshot = synthetic(**BASE)
    settle_snapshot()
    import gc  # noqa: PLC0415 - only the worker turns the collector off

    gc.disable()
    for _ in range(plans):
        clear_caches()
        plan(snapshot)


def _instructions(plans: int) -> int:
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "callgrind.out"
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "bench.plan_instructions",
                "--worker",
                str(plans),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no count:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        _worker(args.worker)
        return
    without, with_two = _instructions(0), _instructions(2)
    print(f"{(with_two - without) / 2 / 1e6:.1f} M instructions per cold plan of the base snapshot")


if __name__ == "__main__":
    main()
