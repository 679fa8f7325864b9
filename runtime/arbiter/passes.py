"""What a door finder (a seek with no_return_deg, seek.py) remembers by place, in odometry mm:
the targets it passed, and the ones it saw ahead lately and has not yet gone by.

    passes = Passes(no_return_deg=60.0)
    passes.behind(pose, bearing_rad, distance_mm)   # True: a sighting of one passed, not sought
    passes.gone_by(now_s, pose, point)              # sightings now beside or behind: passed
    passes.passing(pose, bearing_rad, distance_mm)  # arrived at it: passed
    passes.passed, passes.ahead                     # the ways back (decide.py), the ways on

Doors look alike from both sides, so a door seen again from its far side must not be taken
for the way on. What is remembered, and why, is in the constants' comments below.
"""
from __future__ import annotations

import collections
import math
from dataclasses import dataclass

from .kinematics import wrap_angle
from .odometry import Pose

# The last PASSED_KEPT targets passed are remembered where they are and where the robot was
# when it passed them (the arrival's start, or its last sighting); one seen within
# no_return_deg of where one is, and as far within PASSED_SLACK_MM or PASSED_SLACK of its
# distance (an estimate from the other side of a door, and odometry's drift), is not sought;
# nor one whose point is within PASSED_NEAR_MM or PASSED_SLACK of its distance of the way
# between (seen in the demo: just through a door, the robot glimpsed that door 0.5 m behind
# it, across the aim point it had passed, coasted back through it, and the line follower led
# it home). Remembered by place, not by the way back: a coast to a phantom does not make the
# real way on "back".
PASSED_KEPT = 3
PASSED_SLACK_MM = 700.0
PASSED_SLACK = 0.35
PASSED_NEAR_MM = 500.0
# ... but one looked at along the way one was passed in (within PASSED_AHEAD_DEG) is not it,
# however far it reads: past where it passed it, that one lies behind. Seen in the trials: the
# obstacle field's exit, read at 0.8 m for 1.6 m, "passed" halfway, hid the real exit
# straight ahead as the way back, and the robot was led back out of the field.
PASSED_AHEAD_DEG = 75.0
# ... and so is one it saw and then went by while another expert drove (seen in the demo: the
# line follower took the robot through the door; the way-on finder, which had seen that door
# ahead all the way, never passed it itself, and took it for the way on once turned round,
# coasting back through it): with the robot within GONE_BY_MM of where it last saw it, the
# target beside or behind it, within GONE_BY_FORGET_S of that sighting.
GONE_BY_MM = 350.0
GONE_BY_FORGET_S = 20.0
SAME_TARGET_MM = 700.0     # a target seen within this of where one was is that one
HOME_MM = 150.0            # driving on to a point this near, it is there (bearings swing)


@dataclass(frozen=True)
class Passed:
    """A target passed, in odometry mm: where the robot was, where the target was."""
    start: tuple[float, float]
    point: tuple[float, float]


def _to_segment(p, a, b) -> float:
    """Distance (mm) from point p to the segment a-b."""
    ax, ay = b[0] - a[0], b[1] - a[1]
    length2 = ax * ax + ay * ay
    t = 0.0 if length2 == 0 else min(1.0, max(0.0, ((p[0] - a[0]) * ax + (p[1] - a[1]) * ay)
                                              / length2))
    return math.dist(p, (a[0] + t * ax, a[1] + t * ay))


class Passes:
    def __init__(self, no_return_deg: float):
        self.no_return_rad = math.radians(no_return_deg)
        self.passed: collections.deque[Passed] = collections.deque(maxlen=PASSED_KEPT)
        # (when, where the robot was, the target's point) of the last sighting of each target
        # seen lately, by place, until it is gone by: the ways on, oldest first
        self.ahead: list[tuple[float, tuple[float, float], tuple[float, float]]] = []

    def behind(self, pose: Pose, bearing_rad: float, distance_mm: float) -> bool:
        """True for a sighting of a target passed: not looked at along the way it was passed
        in, and within no_return_deg of where it is and about as far, or on the way between
        (a door seen from its far side)."""
        seen = pose.point_at(bearing_rad, distance_mm)
        near_mm = max(PASSED_NEAR_MM, PASSED_SLACK * distance_mm)
        sight = pose.heading_rad + bearing_rad
        for passed in self.passed:
            way = math.atan2(passed.point[1] - passed.start[1], passed.point[0] - passed.start[0])
            if abs(wrap_angle(sight - way)) < math.radians(PASSED_AHEAD_DEG):
                continue                 # looking on the way it was passed in: not behind
            b, d = pose.toward(passed.point)
            if abs(wrap_angle(bearing_rad - b)) <= self.no_return_rad \
                    and abs(distance_mm - d) <= max(PASSED_SLACK_MM, PASSED_SLACK * d):
                return True
            if _to_segment(seen, passed.start, passed.point) <= near_mm:
                return True
        return False

    def gone_by(self, now_s: float, pose: Pose, point: tuple[float, float] | None) -> int:
        """A target seen ahead lately and now beside or behind the robot, within GONE_BY_MM, is
        passed, whoever drove; `point` is where a sighting this cycle puts it, or None. How
        many were newly passed. Targets are told apart by place: seen in the demo, the way-on
        finder saw the next zone's door the moment the robot was through one, and only one
        remembered sighting (or a place moved on with each reading) let the door just gone
        through be forgotten, unpassed."""
        kept, newly = [], 0
        for seen_s, robot_at, at in self.ahead:
            if now_s - seen_s > GONE_BY_FORGET_S:
                continue
            bearing, distance_mm = pose.toward(at)
            if distance_mm <= GONE_BY_MM and abs(bearing) >= math.pi / 2 \
                    and _advanced(pose, robot_at, at):
                if not any(math.dist(p.point, at) <= SAME_TARGET_MM for p in self.passed):
                    self.passed.append(Passed(robot_at, at))
                    newly += 1
                continue
            kept.append((seen_s, robot_at, at))
        if point is not None:
            # The same target again (within SAME_TARGET_MM): its point is the one seen from
            # nearest (an estimate is best near), so a door's place is not dragged on toward
            # the next door by the readings in between.
            here = (pose.x_mm, pose.y_mm)
            same = [k for k in kept if math.dist(k[2], point) <= SAME_TARGET_MM]
            kept = [k for k in kept if k not in same]
            nearest = min(same + [(now_s, here, point)], key=lambda k: math.dist(k[1], k[2]))
            kept.append((now_s, nearest[1], nearest[2]))
        self.ahead = kept[-PASSED_KEPT:]
        return newly

    def passing(self, pose: Pose, bearing_rad: float, distance_mm: float) -> None:
        """Arrived at a target `distance_mm` away at `bearing_rad`: it is passed."""
        self.passed.append(Passed((pose.x_mm, pose.y_mm), pose.point_at(bearing_rad, distance_mm)))


def _advanced(pose: Pose, robot_at, point) -> bool:
    """True once the robot has come, from `robot_at`, as deep as `point` was seen from there
    (less HOME_MM): seen in the demo, turning on the spot 0.3 m from a door it had read short,
    the door came beside the robot and was taken for passed."""
    depth = math.dist(robot_at, point)
    if depth == 0:
        return True
    ux, uy = (point[0] - robot_at[0]) / depth, (point[1] - robot_at[1]) / depth
    come = (pose.x_mm - robot_at[0]) * ux + (pose.y_mm - robot_at[1]) * uy
    return come >= depth - HOME_MM
