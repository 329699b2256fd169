"""`repairman-agent`: reboot this node when the OS asks, through repairman.

Run on every node (k8s/agent: a DaemonSet). Every `--period` it looks at the reboot
sentinel; when a reboot is needed it files a MaintenanceRequest for its node
(requester `reboot-agent`), waits for the approval — the limits, windows, gates and
PodDisruptionBudgets are the runner's business, and the node is cordoned and drained
by then — declares InProgress, runs the reboot command and, once the node is back
(a new boot ID, Ready), declares Completed. What to do each round is
`repairman.reboot.next_step`; what it must remember across the reboot that restarts
it is on the request (see that module).

Logs are JSON lines on stderr, one per change of what the agent does or waits for.
Exit codes: 0 stopped by SIGTERM/SIGINT between two rounds, 1 the agent cannot go on
(its node does not exist, no credentials), 2 bad usage.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from repairman.actor import MERGE, REQUESTS, file_request
from repairman.reboot import (
    BOOT_ID,
    NODE_LABEL,
    REBOOT_UPTIME,
    REBOOTING,
    REQUESTER,
    Complete,
    File,
    Idle,
    Mine,
    Reboot,
    Seen,
    Start,
    Step,
    Wait,
    mine_of,
    next_step,
    request_name,
    requests_of,
)
from runner.console import Logger
from runner.durations import seconds_of
from runner.errors import EXIT_PASS_FAILED, EXIT_USAGE, OneLineCommand
from runner.kube import ConfigError, Kube, KubeError

SENTINEL = "/var/run/reboot-required"
REBOOT = "nsenter --target 1 --mount --uts --ipc --net -- systemctl reboot"
"""kured's way: systemd of the host, reached through PID 1's namespaces (hostPID)."""
MAX_REASON = 200


log = Logger()
"""One JSON line per event on stderr, as the runner's (runner.console)."""


class NodeGone(Exception):
    """The agent's node is not there: nothing it could do."""


class Sentinel:
    """Is a reboot needed: a file exists, or a command exits 0 (kured's two ways)."""

    def __init__(self, path: str, command: str | None) -> None:
        self.path = Path(path)
        self.command = shlex.split(command) if command else None

    def needed(self) -> bool:
        if self.command is not None:
            try:
                done = subprocess.run(self.command, capture_output=True, check=False, timeout=60)
            except (OSError, subprocess.TimeoutExpired) as error:
                log("sentinel-failed", command=self.command, error=str(error))
                return False
            return done.returncode == 0
        return self.path.exists()

    def reason(self) -> str:
        """`/var/run/reboot-required.pkgs` (unattended-upgrades) names the packages."""
        packages = self.path.with_name(self.path.name + ".pkgs")
        try:
            names = sorted({line.strip() for line in packages.read_text().splitlines()} - {""})
        except OSError:
            names = []
        if names:
            text = "reboot required by " + ", ".join(names)
            return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"
        where = shlex.join(self.command) if self.command else str(self.path)
        return f"reboot required ({where})"


class Agent:
    def __init__(
        self,
        kube: Kube,
        node: str,
        sentinel: Sentinel,
        reboot: list[str],
        *,
        priority: int = 0,
        reboot_timeout: timedelta = timedelta(minutes=10),
    ) -> None:
        self.kube, self.node, self.sentinel = kube, node, sentinel
        self.reboot_command, self.priority = reboot, priority
        self.reboot_timeout = reboot_timeout
        self.last: str = ""
        self.listed: list[Mine] = []
        self.sent: set[str] = set()
        """Requests whose reboot command this process ran without an error: it never
        sends a second one for them (another process may, after the timeout)."""
        self.failed = False

    def clock(self) -> datetime:
        return datetime.now(UTC)

    def uptime(self) -> float | None:
        """The node's seconds since boot, suspend included (CLOCK_BOOTTIME): the same
        clock for every agent of this boot, whatever the wall clock does."""
        try:
            return time.clock_gettime(time.CLOCK_BOOTTIME)
        except (AttributeError, OSError):
            return None

    def observe(self) -> Seen:
        try:
            node = self.kube.request("GET", f"/api/v1/nodes/{self.node}")
        except KubeError as error:
            if error.status == 404:
                raise NodeGone(f"node {self.node} does not exist (--node, NODE_NAME)") from None
            raise
        status = node.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        listed = self.kube.request(
            "GET", REQUESTS, query={"labelSelector": f"{NODE_LABEL}={self.node}"}
        )
        self.listed = requests_of(list(listed.get("items") or []), self.node)
        mine, spares, last_ended = mine_of(self.listed)
        return Seen(
            needed=self.sentinel.needed(),
            boot_id=str((status.get("nodeInfo") or {}).get("bootID") or ""),
            ready=ready,
            mine=mine,
            spares=spares,
            last_ended=last_ended,
            uptime=self.uptime(),
            reboot_timeout=self.reboot_timeout.total_seconds(),
        )

    def round(self) -> Step:
        """One look and at most one write (or the reboot)."""
        seen = self.observe()
        step = next_step(seen)
        self.act(step, seen)
        return step

    def act(self, step: Step, seen: Seen) -> None:
        if isinstance(step, Idle | Wait):
            what = "idle" if isinstance(step, Idle) else step.why
            if what != self.last:
                log("waiting" if isinstance(step, Wait) else "idle", node=self.node, why=what)
            self.last = what
            return
        self.last = ""
        if isinstance(step, File):
            # Named for this boot and count: a second agent deciding the same is refused.
            stem = request_name(self.node, seen.boot_id, 0)[:-1]
            filed = sum(mine.name.startswith(stem) for mine in self.listed)
            name = request_name(self.node, seen.boot_id, filed)
            try:
                file_request(
                    self.kube,
                    self.node,
                    requester=REQUESTER,
                    reason=self.sentinel.reason(),
                    priority=self.priority,
                    labels={NODE_LABEL: self.node},
                    check=False,
                    name=name,
                )
            except KubeError as error:
                if error.status != 409:
                    raise
                log("filed-already", node=self.node, request=name)
                return
            log("filed", node=self.node, request=name)
        elif isinstance(step, Start):
            # On the approval as read (its resourceVersion), with the boot ID.
            self._patch(
                step.request.name,
                {
                    "metadata": {
                        "resourceVersion": step.request.resource_version,
                        "annotations": {BOOT_ID: step.boot_id},
                    },
                    "spec": {"state": "InProgress"},
                },
            )
            log("in-progress", node=self.node, request=step.request.name, bootID=step.boot_id)
        elif isinstance(step, Reboot):
            self._reboot(step)
        elif isinstance(step, Complete):
            self._patch(step.request.name, {"spec": {"state": "Completed"}})
            log("completed", node=self.node, request=step.request.name, why=step.why)

    def _reboot(self, step: Reboot) -> None:
        name = step.request.name
        if step.again and name in self.sent:
            log("waiting", node=self.node, why=f"{name}: the command ran; waiting for the reboot")
            return
        uptime = self.uptime()
        # The mark first: an agent restarted inside the reboot must not begin another.
        marks = {REBOOTING: self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")}
        if uptime is not None:
            marks[REBOOT_UPTIME] = f"{uptime:.0f}"
        self._patch(
            name,
            {"metadata": {"resourceVersion": step.request.resource_version, "annotations": marks}},
        )
        log(
            "rebooting",
            node=self.node,
            request=name,
            command=self.reboot_command,
            again=step.again or None,
        )
        failed = self.run_reboot_command()
        if failed:
            # No reboot came of it: lift the mark, so that a later round tries again
            # (after --period, not --poll: a broken command is not hammered).
            log("reboot-failed", node=self.node, request=name, error=failed)
            self._patch(name, {"metadata": {"annotations": {REBOOTING: None, REBOOT_UPTIME: None}}})
            self.failed = True
        else:
            self.sent.add(name)

    def run_reboot_command(self) -> str:
        """Run the reboot command; what went wrong, or "" (it ran: a reboot is coming,
        or this process is already being stopped by it)."""
        try:
            done = subprocess.run(self.reboot_command, check=False, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as error:
            return str(error)
        return f"exit code {done.returncode}" if done.returncode != 0 else ""

    def _patch(self, name: str, body: dict[str, Any]) -> None:
        self.kube.request("PATCH", f"{REQUESTS}/{name}", body=body, content_type=MERGE)


def run(agent: Agent, *, period: float, poll: float, once: bool, stop: threading.Event) -> None:
    while not stop.is_set():
        agent.failed = False
        try:
            step = agent.round()
        except ConfigError:
            raise
        except KubeError as error:
            if error.status == 409 and not once:  # changed since read: look again soon
                stop.wait(min(poll, 1.0))
                continue
            log("error", node=agent.node, error=str(error))
            step = Wait("after an error")
        if once:
            return
        stop.wait(period if isinstance(step, Idle) or agent.failed else poll)


@click.command(cls=OneLineCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--node",
    envvar="NODE_NAME",
    required=True,
    help="This node's name (the DaemonSet passes spec.nodeName as NODE_NAME).",
)
@click.option(
    "--period",
    default="5m",
    show_default=True,
    help="How often to look at the sentinel while nothing is in flight.",
)
@click.option(
    "--poll",
    default="10s",
    show_default=True,
    help="How often to look at the request while one is in flight.",
)
@click.option(
    "--reboot-sentinel",
    default=SENTINEL,
    show_default=True,
    help="A reboot is needed while this file exists.",
)
@click.option(
    "--reboot-sentinel-command",
    default=None,
    help="Instead of the file: a reboot is needed while this command exits 0.",
)
@click.option("--reboot-command", default=REBOOT, show_default=True, help="How to reboot.")
@click.option(
    "--reboot-timeout",
    default="10m",
    show_default=True,
    help="A reboot begun that has not changed the node's boot ID after this long is "
    "begun again (the agent died before its command ran, or the command did nothing).",
)
@click.option("--priority", type=int, default=0, show_default=True, help="The requests' priority.")
@click.option("--once", is_flag=True, help="One round, then exit (for a test or a cron).")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Path to the kubeconfig.")
@click.option("--context", "kube_context", help="The kubeconfig context to use.")
def main(  # noqa: PLR0917 - click passes every option by name
    node: str,
    period: str,
    poll: str,
    reboot_sentinel: str,
    reboot_sentinel_command: str | None,
    reboot_command: str,
    reboot_timeout: str,
    priority: int,
    once: bool,
    kubeconfig: str | None,
    kube_context: str | None,
) -> None:
    """Reboot this node when the OS asks (/var/run/reboot-required), one request at a
    time through repairman: within the limits, windows and budgets, drained first."""
    try:
        period_s, poll_s = seconds_of(period), seconds_of(poll)
        timeout_s = seconds_of(reboot_timeout)
        command = shlex.split(reboot_command)
    except ValueError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    if min(period_s, poll_s, timeout_s) <= 0 or not command:
        click.echo(
            "error: --period, --poll and --reboot-timeout must be above 0, --reboot-command set",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    stop = threading.Event()

    def stopping(number: int, _frame: object) -> None:
        log("stopping", node=node, signal=signal.Signals(number).name)
        stop.set()

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, stopping)
    try:
        kube = Kube.connect(kubeconfig=kubeconfig, context=kube_context)
        agent = Agent(
            kube,
            node,
            Sentinel(reboot_sentinel, reboot_sentinel_command),
            command,
            priority=priority,
            reboot_timeout=timedelta(seconds=timeout_s),
        )
        log("started", node=node, pid=os.getpid())
        run(agent, period=period_s, poll=poll_s, once=once, stop=stop)
    except (ConfigError, NodeGone) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_PASS_FAILED)
