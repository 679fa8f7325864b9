"""Message table of the spikebox serial protocol (see PROTOCOL.md).

One table, `MESSAGES`, says every message's id and field layout; the struct
formats, the payload lengths and the schema hash are all derived from it, so
a layout cannot change in one place and not in another.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

PROTOCOL_VERSION = 1
MAX_PAYLOAD = 96
LOG_TEXT_MAX = 80

# state bits (HEARTBEAT from the MCU, TELEMETRY)
STATE_HANDSHAKEN = 1 << 0
STATE_ESTOPPED = 1 << 1
STATE_WATCHDOG_STOPPED = 1 << 2
STATE_AWAIT_DRIVE = 1 << 3

HELLO_OK, HELLO_VERSION_MISMATCH, HELLO_SCHEMA_MISMATCH = 0, 1, 2
ACK_APPLIED, ACK_DUPLICATE, ACK_REFUSED, ACK_STALE = 0, 1, 2, 3
WATCHDOG_NEVER = 0xFFFF
RANGE_NONE = 0xFFFF


def newer(a: int, b: int) -> bool:
    """Serial-number order (RFC 1982) of two u16 counters that wrap, as the MCU
    compares seq and cmd_id: a is newer than b when it is 1 … 32767 steps ahead."""
    ahead = (a - b) & 0xFFFF
    return 0 < ahead < 0x8000


_STRUCT_CODES = {"u8": "B", "u16": "H", "u32": "I", "i16": "h", "i32": "i"}


def int_range(field_type: str) -> tuple[int, int]:
    """(lowest, highest) value of an integer wire type such as "i16"."""
    bits = 8 * struct.calcsize(_STRUCT_CODES[field_type])
    return (-(1 << bits - 1), (1 << bits - 1) - 1) if field_type[0] == "i" else (0, (1 << bits) - 1)


@dataclass(frozen=True)
class Message:
    name: str
    msg_id: int
    fields: tuple[tuple[str, str], ...]  # (name, type) in wire order

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f for f, _ in self.fields)

    @property
    def variable(self) -> bool:
        return any(t.startswith("u8[0..") for _, t in self.fields)

    @property
    def struct(self) -> struct.Struct:
        codes = []
        for _, t in self.fields:
            if t.startswith("char["):
                codes.append(t[5:-1] + "s")
            elif t.startswith("u8[0.."):
                continue  # variable tail, handled by pack/unpack
            else:
                codes.append(_STRUCT_CODES[t])
        return struct.Struct("<" + "".join(codes))

    @property
    def length(self) -> int:
        """Fixed payload length; for LOG the length of its fixed head."""
        return self.struct.size


def _fields(spec: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in spec.split(","):
        name, typ = item.split()
        out.append((name, typ))
    return tuple(out)


MESSAGES: tuple[Message, ...] = (
    Message("HELLO", 0x01, _fields("proto_version u8, schema_hash u32")),
    Message("HELLO_ACK", 0x02, _fields(
        "status u8, proto_version u8, schema_hash u32, watchdog_ms u16, firmware_id char[16]")),
    Message("HEARTBEAT", 0x03, _fields("uptime_ms u32, state u8")),
    Message("DRIVE", 0x10, _fields("left_mm_s i16, right_mm_s i16")),
    Message("ESTOP", 0x11, _fields("cmd_id u16, reason u8")),
    Message("CLEAR", 0x12, _fields("cmd_id u16")),
    Message("ACK", 0x13, _fields("cmd_id u16, acked_msg_id u8, result u8")),
    Message("TELEMETRY", 0x20, _fields(
        "mcu_time_ms u32, last_drive_seq u16, state u8, left_mm_s i16, right_mm_s i16, "
        "left_ticks i32, right_ticks i32, battery_mv u16, range_mm u16, "
        "accel_x_mg i16, accel_y_mg i16, accel_z_mg i16, "
        "gyro_x_cdps i16, gyro_y_cdps i16, gyro_z_cdps i16, watchdog_stop_ms u16, "
        "crc_errors u16, seq_gaps u16, resyncs u16, oversize u16, unknown_ids u16, timeouts u16, "
        "framing_errors u16, version_errors u16, stale_frames u16")),
    Message("LOG", 0x30, _fields(f"level u8, text u8[0..{LOG_TEXT_MAX}]")),
)
BY_ID = {m.msg_id: m for m in MESSAGES}
BY_NAME = {m.name: m for m in MESSAGES}
# The header and these two layouts never change across versions, so that a
# version mismatch can always be told to the user.
VERSION_FREE_IDS = frozenset({BY_NAME["HELLO"].msg_id, BY_NAME["HELLO_ACK"].msg_id})


def schema_string() -> str:
    return "".join(
        f"{m.name}={m.msg_id}:" + ",".join(f"{n} {t}" for n, t in m.fields) + ";"
        for m in sorted(MESSAGES, key=lambda m: m.msg_id))


def fnv1a32(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


SCHEMA_HASH = fnv1a32(schema_string().encode("ascii"))


class PayloadError(ValueError):
    """A payload whose length does not match its message's layout."""


def pack_payload(name: str, fields: dict) -> bytes:
    msg = BY_NAME[name]
    if msg.variable:
        head = msg.struct.pack(*(fields[n] for n in msg.field_names[:-1]))
        tail = fields[msg.field_names[-1]]
        tail = tail.encode("utf-8") if isinstance(tail, str) else bytes(tail)
        return head + tail[:LOG_TEXT_MAX]
    values = []
    for n, t in msg.fields:
        v = fields[n]
        if t.startswith("char[") and isinstance(v, str):
            v = v.encode("ascii")
        values.append(v)
    return msg.struct.pack(*values)


def unpack_payload(msg: Message, payload: bytes) -> dict:
    size = msg.struct.size
    if msg.variable:
        if not size <= len(payload) <= size + LOG_TEXT_MAX:
            raise PayloadError(f"{msg.name}: {len(payload)} bytes")
        out = dict(zip(msg.field_names[:-1], msg.struct.unpack_from(payload)))
        out[msg.field_names[-1]] = payload[size:].decode("utf-8", "replace")
        return out
    if len(payload) != size:
        raise PayloadError(f"{msg.name}: {len(payload)} bytes, expected {size}")
    out = dict(zip(msg.field_names, msg.struct.unpack(payload)))
    for n, t in msg.fields:
        if t.startswith("char["):
            out[n] = out[n].rstrip(b"\0").decode("ascii", "replace")
    return out
