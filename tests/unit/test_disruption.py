"""Which pods a drain moves and which PDBs guard them (policy/disruption.py), as tables.

Covers: every pod disposition under each drain option, what maintenance without a
drain disrupts, and which PDBs select a pod (namespace, labels, expressions, none).
Leaves out spending budgets (test_ledger.py) and the drain's steps (test_preparation.py).
"""

from __future__ import annotations

import pytest

from policy.disruption import BudgetIndex, PodDisposition, disposition, disrupted_by_maintenance
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
    ("fields", "disrupted"),
    [
        ({}, True),
        ({"owner_kind": None}, True),
        ({"ready": False}, True),
        ({"mirror": True}, False),
        ({"owner_kind": "DaemonSet"}, False),
        ({"phase": "Succeeded"}, False),
        ({"deletion_timestamp": NOW}, False),
    ],
)
def test_disrupted_by_maintenance(fields: dict[str, object], disrupted: bool) -> None:
    assert disrupted_by_maintenance(app_pod("p", "n0", "web", **fields)) is disrupted


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
