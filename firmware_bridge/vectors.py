"""The shared test vectors: frames and their meaning, one file for C and Python.

`vectors/frames.txt` holds one frame a line::

    name | expect | MSG seq=N field=value ... | wire bytes in hex

`expect` is `ok` (the frame decodes to exactly these fields) or the counter a
receiver must bump when it drops it (`crc_errors`, `framing_errors`, ...).
String values hold no spaces. The Python suite checks both directions
(encode == bytes, decode == fields); the C suite (firmware/tests) does the same
with the firmware's codec. `python -m spikebox.firmware_bridge.vectors` rewrites
the file from CASES below; a diff in review is a protocol change.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .framing import encode_frame, encode_raw
from .protocol import BY_NAME, PROTOCOL_VERSION, SCHEMA_HASH, pack_payload

VECTORS_PATH = Path(__file__).with_name("vectors") / "frames.txt"


@dataclass(frozen=True)
class Vector:
    name: str
    expect: str
    message: str | None
    seq: int | None
    fields: dict
    wire: bytes


_TELEMETRY = dict(
    mcu_time_ms=123456, last_drive_seq=65535, state=0b1001, left_mm_s=-312, right_mm_s=298,
    left_ticks=-1234567, right_ticks=7654321, battery_mv=11870, range_mm=0xFFFF,
    accel_x_mg=-12, accel_y_mg=3, accel_z_mg=1002, gyro_x_cdps=0, gyro_y_cdps=-1,
    gyro_z_cdps=4500, watchdog_stop_ms=203, crc_errors=1, seq_gaps=2, resyncs=3, oversize=4,
    unknown_ids=5, timeouts=6, framing_errors=7, version_errors=8, stale_frames=9)

# (name, message, seq, fields) of frames every receiver must accept
OK_CASES = [
    ("hello", "HELLO", 0, dict(proto_version=PROTOCOL_VERSION, schema_hash=SCHEMA_HASH)),
    ("hello_ack_ok", "HELLO_ACK", 0, dict(status=0, proto_version=PROTOCOL_VERSION,
                                          schema_hash=SCHEMA_HASH, watchdog_ms=200,
                                          firmware_id="spikebox-ref/1")),
    ("hello_ack_schema_mismatch", "HELLO_ACK", 1, dict(
        status=2, proto_version=PROTOCOL_VERSION, schema_hash=0xDEADBEEF, watchdog_ms=150,
        firmware_id="0123456789abcdef")),
    ("heartbeat_host", "HEARTBEAT", 2, dict(uptime_ms=0, state=0)),
    ("heartbeat_mcu", "HEARTBEAT", 3, dict(uptime_ms=0xFFFFFFFF, state=0b1111)),
    ("drive_forward", "DRIVE", 7, dict(left_mm_s=250, right_mm_s=250)),
    ("drive_spin", "DRIVE", 8, dict(left_mm_s=-250, right_mm_s=250)),
    ("drive_zero", "DRIVE", 9, dict(left_mm_s=0, right_mm_s=0)),
    ("drive_extremes", "DRIVE", 65535, dict(left_mm_s=-32768, right_mm_s=32767)),
    ("estop", "ESTOP", 10, dict(cmd_id=1, reason=3)),
    ("clear", "CLEAR", 11, dict(cmd_id=2)),
    ("ack_duplicate", "ACK", 12, dict(cmd_id=1, acked_msg_id=0x11, result=1)),
    ("telemetry", "TELEMETRY", 13, _TELEMETRY),
    ("log", "LOG", 14, dict(level=30, text="watchdog:host_silent_201_ms,motors_stopped")),
    ("log_empty", "LOG", 15, dict(level=10, text="")),
    ("log_longest", "LOG", 16, dict(level=20, text="x" * 80)),
]


def _error_cases() -> list[tuple[str, str, bytes]]:
    drive = encode_frame("DRIVE", 20, dict(left_mm_s=100, right_mm_s=-100))
    flipped = bytearray(drive)
    flipped[6] ^= 0x10  # a payload byte, not a COBS code byte
    payload = pack_payload("DRIVE", dict(left_mm_s=1, right_mm_s=2))
    return [
        ("crc_bad", "crc_errors", bytes(flipped)),
        ("truncated", "framing_errors", drive[:5] + b"\x00"),
        ("cobs_code_past_end", "framing_errors", b"\x09\x01\x10\x00"),
        ("too_short", "framing_errors", b"\x03\x01\x10\x00"),
        ("len_field_too_big", "framing_errors", _forge(bytes([1, 0x10, 0, 0, 90]) + payload)),
        ("len_over_max_payload", "framing_errors", _forge(bytes([1, 0x10, 0, 0, 200]) + payload)),
        ("oversize", "oversize", b"\x01" * 200 + b"\x00"),
        ("unknown_id", "unknown_ids", encode_raw(0x7F, 21, b"\x01\x02\x03")),
        ("wrong_length_for_id", "unknown_ids", encode_raw(0x10, 22, b"\x01\x02\x03")),
        ("version_2_drive", "version_errors", encode_raw(0x10, 23, payload, version=2)),
    ]


def _forge(body: bytes) -> bytes:
    """A frame with a correct CRC and COBS but a lying header."""
    from cobs import cobs
    from .framing import CRC, crc16
    return cobs.encode(body + CRC.pack(crc16(body))) + b"\x00"


def build() -> list[Vector]:
    out = [Vector(n, "ok", m, s, f, encode_frame(m, s, f)) for n, m, s, f in OK_CASES]
    # a HELLO_ACK from a future version must still be understood
    ack = dict(status=1, proto_version=2, schema_hash=0x12345678, watchdog_ms=200,
               firmware_id="future-fw")
    out.append(Vector("hello_ack_from_version_2", "ok", "HELLO_ACK", 5, ack,
                      encode_frame("HELLO_ACK", 5, ack, version=2)))
    out += [Vector(n, e, None, None, {}, w) for n, e, w in _error_cases()]
    return out


def format_line(v: Vector) -> str:
    if v.message is None:
        meaning = "-"
    else:
        meaning = " ".join([v.message, f"seq={v.seq}"] + [f"{k}={val}" for k, val in v.fields.items()])
    return f"{v.name} | {v.expect} | {meaning} | {v.wire.hex()}"


def render() -> str:
    head = (f"# spikebox serial protocol {PROTOCOL_VERSION} test vectors, "
            f"schema_hash=0x{SCHEMA_HASH:08x}\n"
            "# name | expect | MSG seq=N field=value ... | wire bytes (hex, with the 0x00 delimiter)\n"
            "# generated by: python -m spikebox.firmware_bridge.vectors (see PROTOCOL.md)\n")
    return head + "".join(format_line(v) + "\n" for v in build())


def parse(text: str) -> list[Vector]:
    """Read the vectors file back, as the C tests do: no Python objects needed."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, expect, meaning, wire = (p.strip() for p in line.split("|"))
        message, seq, fields = None, None, {}
        if meaning != "-":
            message, *pairs = meaning.split()
            kv = dict(p.split("=", 1) for p in pairs)
            seq = int(kv.pop("seq"))
            types = dict(BY_NAME[message].fields)
            for k, val in kv.items():
                is_text = types[k].startswith(("char", "u8[0"))
                fields[k] = val if is_text else int(val)
            for k, t in types.items():
                if k not in fields and t.startswith(("char", "u8[0")):
                    fields[k] = ""
        out.append(Vector(name, expect, message, seq, fields, bytes.fromhex(wire)))
    return out


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if VECTORS_PATH.read_text() == text else "vectors file is stale: regenerate it")
    VECTORS_PATH.write_text(text)
    print(f"wrote {VECTORS_PATH} ({text.count(chr(10)) - 3} vectors)")
