"""Cordon ownership (policy/cordons.py): released when the request is withdrawn or
deleted, never lifted when someone else cordoned, taken over from a finished request.
"""

from __future__ import annotations

import attrs

from policy import (
    CORDONED_BY,
    CORDONED_BY_UID,
    Cordon,
    Reason,
    RequestState,
    Snapshot,
    Uncordon,
    plan,
)
from policy.model import Node, RequestStatus
from tests.helpers import (
    DRAINING_LIMIT,
    NOW,
    active,
    ago,
    limit,
    nodes,
    request,
)
from tests.model import apply

S = RequestState


def test_withdrawn_while_preparing_and_deleted_request_uncordon() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=(
            Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-a"}),
            Node("n1", unschedulable=True, annotations={CORDONED_BY: "mr-gone"}),
            Node("n2", unschedulable=True),  # an admin's cordon
        ),
        limits=(DRAINING_LIMIT,),
        requests=(request("mr-a", "n0", state="Completed", status=active(S.PREPARING, "node/n0")),),
    )
    result = plan(snap)
    assert result.explanation("mr-a").state is S.COMPLETED
    assert result.explanation("mr-a").reason is Reason.WITHDRAWN
    uncordons = {d.node: d.reason for d in result.decisions if isinstance(d, Uncordon)}
    assert uncordons == {"n0": "mr-a is Completed", "n1": "mr-gone no longer exists"}


def test_admin_cordoned_node_is_never_uncordoned() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=(Node("n0", unschedulable=True), *nodes(3, prefix="m")),
        limits=(limit("node", limit=50, cordon=True),),
        requests=(request("mr-a", "n0"),),
    )
    first = plan(snap)
    assert not any(isinstance(d, Cordon) for d in first.decisions)
    assert first.explanation("mr-a").state is S.APPROVED
    snap = apply(snap, first)
    done = attrs.evolve(
        snap,
        requests=tuple(
            attrs.evolve(r, spec={**r.spec, "state": "InProgress"}) for r in snap.requests
        ),
    )
    done = apply(done, plan(done))
    done = attrs.evolve(
        done,
        requests=tuple(
            attrs.evolve(r, spec={**r.spec, "state": "Completed"}) for r in done.requests
        ),
    )
    final = plan(done)
    assert final.explanation("mr-a").state is S.COMPLETED
    assert not any(isinstance(d, Uncordon) for d in final.decisions)


def test_cordon_of_a_finished_request_is_taken_over() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=(
            Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-old"}),
            *nodes(3, prefix="m"),
        ),
        limits=(limit("node", limit=50, cordon=True),),
        requests=(
            request(
                "mr-old",
                "n0",
                status=RequestStatus(
                    state=S.COMPLETED, target="node/n0", finished_at=ago(minutes=1)
                ),
            ),
            request("mr-new", "n0"),
        ),
    )
    result = plan(snap)
    assert Cordon(node="n0", request="mr-new") in result.decisions
    assert not any(isinstance(d, Uncordon) for d in result.decisions)


def test_a_claim_on_a_node_someone_else_uncordoned_is_dropped_so_a_later_cordon_stays() -> None:
    # mr-a is InProgress on n0; an administrator ran `kubectl uncordon n0` (our
    # annotation stays). The pass drops the annotation only. When the administrator
    # cordons n0 again later, the cordon is theirs: mr-a's end does not lift it.
    status = active(S.IN_PROGRESS, "node/n0", approved_at=ago(minutes=5), started_at=NOW)
    snap = Snapshot(
        now=NOW,
        nodes=(Node("n0", annotations={CORDONED_BY: "mr-a"}), *nodes(3, prefix="m")),
        limits=(DRAINING_LIMIT,),
        requests=(request("mr-a", "n0", state="InProgress", status=status),),
    )
    result = plan(snap)
    dropped = [d for d in result.decisions if isinstance(d, Uncordon)]
    assert [(d.node, d.request, d.unschedulable) for d in dropped] == [("n0", "mr-a", False)]
    after = apply(snap, result)
    assert not next(n for n in after.nodes if n.name == "n0").annotations.get(CORDONED_BY)
    recordoned = attrs.evolve(
        after,
        nodes=tuple(
            attrs.evolve(n, unschedulable=True) if n.name == "n0" else n for n in after.nodes
        ),
        requests=tuple(
            attrs.evolve(r, spec={**r.spec, "state": "Completed"}) for r in after.requests
        ),
    )
    finished = plan(recordoned)
    assert finished.explanation("mr-a").state is S.COMPLETED
    assert not [d for d in finished.decisions if isinstance(d, Uncordon)]


# --- a request deleted and filed again under its name is another request -----------------


def _reused(on: str) -> Snapshot:
    """n0 cordoned for mr-a (uid uid-old), which was deleted; another actor filed a new
    mr-a (uid uid-mr-a) for `on` before this pass."""
    return Snapshot(
        now=NOW,
        nodes=(
            Node(
                "n0",
                unschedulable=True,
                annotations={CORDONED_BY: "mr-a", CORDONED_BY_UID: "mr-a/uid-old"},
            ),
            *nodes(3, prefix="m"),
        ),
        limits=(limit("node", limit=50, cordon=True),),
        requests=(request("mr-a", on),),
    )


def test_a_name_filed_again_does_not_keep_the_old_cordon() -> None:
    result = plan(_reused("m0"))
    (released,) = [d for d in result.decisions if isinstance(d, Uncordon)]
    assert (released.node, released.request, released.uid) == ("n0", "mr-a", "uid-old")
    assert "another request was filed under its name" in released.reason
    (cordoned,) = [d for d in result.decisions if isinstance(d, Cordon)]
    assert (cordoned.node, cordoned.uid) == ("m0", "uid-mr-a")


def test_a_name_filed_again_for_the_same_node_takes_the_cordon_over() -> None:
    result = plan(_reused("n0"))
    assert not any(isinstance(d, Uncordon) for d in result.decisions)
    (cordoned,) = [d for d in result.decisions if isinstance(d, Cordon)]
    assert (cordoned.node, cordoned.request, cordoned.uid) == ("n0", "mr-a", "uid-mr-a")


def test_a_cordon_without_a_uid_is_judged_by_name_as_before() -> None:
    snap = _reused("m0")
    legacy = attrs.evolve(snap.nodes[0], annotations={CORDONED_BY: "mr-a"})
    result = plan(attrs.evolve(snap, nodes=(legacy, *snap.nodes[1:])))
    assert not any(isinstance(d, Uncordon) and d.node == "n0" for d in result.decisions)


def _working(annotations: dict[str, str], state: RequestState = S.IN_PROGRESS) -> Snapshot:
    """mr-b (uid uid-mr-b) is `state` on n0, which is cordoned with `annotations`."""
    return Snapshot(
        now=NOW,
        nodes=(Node("n0", unschedulable=True, annotations=annotations), *nodes(3, prefix="m")),
        limits=(limit("node", limit=50, cordon=True),),
        requests=(
            request(
                "mr-b",
                "n0",
                state="InProgress" if state is S.IN_PROGRESS else "Pending",
                status=active(state, "node/n0", approved_at=ago(minutes=2)),
            ),
        ),
    )


def test_a_uid_left_by_an_older_runner_for_another_request_is_ignored() -> None:
    """Review (helper, issue 32): mr-a's cordon, taken over by an older runner for mr-b,
    which wrote the name only: the uid left there names mr-a, so the name decides and
    mr-b keeps its cordon (it was uncordoned while InProgress with a bare uid)."""
    result = plan(_working({CORDONED_BY: "mr-b", CORDONED_BY_UID: "mr-a/uid-mr-a"}))
    assert not any(isinstance(d, Cordon | Uncordon) for d in result.decisions)


def test_a_stale_uid_under_an_active_request_of_that_name_is_taken_over_not_lifted() -> None:
    """The same name filed again, or an administrator's typo in the uid: the request of
    that name holds the node and is active, so the cordon stays and its uid is rewritten
    (fails without: the node is uncordoned under an InProgress request)."""
    for state in (S.APPROVED, S.IN_PROGRESS):
        result = plan(_working({CORDONED_BY: "mr-b", CORDONED_BY_UID: "mr-b/uid-old"}, state))
        assert not any(isinstance(d, Uncordon) for d in result.decisions), state
        (taken,) = [d for d in result.decisions if isinstance(d, Cordon)]
        assert (taken.node, taken.request, taken.uid) == ("n0", "mr-b", "uid-mr-b")
        after = apply(
            _working({CORDONED_BY: "mr-b", CORDONED_BY_UID: "mr-b/uid-old"}, state), result
        )
        assert after.nodes[0].annotations[CORDONED_BY_UID] == "mr-b/uid-mr-b"
        again = plan(after)
        assert not any(isinstance(d, Cordon | Uncordon) for d in again.decisions), state
