"""In along a target's axis, square onto it: a seek with an off_axis column (seek.py).

    approach = AxisApproach(contract, wheels, counts)
    what = approach.step(now_s, row, frame_id, pose)  # a steering (seek on), a Bid, or ARRIVED
    approach.grace(now_s, pose)                       # out of sight: a Bid on along it, or None
    approach.let_go()                                 # the expert went to sleep

The far part: each frame it steers to a point on the axis LEAD_MM nearer the target than
the robot's foot on it (never nearer than arrive_m), as the sim's autopilot docks, but
never so far that the target lies more than KEEP_IN_VIEW_RAD off the heading: turning
straight onto the axis from far off it turned the marker out of the camera's view, and the
activator put the dock to sleep; kept in view, the robot spirals in toward the axis.
Within arrive_m along the axis it only turns in place, to face along it, and then judges on
the median of SQUARE_FRAMES frames' rows taken so (where the expert reads best: seen in the
demo, 20 degrees askew it read 3 degrees off the axis as 6-10; one noisy frame neither docks
it nor sends it out; a frame counts once, however many control cycles act on it): off the
axis and turned from it by square_deg at most, it has arrived; further off, it backs out
BACK_OUT_MM and comes in again (turning in place cannot take it onto the axis), at once if
FAR_OFF_SQUARE times square_deg off (facing along the axis from there would turn the target
out of view). Seen in the demo before this: driven straight at the marker, the robot came in
on whatever line it had, held 0.36 m out, 7-14 degrees askew, and never docked. Backing out
is blind (the range sensor looks ahead), and it reverses toward the point on the axis it
backs out to, the target kept in view: straight back, a robot 20 degrees off the axis was
still 20 degrees off it (dock_trials.py: 45 back-outs in 48 trials before, 31 after).

Each sighting puts the target's point and its outward axis into the odometry frame. What
the seek steers by is the median point and mean axis of the sightings of the last
AXIS_KEEP_S taken from nearest the target (within NEAREST_SHARE of the nearest, by where
the robot stood, not by what was read: choosing the looks that read nearest chose the ones
that read too near, and held a robot 75 mm short of the dock): the dock expert reads the
axis from 1-1.8 m 10-20 degrees off, from within 0.8 m 3 degrees off (dock_trials.py), so
a look from near is worth many from afar, and it is kept through a back-out. And it stays
steered by for AXIS_GRACE_S after the target was last seen: turning onto the axis from off
it turns the camera away from the target (seen in the demo: from 40 degrees off the axis,
the robot turned toward the axis, lost the marker from view, and the idle search turned it
back to look, over and over). Without a pose there is no memory: the seek steers by each
row alone.
"""
from __future__ import annotations

import collections
import math
import statistics
from collections import Counter
from typing import NamedTuple

from .behaviours import ALIGNING, ARRIVED, SEEKING, Bid, Wheels
from .contract import SeekDrive
from .kinematics import axis_aim, wrap_angle
from .odometry import Pose

AXIS_KEEP_S = 6.0         # sightings this much older than the last are forgotten
NEAREST_SHARE = 1.25      # of those, the ones seen from within this share of the nearest
LATEST_LOOKS = 8          # ... to where the last this many put the target
KEPT_SIGHTINGS = 256      # frames (30 a second)
AXIS_GRACE_S = 3.0        # the axis is steered by this long after the target was last seen
LEAD_MM = 250.0           # the aim point's lead along the axis (the autopilot's)
KEEP_IN_VIEW_RAD = 0.4    # steered so the target stays this near the heading
BACK_OUT_MM = 300.0       # arrived off the axis, it backs out this far beyond arrive_m
BACK_OUT_SPEED = 1.0      # ... at this share of its seek speed, reversing toward the point
BACK_OUT_AIM = 1.5        # on the axis this many times BACK_OUT_MM beyond arrive_m (beyond
#                           where it stops backing: it is still turning onto the axis there)
BACKING = "back_out"      # Bid.reason while backing out; SeekRule.counts: back-outs begun
SQUARE_FRAMES = 9         # rows facing along the axis whose median judges it square
LOOKS_KEPT_MM = 100.0     # rows gathered squaring up are kept while it is no further out
FAR_OFF_SQUARE = 3.0      # this many times square_deg off the axis, it backs out at once


class _Sighting(NamedTuple):
    t_s: float
    point: tuple[float, float]     # the target's, odometry mm
    outward_rad: float             # its axis, outward, odometry frame
    seen_from: tuple[float, float]  # where the robot was, odometry mm
    frame_id: int | None


class Remembered(NamedTuple):
    bearing_rad: float             # the target's, from the pose asked from (+ left)
    distance_mm: float
    off_axis_rad: float            # the robot's, off the target's axis
    frame_id: int | None           # the frame it was last seen in


class AxisMemory:
    def __init__(self):
        self._seen: collections.deque[_Sighting] = collections.deque(maxlen=KEPT_SIGHTINGS)

    def clear(self) -> None:
        self._seen.clear()

    def seen(self, now_s: float, pose: Pose, frame_id: int | None, bearing_rad: float,
             distance_mm: float, off_axis_rad: float) -> None:
        """A row of frame `frame_id`, read as seen from `pose`; a frame already seen adds
        nothing (control runs faster than frames come)."""
        if self._seen and frame_id is not None and self._seen[-1].frame_id == frame_id:
            return
        if not all(math.isfinite(v) for v in (pose.x_mm, pose.y_mm, pose.heading_rad,
                                              bearing_rad, distance_mm, off_axis_rad)):
            return                      # nothing to remember by (a robot's word, not trusted)
        outward = pose.heading_rad + bearing_rad + math.pi - off_axis_rad
        self._seen.append(_Sighting(now_s, pose.point_at(bearing_rad, distance_mm), outward,
                                    (pose.x_mm, pose.y_mm), frame_id))

    def toward(self, now_s: float, pose: Pose) -> Remembered | None:
        """From `pose`: the remembered target and its axis; None once it has been out of
        sight AXIS_GRACE_S (or never seen)."""
        if not self._seen or now_s - self._seen[-1].t_s > AXIS_GRACE_S:
            return None
        last_s = self._seen[-1].t_s
        recent = [s for s in self._seen if last_s - s.t_s <= AXIS_KEEP_S]
        # Nearest by where the robot stood, not by what each look read: choosing the looks
        # that read nearest would choose the ones that read too near.
        latest = recent[-LATEST_LOOKS:]
        here = (statistics.median(s.point[0] for s in latest),
                statistics.median(s.point[1] for s in latest))
        ranges = [math.dist(s.seen_from, here) for s in recent]
        nearest = min(ranges)
        recent = [s for s, r in zip(recent, ranges) if r <= nearest * NEAREST_SHARE]
        x = statistics.median(s.point[0] for s in recent)
        y = statistics.median(s.point[1] for s in recent)
        outward = math.atan2(sum(math.sin(s.outward_rad) for s in recent),
                             sum(math.cos(s.outward_rad) for s in recent))
        bearing, distance = pose.toward((x, y))
        off_axis = float(wrap_angle(math.atan2(pose.y_mm - y, pose.x_mm - x) - outward))
        return Remembered(bearing, distance, off_axis, self._seen[-1].frame_id)


class AxisApproach:
    """The far part, the squaring up and the backing out of one seek rule (module doc)."""

    def __init__(self, contract: SeekDrive, wheels: Wheels, counts: Counter):
        self.contract, self.wheels, self.counts = contract, wheels, counts
        self.memory = AxisMemory()
        self._arrive_mm = contract.arrive_m * 1000.0
        self._square_rad = math.radians(contract.square_deg)
        self._backing = False
        self._close: collections.deque = collections.deque(maxlen=SQUARE_FRAMES)
        #             the off-axis (rad) of its last rows within arrive_m
        self._square: collections.deque = collections.deque(maxlen=SQUARE_FRAMES)
        #             (off-axis, bearing) rad of its last rows there facing along the axis
        self._judged_frame: int | None = None     # the frame of the last row put in those
        self._axis: tuple[float, float, float] | None = None
        #            (bearing rad, distance mm, off-axis rad) steered by this cycle

    def let_go(self) -> None:
        """Asleep: what it was doing is over; the axis stays remembered (for AXIS_GRACE_S)."""
        self._backing = False
        self._close.clear()
        self._square.clear()

    def step(self, now_s: float, row, frame_id: int | None, pose: Pose | None):
        """For a row that sees the target: the steering to seek on by (a float), a Bid
        (backing out, or squaring up: a safety stop), or ARRIVED (square on it)."""
        c = self.contract
        axis = (float(row[c.bearing]), float(row[c.distance]) * 1000.0, float(row[c.off_axis]))
        if pose is not None:
            self.memory.seen(now_s, pose, frame_id, *axis)
            axis = self.memory.toward(now_s, pose)[:3]
        along_mm, steering = self._aim(*axis)
        self._axis = axis
        if self._backing and along_mm < self._arrive_mm + BACK_OUT_MM:
            return self._back_out(frame_id)
        self._backing = False
        if along_mm > self._arrive_mm:
            if along_mm > self._arrive_mm + LOOKS_KEPT_MM:
                self._close.clear()
                self._square.clear()
            return steering
        return self._square_up(row, frame_id)

    def grace(self, now_s: float, pose: Pose | None) -> Bid | None:
        """Out of sight: on along the remembered axis (with a pose, for AXIS_GRACE_S)."""
        axis = None if pose is None or self._backing else self.memory.toward(now_s, pose)
        if axis is None:
            return None
        along_mm, steering = self._aim(*axis[:3])
        if along_mm <= self._arrive_mm:
            return None                        # there, and not seeing it: nothing to square by
        return Bid(*self.wheels.steer(steering, self.contract.speed), SEEKING, False, axis[3])

    def _aim(self, bearing_rad: float, distance_mm: float, off_axis_rad: float
             ) -> tuple[float, float]:
        """(along mm, the steering to the aim point, the target kept in view)."""
        along_mm, aim_rad = axis_aim(bearing_rad, distance_mm, off_axis_rad, LEAD_MM,
                                     self._arrive_mm)
        aim_rad = min(max(aim_rad, bearing_rad - KEEP_IN_VIEW_RAD), bearing_rad + KEEP_IN_VIEW_RAD)
        return along_mm, self.wheels.steering_to(aim_rad)

    def _square_up(self, row, frame_id):
        c, square = self.contract, self._square_rad
        off_axis, bearing = float(row[c.off_axis]), float(row[c.bearing])
        # A frame counts once, however many control cycles act on its row.
        new = frame_id is None or frame_id != self._judged_frame
        self._judged_frame = frame_id
        if new:
            self._close.append(off_axis)
        if len(self._close) == SQUARE_FRAMES and \
                abs(statistics.median(self._close)) > FAR_OFF_SQUARE * square:
            return self._start_back_out(frame_id)
        if abs(wrap_angle(bearing - off_axis)) > 2 * square:
            self._square.clear()                                 # far from facing along it
        else:
            if new:
                self._square.append((off_axis, bearing))
            if len(self._square) == SQUARE_FRAMES:
                off_axis, bearing = (statistics.median(v) for v in zip(*self._square))
        turn = wrap_angle(bearing - off_axis)                    # to face along the axis
        if len(self._square) == SQUARE_FRAMES and abs(off_axis) > square:
            return self._start_back_out(frame_id)
        if len(self._square) < SQUARE_FRAMES or abs(turn) > square or (
                c.aligned is not None and row[c.aligned] <= 0):
            return Bid(*self.wheels.turn_in_place(self.wheels.steering_to(turn)), ALIGNING,
                       True, frame_id)
        return ARRIVED

    def _start_back_out(self, frame_id) -> Bid:
        self._backing = True
        self._close.clear()
        self._square.clear()
        self.counts[BACKING] += 1
        return self._back_out(frame_id)

    def _back_out(self, frame_id) -> Bid:
        """Reverse toward the point on the axis out beyond where backing ends (a pure pursuit
        driven backwards): straight back would keep the robot as far off the axis as it was."""
        bearing, distance, off_axis = self._axis
        out = bearing + math.pi - off_axis             # the axis, outward, in the robot's frame
        reach = self._arrive_mm + BACK_OUT_MM * BACK_OUT_AIM
        x = distance * math.cos(bearing) + reach * math.cos(out)
        y = distance * math.sin(bearing) + reach * math.sin(out)
        speed = -self.contract.speed * BACK_OUT_SPEED
        kappa = 0.0 if x >= 0 else 2.0 * y / (x * x + y * y)      # 1/mm, + left
        # The turn rate that curvature asks at this speed (slow_in_turns left out: it is
        # steered again each cycle).
        steering = speed * self.wheels.limits.cruise_mm_s * kappa / self.wheels.limits.turn_rad_s
        if abs(bearing) > KEEP_IN_VIEW_RAD and steering * bearing < 0:
            steering = 0.0             # it would turn the target out of view: straight back
        return Bid(*self.wheels.steer(steering, speed), BACKING, False, frame_id)
