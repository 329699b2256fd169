"""`kubectl repairman explain` for a node: its lifecycle conditions (ours and anyone
else's, and what the next pass writes), and the table of the pods left on it: each
with its PDBs and what the Eviction API would do with it, by the rules the drain
follows."""

import attrs

from policy import plan
from policy.model import CORDONED_BY, LabelSelector, NodeCondition, RequestState, Snapshot
from repairman.plugin import _node_conditions, _pods_and_budgets
from tests.helpers import NOW, active, ago, app_pod, limit, nodes, pdb, request


def test_each_pod_says_what_the_eviction_api_would_do() -> None:
    snapshot = Snapshot(
        now=NOW,
        nodes=nodes(1),
        pods=(
            app_pod("web-ok", "n0", "web"),
            app_pod("web-crash", "n0", "web", ready=False),
            app_pod("web-pull", "n0", "web", phase="Pending", ready=False),
            app_pod("db-crash", "n0", "db", ready=False),
            app_pod("lone", "n0", "lone", owner_kind=None),
            app_pod("old", "n0", "web", deletion_timestamp=ago(seconds=5)),
            app_pod("agent", "n0", "agent", owner_kind="DaemonSet"),
        ),
        pdbs=(
            pdb("web", "web", allowed=0, current_healthy=2, desired_healthy=2),
            pdb("db", "db", allowed=1, current_healthy=1, desired_healthy=2),
            attrs.evolve(pdb("all-db", "db", allowed=1), selector=LabelSelector({"app": "db"})),
        ),
    )
    rows = {line.split()[0]: line for line in _pods_and_budgets(snapshot, "n0").splitlines()[3:]}
    assert sorted(rows) == [
        "ns/db-crash",
        "ns/lone",
        "ns/old",
        "ns/web-crash",
        "ns/web-ok",
        "ns/web-pull",
    ]
    assert "web (allows 0)" in rows["ns/web-ok"] and rows["ns/web-ok"].endswith("spends 1")
    assert "Running, unready" in rows["ns/web-crash"]
    assert rows["ns/web-crash"].endswith("free (unready, PDB at its healthy count)")
    assert rows["ns/web-pull"].endswith("free (Pending: no PDB check)")
    assert rows["ns/db-crash"].endswith("refused (several PDBs)")
    assert "(no controller)" in rows["ns/lone"] and rows["ns/lone"].endswith("no PDB")
    assert "terminating" in rows["ns/old"]


def test_the_node_conditions_are_shown_with_what_the_next_pass_writes() -> None:
    theirs = NodeCondition("MaintenancePlanned", "True", "RackMove", "ops: rack 12")
    ours = NodeCondition(
        "DrainInProgress", "True", "RepairmanPreparing", "repairman: mr-a is draining the node"
    )
    snapshot = Snapshot(
        now=NOW,
        nodes=(
            attrs.evolve(
                nodes(1)[0],
                unschedulable=True,
                annotations={CORDONED_BY: "mr-a"},
                conditions=(ours, theirs),
            ),
        ),
        limits=(limit("node", limit=100, cordon=True),),
        requests=(
            request(
                "mr-a",
                "n0",
                status=active(RequestState.APPROVED, "node/n0", approved_at=ago(minutes=1)),
            ),
        ),
    )
    text = _node_conditions(snapshot, plan(snapshot), "n0")
    lines = text.strip().splitlines()
    assert lines[0] == "Node conditions on n0:"
    assert lines[2].split()[:3] == ["MaintenancePlanned", "True", "RackMove"]
    assert lines[2].endswith("ops: rack 12 (not repairman's: left alone)")
    assert lines[3].split()[:3] == ["DrainInProgress", "True", "RepairmanPreparing"]
    assert lines[4] == (
        "The next pass writes: DrainInProgress=False (RepairmanApproved), "
        "MaintenanceInProgress=True (RepairmanApproved)"
    )
    bare = Snapshot(now=NOW, nodes=nodes(1))
    assert _node_conditions(bare, plan(bare), "n0").strip().endswith("none")
