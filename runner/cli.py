"""The `runner` command.

Exit codes: 0 the pass was done (requests may still be waiting), 1 the pass itself
failed, 2 bad usage, configuration or input file.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import attrs
import click

from policy import plan as make_plan
from runner.memory import collector_paused, settle_snapshot
from runner.render import plan_json, plan_table
from runner.snapshot_file import SnapshotFileError, read_snapshot

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
@click.pass_context
def main(
    ctx: click.Context, dry_run: bool, snapshot: Path | None, at_time: str | None, output: str
) -> None:
    """Coordinate maintenance: read the cluster, plan, and apply (or print) the plan.

    \b
    Examples:
      runner --plan --snapshot examples/cluster.json
      runner --snapshot examples/cluster.json -o json
      runner --snapshot examples/cluster.json --at 2026-11-28T02:00:00Z
    """
    if ctx.invoked_subcommand is not None:
        return
    if snapshot is None:
        click.echo(
            "error: this runner cannot read a live cluster yet; "
            "plan from a recording with --snapshot FILE",
            err=True,
        )
        ctx.exit(EXIT_USAGE)
    try:
        instant = _instant(at_time)
    except click.BadParameter as error:
        click.echo(f"error: --at: {error.message}", err=True)
        ctx.exit(EXIT_USAGE)
    assert snapshot is not None
    try:
        recorded = read_snapshot(snapshot)
    except SnapshotFileError as error:
        click.echo(f"error: snapshot {error}", err=True)
        ctx.exit(EXIT_USAGE)
    if instant is not None:
        recorded = attrs.evolve(recorded, now=instant)
    settle_snapshot()
    with collector_paused():
        result = make_plan(recorded)
    if output == "json":
        json.dump(plan_json(result), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(plan_table(result))
