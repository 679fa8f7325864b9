"""The Link's reader thread: it owns the port and acts on what the MCU sends.

`link.Link` is the control loop's half (the calls it makes, and the sending);
this is the reader thread's half, which Link takes as a base class. LinkReader
keeps no state of its own: every attribute it uses is made in Link.__init__.

The thread opens the port and re-opens it with backoff when it disappears,
HELLOs until handshaken, decodes frames and keeps the latest telemetry, checks
each HELLO_ACK (a mismatch names both versions), notices an MCU that rebooted
behind an open port, and while the host is latched re-sends the ESTOP when the
MCU says it does not hold it.
"""
from __future__ import annotations

import logging
import time

import serial

from .framing import Frame
from .link_types import McuInfo, ProtocolMismatch
from .protocol import HELLO_OK, PROTOCOL_VERSION, SCHEMA_HASH, STATE_ESTOPPED, STATE_HANDSHAKEN
from .telemetry import Telemetry

# The reader's records keep the name they had before it was split from link.py: the
# link's log is one logger to filter or raise, whichever half of it speaks.
logger = logging.getLogger(f"{__package__}.link")
mcu_logger = logging.getLogger("spikebox.mcu")


def printable(text: str) -> str:
    """Text from the MCU with control characters (terminal escapes) shown as \\xNN."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


_HELLO_STATUS = {1: "protocol version mismatch", 2: "schema mismatch"}


class LinkReader:
    """The reader thread's methods of `Link`; see the module docstring."""

    def _run(self) -> None:
        backoff = self.config.backoff_min_ms / 1000
        next_hello = 0.0
        while not self._stop.is_set():
            if self._port is None:
                if not self._open():
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self.config.backoff_max_ms / 1000)
                    continue
                backoff = self.config.backoff_min_ms / 1000
                next_hello = 0.0
            now = time.monotonic()
            self._keeper.step(now)
            if not self._handshaken.is_set() and now >= next_hello:
                interval = self.config.hello_interval_ms / 1000
                next_hello = now + (interval if self._mismatch is None else 10 * interval)
                if self._send("HELLO", dict(proto_version=PROTOCOL_VERSION,
                                            schema_hash=SCHEMA_HASH))[0] is not None:
                    self._hellos_unanswered += 1
            try:
                port = self._port
                data = port.read(port.in_waiting or 1) if port is not None else b""
            except (serial.SerialException, OSError, TypeError) as e:
                # TypeError: pyserial's read on a port closed under it by close()
                self._lost(f"read failed: {e}")
                continue
            if data and self._rx_filter is not None:
                data = self._rx_filter(data)
            for frame in self._decoder.feed(data) if data else ():
                # Alive means a valid frame, not bytes: a line of garbage (a
                # wrong baud rate, a crashed MCU babbling) must not keep it up.
                self._last_rx = time.monotonic()
                if self._on_frame is not None:
                    self._on_frame(frame)
                self._handle(frame)
            if (self._handshaken.is_set()
                    and (time.monotonic() - self._last_rx) * 1000 > self.config.link_timeout_ms):
                self._decoder.counters.timeouts += 1
                self._lost(f"MCU silent for {self.config.link_timeout_ms} ms")

    def _open(self) -> bool:
        try:
            port = serial.serial_for_url(self.config.url, baudrate=self.config.baudrate,
                                         timeout=0.005,
                                         write_timeout=self.config.write_timeout_ms / 1000)
        except (serial.SerialException, OSError, ValueError) as e:
            logger.debug("open %s failed: %s", self.config.url, e)
            return False
        with self._lock:
            self._port = port
        self._opened_at = self._last_rx = time.monotonic()
        self._decoder.reset_sequence()
        logger.info("opened %s", self.config.url)
        return True

    def _lost(self, why: str) -> None:
        was_up = self._handshaken.is_set()
        self._handshaken.clear()
        self._keeper.end()
        with self._lock:
            self._close_port()
        if was_up:
            logger.warning("link to %s lost (%s); re-connecting", self.config.url, why)

    def _close_port(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except (serial.SerialException, OSError):
                pass
            self._port = None

    def _handle(self, frame: Frame) -> None:
        name = frame.name
        f = frame.fields()
        if name == "HELLO_ACK":
            self._on_hello_ack(f)
        elif name == "TELEMETRY":
            t = Telemetry.from_fields(f, received_at=time.monotonic())
            self._telemetry = t
            sent = self._drive_sent_at.pop(t.last_drive_seq, None)
            if sent is not None:
                self._rtt_ms.append((t.received_at - sent) * 1000)
            self._check_mcu_state(t.state)
            self._enforce_latch(t.state, t.received_at)
        elif name == "HEARTBEAT":
            self._check_mcu_state(f["state"])
            self._enforce_latch(f["state"], time.monotonic())
        elif name == "ACK":
            with self._lock:
                self._book.acked(f["cmd_id"], f["result"])
        elif name == "LOG":
            text = printable(f["text"])   # the MCU's bytes must not drive our terminal
            self.logs.append((f["level"], text))
            mcu_logger.log(f["level"] or logging.INFO, "%s", text)
        # HELLO, DRIVE, ESTOP, CLEAR from the MCU side mean a crossed or looped
        # link (loop://): the decoder counted them; nothing to act on.

    def _on_hello_ack(self, f: dict) -> None:
        info = McuInfo(printable(f["firmware_id"]), f["proto_version"], f["schema_hash"],
                       f["watchdog_ms"])
        self._hellos_unanswered = max(self._hellos_unanswered - 1, -1)
        if f["status"] != HELLO_OK or info.proto_version != PROTOCOL_VERSION \
                or info.schema_hash != SCHEMA_HASH:
            why = _HELLO_STATUS.get(f["status"], "mismatch")
            msg = (f"MCU at {self.config.url} refused the handshake ({why}): host speaks "
                   f"protocol {PROTOCOL_VERSION} schema 0x{SCHEMA_HASH:08x}, MCU "
                   f"'{info.firmware_id}' speaks protocol {info.proto_version} schema "
                   f"0x{info.schema_hash:08x}. Flash firmware built from this spikebox "
                   f"version, or install the spikebox version that matches the firmware.")
            if self._mismatch is None:
                logger.error(msg)
            self._mismatch = ProtocolMismatch(msg)
            if self._handshaken.is_set():
                # The MCU now refuses us (re-flashed, or answering another host) and
                # has dropped our session: ours is over too. HELLO again, slowly.
                self._decoder.counters.stray_hello_acks += 1
                self._handshaken.clear()
            return
        if self._handshaken.is_set():
            if self._hellos_unanswered >= 0:
                return  # a late answer to one of our repeated HELLOs
            # An answer to no HELLO of ours: the MCU began a new session (another
            # host on the line, a replayed frame) and our frames may now be stale
            # to it. Make the session ours again.
            logger.warning("MCU at %s answered a HELLO this host did not send; "
                           "handshaking again", self.config.url)
            self._decoder.counters.stray_hello_acks += 1
            self._hellos_unanswered = 0
            self._handshaken.clear()
            return
        self._mismatch = None
        self._mcu = info
        self._decoder.reset_sequence()
        self._handshakes += 1
        if self._handshakes > 1:
            self._decoder.counters.reconnects += 1
            self._reconnect_ms.append((time.monotonic() - self._opened_at) * 1000)
        self._last_rx = time.monotonic()
        if self._book.latched:
            self._keeper.start()       # the MCU may have rebooted and forgotten the ESTOP
            self._decoder.counters.estop_reasserts += 1
        self._handshaken.set()
        logger.info("handshake with '%s' (protocol %d, watchdog %d ms)",
                    info.firmware_id, info.proto_version, info.watchdog_ms)

    def _enforce_latch(self, mcu_state: int, received_at: float) -> None:
        """Latched here, and the MCU says (after the latch) that it does not hold the
        e-stop: every try of estop() was lost. Send it again until it does."""
        if (self._handshaken.is_set() and mcu_state & STATE_HANDSHAKEN
                and not mcu_state & STATE_ESTOPPED and self._keeper.idle()
                and self._book.latched and received_at > self._book.latched_at
                and not self._book.in_flight("ESTOP")):
            self._keeper.start()
            self._decoder.counters.estop_reasserts += 1

    def _check_mcu_state(self, state: int) -> None:
        if self._handshaken.is_set() and not state & STATE_HANDSHAKEN:
            # The MCU rebooted behind an open port (a reset button, a brown-out).
            logger.warning("MCU at %s lost its handshake (rebooted?); handshaking again",
                           self.config.url)
            self._opened_at = time.monotonic()
            self._handshaken.clear()
