"""runner.read.pods_as_needed reads the pods of the nodes at work and of those the
plan admits, not of the whole queue (issue 16)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import attrs
import pytest

from policy import Plan, plan
from policy.model import LimitStatus, Pod, RequestState, RequestStatus, Snapshot
from runner.kube import KubeError
from runner.read import READERS, pods_as_needed, read_pods
from tests.helpers import NOW, active, ago, app_pod, limit, nodes, pdb, request


def _run(snapshot: Snapshot, pods: tuple[Pod, ...]) -> list[str]:
    """The nodes read, round by round (a round's reads go side by side: in name order
    within it)."""
    rounds: list[list[str]] = [[]]
    lock = threading.Lock()

    def fetch(node: str) -> list[Pod]:
        with lock:
            rounds[-1].append(node)
        return [p for p in pods if p.node == node]

    def planner(current: Snapshot) -> Plan:
        rounds.append([])
        return plan(current)

    _, result = pods_as_needed(fetch, snapshot, planner, {})
    assert result == plan(Snapshot(**{**_fields(snapshot), "pods": pods}))
    return [node for nodes_read in rounds for node in sorted(nodes_read)]


def _fields(snapshot: Snapshot) -> dict[str, object]:
    return {f: getattr(snapshot, f) for f in ("now", "nodes", "pdbs", "limits", "requests")}


def test_a_long_queue_reads_the_pods_of_what_can_be_admitted() -> None:
    queue = tuple(request(f"mr-{i:02}", f"n{i}", created=ago(minutes=60 - i)) for i in range(12))
    pods = tuple(app_pod(f"web-{i}", f"n{i}", "web") for i in range(12))
    snapshot = Snapshot(
        now=NOW,
        nodes=nodes(12),
        limits=(limit("node", type="node", limit=100, maxConcurrent=2, cordon=True),),
        requests=queue,
    )
    assert _run(snapshot, pods) == ["n0", "n1"]


def test_a_candidate_whose_pods_do_not_fit_lets_the_next_one_be_read() -> None:
    """Without a drain: n0's pod is under a PDB that allows nothing, which only its
    pods show. Read, it waits (DisruptionBudget), and n2, next in the queue, is
    admitted and read in its place."""
    queue = tuple(request(f"mr-{i:02}", f"n{i}", created=ago(minutes=60 - i)) for i in range(6))
    pods = (app_pod("db-0", "n0", "db"), app_pod("web-1", "n1", "web"))
    snapshot = Snapshot(
        now=NOW,
        nodes=nodes(6),
        pdbs=(pdb("db", "db", allowed=0), pdb("web", "web", allowed=1)),
        limits=(limit("node", type="node", limit=100, maxConcurrent=2, cordon=True),),
        requests=queue,
    )
    assert _run(snapshot, pods) == ["n0", "n1", "n2"]


def test_nodes_at_work_are_read_first_committing_ones_included() -> None:
    preparing = request("mr-a", "n3", status=active(RequestState.PREPARING, "node/n3"))
    committing = request("mr-b", "n4")  # named in the limit's status.active
    snapshot = Snapshot(
        now=NOW,
        nodes=nodes(6),
        limits=(
            attrs.evolve(
                limit("node", type="node", limit=100, maxConcurrent=2, cordon=True),
                status=LimitStatus(
                    active=("mr-a", "mr-b"), commits=dict.fromkeys(("mr-a", "mr-b"), NOW)
                ),
            ),
        ),
        requests=(preparing, committing, request("mr-c", "n5")),
    )
    assert _run(snapshot, ()) == ["n3", "n4"]


def test_a_committing_request_that_cannot_be_admitted_now_keeps_its_pods_budget() -> None:
    """Another pass committed mr-b (drain-less, named in its limit's status.active)
    and may still write it: its node's pods keep their budget (policy.usage), even
    though this plan cannot admit it (its window has closed since). Its pods must be
    read for that: unread, mr-c would get the budget mr-b holds."""
    closed = attrs.evolve(
        limit(
            "a",
            type="node",
            limit=100,
            cordon=True,
            selector={"matchLabels": {"zone": "a"}},
            windows=[{"start": "01:00", "end": "02:00", "timeZone": "UTC"}],
        ),
        status=LimitStatus(active=("mr-b",), commits=dict.fromkeys(("mr-b",), NOW)),
    )
    other = limit("b", type="node", limit=100, cordon=True, selector={"matchLabels": {"zone": "b"}})
    snapshot = Snapshot(
        now=NOW,
        nodes=(*nodes(1, zone="a"), *nodes(1, zone="b", prefix="m")),
        pdbs=(pdb("web", "web", allowed=1),),
        limits=(closed, other),
        requests=(request("mr-b", "n0"), request("mr-c", "m0")),
    )
    pods = (app_pod("web-0", "n0", "web"), app_pod("web-1", "m0", "web"))
    assert _run(snapshot, pods) == ["n0", "m0"]
    waiting = plan(Snapshot(**{**_fields(snapshot), "pods": pods})).explanation("mr-c")
    assert waiting.state is RequestState.PENDING, waiting


def test_a_waiting_request_with_a_stale_status_target_has_its_spec_node_read() -> None:
    """mr-b waits for n1, but its status names node/n2 (an old or hand-written status):
    it is admitted for n1, so n1's pods are read. They keep it waiting (PDB db allows
    nothing), and mr-c is admitted in its place. Read by the decision's shown target
    (n2), n1 looked empty and mr-b was approved (break-this review 3)."""
    stale = request(
        "mr-b",
        "n1",
        created=ago(minutes=6),
        status=RequestStatus(state=RequestState.PENDING, target="node/n2"),
    )
    snapshot = Snapshot(
        now=NOW,
        nodes=nodes(4),
        pdbs=(pdb("db", "db", allowed=0),),
        limits=(limit("node", type="node", limit=100, maxConcurrent=1),),
        requests=(stale, request("mr-c", "n3", created=ago(minutes=5))),
    )
    read = _run(snapshot, (app_pod("db-1", "n1", "db"),))
    assert "n1" in read, read


def test_an_active_request_without_a_status_target_has_its_spec_node_read() -> None:
    """mr-a is InProgress without drain on n0 but its status lost its target: the plan
    holds the spec's node, and its pod keeps PDB web's budget spent, so mr-b waits.
    Unread, mr-a's pod was charged nothing and mr-b approved (break-this review 3)."""
    working = request(
        "mr-a", "n0", status=attrs.evolve(active(RequestState.IN_PROGRESS, "node/n0"), target=None)
    )
    snapshot = Snapshot(
        now=NOW,
        nodes=nodes(4),
        pdbs=(pdb("web", "web", allowed=1),),
        limits=(limit("node", type="node", limit=100, cordon=True),),
        requests=(working, request("mr-b", "n1")),
    )
    pods = (app_pod("web-0", "n0", "web"), app_pod("web-1", "n1", "web"))
    assert _run(snapshot, pods)[0] == "n0"


def test_the_pods_of_a_deleted_node_under_maintenance_are_read() -> None:
    """Found by the issue 28 review: a node under InProgress maintenance whose Node
    object is gone still has pods bound to it; they are read (and charged)."""
    working = request(
        "mr-x",
        "gone",
        state="InProgress",
        status=active(RequestState.IN_PROGRESS, "node/gone", approved_at=NOW, started_at=NOW),
    )
    snapshot = Snapshot(
        now=NOW,
        nodes=nodes(2),
        limits=(limit("node", type="node", limit=100),),
        requests=(working,),
    )
    assert _run(snapshot, (app_pod("web-0", "gone", "web"),)) == ["gone"]


def test_every_round_plans_no_earlier_than_its_reads_ended() -> None:
    """One loop, each round stamped with the instant its reads ended (the runner passes
    the API server's clock): a node found empty by a read is judged empty from then,
    so a drain's grace is never cut short by the read's own length. Here a clock moves
    a second per pod read; every plan is made at or after the last read it relies on."""
    queue = tuple(request(f"mr-{i:02}", f"n{i}", created=ago(minutes=60 - i)) for i in range(6))
    pods = (app_pod("db-0", "n0", "db"), app_pod("web-1", "n1", "web"))
    snapshot = Snapshot(
        now=NOW,
        nodes=nodes(6),
        pdbs=(pdb("db", "db", allowed=0), pdb("web", "web", allowed=1)),
        limits=(limit("node", type="node", limit=100, maxConcurrent=2, cordon=True),),
        requests=queue,
    )
    clock = [NOW]
    reads: list[object] = []
    plans: list[object] = []

    lock = threading.Lock()

    def fetch(node: str) -> list[Pod]:
        with lock:  # reads go side by side: each one's instant, in the order they end
            clock[0] += timedelta(seconds=1)
            reads.append(clock[0])
        return [p for p in pods if p.node == node]

    def planner(current: Snapshot) -> object:
        plans.append((current.now, len(reads)))
        return plan(current)

    current, _ = pods_as_needed(
        fetch,
        snapshot,
        planner,  # type: ignore[arg-type]
        {},
        ended=lambda read: attrs.evolve(read, now=max(read.now, clock[0])),
    )
    assert len(plans) == 3 and len(reads) == 3
    for at, read_so_far in plans:
        assert read_so_far == 0 or at >= reads[read_so_far - 1]  # type: ignore[operator]
    assert current.now == reads[-1]


def test_nodes_are_read_side_by_side_each_with_its_own_pods() -> None:
    # read_pods hands each node the pods its own read returned, whatever order the
    # readers finish in, with READERS reads under way at once.
    started = threading.Barrier(READERS, timeout=10)

    def fetch(node: str) -> list[Pod]:
        started.wait()  # every reader in flight at once, or this times out
        time.sleep(0.001 * (hash(node) % 5))
        return [app_pod(f"{node}-a", node, "web"), app_pod(f"{node}-b", node, "web")]

    names = [f"n{i}" for i in range(READERS * 5)]
    read = read_pods(fetch, set(names))
    assert sorted(read) == sorted(names)
    assert all({p.node for p in pods} == {node} and len(pods) == 2 for node, pods in read.items())


def test_a_read_that_fails_fails_the_whole_read() -> None:
    def fetch(node: str) -> list[Pod]:
        if node == "n3":
            raise KubeError("list pods: forbidden", status=403)
        return []

    with pytest.raises(KubeError, match="forbidden"):
        read_pods(fetch, {f"n{i}" for i in range(10)})
