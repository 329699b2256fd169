"""Which pods a drain moves and which PDBs guard them (policy/disruption.py), as tables.

Covers: every pod disposition under each drain option, what maintenance without a
drain disrupts, and which PDBs select a pod (namespace, labels, expressions, none).
Leaves out spending budgets (test_ledger.py) and the drain's steps (test_preparation.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from policy.disruption import (
    BudgetIndex,
    EvictionBudget,
    PodDisposition,
    disposition,
    eviction_budget,
    goes_down_in_place,
    gone_before,
)
from policy.limit_spec import DrainSpec
from policy.model import LabelSelector, LabelSelectorRequirement, Pod, PodDisruptionBudget
from tests.helpers import NOW, app_pod, pdb

D = PodDisposition
PLAIN, FORCE, EMPTY_DIR = DrainSpec(), DrainSpec(force=True), DrainSpec(delete_empty_dir_data=True)


@pytest.mark.parametrize(
    ("fields", "drain", "expected"),
    [
        ({}, PLAIN, D.EVICTABLE),
        ({"mirror": True}, PLAIN, D.IGNORED),
        ({"owner_kind": "DaemonSet"}, PLAIN, D.IGNORED),
        ({"phase": "Succeeded"}, PLAIN, D.IGNORED),
        ({"phase": "Failed", "owner_kind": None}, PLAIN, D.IGNORED),
        ({"deletion_timestamp": NOW}, PLAIN, D.TERMINATING),
        ({"owner_kind": None}, PLAIN, D.UNMANAGED),
        ({"owner_kind": None}, FORCE, D.EVICTABLE),
        ({"owner_kind": None}, None, D.UNMANAGED),
        ({"empty_dir": True}, PLAIN, D.KEEPS_EMPTY_DIR),
        ({"empty_dir": True}, EMPTY_DIR, D.EVICTABLE),
        ({"empty_dir": True, "owner_kind": None}, EMPTY_DIR, D.UNMANAGED),
        ({"owner_kind": "StatefulSet", "ready": False}, PLAIN, D.EVICTABLE),
    ],
)
def test_disposition(fields: dict[str, object], drain: DrainSpec | None, expected: D) -> None:
    assert disposition(app_pod("p", "n0", "web", **fields), drain) is expected


@pytest.mark.parametrize(
    ("fields", "without_drain", "with_drain"),
    [
        ({}, True, False),
        ({"owner_kind": None}, True, False),
        ({"ready": False}, True, False),
        ({"follows_cordon": True}, True, True),
        ({"owner_kind": "DaemonSet"}, True, True),
        ({"mirror": True}, False, False),
        ({"phase": "Succeeded"}, False, False),
        ({"deletion_timestamp": NOW}, False, False),
        ({"owner_kind": "DaemonSet", "deletion_timestamp": NOW}, False, False),
    ],
)
def test_goes_down_in_place(
    fields: dict[str, object], without_drain: bool, with_drain: bool
) -> None:
    pod = app_pod("p", "n0", "web", **fields)
    assert goes_down_in_place(pod, None) is without_drain
    assert goes_down_in_place(pod, PLAIN) is with_drain


def _budget(
    name: str, selector: LabelSelector | None, namespace: str = "ns"
) -> PodDisruptionBudget:
    return PodDisruptionBudget(namespace=namespace, name=name, selector=selector)


def test_budgets_selecting_a_pod() -> None:
    index = BudgetIndex.build(
        [
            pdb("web", "web", allowed=1),
            pdb("web-too", "web", allowed=1),
            _budget("other-namespace", LabelSelector({"app": "web"}), namespace="team"),
            _budget("none", None),
            _budget(
                "tier", LabelSelector({}, (LabelSelectorRequirement("tier", "In", ("front",)),))
            ),
            _budget("everything", LabelSelector({})),
        ]
    )
    web = app_pod("w", "n0", "web")
    front = Pod("ns", "f", "uid-f", "n0", labels={"app": "api", "tier": "front"})
    elsewhere = Pod("team", "x", "uid-x", "n0", labels={"app": "db"})
    assert [p.name for p in index.selecting(web)] == ["everything", "web", "web-too"]
    assert [p.name for p in index.selecting(front)] == ["everything", "tier"]
    assert index.selecting(elsewhere) == ()


def test_a_terminating_pod_on_a_dead_node_counts_as_gone_past_the_wait() -> None:
    drain = DrainSpec(skip_wait_for_delete_timeout_seconds=60)
    old = app_pod("p", "n0", "web", deletion_timestamp=NOW - timedelta(seconds=61))
    new = app_pod("q", "n0", "web", deletion_timestamp=NOW - timedelta(seconds=59))
    cutoff = gone_before(node_ready=False, drain=drain, now=NOW)
    assert disposition(old, drain, cutoff) is D.GONE
    assert disposition(new, drain, cutoff) is D.TERMINATING
    # A Ready node's kubelet finishes deletions; 0 is never (kubectl's flag); no clock.
    assert gone_before(node_ready=True, drain=drain, now=NOW) is None
    never = DrainSpec(skip_wait_for_delete_timeout_seconds=0)
    assert gone_before(node_ready=False, drain=never, now=NOW) is None
    assert gone_before(node_ready=False, drain=drain, now=None) is None


@pytest.mark.parametrize(
    ("fields", "budget", "expected"),
    [
        ({"phase": "Pending", "ready": False}, {}, EvictionBudget.PENDING),
        (
            {"ready": False},
            {"current_healthy": 2, "desired_healthy": 2},
            EvictionBudget.UNHEALTHY_AT_HEALTHY_COUNT,
        ),
        ({"ready": False}, {"current_healthy": 1, "desired_healthy": 2}, EvictionBudget.SPENDS),
        # desiredHealthy 0: the API server checks the budget (eviction.go).
        ({"ready": False}, {"current_healthy": 0, "desired_healthy": 0}, EvictionBudget.SPENDS),
        (
            {"ready": False},
            {
                "current_healthy": 0,
                "desired_healthy": 2,
                "unhealthy_pod_eviction_policy": "AlwaysAllow",
            },
            EvictionBudget.UNHEALTHY_ALWAYS_ALLOW,
        ),
        # Any other value behaves as IfHealthyBudget.
        (
            {"ready": False},
            {"current_healthy": 1, "desired_healthy": 2, "unhealthy_pod_eviction_policy": "Later"},
            EvictionBudget.SPENDS,
        ),
        ({}, {"current_healthy": 3, "desired_healthy": 2}, EvictionBudget.SPENDS),
    ],
)
def test_how_the_eviction_api_weighs_a_pod(
    fields: dict[str, object], budget: dict[str, object], expected: EvictionBudget
) -> None:
    pod = app_pod("p", "n0", "web", **fields)
    assert eviction_budget(pod, (pdb("web", "web", allowed=0, **budget),)) is expected


def test_no_pdb_and_several_pdbs() -> None:
    pod = app_pod("p", "n0", "web")
    assert eviction_budget(pod, ()) is EvictionBudget.NO_PDB
    two = (pdb("a", "web", allowed=1), pdb("b", "web", allowed=1))
    assert eviction_budget(pod, two) is EvictionBudget.SEVERAL_PDBS
    pending = app_pod("p", "n0", "web", phase="Pending")
    assert eviction_budget(pending, two) is EvictionBudget.PENDING
