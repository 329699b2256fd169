"""The `runner` command: one pass over the cluster, a dry run, or a recorded snapshot.

Exit codes: 0 the pass was done (requests may still be waiting), 1 the pass itself
failed (the cluster unreachable, a permission missing, the CRDs not installed, a
decision failed), 2 bad usage, configuration or input file.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import click

from policy import Plan, Snapshot
from policy import plan as make_plan
from runner.apply import Applier
from runner.kube import ConfigError, Kube, KubeError
from runner.memory import collector_paused, settle_snapshot
from runner.read import policy_version, read_cluster
from runner.render import decision_json, plan_json, plan_table
from runner.snapshot_file import SnapshotFileError, read_snapshot, write_snapshot

EXIT_PASS_FAILED = 1
EXIT_USAGE = 2


def _instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise click.BadParameter(f"{value!r} needs a time zone offset, e.g. Z")
    return parsed.astimezone(UTC)


def _log(event: str, **fields: Any) -> None:
    """One JSON line on stderr."""
    record = {"time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "event": event, **fields}
    click.echo(json.dumps(record, default=str), err=True)


def _fail(ctx: click.Context, message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    ctx.exit(code)


def _print(result: Plan, output: str) -> None:
    if output == "json":
        json.dump(plan_json(result), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(plan_table(result))


def _planned(snapshot: Snapshot) -> Plan:
    settle_snapshot()
    with collector_paused():
        return make_plan(snapshot)


kube_options = [
    click.option(
        "--kubeconfig",
        type=click.Path(dir_okay=False),
        help="Default: $KUBECONFIG, ~/.kube/config, or in-cluster.",
    ),
    click.option("--context", "kube_context", help="The kubeconfig context to use."),
]


def with_kube_options(function: Any) -> Any:
    for option in reversed(kube_options):
        function = option(function)
    return function


def _connect(ctx: click.Context, kubeconfig: str | None, kube_context: str | None) -> Kube:
    try:
        return Kube.connect(kubeconfig=kubeconfig, context=kube_context)
    except ConfigError as error:
        _fail(ctx, str(error), EXIT_USAGE)
        raise AssertionError("unreachable") from None


def _read(ctx: click.Context, kube: Kube) -> Snapshot:
    try:
        return read_cluster(kube, now=datetime.now(UTC))
    except KubeError as error:
        _fail(ctx, str(error), EXIT_PASS_FAILED)
        raise AssertionError("unreachable") from None


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--plan",
    "dry_run",
    is_flag=True,
    help="Dry run: print the plan and every request's explanation; write nothing.",
)
@click.option(
    "--snapshot",
    type=click.Path(path_type=Path),
    help="Plan offline from a recorded snapshot file instead of a live cluster (implies --plan).",
)
@click.option(
    "--at",
    "at_time",
    metavar="TIME",
    help="With --snapshot: plan as if at TIME (RFC 3339) instead of the recorded instant.",
)
@click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json for tools (docs/plan-format.md).",
)
@with_kube_options
@click.pass_context
def main(  # noqa: PLR0917 - click passes every option positionally-by-name
    ctx: click.Context,
    dry_run: bool,
    snapshot: Path | None,
    at_time: str | None,
    output: str,
    kubeconfig: str | None,
    kube_context: str | None,
) -> None:
    """Coordinate maintenance: read the cluster, plan, and apply (or print) the plan.

    \b
    Examples:
      runner                                   # one pass against the cluster
      runner --plan                            # what a pass would do; writes nothing
      runner record snapshot.json              # record the cluster for replay
      runner --plan --snapshot examples/cluster.json
      runner --snapshot examples/cluster.json -o json --at 2026-11-28T02:00:00Z
    """
    if ctx.invoked_subcommand is not None:
        return
    try:
        instant = _instant(at_time)
    except click.BadParameter as error:
        _fail(ctx, f"--at: {error.message}", EXIT_USAGE)
    if snapshot is not None:
        try:
            recorded = read_snapshot(snapshot)
        except SnapshotFileError as error:
            _fail(ctx, f"snapshot {error}", EXIT_USAGE)
        if instant is not None:
            recorded = attrs.evolve(recorded, now=instant)
        _print(_planned(recorded), output)
        return
    if instant is not None:
        _fail(ctx, "--at only applies to --snapshot", EXIT_USAGE)
    kube = _connect(ctx, kubeconfig, kube_context)
    current = _read(ctx, kube)
    result = _planned(current)
    if dry_run:
        _print(result, output)
        return
    _apply(ctx, kube, current, result)


def _apply(ctx: click.Context, kube: Kube, current: Snapshot, result: Plan) -> None:
    started = datetime.now(UTC)
    outcomes = Applier(kube, current, policy_version=policy_version(kube)).apply(result)
    failed = 0
    for outcome in outcomes:
        if outcome.result in ("done", "failed", "blocked"):
            _log(
                "decision",
                result=outcome.result,
                detail=outcome.detail,
                **decision_json(outcome.decision),
            )
        failed += outcome.result == "failed"
    waiting = sum(1 for e in result.explanations if not e.state.terminal)
    _log(
        "pass",
        decisions=len(result.decisions),
        failed=failed,
        writes=kube.writes,
        requests=len(result.explanations),
        unfinished=waiting,
        seconds=round((datetime.now(UTC) - started).total_seconds(), 3),
    )
    if failed:
        ctx.exit(EXIT_PASS_FAILED)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_kube_options
@click.pass_context
def record(
    ctx: click.Context, file: Path, kubeconfig: str | None, kube_context: str | None
) -> None:
    """Record the cluster as a snapshot FILE, to plan from later with --snapshot."""
    kube = _connect(ctx, kubeconfig, kube_context)
    current = _read(ctx, kube)
    try:
        write_snapshot(current, file)
    except OSError as error:
        _fail(ctx, f"cannot write {file}: {error.strerror}", EXIT_USAGE)
    _log("recorded", file=str(file), nodes=len(current.nodes), requests=len(current.requests))
