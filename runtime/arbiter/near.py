"""The range guard: something close ahead on the MCU's range sensor -> no driving into it.

    guard = RangeGuard(config.arbiter)
    decision = guard.step(now_s, decision, range_mm=tel.range_mm)   # the same, slowed, or a turn
    guard.turns                                              # times it turned the robot away

Data path: arbiter -> **range guard** -> stall guard -> bridge, with the MCU's telemetry.
The camera sees no floor nearer than ~0.2 m ahead and nothing beside the robot, so an
expert may steer into a corner, a sign's board or the ball it was not looking at (seen in
the demo: the obstacle avoider read 0.9-1.9 m clear while a board touched the robot). The
range sensor does see it (`range_mm` in TELEMETRY: the distance ahead, RANGE_NONE when
nothing is in reach):

- nearer than `range_slow_mm`, forward motion is scaled down toward zero at
  `range_stop_mm` (the turn is kept), so the robot can stop in time on one telemetry period,
  but not below CREEP_MM_S: scaled all the way, a robot would close in ever more slowly and
  never reach the stop (seen: a way-on finder crawling at 5 mm/s toward a sign's board);
- at `range_stop_mm` or nearer, forward motion is refused: the robot turns in place (a
  safety stop, reason "near") and keeps that side until the range reads more than
  `range_release_mm` (hysteresis: it does not swing back and forth in front of a wall).
  The side: the way the robot last turned in place, if it did within a revolution's time
  (an obstacle avoider escaping, a search), else the side the decision was turning, else
  the side it last turned away. Choosing apart, the avoider turned the robot right and the
  guard left, in turn, 18 s long by a wall (seen in the demo);
- once clear, for SIDESTEP_MM of driving it does not let the robot turn back toward the side
  it turned from: a decision that does turns straight on instead (reason "sidestep", at
  least at idle_speed_mm_s), so the robot gets past the edge of what was ahead before it
  heads for its target again. Without this a coast toward a door behind a sign's board
  turned back into the board as soon as the guard let go, and the two took turns on one
  spot for 5 s until the stuck guard drove the robot off the other way (seen in the
  trials). A turn in place back toward it goes straight on too; turns the other way,
  reversing and safety stops pass;
- turned a full revolution's time and still nothing is clear, the robot is boxed in or the
  sensor is stuck (dirt on it, a wrong reading): it stops (reason "boxed_in", a safety stop)
  and stays stopped until the range reads clear, rather than spin on the spot for ever.
Reversing and turning in place otherwise pass as they are. Without fresh telemetry, or with nothing in
range, nothing is done. Pure given its inputs (`now_s`, the caller's clock): no clock is read here.
"""
from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import TYPE_CHECKING

from spikebox.firmware_bridge.protocol import RANGE_NONE

from .behaviours import ESCAPE_TURN
from .decide import Decision, spin_side

if TYPE_CHECKING:
    from ..daemon.config import ArbiterConfig

logger = logging.getLogger(__name__)

NEAR = "near"                  # Decision.reason while turning away from what is close ahead
SIDESTEP = "sidestep"          # Decision.reason: straight on past it, not back toward it
SIDESTEP_MM = 300.0            # the drive after turning away before turning back is let be:
#                                ~ a board's half width and the robot's diameter
BOXED_IN = "boxed_in"          # Decision.reason: turned a full revolution, nothing clear
CREEP_MM_S = 40.0              # the slowest a slowed forward motion goes (if asked for more):
                               # ~5 mm past the stop on the ~130 ms from range to wheels


class RangeGuard:
    def __init__(self, config: ArbiterConfig):
        self.stop_mm = float(config.range_stop_mm)
        self.slow_mm = float(config.range_slow_mm)
        self.release_mm = float(config.range_release_mm)
        self._turn_mm_s = config.steering.turn_in_place(ESCAPE_TURN, config.wheelbase_mm)[1]
        # a full revolution at that turn rate
        self.revolution_s = 2 * math.pi / (ESCAPE_TURN * config.steering.turn_rad_s)
        self.boxed_in = 0               # times it gave up turning: boxed in, or the sensor stuck
        self._turning_since: float | None = None
        self._stopped = False
        self.turns = 0                  # times it refused forward motion and turned away
        self.slowed = 0                 # cycles it scaled forward motion down
        self._side = 0.0                # +1 left, -1 right while turning away; 0 when clear
        self._last_side = 1.0
        self._spun: tuple[float, float] | None = None   # (side, when) of the last decision
        #                                                 that turned the robot in place
        self._sidestep_mm_s = float(config.idle_speed_mm_s)
        self.sidesteps = 0              # cycles it held the robot off turning back
        self._away = 0.0                # the side it last turned away to, while sidestepping
        self._away_mm = 0.0             # ... and how much more driving that lasts
        self._away_at: float | None = None
        self._away_v = 0.0              # the forward speed it let out last cycle, mm/s

    @property
    def enabled(self) -> bool:
        return self.stop_mm > 0

    def step(self, now_s: float, decision: Decision, range_mm: float | None) -> Decision:
        """`decision` as it may go out with `range_mm` ahead (None: no fresh telemetry)."""
        side = spin_side(decision)
        if side:
            self._spun = (side, now_s)
        if not self.enabled or range_mm is None:
            self._release()
            return decision
        if (self._side or self._stopped) and range_mm > self.release_mm:
            if self._side:
                self._away, self._away_mm, self._away_at, self._away_v = \
                    self._side, SIDESTEP_MM, now_s, 0.0
            self._release()
        if range_mm >= RANGE_NONE:                   # nothing in reach
            return self._sidestep(now_s, decision)
        if self._side and now_s - self._turning_since >= self.revolution_s:
            self.boxed_in += 1
            self._side, self._stopped = 0.0, True
            logger.warning("range guard: turned a full revolution and the range sensor still "
                           "reads %.0f mm ahead: boxed in, or the sensor is stuck; the robot "
                           "stops until it reads more than %.0f mm", range_mm, self.release_mm)
        if self._stopped:
            return Decision(0.0, 0.0, decision.expert, BOXED_IN, True, decision.frame_id,
                            decision.silent)
        if self._side:
            return self._turn_away(decision)
        asked_turn = decision.right_mm_s - decision.left_mm_s
        decision = self._sidestep(now_s, decision)
        left, right = decision.left_mm_s, decision.right_mm_s
        forward, turn = (left + right) / 2.0, (right - left) / 2.0
        if forward <= 0.0:
            return decision
        if range_mm <= self.stop_mm:
            self.turns += 1
            self._away = 0.0
            if self._spun is not None and now_s - self._spun[1] <= self.revolution_s:
                self._side = self._spun[0]
            elif abs(asked_turn) > 1e-6:             # the way asked, not the sidestep's
                self._side = 1.0 if asked_turn > 0 else -1.0
            else:
                self._side = self._last_side
            self._last_side = self._side
            self._turning_since = now_s
            return self._turn_away(decision)
        if range_mm < self.slow_mm:
            self.slowed += 1
            f = (range_mm - self.stop_mm) / (self.slow_mm - self.stop_mm)
            slowed = max(forward * f, min(forward, CREEP_MM_S))
            return replace(decision, left_mm_s=slowed - turn, right_mm_s=slowed + turn)
        return decision

    def _sidestep(self, now_s: float, decision: Decision) -> Decision:
        """`decision`, or straight on instead of turning back toward the side last turned
        from, until SIDESTEP_MM have been driven since (module docstring)."""
        if not self._away:
            return decision
        # driven since the last cycle, at what this guard let out then (a cycle or two
        # at most between: a longer gap counts as no more than half a second)
        self._away_mm -= self._away_v * min(max(now_s - self._away_at, 0.0), 0.5)
        self._away_at = now_s
        if self._away_mm <= 0.0:
            self._away = 0.0
            return decision
        forward = (decision.left_mm_s + decision.right_mm_s) / 2.0
        back = (decision.right_mm_s - decision.left_mm_s) * self._away < 0
        if back and not decision.safety_stop and forward >= 0.0:
            self.sidesteps += 1
            forward = max(self._sidestep_mm_s, forward)
            decision = Decision(forward, forward, decision.expert, SIDESTEP, False,
                                decision.frame_id, decision.silent)
        self._away_v = max(0.0, forward)
        return decision

    def _release(self) -> None:
        self._side, self._stopped, self._turning_since = 0.0, False, None

    def _turn_away(self, decision: Decision) -> Decision:
        v = self._side * abs(self._turn_mm_s)
        return Decision(-v, v, decision.expert, NEAR, True, decision.frame_id, decision.silent)
