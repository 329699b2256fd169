"""SIGTERM and SIGINT: stop between two writes, never in the middle of one (DESIGN §5).

In its container the runner is PID 1, and the kernel gives PID 1 no default action for
SIGTERM: without a handler, a Job killed at its deadline would ignore the signal until
the SIGKILL, and leave its Lease held for the next run to wait out. So the runner
catches both. While no write is in flight (reading, planning, between decisions), the
signal stops the run at once with `Stopped`; during a write it is only noted, the write
finishes (its answer is read, so the next pass knows what happened), and the applier
stops before the next one. Either way the Lease is released, and the command exits
with 128 + the signal's number and one line.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType


class Stopped(Exception):
    def __init__(self, name: str, number: int) -> None:
        super().__init__(name)
        self.name = name
        self.number = number


class Signals:
    """Installed once per command; the applier asks `stop_requested` between writes."""

    def __init__(self) -> None:
        self.received: tuple[str, int] | None = None
        self._writing = 0

    def install(self) -> None:
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, self._on_signal)

    def _on_signal(self, number: int, _frame: FrameType | None) -> None:
        self.received = (signal.Signals(number).name, number)
        if not self._writing:
            raise Stopped(*self.received)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """A write in flight: a signal now waits for it to finish."""
        self._writing += 1
        try:
            yield
        finally:
            self._writing -= 1

    def stop_requested(self) -> Stopped | None:
        return Stopped(*self.received) if self.received is not None else None


#: The runner's handler; `never` for callers that install none (tests in process).
never = Signals()
