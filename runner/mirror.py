"""A run's copy of the requests, the limits and the nodes, listed once and then watched.

With `--until-stable`, every pass listed them again: at 5,000 nodes the nodes alone
are 35 MB of JSON a pass. A `Mirror` lists its kind once, then watches it with
bookmarks, as client-go's informers do, keeping the converted objects: a pass takes a
copy. On 410 Gone (its revision compacted away) it lists again. Pods are not mirrored:
a pass reads those of the nodes it needs from the watch cache (runner.read), and a
mirror of 150,000 pods would cost the memory the runner saves by not holding them.
PodDisruptionBudgets and VolumeAttachments are listed every pass (runner.read).

How current a mirror is, before each pass after the first (`Mirrors.settle`):

- a pass whose plan made on the mirrors admits, evicts or approves lists every kind
  again and plans again (runner.passes.one_pass): a watch can go quiet without
  breaking, and what disrupts is planned on fresh lists;

- the runner's own writes: a mirror waits until its watch has delivered the revision of
  every write of the last pass to its kind (read-your-writes), at most `CATCH_UP`
  seconds, else it lists again; a write answered 404 or 409 lists its kind again;
- another runner's writes: a pass whose Lease was held by another runner since this
  run's last pass (`Lease.taken_over`) lists every kind again; a runner holding the
  Lease is the only one writing what the plan decides;
- everyone else's (actors, administrators, kubelets) arrive as the watch delivers
  them, milliseconds behind: as if the list had been made that much earlier.

What a stale mirror cannot do: every write is guarded by the resourceVersion the plan
read (a stale object's write is answered 409 and deferred to the next pass), the
commit point's too, and every approval by the gate's fresh reads (runner.fresh).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

import attrs

from runner.kube import JSON, STALE, Kube, KubeError

T = TypeVar("T")
CATCH_UP = 5.0
"""Seconds a mirror waits for its watch to show this run's own writes before it lists
again."""
WATCH_SECONDS = (240, 480)
"""Each watch lasts a random length in this range (seconds), then goes on from where
it was; the server sends a bookmark before it ends it."""
RETRY_AFTER = 1.0
STOP_WITHIN = 1.0
OPEN_WITHIN = 2.0


def _key(raw: JSON) -> tuple[str, str]:
    meta = raw.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _revision(raw: JSON) -> int | None:
    version = (raw.get("metadata") or {}).get("resourceVersion")
    return int(version) if isinstance(version, str) and version.isdigit() else None


@attrs.define(eq=False)
class Mirror(Generic[T]):
    """One kind's objects, converted by `convert`, as its watch last said."""

    kube: Kube
    resource: str
    """As the writes name it (`Kube.take_written`): 'nodes', 'maintenancerequests'."""
    path: str
    convert: Callable[[JSON], T]
    lister: Callable[[], tuple[list[JSON], str]] | None = None
    """Lists the kind (raw items, the list's resourceVersion): `Kube.list_at` unless a
    caller must shape the error (a missing CRD)."""
    lists: int = 0
    events: int = 0
    refused: KubeError | None = None
    """The server refused the watch: listed every time instead."""
    _items: dict[tuple[str, str], T] = attrs.field(factory=dict)
    _seen: int = 0
    """The highest revision delivered: the list's, then every event's and bookmark's."""
    _listed: int = 0
    """The revision of the last list."""
    _generation: int = 0
    """Counts the lists: a watch begun before the last list stops at its next event."""
    _broken: KubeError | None = None
    _changed: threading.Condition = attrs.field(factory=threading.Condition)
    _stopping: threading.Event = attrs.field(factory=threading.Event)
    _opened: threading.Event = attrs.field(factory=threading.Event)
    _thread: threading.Thread | None = None

    def list_now(self) -> None:
        """List the kind, replacing what the watch had; the watch goes on from it."""
        if self.lister is not None:
            raws, version = self.lister()
        else:
            raws, version = self.kube.list_at(self.path, lambda raw: raw)
        items = {_key(raw): self.convert(raw) for raw in raws}
        del raws
        revision = int(version) if version.isdigit() else 0
        with self._changed:
            if revision and revision < self._seen:
                return  # two lists crossed: the later one is installed already
            self._items = items
            self._seen = revision
            self._listed = revision
            self._generation += 1
            self._broken = None
            self.lists += 1
            self._changed.notify_all()

    def start(self) -> None:
        """List, and begin watching. A watch the server refuses (401, 403: the role
        lacks `watch`) leaves the mirror listing every time it is read, as without it
        (`refused` says why); the server's answer is awaited `OPEN_WITHIN` seconds, so
        that the first pass knows."""
        self.list_now()
        self._thread = threading.Thread(
            target=self._watch, name=f"watch-{self.resource}", daemon=True
        )
        self._thread.start()
        self._opened.wait(OPEN_WITHIN)

    def stop(self) -> None:
        self._stopping.set()

    def join(self, within: float) -> None:
        if self._thread is not None:
            self._thread.join(within)

    def items(self) -> list[T]:
        """The objects in the order a list gives them (namespace, then name); listed
        again first if the watch broke and has not recovered, or was refused."""
        with self._changed:
            broken = self._broken is not None
        if broken or self.refused is not None:
            self.list_now()
        with self._changed:
            return [self._items[key] for key in sorted(self._items)]

    def reaches(self, revision: int, *, within: float) -> bool:
        """Wait until the watch has delivered `revision` (True), at most `within`
        seconds."""
        until = time.monotonic() + within
        with self._changed:
            while self._seen < revision and self._broken is None and self.refused is None:
                left = until - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return self._seen >= revision

    def _open(self, since: int) -> Iterator[JSON]:
        return self.kube.watch(
            self.path, version=str(since), seconds=random.randint(*WATCH_SECONDS)
        )

    def _watch(self) -> None:
        while not self._stopping.is_set():
            with self._changed:
                generation, since = self._generation, self._seen
            try:
                try:
                    events = self._open(since)
                finally:
                    self._opened.set()
                self._follow(events, generation)
            except KubeError as error:
                if self._stopping.is_set():
                    return
                if error.status in (401, 403):
                    with self._changed:
                        self.refused = error
                        self._changed.notify_all()  # `reaches` waits no more
                    return
                if error.status == 410:  # compacted away: list again
                    try:
                        self.list_now()
                        continue
                    except KubeError as failed:
                        error = failed
                with self._changed:
                    if generation == self._generation:
                        self._broken = error
                    self._changed.notify_all()
                self._stopping.wait(RETRY_AFTER)

    def _follow(self, events: Iterator[JSON], generation: int) -> None:
        for event in events:
            if self._stopping.is_set():
                return
            kind = event.get("type")
            raw = event.get("object") or {}
            if kind == "ERROR":
                code = raw.get("code")
                raise KubeError(
                    f"watch {self.resource}: {raw.get('message') or 'an error event'}",
                    status=code if isinstance(code, int) else 0,
                )
            revision = _revision(raw)
            with self._changed:
                if generation != self._generation:
                    return  # listed again meanwhile: this watch is behind the list
                if kind in ("ADDED", "MODIFIED"):
                    self._items[_key(raw)] = self.convert(raw)
                elif kind == "DELETED":
                    self._items.pop(_key(raw), None)
                if revision is not None and revision > self._seen:
                    self._seen = revision
                self._broken = None
                self.events += 1
                self._changed.notify_all()


@attrs.define(eq=False)
class Mirrors:
    """The mirrors of a run of `--until-stable`, by resource name."""

    kube: Kube
    kinds: dict[str, Mirror] = attrs.field(factory=dict)  # type: ignore[type-arg]
    started: bool = False
    current: bool = False
    """Every copy was listed this pass (not taken from a watch)."""
    told: set[str] = attrs.field(factory=set)

    def add(self, mirror: Mirror[T]) -> Mirror[T]:
        self.kinds[mirror.resource] = mirror
        return mirror

    def start(self) -> None:
        for mirror in self.kinds.values():
            mirror.start()
        self.started = True
        self.current = True

    def list_all(self) -> None:
        """List every kind again: the copies are then as current as a pass without
        mirrors would read."""
        for mirror in self.kinds.values():
            mirror.list_now()
        self.current = True

    def settle(self, written: Iterable[tuple[str, int]], *, taken_over: bool) -> int:
        """Make every mirror show this run's writes, or list it again; list them all
        again when another runner held the Lease since the last pass. How many kinds
        were listed again."""
        if not self.started:
            return 0
        reach: dict[str, int] = {}
        stale = set()
        for resource, revision in written:
            if resource in self.kinds:
                reach[resource] = max(reach.get(resource, 0), revision)
                if revision == STALE:  # a write answered 404 or 409: list it again
                    stale.add(resource)
        listed = 0
        until = time.monotonic() + CATCH_UP
        for resource, mirror in self.kinds.items():
            behind = resource in reach and not mirror.reaches(
                reach[resource], within=max(0.0, until - time.monotonic())
            )
            if taken_over or behind or resource in stale:
                mirror.list_now()
                listed += 1
        self.current = listed == len(self.kinds)
        return listed

    def stop(self) -> None:
        """End the watches; a watch begun as they ended is ended too."""
        for mirror in self.kinds.values():
            mirror.stop()
        self.kube.stop_watches()
        for mirror in self.kinds.values():
            mirror.join(STOP_WITHIN)
        self.kube.stop_watches()

    def new_refusals(self) -> list[KubeError]:
        """Watches refused since the last call (each kind is told once)."""
        found = []
        for resource, mirror in self.kinds.items():
            if mirror.refused is not None and resource not in self.told:
                self.told.add(resource)
                found.append(mirror.refused)
        return found

    @property
    def lists(self) -> int:
        return sum(m.lists for m in self.kinds.values())

    @property
    def events(self) -> int:
        return sum(m.events for m in self.kinds.values())
