"""Every object in k8s/examples/ is valid as the policy reads it, and the original
repairman forms (request-original.yaml, limit-original.yaml, limit-node-original.yaml)
mean what they meant: a node request, Pending; a node limit of that percentage."""

from pathlib import Path

import pytest
import yaml

from policy.limit_spec import LimitSpec, parse_limit_spec
from policy.model import ActorState, TargetType
from policy.validation import RequestSpec, parse_request_spec

EXAMPLES = Path(__file__).parents[2] / "k8s" / "examples"


def load(name: str) -> dict:
    document = yaml.safe_load((EXAMPLES / name).read_text())
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_example_is_valid(name: str) -> None:
    document = load(name)
    if document["kind"] == "MaintenanceRequest":
        assert isinstance(parse_request_spec(document["spec"]), RequestSpec)
    else:
        assert document["kind"] == "MaintenanceLimit"
        parsed = parse_limit_spec(document["metadata"]["name"], document["spec"])
        assert isinstance(parsed, LimitSpec)


def test_the_original_request_form_is_a_pending_node_request() -> None:
    spec = parse_request_spec(load("request-original.yaml")["spec"])
    assert isinstance(spec, RequestSpec)
    assert spec.target.type is TargetType.NODE and spec.target.name == "node1"
    assert spec.state is ActorState.PENDING


def test_an_approved_spec_written_by_the_original_operator_reads_as_pending() -> None:
    spec = parse_request_spec({"name": "node1", "type": "Node", "state": "Approved"})
    assert isinstance(spec, RequestSpec)
    assert spec.state is ActorState.PENDING


@pytest.mark.parametrize(
    ("name", "percent"), [("limit-original.yaml", 5), ("limit-node-original.yaml", 10)]
)
def test_the_original_limit_form_is_a_node_limit(name: str, percent: int) -> None:
    document = load(name)
    spec = parse_limit_spec(document["metadata"]["name"], document["spec"])
    assert isinstance(spec, LimitSpec)
    assert spec.type is TargetType.NODE and spec.percent == percent
    assert spec.allowed(40) == max(1, percent * 40 // 100)
    assert not spec.cordon and spec.drain is None
