"""The forecast on hand-checkable cases: the figures below are worked out by hand from
the model's rules (docs in forecast/simulation.py) and asserted exactly."""

from __future__ import annotations

import json
import re
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import attrs
from click.testing import CliRunner

from bench.forecast import fleet
from forecast import Model, Simulation, Spread, forecast
from forecast.inputs import add_requests, changed, parse_changes
from forecast.summary import summary_text
from policy import Plan, plan
from policy.model import GateKind, GateReading, MaintenanceRequest, Pod, Snapshot
from policy.snapshot_load import load
from runner.cli import main
from tests.forecast_books import budgets_counted_from_scratch, check_scheduling
from tests.helpers import app_pod, limit, nodes, pdb

START = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)  # a Wednesday
TEN_MINUTES = Model(period=60, actor_start=Spread(0, 0), actor_duration=Spread(600, 600))


def seconds(result_time: datetime | None, start: datetime = START) -> float:
    assert result_time is not None
    return (result_time - start).total_seconds()


def test_ten_nodes_under_twenty_percent_take_fifty_four_minutes() -> None:
    """2 at a time. A wave: approved at pass t, declared InProgress at once, completed
    at t+600 s, recorded by the pass at t+600; its slots go out at the next pass, t+660.
    Five waves: the last is approved at 4 x 660 = 2640 s and finishes at 3240 s = 54 min.
    Waiting: two requests each wait 11, 22, 33, 44 minutes = 220 minutes."""
    snapshot = add_requests(
        Snapshot(now=START, nodes=nodes(10), limits=(limit("node", limit=20),)), None, START
    )
    result = forecast(snapshot, TEN_MINUTES)
    assert result.finished and result.makespan == 3240
    approvals = sorted(seconds(r.approved_at) for r in result.requests)
    assert approvals == [0, 0, 660, 660, 1320, 1320, 1980, 1980, 2640, 2640]
    assert {r.state for r in result.requests} == {"Completed"}
    assert result.peaks == {"node": (2, 2)}
    assert result.bottlenecks == (("limit node", 220 * 60),)


PODS_READY_IN_30 = Model(
    period=60, actor_start=Spread(0, 0), actor_duration=Spread(600, 600), pod_ready=30
)


def four_under_a_pdb(**limit_spec: object) -> Snapshot:
    """Four requested nodes, one `web` pod each, a PDB that keeps 3 of 4 healthy, two
    spare nodes for the replacements, a limit of 100% that drains."""
    requested = nodes(4)
    spare = nodes(2, prefix="spare")
    asked = add_requests(Snapshot(now=START, nodes=requested), None, START)
    return attrs.evolve(
        asked,
        nodes=requested + spare,
        pods=tuple(
            app_pod(f"web-{i}", n.name, "web", termination_grace_period_seconds=30)
            for i, n in enumerate(requested)
        ),
        pdbs=(pdb("web", "web", 1, desired_healthy=3, current_healthy=4),),
        limits=(limit("node", limit=100, drain={"timeoutSeconds": 3600}, **limit_spec),),
    )


def test_a_pdb_allowing_one_disruption_serialises_the_drains() -> None:
    """Four requested nodes, one `web` pod each, a PDB that keeps 3 of 4 healthy; two
    spare nodes take the replacements. Every node is admitted and cordoned at once, but
    the budget allows one eviction at a time: evicted at pass t, gone at t+30 (grace),
    its replacement Ready at t+60, when the next pass recounts the budget and evicts the
    next pod. A node is empty 30 s after its eviction and approved at the next pass:
    60, 120, 180, 240 s; each actor works 10 minutes: the last finishes at 840 s."""
    result = forecast(four_under_a_pdb(), PODS_READY_IN_30)
    assert result.finished, result
    assert sorted(seconds(r.approved_at) for r in result.requests) == [60, 120, 180, 240]
    assert result.makespan == 840
    assert dict(result.bottlenecks)["PDB ns/web"] > 0


def test_a_window_that_closes_mid_rollout_resumes_the_next_night() -> None:
    """One node at a time, only 01:00-03:00 UTC, 50 minutes of work each, from 00:30 on
    a Wednesday. Night 1: approved 01:00, 01:51, 02:42 (each 50 min of work, then one
    pass); at 03:33 the window is closed. Night 2 the same: the sixth finishes at 03:32
    on Thursday, 27 h 02 min after the start."""
    start = START + timedelta(minutes=30)
    every_day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    window = {"days": every_day, "start": "01:00", "end": "03:00", "timeZone": "UTC"}
    snapshot = add_requests(
        Snapshot(
            now=start,
            nodes=nodes(6),
            limits=(limit("node", limit=100, maxConcurrent=1, windows=[window]),),
        ),
        None,
        start,
    )
    model = Model(period=60, actor_start=Spread(0, 0), actor_duration=Spread(3000, 3000))
    result = forecast(snapshot, model)
    assert result.finished
    approvals = sorted(r.approved_at for r in result.requests if r.approved_at)
    day1, day2 = START, START + timedelta(days=1)
    expected = [day + timedelta(hours=1, minutes=m) for day in (day1, day2) for m in (0, 51, 102)]
    assert approvals == expected
    assert result.end == day2 + timedelta(hours=3, minutes=32)
    assert result.makespan == (27 * 60 + 2) * 60
    assert dict(result.bottlenecks)["window of node"] > 0


def test_the_command_forecasts_the_shipped_example_as_json() -> None:
    result = CliRunner().invoke(
        main, ["forecast", "--snapshot", "examples/cluster.json", "-o", "json", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["kind"] == "Forecast" and document["finished"] is True
    assert len(document["requests"]) == 18
    # Left waiting for people (an actor out of order, an invalid limit), and said so.
    assert document["stuck"] == ["mr-rogue-a14", "mr-web-restart"]
    assert document["bottlenecks"][0]["cause"] == "window of zone-c"
    again = CliRunner().invoke(
        main, ["forecast", "--snapshot", "examples/cluster.json", "-o", "json", "--seed", "3"]
    )
    assert again.stdout == result.stdout, "deterministic with a seed"


def test_a_bad_duration_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(
        main, ["forecast", "--snapshot", "examples/cluster.json", "--actor-duration", "soon"]
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: forecast: 'soon' is not a duration like 90s, 15m or 1h30m"
    )


def test_what_if_a_larger_limit() -> None:
    """At 40% (4 at a time) the ten nodes go in three waves: the last is approved at
    2 x 660 = 1320 s and finishes at 1920 s = 32 min."""
    snapshot = add_requests(
        Snapshot(now=START, nodes=nodes(10), limits=(limit("node", limit=20),)), None, START
    )
    wider = changed(snapshot, parse_changes("node.limit=40"))
    assert forecast(wider, TEN_MINUTES).makespan == 1920
    assert forecast(snapshot, TEN_MINUTES).makespan == 3240, "the original is unchanged"
    capped = changed(snapshot, parse_changes("node.limit=40,node.maxConcurrent=2"))
    assert forecast(capped, TEN_MINUTES).makespan == 3240


def test_what_if_names_a_limit_that_is_not_there() -> None:
    result = CliRunner().invoke(
        main, ["forecast", "--snapshot", "examples/cluster.json", "--set", "nodes.limit=5"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: forecast: --set nodes.limit=5: no limit named 'nodes'")
    bad = CliRunner().invoke(
        main, ["forecast", "--snapshot", "examples/cluster.json", "--set", "limit=5"]
    )
    assert bad.exit_code == 2 and "is not LIMIT.FIELD=VALUE" in bad.stderr


def test_the_timeline_chart_is_drawn_as_svg(tmp_path: Path) -> None:
    chart = tmp_path / "rollout.svg"
    result = CliRunner().invoke(
        main,
        ["forecast", "--snapshot", "examples/cluster.json", "--all-nodes", "--chart", str(chart)],
    )
    assert result.exit_code == 0, result.output
    root = ElementTree.parse(chart).getroot()
    assert root.tag.endswith("svg")
    text = chart.read_text()
    for label in ("nodes in maintenance", "zone eu-1a", "zone eu-1c", "zone-c: window closed"):
        assert label in text, label
    wrong = CliRunner().invoke(
        main,
        ["forecast", "--snapshot", "examples/cluster.json", "--chart", str(tmp_path / "x.txt")],
    )
    assert wrong.exit_code == 2
    assert wrong.stderr.strip().endswith("x.txt: a chart is written as .svg or .png")


def test_requests_from_a_file_are_forecast_as_filed_now(tmp_path: Path) -> None:
    # The shipped request (generateName, as actors file them) and a List of two, one
    # of them invalid: the policy judges the spec, the file's shape is ours to check.
    listed = tmp_path / "more.json"
    listed.write_text(
        json.dumps(
            {
                "kind": "List",
                "items": [
                    {
                        "kind": "MaintenanceRequest",
                        "metadata": {"name": "mr-fw-b01"},
                        "spec": {"type": "node", "name": "worker-b-01", "requester": "fw"},
                    },
                    {
                        "kind": "MaintenanceRequest",
                        "metadata": {"name": "mr-bad"},
                        "spec": {"type": "node", "name": "Worker_B"},
                    },
                ],
            }
        )
    )
    args = ["forecast", "--snapshot", "examples/cluster.json", "-o", "json"]
    result = CliRunner().invoke(
        main, [*args, "--from-file", "k8s/examples/request-node.yaml", "--from-file", str(listed)]
    )
    assert result.exit_code == 0, result.output
    requests = {r["name"]: r for r in json.loads(result.stdout)["requests"]}
    assert len(requests) == 18 + 3
    assert requests["mr-1"]["target"] == "node/worker-17"
    assert requests["mr-1"]["reason"] == "TargetNotFound", "the example has no worker-17"
    assert requests["mr-fw-b01"]["state"] == "Completed"
    assert requests["mr-fw-b01"]["approvedAt"] is not None
    assert (requests["mr-bad"]["state"], requests["mr-bad"]["reason"]) == (
        "Rejected",
        "InvalidSpec",
    )


def test_a_file_that_holds_no_requests_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cases = {
        "pod.yaml": ("kind: Pod\n", "document 1 is Pod, not a MaintenanceRequest"),
        "broken.yaml": ("spec: [\n", "not YAML or JSON (line 2)"),
        "empty.yaml": ("", "no MaintenanceRequest in it"),
        "taken.yaml": (
            "kind: MaintenanceRequest\nmetadata: {name: mr-typo}\nspec: {}\n",
            "document 1: a request named 'mr-typo' exists",
        ),
    }
    for name, (text, problem) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        result = CliRunner().invoke(
            main, ["forecast", "--snapshot", "examples/cluster.json", "--from-file", str(path)]
        )
        assert result.exit_code == 2, name
        assert result.stderr == f"error: forecast: --from-file {path}: {problem}\n"
    missing = tmp_path / "missing.yaml"
    result = CliRunner().invoke(
        main, ["forecast", "--snapshot", "examples/cluster.json", "--from-file", str(missing)]
    )
    assert result.exit_code == 2
    assert result.stderr == f"error: forecast: --from-file {missing}: no such file\n"


def test_the_table_says_when_each_request_is_approved_and_finished() -> None:
    snapshot = add_requests(
        Snapshot(now=START, nodes=nodes(3), limits=(limit("node", limit=34),)), None, START
    )
    text = summary_text(forecast(snapshot, TEN_MINUTES), TEN_MINUTES)
    rows = text.split("Requests, in finishing order:\n")[1].split("\n\n")[0].splitlines()
    assert [row.split() for row in rows] == [
        ["REQUEST", "TARGET", "APPROVED", "FINISHED", "STATE", "REASON"],
        ["forecast-n0", "node/n0", "+0s", "+10m", "Completed", "Completed"],
        ["forecast-n1", "node/n1", "+11m", "+21m", "Completed", "Completed"],
        ["forecast-n2", "node/n2", "+22m", "+32m", "Completed", "Completed"],
    ]


def test_the_model_stores_a_status_with_every_field_of_the_request() -> None:
    # Simulation._status builds MaintenanceRequest positionally (for speed): a field
    # added to the class must be added there too.
    assert [field.name for field in attrs.fields(MaintenanceRequest)] == [
        "name",
        "uid",
        "resource_version",
        "generation",
        "creation_timestamp",
        "spec",
        "status",
    ]


def test_the_worked_examples_in_the_docs_are_what_the_command_prints(tmp_path: Path) -> None:
    text = Path("docs/forecast.md").read_text(encoding="utf-8")
    blocks = [
        block
        for block in re.findall(r"```console\n(.*?)```", text, re.S)
        if " -o json" not in block.splitlines()[0]  # its figures: the test below
    ]
    assert len(blocks) == 2
    for block in blocks:
        lines = block.splitlines(keepends=True)
        command_lines = [lines.pop(0).rstrip()]
        while command_lines[-1].endswith("\\"):
            command_lines[-1] = command_lines[-1].removesuffix("\\")
            command_lines.append(lines.pop(0).strip())
        command = " ".join(command_lines).removeprefix("$ ")
        shown = "".join(lines)
        args = shlex.split(command)
        assert args[0] == "runner"
        args = args[1:]
        if "--chart" in args:  # draw it elsewhere: the docs' picture stays as it is
            args[args.index("--chart") + 1] = str(tmp_path / "chart.png")
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert result.stdout == shown, command


def test_replacements_and_budgets_follow_the_plain_definitions() -> None:
    # A small fleet of the benchmark's shape: hundreds of evictions and replacements,
    # each replacement's node and every pass's PDB counts checked from scratch.
    snapshot = fleet(60, 6)
    model = Model(actor_start=Spread(0, 300), actor_duration=Spread(600, 1800))
    simulation = Simulation(
        snapshot,
        model,
        seed=1,
        observer=lambda before, _p, _a: budgets_counted_from_scratch(before),
    )
    check_scheduling(simulation)
    result = simulation.run()
    assert result.finished
    assert simulation.checked_schedules == simulation.spawned > 300  # type: ignore[attr-defined]


def test_the_plans_made_on_the_model_clusters_grouping_are_the_plans_of_the_snapshot() -> None:
    # The simulation hands each plan the pods grouped by node as the model cluster keeps
    # them (regrouped only where pods changed): at every pass, with evictions,
    # replacements, pods Ready later and nodes failed, the plan must be the one the
    # snapshot alone gives, and the grouping exactly the snapshot's pods.
    # Pods terminate and come up Ready over more than a period, so that passes see
    # pods change in place (terminating, then Ready) on nodes where none came or went.
    base = fleet(60, 6)
    snapshot = attrs.evolve(
        base, pods=tuple(attrs.evolve(p, termination_grace_period_seconds=90) for p in base.pods)
    )
    model = Model(
        actor_start=Spread(0, 300),
        actor_duration=Spread(600, 1800),
        pod_ready=150,
        fail_rate=0.2,
    )
    compared = []

    def same_plan(before: Snapshot, made: Plan, _after: Snapshot) -> None:
        assert made == plan(before)
        compared.append(len(made.decisions))

    simulation = Simulation(snapshot, model, seed=2, observer=same_plan)
    grouping = simulation.cluster.pods_by_node

    def checked() -> dict[str, tuple[Pod, ...]]:
        grouped = grouping()
        assert sorted(p.key for pods in grouped.values() for p in pods) == sorted(
            simulation.cluster.pods
        )
        assert all(p.node == node for node, pods in grouped.items() for p in pods)
        assert {p.key: p for pods in grouped.values() for p in pods} == simulation.cluster.pods
        return grouped

    simulation.cluster.pods_by_node = checked  # type: ignore[method-assign]
    result = simulation.run()
    assert result.finished and result.failed_nodes
    assert len(compared) == result.passes and sum(compared) > 500


def test_the_chart_counts_whole_nodes_and_shows_what_each_limit_allows() -> None:
    """Issue 19 item 6: integer ticks on every panel; one row per limit whose dashed
    line is what the limit allowed at each pass; the shaded closed hours named after
    the limit whose window they are."""
    from forecast.chart import figure_of  # noqa: PLC0415 - matplotlib, only here

    snapshot = add_requests(
        Snapshot(
            now=START,
            nodes=nodes(10),
            limits=(
                limit("node", limit=20),
                limit(
                    "nights",
                    type="node",
                    limit=100,
                    windows=[{"days": ["Wed"], "start": "00:30", "end": "23:00"}],
                ),
            ),
        ),
        None,
        START,
    )
    result = forecast(snapshot, TEN_MINUTES)
    figure = figure_of(result)
    try:
        top, *rows = figure.axes
        assert [row.get_ylabel() for row in rows] == ["nights", "node"]
        for axes in figure.axes:
            ticks = [t for t in axes.get_yticks() if axes.get_ylim()[0] <= t <= axes.get_ylim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), (axes.get_ylabel(), ticks)
        (allows,) = rows[1].get_lines()
        assert set(allows.get_ydata()) == {2}, "20% of 10 nodes: 2, the dashed line"
        labels = top.get_legend_handles_labels()[1]
        assert "nights: window closed" in labels and "node: window closed" not in labels
    finally:
        from matplotlib import pyplot  # noqa: PLC0415

        pyplot.close(figure)


def test_a_range_that_goes_down_and_a_change_that_breaks_a_limit_are_refused() -> None:
    """Issue 32 item 6: `--actor-duration 5m..1m` was drawn as is, and `--set
    node.limit=abc` reported a frozen cluster as a huge improvement."""
    for args, says in (
        (["--actor-duration", "5m..1m"], "a range goes up"),
        (["--set", "node.limit=abc"], "makes limit 'node' invalid: spec.limit"),
    ):
        result = CliRunner().invoke(
            main, ["forecast", "--snapshot", "examples/cluster.json", *args]
        )
        assert result.exit_code == 2, result.output
        assert says in result.output


def test_a_fail_rate_trips_a_failure_budget_until_its_failures_leave_the_period() -> None:
    """Three nodes, one at a time, a failure budget of 0 judged at once and counted an
    hour; every maintenance breaks its node (--fail-rate 1). n0: approved at 0,
    completed (and broken) at 600, recorded by the pass at 600; from 660 the budget is
    exceeded, until n0's finish leaves the hour: the pass at 600 + 3600 = 4200 admits
    n1, which breaks at 4800; n2 is admitted at 4800 + 3600 = 8400 and finishes at
    9000."""
    budget = {"maxUnhealthy": 0, "afterSeconds": 0, "withinSeconds": 3600}
    snapshot = add_requests(
        Snapshot(
            now=START,
            nodes=nodes(3),
            limits=(limit("node", limit=100, maxConcurrent=1, failureBudget=budget),),
        ),
        None,
        START,
    )
    result = forecast(snapshot, attrs.evolve(TEN_MINUTES, fail_rate=1.0))
    assert sorted(seconds(r.approved_at) for r in result.requests) == [0, 4200, 8400]
    assert result.makespan == 9000
    assert result.failed_nodes == ("n0", "n1", "n2")
    assert result.bottlenecks[0][0] == "FailureBudgetExceeded"
    text = summary_text(result, attrs.evolve(TEN_MINUTES, fail_rate=1.0))
    assert "Left NotReady by their maintenance (3, --fail-rate 1): n0, n1, n2" in text
    # Without failures the same rollout takes 3 waves of 660 s: no draw, same figures.
    calm = forecast(snapshot, TEN_MINUTES)
    assert calm.makespan == 1920 and calm.failed_nodes == ()


def test_a_deadline_missed_in_the_forecast_is_in_its_summary() -> None:
    """One slot: mr-urgent (priority 1) goes first; mr-late's deadline, 5 minutes in,
    passes while it waits: the summary lists it."""
    requests = tuple(
        MaintenanceRequest(
            name=name,
            uid=name,
            creation_timestamp=START,
            spec={"type": "node", "name": node, **extra},
        )
        for name, node, extra in (
            ("mr-urgent", "n0", {"priority": 1}),
            ("mr-late", "n1", {"deadline": "2026-11-25T00:05:00Z"}),
        )
    )
    snapshot = Snapshot(
        now=START,
        nodes=nodes(2),
        limits=(limit("node", limit=100, maxConcurrent=1),),
        requests=requests,
    )
    result = forecast(snapshot, TEN_MINUTES)
    assert result.deadlines_missed == ("mr-late",)
    assert "Deadlines missed (1): mr-late" in summary_text(result, TEN_MINUTES)


def test_outside_gates_keep_what_they_were_read_as() -> None:
    """A firing alert read at the start holds the forecast's admissions for good: the
    request never finishes without help, and the forecast ends instead of running to
    its horizon."""
    gates = {"prometheus": {"url": "http://prometheus:9090", "query": "ALERTS"}}
    snapshot = add_requests(
        Snapshot(
            now=START,
            nodes=nodes(1),
            limits=(limit("node", limit=100, gates=gates),),
            gates=(GateReading("node", GateKind.PROMETHEUS, START, ("ALERTS{}",)),),
        ),
        None,
        START,
    )
    result = forecast(snapshot, TEN_MINUTES)
    assert result.stuck == ("forecast-n0",) and result.passes == 1


def test_what_if_values_may_be_json_with_commas() -> None:
    rate, zone = parse_changes('node.rate={"count":10,"perSeconds":3600},zone-a.maxConcurrent=2')
    assert (rate.field, rate.value) == ("rate", {"count": 10, "perSeconds": 3600})
    assert (zone.limit, zone.value) == ("zone-a", 2)


def test_the_rate_and_freeze_answer_on_the_shipped_example() -> None:
    """docs/forecast.md, "Pacing, freezes and failures": the table's figures."""
    start = load(json.loads(Path("examples/cluster.json").read_text()))
    asked = add_requests(start, None, start.now)
    rate = parse_changes('node.rate={"count":10,"perSeconds":3600}')
    freeze = parse_changes(
        'node.blackouts=[{"start":"2026-12-20T00:00","end":"2027-01-04T00:00",'
        '"timeZone":"Europe/Berlin"}]'
    )
    figures = {}
    for name, snapshot in (
        ("as is", asked),
        ("rate", changed(asked, rate)),
        ("freeze", changed(asked, freeze)),
    ):
        result = forecast(snapshot, Model())
        admitted = sorted(
            r.admitted_at
            for r in result.requests
            if r.admitted_at is not None
            and r.admitted_at >= result.start
            and r.target.startswith("node/")
        )
        busiest = max(
            sum(1 for other in admitted if at <= other < at + timedelta(hours=1)) for at in admitted
        )
        zones_ab = [
            r.finished_at
            for r in result.requests
            if r.name.startswith(("forecast-worker-a", "forecast-worker-b"))
        ]
        last = max(seconds(f, result.start) for f in zones_ab)
        figures[name] = (busiest, len(zones_ab), last, result.makespan)
    assert figures == {
        "as is": (20, 28, 106 * 60, (2 * 24 + 17) * 3600 + 3 * 60),
        "rate": (10, 28, 191 * 60, (2 * 24 + 17) * 3600 + 3 * 60),
        "freeze": (20, 28, 106 * 60, (2 * 24 + 17) * 3600 + 3 * 60),
    }


def test_the_node_conditions_change_no_timing() -> None:
    """The forecast ignores the node lifecycle conditions (DESIGN §8): published or
    turned off, the same approvals and finishes, though the plans differ by them."""
    results = []
    for published in (True, False):
        snapshot = four_under_a_pdb(nodeConditions=published)
        kinds = {type(d).__name__ for d in plan(snapshot).decisions}
        assert ("SetNodeConditions" in kinds) is published
        results.append(forecast(snapshot, PODS_READY_IN_30))
    on, off = results
    assert on.finished and off.finished
    assert [(r.name, r.approved_at, r.finished_at) for r in on.requests] == [
        (r.name, r.approved_at, r.finished_at) for r in off.requests
    ]
    assert on.makespan == off.makespan == 840
