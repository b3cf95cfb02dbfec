"""Time, injectable so lease and timeout logic can be tested without waiting."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Where the engine reads time from."""

    def now(self) -> float:
        """Wall-clock Unix seconds, for what is stored."""

    def monotonic(self) -> float:
        """Monotonic seconds, for measuring durations."""


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """``time.time()``."""
        return time.time()

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()
