"""DESIGN §3 "Pods that go down in place are charged", as properties (issue 28).

Nodes already under Approved or InProgress maintenance, and the cluster changed under
them since their approval: a drain or cordon added to or taken from the limit, PDBs
created over their pods (several over one), pods relabelled, pods that follow the
cordon. Whatever the plan does next — admit, drain, approve other nodes — invariant 2
and 9 hold as the pods count them (`invariants.budgets_respected`, whose in-place half
charges every ready pod on a node at work to every PDB that selects it), and the gate
passes what did not change. Each defect of issue 28 (2: charged by today's limits; 3:
a pod under several PDBs charged to none; 4: cordon-tolerating pods under a drain not
charged) fails this property when reverted alone.
"""

from __future__ import annotations

from hypothesis import given

from policy import plan
from policy.model import Snapshot
from tests.model import apply
from tests.properties import invariants
from tests.properties.strategies import changed_after_approval


@given(changed_after_approval())
def test_what_goes_down_in_place_stays_charged(snapshot: Snapshot) -> None:
    result = plan(snapshot)
    invariants.budgets_respected(snapshot, result)
    invariants.approvals_drained(snapshot, result)


@given(changed_after_approval())
def test_the_gate_passes_what_did_not_change(snapshot: Snapshot) -> None:
    first = plan(snapshot)
    after = apply(snapshot, first)
    invariants.gate_passes_when_nothing_changed(snapshot, first, after)
    invariants.no_repeated_action(first, plan(after))
