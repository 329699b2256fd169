"""Preparation of admitted requests (policy/preparation.py): a full drain across passes
(cordon, evictions, terminating pods, drainedAt, grace, volume detach, approval),
same-pass approval when nothing is left to prepare, the order of decisions (admission
committed before the cordon, the cordon before approval), and the drain timeout.
Leaves out which pods a drain moves (test_disruption.py).
"""

from __future__ import annotations

import attrs

from policy import (
    CORDONED_BY,
    Cordon,
    Evict,
    Reason,
    RequestState,
    Snapshot,
    UpdateRequestStatus,
    plan,
)
from policy.model import LabelSelector, Node, VolumeAttachment
from tests.helpers import (
    DRAINING_LIMIT,
    NOW,
    active,
    ago,
    app_pod,
    kinds,
    limit,
    nodes,
    pdb,
    request,
    state_of,
)
from tests.model import advance, apply, finish_terminating

S = RequestState


def test_drain_across_passes_until_approved() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=nodes(2),
        pods=(
            app_pod("web-1", "n0", "web"),
            app_pod("web-2", "n1", "web"),
            app_pod("ds-1", "n0", "ds", owner_kind="DaemonSet"),
        ),
        pdbs=(pdb("web", "web", allowed=1),),
        volume_attachments=(VolumeAttachment("va-1", "n0"),),
        limits=(DRAINING_LIMIT,),
        requests=(request("mr-a", "n0"),),
    )
    first = plan(snap)
    assert kinds(first)[:4] == ["UpdateRequestStatus", "SetNodeConditions", "Cordon", "Evict"]
    commit = first.decisions[0]
    assert isinstance(commit, UpdateRequestStatus) and commit.status.state is S.PREPARING
    evict = first.decisions[3]
    assert isinstance(evict, Evict) and evict.pod == "web-1" and evict.pdb == "ns/web"
    snap = apply(snap, first)
    assert state_of(snap, "mr-a") is S.PREPARING

    # The pod is terminating: wait, do not evict again.
    second = plan(advance(snap, 60))
    assert not any(isinstance(d, Evict | Cordon) for d in second.decisions)
    assert second.explanation("mr-a").reason is Reason.DRAINING
    assert "web-1 (terminating)" in second.explanation("mr-a").message

    # The kubelet finished it: drained, grace period of 30 s.
    snap = finish_terminating(advance(snap, 60))
    third = plan(snap)
    assert third.explanation("mr-a").reason is Reason.DRAIN_GRACE
    snap = apply(snap, third)
    drained = next(r for r in snap.requests if r.name == "mr-a").status.drained_at
    assert drained == snap.now

    # After the grace period, the volume is still attached.
    snap = advance(snap, 30)
    fourth = plan(snap)
    assert fourth.explanation("mr-a").reason is Reason.WAITING_FOR_VOLUME_DETACH
    assert "va-1" in fourth.explanation("mr-a").message
    snap = apply(snap, fourth)

    snap = attrs.evolve(snap, volume_attachments=(), now=snap.now + (snap.now - snap.now))
    fifth = plan(snap)
    assert fifth.explanation("mr-a").reason is Reason.DETACH_GRACE
    snap = apply(advance(snap, 10), fifth)
    sixth = plan(snap)
    assert sixth.explanation("mr-a").state is S.APPROVED
    snap = apply(snap, sixth)
    assert state_of(snap, "mr-a") is S.APPROVED
    node = next(n for n in snap.nodes if n.name == "n0")
    assert node.unschedulable and node.annotations[CORDONED_BY] == "mr-a"


def test_nothing_to_prepare_approves_in_the_same_pass() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=nodes(4),
        limits=(limit("node", limit=50),),
        requests=(request("mr-a", "n0"),),
    )
    result = plan(snap)
    assert kinds(result) == ["UpdateRequestStatus", "SetNodeConditions", "UpdateLimitStatus"]
    status = result.decisions[0]
    assert isinstance(status, UpdateRequestStatus)
    assert status.status.state is S.APPROVED
    assert status.status.preparing_since == NOW and status.status.approved_at == NOW


def test_cordon_only_commits_admission_then_cordons_then_approves() -> None:
    snap = Snapshot(
        now=NOW,
        nodes=nodes(4),
        limits=(limit("node", limit=50, cordon=True),),
        requests=(request("mr-a", "n0"),),
    )
    result = plan(snap)
    assert kinds(result)[:3] == ["UpdateRequestStatus", "Cordon", "UpdateRequestStatus"]
    first, _, last = result.decisions[:3]
    assert isinstance(first, UpdateRequestStatus) and first.status.state is S.PREPARING
    assert isinstance(last, UpdateRequestStatus) and last.status.state is S.APPROVED


def test_drain_timeout_expires_and_uncordons() -> None:
    cordoned = Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-a"})
    snap = Snapshot(
        now=NOW,
        nodes=(cordoned, *nodes(3, prefix="m")),
        pods=(app_pod("web-1", "n0", "web"),),
        pdbs=(pdb("web", "web", allowed=0),),
        limits=(DRAINING_LIMIT,),
        requests=(
            request("mr-a", "n0", status=active(S.PREPARING, "node/n0", since=ago(seconds=600))),
        ),
    )
    result = plan(snap)
    assert kinds(result)[:2] == ["UpdateRequestStatus", "Uncordon"]
    assert result.explanation("mr-a").state is S.EXPIRED
    assert result.explanation("mr-a").reason is Reason.DRAIN_TIMEOUT
    assert "ns/web-1" in result.explanation("mr-a").message


def _drained(**times: object) -> Snapshot:
    """mr-a Preparing on n0 (cordoned, ours), drained 20 s ago, in the drain's grace."""
    cordoned = Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-a"})
    status = active(S.PREPARING, "node/n0", since=ago(seconds=120), drained_at=ago(seconds=20))
    return Snapshot(
        now=NOW,
        nodes=(cordoned, *nodes(3, prefix="m")),
        pdbs=(pdb("web", "web", allowed=1),),
        limits=(DRAINING_LIMIT,),
        requests=(request("mr-a", "n0", status=attrs.evolve(status, **times)),),
    )


def test_a_pod_that_arrives_after_the_drain_is_drained_before_approval() -> None:
    # Bound by name to the cordoned node during the drain's grace (or in the volume
    # wait, detachedAt set): evicted like the rest, and both waits start again.
    for detached in (None, ago(seconds=5)):
        snap = attrs.evolve(_drained(detached_at=detached), pods=(app_pod("late-1", "n0", "web"),))
        result = plan(advance(snap, 60))
        evictions = [d for d in result.decisions if isinstance(d, Evict)]
        assert [e.pod for e in evictions] == ["late-1"]
        explanation = result.explanation("mr-a")
        assert explanation.state is S.PREPARING and explanation.reason is Reason.DRAINING
        assert "1 pod arrived after the drain: ns/late-1 (evicting)" in explanation.message
        write = next(d for d in result.decisions if isinstance(d, UpdateRequestStatus))
        assert write.status.drained_at is None and write.status.detached_at is None
        # Gone again: drained anew, with a new grace period, then approved.
        snap = apply(advance(snap, 60), result)
        snap = finish_terminating(snap)
        regrace = plan(snap)
        assert regrace.explanation("mr-a").reason is Reason.DRAIN_GRACE
        snap = apply(snap, regrace)
        detach = plan(advance(snap, 45))
        assert detach.explanation("mr-a").reason is Reason.DETACH_GRACE
        approved = plan(advance(apply(advance(snap, 45), detach), 15))
        assert approved.explanation("mr-a").state is S.APPROVED


def test_a_late_pod_past_the_drain_timeout_expires_the_request() -> None:
    snap = attrs.evolve(_drained(), pods=(app_pod("late-1", "n0", "web"),))
    result = plan(advance(snap, 600))
    assert result.explanation("mr-a").state is S.EXPIRED
    assert result.explanation("mr-a").reason is Reason.DRAIN_TIMEOUT
    assert not any(isinstance(d, Evict) for d in result.decisions)


def test_a_pod_that_follows_the_cordon_is_left_like_a_daemonset_pod() -> None:
    # It tolerates node.kubernetes.io/unschedulable: evicting it would only bring it
    # back; kubectl drain leaves DaemonSet pods for the same reason.
    snap = attrs.evolve(
        _drained(detached_at=ago(seconds=15)),
        pods=(app_pod("agent-1", "n0", "agent", follows_cordon=True),),
    )
    result = plan(advance(snap, 60))
    assert not any(isinstance(d, Evict) for d in result.decisions)
    assert result.explanation("mr-a").state is S.APPROVED


def test_a_preparing_request_whose_limit_became_invalid_is_not_approved() -> None:
    # Fail closed: the invalid limit asks for no drain, which is no reason to approve
    # with the node's pods on it. It waits for the fix, then expires.
    broken = limit("node", type="node", limit="lots", drain={"timeoutSeconds": 600})
    base = attrs.evolve(
        _drained(drained_at=None), pods=(app_pod("web-1", "n0", "web"),), limits=(broken,)
    )
    for limits, reason in (((broken,), Reason.LIMIT_INVALID), ((), Reason.NO_LIMIT)):
        snap = attrs.evolve(base, limits=limits)
        waiting = plan(snap)
        explanation = waiting.explanation("mr-a")
        assert explanation.state is S.PREPARING and explanation.reason is reason
        assert "not approved until it is fixed" in explanation.message
        assert not any(isinstance(d, Evict | Cordon) for d in waiting.decisions)
        late = plan(advance(snap, 900))
        assert late.explanation("mr-a").state is S.EXPIRED
        assert late.explanation("mr-a").reason is reason
        assert kinds(late)[:2] == ["UpdateRequestStatus", "Uncordon"]
    # Fixed in time: preparation goes on.
    fixed = plan(attrs.evolve(base, limits=(DRAINING_LIMIT,)))
    assert any(isinstance(d, Evict) for d in fixed.decisions)


def test_without_a_drain_a_preparing_node_is_approved_only_if_its_budgets_cover_it() -> None:
    # Admitted with one web pod (PDB web allows 1); the approval was deferred (the
    # runner's fresh read, or a volume wait), and a second web pod was bound to n0
    # meanwhile: taking n0 down now would disrupt two. Wait; expire at 900 s.
    cordon_only = limit("node", type="node", limit=50, cordon=True)
    cordoned = Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-a"})
    snap = Snapshot(
        now=NOW,
        nodes=(cordoned, *nodes(3, prefix="m")),
        pods=(app_pod("web-1", "n0", "web"), app_pod("web-2", "n0", "web")),
        pdbs=(pdb("web", "web", allowed=1),),
        limits=(cordon_only,),
        requests=(
            request("mr-a", "n0", status=active(S.PREPARING, "node/n0", since=ago(seconds=60))),
        ),
    )
    waiting = plan(snap)
    explanation = waiting.explanation("mr-a")
    assert explanation.state is S.PREPARING and explanation.reason is Reason.DISRUPTION_BUDGET
    assert "PDB ns/web allows 0 more disruptions, 2 needed" in explanation.message
    covered = plan(attrs.evolve(snap, pods=snap.pods[:1]))
    assert covered.explanation("mr-a").state is S.APPROVED
    late = plan(advance(snap, 900))
    assert late.explanation("mr-a").state is S.EXPIRED
    assert late.explanation("mr-a").reason is Reason.DISRUPTION_BUDGET
    assert kinds(late)[:2] == ["UpdateRequestStatus", "Uncordon"]


def test_approval_needs_an_open_window_and_room_as_admission_does() -> None:
    # mr-a drained in its window; the window closed meanwhile, or the operator froze
    # the limit (limit: 0): the approval waits (DESIGN §4.5: nothing approved outside
    # a window). Preparing requests never hold each other back: with room for one at
    # work, the first of two drained ones is approved.
    drained = active(S.PREPARING, "node/n0", since=ago(minutes=10), drained_at=ago(minutes=5))
    base = limit("node", type="node", maxConcurrent=1, drain={"timeoutSeconds": 3600})
    cordoned = Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-a"})
    snap = Snapshot(
        now=NOW,  # a Wednesday, 12:00 UTC
        nodes=(cordoned, *nodes(3, prefix="m")),
        limits=(base,),
        requests=(request("mr-a", "n0", status=drained),),
    )
    assert plan(snap).explanation("mr-a").state is S.APPROVED
    weekend = attrs.evolve(
        base,
        spec={**base.spec, "windows": [{"days": ["Sat"], "start": "00:00", "end": "06:00"}]},
    )
    closed = plan(attrs.evolve(snap, limits=(weekend,))).explanation("mr-a")
    assert (closed.state, closed.reason) == (S.PREPARING, Reason.WINDOW_CLOSED)
    frozen = attrs.evolve(base, spec={**base.spec, "maxConcurrent": 0})
    held = plan(attrs.evolve(snap, limits=(frozen,))).explanation("mr-a")
    assert (held.state, held.reason) == (S.PREPARING, Reason.LIMIT_REACHED)
    # Two drained (the limit lowered to 1 after both were admitted): one goes.
    cordoned_m0 = Node("m0", unschedulable=True, annotations={CORDONED_BY: "mr-b"})
    two = attrs.evolve(
        snap,
        nodes=(cordoned, cordoned_m0, *nodes(2, prefix="x")),
        requests=(
            *snap.requests,
            request("mr-b", "m0", status=attrs.evolve(drained, target="node/m0")),
        ),
    )
    result = plan(two)
    states = sorted(result.explanation(n).state.value for n in ("mr-a", "mr-b"))
    assert states == ["Approved", "Preparing"]


def test_a_short_grace_override_never_cuts_a_longer_shutdown_another_limit_leaves() -> None:
    # Issue 15 item 4. Two limits govern n0: "fast" evicts with 5 s, "zone" leaves the
    # pods' own grace (DESIGN §2: the longest wins). The database's 600 s shutdown is
    # kept; a pod with 1 s of its own gets the 5 s.
    fast = limit("fast", type="node", limit=100, drain={"podGracePeriodSeconds": 5})
    zone = limit("zone", type="node", limit=100, drain={"podGracePeriodSeconds": -1})
    snap = Snapshot(
        now=NOW,
        nodes=nodes(2),
        pods=(
            app_pod("db-0", "n0", "db", termination_grace_period_seconds=600),
            app_pod("web-0", "n0", "web", termination_grace_period_seconds=1),
        ),
        limits=(fast, zone),
        requests=(request("mr-a", "n0"),),
    )
    graces = {d.pod: d.grace_period_seconds for d in plan(snap).decisions if isinstance(d, Evict)}
    assert graces == {"db-0": None, "web-0": 5}
    alone = attrs.evolve(snap, limits=(fast,))
    graces = {d.pod: d.grace_period_seconds for d in plan(alone).decisions if isinstance(d, Evict)}
    assert graces == {"db-0": 5, "web-0": 5}  # one limit's override is kubectl's --grace-period


def test_without_a_drain_a_pod_under_several_pdbs_bound_since_admission_holds_it() -> None:
    """A pod selected by several PDBs bound to the node after its drain-less admission:
    no budget covers it (the approval gate would refuse the approval every pass, and
    the request hold its slot for ever). It waits naming the pod, and expires at the
    default drain timeout from admission, as a budget that falls short does."""
    two = (
        pdb("web", "web", allowed=5),
        attrs.evolve(pdb("all", "web", allowed=5), selector=LabelSelector()),
    )
    preparing = Snapshot(
        now=NOW,
        nodes=(
            Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-a"}),
            *nodes(3, prefix="m"),
        ),
        pods=(app_pod("web-late", "n0", "web"),),
        pdbs=two,
        limits=(limit("node", type="node", limit=50, cordon=True),),
        requests=(
            request("mr-a", "n0", status=active(S.PREPARING, "node/n0", since=ago(minutes=1))),
        ),
    )
    waiting = plan(preparing).explanation("mr-a")
    assert (waiting.state, waiting.reason) == (S.PREPARING, Reason.MULTIPLE_PDBS), waiting
    assert "ns/web-late" in waiting.message
    late = attrs.evolve(
        preparing,
        requests=(
            request("mr-a", "n0", status=active(S.PREPARING, "node/n0", since=ago(seconds=900))),
        ),
    )
    ended = plan(late).explanation("mr-a")
    assert (ended.state, ended.reason) == (S.EXPIRED, Reason.DISRUPTION_BUDGET), ended
