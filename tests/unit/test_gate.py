"""The approval gate (policy/gate.py): what each approval relies on, and each way a
fresh read refuses it — a pod that arrived, a budget spent by someone else, a pod now
under two PDBs, a limit edited, deleted, broken or new, a window closed by the gate's
instant, a cordon lifted or taken.
That it lets through what did not change is a property (tests/properties).
"""

from __future__ import annotations

import attrs
import pytest

from policy import CORDONED_BY, RequestState, Snapshot, UpdateRequestStatus, plan
from policy.gate import (
    Basis,
    BlackoutNow,
    BudgetNotCounted,
    BudgetShortNow,
    CordonLost,
    LimitBroken,
    LimitEdited,
    LimitGone,
    LimitNew,
    LimitRecreated,
    NodeGone,
    PodsStillThere,
    Refusal,
    SeveralBudgetsNow,
    WindowClosedNow,
    recheck,
)
from policy.model import Node, Pod, PodDisruptionBudget
from tests.helpers import NOW, app_pod, limit, nodes, pdb, request
from tests.model import apply

S = RequestState
CORDON_ONLY = limit("node", type="node", limit=50, cordon=True)


def _approval(snap: Snapshot) -> tuple[Basis, Snapshot]:
    result = plan(snap)
    approval = next(
        d
        for d in result.decisions
        if isinstance(d, UpdateRequestStatus) and d.status.state is S.APPROVED
    )
    assert approval.basis is not None
    return approval.basis, apply(snap, result)


def _fresh(
    basis: Basis,
    after: Snapshot,
    *,
    node: Node | None = None,
    pods: tuple[Pod, ...] = (),
    pdbs: tuple[PodDisruptionBudget, ...] | None = None,
    limits: tuple[object, ...] | None = None,
) -> tuple[Refusal, ...]:
    here = next(n for n in after.nodes if n.name == basis.node)
    return recheck(
        basis,
        node=node or here,
        pods=[p for p in after.pods if p.node == basis.node] + list(pods),
        pdbs=after.pdbs if pdbs is None else pdbs,
        limits=after.limits if limits is None else limits,  # type: ignore[arg-type]
    )


def _drainless() -> tuple[Basis, Snapshot]:
    # PDB web allows 2; n0 has one web pod: the approval leaves 1.
    return _approval(
        Snapshot(
            now=NOW,
            nodes=nodes(4),
            pods=(app_pod("web-1", "n0", "web"), app_pod("web-2", "n1", "web")),
            pdbs=(pdb("web", "web", allowed=2),),
            limits=(CORDON_ONLY,),
            requests=(request("mr-a", "n0"),),
        )
    )


def test_an_approval_records_what_it_relied_on() -> None:
    basis, _ = _drainless()
    assert (basis.request, basis.node, basis.cordon, basis.cordoned_by) == (
        "mr-a",
        "n0",
        True,
        "mr-a",
    )
    assert basis.drain is None
    assert [(b.pdb, b.assumed, b.counted, b.left) for b in basis.budgets] == [("ns/web", 2, 1, 1)]
    assert basis.limits == (("node", "uid-node", 1),)


def test_nothing_changed_passes() -> None:
    basis, after = _drainless()
    assert _fresh(basis, after) == ()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # One more web pod bound to n0 after the read: 2 pods, 2 allowed, 1 was left
        # for others: still covered. Two more are not.
        ({"pods": (app_pod("web-3", "n0", "web"),)}, ()),
        (
            {"pods": (app_pod("web-3", "n0", "web"), app_pod("web-4", "n0", "web"))},
            (BudgetShortNow("ns/web", "n0", pods=3, allowed=2, assumed=2),),
        ),
        # Someone else spent the budget: 0 allowed now.
        (
            {"pdbs": (pdb("web", "web", allowed=0),)},
            (BudgetShortNow("ns/web", "n0", pods=1, allowed=0, assumed=2),),
        ),
        # A stale status allows nothing.
        (
            {"pdbs": (pdb("web", "web", allowed=2, generation=2, observed_generation=1),)},
            (BudgetShortNow("ns/web", "n0", pods=1, allowed=0, assumed=2),),
        ),
        # A second PDB selects web pods now: the Eviction API would refuse them.
        (
            {"pdbs": (pdb("web", "web", allowed=2), pdb("web-too", "web", allowed=5))},
            (SeveralBudgetsNow("ns/web-1", ("ns/web", "ns/web-too")),),
        ),
        # A pod of a PDB the plan did not count.
        (
            {
                "pods": (app_pod("db-1", "n0", "db"),),
                "pdbs": (pdb("web", "web", allowed=2), pdb("db", "db", allowed=5)),
            },
            (BudgetNotCounted("ns/db", "n0", pods=1),),
        ),
    ],
)
def test_budgets_on_the_fresh_read(
    change: dict[str, object], expected: tuple[Refusal, ...]
) -> None:
    basis, after = _drainless()
    assert _fresh(basis, after, **change) == expected  # type: ignore[arg-type]
    if expected:
        assert expected[0].message().startswith(("PDB ns/", "ns/web-1 is selected"))


def test_evictions_of_this_pass_are_not_counted_twice() -> None:
    # The pass evicted one web pod elsewhere before this approval: the plan's `left`
    # counts it, and the Eviction API already took it off the status.
    basis, after = _drainless()
    fewer = (pdb("web", "web", allowed=1),)
    assert _fresh(basis, after, pdbs=fewer) == ()  # left 1 + (1 - 2) = 0: still covered
    assert (
        recheck(
            basis,
            node=next(n for n in after.nodes if n.name == "n0"),
            pods=[p for p in after.pods if p.node == "n0"],
            pdbs=(pdb("web", "web", allowed=0),),
            limits=after.limits,
            evicted={"ns/web": 1},
        )
        == ()
    )


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ((), LimitGone("node", "n0")),
        ((attrs.evolve(CORDON_ONLY, generation=2),), LimitEdited("node", 1, 2)),
        # Deleted and created again (kubectl replace --force): generation 1 again.
        ((attrs.evolve(CORDON_ONLY, uid="uid-new"),), LimitRecreated("node")),
        ((limit("node", type="node", limit="lots"),), LimitBroken),
        ((CORDON_ONLY, limit("strict", type="node", limit=1)), LimitNew("strict", "n0")),
    ],
)
def test_limits_on_the_fresh_read(limits: tuple[object, ...], expected: object) -> None:
    basis, after = _drainless()
    (problem,) = _fresh(basis, after, limits=limits)
    if isinstance(expected, type):
        assert isinstance(problem, expected), problem
    else:
        assert problem == expected


def test_a_lifted_or_taken_cordon_refuses() -> None:
    basis, after = _drainless()
    (lifted,) = _fresh(basis, after, node=Node("n0"))
    assert lifted == CordonLost("n0", "mr-a", None)
    assert lifted.message() == "n0 is no longer cordoned for mr-a"
    taken = Node("n0", unschedulable=True, annotations={CORDONED_BY: "mr-other"})
    (lost,) = _fresh(basis, after, node=taken)
    assert lost.message() == "n0 is no longer cordoned for mr-a (cordoned-by names mr-other)"
    assert recheck(basis, node=None, pods=(), pdbs=(), limits=()) == (NodeGone("n0"),)


def test_a_window_closed_by_the_gates_instant_refuses() -> None:
    # Planned at 12:00 inside a window ending 12:05; the pass was slow (retries), and
    # the gate's fresh read is at 12:06.
    window = {"start": "11:00", "end": "12:05", "timeZone": "UTC"}
    windowed = limit("node", type="node", limit=50, cordon=True, windows=[window])
    basis, after = _approval(
        Snapshot(now=NOW, nodes=nodes(2), limits=(windowed,), requests=(request("mr-a", "n0"),))
    )
    here = next(n for n in after.nodes if n.name == "n0")

    def at(minute: int) -> tuple[Refusal, ...]:
        return recheck(
            basis, node=here, pods=(), pdbs=(), limits=after.limits, now=NOW.replace(minute=minute)
        )

    assert at(4) == ()
    (closed,) = at(6)
    assert isinstance(closed, WindowClosedNow) and closed.limit == "node"
    assert closed.message() == "limit node's window is closed (it opens 2026-11-26T11:00:00Z)"
    assert recheck(basis, node=here, pods=(), pdbs=(), limits=after.limits) == ()  # no clock


def test_a_blackout_begun_by_the_gates_instant_refuses() -> None:
    """Review (helper, issue 17): planned at 12:00, a blackout from 12:05; the gate reads
    at 12:06 and refuses, as for a window (fails without: approved in the blackout)."""
    freeze = {"start": "2026-11-25T12:05", "end": "2026-11-25T14:00", "reason": "launch"}
    frozen = limit("node", type="node", limit=50, cordon=True, blackouts=[freeze])
    basis, after = _approval(
        Snapshot(now=NOW, nodes=nodes(2), limits=(frozen,), requests=(request("mr-a", "n0"),))
    )
    here = next(n for n in after.nodes if n.name == "n0")

    def at(minute: int) -> tuple[Refusal, ...]:
        return recheck(
            basis, node=here, pods=(), pdbs=(), limits=after.limits, now=NOW.replace(minute=minute)
        )

    assert at(4) == ()
    (blacked,) = at(6)
    assert isinstance(blacked, BlackoutNow) and blacked.limit == "node"
    assert blacked.message() == "limit node is in a blackout (until 2026-11-25T14:00:00Z)"


def test_with_a_drain_no_pod_may_have_arrived() -> None:
    basis, after = _approval(
        Snapshot(
            now=NOW,
            nodes=nodes(4),
            pods=(app_pod("ds-1", "n0", "ds", owner_kind="DaemonSet"),),
            limits=(limit("node", type="node", limit=50, drain={"timeoutSeconds": 600}),),
            requests=(request("mr-a", "n0"),),
        )
    )
    assert basis.drain is not None and basis.budgets == ()
    assert _fresh(basis, after) == ()
    # A cordon-tolerating pod and a DaemonSet pod stay; a bound-by-name one does not.
    agent = app_pod("agent", "n0", "agent", follows_cordon=True)
    assert _fresh(basis, after, pods=(agent,)) == ()
    late = app_pod("late-1", "n0", "web", owner_kind=None)
    assert _fresh(basis, after, pods=(agent, late)) == (PodsStillThere("n0", ("ns/late-1",)),)


def test_with_a_drain_the_pods_it_leaves_must_fit_their_budgets() -> None:
    """Issue 28 defect 4 at the gate: a cordon-tolerating pod of a PDB that arrived
    after the plan goes down in place with the node: a PDB the plan did not count."""
    basis, after = _approval(
        Snapshot(
            now=NOW,
            nodes=nodes(4),
            limits=(limit("node", type="node", limit=50, drain={"timeoutSeconds": 600}),),
            requests=(request("mr-a", "n0"),),
        )
    )
    agent = app_pod("agent-1", "n0", "agent", follows_cordon=True)
    budgets = (pdb("agent", "agent", allowed=1),)
    assert _fresh(basis, after, pods=(agent,), pdbs=budgets) == (
        BudgetNotCounted("ns/agent", "n0", pods=1),
    )
    assert _fresh(basis, after, pods=(agent,), pdbs=()) == (), "no PDB selects it"
