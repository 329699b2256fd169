"""`kubectl repairman`: the actor's protocol and the operator's questions from a shell.

Installed as the console script `kubectl-repairman`; once it is on PATH, kubectl finds
it as a plugin. Exit codes: 0 done; 1 the cluster said no (an API error, the request
refused or not approved in time); 2 bad usage or configuration.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click
import yaml

from policy import Plan, SetNodeConditions, Snapshot
from policy import plan as make_plan
from policy.disruption import (
    BudgetIndex,
    EvictionBudget,
    PodDisposition,
    disposition,
    eviction_budget,
)
from policy.fields import shown as quoted
from policy.limit_spec import InvalidLimit, parse_limit_spec
from policy.node_conditions import TYPES as LIFECYCLE
from policy.node_conditions import ours
from policy.snapshot_format import timestamp
from repairman.actor import (
    MERGE,
    REQUESTS,
    TERMINAL,
    InvalidRequest,
    MaintenanceError,
    MaintenanceTimeout,
    Request,
    begin,
    check_wait,
    file_request,
    request_name,
)
from runner.convert import limit_of
from runner.durations import seconds_of
from runner.errors import OneLineUsage
from runner.kube import ConfigError, Kube, KubeError
from runner.read import GROUP_PATH, read_cluster

LIMITS = f"{GROUP_PATH}/maintenancelimits"
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class Interrupted(MaintenanceError):
    """Ctrl-C while waiting; the message says what became of the request."""


def _age(created: str | None) -> str:
    if not created:
        return "-"
    seconds = int(
        (datetime.now(UTC) - datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds()
    )
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _printable(value: object) -> str:
    """Text from the API, safe on a terminal: control characters (an escape sequence in
    someone's `reason` could rewrite the screen) shown escaped instead."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    rows = [tuple(_printable(cell) for cell in row) for row in rows]
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]
    return "\n".join(
        "   ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
        for row in [headers, *rows]
    )


def _emit(document: Any, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(yaml.safe_dump(document, sort_keys=False).rstrip())


class Context:
    def __init__(self, kubeconfig: str | None, context: str | None) -> None:
        self.kubeconfig, self.context = kubeconfig, context
        self._kube: Kube | None = None

    @property
    def kube(self) -> Kube:
        if self._kube is None:
            self._kube = Kube.connect(kubeconfig=self.kubeconfig, context=self.context)
        return self._kube


def _run(action: Callable[[], None]) -> None:
    """Errors as one line and an exit code, as kubectl does."""
    try:
        action()
    except (ConfigError, InvalidRequest) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    except Interrupted as error:
        click.echo(f"interrupted: {error}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except (KubeError, MaintenanceError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_FAILED)


pass_context = click.make_pass_decorator(Context)


class RequestName(click.ParamType):
    """NAME, mr/NAME or maintenancerequest/NAME: what `request` prints, kubectl's form."""

    name = "NAME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return request_name(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


REQUEST_NAME = RequestName()


class Progress:
    """The `--wait` progress on stderr: on a terminal one line rewritten in place, else
    one line per change; `end()` always leaves the cursor on a fresh line, so what is
    printed next (the name, an error) starts a line of its own."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.in_place = bool(getattr(stream, "isatty", lambda: False)())
        self.open = False

    def __call__(self, line: str) -> None:
        if self.in_place:
            self.stream.write("\r\x1b[K" + line)
            self.open = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def end(self) -> None:
        if self.open:
            self.stream.write("\n")
            self.stream.flush()
            self.open = False


@click.group(cls=OneLineUsage, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Path to the kubeconfig.")
@click.option("--context", "kube_context", help="The kubeconfig context to use.")
@click.pass_context
def main(ctx: click.Context, kubeconfig: str | None, kube_context: str | None) -> None:
    """Ask repairman for maintenance, follow it, and see why it waits.

    \b
    Examples:
      kubectl repairman request worker-17 --requester me --reason "BIOS update" --wait
      kubectl repairman start mr-worker-17-x7k2p
      kubectl repairman complete mr-worker-17-x7k2p
      kubectl repairman list -o wide
      kubectl repairman explain mr-worker-17-x7k2p
      kubectl repairman limits
    """
    ctx.obj = Context(kubeconfig, kube_context)


@main.command()
@click.argument("target")
@click.option("--requester", required=True, help="Who asks (shown in tables).")
@click.option("--reason", default="", help="Why, in a few words.")
@click.option("--priority", type=int, default=0, show_default=True, help="Higher goes first.")
@click.option(
    "--not-before",
    default="",
    metavar="TIME",
    help="Not admitted before TIME (RFC 3339 with offset, e.g. 2026-12-20T02:00:00Z).",
)
@click.option(
    "--deadline",
    default="",
    metavar="TIME",
    help="Admitted ahead of requests without one, earliest first within a priority.",
)
@click.option(
    "--type",
    "type_",
    type=click.Choice(["node", "deployment", "statefulset", "daemonset"]),
    default="node",
    show_default=True,
    help="What TARGET is (namespace/name for workloads).",
)
@click.option("--wait", is_flag=True, help="Wait until the request is approved.")
@click.option("--timeout", default="1h", show_default=True, help="With --wait: give up after.")
@click.option(
    "--keep",
    is_flag=True,
    help="With --wait: on timeout or Ctrl-C leave the request queued (by default it is "
    "withdrawn, so that no slot is later approved for nobody).",
)
@click.option("-o", "--output", type=click.Choice(["name", "json", "yaml"]), default="name")
@pass_context
def request(  # noqa: PLR0917 - click passes every option by name
    obj: Context,
    target: str,
    requester: str,
    reason: str,
    priority: int,
    not_before: str,
    deadline: str,
    type_: str,
    wait: bool,
    timeout: str,
    keep: bool,
    output: str,
) -> None:
    """File a MaintenanceRequest for TARGET; print its name.

    A target that does not exist is refused at once when you may read it. With
    --wait, a request not approved in time (or on Ctrl-C) is withdrawn unless --keep.

    \b
    Examples:
      kubectl repairman request worker-17 --requester os-patcher --reason "kernel 6.8"
      kubectl repairman request shop/web --type deployment --requester me --wait --timeout 30m
      kubectl repairman start "$(kubectl repairman request worker-17 --requester me --wait)"
    """
    try:
        seconds = seconds_of(timeout)
        check_wait(seconds)
    except ValueError as error:
        raise click.UsageError(f"--timeout: {error}") from None

    def act() -> None:
        made = file_request(
            obj.kube,
            target,
            type_=type_,
            requester=requester,
            reason=reason,
            priority=priority,
            not_before=not_before,
            deadline=deadline,
        )
        if wait:
            _wait_or_withdraw(made, seconds=seconds, keep=keep)
        if output == "name":
            click.echo(f"maintenancerequest/{made.name}")
        else:
            _emit(made.get(), output)

    _run(act)


def _wait_or_withdraw(made: Request, *, seconds: float, keep: bool) -> None:
    """Wait for approval; on timeout or Ctrl-C withdraw the request (unless `keep`)
    and say which happened, as the Python API's `maintenance()` does."""
    progress = Progress(click.get_text_stream("stderr"))
    try:
        made.wait_for_approval(timeout=seconds, progress=progress)
    except (MaintenanceTimeout, KeyboardInterrupt) as error:
        progress.end()
        timed_out = isinstance(error, MaintenanceTimeout)
        fate = (
            f"{made.name} kept (--keep): it stays queued; withdraw it with "
            f"`kubectl repairman withdraw {made.name}`"
            if keep
            else _withdrawn(made)
        )
        if timed_out:
            raise MaintenanceError(f"{error}; {fate}") from None
        raise Interrupted(fate) from None
    finally:
        progress.end()


def _withdrawn(made: Request) -> str:
    """Declare Completed on the object as read, so that what is said of it is true: an
    approval written in between fails the write (409), and it is read again."""
    try:
        for _ in range(5):
            current = made.get()
            state = (current.get("status") or {}).get("state") or "Pending"
            if state in TERMINAL:
                return f"{made.name} had already ended ({state})"
            try:
                made.declare("Completed", resource_version=current["metadata"]["resourceVersion"])
            except KubeError as error:
                if error.status == 409:
                    continue
                raise
            break
        else:
            raise KubeError(f"{made.name} kept changing")
        if state == "Approved":
            return (
                f"{made.name} was approved meanwhile: released (recorded as Completed, "
                "InProgress not seen)"
            )
    except KubeError as error:
        return (
            f"{made.name} NOT withdrawn ({error}): it stays queued; withdraw it with "
            f"`kubectl repairman withdraw {made.name}`"
        )
    return f"{made.name} withdrawn"


def _declare(obj: Context, name: str, state: str, allowed: tuple[str, ...], verb: str) -> None:
    def act() -> None:
        handle = Request(obj.kube, name)
        current = handle.status.get("state") or "Pending"
        if current not in allowed:
            raise MaintenanceError(f"{name} is {current}: {verb} needs it {' or '.join(allowed)}")
        handle.declare(state)
        note = ""
        if verb == "withdrawn" and current == "Approved":
            note = " (it was Approved: recorded as Completed, InProgress not seen)"
        click.echo(f"maintenancerequest/{name} {verb}{note}")

    _run(act)


@main.command()
@click.argument("name", type=REQUEST_NAME)
@pass_context
def start(obj: Context, name: str) -> None:
    """Declare NAME InProgress (only once it is Approved).

    \b
    Example:
      kubectl repairman start mr-worker-17-x7k2p
    """

    def act() -> None:
        begin(Request(obj.kube, name))
        click.echo(f"maintenancerequest/{name} started")

    _run(act)


@main.command()
@click.argument("name", type=REQUEST_NAME)
@pass_context
def complete(obj: Context, name: str) -> None:
    """Declare NAME Completed: the work is done.

    \b
    Example:
      kubectl repairman complete mr-worker-17-x7k2p
    """
    _declare(obj, name, "Completed", ("Approved", "InProgress"), "completed")


@main.command()
@click.argument("name", type=REQUEST_NAME)
@pass_context
def withdraw(obj: Context, name: str) -> None:
    """Withdraw NAME before the work started (declares Completed).

    \b
    Example:
      kubectl repairman withdraw mr-worker-17-x7k2p
    """
    _declare(obj, name, "Completed", ("Pending", "Preparing", "Approved"), "withdrawn")


def _request_row(item: dict[str, Any], wide: bool) -> tuple[str, ...]:
    spec, status = item.get("spec") or {}, item.get("status") or {}
    row = (
        item["metadata"]["name"],
        f"{spec.get('type', '?')}/{spec.get('name', '?')}",
        spec.get("requester") or "-",
        status.get("state") or "Pending",
        status.get("reason") or "-",
        _age(item["metadata"].get("creationTimestamp")),
    )
    return (*row, status.get("message", "")) if wide else row


@main.command(name="list")
@click.option(
    "-o", "--output", type=click.Choice(["table", "wide", "json", "yaml"]), default="table"
)
@pass_context
def list_(obj: Context, output: str) -> None:
    """List requests with their state and why (-o wide adds the message).

    \b
    Examples:
      kubectl repairman list
      kubectl repairman list -o wide
      kubectl repairman list -o json | jq '.items[].status.state'
    """

    def act() -> None:
        items = list(obj.kube.list(REQUESTS))
        if output in ("json", "yaml"):
            _emit({"apiVersion": "v1", "kind": "List", "items": items}, output)
            return
        headers = ("NAME", "TARGET", "REQUESTER", "STATE", "REASON", "AGE")
        if output == "wide":
            headers = (*headers, "MESSAGE")
        rows = [_request_row(item, output == "wide") for item in items]
        click.echo(_table(headers, rows) if rows else "No maintenance requests.")

    _run(act)


def _limit_rows(limits: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    rows = []
    for item in limits:
        spec, status = item.get("spec") or {}, item.get("status") or {}
        unavailable = status.get("unavailable") or {}
        rows.append(
            (
                item["metadata"]["name"],
                spec.get("type") or item["metadata"]["name"],
                str(status.get("limit", "-")),
                str(status.get("inUse", "-")),
                ", ".join(f"{n} {why}" for n, why in sorted(unavailable.items())) or "-",
                status.get("message", ""),
            )
        )
    return rows


@main.command()
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@pass_context
def limits(obj: Context, output: str) -> None:
    """Each limit: allowed now, in use, unavailable nodes, and its status message
    (which says when a closed window opens).

    \b
    Examples:
      kubectl repairman limits
      kubectl repairman limits -o yaml
    """

    def act() -> None:
        items = list(obj.kube.list(LIMITS))
        if output != "table":
            _emit({"apiVersion": "v1", "kind": "List", "items": items}, output)
            return
        rows = _limit_rows(items)
        headers = ("NAME", "TYPE", "ALLOWED", "IN USE", "UNAVAILABLE", "MESSAGE")
        click.echo(_table(headers, rows) if rows else "No maintenance limits.")

    _run(act)


class LimitName(click.ParamType):
    """A MaintenanceLimit's name (NAME, ml/NAME or maintenancelimit/NAME)."""

    name = "LIMIT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        kind, slash, name = str(value).rpartition("/")
        if slash and kind.lower() not in _LIMIT_KINDS:
            self.fail(
                f"{quoted(value)} is not a MaintenanceLimit (use NAME or ml/NAME)", param, ctx
            )
        try:
            return request_name(name)  # the same rules: an object name, safe in a path
        except ValueError:
            self.fail(f"{quoted(value)} is not a limit name", param, ctx)


_LIMIT_KINDS = frozenset(
    {"ml", "maintenancelimit", "maintenancelimits"}
    | {f"{kind}.repairman.k8s.io" for kind in ("maintenancelimit", "maintenancelimits")}
)


def _set_paused(obj: Context, limit: str, paused: bool) -> None:
    def act() -> None:
        body = {"spec": {"paused": paused}}
        obj.kube.request("PATCH", f"{LIMITS}/{limit}", body=body, content_type=MERGE)
        click.echo(f"maintenancelimit/{limit} {'paused' if paused else 'resumed'}")

    _run(act)


@main.command()
@click.argument("limit", type=LimitName())
@pass_context
def pause(obj: Context, limit: str) -> None:
    """Stop LIMIT admitting anything new (spec.paused: true).

    What it admitted goes on: preparing requests are approved, approved ones work and
    finish. Waiting requests say "paused by the operator". Needs patch on
    maintenancelimits (an operator's right, not an actor's).

    \b
    Examples:
      kubectl repairman pause zone-a
    """
    _set_paused(obj, limit, paused=True)


@main.command()
@click.argument("limit", type=LimitName())
@pass_context
def resume(obj: Context, limit: str) -> None:
    """Let LIMIT admit again (spec.paused: false); the next pass admits what waits.

    \b
    Examples:
      kubectl repairman resume zone-a
    """
    _set_paused(obj, limit, paused=False)


@main.command()
@click.argument("limit", type=LimitName())
@pass_context
def acknowledge(obj: Context, limit: str) -> None:
    """Forgive the nodes counting against LIMIT's failure budget now: the next pass
    admits again, while they are still down.

    Sets spec.failureBudget.acknowledgedAt to the latest finish among the nodes the
    limit's status lists as unhealthy (the runner's clock, not this machine's).
    Maintenance finishing later counts again. Needs get and patch on
    maintenancelimits.

    \b
    Examples:
      kubectl repairman acknowledge node
    """

    def act() -> None:
        current = limit_of(obj.kube.request("GET", f"{LIMITS}/{limit}"))
        parsed = parse_limit_spec(current.name, current.spec)
        if isinstance(parsed, InvalidLimit):
            raise MaintenanceError(f"maintenancelimit/{limit} is invalid: {parsed.error}")
        if parsed.failure_budget is None:
            raise MaintenanceError(f"maintenancelimit/{limit} has no spec.failureBudget")
        counted = current.status.unhealthy
        if not counted:
            raise MaintenanceError(
                f"maintenancelimit/{limit}: no node counts against its failure budget "
                "(status.unhealthy): nothing to acknowledge"
            )
        # The latest finish among the nodes the last pass counted: exactly what the
        # operator was shown, not a finish recorded since and not yet judged.
        latest = max(when for _, _, when in counted)
        stamp = timestamp(latest)
        body = {"spec": {"failureBudget": {"acknowledgedAt": stamp}}}
        obj.kube.request("PATCH", f"{LIMITS}/{limit}", body=body, content_type=MERGE)
        nodes = ", ".join(f"{node} after {name}" for name, node, _ in counted)
        click.echo(f"maintenancelimit/{limit} acknowledged: {nodes} (finished up to {stamp})")

    _run(act)


def _pods_and_budgets(snapshot: Snapshot, node: str) -> str:
    """The pods a drain of `node` would still have to move, each with the PDBs that
    cover it, what they allow now, and what the Eviction API would do with it (the
    rules the drain follows, policy.disruption)."""
    budgets = BudgetIndex.build(snapshot.pdbs)
    rows = []
    for pod in sorted(snapshot.pods, key=lambda p: (p.namespace, p.name)):
        if pod.node != node or disposition(pod, None) is PodDisposition.IGNORED:
            continue
        selected = budgets.selecting(pod)
        covering = [f"{b.name} (allows {b.disruptions_allowed})" for b in selected]
        owner = f"{pod.owner_kind}/{pod.owner_name}" if pod.owner_kind else "(no controller)"
        state = pod.phase if pod.ready or pod.phase != "Running" else "Running, unready"
        if pod.terminating:
            state, eviction = "terminating", "-"
        else:
            rule = eviction_budget(pod, selected)
            eviction = "spends 1" if rule is EvictionBudget.SPENDS else _EVICTION_WORDS[rule]
        rows.append(
            (f"{pod.namespace}/{pod.name}", owner, state, ", ".join(covering) or "-", eviction)
        )
    if not rows:
        return f"\nPods left on {node}: none"
    headers = ("POD", "OWNER", "STATE", "PDB", "EVICTION")
    return f"\nPods left on {node}:\n" + _table(headers, rows)


def _node_conditions(snapshot: Snapshot, result: Plan, node: str) -> str:
    """The node's lifecycle conditions (DESIGN §8), whoever set them, and what the
    next pass would write of ours."""
    shown = next((n.conditions for n in snapshot.nodes if n.name == node), ())
    rows = [
        (
            c.type,
            c.status,
            c.reason or "-",
            c.message if ours(c) else f"{c.message or '-'} (not repairman's: left alone)",
        )
        for c in sorted(shown, key=lambda c: LIFECYCLE.index(c.type))
    ]
    text = f"\nNode conditions on {node}:\n"
    text += _table(("TYPE", "STATUS", "REASON", "MESSAGE"), rows) if rows else "none"
    for decision in result.decisions:
        if isinstance(decision, SetNodeConditions) and decision.node == node:
            written = ", ".join(f"{c.type}={c.status} ({c.reason})" for c in decision.write)
            text += f"\nThe next pass writes: {written}"
    return text


_EVICTION_WORDS = {
    EvictionBudget.NO_PDB: "no PDB",
    EvictionBudget.PENDING: "free (Pending: no PDB check)",
    EvictionBudget.UNHEALTHY_ALWAYS_ALLOW: "free (unready, AlwaysAllow)",
    EvictionBudget.UNHEALTHY_AT_HEALTHY_COUNT: "free (unready, PDB at its healthy count)",
    EvictionBudget.SEVERAL_PDBS: "refused (several PDBs)",
}


@main.command()
@click.argument("name", type=REQUEST_NAME)
@pass_context
def explain(obj: Context, name: str) -> None:
    """Why NAME is where it is: its status, and — when allowed to read the cluster —
    the explanation a pass would give now, every limit of its type (use, active
    requests, window, unavailable nodes) and, for a node, its lifecycle conditions
    (MaintenancePlanned, DrainInProgress, Drained, MaintenanceInProgress: ours and
    anyone else's) and the pods left on it with their PodDisruptionBudgets and what
    those allow.

    \b
    Example:
      kubectl repairman explain mr-worker-17-x7k2p
    """

    def act() -> None:
        item = Request(obj.kube, name).get()
        spec, status = item.get("spec") or {}, item.get("status") or {}
        shown = _printable
        click.echo(f"Request:   {name}")
        click.echo(f"Target:    {shown(spec.get('type'))}/{shown(spec.get('name'))}")
        requester, why = shown(spec.get("requester") or "-"), shown(spec.get("reason") or "-")
        click.echo(f"Requester: {requester}  ({why})")
        click.echo(f"Declared:  {shown(spec.get('state', 'Pending'))}")
        click.echo(f"State:     {status.get('state') or 'Pending'} ({status.get('reason') or '-'})")
        click.echo(f"Message:   {shown(status.get('message') or '-')}")
        try:
            snapshot = read_cluster(obj.kube, now=datetime.now(UTC))
        except KubeError as error:
            if error.status != 403:
                raise
            click.echo(f"\n(no live explanation: {error})")
            rows = _limit_rows(list(obj.kube.list(LIMITS)))
            click.echo(
                "\nLimits:\n"
                + _table(("NAME", "TYPE", "ALLOWED", "IN USE", "UNAVAILABLE", "MESSAGE"), rows)
            )
            return
        result = make_plan(snapshot)
        live = next((e for e in result.explanations if e.request == name), None)
        if live is not None:
            click.echo(f"\nNow ({timestamp(result.now)}): {live.state.value} ({live.reason.value})")
            click.echo(f"  {live.message}")
        click.echo("\nLimits of its type:")
        rows = []
        for report in result.limits:
            if report.type not in (None, spec.get("type", "").lower()):
                continue
            if not report.windows:
                window = "always"
            elif report.window_open:
                window = "open"
            else:
                window = (
                    f"opens {timestamp(report.next_opening)}" if report.next_opening else "closed"
                )
            unavailable = ", ".join(f"{n} {why}" for n, why in report.unavailable) or "-"
            rows.append(
                (
                    report.name,
                    str(report.allowed) if report.valid else "invalid",
                    str(report.in_use),
                    ", ".join(report.active) or "-",
                    window,
                    unavailable if report.valid else report.error,
                )
            )
        click.echo(_table(("NAME", "ALLOWED", "IN USE", "ACTIVE", "WINDOW", "UNAVAILABLE"), rows))
        if str(spec.get("type", "")).lower() == "node":
            node = str(spec.get("name", ""))
            click.echo(_node_conditions(snapshot, result, node))
            click.echo(_pods_and_budgets(snapshot, node))

    _run(act)
