"""Typed views of what the MCU reports: TELEMETRY frames and link statistics."""
from __future__ import annotations

from dataclasses import dataclass, fields

from .protocol import (STATE_AWAIT_DRIVE, STATE_ESTOPPED, STATE_HANDSHAKEN,
                       STATE_WATCHDOG_STOPPED, WATCHDOG_NEVER)


@dataclass(frozen=True)
class Telemetry:
    """One TELEMETRY frame; field names and units are PROTOCOL.md's."""
    mcu_time_ms: int
    last_drive_seq: int
    state: int
    left_mm_s: int
    right_mm_s: int
    left_ticks: int
    right_ticks: int
    battery_mv: int
    range_mm: int
    accel_x_mg: int
    accel_y_mg: int
    accel_z_mg: int
    gyro_x_cdps: int
    gyro_y_cdps: int
    gyro_z_cdps: int
    watchdog_stop_ms: int
    crc_errors: int
    seq_gaps: int
    resyncs: int
    oversize: int
    unknown_ids: int
    timeouts: int
    framing_errors: int
    version_errors: int
    stale_frames: int             # DRIVE/ESTOP/CLEAR refused as older than one applied
    received_at: float = 0.0  # host time.monotonic() when the frame arrived

    @classmethod
    def from_fields(cls, values: dict, received_at: float) -> "Telemetry":
        return cls(**values, received_at=received_at)

    @property
    def handshaken(self) -> bool:
        return bool(self.state & STATE_HANDSHAKEN)

    @property
    def estopped(self) -> bool:
        return bool(self.state & STATE_ESTOPPED)

    @property
    def watchdog_stopped(self) -> bool:
        return bool(self.state & STATE_WATCHDOG_STOPPED)

    @property
    def awaiting_drive(self) -> bool:
        return bool(self.state & STATE_AWAIT_DRIVE)

    @property
    def motors_stopped(self) -> bool:
        """True when the firmware holds the motors at zero whatever the host asks."""
        return bool(self.state & (STATE_ESTOPPED | STATE_WATCHDOG_STOPPED | STATE_AWAIT_DRIVE))

    @property
    def last_watchdog_stop_ms(self) -> int | None:
        return None if self.watchdog_stop_ms == WATCHDOG_NEVER else self.watchdog_stop_ms

    def mcu_counters(self) -> dict:
        return {name: getattr(self, name) for name in
                ("crc_errors", "framing_errors", "seq_gaps", "resyncs", "oversize",
                 "unknown_ids", "version_errors", "timeouts", "stale_frames")}


TELEMETRY_FIELDS = tuple(f.name for f in fields(Telemetry) if f.name != "received_at")
