"""A target's axis, remembered where odometry puts it: what a seek with an off_axis column
(seek.py) steers by.

    axis = AxisMemory()
    axis.seen(now_s, pose, frame_id, bearing_rad, distance_mm, off_axis_rad)   # a sighting
    axis.toward(now_s, pose)     # (bearing rad, distance mm, off-axis rad, frame id), or None

Each sighting puts the target's point and its outward axis into the odometry frame. What
the seek steers by is their mean over the sightings of the last AXIS_KEEP_S: one frame's
off-axis reading is a few degrees off, and a mean over a second of frames from a moving
robot much less. And it stays steered by for AXIS_GRACE_S after the target was last seen:
turning onto the axis from off it turns the camera away from the target (seen in the demo:
from 40 degrees off the axis, the robot turned toward the axis, lost the marker from view,
and the idle search turned it back to look, over and over). Without a pose there is no
memory: the seek steers by each row alone.
"""
from __future__ import annotations

import collections
import math

from .kinematics import wrap_angle
from .odometry import Pose

AXIS_KEEP_S = 1.0         # sightings this much older than the last are left out of the mean
AXIS_GRACE_S = 3.0        # the axis is steered by this long after the target was last seen


class AxisMemory:
    def __init__(self):
        # (when, the target's point in odometry mm, its axis outward in rad, frame id)
        self._seen: collections.deque = collections.deque(maxlen=64)

    def clear(self) -> None:
        self._seen.clear()

    def seen(self, now_s: float, pose: Pose, frame_id: int | None, bearing_rad: float,
             distance_mm: float, off_axis_rad: float) -> None:
        outward = pose.heading_rad + bearing_rad + math.pi - off_axis_rad
        self._seen.append((now_s, pose.point_at(bearing_rad, distance_mm), outward, frame_id))

    def toward(self, now_s: float, pose: Pose
               ) -> tuple[float, float, float, int | None] | None:
        """From `pose`: the remembered target's bearing (rad, + left), distance (mm), the
        robot's off-axis (rad) and the frame it was last seen in; None once it has been out
        of sight AXIS_GRACE_S (or never seen)."""
        if not self._seen or now_s - self._seen[-1][0] > AXIS_GRACE_S:
            return None
        last_s = self._seen[-1][0]
        recent = [s for s in self._seen if last_s - s[0] <= AXIS_KEEP_S]
        x = sum(s[1][0] for s in recent) / len(recent)
        y = sum(s[1][1] for s in recent) / len(recent)
        outward = math.atan2(sum(math.sin(s[2]) for s in recent),
                             sum(math.cos(s[2]) for s in recent))
        bearing, distance = pose.toward((x, y))
        off_axis = float(wrap_angle(math.atan2(pose.y_mm - y, pose.x_mm - x) - outward))
        return bearing, distance, off_axis, self._seen[-1][3]
