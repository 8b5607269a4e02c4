"""Build progress: one line per section (queued, running, cached, done with time, failed).

On a terminal the block of lines is redrawn in place; elsewhere (CI logs, pipes) each change
is printed as one plain line. Thread-safe: sections run in a thread pool.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

STATES = ("queued", "running", "cached", "done", "failed")


class Progress:
    """Tracks and shows the state of each section of a build."""

    def __init__(self, stems: list[str], stream: TextIO | None = None, enabled: bool = True):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.state = dict.fromkeys(stems, "queued")
        self.seconds: dict[str, float] = {}
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()
        self._drawn = 0
        if self.tty and self.enabled:
            self._draw()

    def _line(self, stem: str) -> str:
        state = self.state[stem]
        tail = f" {self.seconds[stem]:.1f} s" if stem in self.seconds else ""
        return f"  {state:<8} {stem}{tail}"

    def _draw(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F")  # back to the first line of the block
        for stem in self.state:
            self.stream.write("\x1b[2K" + self._line(stem) + "\n")
        self._drawn = len(self.state)
        self.stream.flush()

    def update(self, stem: str, state: str) -> None:
        """Record a new state for ``stem`` and show it."""
        if state not in STATES:
            raise ValueError(f"unknown progress state {state!r}")
        with self._lock:
            now = time.perf_counter()
            if state == "running":
                self._started[stem] = now
            elif state in ("done", "failed") and stem in self._started:
                self.seconds[stem] = now - self._started[stem]
            self.state[stem] = state
            if not self.enabled:
                return
            if self.tty:
                self._draw()
            else:
                self.stream.write(self._line(stem) + "\n")
                self.stream.flush()

    def note(self, text: str) -> None:
        """Print one line of explanation under the block (e.g. why a section runs again)."""
        if not self.enabled:
            return
        with self._lock:
            self.stream.write(f"  {text}\n")
            self.stream.flush()
            self._drawn = 0  # the block is redrawn below the note
