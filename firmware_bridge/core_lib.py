"""The reference firmware core (firmware/sb_core.c) loaded in this process.

    core = FirmwareCore()                # builds firmware/libsbcore.so if needed
    out = core.rx(frame_bytes)           # host bytes in, MCU bytes out
    core.tick()                          # the main loop's millisecond tick
    core.motor_log                       # every (left, right) the core gave the motors

    robot = SimRobot()                   # firmware/host/sim_robot.c: the one kinematics
    robot.set_wheels(200, 200); robot.step(1.0); robot.pose()   # (x mm, y mm, heading rad)

The same C code as the virtual MCU and the Arduino sketch, called through
ctypes with a HAL that records: the fault suites use it where they must see
the order of every motor command and every frame, which a pty between two
processes would blur. Its HAL can hand the motors to a `SimRobot` instead
(sim_mcu.py does, for the demo world). Not thread-safe: one thread owns a core.
"""
from __future__ import annotations

import ctypes
import time

from typing import Callable

from .virtual_mcu import ensure_binary

_MILLIS = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p)
_SET_MOTORS = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int16, ctypes.c_int16)
_READ_SENSORS = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_SERIAL_WRITE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8),
                                 ctypes.c_size_t)


class _Hal(ctypes.Structure):
    _fields_ = [("millis", _MILLIS), ("set_motors", _SET_MOTORS),
                ("read_sensors", _READ_SENSORS), ("serial_write", _SERIAL_WRITE),
                ("ctx", ctypes.c_void_p)]


_lib: ctypes.CDLL | None = None


def _load() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        lib = ctypes.CDLL(str(ensure_binary("libsbcore.so")))
        lib.sbl_core_size.restype = ctypes.c_size_t
        lib.sbl_sensors_size.restype = ctypes.c_size_t
        lib.sbl_core_state.restype = ctypes.c_uint8
        lib.sbl_core_state.argtypes = [ctypes.c_void_p]
        lib.sbl_core_stale_frames.restype = ctypes.c_uint16
        lib.sbl_core_stale_frames.argtypes = [ctypes.c_void_p]
        lib.sb_core_init.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Hal), ctypes.c_void_p]
        lib.sb_core_rx.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.sb_core_tick.argtypes = [ctypes.c_void_p]
        lib.sbl_robot_size.restype = ctypes.c_size_t
        lib.sim_robot_init.argtypes = [ctypes.c_void_p]
        lib.sim_robot_set.argtypes = [ctypes.c_void_p, ctypes.c_int16, ctypes.c_int16]
        lib.sim_robot_step.argtypes = [ctypes.c_void_p, ctypes.c_double]
        lib.sim_robot_read.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.sim_robot_place.argtypes = [ctypes.c_void_p] + [ctypes.c_double] * 3
        lib.sim_robot_halt_wheels.argtypes = [ctypes.c_void_p]
        lib.sim_robot_set_room.argtypes = [ctypes.c_void_p, ctypes.c_double, ctypes.c_double]
        lib.sim_robot_set_range.argtypes = [ctypes.c_void_p, ctypes.c_double]
        lib.sbl_robot_pose.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_double)]
        lib.sbl_robot_wheels.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_double)]
        lib.sim_robot_wheelbase_mm.restype = ctypes.c_double
        lib.sim_robot_range_max_mm.restype = ctypes.c_double
        _lib = lib
    return _lib


class FirmwareCore:
    """One firmware core with default config (200 ms watchdog), on a recording HAL.
    `clock_ms` may replace the monotonic clock (a fake clock for tests).

    set_motors: also called with every (left, right) the core gives the motors.
    read_sensors: fills the core's sb_sensors_t (a pointer) for TELEMETRY; zeros without.
    log_motors: keep `motor_log`; a core that runs for hours (the sim) turns it off.
    """

    def __init__(self, clock_ms=None, *, set_motors: Callable[[int, int], None] | None = None,
                 read_sensors: Callable[[int], None] | None = None, log_motors: bool = True):
        lib = self._lib = _load()
        t0 = time.monotonic()
        self._clock_ms = clock_ms or (lambda: int((time.monotonic() - t0) * 1000))
        self.left_mm_s = 0
        self.right_mm_s = 0
        self.motor_log: list[tuple[int, int]] = []
        self._motors_to, self._sensors_from, self._log_motors = set_motors, read_sensors, log_motors
        self._out = bytearray()
        self._sensor_bytes = lib.sbl_sensors_size()
        # The callbacks must outlive the core: keep them on self.
        self._hal = _Hal(_MILLIS(self._millis), _SET_MOTORS(self._set_motors),
                         _READ_SENSORS(self._read_sensors), _SERIAL_WRITE(self._write), None)
        self._core = ctypes.create_string_buffer(lib.sbl_core_size())
        lib.sb_core_init(self._core, ctypes.byref(self._hal), None)

    def rx(self, data: bytes) -> bytes:
        """Feed host bytes; returns what the core wrote back meanwhile."""
        self._lib.sb_core_rx(self._core, data, len(data))
        return self._take()

    def tick(self) -> bytes:
        self._lib.sb_core_tick(self._core)
        return self._take()

    @property
    def state(self) -> int:
        return self._lib.sbl_core_state(self._core)

    @property
    def stale_frames(self) -> int:
        return self._lib.sbl_core_stale_frames(self._core)

    def _take(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    # ---- the HAL (called from C, on the caller's thread) ----
    def _millis(self, _ctx) -> int:
        return self._clock_ms() & 0xFFFFFFFF

    def _set_motors(self, _ctx, left: int, right: int) -> None:
        self.left_mm_s, self.right_mm_s = left, right
        if self._log_motors:
            self.motor_log.append((left, right))
        if self._motors_to is not None:
            self._motors_to(left, right)

    def _read_sensors(self, _ctx, out) -> None:
        if self._sensors_from is None:
            ctypes.memset(out, 0, self._sensor_bytes)
        else:
            self._sensors_from(out)

    def _write(self, _ctx, data, n: int) -> None:
        self._out += ctypes.string_at(data, n)


class SimRobot:
    """The simulated differential-drive robot of firmware/host/sim_robot.c, in this process.

    The virtual MCU and the demo world both move their robot with this C code, so
    there is one kinematics: lagging wheels (30 ms), `wheelbase_mm`, pose in mm and
    radians (x east, y north, heading counter-clockwise from +x). The robot starts in
    the middle of a 4 m room whose walls clamp the pose; a world with its own map
    sizes the room to fit (set_room) and handles collisions itself (place, halt_wheels).
    """

    def __init__(self):
        lib = self._lib = _load()
        self.wheelbase_mm = lib.sim_robot_wheelbase_mm()
        self.range_max_mm = lib.sim_robot_range_max_mm()     # farther reads as nothing in range
        self._robot = ctypes.create_string_buffer(lib.sbl_robot_size())
        self._out = (ctypes.c_double * 4)()
        lib.sim_robot_init(self._robot)

    def set_wheels(self, left_mm_s: int, right_mm_s: int) -> None:
        """New wheel setpoints (what the firmware's HAL gives the motors)."""
        self._lib.sim_robot_set(self._robot, left_mm_s, right_mm_s)

    def step(self, dt_ms: float) -> None:
        self._lib.sim_robot_step(self._robot, dt_ms)

    def pose(self) -> tuple[float, float, float]:
        """(x_mm, y_mm, heading_rad)."""
        self._lib.sbl_robot_pose(self._robot, self._out)
        return self._out[0], self._out[1], self._out[2]

    def wheels(self) -> tuple[float, float, float, float]:
        """(left, right measured mm/s, left, right setpoint mm/s)."""
        self._lib.sbl_robot_wheels(self._robot, self._out)
        return self._out[0], self._out[1], self._out[2], self._out[3]

    def place(self, x_mm: float, y_mm: float, heading_rad: float) -> None:
        self._lib.sim_robot_place(self._robot, x_mm, y_mm, heading_rad)

    def halt_wheels(self) -> None:
        """Wheel speeds to zero where the robot stands; the setpoints stay."""
        self._lib.sim_robot_halt_wheels(self._robot)

    def set_room(self, width_mm: float, height_mm: float) -> None:
        self._lib.sim_robot_set_room(self._robot, width_mm, height_mm)

    def set_range(self, range_mm: float) -> None:
        """What the range sensor reads from now on, mm (a world with its own map casts it;
        beyond range_max_mm reads as nothing in range); < 0: the room's walls again."""
        self._lib.sim_robot_set_range(self._robot, range_mm)

    def read_sensors(self, out) -> None:
        """Fill an sb_sensors_t (a FirmwareCore's read_sensors hook)."""
        self._lib.sim_robot_read(self._robot, out)
