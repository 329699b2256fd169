"""`kubectl repairman explain`'s table of the pods left on a node: each with its PDBs
and what the Eviction API would do with it, by the rules the drain follows."""

import attrs

from policy.model import LabelSelector, Snapshot
from repairman.plugin import _pods_and_budgets
from tests.helpers import NOW, ago, app_pod, nodes, pdb


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
