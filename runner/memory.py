"""Garbage-collector settings for one pass over a large, immutable snapshot.

A snapshot of a big cluster is millions of objects that live for the whole pass and
form no reference cycles; the plan adds tens of thousands more. Left alone, CPython's
cyclic collector walks them again and again (a full collection runs whenever enough
new objects survive), which makes a pass grow faster than the cluster. The runner
therefore moves the loaded snapshot out of the collector's reach (`gc.freeze`) and
pauses collection while planning; reference counting still frees everything.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def settle_snapshot() -> None:
    """Call once the snapshot is loaded: what is alive now stays alive for the pass."""
    gc.collect()
    gc.freeze()


@contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
