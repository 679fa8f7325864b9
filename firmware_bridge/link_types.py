"""The link's public types: its config, what it returns, and the errors it raises."""
from __future__ import annotations

from dataclasses import dataclass


class BridgeError(RuntimeError):
    """Base of the errors the bridge raises."""


class NotConnectedError(BridgeError):
    """Used before connect() or after close()."""


class LinkDownError(BridgeError):
    """The MCU is not reachable right now (the link is re-connecting)."""


class HandshakeTimeout(BridgeError):
    """Nothing answered our HELLO in time."""


class ProtocolMismatch(BridgeError):
    """The MCU speaks another protocol version or message schema."""


class CommandTimeout(BridgeError):
    """An ESTOP/CLEAR was not acknowledged after every retry."""


class CommandRefused(BridgeError):
    """The MCU answered a command with result 'refused'."""


class CommandSuperseded(BridgeError):
    """A CLEAR lost to an ESTOP: one was in flight when it was issued, one was
    issued while it was in flight, or the MCU had applied a newer command.
    The e-stop stands; clear() again once estop() has returned."""


@dataclass
class LinkConfig:
    url: str                          # serial_for_url: /dev/ttyUSB0, a pty path, loop://, spy://...
    baudrate: int = 115200
    handshake_timeout_ms: int = 1000  # connect() gives up after this
    hello_interval_ms: int = 100      # HELLO is repeated this often until answered
    link_timeout_ms: int = 500        # MCU silent this long → re-handshake / re-open
    ack_timeout_ms: int = 50          # per ESTOP/CLEAR attempt
    max_retries: int = 5              # resends of a command after the first try
    backoff_min_ms: int = 20          # port re-open backoff, doubling ...
    backoff_max_ms: int = 250         # ... up to this
    write_timeout_ms: int = 20        # a write never blocks a caller longer than this
    max_wheel_mm_s: int = 1500        # setpoints are clipped to ±this
    rtt_window: int = 4096            # DRIVE→TELEMETRY round trips kept for stats

    def __post_init__(self):
        if not self.url:
            raise ValueError("LinkConfig.url is empty: give a port such as /dev/ttyUSB0")
        for name in ("handshake_timeout_ms", "hello_interval_ms", "link_timeout_ms",
                     "ack_timeout_ms", "backoff_min_ms", "backoff_max_ms", "write_timeout_ms"):
            if getattr(self, name) <= 0:
                raise ValueError(f"LinkConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.max_retries < 0:
            raise ValueError("LinkConfig.max_retries must be >= 0")
        if not 0 < self.max_wheel_mm_s <= 32767:
            raise ValueError("LinkConfig.max_wheel_mm_s must be in 1..32767")


@dataclass(frozen=True)
class DriveSent:
    """What send_drive actually put on the wire (after clipping)."""
    seq: int
    left_mm_s: int
    right_mm_s: int
    sent_at: float


@dataclass(frozen=True)
class McuInfo:
    firmware_id: str
    proto_version: int
    schema_hash: int
    watchdog_ms: int


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an already sorted list; None when it is empty."""
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(pct / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]
