"""The planner as a whole (policy/planner.py): a second pass over an applied plan repeats
nothing, and a waiting request's status carries every field when only its explanation
changes. The rules themselves are tested beside their phases (test_admission.py,
test_preparation.py, test_progress.py, test_finishing.py, test_cordons.py), over
generated clusters in tests/properties and in recorded scenarios in tests/replay.
"""

from __future__ import annotations

import attrs

from policy import (
    RequestState,
    Snapshot,
    plan,
)
from policy.model import RequestStatus
from tests.helpers import (
    DRAINING_LIMIT,
    NOW,
    ago,
    app_pod,
    nodes,
    pdb,
    request,
)
from tests.model import apply

S = RequestState


def test_second_pass_on_an_applied_plan_repeats_nothing() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=nodes(4),
        pods=(app_pod("web-1", "n0", "web"),),
        pdbs=(pdb("web", "web", allowed=1),),
        limits=(DRAINING_LIMIT,),
        requests=(request("mr-a", "n0"), request("mr-b", "n1")),
    )
    first = plan(snap)
    second = plan(apply(snap, first))
    assert first.decisions
    assert not [d for d in second.decisions if d in first.decisions]


def test_status_explained_is_evolve_with_every_field_carried() -> None:
    # RequestStatus.explained spells out the constructor: a field added to the class
    # but not to it would be lost (or shifted) silently.
    values = {
        field.name: (
            S.APPROVED
            if field.name == "state"
            else 7
            if field.name == "observed_generation"
            else ago(minutes=index)
            if field.name.endswith(("_at", "_since"))
            else f"value-{index}"
        )
        for index, field in enumerate(attrs.fields(RequestStatus))
    }
    status = RequestStatus(**values)
    assert status.explained("Why", "because", 9) == attrs.evolve(
        status, reason="Why", message="because", observed_generation=9
    )
