"""The pause between passes of --until-stable (runner.passes.pause_after).

Short while a drain is under way and this run evicted a pod lately (the next round
waits on the pods it evicted and their replacements); a second otherwise, so that a
drain held for long by a budget at 0, or blocked, is not read five times a second.
"""

import attrs

from policy import plan
from policy.decisions import Evict
from policy.model import Snapshot
from runner.apply import Outcome, Result
from runner.passes import (
    FAST_FOR,
    PAUSE_BETWEEN_PASSES,
    PAUSE_WHILE_PODS_GO,
    _new_evictions,
    pause_after,
)
from tests.helpers import NOW, app_pod, limit, nodes, pdb, request

DRAIN = limit("node", limit=100, drain={"timeoutSeconds": 900})


def test_short_while_pods_leave_a_draining_node_after_an_eviction() -> None:
    draining = plan(
        Snapshot(
            now=NOW,
            nodes=nodes(2),
            pods=(app_pod("web-1", "n0", "web"), app_pod("web-2", "n0", "web")),
            pdbs=(pdb("web", "web", allowed=1),),
            limits=(DRAIN,),
            requests=(request("mr-a", "n0"),),
        )
    )
    assert pause_after(draining, since_eviction=0.5) == PAUSE_WHILE_PODS_GO
    assert pause_after(draining, since_eviction=FAST_FOR + 1) == PAUSE_BETWEEN_PASSES


def test_a_second_when_no_drain_waits_on_pods() -> None:
    blocked = plan(
        Snapshot(
            now=NOW,
            nodes=nodes(2),
            pods=(app_pod("shell", "n0", "debug", owner_kind=None),),
            limits=(DRAIN,),
            requests=(request("mr-a", "n0"),),
        )
    )
    assert pause_after(blocked, since_eviction=0.5) == PAUSE_BETWEEN_PASSES
    idle = plan(Snapshot(now=NOW, nodes=nodes(2), limits=(DRAIN,)))
    assert pause_after(idle, since_eviction=0.5) == PAUSE_BETWEEN_PASSES


def test_a_pod_recreated_under_its_name_does_not_keep_the_passes_fast() -> None:
    evict = Evict(namespace="ns", pod="job-0", uid="u1", node="n0", request="mr-a", pdb=None)
    evicted: set[str] = set()
    assert _new_evictions([Outcome(evict, Result.DONE)], evicted)
    again = attrs.evolve(evict, uid="u2")  # the same name, bound again to the node
    assert not _new_evictions([Outcome(again, Result.DONE)], evicted)
    refused = attrs.evolve(evict, pod="web-0")
    assert not _new_evictions([Outcome(refused, Result.BLOCKED)], evicted)
