"""Approved and InProgress requests (policy/progress.py and the planner's handling of
active requests): both timeouts, spec changes after admission, and an active request
whose target is lost. Leaves out the cordon released at the end (test_cordons.py).
"""

from __future__ import annotations

import attrs

from policy import (
    CORDONED_BY,
    Reason,
    RequestState,
    Snapshot,
    Uncordon,
    plan,
)
from policy.model import Node
from tests.helpers import (
    NOW,
    active,
    ago,
    limit,
    nodes,
    request,
)
from tests.model import advance, apply

S = RequestState


def test_approved_timeout_and_in_progress_timeout() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=(
            Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-a"}),
            Node("n1", unschedulable=True, annotations={CORDONED_BY: "mr-b"}),
            *nodes(2, prefix="m"),
        ),
        limits=(
            limit(
                "node",
                limit=50,
                cordon=True,
                approvedTimeoutSeconds=60,
                inProgressTimeoutSeconds=120,
            ),
        ),
        requests=(
            request(
                "mr-a", "n0", status=active(S.APPROVED, "node/n0", approved_at=ago(seconds=60))
            ),
            request(
                "mr-b",
                "n1",
                state="InProgress",
                status=active(
                    S.IN_PROGRESS, "node/n1", approved_at=ago(hours=1), started_at=ago(seconds=119)
                ),
            ),
        ),
    )
    result = plan(snap)
    assert result.explanation("mr-a").reason is Reason.APPROVED_TIMEOUT
    assert result.explanation("mr-b").state is S.IN_PROGRESS  # one second left
    assert [d.node for d in result.decisions if isinstance(d, Uncordon)] == ["n0"]
    later = plan(advance(snap, 1))
    assert later.explanation("mr-b").reason is Reason.IN_PROGRESS_TIMEOUT
    assert sorted(d.node for d in later.decisions if isinstance(d, Uncordon)) == ["n0", "n1"]


def test_spec_changed_after_admission_is_ignored() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=nodes(4),
        limits=(limit("node", limit=50),),
        requests=(
            request(
                "mr-a",
                "n3",
                state="InProgress",
                status=active(S.IN_PROGRESS, "node/n0", started_at=ago(minutes=1)),
            ),
        ),
    )
    result = plan(snap)
    explanation = result.explanation("mr-a")
    assert explanation.state is S.IN_PROGRESS
    assert explanation.target == "node/n0"
    assert "spec names node/n3, admitted for node/n0" in explanation.message


def test_active_request_whose_target_is_lost_ends_without_a_forbidden_transition() -> None:
    # status.target corrupted and the spec invalid: nothing names the target. Found by
    # the invariant properties: the planner asserted Approved -> Rejected.
    requests = tuple(
        request(
            f"mr-{state.value.lower()}",
            "n0",
            kind="",
            status=active(state, "/n0", approved_at=ago(minutes=1)),
        )
        for state in (S.PREPARING, S.APPROVED, S.IN_PROGRESS)
    )
    result = plan(Snapshot(now=NOW, nodes=nodes(1), requests=requests))
    ends = {e.request: (e.state, e.reason) for e in result.explanations}
    assert ends == {
        "mr-preparing": (S.REJECTED, Reason.INVALID_SPEC),
        "mr-approved": (S.EXPIRED, Reason.INVALID_SPEC),
        "mr-inprogress": (S.EXPIRED, Reason.INVALID_SPEC),
    }


def test_a_preparing_request_that_ends_says_only_why_it_ended() -> None:
    """A request whose spec changed after admission carries a SpecIgnored note while it
    goes on; withdrawn, or its node gone, its message is only why it ended (found by a
    differential review of the planner split: the note had crept onto the ending)."""
    status = active(S.PREPARING, "node/n0")
    withdrawn = request("mr-a", "n1", state="Completed", status=status)
    snap = Snapshot(
        now=NOW,
        nodes=nodes(2),
        limits=(limit("node", type="node", limit=100),),
        requests=(withdrawn,),
    )
    assert plan(snap).explanation("mr-a").message == "withdrawn: withdrawn while preparing"
    invalid = attrs.evolve(withdrawn, spec={"type": "node", "name": "n0", "priority": "high"})
    gone = attrs.evolve(snap, nodes=nodes(2)[1:], requests=(invalid,))
    assert plan(gone).explanation("mr-a").message == "node/n0 vanished while preparing"
    # Still preparing: the note follows.
    going = attrs.evolve(snap, requests=(request("mr-a", "n1", status=status),))
    assert "spec names node/n1, admitted for node/n0" in plan(going).explanation("mr-a").message


def test_completed_declared_while_approved_is_a_completion_and_soaks() -> None:
    """Issue 19 item 2: an actor that starts and finishes between two passes declares
    Completed while the request is still Approved. It had the approval and did the
    work: Completed (reason Completed, saying InProgress was not seen), not Withdrawn;
    the soak rule is the one for any approved request. Before approval, Completed is
    still a withdrawal."""
    approved = active(S.APPROVED, "node/n0", approved_at=ago(seconds=30))
    snap = Snapshot(
        now=NOW,
        nodes=(Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-a"}), *nodes(2)[1:]),
        limits=(limit("node", limit=100, cordon=True, soakSeconds=300),),
        requests=(
            request("mr-a", "n0", state="Completed", status=approved),
            request("mr-b", "n1", state="Completed", status=active(S.PREPARING, "node/n1")),
        ),
    )
    result = plan(snap)
    quick = result.explanation("mr-a")
    assert (quick.state, quick.reason) == (S.COMPLETED, Reason.COMPLETED)
    assert quick.message == (
        "maintenance of node/n0 ended: declared Completed while Approved (InProgress was not seen)"
    )
    assert [d.node for d in result.decisions if isinstance(d, Uncordon)] == ["n0"]
    assert result.explanation("mr-b").reason is Reason.WITHDRAWN
    after = plan(advance(apply(snap, result), 1))
    assert after.limits[0].active == ("mr-a",), "approved: its slot soaks"
    assert "soaks until" in after.explanation("mr-a").message
