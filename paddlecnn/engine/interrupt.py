"""Stopping cleanly: Ctrl-C asks for a checkpoint and a stop; out-of-memory is recognised."""
from __future__ import annotations

import signal
import sys
import threading


class CtrlC:
    """While active, the first Ctrl-C (SIGINT) only sets ``requested``: the loop saves and stops.

    A second Ctrl-C interrupts at once. Only in the main thread of a single process
    (signal handlers cannot be set elsewhere; ranks must stop together).
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._previous = None

    def __enter__(self) -> "CtrlC":
        if self.enabled:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: saving a checkpoint after this step (press again to abort now)", file=sys.stderr)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            signal.signal(signal.SIGINT, self._previous)


def is_oom(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return isinstance(exc, MemoryError) or "out of memory" in text or "resourceexhausted" in text
