"""The approval gates' shared etcd read of every pod (runner.fresh.QuorumPods): a gate
is answered only by a read begun after it asked, and the gates that ask while one read
is under way share the next."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

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
    each read waits for the test to let it finish."""

    def __init__(self) -> None:
        self.pods = [raw_pod("a-1", "a"), raw_pod("b-1", "b"), raw_pod("c-1", "c")]
        self.begun: list[threading.Event] = [threading.Event() for _ in range(5)]
        self.finish: list[threading.Event] = [threading.Event() for _ in range(5)]
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


def ask(shared: QuorumPods, node: str, into: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        try:
            into[node] = sorted(p.name for p in shared.pods_on(node))
        except KubeError as error:
            into[node] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_gates_that_ask_during_a_read_share_the_next_one_and_see_what_came_before() -> None:
    etcd = Etcd()
    shared = QuorumPods(etcd)  # type: ignore[arg-type]
    answers: dict[str, Any] = {}
    first = ask(shared, "a", answers)
    assert etcd.begun[0].wait(10)
    # While the first read is under way: a pod lands on b, then two gates ask.
    etcd.pods.append(raw_pod("b-late", "b"))
    others = [ask(shared, "b", answers), ask(shared, "c", answers)]
    etcd.finish[0].set()
    first.join(10)
    assert etcd.begun[1].wait(10)
    etcd.finish[1].set()
    for thread in others:
        thread.join(10)
    assert etcd.reads == 2 == shared.reads
    # b's gate asked after the late pod landed: it sees it (the first read, begun
    # before b asked, would not have).
    assert answers == {"a": ["a-1"], "b": ["b-1", "b-late"], "c": ["c-1"]}


def test_a_failed_read_fails_every_gate_it_serves_and_the_next_read_is_made() -> None:
    etcd = Etcd()
    etcd.fail = {0}
    shared = QuorumPods(etcd)  # type: ignore[arg-type]
    answers: dict[str, Any] = {}
    first = ask(shared, "a", answers)
    assert etcd.begun[0].wait(10)
    etcd.finish[0].set()
    first.join(10)
    assert isinstance(answers["a"], KubeError)
    etcd.finish[1].set()
    assert sorted(p.name for p in shared.pods_on("a")) == ["a-1"]
    assert etcd.reads == 2


@pytest.mark.parametrize("gates", [1, 8, 40])
def test_every_gate_is_answered_whatever_the_interleaving(gates: int) -> None:
    etcd = Etcd()
    etcd.begun += [threading.Event() for _ in range(gates)]
    etcd.finish += [threading.Event() for _ in range(gates)]
    for event in etcd.finish:
        event.set()
    shared = QuorumPods(etcd)  # type: ignore[arg-type]
    answers: dict[str, Any] = {}
    names = [f"n{i}" for i in range(gates)]
    etcd.pods += [raw_pod(f"{n}-1", n) for n in names]
    threads = [ask(shared, n, answers) for n in names]
    for thread in threads:
        thread.join(10)
    assert answers == {n: [f"{n}-1"] for n in names}
    assert 1 <= etcd.reads <= gates
