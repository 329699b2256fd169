"""What the policy rejects in a request or a limit, and which layer refuses it at admission.

One table, read three ways: tests/unit/test_validation.py checks that the policy rejects
every row naming the field; tests/integration/test_crds.py feeds every row through the
real API server and expects a refusal at admission for `SCHEMA` rows (and, so that the
table stays honest, an acceptance for `POLICY` rows); tests/unit/test_crd_rules.py
evaluates the CRDs' own CEL rules on every `CEL` row with a CEL evaluator, because the
1.20 test API server ignores CEL. `ACCEPTED_*` are edge cases every layer must accept,
so that the CRD is not stricter than the policy either.
"""

from __future__ import annotations

import enum
import re
from typing import Any

import attrs

INT32_MAX = 2**31 - 1


class RefusedBy(enum.Enum):
    SCHEMA = "the CRD's OpenAPI schema (proven on the 1.20 API server)"
    CEL = "a CEL rule of the CRD (evaluated offline; 1.20 ignores CEL)"
    POLICY = "the policy only (the CRD cannot know: a zone's existence)"


SCHEMA, CEL, POLICY = RefusedBy.SCHEMA, RefusedBy.CEL, RefusedBy.POLICY


@attrs.frozen
class Rejection:
    change: dict[str, Any]
    """Merged into a good spec; a None value removes the field."""
    field: str
    """The field the policy names."""
    refused_by: RefusedBy
    fragment: str = ""
    """Part of the policy's problem text, when the row checks it."""
    server_names: str = ""
    """What the API server's refusal names, when it is not `field` without indices."""

    def spec(self, good: dict[str, Any]) -> dict[str, Any]:
        merged = {**good, **self.change}
        return {key: value for key, value in merged.items() if value is not None}

    @property
    def server_field(self) -> str:
        return self.server_names or re.sub(r"\[[^]]*\]", "", self.field)

    @property
    def id(self) -> str:
        text = f"{self.field}={self.change}"
        return text if len(text) <= 60 else text[:57] + "..."


GOOD_REQUEST: dict[str, Any] = {"type": "node", "name": "worker-1", "state": "Pending"}
GOOD_LIMIT: dict[str, Any] = {"type": "node", "limit": 10}
LIMIT_NAME = "some-limit"
"""The name the table's limits are filed under: not a type, so the original form needs one."""


def _window(**change: Any) -> dict[str, Any]:
    return {"windows": [{"start": "01:00", "end": "02:00", **change}]}


def _blackout(**change: Any) -> dict[str, Any]:
    item = {"start": "2026-12-20T00:00", "end": "2027-01-04T00:00", **change}
    return {"blackouts": [{k: v for k, v in item.items() if v is not None}]}


def _budget(**change: Any) -> dict[str, Any]:
    return {"failureBudget": {"maxUnhealthy": 1, **change}}


def _prometheus(**change: Any) -> dict[str, Any]:
    item = {"url": "http://prometheus.monitoring:9090", "query": "ALERTS", **change}
    return {"gates": {"prometheus": {k: v for k, v in item.items() if v is not None}}}


def _expression(**item: Any) -> dict[str, Any]:
    return {"selector": {"matchExpressions": [{"key": "zone", **item}]}}


REQUEST_REJECTIONS = (
    Rejection({"type": None}, "spec.type", SCHEMA, "required"),
    Rejection({"type": "nod"}, "spec.type", SCHEMA, "'nod' is not one of"),
    Rejection({"type": 3}, "spec.type", SCHEMA, "must be a string"),
    Rejection({"type": "x" * 10_000}, "spec.type", SCHEMA, "(10000 characters)"),
    Rejection({"name": ""}, "spec.name", SCHEMA, "required"),
    Rejection({"name": "Worker_1"}, "spec.name", SCHEMA, "DNS subdomain"),
    Rejection({"name": "x" * 254}, "spec.name", SCHEMA, "DNS subdomain"),
    Rejection({"name": ["a"]}, "spec.name", SCHEMA, "must be a string"),
    # A name of the wrong form for its type fails the CRD's oneOf on spec.
    Rejection({"name": "pool/worker-1"}, "spec.name", SCHEMA, "DNS subdomain", "spec"),
    Rejection({"type": "deployment", "name": "web"}, "spec.name", SCHEMA, "namespace/name", "spec"),
    Rejection({"type": "deployment", "name": "Bad NS/web"}, "spec.name", SCHEMA, "namespace"),
    Rejection({"type": "deployment", "name": "n" * 64 + "/web"}, "spec.name", SCHEMA, "namespace"),
    Rejection(
        {"type": "statefulset", "name": "data/" + "p" * 254},
        "spec.name",
        SCHEMA,
        "DNS subdomain",
        "spec",
    ),
    # Python's `$` matches before a final newline; RE2's and the policy's do not.
    Rejection({"name": "worker-1\n"}, "spec.name", SCHEMA, "DNS subdomain"),
    Rejection({"type": "deployment", "name": "ns\n/web"}, "spec.name", SCHEMA, "namespace"),
    Rejection({"state": "Done"}, "spec.state", SCHEMA, "'Done' is not one of"),
    Rejection({"state": 1}, "spec.state", SCHEMA, "must be a string"),
    Rejection({"priority": "high"}, "spec.priority", SCHEMA, "must be an integer"),
    Rejection({"priority": True}, "spec.priority", SCHEMA, "must be an integer"),
    Rejection({"priority": 2**40}, "spec.priority", SCHEMA, "outside"),
    Rejection({"priority": -(2**31)}, "spec.priority", SCHEMA, "outside"),
    Rejection({"notBefore": "tomorrow"}, "spec.notBefore", SCHEMA, "RFC 3339"),
    Rejection({"notBefore": "2026-12-20T02:00:00"}, "spec.notBefore", SCHEMA, "RFC 3339"),
    Rejection({"notBefore": "2026-12-20 02:00:00Z"}, "spec.notBefore", SCHEMA, "RFC 3339"),
    Rejection({"notBefore": "9999-12-31T23:59:59Z"}, "spec.notBefore", SCHEMA, "1970..8999"),
    Rejection({"notBefore": 1766196000}, "spec.notBefore", SCHEMA, "must be an RFC 3339"),
    Rejection({"deadline": "2026-13-40T02:00:00Z"}, "spec.deadline", SCHEMA, "not a real"),
    Rejection(
        {"notBefore": "2026-12-20T02:00:00Z", "deadline": "2026-12-20T03:00:00+02:00"},
        "spec.deadline",
        CEL,
        "is not after spec.notBefore",
    ),
    Rejection({"requester": "r" * 300}, "spec.requester", SCHEMA, "at most 253"),
    Rejection({"reason": "é" * 2000}, "spec.reason", SCHEMA, "at most 1024"),
    Rejection({"reason": {"a": 1}}, "spec.reason", SCHEMA, "must be a string"),
)

LIMIT_REJECTIONS = (
    Rejection({"type": "nodes"}, "spec.type", SCHEMA),
    Rejection({"type": None}, "spec.type", CEL, "is empty and the name"),
    Rejection({"limit": 101}, "spec.limit", SCHEMA),
    Rejection({"limit": -1}, "spec.limit", SCHEMA),
    Rejection({"limit": "5%"}, "spec.limit", SCHEMA),
    Rejection({"limit": None, "maxConcurrent": None}, "spec.limit", SCHEMA, server_names="spec"),
    Rejection({"maxConcurrent": -2}, "spec.maxConcurrent", SCHEMA),
    Rejection({"maxConcurrent": INT32_MAX + 1}, "spec.maxConcurrent", SCHEMA),
    Rejection({"policies": "NotReady"}, "spec.policies", SCHEMA),
    Rejection({"policies": ["NotReady", "Cordoned"]}, "spec.policies[1]", SCHEMA),
    Rejection({"policies": [["NotReady"]]}, "spec.policies[0]", SCHEMA),
    Rejection({"policies": [{"a": 1}]}, "spec.policies[0]", SCHEMA),
    Rejection(
        {"selector": {"matchLabels": {"zone": 3}}},
        "spec.selector.matchLabels[zone]",
        SCHEMA,
        server_names="spec.selector.matchLabels.zone",
    ),
    Rejection(
        {"selector": {"matchLabels": {"zone": "zone a"}}},
        "spec.selector.matchLabels[zone]",
        SCHEMA,
        "is not a label value",
        server_names="spec.selector.matchLabels.zone",
    ),
    Rejection(
        {"selector": {"matchLabels": {"zone": "a" * 64}}},
        "spec.selector.matchLabels[zone]",
        SCHEMA,
        "(64 characters)",
        server_names="spec.selector.matchLabels.zone",
    ),
    Rejection(_expression(operator="Near"), "spec.selector.matchExpressions[0].operator", SCHEMA),
    Rejection(
        _expression(operator="In", values=[]),
        "spec.selector.matchExpressions[0].values",
        SCHEMA,
        "must not be empty for In",
        "spec.selector.matchExpressions",
    ),
    Rejection(
        _expression(operator="NotIn"),
        "spec.selector.matchExpressions[0].values",
        SCHEMA,
        "must not be empty for NotIn",
        "spec.selector.matchExpressions",
    ),
    Rejection(
        _expression(operator="Exists", values=["a"]),
        "spec.selector.matchExpressions[0].values",
        SCHEMA,
        "must be empty for Exists",
        "spec.selector.matchExpressions",
    ),
    Rejection(
        _expression(operator="In", values=["a", "b c"]),
        "spec.selector.matchExpressions[0].values[1]",
        SCHEMA,
        "'b c' is not a label value",
    ),
    Rejection(
        {"selector": {"matchLabels": {"zone": "a\n"}}},
        "spec.selector.matchLabels[zone]",
        SCHEMA,
        server_names="spec.selector.matchLabels.zone",
    ),
    Rejection(
        _expression(operator="NotIn", values=["-a"]),
        "spec.selector.matchExpressions[0].values[0]",
        SCHEMA,
        "is not a label value",
    ),
    Rejection(_expression(operator="In", key=""), "spec.selector.matchExpressions[0].key", SCHEMA),
    Rejection({"cordon": "yes"}, "spec.cordon", SCHEMA),
    Rejection({"drain": {"timeoutSeconds": 0}}, "spec.drain.timeoutSeconds", SCHEMA),
    Rejection({"drain": {"timeoutSeconds": INT32_MAX + 1}}, "spec.drain.timeoutSeconds", SCHEMA),
    Rejection({"drain": {"force": 1}}, "spec.drain.force", SCHEMA),
    Rejection({"drain": {"podGracePeriodSeconds": -2}}, "spec.drain.podGracePeriodSeconds", SCHEMA),
    Rejection(
        {"drain": {"podGracePeriodSeconds": INT32_MAX + 1}},
        "spec.drain.podGracePeriodSeconds",
        SCHEMA,
    ),
    Rejection(
        {"drain": {"skipWaitForDeleteTimeoutSeconds": 2**53}},
        "spec.drain.skipWaitForDeleteTimeoutSeconds",
        SCHEMA,
    ),
    Rejection({"drain": []}, "spec.drain", SCHEMA),
    Rejection(
        {"infraDrain": {"gracePeriodSeconds": -1}}, "spec.infraDrain.gracePeriodSeconds", SCHEMA
    ),
    Rejection(
        {"infraDrain": {"timeoutSeconds": INT32_MAX + 1}}, "spec.infraDrain.timeoutSeconds", SCHEMA
    ),
    Rejection({"approvedTimeoutSeconds": 0}, "spec.approvedTimeoutSeconds", SCHEMA),
    Rejection({"approvedTimeoutSeconds": INT32_MAX + 1}, "spec.approvedTimeoutSeconds", SCHEMA),
    Rejection({"inProgressTimeoutSeconds": "1h"}, "spec.inProgressTimeoutSeconds", SCHEMA),
    Rejection({"inProgressTimeoutSeconds": 10**12}, "spec.inProgressTimeoutSeconds", SCHEMA),
    Rejection({"minIntervalSeconds": -5}, "spec.minIntervalSeconds", SCHEMA),
    Rejection({"soakSeconds": 1.5}, "spec.soakSeconds", SCHEMA),
    Rejection({"soakSeconds": INT32_MAX + 1}, "spec.soakSeconds", SCHEMA),
    Rejection({"ttlSecondsAfterFinished": -1}, "spec.ttlSecondsAfterFinished", SCHEMA),
    Rejection({"windows": {}}, "spec.windows", SCHEMA),
    Rejection({"windows": [{"start": "25:00", "end": "02:00"}]}, "spec.windows[0].start", SCHEMA),
    Rejection({"windows": [{"start": "24:00", "end": "02:00"}]}, "spec.windows[0].start", SCHEMA),
    Rejection({"windows": [{"start": "01:00", "end": "2am"}]}, "spec.windows[0].end", SCHEMA),
    Rejection(
        {"windows": [{"start": "\u0660\u0661:00", "end": "02:00"}]}, "spec.windows[0].start", SCHEMA
    ),
    Rejection(_window(timeZone="UTC\n"), "spec.windows[0].timeZone", SCHEMA),
    Rejection(_window(days=["Funday"]), "spec.windows[0].days[0]", SCHEMA),
    Rejection(_window(days=[]), "spec.windows[0].days", SCHEMA),
    Rejection(_window(timeZone="../../etc/passwd"), "spec.windows[0].timeZone", SCHEMA),
    Rejection(_window(timeZone="/etc/localtime"), "spec.windows[0].timeZone", SCHEMA),
    Rejection(_window(timeZone="Europe/Berlin "), "spec.windows[0].timeZone", SCHEMA),
    Rejection(_window(timeZone="x" * 300), "spec.windows[0].timeZone", SCHEMA, "at most 64"),
    Rejection(_window(timeZone="x" * 10_000), "spec.windows[0].timeZone", SCHEMA, "at most 64"),
    Rejection({"rate": 10}, "spec.rate", SCHEMA),
    Rejection({"rate": {"count": 10}}, "spec.rate.perSeconds", SCHEMA, "is required"),
    Rejection({"rate": {"perSeconds": 60}}, "spec.rate.count", SCHEMA, "is required"),
    Rejection({"rate": {"count": 0, "perSeconds": 60}}, "spec.rate.count", SCHEMA),
    Rejection({"rate": {"count": 1, "perSeconds": 0}}, "spec.rate.perSeconds", SCHEMA),
    Rejection({"rate": {"count": 1, "perSeconds": 2**31}}, "spec.rate.perSeconds", SCHEMA),
    Rejection({"rate": {"count": "ten", "perSeconds": 60}}, "spec.rate.count", SCHEMA),
    Rejection({"failureBudget": 1}, "spec.failureBudget", SCHEMA),
    Rejection({"failureBudget": {}}, "spec.failureBudget.maxUnhealthy", SCHEMA, "is required"),
    Rejection(_budget(maxUnhealthy=-1), "spec.failureBudget.maxUnhealthy", SCHEMA),
    Rejection(_budget(afterSeconds=-1), "spec.failureBudget.afterSeconds", SCHEMA),
    Rejection(_budget(withinSeconds=0), "spec.failureBudget.withinSeconds", SCHEMA),
    Rejection(_budget(withinSeconds=600), "spec.failureBudget.withinSeconds", CEL, "not more"),
    Rejection(_budget(afterSeconds=90000), "spec.failureBudget.withinSeconds", CEL, "not more"),
    Rejection(_budget(acknowledgedAt="2026-12-20"), "spec.failureBudget.acknowledgedAt", SCHEMA),
    Rejection(
        _budget(acknowledgedAt="2026-12-20T00:00:00"), "spec.failureBudget.acknowledgedAt", SCHEMA
    ),
    Rejection({"type": "deployment", **_budget()}, "spec.failureBudget", CEL, "node limits only"),
    Rejection({"gates": []}, "spec.gates", SCHEMA),
    Rejection(_prometheus(url=None), "spec.gates.prometheus.url", SCHEMA, "is required"),
    Rejection(_prometheus(query=None), "spec.gates.prometheus.query", SCHEMA, "is required"),
    Rejection(_prometheus(url="prometheus:9090"), "spec.gates.prometheus.url", SCHEMA),
    Rejection(_prometheus(url="file:///etc/passwd"), "spec.gates.prometheus.url", SCHEMA),
    Rejection(_prometheus(url="http://a b"), "spec.gates.prometheus.url", SCHEMA),
    Rejection(_prometheus(query="q" * 4097), "spec.gates.prometheus.query", SCHEMA),
    Rejection(_prometheus(timeoutSeconds=0), "spec.gates.prometheus.timeoutSeconds", SCHEMA),
    Rejection(_prometheus(timeoutSeconds=21), "spec.gates.prometheus.timeoutSeconds", SCHEMA),
    # The shape the CRD's pattern allows, but nothing the HTTP client can open.
    Rejection(_prometheus(url="http://prometheus:909O"), "spec.gates.prometheus.url", POLICY),
    Rejection(_prometheus(url="http://prom..monitoring"), "spec.gates.prometheus.url", POLICY),
    Rejection(_prometheus(url="http://[::1"), "spec.gates.prometheus.url", POLICY),
    Rejection(_prometheus(url=f"http://{'p' * 64}.x"), "spec.gates.prometheus.url", POLICY),
    Rejection(_prometheus(query=" "), "spec.gates.prometheus.query", POLICY, "is empty"),
    Rejection({"gates": {"blockingPods": {}}}, "spec.gates.blockingPods.selector", SCHEMA),
    Rejection(
        {"gates": {"blockingPods": {"selector": {}}}},
        "spec.gates.blockingPods.selector",
        CEL,
        "must not be empty",
    ),
    Rejection(
        {"gates": {"blockingPods": {"selector": {"matchLabels": {"app": "a b"}}}}},
        "spec.gates.blockingPods.selector.matchLabels[app]",
        SCHEMA,
        server_names="spec.gates.blockingPods.selector.matchLabels.app",
    ),
    Rejection({"paused": "yes"}, "spec.paused", SCHEMA),
    Rejection({"blackouts": {}}, "spec.blackouts", SCHEMA),
    Rejection(_blackout(end=None), "spec.blackouts[0].end", SCHEMA),
    Rejection(_blackout(start="2026-12-20"), "spec.blackouts[0].start", SCHEMA),
    Rejection(_blackout(start="2026-12-20T00:00:00"), "spec.blackouts[0].start", SCHEMA),
    Rejection(_blackout(start="2026-12-20T00:00Z"), "spec.blackouts[0].start", SCHEMA),
    Rejection(_blackout(start="2026-13-01T00:00"), "spec.blackouts[0].start", SCHEMA),
    Rejection(_blackout(start="1969-12-31T00:00"), "spec.blackouts[0].start", SCHEMA),
    Rejection(_blackout(end="9999-01-01T00:00"), "spec.blackouts[0].end", SCHEMA),
    Rejection(_blackout(start="2026-02-30T00:00"), "spec.blackouts[0].start", CEL),
    Rejection(_blackout(end="2026-12-19T00:00"), "spec.blackouts[0].end", CEL, "not after"),
    Rejection(_blackout(end="2026-12-20T00:00"), "spec.blackouts[0].end", CEL, "not after"),
    Rejection(_blackout(reason="r" * 257), "spec.blackouts[0].reason", SCHEMA, "at most 256"),
    Rejection(_blackout(timeZone="x" * 65), "spec.blackouts[0].timeZone", SCHEMA),
    Rejection(_blackout(timeZone="Mars/Base"), "spec.blackouts[0].timeZone", POLICY),
    # The shape is right, the zone does not exist in the tzdata repairman ships.
    Rejection(_window(timeZone="Mars/Base"), "spec.windows[0].timeZone", POLICY),
    Rejection(_window(timeZone="America"), "spec.windows[0].timeZone", POLICY),
    Rejection(_window(timeZone="Europe/Berln"), "spec.windows[0].timeZone", POLICY),
    # Zones of the host's database that the tzdata package (and so the image) lacks.
    Rejection(_window(timeZone="localtime"), "spec.windows[0].timeZone", POLICY, "tzdata"),
    Rejection(_window(timeZone="posix/Europe/Berlin"), "spec.windows[0].timeZone", POLICY),
    Rejection(_window(timeZone="right/UTC"), "spec.windows[0].timeZone", POLICY),
)

ACCEPTED_REQUESTS: tuple[dict[str, Any], ...] = (
    {"type": "node", "name": "n" * 253},
    {"type": "node", "name": "worker-1.eu-west-1.compute.internal"},
    {"type": "Node", "name": "worker-1", "state": "Approved"},
    {"type": "deployment", "name": "n" * 63 + "/" + "w" * 253},
    {"type": "daemonset", "name": "kube-system/node.exporter"},
    {"type": "node", "name": "worker-1", "priority": INT32_MAX},
    {"type": "node", "name": "worker-1", "priority": -INT32_MAX},
    {"type": "node", "name": "worker-1", "requester": "r" * 253, "reason": "é" * 1024},
    {
        "type": "node",
        "name": "worker-1",
        "notBefore": "2026-12-20T02:00:00+01:00",
        "deadline": "2026-12-20T02:00:00.5Z",
    },
    {"type": "node", "name": "worker-1", "deadline": "8999-12-31T23:59:59Z"},
)

ACCEPTED_LIMITS: tuple[dict[str, Any], ...] = (
    {
        "type": "node",
        "limit": 10,
        "paused": True,
        "blackouts": [
            {
                "start": "2026-12-20T00:00",
                "end": "2027-01-04T00:00",
                "timeZone": "Europe/Berlin",
                "reason": "year-end freeze",
            },
            # Across the fall-back change: 7 hours on the clock, 8 in time.
            {"start": "2026-10-24T22:00", "end": "2026-10-25T05:00", "timeZone": "Europe/Berlin"},
            {"start": "1970-01-01T00:00", "end": "8999-12-31T23:59"},
            # Starts in the hour Europe/Berlin skips: after its end in time, so it
            # covers nothing, but it is no error (the CRD compares the clock readings).
            {"start": "2026-03-29T02:30", "end": "2026-03-29T03:15", "timeZone": "Europe/Berlin"},
        ],
    },
    {"type": "node", "limit": 10, "paused": False, "blackouts": []},
    {"type": "node", "limit": 10, "rate": {"count": 10, "perSeconds": 3600}},
    {"type": "node", "limit": 10, "rate": {"count": INT32_MAX, "perSeconds": INT32_MAX}},
    {"type": "node", "maxConcurrent": INT32_MAX},
    {
        "type": "node",
        "limit": 10,
        "failureBudget": {
            "maxUnhealthy": 0,
            "afterSeconds": 0,
            "withinSeconds": 1,
            "acknowledgedAt": "2026-12-20T02:00:00+01:00",
        },
    },
    {"type": "node", "limit": 10, "failureBudget": {"maxUnhealthy": INT32_MAX}},
    {
        "type": "node",
        "limit": 10,
        "gates": {
            "prometheus": {
                "url": "https://prometheus.monitoring.svc:9090/prefix/",
                "query": 'ALERTS{severity="critical",alertstate="firing"}',
                "timeoutSeconds": 20,
            },
            "blockingPods": {
                "selector": {
                    "matchExpressions": [{"key": "app", "operator": "In", "values": ["backup"]}]
                },
                "namespaceSelector": {"matchLabels": {"team": "storage"}},
            },
        },
    },
    {
        "type": "deployment",
        "limit": 10,
        "gates": {"blockingPods": {"selector": {"matchLabels": {"a": "b"}}}},
    },
    {"type": "node", "limit": 0},
    {
        "type": "node",
        "limit": 100,
        "selector": {
            # No empty value (a valid label value, accepted by the policy: test_validation):
            # the 1.20 test API server, built with a current Go, refuses every empty
            # string in a custom resource, whatever its schema says.
            "matchLabels": {"topology.kubernetes.io/zone": "eu-west-1a"},
            "matchExpressions": [
                {"key": "pool", "operator": "In", "values": ["a.b_c-d", "x" * 63]},
                {"key": "example.com/gpu", "operator": "NotIn", "values": ["none"]},
                {"key": "spot", "operator": "DoesNotExist"},
                {"key": "ready", "operator": "Exists", "values": []},
            ],
        },
    },
    {
        "type": "node",
        "limit": 5,
        "drain": {
            "timeoutSeconds": INT32_MAX,
            "gracePeriodSeconds": INT32_MAX,
            "podGracePeriodSeconds": -1,
            "skipWaitForDeleteTimeoutSeconds": 0,
        },
        "infraDrain": {"timeoutSeconds": INT32_MAX},
        "approvedTimeoutSeconds": INT32_MAX,
        "inProgressTimeoutSeconds": INT32_MAX,
        "minIntervalSeconds": INT32_MAX,
        "soakSeconds": INT32_MAX,
        "ttlSecondsAfterFinished": INT32_MAX,
    },
    {
        "type": "deployment",
        "limit": 50,
        "windows": [
            {"start": "22:00", "end": "24:00", "timeZone": "America/Argentina/ComodRivadavia"},
            {"start": "00:00", "end": "00:00", "days": ["Sun"], "timeZone": "Etc/GMT+5"},
            {"start": "23:59", "end": "00:01", "timeZone": "Etc/GMT-14"},
            {"start": "01:00", "end": "02:00", "timeZone": "US/Pacific"},
        ],
    },
)
