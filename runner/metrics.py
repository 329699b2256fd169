"""Prometheus metrics of one runner run, for a job that lives a minute.

A CronJob's pod is gone before anything could scrape it, so the run's metrics are
pushed to a Pushgateway (`--pushgateway URL`) and/or written as a node-exporter
textfile (`--metrics-file PATH`, written atomically) when the run ends:

| metric | labels | what |
|---|---|---|
| repairman_requests | state, reason | requests by state and reason after the last pass |
| repairman_limit_allowed | limit | what each valid limit allows now |
| repairman_limit_in_use | limit | what each limit has in use |
| repairman_limit_held | limit, why | 1 per limit held (paused, blackout, failure-budget, gate) |
| repairman_evictions | result (ok, blocked, failed) | evictions asked in this run |
| repairman_decisions | result | decisions applied in this run, by outcome |
| repairman_passes | | passes in this run |
| repairman_writes | | mutating API requests in this run |
| repairman_api_retries | | API requests retried in this run |
| repairman_pass_duration_seconds | | the last pass |
| repairman_run_duration_seconds | | the whole run |
| repairman_errors | | failed decisions, plus 1 if the run itself failed |
| repairman_last_run_timestamp_seconds | | when this run ended |
| repairman_last_success_timestamp_seconds | | when a run last ended without error |

A failed run has no last-success timestamp and is pushed with POST, which replaces
only the metrics it has, so the last success stays on the Pushgateway: alert on
`time() - repairman_last_success_timestamp_seconds`.
"""

from __future__ import annotations

import time
from collections import Counter

import attrs
from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway, write_to_textfile
from prometheus_client import push_to_gateway as put_to_gateway

from policy import Plan
from policy.decisions import Evict
from runner.apply import Outcome, Result

JOB = "repairman-runner"
EVICTION_RESULTS = {
    Result.DONE: "ok",
    Result.ALREADY_DONE: "ok",
    Result.BLOCKED: "blocked",
    Result.FAILED: "failed",
}


@attrs.define
class RunMetrics:
    started: float = attrs.field(factory=time.monotonic)
    passes: int = 0
    writes: int = 0
    retries: int = 0
    errors: int = 0
    failed: bool = False
    last_pass_seconds: float = 0.0
    evictions: Counter[str] = attrs.field(factory=Counter)
    decisions: Counter[str] = attrs.field(factory=Counter)
    last_plan: Plan | None = None

    def record_pass(self, plan: Plan, outcomes: list[Outcome], writes: int, seconds: float) -> None:
        self.passes += 1
        self.writes += writes
        self.last_pass_seconds = seconds
        self.last_plan = plan
        for outcome in outcomes:
            self.decisions[outcome.result] += 1
            if isinstance(outcome.decision, Evict):
                self.evictions[EVICTION_RESULTS.get(outcome.result, outcome.result)] += 1
            if outcome.result is Result.FAILED:
                self.errors += 1

    def registry(self, *, now: float) -> CollectorRegistry:
        """Every metric of the run; without the last-success timestamp if it failed."""
        registry = CollectorRegistry()

        def gauge(name: str, help_text: str, value: float) -> None:
            Gauge(name, help_text, registry=registry).set(value)

        gauge("repairman_errors", "Failed decisions, plus 1 if the run failed.", self.errors)
        gauge("repairman_last_run_timestamp_seconds", "When this run ended.", now)
        if not self.failed:
            gauge(
                "repairman_last_success_timestamp_seconds",
                "When a run last ended without error.",
                now,
            )
        gauge("repairman_passes", "Passes in this run.", self.passes)
        gauge("repairman_writes", "Mutating API requests in this run.", self.writes)
        gauge("repairman_api_retries", "API requests retried in this run.", self.retries)
        gauge("repairman_pass_duration_seconds", "The last pass.", self.last_pass_seconds)
        gauge("repairman_run_duration_seconds", "The whole run.", time.monotonic() - self.started)
        evictions = Gauge(
            "repairman_evictions", "Evictions in this run.", ["result"], registry=registry
        )
        for result in ("ok", "blocked", "failed"):
            evictions.labels(result).set(self.evictions[result])
        decisions = Gauge(
            "repairman_decisions",
            "Decisions in this run, by outcome.",
            ["result"],
            registry=registry,
        )
        for result, count in sorted(self.decisions.items()):
            decisions.labels(result).set(count)
        requests = Gauge(
            "repairman_requests",
            "Requests by state and reason after the last pass.",
            ["state", "reason"],
            registry=registry,
        )
        allowed = Gauge(
            "repairman_limit_allowed", "What each limit allows now.", ["limit"], registry=registry
        )
        in_use = Gauge(
            "repairman_limit_in_use", "What each limit has in use.", ["limit"], registry=registry
        )
        held = Gauge(
            "repairman_limit_held",
            "1 for each limit a control holds (why: paused, blackout, failure-budget, gate).",
            ["limit", "why"],
            registry=registry,
        )
        if self.last_plan is not None:
            counts = Counter((e.state.value, e.reason.value) for e in self.last_plan.explanations)
            for (state, reason), count in sorted(counts.items()):
                requests.labels(state, reason).set(count)
            for report in self.last_plan.limits:
                if report.valid:
                    allowed.labels(report.name).set(report.allowed)
                    in_use.labels(report.name).set(report.in_use)
                    held.labels(report.name, "paused").set(int(report.paused))
                    held.labels(report.name, "blackout").set(int(bool(report.blackout)))
                    held.labels(report.name, "failure-budget").set(int(bool(report.failure)))
                    held.labels(report.name, "gate").set(int(bool(report.gated)))
        return registry

    def export(self, *, pushgateway: str | None, textfile: str | None) -> list[str]:
        """Push and/or write; returns one line per export that failed (never raises:
        metrics must not fail a pass that did its work)."""
        now = time.time()
        problems = []
        if self.failed:
            self.errors += 1
        if pushgateway:
            # A failed run replaces only the metrics it has (POST): the last success stays.
            push = pushadd_to_gateway if self.failed else put_to_gateway
            try:
                push(pushgateway, job=JOB, registry=self.registry(now=now))
            except OSError as error:
                problems.append(f"push to {pushgateway}: {error}")
        if textfile:
            try:
                write_to_textfile(textfile, self.registry(now=now))
            except OSError as error:
                problems.append(f"write {textfile}: {error.strerror or error}")
        return problems
