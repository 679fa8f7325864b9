"""The reference firmware driving the C sim robot, in this process, on a clock the caller owns.

    mcu = SimMcu()                          # firmware core + sim_robot.c; virtual clock at 0 ms
    host = mcu.host()                       # frames into the core, as a Link would send them
    host.hello(); host.drive(200, 200)
    mcu.advance(500)                        # 500 ms of firmware ticks and robot physics
    mcu.robot.pose()                        # where the firmware's motor outputs took it
    host.estop(); mcu.advance(300)          # the core holds the wheels at zero

    url = mcu.serve_pty(realtime=True)      # or a real Link on a pty, time from the monotonic clock
    link = Link(LinkConfig(url=url))

The demo world (spikebox.runtime.sim) moves its robot with this, so the robot goes
where the firmware's motor outputs take it: an ESTOP or a watchdog stop holds its
wheels at zero, and the virtual MCU process and the world share one kinematics
(firmware/host/sim_robot.c). Time advances in 1 ms firmware ticks, each followed
by 1 ms of physics and the world's `after_step` (which keeps the robot out of its
walls). Either the caller advances the clock (virtual time: offline rendering,
recording, training, tests, byte-for-byte repeatable) or, with
`serve_pty(realtime=True)`, a thread does from the monotonic clock while a host
drives the core over a pseudo-terminal as it would a real MCU.
"""
from __future__ import annotations

import logging
import select
import threading
import time
from typing import Callable

from .core_lib import FirmwareCore, SimRobot
from .framing import encode_frame
from .host_pty import McuPty
from .protocol import PROTOCOL_VERSION, SCHEMA_HASH, STATE_ESTOPPED, STATE_WATCHDOG_STOPPED

logger = logging.getLogger(__name__)

_POLL_S = 0.001   # the pty thread's tick: the firmware's main loop runs every millisecond
_INT16 = (-32768, 32767)


class SimMcu:
    """The firmware core whose motors are the C sim robot's wheels (module docstring).

    after_step: called with the robot after every 1 ms of physics (the world's collisions).
    Thread-safe: every call into C holds `lock`, which a reader of the pose takes too.
    """

    def __init__(self, *, after_step: Callable[[SimRobot], None] | None = None):
        self.robot = SimRobot()
        self.now_ms = 0
        self.lock = threading.RLock()
        self._after_step = after_step
        self._outbox = bytearray()       # MCU bytes for the pty's host; none kept without one
        self._pty: _PtyServer | None = None
        self.core = FirmwareCore(clock_ms=lambda: self.now_ms, set_motors=self.robot.set_wheels,
                                 read_sensors=self.robot.read_sensors, log_motors=False)

    # -- time and bytes ---------------------------------------------------------------
    def advance(self, ms: int) -> None:
        """Run `ms` milliseconds: each a firmware tick (watchdog, telemetry), then physics."""
        with self.lock:
            for _ in range(int(ms)):
                self.now_ms += 1
                self._emit(self.core.tick())
                self.robot.step(1.0)
                if self._after_step is not None:
                    self._after_step(self.robot)

    def rx(self, data: bytes) -> None:
        """Host bytes into the core (from the pty, or the in-process host)."""
        with self.lock:
            self._emit(self.core.rx(data))

    def _emit(self, out: bytes) -> None:
        if out and self._pty is not None:
            self._outbox += out

    def _take_outbox(self) -> bytes:
        with self.lock:
            out = bytes(self._outbox)
            self._outbox.clear()
        return out

    # -- what the firmware applied ------------------------------------------------------
    @property
    def applied_mm_s(self) -> tuple[int, int]:
        """The setpoints the core last gave the motors."""
        with self.lock:
            return self.core.left_mm_s, self.core.right_mm_s

    @property
    def estopped(self) -> bool:
        with self.lock:
            return bool(self.core.state & STATE_ESTOPPED)

    @property
    def watchdog_stopped(self) -> bool:
        with self.lock:
            return bool(self.core.state & STATE_WATCHDOG_STOPPED)

    # -- hosts --------------------------------------------------------------------------
    def host(self) -> "InProcessHost":
        return InProcessHost(self)

    def serve_pty(self, *, realtime: bool) -> str:
        """Put the core behind a pseudo-terminal a `Link` opens like a serial port; returns
        its path. realtime: a thread advances the clock from time.monotonic (then do not
        call advance() yourself); else the caller's advance() stays the only clock."""
        if self._pty is not None:
            return self._pty.url
        self._pty = _PtyServer(self, realtime)
        return self._pty.url

    @property
    def serial_url(self) -> str | None:
        return self._pty.url if self._pty is not None else None

    def cable(self, connected: bool) -> None:
        """Pull (False) or plug back (True) the serial cable of serve_pty(): while pulled, no
        byte crosses either way, the port stays open, and the firmware keeps running, so its
        watchdog stops the wheels as it would on a robot whose USB cable came loose."""
        if self._pty is None:
            raise RuntimeError("cable(): no serial port; call serve_pty() first")
        self._pty.connected = connected

    def close(self) -> None:
        pty, self._pty = self._pty, None
        if pty is not None:
            pty.close()

    def __enter__(self) -> "SimMcu":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class InProcessHost:
    """The host's half of the protocol as frames straight into a SimMcu's core: what a
    `Link` sends, without a port, a thread or a clock of its own, so a world on virtual
    time stays repeatable. Acks and telemetry are not read: the world reads the robot."""

    def __init__(self, mcu: SimMcu):
        self._mcu = mcu
        self._seq = 0
        self._cmd_id = 0

    def _send(self, name: str, fields: dict) -> None:
        self._seq = (self._seq + 1) & 0xFFFF
        self._mcu.rx(b"\x00" + encode_frame(name, self._seq, fields))

    def hello(self) -> None:
        self._send("HELLO", {"proto_version": PROTOCOL_VERSION, "schema_hash": SCHEMA_HASH})

    def drive(self, left_mm_s: float, right_mm_s: float) -> tuple[int, int]:
        """Send wheel setpoints (clipped to int16, as on the wire); returns what was sent."""
        sent = tuple(int(min(max(round(v), _INT16[0]), _INT16[1])) for v in (left_mm_s, right_mm_s))
        self._send("DRIVE", {"left_mm_s": sent[0], "right_mm_s": sent[1]})
        return sent

    def heartbeat(self) -> None:
        self._send("HEARTBEAT", {"uptime_ms": self._mcu.now_ms & 0xFFFFFFFF, "state": 0})

    def estop(self, reason: int = 0) -> None:
        self._cmd_id = (self._cmd_id + 1) & 0xFFFF
        self._send("ESTOP", {"cmd_id": self._cmd_id, "reason": reason})

    def clear(self) -> None:
        self._cmd_id = (self._cmd_id + 1) & 0xFFFF
        self._send("CLEAR", {"cmd_id": self._cmd_id})


class _PtyServer:
    """One thread between the pty and the core: host bytes in, MCU bytes out, and, when
    realtime, the clock. Bytes nobody reads are dropped, as a full UART drops them."""

    def __init__(self, mcu: SimMcu, realtime: bool):
        self._mcu, self._realtime = mcu, realtime
        self._pty = McuPty()
        self.url = self._pty.url
        self.bytes_dropped = 0
        self.connected = True             # False: the cable is pulled (SimMcu.cable)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-mcu-pty", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        mcu = self._mcu
        t0_s, base_ms = time.monotonic(), mcu.now_ms
        while not self._stop.is_set():
            ready, _, _ = select.select([self._pty.master], [], [], _POLL_S)
            if ready:
                data = self._pty.read()
                if data and self.connected:
                    mcu.rx(data)
            if self._realtime:
                due_ms = base_ms + int((time.monotonic() - t0_s) * 1000)
                if due_ms > mcu.now_ms:
                    mcu.advance(due_ms - mcu.now_ms)
            out = mcu._take_outbox()
            if out and not self.connected:
                self.bytes_dropped += len(out)
            elif out:
                self.bytes_dropped += len(out) - self._pty.write(out)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._pty.close()
        if self.bytes_dropped:
            logger.info("sim MCU pty: %d bytes nobody read were dropped", self.bytes_dropped)
