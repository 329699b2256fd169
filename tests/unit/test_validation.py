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
from tests.rejections import (
    ACCEPTED_LIMITS,
    ACCEPTED_REQUESTS,
    GOOD_LIMIT,
    GOOD_REQUEST,
    LIMIT_NAME,
    LIMIT_REJECTIONS,
    REQUEST_REJECTIONS,
    Rejection,
)


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


@pytest.mark.parametrize("row", REQUEST_REJECTIONS, ids=lambda row: row.id)
def test_request_field_errors(row: Rejection) -> None:
    error = parse_request_spec(row.spec(GOOD_REQUEST))
    assert isinstance(error, FieldError)
    assert error.field == row.field
    assert row.fragment in error.problem
    assert len(str(error)) < 200, "a message quotes at most the start of a long value"


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


@pytest.mark.parametrize("row", LIMIT_REJECTIONS, ids=lambda row: row.id)
def test_limit_field_errors(row: Rejection) -> None:
    result = parse_limit_spec(LIMIT_NAME, row.spec(GOOD_LIMIT))
    assert isinstance(result, InvalidLimit), result
    assert result.error.field == row.field
    assert row.fragment in result.error.problem
    assert len(str(result.error)) < 200, "a message quotes at most the start of a long value"


@pytest.mark.parametrize("spec", ACCEPTED_REQUESTS, ids=str)
def test_edge_requests_are_accepted(spec: dict[str, Any]) -> None:
    assert isinstance(parse_request_spec(spec), RequestSpec)


@pytest.mark.parametrize("spec", ACCEPTED_LIMITS, ids=lambda spec: str(spec)[:60])
def test_edge_limits_are_accepted(spec: dict[str, Any]) -> None:
    assert isinstance(parse_limit_spec(LIMIT_NAME, spec), LimitSpec)


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


def test_an_empty_label_value_is_a_label_value() -> None:
    """Kept out of ACCEPTED_LIMITS: the 1.20 test API server refuses every empty string."""
    spec = parse_limit_spec(
        LIMIT_NAME,
        {
            **GOOD_LIMIT,
            "selector": {
                "matchLabels": {"empty": ""},
                "matchExpressions": [{"key": "pool", "operator": "In", "values": [""]}],
            },
        },
    )
    assert isinstance(spec, LimitSpec)
