"""The link's public types: its config, what it returns, and the errors it raises."""
from __future__ import annotations

from dataclasses import dataclass, fields

from .protocol import BY_NAME, int_range


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


class LinkConfigError(ValueError):
    """A LinkConfig field out of range: the `field`, the `value` given, the `rule` it breaks."""

    def __init__(self, field: str, value, rule: str):
        super().__init__(f"LinkConfig.{field} = {value!r}: {rule}")
        self.field, self.value, self.rule = field, value, rule


# A setpoint limit must fit the DRIVE message's wheel field.
_WHEEL_MAX_MM_S = int_range(dict(BY_NAME["DRIVE"].fields)["left_mm_s"])[1]


@dataclass
class LinkConfig:
    url: str                          # serial_for_url: /dev/ttyUSB0, a pty path, loop://, spy://...
    baudrate: int = 115200            # bits per second
    handshake_timeout_ms: int = 1000  # connect() gives up after this
    hello_interval_ms: int = 100      # HELLO is repeated this often until answered
    link_timeout_ms: int = 500        # MCU silent this long → re-handshake / re-open
    ack_timeout_ms: int = 50          # per ESTOP/CLEAR attempt
    max_retries: int = 5              # resends of a command after the first try
    backoff_min_ms: int = 20          # port re-open backoff, doubling ...
    backoff_max_ms: int = 250         # ... up to this
    write_timeout_ms: int = 20        # a write never blocks a caller longer than this (a
                                      # plain posix port never blocks: port_write.py)
    max_wheel_mm_s: int = 1500        # setpoints are clipped to ±this
    rtt_window: int = 4096            # DRIVE→TELEMETRY round trips kept for stats

    def __post_init__(self):
        if not self.url:
            raise LinkConfigError("url", self.url, "must name a port, such as /dev/ttyUSB0")
        for f in fields(self):
            if f.name not in ("url", "max_retries") and getattr(self, f.name) <= 0:
                raise LinkConfigError(f.name, getattr(self, f.name), "must be > 0")
        if self.max_retries < 0:
            raise LinkConfigError("max_retries", self.max_retries, "must be >= 0")
        if self.backoff_max_ms < self.backoff_min_ms:
            raise LinkConfigError("backoff_max_ms", self.backoff_max_ms,
                                  f"must be >= backoff_min_ms ({self.backoff_min_ms})")
        if self.max_wheel_mm_s > _WHEEL_MAX_MM_S:
            raise LinkConfigError("max_wheel_mm_s", self.max_wheel_mm_s,
                                  f"must be <= {_WHEEL_MAX_MM_S} (a DRIVE wheel field)")


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
