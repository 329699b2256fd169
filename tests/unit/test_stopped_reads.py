"""A SIGTERM during reads that go side by side (runner.kube.side_by_side: the pods of
the nodes that matter, a list's next page) stops the run at once: the Lease's release
is not held up by reads left in flight, and neither is the process's exit.

A runner-like process reads 20 nodes' pods, 4 at once, from a loopback server that
answers a pod read after 8 s, and gets SIGTERM 0.5 s in; its slots are all held by
reads in flight when it releases its Lease (a request of its own here)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner import passes
from runner.console import Logger
from runner.kube import KubeError, side_by_side
from runner.metrics import RunMetrics
from runner.signals import Signals, Stopped

SCRIPT = r"""
import os, signal, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import urllib3
from runner.kube import Kube
from runner.read import node_pods, read_pods
from runner.signals import Signals, Stopped

class Slow(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/api/v1/pods"):
            time.sleep(8)
        body = b'{"items": []}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
threading.Thread(target=server.serve_forever, daemon=True).start()
kube = Kube(
    server=f"http://127.0.0.1:{server.server_port}",
    pool=urllib3.PoolManager(maxsize=4),
    headers={},
    slots=threading.BoundedSemaphore(4),
)
Signals().install()
signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
signal.setitimer(signal.ITIMER_REAL, 0.5)
started = time.monotonic()
try:
    read_pods(node_pods(kube), [f"n{i}" for i in range(20)])
except Stopped:
    print(f"stopped {time.monotonic() - started:.2f}", flush=True)
released = time.monotonic()
kube.request("GET", "/apis/coordination.k8s.io/v1/leases/x", bounded=False)
print(f"released {time.monotonic() - released:.2f}", flush=True)
"""


def test_a_sigterm_during_side_by_side_reads_releases_and_exits_at_once() -> None:
    root = Path(__file__).resolve().parents[2]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    took = time.monotonic() - started
    lines = dict(line.split() for line in done.stdout.splitlines())
    assert done.returncode == 0, done.stderr
    assert float(lines["stopped"]) < 2.0, done.stdout
    # The 4 slots are held by reads that answer 8 s later: the release takes none.
    assert float(lines["released"]) < 2.0, done.stdout
    # Nothing joins the readers at exit (an executor's threads would be: 8 s and more).
    assert took < 6.0, (took, done.stdout)


def test_the_first_error_stops_the_calls_not_yet_begun() -> None:
    # Item 0 is slow, item 1 fails at once: the error must not wait for item 0 while
    # the readers go on through the other 198 items.
    begun: list[int] = []

    def call(item: int) -> int:
        begun.append(item)
        if item == 0:
            time.sleep(1.0)
        if item == 1:
            raise KubeError("list pods: 500", status=500)
        time.sleep(0.005)
        return item

    with pytest.raises(KubeError):
        side_by_side(call, range(200), at_once=4)
    time.sleep(1.2)  # item 0 ends; nothing else may have begun meanwhile
    assert len(begun) <= 8, len(begun)


def test_a_sigterm_while_the_watches_end_still_releases_the_lease(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The run's end: the watches of `--until-stable` are stopped (joined for up to a
    second each) and the Lease released. A SIGTERM arriving while the watches end must
    not skip the release, or the next minute's run finds the Lease held and does
    nothing. (Fails with the watches stopped outside the guarded block: Stopped raised
    out of the `finally` skips the release.)"""
    signals = Signals()
    released: list[str] = []

    class Held:
        def __init__(self, _kube: object, _namespace: str) -> None:
            self.taken_over = False

        def acquire(self, _now: object) -> str:
            return "another-runner"  # the pass stops at once; the run ends

        def release(self) -> None:
            released.append("released")

    class Watches:
        def stop(self) -> None:
            signals._on_signal(signal.SIGTERM, None)  # the Job's kill, right now

    monkeypatch.setattr(passes, "Lease", Held)
    monkeypatch.setattr(passes, "mirrors_of", lambda _kube: Watches())
    monkeypatch.setattr(passes, "now", lambda _kube: None)
    with contextlib.suppress(Stopped):  # raised out of the watches' end without the fix
        passes.run_passes(
            object(),  # type: ignore[arg-type]
            Logger(),
            lease_namespace="repairman-system",
            metrics=RunMetrics(),
            until_stable=True,
            deadline=45.0,
            signals=signals,
        )
    assert released == ["released"]
    assert signals.stop_requested() is not None
