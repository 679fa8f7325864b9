"""The reference firmware core (firmware/sb_core.c) loaded in this process.

    core = FirmwareCore()                # builds firmware/libsbcore.so if needed
    out = core.rx(frame_bytes)           # host bytes in, MCU bytes out
    core.tick()                          # the main loop's millisecond tick
    core.motor_log                       # every (left, right) the core gave the motors

The same C code as the virtual MCU and the Arduino sketch, called through
ctypes with a HAL that records: the fault suites use it where they must see
the order of every motor command and every frame, which a pty between two
processes would blur. Not thread-safe: one thread owns a core.
"""
from __future__ import annotations

import ctypes
import time

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
        _lib = lib
    return _lib


class FirmwareCore:
    """One firmware core with default config (200 ms watchdog), on a recording HAL.
    `clock_ms` may replace the monotonic clock (a fake clock for tests)."""

    def __init__(self, clock_ms=None):
        lib = self._lib = _load()
        t0 = time.monotonic()
        self._clock_ms = clock_ms or (lambda: int((time.monotonic() - t0) * 1000))
        self.left_mm_s = 0
        self.right_mm_s = 0
        self.motor_log: list[tuple[int, int]] = []
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
        self.motor_log.append((left, right))

    def _read_sensors(self, _ctx, out) -> None:
        ctypes.memset(out, 0, self._sensor_bytes)

    def _write(self, _ctx, data, n: int) -> None:
        self._out += ctypes.string_at(data, n)
