"""Clocks for the emulator: reply-token expiry and webhook timestamps read one of these."""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["AdjustableClock", "Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Anything with ``now()`` returning UNIX time in seconds."""

    def now(self) -> float: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> float:
        """Current UNIX time in seconds."""
        return time.time()


class AdjustableClock:
    """Wall-clock time plus an offset that tests can push forward.

    Time keeps flowing (timestamps look real to the bot), and ``advance(61)`` makes
    every reply token issued so far expire without sleeping.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Wall-clock time plus the accumulated offset."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move this clock forward by ``seconds``."""
        with self._lock:
            self._offset += seconds


class ManualClock:
    """A frozen clock that moves only when told to (fully deterministic tests)."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def now(self) -> float:
        """The frozen time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move this clock forward by ``seconds``."""
        with self._lock:
            self._now += seconds

    def set(self, when: float) -> None:
        """Jump to UNIX time ``when``."""
        with self._lock:
            self._now = when
