"""The robot's heading, integrated from the MCU's yaw rate (telemetry gyro_z_cdps).

    heading = GyroHeading()
    rad = heading.update(link.latest_telemetry(max_age_ms=200))   # once a control cycle

Radians, + left (counter-clockwise, as bearings are), from wherever the robot faced when the
run started: what the arbiter's seek rules need to tell "the way it came" from "the way on"
(a seek contract's no_return_deg). Each telemetry sample's rate is integrated over the MCU's
own clock (mcu_time_ms) by the trapezoid rule, so the host's timing does not enter. A sample
seen twice (the control loop runs as fast as telemetry comes) adds nothing. Across a gap
longer than MAX_GAP_MS (a lost link; the MCU's watchdog has stopped the wheels by then) or a
clock that went back (the MCU restarted) nothing is added: the robot is taken to have stood.
"""
from __future__ import annotations

import math

MAX_GAP_MS = 500


class GyroHeading:
    def __init__(self):
        self.heading_rad = 0.0
        self._last: tuple[int, float] | None = None     # (mcu_time_ms, rad/s) of the last sample

    def update(self, telemetry) -> float | None:
        """The heading after this cycle's telemetry (None: no fresh telemetry this cycle)."""
        if telemetry is None:
            return None
        t_ms, rate = int(telemetry.mcu_time_ms), math.radians(telemetry.gyro_z_cdps / 100.0)
        if self._last is not None:
            dt_ms = t_ms - self._last[0]
            if dt_ms == 0:
                return self.heading_rad
            if 0 < dt_ms <= MAX_GAP_MS:
                self.heading_rad += 0.5 * (self._last[1] + rate) * dt_ms / 1000.0
        self._last = (t_ms, rate)
        return self.heading_rad
