"""What each drive behaviour (contract.py) makes of an expert's output row, and what it remembers.

    rule = make_rule(entry.drive, wheels)
    bid = rule.step(now_s, row, awake=True, frame_id=17)   # a Bid, or None: nothing to say

One rule per expert with a drive contract, kept by the arbiter (decide.py)
across control cycles. `row` is the output's columns from a fresh, finite
result, or None (the expert is asleep, or its result is missing, stale or
broken: decide.py says which and counts it). Time is `now_s`, passed in: the
rules read no clock, so a fake clock tests them.

What they remember, and when they let go:
- seek, hold: arrived, it holds (a safety stop) while the expert stays awake,
  whatever its results say; asleep, the hold is over.
- seek, release: arrived, it lets go at once (others drive this very cycle) and
  seeks again only once the target has gone unseen (no fresh result that sees
  it) for rearm_s.
- seek, coast_m: a fresh result that no longer sees the target it was seeking
  (nearer than coast_m, within ±90° of the heading) starts a coast: the arc
  through where it was last seen (kinematics.arc_through), driven for its time
  whatever the results say unless the target is seen again; then it has arrived.
- classes: an action, once started, runs its time (hold_s, turn_s) whatever the
  expert says or whether it is awake: a stop sign stops the robot for hold_s
  even if the sign reader is paged out meanwhile. The class that acted acts
  again only once it has gone unseen (not the confident top class of a fresh
  result) for rearm_s, so the robot goes on past the sign it stopped at.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .contract import (CLASSES, HOLD, NONE, SEEK, STEER, STOP, TURN_LEFT, ClassesDrive,
                       DriveContract, SeekDrive, SteerDrive)
from .kinematics import SteeringLimits, wrap_angle

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
             frame_id: int | None, heading_rad: float | None = None) -> Bid | None: ...
    # heading_rad: the robot's heading (heading.py; None: unknown this cycle)


def make_rule(contract: DriveContract, wheels: Wheels) -> Rule:
    return {STEER: SteerRule, SEEK: SeekRule, CLASSES: ClassesRule}[contract.name](
        contract.behaviour, wheels)


class _Unseen:
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


ESCAPE_TURN = 0.6   # blocked ahead, a steer expert turns in place at least this share of a full
                    # turn: at its own steering near 0 (a wall square ahead) it would never turn


class SteerRule:
    """Blocked ahead (clear way below stop_within_m) it turns in place, never forward, at
    least at ESCAPE_TURN, and keeps the side it chose until the way is clear again: a robot
    facing a wall square on neither freezes nor swings back and forth."""

    def __init__(self, contract: SteerDrive, wheels: Wheels):
        self.contract, self.wheels, self.can_stop = contract, wheels, contract.can_stop
        self._escape_side = 0.0           # +1 left, -1 right while blocked; 0 when clear

    def step(self, now_s, row, awake, frame_id, heading_rad=None):
        if row is None:
            return None
        c, steering = self.contract, float(row[self.contract.steering])
        if c.visible is not None and not row[c.visible] > 0:
            self._escape_side = 0.0
            return None                    # what it steers by is not in view
        if c.yield_beyond_m is not None and row[c.clear_ahead] > c.yield_beyond_m:
            self._escape_side = 0.0
            return None                    # nothing near: lower priorities drive
        if c.clear_ahead is not None and row[c.clear_ahead] < c.stop_within_m:
            if not self._escape_side:
                self._escape_side = -1.0 if steering < 0 else 1.0
            turn = self._escape_side * max(abs(steering), ESCAPE_TURN)
            return Bid(*self.wheels.turn_in_place(turn), OBSTACLE, True, frame_id)
        self._escape_side = 0.0
        return Bid(*self.wheels.steer(steering, c.speed), STEERING, False, frame_id)


@dataclass(frozen=True)
class _Action:
    bid: Bid
    until_s: float


class SeekRule:
    _TARGET = "target"        # one target per expert: it cannot tell one ball from another

    def __init__(self, contract: SeekDrive, wheels: Wheels):
        self.contract, self.wheels, self.can_stop = contract, wheels, contract.can_stop
        self._released = _Unseen(contract.rearm_s)
        self._held: Bid | None = None
        self._sighting: tuple[float, float, int | None] | None = None  # the last cycle's
        #                               seek: (bearing rad, distance m, frame id), else None
        self._coast: _Action | None = None
        self._came_from: float | None = None    # heading (rad) straight back along the last
        #                                         arrival, with no_return_deg; else None
        self._heading: float | None = None

    def step(self, now_s, row, awake, frame_id, heading_rad=None):
        c = self.contract
        self._heading = heading_rad
        if not awake:
            self._held = self._coast = self._sighting = None   # the activator let it go
            return None
        seen = row is not None and row[c.visible] > 0 and not self._behind(row[c.bearing])
        if seen:
            self._released.seen(self._TARGET, now_s)
        if self._held is not None:
            return self._held
        sighting, self._sighting = self._sighting, None
        if seen and not self._released.resting(self._TARGET, now_s):
            self._coast = None
            return self._seek(now_s, row, frame_id)
        if self._coast is None and sighting is not None and row is not None:
            self._coast = self._coast_from(now_s, *sighting)    # just lost from sight
        if self._coast is None:
            return None
        if now_s < self._coast.until_s:
            return self._coast.bid
        frame_id, self._coast = self._coast.bid.frame_id, None
        return self._arrived(now_s, frame_id)

    def _seek(self, now_s, row, frame_id):
        c = self.contract
        steering = self.wheels.steering_to(row[c.bearing])
        if row[c.distance] > c.arrive_m:
            self._sighting = (float(row[c.bearing]), float(row[c.distance]), frame_id)
            return Bid(*self.wheels.steer(steering, c.speed), SEEKING, False, frame_id)
        if c.aligned is not None and row[c.aligned] <= 0:
            # Close enough, not square: no nearer, only turn on the spot toward it.
            return Bid(*self.wheels.turn_in_place(steering), ALIGNING, True, frame_id)
        self._passing(float(row[c.bearing]))
        return self._arrived(now_s, frame_id)

    def _coast_from(self, now_s, bearing_rad, distance_m, frame_id) -> _Action | None:
        """Lost from sight at `distance_m`: the arc to where it was last seen, or None."""
        c = self.contract
        if c.coast_m is None or distance_m > c.coast_m or not abs(bearing_rad) < math.pi / 2:
            return None
        steering, seconds = self.wheels.limits.arc_through(bearing_rad, distance_m * 1000.0,
                                                           c.speed)
        # Committed to going through: the way back is behind the target from here on, even
        # if another expert takes the robot over before the coast ends.
        self._passing(bearing_rad)
        return _Action(Bid(*self.wheels.steer(steering, c.speed), COASTING, False, frame_id),
                       now_s + seconds)

    def _behind(self, bearing_rad: float) -> bool:
        """True for a target within no_return_deg of the way back past the last target."""
        if self._came_from is None or self._heading is None:
            return False
        off = wrap_angle(self._heading + bearing_rad - self._came_from)
        return abs(off) <= math.radians(self.contract.no_return_deg)

    def _passing(self, bearing_rad: float) -> None:
        """With no_return_deg: remember the way back from a target at `bearing_rad` passed."""
        if self.contract.no_return_deg is not None and self._heading is not None:
            self._came_from = self._heading + bearing_rad + math.pi

    def _arrived(self, now_s, frame_id):
        if self.contract.on_arrival == HOLD:
            self._held = Bid(0.0, 0.0, ARRIVED, True, frame_id)
            return self._held
        self._released.acted(self._TARGET, now_s)
        return None


class ClassesRule:
    def __init__(self, contract: ClassesDrive, wheels: Wheels):
        self.contract, self.wheels, self.can_stop = contract, wheels, contract.can_stop
        self._rested = _Unseen(contract.rearm_s)
        self._running: _Action | None = None

    def top_class(self, row: np.ndarray) -> str | None:
        """The class whose logit leads the next by the contract's margin, or None."""
        best = int(np.argmax(row))
        runner_up = np.max(np.delete(row, best))
        return self.contract.names[best] if row[best] - runner_up >= self.contract.margin \
            else None

    def step(self, now_s, row, awake, frame_id, heading_rad=None):
        c = self.contract
        top = self.top_class(row) if row is not None else None
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
