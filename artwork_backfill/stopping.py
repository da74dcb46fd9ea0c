"""Stopping a command on SIGINT/SIGTERM: the one signal mechanism of the tool.

Long commands (resolve's asking, apply's and undo's batch loops) run inside
`stop_on_signals()`: there SIGINT and SIGTERM only set a `StopFlag`, and the loop checks it
at its safe points (between batches, during a pause, while waiting for LML's answers). The
work in flight is finished and kept, the run is recorded as `stopped` or `interrupted`, and
the CLI exits 130 (`ExitStatus.INTERRUPTED`); a re-run continues.

Outside such a block, `sigterm_interrupts()` (installed once by the CLI) makes SIGTERM raise
`KeyboardInterrupt` just as Ctrl-C does, so a short command stopped either way also ends with
`interrupted` and 130.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class StopFlag:
    """Set by SIGINT/SIGTERM (or a test); long loops check it at their safe points."""

    def __init__(self) -> None:
        self.is_set = False
        self.signal_name: str | None = None
        self._listeners: list[Callable[[], None]] = []

    def set(self, signal_name: str | None = None) -> None:
        self.is_set = True
        self.signal_name = signal_name or self.signal_name
        for listener in list(self._listeners):
            listener()

    def sleep(self, seconds: float, slice_s: float = 0.5) -> bool:
        """Sleep in slices; False as soon as the flag is set (True: slept the whole time)."""
        deadline = time.monotonic() + seconds
        while not self.is_set:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(slice_s, left))
        return False

    @contextmanager
    def listening(self, listener: Callable[[], None]) -> Iterator[None]:
        """While inside, call `listener` when the flag is set (at once if it already is).

        The listener may run in a signal handler: it must only hand the news on (for example
        `loop.call_soon_threadsafe`), never block or log.
        """
        self._listeners.append(listener)
        try:
            if self.is_set:
                listener()
            yield
        finally:
            self._listeners.remove(listener)


@contextmanager
def stop_on_signals(stop: StopFlag | None = None) -> Iterator[StopFlag]:
    """While inside: SIGINT and SIGTERM set `stop` (a new flag if none) instead of raising.

    Repeats are harmless. The handler only sets the flag (writing a log line from a handler
    could re-enter a stream the main thread is writing); the loop reports the stop when it
    sees the flag. Outside the main thread (where Python cannot install handlers) this
    installs nothing. The previous handlers come back on exit.
    """
    flag = stop if stop is not None else StopFlag()

    def handler(signum: int, frame: object) -> None:
        flag.set(signal.Signals(signum).name)

    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, handler)
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def sigterm_interrupts() -> None:
    """Outside `stop_on_signals`: SIGTERM raises KeyboardInterrupt, as SIGINT does."""
    if hasattr(signal, "SIGTERM") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


__all__ = ["StopFlag", "sigterm_interrupts", "stop_on_signals"]
