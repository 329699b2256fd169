"""A mirror (runner.mirror) is always the server as it was at some revision no older
than its last list, and ends equal to it, whatever happens meanwhile: objects
created, changed and deleted, watches that deliver late (a held-back watch, the case a
relist is for), revisions compacted away (410: the mirror lists again), and lists the
runner makes at any moment (`Mirrors.settle` does when a watch is behind). A fake
server in memory, with a revision counter and an event log, serves the list and the
watches; its watches deliver only the events the test releases.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from runner.kube import KubeError
from runner.mirror import Mirror

JSON = dict[str, Any]


class FakeServer:
    def __init__(self) -> None:
        self.revision = 1
        self.objects: dict[str, JSON] = {}
        self.log: list[tuple[int, str, JSON]] = []
        self.compacted = 0
        self.released = 1
        """Watches deliver events up to this revision."""
        self.states: dict[int, list[tuple[str, int]]] = {1: []}
        """The objects as of each revision."""
        self.changed = threading.Condition()
        self.stopped = False

    def write(self, name: str, value: int | None) -> None:
        with self.changed:
            if value is None and name not in self.objects:
                return
            self.revision += 1
            meta = {"name": name, "resourceVersion": str(self.revision)}
            if value is None:
                del self.objects[name]
                self.log.append((self.revision, "DELETED", {"metadata": meta}))
            else:
                kind = "MODIFIED" if name in self.objects else "ADDED"
                self.objects[name] = {"metadata": meta, "value": value}
                self.log.append((self.revision, kind, self.objects[name]))
            self.states[self.revision] = self.now()
            self.changed.notify_all()

    def now(self) -> list[tuple[str, int]]:
        return sorted((name, o["value"]) for name, o in self.objects.items())

    def release(self, share: float) -> None:
        with self.changed:
            self.released += round((self.revision - self.released) * share)
            self.changed.notify_all()

    def compact(self) -> None:
        with self.changed:
            self.compacted = self.revision
            self.changed.notify_all()

    # --- as Kube ---------------------------------------------------------------------

    def list_at(self, _path: str, convert: Any, **_: Any) -> tuple[list[JSON], str]:
        with self.changed:
            return [convert(o) for o in self.objects.values()], str(self.revision)

    def watch(self, _path: str, *, version: str, seconds: int) -> Iterator[JSON]:
        since = int(version)
        with self.changed:
            if since < self.compacted:
                raise KubeError("watch: too old", status=410)
        return self._events(since)

    def _events(self, since: int) -> Iterator[JSON]:
        delivered = since
        while True:
            with self.changed:
                while not self.stopped and not any(
                    delivered < r <= self.released for r, _, _ in self.log
                ):
                    if delivered < self.compacted:
                        break
                    self.changed.wait(0.05)
                if self.stopped:
                    return
                if delivered < self.compacted:
                    yield {"type": "ERROR", "object": {"code": 410, "message": "too old"}}
                    return
                pending = [(r, k, o) for r, k, o in self.log if delivered < r <= self.released]
            for revision, kind, obj in pending:
                delivered = revision
                yield {"type": kind, "object": obj}


def _convert(raw: JSON) -> tuple[str, int]:
    return (raw["metadata"]["name"], raw["value"])


steps = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.sampled_from("abcde"), st.none() | st.integers(0, 9)),
        st.tuples(st.just("deliver"), st.none(), st.floats(0, 1)),
        st.tuples(st.just("compact"), st.none(), st.none()),
        st.tuples(st.just("list"), st.none(), st.none()),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
# The case the generation check is for, found by a mutation check (random examples
# rarely write twice, list, then release only the first write to the old watch).
@example(
    before=[],
    after=[("write", "a", 1), ("write", "a", 2), ("list", None, None), ("deliver", None, 0.5)],
)
@given(before=steps, after=steps)
def test_a_mirror_is_the_server_at_a_revision_since_its_last_list(
    before: list[Any], after: list[Any]
) -> None:
    server = FakeServer()
    for step, name, value in before:
        if step == "write":
            server.write(name, value)
    server.release(1)
    mirror: Mirror[tuple[str, int]] = Mirror(
        server,  # type: ignore[arg-type]
        "things",
        "/things",
        _convert,
    )
    mirror.start()
    try:
        for step, name, value in after:
            if step == "write":
                server.write(name, value)
            elif step == "deliver":
                server.release(value)
            elif step == "compact":
                server.compact()
            else:
                mirror.list_now()
            time.sleep(0.005)
            # Never older than its last list: a watch begun before it must not put back
            # what the list superseded (a pass would plan on it as current). Read under
            # the mirror's lock, so that the list and the copy go together.
            with mirror._changed:
                listed = mirror._listed
                seen = [mirror._items[key] for key in sorted(mirror._items)]
            assert any(
                seen == state for revision, state in server.states.items() if revision >= listed
            ), (seen, listed)
        server.write("z", 0)  # a last write, whose revision the mirror must reach
        server.release(1)
        assert mirror.reaches(server.revision, within=10)
        assert mirror.items() == server.now()
    finally:
        mirror.stop()
        with server.changed:
            server.stopped = True
            server.changed.notify_all()
        mirror.join(5)


def test_of_two_lists_that_cross_the_later_revision_stays() -> None:
    """A slow list begun before a 410 (the watch's thread) finishing after the list a
    pass made meanwhile must not put the copy back before the pass's own write."""
    answers = iter(
        [
            ([{"metadata": {"name": "a", "resourceVersion": "20"}, "value": 2}], "20"),
            ([{"metadata": {"name": "a", "resourceVersion": "10"}, "value": 1}], "10"),
        ]
    )
    mirror: Mirror[tuple[str, int]] = Mirror(
        None,  # type: ignore[arg-type]
        "things",
        "/things",
        _convert,
        lister=lambda: next(answers),
    )
    mirror.list_now()  # the pass's list, at 20
    mirror.list_now()  # the slow one, at 10, ends last
    assert mirror.items() == [("a", 2)]
    assert mirror.reaches(20, within=0)
