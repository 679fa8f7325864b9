"""How a steering in [-1, 1] becomes the two wheel setpoints of a differential-drive robot.

    limits = SteeringLimits(cruise_mm_s=200.0, turn_rad_s=1.6, slow_in_turns=0.8)
    left, right = limits.wheels(0.5, wheelbase_mm=150.0, speed=0.7)   # mm/s, + forward
    left, right = limits.turn_in_place(-1.0, wheelbase_mm=150.0)      # no forward motion
    steering, seconds = limits.arc_through(0.3, 600.0, speed=0.8)   # to a point 0.3 rad left, 0.6 m

The one implementation: the arbiter drives the robot with it (its numbers are
the run config's [arbiter] table) and the sim's autopilot drives the demo robot
with it. Conventions are the C robot's: a steering > 0 turns left
(counter-clockwise), so the right wheel runs faster.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def wrap_angle(rad):
    """An angle (or an array of them) in radians, into [-pi, pi)."""
    return (rad + np.pi) % (2 * np.pi) - np.pi


@dataclass(frozen=True)
class SteeringLimits:
    """How fast the robot goes and turns at a steering; the demo robot's by default."""
    cruise_mm_s: float = 200.0        # forward speed at steering 0 and speed 1
    turn_rad_s: float = 1.6           # the turn rate at steering 1
    slow_in_turns: float = 0.8        # speed falls by this share at a full turn

    def wheels(self, steering: float, wheelbase_mm: float, speed: float = 1.0
               ) -> tuple[float, float]:
        """(left, right) mm/s for `steering` (clipped to [-1, 1]) at `speed` (a share of
        cruise_mm_s): the turn rate is the steering's whatever the speed, so a slow robot
        still turns where it is told to."""
        s = float(np.clip(steering, -1.0, 1.0))
        v = self.cruise_mm_s * speed * (1.0 - self.slow_in_turns * abs(s))
        return self._around(v, s, wheelbase_mm)

    def turn_in_place(self, steering: float, wheelbase_mm: float) -> tuple[float, float]:
        """(left, right) mm/s that turn the robot on the spot at the steering's rate: what a
        robot that must not go forward (a wall ahead, a marker to square up to) may do."""
        return self._around(0.0, float(np.clip(steering, -1.0, 1.0)), wheelbase_mm)

    def _around(self, v_mm_s: float, steering: float, wheelbase_mm: float) -> tuple[float, float]:
        w = steering * self.turn_rad_s
        return v_mm_s - w * wheelbase_mm / 2, v_mm_s + w * wheelbase_mm / 2

    def arc_through(self, bearing_rad: float, distance_mm: float, speed: float = 1.0
                    ) -> tuple[float, float]:
        """(steering, seconds): the one steering whose arc, driven at `speed` from here, runs
        through the point `distance_mm` away at `bearing_rad` (+ left), and how long it takes
        to get there. Dead reckoning without odometry: a robot that has lost sight of where it
        was going can still get there. The arc turns the heading by twice the bearing
        (a chord's tangent-chord angle), so its curvature is 2 sin(bearing) / distance; a point
        too far to the side for a full turn is passed on the tightest arc, for the time that
        turns the heading by as much."""
        b = float(bearing_rad)
        if not (abs(b) < math.pi / 2 and distance_mm > 0 and speed > 0):
            raise ValueError(f"arc_through: bearing {b:.3f} rad must be within ±pi/2, "
                             f"distance {distance_mm} mm and speed {speed} > 0")
        v_straight = self.cruise_mm_s * speed
        kappa = 2.0 * math.sin(b) / distance_mm                  # 1/mm, + left
        # The turn rate s*turn_rad_s over the speed v*(1 - slow_in_turns*|s|) equals kappa:
        s = kappa * v_straight / (self.turn_rad_s + self.slow_in_turns * abs(kappa) * v_straight)
        if abs(s) >= 1.0:
            return math.copysign(1.0, s), 2.0 * abs(b) / self.turn_rad_s
        length_mm = distance_mm if abs(b) < 1e-9 else distance_mm * b / math.sin(b)
        return s, length_mm / (v_straight * (1.0 - self.slow_in_turns * abs(s)))


def axis_aim(bearing_rad: float, distance_mm: float, off_axis_rad: float, lead_mm: float,
             nearest_mm: float) -> tuple[float, float]:
    """(along_mm, aim_rad) for a target seen at `bearing_rad` (+ left), `distance_mm`, with
    the robot `off_axis_rad` off its axis (seen from the target; + when the axis lies to the
    robot's left as it faces the target): how far out along the axis the robot stands, and
    the bearing of the point on the axis `lead_mm` nearer the target than that, but no nearer
    than `nearest_mm`. Steered to each frame, it takes the robot onto the axis and in along
    it (a pure pursuit of a point sliding down the axis)."""
    along = distance_mm * math.cos(off_axis_rad)
    out = bearing_rad + math.pi - off_axis_rad          # the axis, outward, in the robot's frame
    aim = max(nearest_mm, along - lead_mm)
    x = distance_mm * math.cos(bearing_rad) + aim * math.cos(out)
    y = distance_mm * math.sin(bearing_rad) + aim * math.sin(out)
    return along, math.atan2(y, x)
