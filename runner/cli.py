"""The `runner` command: one pass over the cluster, a dry run, or a recorded snapshot.

Exit codes: 0 the pass was done (requests may still be waiting, or another runner held
the lease), 1 the pass itself failed (the cluster unreachable, a permission missing,
the CRDs not installed, a decision failed), 2 bad usage, configuration or input file.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import click

from forecast import Forecast, Model, Spread
from forecast import forecast as run_forecast
from forecast.chart import ChartError
from forecast.chart import draw as draw_chart
from forecast.inputs import add_requests, changed, parse_changes, requests_from_file
from forecast.summary import summary_json, summary_text, what_if_text
from policy import Plan, Snapshot
from policy.limit_spec import is_label_value
from policy.model import LabelSelector
from policy.times import plannable
from runner import passes
from runner.apply import WRITERS
from runner.console import Logger
from runner.durations import seconds_of
from runner.errors import EXIT_PASS_FAILED, EXIT_USAGE, Failure, OneLineUsage
from runner.kube import DEFAULT_TIMEOUT, ConfigError, Kube, KubeError
from runner.memory import settle_snapshot
from runner.metrics import RunMetrics
from runner.render import plan_json, plan_table
from runner.signals import Signals, Stopped
from runner.snapshot_file import SnapshotFileError, read_snapshot, write_snapshot


def _instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise click.BadParameter(f"{value!r} needs a time zone offset, e.g. Z")
    if not plannable(parsed):
        raise click.BadParameter(f"{value!r} is outside the years 1970-8999 a plan can be made at")
    return parsed.astimezone(UTC)


def _print(result: Plan, output: str) -> None:
    if output == "json":
        json.dump(plan_json(result), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(plan_table(result))


class Seconds(click.FloatRange):
    """A number of seconds in a range, and finite: nan is in no range but compares
    false with both of its ends, so a FloatRange lets it through."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        converted = super().convert(value, param, ctx)
        if not math.isfinite(converted):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return converted


def with_kube_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option(
        "--request-timeout",
        type=Seconds(min=0.1),
        default=DEFAULT_TIMEOUT,
        show_default=True,
        metavar="SECONDS",
        help="Give up on one API request after this long (then retry a read, fail a write).",
    )(function)
    function = click.option("--context", "kube_context", help="The kubeconfig context to use.")(
        function
    )
    return click.option(
        "--kubeconfig",
        type=click.Path(dir_okay=False),
        help="Default: $KUBECONFIG, ~/.kube/config, or in-cluster inside a pod.",
    )(function)


def _connect(
    kubeconfig: str | None, kube_context: str | None, timeout: float, *, connections: int = 4
) -> Kube:
    try:
        return Kube.connect(
            kubeconfig=kubeconfig, context=kube_context, timeout=timeout, connections=connections
        )
    except ConfigError as error:
        raise Failure(str(error), EXIT_USAGE) from None


@click.group(
    cls=OneLineUsage,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
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
    help="For --plan: table for people, json for tools (docs/plan-format.md).",
)
@click.option(
    "--until-stable",
    is_flag=True,
    help="Repeat passes while they change something or a node is being prepared.",
)
@click.option(
    "--deadline",
    type=Seconds(min=0),
    default=50.0,
    show_default=True,
    metavar="SECONDS",
    help="With --until-stable: start no pass after this many seconds.",
)
@click.option(
    "--writers",
    type=click.IntRange(1, 64),
    default=WRITERS,
    show_default=True,
    help="Write to the API server on this many connections at once (a node's or a "
    "request's writes stay in order; the API server's 429s are waited out).",
)
@click.option(
    "--lease-namespace",
    default="repairman-system",
    show_default=True,
    help="Namespace of the Lease that keeps overlapping passes apart.",
)
@click.option(
    "--pushgateway",
    metavar="URL",
    help="Push the run's metrics to this Prometheus Pushgateway when it ends.",
)
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False),
    help="Write the run's metrics to this file (node-exporter textfile format).",
)
@click.option(
    "--log-format", type=click.Choice(["json", "text"]), default="json", show_default=True
)
@click.option("-v", "--verbose", is_flag=True, help="Also log decisions that were already done.")
@with_kube_options
@click.pass_context
def main(  # noqa: PLR0917 - click passes every option by name
    ctx: click.Context,
    dry_run: bool,
    snapshot: Path | None,
    at_time: str | None,
    output: str,
    until_stable: bool,
    deadline: float,
    writers: int,
    lease_namespace: str,
    pushgateway: str | None,
    metrics_file: str | None,
    log_format: str,
    verbose: bool,
    kubeconfig: str | None,
    kube_context: str | None,
    request_timeout: float,
) -> None:
    """Coordinate maintenance: read the cluster, plan, and apply (or print) the plan.

    \b
    Examples:
      runner                                   # one pass against the cluster
      runner --until-stable --deadline 50      # passes until nothing moves (CronJob)
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
        raise Failure(f"--at: {error.message}", EXIT_USAGE) from None
    if snapshot is not None:
        recorded = _read_snapshot(snapshot)
        if instant is not None:
            recorded = attrs.evolve(recorded, now=instant)
        _print(passes.planned(recorded), output)
        return
    if instant is not None:
        raise Failure("--at only applies to --snapshot", EXIT_USAGE)
    kube = _connect(kubeconfig, kube_context, request_timeout, connections=writers)
    log = Logger(
        text=log_format == "text", verbose=verbose, live=until_stable and sys.stdout.isatty()
    )
    kube.on_retry = lambda why: log("retry", detail=why)
    if kube.insecure:
        log("insecure", detail="insecure-skip-tls-verify: the server's certificate is not checked")
    if dry_run:
        _print(passes.planned(_read_cluster(kube)), output)
        return
    if _run(
        kube,
        log,
        lease_namespace=lease_namespace,
        until_stable=until_stable,
        deadline=deadline,
        writers=writers,
        pushgateway=pushgateway,
        metrics_file=metrics_file,
    ):
        # Each failed decision has been logged on its own line.
        ctx.exit(EXIT_PASS_FAILED)


def _run(
    kube: Kube,
    log: Logger,
    *,
    lease_namespace: str,
    until_stable: bool,
    deadline: float,
    writers: int,
    pushgateway: str | None,
    metrics_file: str | None,
) -> bool:
    """The passes, then their metrics; True when a decision failed."""
    metrics = RunMetrics()
    error_line = ""
    signals = Signals()
    signals.install()
    try:
        failed = passes.run_passes(
            kube,
            log,
            lease_namespace=lease_namespace,
            metrics=metrics,
            until_stable=until_stable,
            deadline=deadline,
            signals=signals,
            writers=writers,
        )
    except KubeError as error:
        failed, error_line = True, str(error)
    except Stopped as stop:
        log("stopped", signal=stop.name)
        raise Failure(
            f"stopped by {stop.name}; the write in flight finished, the Lease is released, "
            "the next pass goes on from here",
            128 + stop.number,
        ) from None
    metrics.failed = bool(error_line)
    metrics.retries = kube.retries
    for problem in metrics.export(pushgateway=pushgateway, textfile=metrics_file):
        log("metrics-failed", detail=problem)
    if error_line:
        raise Failure(error_line, EXIT_PASS_FAILED)
    return failed


def _read_snapshot(path: Path) -> Snapshot:
    try:
        return read_snapshot(path)
    except SnapshotFileError as error:
        raise Failure(f"snapshot {error}", EXIT_USAGE) from None


def _read_cluster(kube: Kube, *, all_pods: bool = False, every_requested: bool = False) -> Snapshot:
    try:
        return passes.read(kube, all_pods=all_pods, every_requested=every_requested)
    except KubeError as error:
        raise Failure(str(error), EXIT_PASS_FAILED) from None


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_kube_options
def record(
    file: Path,
    kubeconfig: str | None,
    kube_context: str | None,
    request_timeout: float,
) -> None:
    """Record the cluster as a snapshot FILE, to plan from later with --snapshot."""
    current = _read_cluster(
        _connect(kubeconfig, kube_context, request_timeout), every_requested=True
    )
    try:
        write_snapshot(current, file)
    except OSError as error:
        raise Failure(f"cannot write {file}: {error.strerror}", EXIT_USAGE) from None
    Logger()("recorded", file=str(file), nodes=len(current.nodes), requests=len(current.requests))


def _selector(text: str | None) -> LabelSelector | None:
    if not text:
        return None
    labels = {}
    for part in text.split(","):
        key, equals, value = part.partition("=")
        if not equals or not key.strip():
            raise click.BadParameter(f"{part!r} is not key=value")
        if not is_label_value(value.strip()):
            raise click.BadParameter(f"{value.strip()!r} is not a label value")
        labels[key.strip()] = value.strip()
    return LabelSelector(match_labels=labels)


@main.command(name="forecast")
@click.option(
    "--snapshot",
    type=click.Path(path_type=Path),
    help="Start from a recorded snapshot instead of the live cluster.",
)
@click.option("--all-nodes", is_flag=True, help="Add a request for every node without one.")
@click.option(
    "--selector",
    metavar="KEY=VALUE[,...]",
    help="Add a request for every node with these labels (e.g. topology.kubernetes.io/zone=a).",
)
@click.option(
    "--from-file",
    "from_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Add the MaintenanceRequests in this YAML/JSON file, as if filed now (repeatable).",
)
@click.option("--period", default="60s", show_default=True, help="Time between passes.")
@click.option(
    "--actor-start",
    default="0s",
    show_default=True,
    help="Approval to InProgress: a duration, or a range like 1m..5m (uniform).",
)
@click.option(
    "--actor-duration",
    default="10m",
    show_default=True,
    help="InProgress to Completed: a duration, or a range like 5m..15m (uniform).",
)
@click.option(
    "--pod-ready",
    default="30s",
    show_default=True,
    help="An evicted pod's replacement is Ready after.",
)
@click.option(
    "--volume-detach",
    default="30s",
    show_default=True,
    help="A drained node's volumes detach after.",
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Chance that a node's maintenance leaves it NotReady for good (for failureBudget).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="For the ranges above.")
@click.option(
    "--set",
    "what_ifs",
    multiple=True,
    metavar="LIMIT.FIELD=VALUE[,...]",
    help="What if: forecast again with these limit changes, beside the forecast as is "
    "(repeatable: one scenario each).",
)
@click.option(
    "--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--chart",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also draw the timeline (nodes in maintenance per zone, closed windows) as .svg/.png.",
)
@with_kube_options
def forecast_command(  # noqa: PLR0917 - click passes every option by name
    snapshot: Path | None,
    all_nodes: bool,
    selector: str | None,
    from_files: tuple[Path, ...],
    period: str,
    actor_start: str,
    actor_duration: str,
    pod_ready: str,
    volume_detach: str,
    fail_rate: float,
    seed: int,
    what_ifs: tuple[str, ...],
    output: str,
    chart: Path | None,
    kubeconfig: str | None,
    kube_context: str | None,
    request_timeout: float,
) -> None:
    """Play the policy forward: when would each request be approved and finished, and
    what holds them back? Reads the cluster (or --snapshot), writes nothing.

    \b
    Examples:
      runner forecast --snapshot examples/cluster.json
      runner forecast --all-nodes --actor-duration 20m..40m --seed 7
      runner forecast --selector topology.kubernetes.io/zone=eu-1a -o json
      runner forecast --snapshot examples/cluster.json --from-file k8s/examples/request-node.yaml
      runner forecast --all-nodes --set node.limit=10 --set zone-a.maxConcurrent=2
      runner forecast --snapshot examples/cluster.json --all-nodes --chart rollout.svg
      runner forecast --all-nodes --fail-rate 0.05 --seed 3
    """
    try:
        model = Model(
            period=seconds_of(period),
            actor_start=Spread.parse(actor_start),
            actor_duration=Spread.parse(actor_duration),
            pod_ready=seconds_of(pod_ready),
            volume_detach=seconds_of(volume_detach),
            fail_rate=fail_rate,
        )
        chosen = _selector(selector)
    except (ValueError, click.BadParameter) as error:
        raise Failure(f"forecast: {error}", EXIT_USAGE) from None
    if model.period <= 0:
        raise Failure("forecast: --period must be positive", EXIT_USAGE)
    if snapshot is not None:
        start = _read_snapshot(snapshot)
    else:
        kube = _connect(kubeconfig, kube_context, request_timeout)
        start = _read_cluster(kube, all_pods=True)
    if all_nodes or chosen is not None:
        start = add_requests(start, chosen, start.now)
    try:
        for path in from_files:
            start = requests_from_file(path, start)
        settle_snapshot()
        scenarios = [(text, changed(start, parse_changes(text))) for text in what_ifs]
    except ValueError as error:
        raise Failure(f"forecast: {error}", EXIT_USAGE) from None
    result = run_forecast(start, model, seed=seed)
    variants = [(name, run_forecast(variant, model, seed=seed)) for name, variant in scenarios]
    _print_forecast(result, variants, model=model, output=output)
    if chart is not None:
        try:
            draw_chart(result, chart)
        except ChartError as error:
            raise Failure(f"forecast: {error}", EXIT_USAGE) from None


def _print_forecast(
    result: Forecast, variants: list[tuple[str, Forecast]], *, model: Model, output: str
) -> None:
    if output == "json":
        document = summary_json(result)
        document["whatIf"] = [{"set": name, **summary_json(variant)} for name, variant in variants]
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(summary_text(result, model))
        if variants:
            sys.stdout.write(what_if_text(result, variants))
