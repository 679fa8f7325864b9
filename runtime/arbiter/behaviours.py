"""What each drive behaviour (contract.py) makes of an expert's output row, and what it remembers.

    rule = SteerRule(entry.drive.behaviour, wheels)       # decide.make_rule picks the rule
    bid = rule.step(now_s, row, awake=True, frame_id=17)   # a Bid, or None: nothing to say

One rule per expert with a drive contract, kept by the arbiter (decide.py)
across control cycles. `row` is the output's columns from a fresh, finite
result, or None (the expert is asleep, or its result is missing, stale or
broken: decide.py says which and counts it). Time is `now_s`, passed in: the
rules read no clock, so a fake clock tests them.

What they remember, and when they let go:
- seek: seek.py.
- classes: an action, once started, runs its time (hold_s, turn_s) whatever the
  expert says or whether it is awake: a stop sign stops the robot for hold_s
  even if the sign reader is paged out meanwhile. The class that acted acts
  again only once it has gone unseen (not the confident top class of a fresh
  result) for rearm_s, so the robot goes on past the sign it stopped at.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .contract import NONE, STOP, TURN_LEFT, ClassesDrive, SteerDrive
from .kinematics import SteeringLimits
from .odometry import Pose

# Why a bid drives the robot as it does: Decision.reason (with decide.py's idle and faults).
STEERING, OBSTACLE = "steer", "obstacle"
SEEKING, ALIGNING, ARRIVED, COASTING = "seek", "align", "arrived", "coast"
STOP_SIGN, TURNING = "stop_sign", "turn"


@dataclass(frozen=True)
class Bid:
    """What one expert's rule would have the wheels do this cycle."""
    left_mm_s: float
    right_mm_s: float
    reason: str
    safety_stop: bool              # no forward motion, for safety: beats every drive
    frame_id: int | None           # the frame whose result made it


@dataclass(frozen=True)
class Wheels:
    """The robot's kinematics as the rules use them."""
    limits: SteeringLimits
    wheelbase_mm: float
    full_turn_bearing_rad: float   # a target this far off the heading steers a full turn

    def steer(self, steering: float, speed: float) -> tuple[float, float]:
        return self.limits.wheels(steering, self.wheelbase_mm, speed)

    def turn_in_place(self, steering: float) -> tuple[float, float]:
        return self.limits.turn_in_place(steering, self.wheelbase_mm)

    def steering_to(self, bearing_rad: float) -> float:
        return float(np.clip(bearing_rad / self.full_turn_bearing_rad, -1.0, 1.0))


class Rule(Protocol):
    can_stop: bool                 # it may bid a safety stop (then a silent one is feared)

    def step(self, now_s: float, row: np.ndarray | None, awake: bool,
             frame_id: int | None, pose: Pose | None = None) -> Bid | None: ...
    # pose: the robot's pose by dead reckoning (odometry.py; None: unknown this cycle)


class Unseen:
    """Things (a target, a class) that acted and may act again once unseen for rearm_s."""

    def __init__(self, rearm_s: float):
        self.rearm_s = rearm_s
        self._last_seen_s: dict[str, float] = {}

    def acted(self, key: str, now_s: float) -> None:
        self._last_seen_s[key] = now_s

    def seen(self, key: str, now_s: float) -> None:
        """Seen again while resting: the rest starts over (once over, a sighting is new)."""
        if self.resting(key, now_s):
            self._last_seen_s[key] = now_s

    def resting(self, key: str, now_s: float) -> bool:
        """True while `key` has been seen within rearm_s of its action or last sighting."""
        last = self._last_seen_s.get(key)
        if last is not None and now_s - last >= self.rearm_s:
            del self._last_seen_s[key]
            last = None
        return last is not None


YIELD_HYSTERESIS_M = 0.15   # an avoider that acts lets go only this much beyond yield_beyond_m
ESCAPE_TURN = 0.6   # blocked ahead, a steer expert turns in place at least this share of a full
                    # turn: at its own steering near 0 (a wall square ahead) it would never turn
# The side a blocked steer expert turned to is kept until the way reads this much beyond
# stop_within_m: seen in the trials (seed 2010), facing a notch in the obstacle field with the
# clear way read at 0.15-0.26 m about a 0.2 m stop, each new stop picked its side by the
# expert's steering (near 0, flipping), the idle search turned on the way the last stop went,
# and the robot swung 6 degrees back and forth on one spot for 13 s, until the stuck guard.
SIDE_KEPT_M = 0.15


class SteerRule:
    """Blocked ahead (clear way below stop_within_m) it turns in place, never forward, at
    least at ESCAPE_TURN, and keeps the side it chose until the way is clear again (SIDE_KEPT_M
    beyond): a robot facing a wall square on neither freezes nor swings back and forth."""

    def __init__(self, contract: SteerDrive, wheels: Wheels):
        self.contract, self.wheels, self.can_stop = contract, wheels, contract.can_stop
        self._escape_side = 0.0           # +1 left, -1 right while blocked; 0 when clear
        self._acting = False              # it bid last time it had a row (yield hysteresis)

    def step(self, now_s, row, awake, frame_id, pose=None):
        if row is None:
            return None
        c, steering = self.contract, float(row[self.contract.steering])
        if c.visible is not None and not row[c.visible] > 0:
            self._escape_side, self._acting = 0.0, False
            return None                    # what it steers by is not in view
        # Once acting, it lets go only YIELD_HYSTERESIS_M further out: a clear way read
        # around the limit made it and the idle search take turns every other frame, and the
        # robot stood by a wall for 25 s.
        if c.yield_beyond_m is not None and row[c.clear_ahead] > \
                c.yield_beyond_m + (YIELD_HYSTERESIS_M if self._acting else 0.0):
            self._escape_side, self._acting = 0.0, False
            return None                    # nothing near: lower priorities drive
        self._acting = True
        if c.clear_ahead is not None and row[c.clear_ahead] < c.stop_within_m:
            if not self._escape_side:
                self._escape_side = -1.0 if steering < 0 else 1.0
            turn = self._escape_side * max(abs(steering), ESCAPE_TURN)
            return Bid(*self.wheels.turn_in_place(turn), OBSTACLE, True, frame_id)
        if c.clear_ahead is None or row[c.clear_ahead] > c.stop_within_m + SIDE_KEPT_M:
            self._escape_side = 0.0
        return Bid(*self.wheels.steer(steering, c.speed), STEERING, False, frame_id)


@dataclass(frozen=True)
class _Action:
    bid: Bid
    until_s: float


class ClassesRule:
    def __init__(self, contract: ClassesDrive, wheels: Wheels):
        self.contract, self.wheels, self.can_stop = contract, wheels, contract.can_stop
        self._rested = Unseen(contract.rearm_s)
        self._running: _Action | None = None

    def step(self, now_s, row, awake, frame_id, pose=None):
        c = self.contract
        top = c.top_class(row) if row is not None else None
        if top is not None:
            self._rested.seen(top, now_s)
        if self._running is not None and now_s < self._running.until_s:
            return self._running.bid
        self._running = None
        if top is None or c.action(top) == NONE or self._rested.resting(top, now_s):
            return None
        self._rested.acted(top, now_s)
        action = c.action(top)
        if action == STOP:
            bid, lasts_s = Bid(0.0, 0.0, STOP_SIGN, True, frame_id), c.hold_s
        else:
            steering = 1.0 if action == TURN_LEFT else -1.0
            bid, lasts_s = Bid(*self.wheels.steer(steering, c.speed), TURNING, False,
                               frame_id), c.turn_s
        self._running = _Action(bid, now_s + lasts_s)
        return bid
