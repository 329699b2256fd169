"""What the runner reads from the API's JSON that a 1.20 test server cannot show: a
policy/v1 PDB's empty selector (every pod of its namespace; none in v1beta1), pods
that tolerate the cordon (every form of the toleration), and the Eviction version
named in discovery. The rest of runner/read.py is exercised against the control plane.
"""

from __future__ import annotations

from typing import Any

import pytest

from policy.disruption import BudgetIndex
from policy.model import NodeCondition
from runner.convert import node_of, pdb_of, pod_of
from runner.read import eviction_version
from tests.helpers import app_pod


def _pdb(selector: Any) -> dict[str, Any]:
    spec = {} if selector is ... else {"selector": selector}
    return {
        "metadata": {"namespace": "ns", "name": "web", "generation": 1},
        "spec": spec,
        "status": {"observedGeneration": 1, "disruptionsAllowed": 1},
    }


@pytest.mark.parametrize(
    ("selector", "version", "selects"),
    [
        ({}, "policy/v1", True),  # empty: every pod of the namespace
        ({}, "policy/v1beta1", False),  # empty: none
        ({"matchLabels": {}}, "policy/v1", True),
        ({"matchLabels": {}, "matchExpressions": []}, "policy/v1beta1", False),
        (..., "policy/v1", False),  # no selector at all: none, in both
        (..., "policy/v1beta1", False),
        ({"matchLabels": {"app": "web"}}, "policy/v1", True),
        ({"matchLabels": {"app": "db"}}, "policy/v1", False),
    ],
)
def test_an_empty_pdb_selector_means_what_its_version_says(
    selector: Any, version: str, selects: bool
) -> None:
    index = BudgetIndex.build([pdb_of(_pdb(selector), version)])
    assert bool(index.selecting(app_pod("web-1", "n0", "web"))) is selects


@pytest.mark.parametrize(
    ("toleration", "follows"),
    [
        ({"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}, True),
        (
            {
                "key": "node.kubernetes.io/unschedulable",
                "operator": "Exists",
                "effect": "NoSchedule",
            },
            True,
        ),
        ({"key": "node.kubernetes.io/unschedulable"}, True),  # Equal, no value
        ({"key": "node.kubernetes.io/unschedulable", "value": "x"}, False),
        ({"operator": "Exists"}, True),  # tolerates every taint
        ({"operator": "Exists", "effect": "NoExecute"}, False),
        ({"key": "node.kubernetes.io/unschedulable", "effect": "NoExecute"}, False),
        ({"key": "node.kubernetes.io/not-ready", "operator": "Exists"}, False),
        ("garbage", False),
    ],
)
def test_pods_that_tolerate_the_cordon(toleration: Any, follows: bool) -> None:
    raw = {
        "metadata": {"namespace": "ns", "name": "p", "uid": "u"},
        "spec": {"nodeName": "n0", "tolerations": [toleration]},
        "status": {"phase": "Running"},
    }
    assert pod_of(raw).follows_cordon is follows


class _Discovery:
    """Answers GET /api/v1 with the given resources (no server needed for this)."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.resources = resources

    def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        assert (method, path) == ("GET", "/api/v1")
        return {"resources": self.resources}


@pytest.mark.parametrize(
    ("entry", "version"),
    [
        ({"group": "policy", "version": "v1"}, "policy/v1"),  # 1.22+
        ({"group": "policy", "version": "v1beta1"}, "policy/v1beta1"),  # 1.8-1.21
        ({}, "policy/v1beta1"),  # before 1.8: no version named
    ],
)
def test_the_eviction_version_comes_from_discovery(entry: dict[str, str], version: str) -> None:
    resources = [
        {"name": "pods", "kind": "Pod"},
        {"name": "pods/eviction", "kind": "Eviction", **entry},
    ]
    assert eviction_version(_Discovery(resources)) == version  # type: ignore[arg-type]


def test_a_node_keeps_only_its_lifecycle_conditions() -> None:
    """DESIGN §8's four, whoever set them, as they are; Ready and the others stay out
    (Ready is read into `ready`)."""
    node = node_of(
        {
            "metadata": {"name": "n1"},
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True", "reason": "KubeletReady"},
                    {"type": "MemoryPressure", "status": "False"},
                    {"type": "Drained", "status": "True", "reason": "AdminDrained"},
                    {
                        "type": "MaintenancePlanned",
                        "status": "True",
                        "reason": "RepairmanPreparing",
                        "message": "repairman: mr-a is draining the node",
                    },
                ]
            },
        }
    )
    assert node.ready
    assert node.conditions == (
        NodeCondition("Drained", "True", "AdminDrained", ""),
        NodeCondition(
            "MaintenancePlanned",
            "True",
            "RepairmanPreparing",
            "repairman: mr-a is draining the node",
        ),
    )
