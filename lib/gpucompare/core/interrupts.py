"""Ctrl-C and SIGTERM while worker threads run: noticed at a safe point, never mid-lock.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when a signal
arrives. Inside :func:`concurrent.futures.wait` that can be between two ``acquire()`` calls of
its ``_AcquireFutures`` (whose ``__exit__`` then never runs): a future's lock stays held, the
worker finishing that future blocks on it forever, and the build that should stop hangs instead.
:func:`deferred` replaces the handlers with ones that only record the signal, so the waiting
loop can check :attr:`Caught.signal` between bounded waits and stop cleanly.
(https://docs.python.org/3/library/signal.html#handlers-and-exceptions)
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

#: The signals that stop a build: Ctrl-C and the default ``kill``.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Longest wait between two checks for a recorded signal, in seconds (how late a stop can be).
CHECK_EVERY_S = 0.2


class Caught:
    """The first stop signal received inside :func:`deferred` (``None`` until one arrives)."""

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None

    def raise_if_caught(self) -> None:
        """Raise ``KeyboardInterrupt`` (named after the signal) if one was recorded."""
        if self.signal is not None:
            raise KeyboardInterrupt(self.signal.name)


@contextlib.contextmanager
def deferred() -> Iterator[Caught]:
    """Within the block, SIGINT and SIGTERM are recorded in the yielded :class:`Caught` instead
    of raising; the previous handlers come back on exit. Outside the main thread (where Python
    cannot change handlers, and never raises ``KeyboardInterrupt`` either) nothing changes."""
    caught = Caught()
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def record(signum, frame):
        if caught.signal is None:
            caught.signal = signal.Signals(signum)

    previous = {s: signal.signal(s, record) for s in STOP_SIGNALS}
    try:
        yield caught
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
