"""The bad-input sweep: every kind of bad input and misuse, by category, judged "clean".

    python -m tests.sweep          # prints tried / clean / not per category, and each
                                   # input that was not clean; exit 1 if any

tests/unit/test_sweep.py runs it in CI and pytest's summary prints the table. Clean
means, for each category:

- objects from the API (requests, limits, status times): reading and planning raise
  nothing; the bad object is reported in one line of at most 1,200 characters; a good
  request elsewhere is planned exactly as without the bad object, or (a limit whose
  selector is unreadable fails closed) waits naming that limit;
- command lines (`runner`, `runner forecast`, `kubectl repairman`) and files they
  read: the exit code expected (2 bad usage or input, 1 a pass that failed), one line
  on stderr, no traceback, no credential in any output, and nothing written;
- the Python actor API: a one-line MaintenanceError or ValueError before anything is
  sent (its server is unreachable: an attempt would surface as a connection error).

What needs a cluster — signals mid-pass, the runner's least privilege, actors unable
to write status, missing CRDs, RBAC refusals — is swept by the integration suite:
tests/integration/test_bad_input.py, test_rbac_least.py, test_runner_lifecycle.py,
test_actor_papercuts.py and test_admission_recorded.py.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
from click.testing import CliRunner

from policy import plan
from policy.decisions import Plan
from policy.model import Snapshot
from repairman import actor
from repairman.plugin import main as plugin_main
from runner.cli import main as runner_main
from runner.convert import limit_of, request_of
from runner.kube import Kube
from tests.helpers import NOW, nodes
from tests.rejections import GOOD_LIMIT, GOOD_REQUEST, LIMIT_REJECTIONS, REQUEST_REJECTIONS

EXAMPLE = Path(__file__).parents[1] / "examples" / "cluster.json"
SECRET = "s3cr3t-t0ken-never-shown"
MAX_MESSAGE = 1200


@attrs.frozen
class Result:
    category: str
    label: str
    clean: bool
    detail: str = ""


# --- objects from the API ---------------------------------------------------------------


def _raw_request(name: str, spec: Any, status: Any = None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "creationTimestamp": "2026-11-25T11:50:00Z",
        },
        "spec": spec,
    }
    if status is not None:
        raw["status"] = status
    return raw


def _raw_limit(name: str, spec: Any, status: Any = None) -> dict[str, Any]:
    raw: dict[str, Any] = {"metadata": {"name": name, "uid": f"uid-{name}"}, "spec": spec}
    if status is not None:
        raw["status"] = status
    return raw


GOOD_B = _raw_request("good-b", {"type": "node", "name": "b0", "state": "Pending"})
ZONE_B = _raw_limit(
    "zone-b", {"type": "node", "limit": 50, "selector": {"matchLabels": {"zone": "b"}}}
)
ZONE_A_SPEC = {"type": "node", "limit": 50, "selector": {"matchLabels": {"zone": "a"}}}


def _world(requests: list[dict[str, Any]], limits: list[dict[str, Any]]) -> Snapshot:
    return Snapshot(
        now=NOW,
        nodes=nodes(2, zone="a", prefix="a") + nodes(2, zone="b", prefix="b"),
        requests=tuple(request_of(raw) for raw in [GOOD_B, *requests]),
        limits=tuple(limit_of(raw) for raw in [ZONE_B, *limits]),
    )


def _outcome(planned: Plan, name: str) -> tuple[str, str]:
    explanation = planned.explanation(name)
    return explanation.state.value, explanation.reason.value


BASELINE = _outcome(plan(_world([], [_raw_limit("zone-a", ZONE_A_SPEC)])), "good-b")


def _judge_objects(
    category: str,
    label: str,
    requests: list[dict[str, Any]],
    limits: list[dict[str, Any]],
    bad: str,
) -> Result:
    try:
        planned = plan(_world(requests, limits))
    except Exception as error:  # the sweep reports what escaped
        return Result(category, label, False, f"{type(error).__name__}: {error}"[:300])
    good = planned.explanation("good-b")
    if (good.state.value, good.reason.value) != BASELINE and bad not in good.message:
        return Result(category, label, False, f"good-b changed: {good.message[:200]}")
    said = [e.message for e in planned.explanations if e.request == bad]
    said += [r.error for r in planned.limits if r.name == bad and not r.valid]
    for message in said:
        if "\n" in message or len(message) > MAX_MESSAGE:
            return Result(category, label, False, f"message of {len(message)} characters")
    return Result(category, label, True)


def api_requests() -> Iterator[Result]:
    category = "request objects"
    for row in REQUEST_REJECTIONS:
        spec = row.spec(
            {**GOOD_REQUEST, "name": "a0"} if "name" not in row.change else GOOD_REQUEST
        )
        result = _judge_objects(category, row.id, [_raw_request("bad", spec)], [], "bad")
        if result.clean:
            planned = plan(_world([_raw_request("bad", spec)], []))
            if planned.explanation("bad").state.value != "Rejected":
                result = attrs.evolve(result, clean=False, detail="not rejected")
        yield result
    damaged: list[tuple[str, Any, Any]] = [
        ("spec missing", None, None),
        ("spec a list", ["node", "a0"], None),
        ("spec a string", "node/a0", None),
        ("spec empty", {}, None),
        ("unknown fields", {**GOOD_REQUEST, "name": "a0", "extra": {"deep": [1, 2]}}, None),
        ("status a list", {**GOOD_REQUEST, "name": "a0"}, ["Approved"]),
        ("status state unknown", {**GOOD_REQUEST, "name": "a0"}, {"state": "Bogus"}),
        (
            "status target garbage",
            {**GOOD_REQUEST, "name": "a0"},
            {"state": "Approved", "target": "node/"},
        ),
        (
            "status target another node of its zone",
            {**GOOD_REQUEST, "name": "a0"},
            {"state": "Approved", "target": "node/a1"},
        ),
        (
            "status target an int",
            {**GOOD_REQUEST, "name": "a0"},
            {"state": "InProgress", "target": 7},
        ),
        (
            "status message huge",
            {**GOOD_REQUEST, "name": "a0"},
            {"state": "Pending", "message": "m" * 100_000},
        ),
        (
            "observedGeneration a string",
            {**GOOD_REQUEST, "name": "a0"},
            {"observedGeneration": "two"},
        ),
        (
            "requester with escapes",
            {**GOOD_REQUEST, "name": "a0", "requester": "\x1b[2J\x1b]0;pwned\x07"},
            None,
        ),
        ("name of a node that does not exist", {**GOOD_REQUEST, "name": "ghost"}, None),
        ("workload that does not exist", {"type": "deployment", "name": "ns/ghost"}, None),
        ("two requests for one node", {**GOOD_REQUEST, "name": "b0"}, None),
    ]
    for label, spec, status in damaged:
        raw = _raw_request("bad", spec, status)
        if spec is None:
            del raw["spec"]
        yield _judge_objects(category, label, [raw], [], "bad")


def api_limits() -> Iterator[Result]:
    category = "limit objects"
    for row in LIMIT_REJECTIONS:
        spec = row.spec({**GOOD_LIMIT, "selector": ZONE_A_SPEC["selector"]})
        raw = _raw_limit("some-limit", spec)
        result = _judge_objects(category, row.id, [], [raw], "some-limit")
        if result.clean:
            report = [r for r in plan(_world([], [raw])).limits if r.name == "some-limit"]
            if not report or report[0].valid or row.field.split("[")[0] not in report[0].error:
                result = attrs.evolve(result, clean=False, detail="not reported invalid")
        yield result
    damaged: list[tuple[str, Any, Any]] = [
        ("spec missing", None, None),
        ("spec a list", [ZONE_A_SPEC], None),
        ("spec empty", {}, None),
        ("status a list", ZONE_A_SPEC, ["x"]),
        ("status counts strings", ZONE_A_SPEC, {"limit": "ten", "inUse": "all"}),
        ("status active not a list", ZONE_A_SPEC, {"active": "mr-1"}),
        ("status commits garbage", ZONE_A_SPEC, {"commits": [{"request": 3}, "x", {"at": "now"}]}),
        (
            "status commits far future",
            ZONE_A_SPEC,
            {"commits": [{"request": "ghost", "at": "9999-12-31T23:59:59Z"}]},
        ),
        ("status unavailable a list", ZONE_A_SPEC, {"unavailable": ["a0"]}),
        ("status commit a float", ZONE_A_SPEC, {"commit": 1.5}),
        ("a second limit of the same name", ZONE_A_SPEC, None),
        ("a limit of an unknown type named after none", {"limit": 5}, None),
    ]
    for label, spec, status in damaged:
        raw = _raw_limit("zone-a" if label.startswith("a second") else "bad-limit", spec, status)
        if spec is None:
            del raw["spec"]
        limits = [raw, _raw_limit("zone-a", ZONE_A_SPEC)]
        yield _judge_objects(category, label, [], limits, raw["metadata"]["name"])


BAD_TIMES: tuple[Any, ...] = (
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "tomorrow",
    "",
    10**20,
    "2026-11-25T12:00:00",
    "+275760-09-13T00:00:00Z",
)
REQUEST_TIMES = {
    "preparingSince": "Preparing",
    "drainedAt": "Preparing",
    "detachedAt": "Preparing",
    "approvedAt": "Approved",
    "startedAt": "InProgress",
    "completedAt": "Completed",
    "finishedAt": "Completed",
}


def status_times() -> Iterator[Result]:
    category = "status times"
    for field, state in REQUEST_TIMES.items():
        spec_state = {"Approved": "Pending", "Preparing": "Pending"}.get(state, state)
        for value in BAD_TIMES:
            status = {"state": state, "target": "node/a0", field: value}
            spec = {**GOOD_REQUEST, "name": "a0", "state": spec_state}
            raw = _raw_request("bad", spec, status)
            yield _judge_objects(category, f"{field}={value!r}", [raw], [], "bad")
    for value in BAD_TIMES[:4]:
        raw = _raw_limit("zone-a", ZONE_A_SPEC, {"lastAdmissionAt": value})
        yield _judge_objects(category, f"lastAdmissionAt={value!r}", [], [raw], "zone-a")
        raw = _raw_limit("zone-a", ZONE_A_SPEC, {"commits": [{"request": "x", "at": value}]})
        yield _judge_objects(category, f"commits[0].at={value!r}", [], [raw], "zone-a")
    for value in ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"):
        raw = _raw_request("bad", {**GOOD_REQUEST, "name": "a0"})
        raw["metadata"]["creationTimestamp"] = value
        yield _judge_objects(category, f"creationTimestamp={value!r}", [raw], [], "bad")


# --- command lines ----------------------------------------------------------------------


@attrs.frozen
class Call:
    label: str
    argv: tuple[str, ...]
    code: int
    files: dict[str, str | bytes | None] = attrs.Factory(dict)
    """Written into the working directory first; None makes a FIFO."""


def _judge_call(category: str, main: Any, call: Call, directory: Path) -> Result:
    for name, content in call.files.items():
        path = directory / name
        if content is None:
            os.mkfifo(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    before = set(directory.iterdir())
    argv = [part.replace("{dir}", str(directory)) for part in call.argv]
    result = CliRunner().invoke(main, argv, env={"KUBECONFIG": str(directory / "none")})
    after = set(directory.iterdir())
    # The runner's log lines (JSON, on stderr) are not errors; the error is the rest.
    errors = [line for line in result.stderr.splitlines() if line.strip() and line[0] != "{"]
    problems = []
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        problems.append(f"raised {type(result.exception).__name__}: {result.exception}")
    if result.exit_code != call.code:
        problems.append(f"exit {result.exit_code}, expected {call.code}")
    if call.code != 0 and len(errors) != 1:
        problems.append(f"{len(errors)} lines on stderr: {result.stderr[:200]!r}")
    if "Traceback" in result.output or SECRET in result.output:
        problems.append("a traceback or the token in the output")
    if after - before:
        problems.append(f"wrote {sorted(p.name for p in after - before)}")
    return Result(category, call.label, not problems, "; ".join(problems)[:300])


KUBECONFIG = """apiVersion: v1
kind: Config
current-context: c
contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
clusters: [{{name: c, cluster: {{server: "{server}"}}}}]
users: [{{name: u, user: {{token: {token}}}}}]
"""
UNREACHABLE = KUBECONFIG.format(server="https://127.0.0.1:1", token=SECRET)
DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_YAML = "a: " + "[" * 100_000


def _files_of_every_kind(flag: str, what: str, code: int) -> list[Call]:
    """A path option given each kind of file that is not what it should be."""
    return [
        Call(f"{what}: missing", (flag, "{dir}/missing"), code),
        Call(f"{what}: a directory", (flag, "{dir}"), code),
        Call(f"{what}: a FIFO", (flag, "{dir}/fifo"), code, {"fifo": None}),
        Call(f"{what}: a device", (flag, "/dev/zero"), code),
        Call(f"{what}: empty", (flag, "{dir}/empty"), code, {"empty": ""}),
        Call(
            f"{what}: nested 100,000 deep (JSON)", (flag, "{dir}/deep"), code, {"deep": DEEP_JSON}
        ),
        Call(
            f"{what}: nested 100,000 deep (YAML)", (flag, "{dir}/deep"), code, {"deep": DEEP_YAML}
        ),
        Call(f"{what}: not YAML", (flag, "{dir}/bad"), code, {"bad": "a: [\n  b: {"}),
        Call(
            f"{what}: a YAML error next to a token",
            (flag, "{dir}/bad"),
            code,
            {"bad": f"token: {SECRET}\n  x: [\n"},
        ),
    ]


def runner_calls() -> list[Call]:
    plan_args = ("--plan", "--snapshot", str(EXAMPLE))
    snapshot = '{"kind": "RepairmanSnapshot", "version": 1, "now": "%s", "nodes": []}'
    calls = [
        *(
            Call(
                f"snapshot {c.label.split(': ', 1)[1]}",
                ("--plan", "--snapshot", *c.argv[1:]),
                2,
                c.files,
            )
            for c in _files_of_every_kind("--snapshot", "snapshot", 2)
        ),
        Call(
            "snapshot: not UTF-8",
            ("--plan", "--snapshot", "{dir}/latin"),
            2,
            {"latin": b"caf\xe9"},
        ),
        Call("snapshot: a JSON list", ("--plan", "--snapshot", "{dir}/s"), 2, {"s": "[]"}),
        Call(
            "snapshot: another kind",
            ("--plan", "--snapshot", "{dir}/s"),
            2,
            {"s": '{"kind": "Pod"}'},
        ),
        Call(
            "snapshot: version 99",
            ("--plan", "--snapshot", "{dir}/s"),
            2,
            {"s": '{"kind": "RepairmanSnapshot", "version": 99}'},
        ),
        Call(
            "snapshot: now in year 9999",
            ("--plan", "--snapshot", "{dir}/s"),
            2,
            {"s": snapshot % "9999-12-31T23:59:59Z"},
        ),
        Call(
            "snapshot: now in year 1",
            ("--plan", "--snapshot", "{dir}/s"),
            2,
            {"s": snapshot % "0001-01-01T00:00:00Z"},
        ),
        Call(
            "snapshot: now without zone",
            ("--plan", "--snapshot", "{dir}/s"),
            2,
            {"s": snapshot % "2026-11-25T12:00:00"},
        ),
        Call(
            "snapshot: NaN",
            ("--plan", "--snapshot", "{dir}/s"),
            2,
            {"s": '{"kind": "RepairmanSnapshot", "version": NaN}'},
        ),
        Call("--at year 9999", (*plan_args, "--at", "9999-12-31T23:59:59Z"), 2),
        Call("--at year 1", (*plan_args, "--at", "0001-01-01T00:00:00Z"), 2),
        Call("--at without zone", (*plan_args, "--at", "2026-11-25T12:00:00"), 2),
        Call("--at noon", (*plan_args, "--at", "noon"), 2),
        Call("--at empty", (*plan_args, "--at", ""), 2),
        Call("--at without --snapshot", ("--plan", "--at", "2026-11-25T12:00:00Z"), 2),
        Call("-o yaml", (*plan_args, "-o", "yaml"), 2),
        Call("--deadline -1", ("--until-stable", "--deadline", "-1"), 2),
        Call("--deadline nan", ("--until-stable", "--deadline", "nan"), 2),
        Call("--deadline inf", ("--until-stable", "--deadline", "inf"), 2),
        Call("--request-timeout 0", (*plan_args, "--request-timeout", "0"), 2),
        Call("--request-timeout nan", (*plan_args, "--request-timeout", "nan"), 2),
        Call("--log-format xml", ("--log-format", "xml"), 2),
        Call("an unknown option", ("--frobnicate",), 2),
        Call("record into a missing directory", ("record", "{dir}/no/such/dir/s.json"), 2),
        *(
            Call(f"kubeconfig {c.label.split(': ', 1)[1]}", ("--plan", *c.argv), 2, c.files)
            for c in _files_of_every_kind("--kubeconfig", "kubeconfig", 2)
        ),
        Call(
            "kubeconfig: no current-context",
            ("--plan", "--kubeconfig", "{dir}/k"),
            2,
            {"k": "apiVersion: v1\nkind: Config\n"},
        ),
        Call(
            "kubeconfig: context not there",
            ("--plan", "--kubeconfig", "{dir}/k", "--context", "nope"),
            2,
            {"k": UNREACHABLE},
        ),
        Call(
            "kubeconfig: tokenFile missing",
            ("--plan", "--kubeconfig", "{dir}/k"),
            2,
            {"k": UNREACHABLE.replace(f"token: {SECRET}", "tokenFile: gone")},
        ),
        Call(
            "kubeconfig: tokenFile a FIFO",
            ("--plan", "--kubeconfig", "{dir}/k"),
            2,
            {"k": UNREACHABLE.replace(f"token: {SECRET}", "tokenFile: fifo"), "fifo": None},
        ),
        Call(
            "cluster unreachable",
            ("--plan", "--kubeconfig", "{dir}/k", "--request-timeout", "2"),
            1,
            {"k": UNREACHABLE},
        ),
        Call(
            "cluster unreachable, password in URL",
            ("--plan", "--kubeconfig", "{dir}/k", "--request-timeout", "2"),
            1,
            {"k": KUBECONFIG.format(server=f"https://admin:{SECRET}@127.0.0.1:1", token="x")},
        ),
    ]
    return calls


def forecast_calls() -> list[Call]:
    base = ("forecast", "--snapshot", str(EXAMPLE))
    calls = [
        *(
            Call(f"--from-file {c.label.split(': ', 1)[1]}", (*base, *c.argv), 2, c.files)
            for c in _files_of_every_kind("--from-file", "from-file", 2)
        ),
        Call(
            "--from-file without a request",
            (*base, "--from-file", "{dir}/r"),
            2,
            {"r": "kind: Pod\n"},
        ),
        Call("--fail-rate above 1", (*base, "--fail-rate", "1.5"), 2, {}),
        Call("--fail-rate not a number", (*base, "--fail-rate", "often"), 2, {}),
        Call(
            "--set a rate that is not an object",
            (*base, "--set", 'node.rate=[{"count":1}]'),
            2,
            {},
        ),
        Call(
            "--from-file a List without items",
            (*base, "--from-file", "{dir}/r"),
            2,
            {"r": "kind: List\n"},
        ),
        Call("--set abc", (*base, "--set", "abc"), 2),
        Call("--set an unknown limit", (*base, "--set", "nope.limit=10"), 2),
        Call("--set limit=abc", (*base, "--set", "node.limit=abc"), 2),
        Call("--set limit=101", (*base, "--set", "node.limit=101"), 2),
        Call(
            "--set a bad time zone",
            (
                *base,
                "--set",
                'node.windows=[{"start":"01:00","end":"02:00","timeZone":"Mars/Base"}]',
            ),
            2,
        ),
        Call("--set an empty field", (*base, "--set", "node.=1"), 2),
        Call("--actor-duration 5m..1m", (*base, "--actor-duration", "5m..1m"), 2),
        Call("--actor-duration nan", (*base, "--actor-duration", "nan"), 2),
        Call("--actor-duration -1s", (*base, "--actor-duration", "-1s"), 2),
        Call("--actor-duration empty", (*base, "--actor-duration", ""), 2),
        # Longer than any horizon: the forecast plays it (the work never ends), exit 0.
        Call("--actor-duration 11 million years", (*base, "--actor-duration", "99999999999h"), 0),
        Call("--actor-duration 10^21 hours", (*base, "--actor-duration", "1" + "0" * 21 + "h"), 0),
        Call("--actor-start 1x", (*base, "--actor-start", "1x"), 2),
        Call("--period 0", (*base, "--period", "0s"), 2),
        Call("--period abc", (*base, "--period", "abc"), 2),
        Call("--pod-ready nan", (*base, "--pod-ready", "nan"), 2),
        Call("--volume-detach -5m", (*base, "--volume-detach", "-5m"), 2),
        Call("--selector without =", (*base, "--selector", "zone"), 2),
        Call("--selector a bad value", (*base, "--selector", "zone=a b"), 2),
        Call("--chart .exe", (*base, "--chart", "{dir}/chart.exe"), 2),
        Call("-o csv", (*base, "-o", "csv"), 2),
        Call("--seed abc", (*base, "--seed", "abc"), 2),
    ]
    return calls


def plugin_calls() -> list[Call]:
    k = ("--kubeconfig", "{dir}/k")
    unreachable = {"k": UNREACHABLE}
    calls = [
        *(
            Call(
                f"kubeconfig {c.label.split(': ', 1)[1]}",
                (*c.argv, "list"),
                2,
                c.files,
            )
            for c in _files_of_every_kind("--kubeconfig", "kubeconfig", 2)
        ),
        Call("cluster unreachable: list", (*k, "list"), 1, unreachable),
        Call(
            "cluster unreachable: request",
            (*k, "request", "worker-1", "--requester", "me"),
            1,
            unreachable,
        ),
        Call("cluster unreachable: explain", (*k, "explain", "mr-x"), 1, unreachable),
    ]
    for name in (
        "a/b",
        "mr?watch=true",
        "mr%2Fx",
        "MR-Upper",
        "x" * 300,
        "",
        "node/worker-1",
        "pod/x",
        "../x",
    ):
        for verb in ("start", "complete", "withdraw", "explain"):
            calls.append(Call(f"{verb} {name[:20]!r}", (*k, verb, name), 2, unreachable))
    calls += [
        Call("request without --requester", (*k, "request", "worker-1"), 2, unreachable),
        Call(
            "request --type pod",
            (*k, "request", "worker-1", "--requester", "me", "--type", "pod"),
            2,
            unreachable,
        ),
        Call(
            "request --priority abc",
            (*k, "request", "worker-1", "--requester", "me", "--priority", "abc"),
            2,
            unreachable,
        ),
        Call(
            "request --priority 2^40",
            (*k, "request", "worker-1", "--requester", "me", "--priority", str(2**40)),
            2,
            unreachable,
        ),
        Call(
            "request --wait --timeout nan",
            (*k, "request", "worker-1", "--requester", "me", "--wait", "--timeout", "nan"),
            2,
            unreachable,
        ),
        Call(
            "request --wait --timeout -1s",
            (*k, "request", "worker-1", "--requester", "me", "--wait", "--timeout", "-1s"),
            2,
            unreachable,
        ),
        Call(
            "request --wait --timeout 0s",
            (*k, "request", "worker-1", "--requester", "me", "--wait", "--timeout", "0s"),
            2,
            unreachable,
        ),
        Call(
            "request --wait --timeout abc",
            (*k, "request", "worker-1", "--requester", "me", "--wait", "--timeout", "abc"),
            2,
            unreachable,
        ),
        Call(
            "request a bad node name",
            (*k, "request", "Worker_1", "--requester", "me"),
            2,
            unreachable,
        ),
        Call(
            "request a workload without namespace",
            (*k, "request", "web", "--requester", "me", "--type", "deployment"),
            2,
            unreachable,
        ),
        Call(
            "request -o xml",
            (*k, "request", "worker-1", "--requester", "me", "-o", "xml"),
            2,
            unreachable,
        ),
        Call("an unknown subcommand", (*k, "frobnicate"), 2, unreachable),
        Call(
            "request --not-before tomorrow",
            (*k, "request", "worker-1", "--requester", "me", "--not-before", "tomorrow"),
            2,
            unreachable,
        ),
        Call(
            "request --deadline without offset",
            (*k, "request", "worker-1", "--requester", "me", "--deadline", "2026-12-20T02:00:00"),
            2,
            unreachable,
        ),
        Call(
            "request --deadline before --not-before",
            (
                *k,
                "request",
                "worker-1",
                "--requester",
                "me",
                "--not-before",
                "2026-12-20T02:00:00Z",
                "--deadline",
                "2026-12-20T01:00:00Z",
            ),
            2,
            unreachable,
        ),
        Call("pause a bad limit name", (*k, "pause", "ml/a?b"), 2, unreachable),
        Call("pause another kind", (*k, "pause", "node/worker-1"), 2, unreachable),
        Call("resume without a name", (*k, "resume"), 2, unreachable),
        Call("pause, cluster unreachable", (*k, "pause", "node"), 1, unreachable),
        Call("acknowledge a bad limit name", (*k, "acknowledge", "ml/a?b"), 2, unreachable),
        Call("acknowledge without a name", (*k, "acknowledge"), 2, unreachable),
        Call("acknowledge, cluster unreachable", (*k, "acknowledge", "node"), 1, unreachable),
    ]
    return calls


def command_lines(directory: Path) -> Iterator[Result]:
    for category, main, calls in (
        ("runner command lines", runner_main, runner_calls()),
        ("forecast command lines", runner_main, forecast_calls()),
        ("plugin command lines", plugin_main, plugin_calls()),
    ):
        for index, call in enumerate(calls):
            here = directory / f"{category.split()[0]}-{index}"
            here.mkdir()
            yield _judge_call(category, main, call, here)


# --- the Python actor API ----------------------------------------------------------------


def actor_api(directory: Path) -> Iterator[Result]:
    category = "actor API"
    config = directory / "actor.kubeconfig"
    config.write_text(UNREACHABLE, encoding="utf-8")
    kube = Kube.connect(kubeconfig=str(config), timeout=1)
    misuses: list[tuple[str, Callable[[], object]]] = []
    for value in (math.nan, math.inf, -math.inf, 0.0, -1.0):
        misuses.append(
            (
                f"maintenance(timeout={value})",
                lambda v=value: actor.maintenance(
                    "worker-1", requester="me", timeout=v, kube=kube
                ).__enter__(),
            )
        )
        misuses.append(
            (
                f"wait_for_approval(poll={value})",
                lambda v=value: actor.Request(kube, "mr-x").wait_for_approval(timeout=10, poll=v),
            )
        )
    for name in ("a/b", "mr?x", "", "UPPER", "x" * 300):
        misuses.append((f"Request({name[:20]!r})", lambda n=name: actor.Request(kube, n)))
    for label, call in misuses:
        try:
            call()
        except (actor.MaintenanceError, ValueError) as error:
            text = str(error)
            clean = "\n" not in text and SECRET not in text and "cannot reach" not in text
            yield Result(category, label, clean, "" if clean else text[:200])
        except Exception as error:  # the sweep reports what escaped
            yield Result(category, label, False, f"{type(error).__name__}: {error}"[:200])
        else:
            yield Result(category, label, False, "accepted")


# --- the sweep --------------------------------------------------------------------------


LAST: list[Result] = []
"""The results of the last sweep in this process (pytest's summary prints them)."""


def sweep() -> list[Result]:
    results = [*api_requests(), *api_limits(), *status_times()]
    with tempfile.TemporaryDirectory(prefix="repairman-sweep-") as temporary:
        directory = Path(temporary)
        results += [*command_lines(directory), *actor_api(directory)]
    LAST[:] = results
    return results


def table(results: list[Result]) -> str:
    categories: dict[str, list[Result]] = {}
    for result in results:
        categories.setdefault(result.category, []).append(result)
    lines = [f"{'category':<26} {'tried':>5} {'clean':>5} {'not':>5}"]
    for category, found in categories.items():
        clean = sum(r.clean for r in found)
        lines.append(f"{category:<26} {len(found):>5} {clean:>5} {len(found) - clean:>5}")
    clean = sum(r.clean for r in results)
    lines.append(f"{'all':<26} {len(results):>5} {clean:>5} {len(results) - clean:>5}")
    lines += [f"not clean: {r.category}: {r.label}: {r.detail}" for r in results if not r.clean]
    return "\n".join(lines)


if __name__ == "__main__":
    swept = sweep()
    print(table(swept))  # noqa: T201 - the sweep's report
    sys.exit(0 if all(r.clean for r in swept) else 1)
