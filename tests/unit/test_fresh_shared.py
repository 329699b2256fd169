"""The approval gates' shared etcd read of every pod (runner.fresh.QuorumPods): a gate
is answered only by a read begun after its lane's last write and at most SHARED_FOR
old; gates whose lanes wrote before one read began share it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import runner.fresh
from runner.fresh import QuorumPods
from runner.kube import KubeError


def raw_pod(name: str, node: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {"nodeName": node, "containers": [{"name": "app"}]},
        "status": {"phase": "Running"},
    }


class Etcd:
    """Answers a LIST of every pod with the pods as they are when the read begins;
    a read waits for the test to let it finish when `held`."""

    def __init__(self, *, held: bool = False) -> None:
        self.pods = [raw_pod("a-1", "a"), raw_pod("b-1", "b"), raw_pod("c-1", "c")]
        self.begun = [threading.Event() for _ in range(50)]
        self.finish = [threading.Event() for _ in range(50)]
        if not held:
            for event in self.finish:
                event.set()
        self.reads = 0
        self.fail: set[int] = set()

    def list_as(
        self,
        path: str,
        convert: Callable[[dict[str, Any]], Any],
        *,
        keep: Callable[[dict[str, Any]], bool],
    ) -> list[Any]:
        assert path == "/api/v1/pods"
        number = self.reads
        self.reads += 1
        seen = [convert(p) for p in self.pods if keep(p)]  # the read's revision: now
        self.begun[number].set()
        assert self.finish[number].wait(10)
        if number in self.fail:
            raise KubeError("list pods: 500 etcd is sad", status=500)
        return seen


def ask(shared: QuorumPods, node: str, after: float, into: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        try:
            into[node] = sorted(p.name for p in shared.pods_on(node, after=after))
        except KubeError as error:
            into[node] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def names(shared: QuorumPods, node: str, after: float) -> list[str]:
    return sorted(p.name for p in shared.pods_on(node, after=after))


def test_gates_whose_lanes_wrote_before_a_read_began_share_it() -> None:
    etcd = Etcd()
    shared = QuorumPods(etcd)  # type: ignore[arg-type]
    shared.expect(["a", "b", "c"])
    began = time.monotonic()
    assert names(shared, "a", began) == ["a-1"]
    etcd.pods.append(raw_pod("b-late", "b"))  # after the read: its lane wrote nothing
    assert names(shared, "b", began) == ["b-1"]
    assert names(shared, "c", began) == ["c-1"]
    assert etcd.reads == 1 == shared.reads


def test_a_gate_whose_lane_wrote_after_a_read_began_waits_for_the_next() -> None:
    etcd = Etcd(held=True)
    shared = QuorumPods(etcd)  # type: ignore[arg-type]
    shared.expect(["a", "b"])
    answers: dict[str, Any] = {}
    first = ask(shared, "a", time.monotonic(), answers)
    assert etcd.begun[0].wait(10)
    # While the first read is under way, b's lane writes (its cordon), then a pod
    # lands on b, then b's gate asks.
    time.sleep(0.01)
    wrote = time.monotonic()
    etcd.pods.append(raw_pod("b-late", "b"))
    second = ask(shared, "b", wrote, answers)
    etcd.finish[0].set()
    first.join(10)
    assert etcd.begun[1].wait(10)
    etcd.finish[1].set()
    second.join(10)
    assert etcd.reads == 2
    assert answers == {"a": ["a-1"], "b": ["b-1", "b-late"]}


def test_a_read_older_than_shared_for_serves_no_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    etcd = Etcd()
    shared = QuorumPods(etcd)  # type: ignore[arg-type]
    began = time.monotonic()
    assert names(shared, "a", began) == ["a-1"]
    monkeypatch.setattr(runner.fresh, "SHARED_FOR", 0.0)
    time.sleep(0.01)
    etcd.pods.append(raw_pod("a-late", "a"))
    assert names(shared, "a", began) == ["a-1", "a-late"]
    assert etcd.reads == 2


def test_a_failed_read_fails_every_gate_it_serves_and_the_next_read_is_made() -> None:
    etcd = Etcd(held=True)
    etcd.fail = {0}
    shared = QuorumPods(etcd)  # type: ignore[arg-type]
    shared.expect(["a", "b"])
    answers: dict[str, Any] = {}
    began = time.monotonic()
    first = ask(shared, "a", began, answers)
    assert etcd.begun[0].wait(10)
    second = ask(shared, "b", began, answers)
    etcd.finish[0].set()
    first.join(10)
    second.join(10)
    assert isinstance(answers["a"], KubeError) and isinstance(answers["b"], KubeError)
    assert answers["a"] is not answers["b"]
    etcd.finish[1].set()
    assert names(shared, "a", time.monotonic()) == ["a-1"]
    assert etcd.reads == 2


@pytest.mark.parametrize("gates", [1, 8, 40])
def test_every_gate_is_answered_whatever_the_interleaving(gates: int) -> None:
    etcd = Etcd()
    shared = QuorumPods(etcd)  # type: ignore[arg-type]
    answers: dict[str, Any] = {}
    nodes = [f"n{i}" for i in range(gates)]
    etcd.pods += [raw_pod(f"{n}-1", n) for n in nodes]
    began = time.monotonic()
    threads = [ask(shared, n, began, answers) for n in nodes]
    for thread in threads:
        thread.join(10)
    assert answers == {n: [f"{n}-1"] for n in nodes}
    assert 1 <= etcd.reads <= gates
