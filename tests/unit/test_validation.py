"""Request and limit specs judged field by field, and the allowed-count arithmetic.

Covers: every rejected field of a request, every rejected field of a limit (with the
field path in the error), defaults, the original repairman form of a limit, and the
rounding of percent limits. Leaves out how the planner uses the results
(test_planner.py).
"""

from typing import Any

import pytest

from policy.fields import FieldError
from policy.limit_spec import InvalidLimit, LimitSpec, parse_limit_spec
from policy.model import ActorState, TargetType
from policy.validation import RequestSpec, _parse_request_spec, parse_request_spec

GOOD_REQUEST = {"type": "node", "name": "worker-1", "state": "Pending"}


def test_minimal_request_defaults() -> None:
    spec = parse_request_spec({"type": "node", "name": "worker-1"})
    assert isinstance(spec, RequestSpec)
    assert spec.state is ActorState.PENDING
    assert spec.priority == 0
    assert spec.target.key == "node/worker-1"


def test_namespaced_target() -> None:
    spec = parse_request_spec({"type": "statefulset", "name": "data/postgres"})
    assert isinstance(spec, RequestSpec)
    assert spec.target.type is TargetType.STATEFULSET
    assert spec.target.name == "data/postgres"


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"type": None}, "spec.type", "required"),
        ({"type": "nod"}, "spec.type", "'nod' is not one of"),
        ({"type": 3}, "spec.type", "must be a string"),
        ({"name": ""}, "spec.name", "required"),
        ({"name": "Worker_1"}, "spec.name", "DNS subdomain"),
        ({"name": "x" * 254}, "spec.name", "DNS subdomain"),
        ({"name": ["a"]}, "spec.name", "must be a string"),
        ({"type": "deployment", "name": "web"}, "spec.name", "namespace/name"),
        ({"type": "deployment", "name": "Bad NS/web"}, "spec.name", "namespace"),
        ({"state": "Done"}, "spec.state", "'Done' is not one of"),
        ({"state": 1}, "spec.state", "must be a string"),
        ({"priority": "high"}, "spec.priority", "must be an integer"),
        ({"priority": True}, "spec.priority", "must be an integer"),
        ({"priority": 2**40}, "spec.priority", "outside"),
        ({"requester": "r" * 300}, "spec.requester", "at most 253"),
        ({"reason": "é" * 2000}, "spec.reason", "at most 1024"),
        ({"reason": {"a": 1}}, "spec.reason", "must be a string"),
    ],
)
def test_request_field_errors(change: dict[str, Any], field: str, fragment: str) -> None:
    spec = {**GOOD_REQUEST, **change}
    spec = {k: v for k, v in spec.items() if v is not None}
    error = parse_request_spec(spec)
    assert isinstance(error, FieldError)
    assert error.field == field
    assert fragment in error.problem


def test_request_spec_not_an_object() -> None:
    error = parse_request_spec(["node", "worker-1"])
    assert isinstance(error, FieldError)
    assert error.field == "spec"


def test_original_limit_form() -> None:
    spec = parse_limit_spec("node", {"limit": 5, "policies": ["NotReady", "Unschedulable"]})
    assert isinstance(spec, LimitSpec)
    assert spec.type is TargetType.NODE
    assert spec.policies == {"NotReady", "Unschedulable"}
    assert not spec.cordon
    assert spec.drain is None


def test_drain_implies_cordon_and_defaults() -> None:
    spec = parse_limit_spec("zone-a", {"type": "node", "limit": 10, "drain": {}})
    assert isinstance(spec, LimitSpec)
    assert spec.cordon
    assert spec.drain is not None
    assert spec.drain.timeout_seconds == 900
    assert not spec.drain.delete_empty_dir_data


@pytest.mark.parametrize(("given", "override"), [(-1, None), (None, None), (0, 0), (600, 600)])
def test_pod_grace_minus_one_is_the_pods_own_as_in_kubectl(
    given: int | None, override: int | None
) -> None:
    spec = parse_limit_spec(
        "a", {"type": "node", "limit": 10, "drain": {"podGracePeriodSeconds": given}}
    )
    assert isinstance(spec, LimitSpec) and spec.drain is not None
    assert spec.drain.pod_grace_period_seconds == override


GOOD_LIMIT = {"type": "node", "limit": 10}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "nodes"}, "spec.type"),
        ({"limit": 101}, "spec.limit"),
        ({"limit": -1}, "spec.limit"),
        ({"limit": "5%"}, "spec.limit"),
        ({"limit": None, "maxConcurrent": None}, "spec.limit"),
        ({"maxConcurrent": -2}, "spec.maxConcurrent"),
        ({"policies": "NotReady"}, "spec.policies"),
        ({"policies": ["NotReady", "Cordoned"]}, "spec.policies[1]"),
        ({"policies": [["NotReady"]]}, "spec.policies[0]"),
        ({"policies": [{"a": 1}]}, "spec.policies[0]"),
        ({"selector": {"matchLabels": {"zone": 3}}}, "spec.selector.matchLabels[zone]"),
        (
            {"selector": {"matchExpressions": [{"key": "z", "operator": "Near"}]}},
            "spec.selector.matchExpressions[0].operator",
        ),
        (
            {"selector": {"matchExpressions": [{"key": "z", "operator": "In", "values": []}]}},
            "spec.selector.matchExpressions[0].values",
        ),
        ({"cordon": "yes"}, "spec.cordon"),
        ({"drain": {"timeoutSeconds": 0}}, "spec.drain.timeoutSeconds"),
        ({"drain": {"force": 1}}, "spec.drain.force"),
        ({"drain": {"podGracePeriodSeconds": -2}}, "spec.drain.podGracePeriodSeconds"),
        ({"drain": []}, "spec.drain"),
        ({"infraDrain": {"gracePeriodSeconds": -1}}, "spec.infraDrain.gracePeriodSeconds"),
        ({"approvedTimeoutSeconds": 0}, "spec.approvedTimeoutSeconds"),
        ({"inProgressTimeoutSeconds": "1h"}, "spec.inProgressTimeoutSeconds"),
        ({"minIntervalSeconds": -5}, "spec.minIntervalSeconds"),
        ({"soakSeconds": 1.5}, "spec.soakSeconds"),
        ({"ttlSecondsAfterFinished": -1}, "spec.ttlSecondsAfterFinished"),
        ({"windows": {}}, "spec.windows"),
        ({"windows": [{"start": "25:00", "end": "02:00"}]}, "spec.windows[0].start"),
        ({"windows": [{"start": "01:00", "end": "2am"}]}, "spec.windows[0].end"),
        (
            {"windows": [{"start": "01:00", "end": "02:00", "days": ["Funday"]}]},
            "spec.windows[0].days[0]",
        ),
        ({"windows": [{"start": "01:00", "end": "02:00", "days": []}]}, "spec.windows[0].days"),
        (
            {"windows": [{"start": "01:00", "end": "02:00", "timeZone": "Mars/Base"}]},
            "spec.windows[0].timeZone",
        ),
        (
            {"windows": [{"start": "01:00", "end": "02:00", "timeZone": "../../etc/passwd"}]},
            "spec.windows[0].timeZone",
        ),
        (
            {"windows": [{"start": "01:00", "end": "02:00", "timeZone": "America"}]},
            "spec.windows[0].timeZone",
        ),
        (
            {"windows": [{"start": "01:00", "end": "02:00", "timeZone": "x" * 300}]},
            "spec.windows[0].timeZone",
        ),
    ],
)
def test_limit_field_errors(change: dict[str, Any], field: str) -> None:
    spec = {k: v for k, v in {**GOOD_LIMIT, **change}.items() if v is not None}
    result = parse_limit_spec("some-limit", spec)
    assert isinstance(result, InvalidLimit), result
    assert result.error.field == field


def test_invalid_limit_keeps_what_it_governs() -> None:
    result = parse_limit_spec(
        "zone-a",
        {
            "type": "node",
            "limit": 10,
            "selector": {"matchLabels": {"zone": "a"}},
            "soakSeconds": -1,
        },
    )
    assert isinstance(result, InvalidLimit)
    assert result.governs(TargetType.NODE, {"zone": "a"})
    assert not result.governs(TargetType.NODE, {"zone": "b"})
    assert not result.governs(TargetType.DEPLOYMENT, {"zone": "a"})


def test_limit_without_type_named_otherwise_is_invalid() -> None:
    result = parse_limit_spec("weekend", {"limit": 10})
    assert isinstance(result, InvalidLimit)
    assert result.error.field == "spec.type"
    assert not result.governs(TargetType.NODE, {})


@pytest.mark.parametrize(
    ("percent", "max_concurrent", "population", "allowed"),
    [
        (40, None, 2, 1),  # 0.8 rounds down, but at least 1
        (5, None, 10, 1),  # 0.5 -> at least 1
        (5, None, 100, 5),
        (5, None, 119, 5),  # 5.95 rounds down
        (10, None, 0, 0),  # nothing to maintain
        (0, None, 100, 0),  # limit 0 freezes (the original allowed 1)
        (100, None, 7, 7),
        (50, 2, 10, 2),  # maxConcurrent caps
        (10, 5, 20, 2),  # the percent is stricter
        (100, 0, 10, 0),  # maxConcurrent 0 freezes too
    ],
)
def test_allowed(percent: int, max_concurrent: int | None, population: int, allowed: int) -> None:
    spec = {"type": "node", "limit": percent}
    if max_concurrent is not None:
        spec["maxConcurrent"] = max_concurrent
    parsed = parse_limit_spec("l", spec)
    assert isinstance(parsed, LimitSpec)
    assert parsed.allowed(population) == allowed


def test_max_concurrent_alone_means_no_percent_cap() -> None:
    parsed = parse_limit_spec("l", {"type": "node", "maxConcurrent": 3})
    assert isinstance(parsed, LimitSpec)
    assert parsed.allowed(100) == 3


def test_parsed_specs_are_remembered_by_value_and_type() -> None:
    # Specs are parsed once per distinct value (the forecast parses every request every
    # pass). 1, 1.0 and True are equal as dict keys, not as priorities; values that
    # cannot be keys (a list) are parsed every time. Each answer must be the one an
    # uncached parse gives, whatever was parsed before it.
    base = {"type": "node", "name": "worker-1"}
    values: list[Any] = [1, True, 1.0, 1.5, "1", [1], 1, True]
    for value in values:
        spec = {**base, "priority": value}
        assert parse_request_spec(spec) == _parse_request_spec(spec), value
    assert parse_request_spec({**base, "priority": True}) == FieldError(
        "spec.priority", "must be an integer, not a boolean"
    )
