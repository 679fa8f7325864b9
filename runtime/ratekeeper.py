"""Keeps a loop at a fixed rate on the monotonic clock and counts missed deadlines.

After openpilot's common/realtime.py Ratekeeper: the loop calls keep_time()
once per cycle; it sleeps until the next deadline, or, when the cycle ran
long, counts a missed deadline and re-anchors instead of bursting to catch up.
The clock and sleep are injectable so timing logic is tested with a fake clock.
"""
from __future__ import annotations

import time
from typing import Callable


class Ratekeeper:
    def __init__(self, rate_hz: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
        self.interval_s = 1.0 / rate_hz
        self._clock, self._sleep = clock, sleep
        self._next = clock() + self.interval_s
        self.frame = 0
        self.missed_deadlines = 0
        self.worst_lag_ms = 0.0

    def remaining_s(self) -> float:
        """Seconds until the next cycle's deadline (negative: already late)."""
        return self._next - self._clock()

    def keep_time(self) -> bool:
        """Wait for the next cycle; True if this cycle missed its deadline."""
        self.frame += 1
        remaining = self._next - self._clock()
        lagged = remaining < 0
        if lagged:
            self.missed_deadlines += 1
            self.worst_lag_ms = max(self.worst_lag_ms, -remaining * 1000)
            self._next = self._clock() + self.interval_s
        else:
            self._sleep(remaining)
            self._next += self.interval_s
        return lagged
