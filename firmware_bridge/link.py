"""The host end of the serial link to the robot's microcontroller.

    link = Link(LinkConfig(url="/dev/ttyUSB0"))
    link.connect()                      # opens, handshakes; raises on a mismatch
    while running:                      # the robot's control loop
        link.send_drive(200, 200)       # latest-value-wins setpoint, mm/s
        link.heartbeat()                # from the loop itself, never a side thread
        t = link.latest_telemetry(max_age_ms=100)
    link.estop()                        # acked, retried, deduplicated; latches
    link.clear()                        # lifts it; wheels wait for a fresh send_drive
    link.close()

One reader thread (link_reader.py) owns the port: it decodes frames, keeps the
latest telemetry, answers nothing on its own except the handshake, and when the
port disappears (USB unplugged, MCU reset, virtual MCU killed) re-opens it with
backoff and handshakes again. Callers are never blocked by a missing MCU:
`send_drive` just reports that nothing was sent. Ports are opened with
`serial.serial_for_url`, so `loop://`, `spy://`, pty paths and /dev/tty* work.

An e-stop always wins (PROTOCOL.md, "Order"). Commands get their cmd_id in
the order they are issued and the MCU never applies one older than the last
it applied. On the host: estop() latches at once, before anything is sent,
and from then on send_drive sends nothing until a clear() issued after it is
acked; an estop() abandons any CLEAR in flight; a clear() issued while an
ESTOP is in flight is refused (CommandSuperseded); and when the link comes
back after a loss or an MCU reset while latched, the ESTOP is sent again
before anything else, so a rebooted MCU cannot forget it.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

import serial

from .commands import CommandBook, LatchKeeper
from .framing import Frame, FrameDecoder, LinkCounters, encode_frame
from .protocol import ACK_REFUSED, ACK_STALE
from .link_types import (BridgeError, CommandRefused, CommandSuperseded, CommandTimeout,
                         DriveSent, HandshakeTimeout, LinkConfig, LinkDownError, McuInfo,
                         NotConnectedError, ProtocolMismatch, percentile)
# printable is imported from here too (tests): it stays part of this module's face.
from .link_reader import LinkReader, printable
from .port_write import write_frame
from .telemetry import Telemetry

logger = logging.getLogger(__name__)



def wheel_setpoint(mm_s: float, max_wheel_mm_s: float) -> int:
    """A wheel speed as a DRIVE carries it: rounded to whole mm/s, within the limit."""
    return int(max(-max_wheel_mm_s, min(max_wheel_mm_s, round(mm_s))))


@dataclass
class _HostCounters(LinkCounters):
    frames_sent: int = 0
    tx_errors: int = 0          # writes that failed or timed out
    drives_not_sent: int = 0    # send_drive while the link was down
    drives_held: int = 0        # send_drive while the host's e-stop latch was set
    estop_reasserts: int = 0    # ESTOPs sent again: after a reconnect, or the MCU not holding it
    heartbeats_held: int = 0    # heartbeat() while latched: silence is a second way to stop
    commands_superseded: int = 0  # CLEARs that lost to an ESTOP
    stray_hello_acks: int = 0   # HELLO_ACKs answering no HELLO of ours: session re-made
    reconnects: int = 0         # successful handshakes after the first
    retries: int = 0            # command resends


class Link(LinkReader):
    """Host end of the spikebox serial protocol. Thread-safe; see the module docstring.
    The reader thread's methods are LinkReader's (link_reader.py)."""

    def __init__(self, config: LinkConfig, *, rx_filter: Callable[[bytes], bytes] | None = None,
                 on_frame: Callable[[Frame], None] | None = None):
        # rx_filter sees every received chunk before the decoder (a seam for
        # fault injection); on_frame sees every frame the decoder accepted (for
        # recording traffic). Both run on the reader thread and must be quick.
        self.config = config
        self._rx_filter = rx_filter
        self._on_frame = on_frame
        self._lock = threading.Lock()          # port, seq, pending tables
        self._port: serial.SerialBase | None = None
        self._decoder = FrameDecoder(_HostCounters())
        self._seq = 0
        self._started = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handshaken = threading.Event()
        self._mismatch: ProtocolMismatch | None = None
        self._mcu: McuInfo | None = None
        self._telemetry: Telemetry | None = None
        self._last_rx = 0.0
        self._opened_at = 0.0
        self._handshakes = 0
        self._hellos_unanswered = 0            # HELLOs sent that may still be answered
        self._drive_sent_at: dict[int, float] = {}
        self._rtt_ms: collections.deque[float] = collections.deque(maxlen=config.rtt_window)
        self._reconnect_ms: list[float] = []
        self._book = CommandBook()             # cmd_ids, the e-stop latch; under _lock
        # ESTOP re-sent while latched (reader thread): after a reconnect, or when the MCU
        # reports it does not hold the e-stop.
        self._keeper = LatchKeeper(self._book, self._lock, self._send_estop,
                                   config.ack_timeout_ms / 1000)
        self.logs: collections.deque[tuple[int, str]] = collections.deque(maxlen=200)

    # ---- public API -------------------------------------------------------------------
    def connect(self) -> McuInfo:
        """Open the port and handshake. Raises HandshakeTimeout or ProtocolMismatch."""
        if self._started:
            raise BridgeError("connect() called twice; make a new Link after close()")
        self._started = True
        self._thread = threading.Thread(target=self._run, name="spikebox-link", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.config.handshake_timeout_ms / 1000
        while not self._handshaken.wait(0.01):
            if self._mismatch is not None:
                self.close()
                raise self._mismatch
            if time.monotonic() > deadline:
                self.close()
                raise HandshakeTimeout(
                    f"no HELLO_ACK from {self.config.url} within "
                    f"{self.config.handshake_timeout_ms} ms: is the MCU powered, flashed with "
                    f"spikebox firmware and at {self.config.baudrate} baud?")
        return self._mcu

    @property
    def connected(self) -> bool:
        """True while handshaken with a live MCU."""
        return self._handshaken.is_set()

    @property
    def mcu(self) -> McuInfo | None:
        return self._mcu

    @property
    def estop_latched(self) -> bool:
        """True from estop() until a clear() issued after it is acked: no DRIVE is sent."""
        return self._book.latched

    def send_drive(self, left_mm_s: float, right_mm_s: float) -> DriveSent | None:
        """Send a wheel setpoint (mm/s, clipped). None when the link is down: never blocks."""
        self._check_started()
        left, right = (wheel_setpoint(v, self.config.max_wheel_mm_s)
                       for v in (left_mm_s, right_mm_s))
        if self._book.latched:
            self._decoder.counters.drives_held += 1
            return None
        if not self._handshaken.is_set():
            self._decoder.counters.drives_not_sent += 1
            return None
        seq, t = self._send("DRIVE", dict(left_mm_s=left, right_mm_s=right),
                            unless_latched=True)
        if seq is None:
            return None
        return DriveSent(seq, left, right, t)

    def heartbeat(self) -> bool:
        """Tell the MCU the control loop is alive. Call it from the loop, every cycle."""
        self._check_started()
        if self._book.latched:
            # While latched the host goes silent: if every ESTOP frame were lost, the
            # MCU's watchdog still stops the wheels within its watchdog_ms.
            self._decoder.counters.heartbeats_held += 1
            return False
        if not self._handshaken.is_set():
            return False
        ms = int(time.monotonic() * 1000) & 0xFFFFFFFF
        return self._send("HEARTBEAT", dict(uptime_ms=ms, state=0))[0] is not None

    def estop(self, reason: int = 0) -> int:
        """Latch the e-stop, here at once and on the MCU. Acked and retried; returns the
        ACK result (0 applied, 1 duplicate). Sent even while the link is re-connecting."""
        self._check_started()
        with self._lock:
            self._book.latch(reason)
        return self._command("ESTOP", dict(reason=reason))

    def clear(self) -> int:
        """Lift the e-stop; the motors stay at zero until the next send_drive.
        Raises CommandSuperseded if it lost to an ESTOP (the e-stop stands)."""
        self._check_started()
        if not self._handshaken.is_set():
            raise LinkDownError(f"CLEAR: link to {self.config.url} is down (re-connecting)")
        try:
            with self._lock:
                epoch = self._book.may_clear()
            result = self._command("CLEAR", {})
            with self._lock:
                self._book.unlatch(epoch)
        except CommandSuperseded:
            self._decoder.counters.commands_superseded += 1
            raise
        return result

    def latest_telemetry(self, max_age_ms: float | None = None) -> Telemetry | None:
        """The newest TELEMETRY, or None if there is none (or it is older than max_age_ms)."""
        t = self._telemetry
        if t is None or (max_age_ms is not None
                         and (time.monotonic() - t.received_at) * 1000 > max_age_ms):
            return None
        return t

    def stats(self) -> dict:
        """Host link counters, round trips, reconnects and the MCU's own counters."""
        out = self._decoder.counters.as_dict()
        rtts = sorted(self._rtt_ms)
        out["rtt_ms_p50"] = percentile(rtts, 50)
        out["rtt_ms_p99"] = percentile(rtts, 99)
        out["rtt_samples"] = len(rtts)
        out["reconnect_ms"] = list(self._reconnect_ms)
        out["connected"] = self.connected
        out["estop_latched"] = self._book.latched
        t = self._telemetry
        out["mcu"] = t.mcu_counters() if t else None
        return out

    def rtt_samples_ms(self) -> list[float]:
        return list(self._rtt_ms)

    def close(self) -> None:
        """Stop the reader and close the port. Safe to call twice."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        with self._lock:
            self._close_port()
        self._handshaken.clear()

    def __enter__(self) -> "Link":
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- sending ----------------------------------------------------------------------
    def _check_started(self) -> None:
        if not self._started or self._stop.is_set():
            raise NotConnectedError("Link is not connected: call connect() first")

    def _send(self, name: str, fields: dict, *,
              unless_latched: bool = False) -> tuple[int | None, float]:
        with self._lock:
            if self._port is None:
                return None, 0.0
            if unless_latched and self._book.latched:
                # estop() ran between send_drive's check and here: this DRIVE
                # would be newer than the ESTOP's first frame. Hold it.
                self._decoder.counters.drives_held += 1
                return None, 0.0
            seq = self._seq
            self._seq = (self._seq + 1) & 0xFFFF
            # A leading delimiter ends whatever a failed earlier write left half-sent.
            data = b"\x00" + encode_frame(name, seq, fields)
            t = time.monotonic()
            if name == "DRIVE":
                self._drive_sent_at[seq] = t
                if len(self._drive_sent_at) > 512:
                    self._drive_sent_at.pop(next(iter(self._drive_sent_at)))
            try:
                if not write_frame(self._port, data):
                    raise serial.SerialException("the port's buffer is full (is the MCU "
                                                 "reading?); frame dropped")
            except (serial.SerialException, OSError) as e:
                self._decoder.counters.tx_errors += 1
                logger.warning("write to %s failed: %s", self.config.url, e)
                return None, t
            self._decoder.counters.frames_sent += 1
            return seq, t

    def _command(self, name: str, fields: dict) -> int:
        with self._lock:
            cmd_id, pending = self._book.issue(name)
        try:
            for attempt in range(self.config.max_retries + 1):
                if attempt:
                    self._decoder.counters.retries += 1
                self._send(name, dict(fields, cmd_id=cmd_id))
                if not pending.done.wait(self.config.ack_timeout_ms / 1000):
                    self._decoder.counters.timeouts += 1
                    continue
                if pending.superseded:
                    raise CommandSuperseded(f"{name} abandoned: an ESTOP was issued while it "
                                            "was in flight, and an e-stop always wins")
                if pending.result == ACK_REFUSED:
                    raise CommandRefused(f"{name} refused by the MCU")
                if pending.result != ACK_STALE:
                    return pending.result
                if name == "CLEAR":
                    raise CommandSuperseded("CLEAR refused by the MCU as older than a command "
                                            "it already applied; the e-stop stands")
                # An ESTOP answered 'stale' (a frame from before a re-handshake, or
                # an older ESTOP than one applied): issue it again, newest of all.
                with self._lock:
                    self._book.forget(cmd_id)
                    cmd_id, pending = self._book.issue(name)
        finally:
            with self._lock:
                self._book.forget(cmd_id)
        raise CommandTimeout(
            f"{name} not acknowledged after {self.config.max_retries + 1} tries "
            f"of {self.config.ack_timeout_ms} ms on {self.config.url}")

    def _send_estop(self, cmd_id: int, reason: int) -> None:
        self._send("ESTOP", dict(cmd_id=cmd_id, reason=reason))
