"""The CRDs' CEL rules (x-kubernetes-validations), evaluated offline with a CEL evaluator.

Covers: every rule compiles; every `CEL` row of the policy's rejection table
(tests/rejections.py) is refused by a rule; every edge case the policy accepts, every
example in k8s/examples and every other row passes them all (a rule is never stricter
than the policy); the request's transition rules (type and name immutable, Completed
final) on updates. The 1.20 test API server ignores CEL, so this is the only place
these rules run; what that does and does not prove is in docs/operator.md ("What
admission proves"). The OpenAPI part of the schemas is proven on the real API server
(tests/integration/test_crds.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml

from tests.rejections import (
    ACCEPTED_LIMITS,
    ACCEPTED_REQUESTS,
    GOOD_LIMIT,
    GOOD_REQUEST,
    LIMIT_NAME,
    LIMIT_REJECTIONS,
    REQUEST_REJECTIONS,
    RefusedBy,
)

K8S = Path(__file__).parents[2] / "k8s"
ENVIRONMENT = celpy.Environment()


def schema_of(kind: str) -> dict[str, Any]:
    plural = {"MaintenanceRequest": "maintenancerequests", "MaintenanceLimit": "maintenancelimits"}
    crd = yaml.safe_load((K8S / "crds" / f"{plural[kind]}.yaml").read_text(encoding="utf-8"))
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def rules_in(schema: Mapping[str, Any], path: str = "self") -> Iterator[tuple[str, str, str]]:
    """(path, rule, message) for every rule in the schema."""
    for rule in schema.get("x-kubernetes-validations", ()):
        yield path, rule["rule"], rule.get("message", "")
    for name, child in (schema.get("properties") or {}).items():
        yield from rules_in(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), Mapping):
            yield from rules_in(schema[key], f"{path}[*]")


def broken_rules(
    schema: Mapping[str, Any], value: Any, old: Any = None, path: str = "self"
) -> list[str]:
    """The messages of the rules `value` breaks, as the API server would judge it: a rule
    naming oldSelf runs only on an update, where the old value exists."""
    broken = []
    for rule in schema.get("x-kubernetes-validations", ()):
        transition = "oldSelf" in rule["rule"]
        if transition and old is None:
            continue
        activation = {"self": celpy.json_to_cel(value)}
        if transition:
            activation["oldSelf"] = celpy.json_to_cel(old)
        program = ENVIRONMENT.program(ENVIRONMENT.compile(rule["rule"]))
        try:
            result = program.evaluate(activation)
        except celpy.CELEvalError as error:  # an error is a refusal, as on the server
            result = error
        if not (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            broken.append(f"{path}: {rule.get('message') or rule['rule']}")
    if isinstance(value, Mapping):
        for name, child in (schema.get("properties") or {}).items():
            if name in value:
                older = old.get(name) if isinstance(old, Mapping) else None
                broken += broken_rules(child, value[name], older, f"{path}.{name}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for name, child_value in value.items():
                broken += broken_rules(extra, child_value, None, f"{path}[{name}]")
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            broken += broken_rules(schema["items"], item, None, f"{path}[{index}]")
    return broken


def an_object(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "repairman.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }


KINDS = ("MaintenanceRequest", "MaintenanceLimit")


@pytest.mark.parametrize("kind", KINDS)
def test_every_rule_compiles(kind: str) -> None:
    rules = list(rules_in(schema_of(kind)))
    assert rules, f"{kind} has no CEL rules"
    for path, rule, message in rules:
        assert message, f"{path}: a rule without a message: {rule}"
        ENVIRONMENT.compile(rule)


CEL_ROWS = [row for row in LIMIT_REJECTIONS + REQUEST_REJECTIONS if row.refused_by is RefusedBy.CEL]


@pytest.mark.parametrize("row", CEL_ROWS, ids=lambda row: row.id)
def test_what_only_cel_can_judge_is_refused_by_a_rule(row: Any) -> None:
    if row in LIMIT_REJECTIONS:
        kind, name, good = "MaintenanceLimit", LIMIT_NAME, GOOD_LIMIT
    else:
        kind, name, good = "MaintenanceRequest", "mr", GOOD_REQUEST
    assert broken_rules(schema_of(kind), an_object(kind, name, row.spec(good)))


def accepted() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for spec in ACCEPTED_REQUESTS:
        yield "MaintenanceRequest", "mr", spec
    for spec in ACCEPTED_LIMITS:
        yield "MaintenanceLimit", LIMIT_NAME, spec
    # The original form: a limit named after its type needs no spec.type.
    yield "MaintenanceLimit", "node", {"limit": 5, "policies": ["NotReady"]}
    for path in sorted((K8S / "examples").glob("*.yaml")):
        body = yaml.safe_load(path.read_text(encoding="utf-8"))
        metadata = body["metadata"]
        yield body["kind"], metadata.get("name", metadata.get("generateName", "")), body["spec"]


@pytest.mark.parametrize(("kind", "name", "spec"), list(accepted()), ids=lambda v: str(v)[:40])
def test_no_rule_refuses_what_the_policy_accepts(kind: str, name: str, spec: Any) -> None:
    assert broken_rules(schema_of(kind), an_object(kind, name, spec)) == []


@pytest.mark.parametrize(
    ("old", "new", "broken"),
    [
        ({"state": "Pending"}, {"state": "InProgress"}, False),
        ({"state": "InProgress"}, {"state": "Completed"}, False),
        ({"state": "Completed"}, {"state": "Completed", "reason": "done"}, False),
        ({"state": "Completed"}, {"state": "Pending"}, True),
        ({"state": "Completed"}, {"state": "InProgress"}, True),
        ({}, {"name": "worker-2"}, True),
        ({}, {"type": "Node"}, True),
    ],
)
def test_request_transition_rules(old: dict[str, Any], new: dict[str, Any], broken: bool) -> None:
    before = an_object("MaintenanceRequest", "mr", {**GOOD_REQUEST, **old})
    after = an_object("MaintenanceRequest", "mr", {**GOOD_REQUEST, **old, **new})
    assert bool(broken_rules(schema_of("MaintenanceRequest"), after, before)) is broken
