"""Benchmark: does planning cost less than loading the snapshot, and does it scale?

For the base size (5,000 nodes, 1,000 requests, 30,000 pods on the nodes that matter,
2,000 PDBs) and for every count grown 10x, it writes the synthetic snapshot to a JSON
file and, in fresh processes (3 per size, the median one reported), times (median of
5) loading it the way the runner does (read, parse, build the snapshot) and `plan` on
the loaded snapshot, with a fixed PYTHONHASHSEED so dict layouts repeat, and with
the garbage collector set up as the runner does (runner/memory.py).
Targets (issue 2): plan/load < 1 at the base size; plan time at 10x at most 12x the
base. Prints a table; with --json FILE, also writes the figures.

    tox -e bench                                    # both sizes
    python -m bench.plan_vs_load --scale 1 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.synthetic import synthetic
from policy import Plan, Snapshot, plan
from policy.validation import clear_caches
from runner.memory import collector_paused, settle_snapshot
from runner.snapshot_file import read_snapshot, write_snapshot

BASE = {"nodes": 5000, "requests": 1000, "pods": 30000, "pdbs": 2000}
COLUMNS = ("scale", "nodes", "requests", "pods", "pdbs", "file_mb", "load_s", "plan_s")


def median_seconds(action: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def cold_plan(snapshot: Snapshot) -> Plan:
    """A plan without what an earlier plan in this process parsed (the runner plans
    once per process)."""
    clear_caches()
    return plan(snapshot)


def measure(scale: int, repeat: int) -> dict[str, Any]:
    counts = {key: value * scale for key, value in BASE.items()}
    snapshot = synthetic(**counts)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "snapshot.json"
        write_snapshot(snapshot, path)
        size = path.stat().st_size
        del snapshot
        load_s, loaded = median_seconds(lambda: read_snapshot(path), repeat)
    settle_snapshot()
    with collector_paused():
        plan_s, result = median_seconds(lambda: cold_plan(loaded), repeat)
    return {
        "scale": scale,
        **counts,
        "file_mb": round(size / 1e6, 1),
        "load_s": round(load_s, 3),
        "plan_s": round(plan_s, 3),
        "plan_over_load": round(plan_s / load_s, 3),
        "decisions": len(result.decisions),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=int, action="append", help="1 and 10 by default")
    parser.add_argument("--repeat", type=int, default=5, help="timings per process")
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per size")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(measure(args.worker, args.repeat)))
        return
    rows = []
    for scale in args.scale or [1, 10]:
        worker = [sys.executable, "-m", "bench.plan_vs_load", "--worker", str(scale)]
        runs = []
        for _ in range(args.processes):
            out = subprocess.run(
                [*worker, "--repeat", str(args.repeat)],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONHASHSEED": "0"},
            )
            runs.append(json.loads(out.stdout))
        # The run with the median plan time, so its load time is from the same process.
        rows.append(sorted(runs, key=lambda run: run["plan_s"])[len(runs) // 2])
    columns = (*COLUMNS, "plan_over_load", "decisions")
    print(" ".join(f"{c:>14}" for c in columns))
    for row in rows:
        print(" ".join(f"{row[c]!s:>14}" for c in columns))
    if len(rows) >= 2:
        growth = rows[-1]["plan_s"] / rows[0]["plan_s"]
        print(f"plan time growth {rows[-1]['scale']}x over {rows[0]['scale']}x: {growth:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
