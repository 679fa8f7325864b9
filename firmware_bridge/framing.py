"""Frame codec of the spikebox serial protocol: COBS, 0x00 delimiter, header, CRC.

`encode_frame` builds the bytes of one frame; `FrameDecoder` eats a byte
stream of any shape (split, merged, damaged) and returns the good frames,
counting every kind of bad one. PROTOCOL.md is the specification.
"""
from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass, field, fields

from cobs import cobs

from .protocol import (BY_ID, BY_NAME, MAX_PAYLOAD, PROTOCOL_VERSION, VERSION_FREE_IDS,
                       PayloadError, pack_payload, unpack_payload)

HEADER = struct.Struct("<BBHB")  # version, msg_id, seq, len
CRC = struct.Struct("<H")
MIN_DECODED = HEADER.size + CRC.size
MAX_DECODED = MIN_DECODED + MAX_PAYLOAD
MAX_ENCODED = MAX_DECODED + MAX_DECODED // 254 + 1
DELIMITER = b"\x00"


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); binascii does it in C."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(frozen=True)
class Frame:
    msg_id: int
    seq: int
    payload: bytes
    version: int = PROTOCOL_VERSION

    @property
    def name(self) -> str:
        msg = BY_ID.get(self.msg_id)
        return msg.name if msg else f"0x{self.msg_id:02x}"

    def fields(self) -> dict:
        return unpack_payload(BY_ID[self.msg_id], self.payload)


def encode_frame(name: str, seq: int, fields: dict | None = None, *,
                 version: int = PROTOCOL_VERSION) -> bytes:
    msg = BY_NAME[name]
    return encode_raw(msg.msg_id, seq, pack_payload(name, fields or {}), version=version)


def encode_raw(msg_id: int, seq: int, payload: bytes, *, version: int = PROTOCOL_VERSION) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds MAX_PAYLOAD={MAX_PAYLOAD}")
    body = HEADER.pack(version, msg_id, seq & 0xFFFF, len(payload)) + payload
    return cobs.encode(body + CRC.pack(crc16(body))) + DELIMITER


@dataclass
class LinkCounters:
    """Link statistics kept by a receiver; the same names the MCU reports."""
    frames: int = 0
    crc_errors: int = 0
    framing_errors: int = 0
    seq_gaps: int = 0
    resyncs: int = 0
    oversize: int = 0
    unknown_ids: int = 0
    version_errors: int = 0
    timeouts: int = 0

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class FrameDecoder:
    """Stream → frames. Never raises on input bytes; counts what it drops."""
    counters: LinkCounters = field(default_factory=LinkCounters)
    _chunk: bytearray = field(default_factory=bytearray)
    _skipping: bool = False
    _last_seq: int | None = None

    def reset_sequence(self) -> None:
        """Forget the sequence reference (after a handshake or reconnect)."""
        self._last_seq = None

    def feed(self, data: bytes) -> list[Frame]:
        out: list[Frame] = []
        start = 0
        while start < len(data):
            end = data.find(0, start)
            piece = data[start:] if end < 0 else data[start:end]
            if not self._skipping:
                if len(self._chunk) + len(piece) > MAX_ENCODED:
                    self.counters.oversize += 1
                    self.counters.resyncs += 1
                    self._chunk.clear()
                    self._skipping = True
                else:
                    self._chunk += piece
            if end < 0:
                break
            if self._skipping:
                self._skipping = False
            elif self._chunk:
                frame = self._decode(bytes(self._chunk))
                if frame is not None:
                    out.append(frame)
            self._chunk.clear()
            start = end + 1
        return out

    def _drop(self, counter: str) -> None:
        setattr(self.counters, counter, getattr(self.counters, counter) + 1)
        self.counters.resyncs += 1

    def _decode(self, chunk: bytes) -> Frame | None:
        try:
            raw = cobs.decode(chunk)
        except cobs.DecodeError:
            return self._drop("framing_errors")
        if not MIN_DECODED <= len(raw) <= MAX_DECODED:
            return self._drop("framing_errors")
        version, msg_id, seq, length = HEADER.unpack_from(raw)
        if length > MAX_PAYLOAD or len(raw) != MIN_DECODED + length:
            return self._drop("framing_errors")
        body = raw[:HEADER.size + length]
        if crc16(body) != CRC.unpack_from(raw, HEADER.size + length)[0]:
            return self._drop("crc_errors")
        if version != PROTOCOL_VERSION and msg_id not in VERSION_FREE_IDS:
            return self._drop("version_errors")
        msg = BY_ID.get(msg_id)
        payload = body[HEADER.size:]
        if msg is None:
            return self._drop("unknown_ids")
        try:
            unpack_payload(msg, payload)
        except PayloadError:
            return self._drop("unknown_ids")
        if self._last_seq is not None and seq != (self._last_seq + 1) & 0xFFFF:
            self.counters.seq_gaps += 1
        self._last_seq = seq
        self.counters.frames += 1
        return Frame(msg_id, seq, payload, version)
