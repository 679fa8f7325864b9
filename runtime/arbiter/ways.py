"""The ways back and the way on: what the door finders and the range sensor say of where to go.

A door finder is a seek with no_return_deg (seek.py): it remembers the doors it passed.

    ways = Ways({"exit_find": seek_rule})          # the arbiter's (decide.py)
    ways.ways_back(pose)                           # (heading, half-width): doors passed
    ways.back_through(pose, target)                # a seek's target back through one?
    ways.way_on(now_s)                             # the heading the way on was seen along
    ways.see(now_s, pose, range_mm)                # once a control cycle
    ways.route(now_s, pose, ways.way_on_goal())    # round what was read blocked, or None

The arbiter asks these for its steers (not facing a way back), its idle search (not back the
way it came; toward the way on; round what the range sensor read blocked on the way to it,
places.py) and a door finder's seek (round what was read blocked on its straight way).
Pure given its inputs: no clock is read here.
"""
from __future__ import annotations

import math
from typing import Mapping

from .kinematics import wrap_angle
from .odometry import Pose
from .places import Places

WAY_BACK_MIN_MM = 300.0    # a passed door nearer than this: which way is back is not known
WAY_ON_S = 20.0            # the way on seen this lately still says which way it lies (way_on)
# The way on is gone round what was read blocked on the straight way (places.py), aimed at no
# nearer than DOOR_GOAL_MM (doors read short among obstacles); what was read blocked within
# DOOR_NEAR_MM of that aim is its own (a door's posts).
DOOR_GOAL_MM, DOOR_NEAR_MM = 1200.0, 200.0
# The way on, once seen, is still aimed for this long, until a door is passed: seen in the
# trials (seed 2010), the exit hidden behind a box from where the robot stood, the search
# forgot which way it lay after WAY_ON_S and went to the corner with the most room.
WAY_ON_GOAL_S = 60.0
BACK_THROUGH_MM = 1500.0   # a target this far along a passed door from it: not through it


def at_least(start, point, mm: float) -> tuple[float, float]:
    """`point`, or further from `start` along the line through it so it is `mm` away."""
    d = math.dist(start, point)
    if d >= mm or d == 0:
        return point
    k = mm / d
    return start[0] + (point[0] - start[0]) * k, start[1] + (point[1] - start[1]) * k


class Ways:
    def __init__(self, doors: Mapping):
        """doors: the door finders' SeekRules (seek.py) by expert name."""
        self._doors = dict(doors)
        self.places = Places()      # what the range sensor read, by place (see() each cycle)
        self._goal = None           # (when, doors passed then, the way on's sighting)

    def passed(self) -> dict[str, tuple]:
        """Per door finder, the targets it remembers passed (seek.Passed: where the robot
        passed each from and where it is, odometry mm), oldest first."""
        return {name: rule.passed for name, rule in self._doors.items()}

    def ways_back(self, pose: Pose | None) -> tuple[tuple[float, float], ...]:
        """(heading rad, half-width rad) from `pose` toward where the robot was when it passed
        each door, if at least WAY_BACK_MIN_MM away: the ways the robot came, which the idle
        search and the stuck guard do not head back along while another way has room. Empty
        without a pose."""
        if pose is None:
            return ()
        ways = []
        for name, passed in self.passed().items():
            half = math.radians(self._doors[name].contract.no_return_deg)
            for p in passed:
                bearing, distance_mm = pose.toward(p.start)
                if distance_mm >= WAY_BACK_MIN_MM:
                    ways.append((float(wrap_angle(pose.heading_rad + bearing)), half))
        return tuple(ways)

    def back_through(self, pose: Pose, target: tuple[float, float]) -> bool:
        """True for a `target` (odometry mm) back through a door passed: on the door's near
        side (toward where the robot passed it from), within BACK_THROUGH_MM of the door along
        it, and the robot on its far side."""
        for p in (p for passed in self.passed().values() for p in passed):
            nx, ny = p.start[0] - p.point[0], p.start[1] - p.point[1]
            norm = math.hypot(nx, ny)
            if norm == 0:
                continue
            nx, ny = nx / norm, ny / norm
            tx, ty = target[0] - p.point[0], target[1] - p.point[1]
            near_side = tx * nx + ty * ny > 0 and abs(tx * ny - ty * nx) <= BACK_THROUGH_MM
            robot_far = (pose.x_mm - p.point[0]) * nx + (pose.y_mm - p.point[1]) * ny < 0
            if near_side and robot_far:
                return True
        return False

    def facing_back(self, pose: Pose) -> bool:
        """True with the robot's heading within a way back (ways_back)."""
        return any(abs(wrap_angle(pose.heading_rad - heading)) <= half
                   for heading, half in self.ways_back(pose))

    def way_on(self, now_s: float) -> float | None:
        """The heading (rad, odometry) along which a door finder last saw a target it has not
        passed, within WAY_ON_S: which way the way on lies, whatever its distance read. None:
        none seen lately."""
        seen = self._seen(now_s)
        return None if seen is None else math.atan2(seen[1][1] - seen[0][1],
                                                    seen[1][0] - seen[0][0])

    def see(self, now_s: float, pose: Pose | None, range_mm: float | None) -> None:
        """Once a control cycle, after the rules' steps: the range reading kept by place, and
        the way on's last sighting kept for way_on_goal."""
        self.places.see(now_s, pose, range_mm)
        seen = self._seen(now_s)
        passed = sum(len(p) for p in self.passed().values())
        if seen is not None:
            self._goal = (now_s, passed, seen)
        elif self._goal is not None and (now_s - self._goal[0] > WAY_ON_GOAL_S
                                         or passed != self._goal[1]):
            self._goal = None         # long ago, or a door passed since: another room's

    def way_on_goal(self) -> tuple[float, float] | None:
        """Where the way on was last seen, at least DOOR_GOAL_MM from where the robot saw it
        from along the line it was seen on (odometry mm), for WAY_ON_GOAL_S or until a door is
        passed (as of the last see()); None: none."""
        return None if self._goal is None else at_least(*self._goal[2], DOOR_GOAL_MM)

    @staticmethod
    def door_goal(pose: Pose, target) -> tuple[float, float]:
        """A door finder's `target` (odometry mm), aimed at from `pose` as way_on_goal is."""
        return at_least((pose.x_mm, pose.y_mm), target, DOOR_GOAL_MM)

    def route(self, now_s: float, pose: Pose | None, goal) -> float | None:
        """The heading round what was read blocked on the straight way to `goal` (places.py);
        None while that way is clear as far as read (or short of DOOR_NEAR_MM of it), or no
        way round is known, or no pose or goal."""
        if pose is None or goal is None \
                or not self.places.blocked_on(now_s, pose, goal, DOOR_NEAR_MM):
            return None
        return self.places.route(now_s, pose, goal)

    def _seen(self, now_s: float):
        """(where the robot was, where the target was) of way_on's sighting, or None."""
        last = None
        for rule in self._doors.values():
            for seen_s, robot_at, point in rule.ahead:
                if now_s - seen_s <= WAY_ON_S and (last is None or seen_s > last[0]) \
                        and point != robot_at:
                    last = (seen_s, robot_at, point)
        return None if last is None else last[1:]
