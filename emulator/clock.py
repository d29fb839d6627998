"""Simulated time: every timestamp the emulator shows comes from here.

Simulated seconds run `speed` times faster than real seconds, and the admin API can jump forward, so a
demo job takes about a minute and a test can finish a whole job without sleeping. `speed=0` freezes time:
tests then move it only with `advance`, which makes them independent of machine load.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class SimClock:
    """A clock whose reading is `start + jumps + real elapsed * speed` (unix seconds, float)."""

    def __init__(
        self,
        speed: float = 1.0,
        start: float | None = None,
        real_time: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._real_time = real_time
        self._speed = speed
        self._base = time.time() if start is None else start
        self._real_base = real_time()

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> float:
        return self._base + (self._real_time() - self._real_base) * self._speed

    def advance(self, seconds: float) -> float:
        """Jump forward (never backward: timestamps already shown must stay in the past)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._base += seconds
        return self.now()

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        # Rebase so the reading is continuous across the change.
        self._base = self.now()
        self._real_base = self._real_time()
        self._speed = speed
