"""The stall guard: wheels told to go forward that do not turn (a bump no camera saw) -> back off.

    guard = StallGuard(config.arbiter)
    override = guard.step(now_s, sent=(120, 118), measured=(0, 0))   # a Decision, or None
    guard.stalls                                                       # back-offs so far

Data path: arbiter -> **stall guard** -> bridge, with the MCU's telemetry. A camera
sees nothing nearer than ~0.2 m ahead, nor beside the robot, so a robot can touch a
corner no expert saw and push against it for ever (seen in the demo: the way-on
finder drove into an obstacle's corner and held there for the rest of the run). The
wheels tell: the DRIVE last sent asks for forward motion of at least STALL_MIN_MM_S,
and the wheels measured (telemetry) give less than STALL_SHARE of it for
`stall_after_ms` -> the robot backs off, reversing slowly on a curve for
`back_off_ms` (to one side, then the other the next time), and then the experts
drive again. Without fresh telemetry nothing is known, and nothing is done.
Pure given its inputs: no clock is read here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .decide import Decision

if TYPE_CHECKING:
    from ..daemon.config import ArbiterConfig

STALLED = "stalled"            # Decision.reason while backing off
STALL_MIN_MM_S = 40.0          # forward asked for (mean of the wheels) from which a stall counts
STALL_SHARE = 0.25             # measured below this share of what was asked: not moving
BACK_OFF_TURN = 0.8            # the reverse curve: one wheel at (1 - this), the other (1 + this):
                               # ~50 degrees of turn over a second's back-off, away from the bump


class StallGuard:
    def __init__(self, config: ArbiterConfig):
        self.stall_after_s = config.stall_after_ms / 1000.0
        self.back_off_s = config.back_off_ms / 1000.0
        self.back_off_mm_s = float(config.back_off_mm_s)
        self.stalls = 0
        self._since: float | None = None          # stalled since (not yet acted on)
        self._until: float | None = None          # backing off until
        self._backing: Decision | None = None

    def step(self, now_s: float, sent: tuple[float, float] | None,
             measured: tuple[float, float] | None) -> Decision | None:
        """The back-off to send instead of the arbiter's decision, or None (no stall).
        sent: the DRIVE last written (None: nothing went out); measured: the wheels' speeds
        from fresh telemetry (None: none)."""
        if self._until is not None:
            if now_s < self._until:
                return self._backing
            self._until = self._backing = None
        if self.stall_after_s <= 0 or sent is None or measured is None:
            self._since = None
            return None
        asked, got = (sent[0] + sent[1]) / 2.0, (measured[0] + measured[1]) / 2.0
        if asked < STALL_MIN_MM_S or got >= STALL_SHARE * asked:
            self._since = None
            return None
        if self._since is None:
            self._since = now_s
        if now_s - self._since < self.stall_after_s:
            return None
        self.stalls += 1
        side = 1.0 if self.stalls % 2 else -1.0
        v = self.back_off_mm_s
        self._backing = Decision(-v * (1 - side * BACK_OFF_TURN), -v * (1 + side * BACK_OFF_TURN),
                                 None, STALLED, True)
        self._since, self._until = None, now_s + self.back_off_s
        return self._backing
