"""The node conditions in the plan (policy.node_conditions.publish), case by case; the
table itself is a property (tests/properties/test_node_conditions.py) and so is the
stateful story's check of every pass (tests/properties/test_stateful.py)."""

from __future__ import annotations

import attrs

from policy import SetNodeConditions, Snapshot, plan
from policy.model import CORDONED_BY, RequestState
from tests.helpers import NOW, active, ago, limit, nodes, request


def published(snapshot: Snapshot) -> list[SetNodeConditions]:
    return [d for d in plan(snapshot).decisions if isinstance(d, SetNodeConditions)]


def approved_on_n0(*limits: object) -> Snapshot:
    (node,) = nodes(1)
    return Snapshot(
        now=NOW,
        nodes=(attrs.evolve(node, unschedulable=True, annotations={CORDONED_BY: "mr-a"}),),
        limits=limits,  # type: ignore[arg-type]
        requests=(
            request(
                "mr-a",
                "n0",
                status=active(RequestState.APPROVED, "node/n0", approved_at=ago(minutes=1)),
            ),
        ),
    )


def test_an_approved_request_publishes_its_row() -> None:
    (decision,) = published(approved_on_n0(limit("node", limit=100, cordon=True)))
    assert {c.type: c.status for c in decision.write} == {
        "MaintenancePlanned": "True",
        "MaintenanceInProgress": "True",
    }


def test_a_limit_that_turned_them_off_keeps_them_off_when_made_invalid() -> None:
    """An operator's typo elsewhere in the limit must not publish what they turned
    off: an invalid limit still says nodeConditions false."""
    valid_beside = limit("all", type="node", limit=100, cordon=True)
    assert published(approved_on_n0(valid_beside)) != []
    typo = {"matchExpressions": [{"key": "zone", "operator": "Inn", "values": ["a"]}]}
    for broken in (
        limit("node", limit="lots", nodeConditions=False),
        limit("node", type="node", limit=5, selector=typo, nodeConditions=False),
    ):  # (a typo in `type` makes a limit govern no node: nothing of its applies)
        assert published(approved_on_n0(broken)) == [], broken
        assert published(approved_on_n0(valid_beside, broken)) == [], broken
