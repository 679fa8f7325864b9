"""The robot's pose by dead reckoning from the MCU's telemetry: yaw rate and wheel speeds.

    odometry = Odometry()
    pose = odometry.update(link.latest_telemetry(max_age_ms=200))   # once a control cycle
    pose.x_mm, pose.y_mm, pose.heading_rad                          # or None: no telemetry

Millimetres and radians, + left (counter-clockwise, as bearings are), from wherever the robot
stood and faced when the run started. The heading integrates gyro_z_cdps; the distance
integrates the mean of the measured wheel speeds (left_mm_s, right_mm_s), so no tick count
or wheel size is needed. What the arbiter's seek rules need: the way back past a target
(no_return_deg), a target lost from sight steered to by where it was (not by the bearing it
had when the robot faced elsewhere), a target that the robot gets no nearer to, given up.
Drift grows with distance: a pose is trusted for seconds, to a target metres away, never
as a map.

Each sample is integrated over the MCU's own clock (mcu_time_ms) by the trapezoid rule, so
the host's timing does not enter. A sample seen twice (the control loop runs as fast as
telemetry comes) adds nothing. Across a gap longer than MAX_GAP_MS (a lost link; the MCU's
watchdog has stopped the wheels by then) or a clock that went back (the MCU restarted)
nothing is added: the robot is taken to have stood.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

MAX_GAP_MS = 500


@dataclass(frozen=True)
class Pose:
    x_mm: float
    y_mm: float
    heading_rad: float

    def point_at(self, bearing_rad: float, distance_mm: float) -> tuple[float, float]:
        """Where something `distance_mm` away at `bearing_rad` (+ left) from here is."""
        a = self.heading_rad + bearing_rad
        return self.x_mm + distance_mm * math.cos(a), self.y_mm + distance_mm * math.sin(a)

    def toward(self, point: tuple[float, float]) -> tuple[float, float]:
        """(bearing rad in (-pi, pi], + left; distance mm) of `point` from here."""
        dx, dy = point[0] - self.x_mm, point[1] - self.y_mm
        bearing = math.atan2(dy, dx) - self.heading_rad
        return math.atan2(math.sin(bearing), math.cos(bearing)), math.hypot(dx, dy)


class Odometry:
    def __init__(self):
        self.pose = Pose(0.0, 0.0, 0.0)
        self._last: tuple[int, float, float] | None = None   # (mcu_time_ms, rad/s, mm/s)

    def update(self, telemetry) -> Pose | None:
        """The pose after this cycle's telemetry (None: no fresh telemetry this cycle)."""
        if telemetry is None:
            return None
        t_ms = int(telemetry.mcu_time_ms)
        rate = math.radians(telemetry.gyro_z_cdps / 100.0)
        speed = 0.5 * (telemetry.left_mm_s + telemetry.right_mm_s)
        if self._last is not None:
            dt_ms = t_ms - self._last[0]
            if dt_ms == 0:
                return self.pose
            if 0 < dt_ms <= MAX_GAP_MS:
                dt = dt_ms / 1000.0
                p = self.pose
                turned = 0.5 * (self._last[1] + rate) * dt
                mid = p.heading_rad + 0.5 * turned         # the step's mean heading
                step = 0.5 * (self._last[2] + speed) * dt
                self.pose = Pose(p.x_mm + step * math.cos(mid), p.y_mm + step * math.sin(mid),
                                 p.heading_rad + turned)
        self._last = (t_ms, rate, speed)
        return self.pose
