"""The frame codec: shared vectors, round trips, and a decoder that never trusts its input."""
import binascii

from hypothesis import given, strategies as st

from spikebox.firmware_bridge import vectors
from spikebox.firmware_bridge.framing import (MAX_ENCODED, FrameDecoder, crc16, encode_frame,
                                              encode_raw)
from spikebox.firmware_bridge.protocol import (BY_NAME, LOG_TEXT_MAX, MESSAGES, SCHEMA_HASH,
                                               fnv1a32, schema_string)
from spikebox.firmware_bridge.telemetry import TELEMETRY_FIELDS

COUNTERS = ("crc_errors", "framing_errors", "oversize", "unknown_ids", "version_errors")


def test_crc_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1
    assert crc16(b"") == 0xFFFF


def test_vectors_file_is_current():
    # A layout change must regenerate the file, which the C suite then checks too.
    assert vectors.VECTORS_PATH.read_text() == vectors.render()
    assert f"schema_hash=0x{SCHEMA_HASH:08x}" in vectors.VECTORS_PATH.read_text()


def test_every_vector_in_python():
    vs = vectors.parse(vectors.VECTORS_PATH.read_text())
    assert {v.message for v in vs if v.message} == set(BY_NAME), "a message has no vector"
    assert {v.expect for v in vs} >= set(COUNTERS) | {"ok", "oversize"}
    for v in vs:
        d = FrameDecoder()
        frames = d.feed(v.wire)
        if v.expect == "ok":
            assert len(frames) == 1, v.name
            assert (frames[0].name, frames[0].seq, frames[0].fields()) == \
                (v.message, v.seq, v.fields), v.name
            if v.name != "hello_ack_from_version_2":
                assert encode_frame(v.message, v.seq, v.fields) == v.wire, v.name
        else:
            assert frames == [], v.name
            bumped = {k for k in COUNTERS if getattr(d.counters, k)}
            assert bumped == {v.expect}, v.name
            assert d.counters.resyncs == 1


def test_schema_hash_covers_layouts():
    assert SCHEMA_HASH == fnv1a32(schema_string().encode())
    assert "DRIVE=16:left_mm_s i16,right_mm_s i16;" in schema_string()
    assert TELEMETRY_FIELDS == BY_NAME["TELEMETRY"].field_names


def _values(msg):
    ranges = {"u8": (0, 255), "u16": (0, 0xFFFF), "u32": (0, 0xFFFFFFFF),
              "i16": (-32768, 32767), "i32": (-2**31, 2**31 - 1)}
    out = {}
    for name, typ in msg.fields:
        if typ.startswith("char["):
            out[name] = st.text("abcdefghijklmnopqrstuvwxyz0123456789-/.", max_size=int(typ[5:-1]))
        elif typ.startswith("u8[0.."):
            out[name] = st.text(st.characters(min_codepoint=32, max_codepoint=126),
                                max_size=LOG_TEXT_MAX)
        else:
            out[name] = st.integers(*ranges[typ])
    return st.fixed_dictionaries(out)


message_and_fields = st.sampled_from(MESSAGES).flatmap(
    lambda m: st.tuples(st.just(m.name), _values(m)))


@given(message_and_fields, st.integers(0, 0xFFFF))
def test_round_trip_any_message(mf, seq):
    name, fields = mf
    wire = encode_frame(name, seq, fields)
    assert wire.endswith(b"\x00") and b"\x00" not in wire[:-1]
    assert len(wire) - 1 <= MAX_ENCODED
    (frame,) = FrameDecoder().feed(wire)
    assert (frame.name, frame.seq, frame.fields()) == (name, seq, fields)


@given(st.lists(message_and_fields, min_size=1, max_size=20), st.data())
def test_any_chunking_gives_the_same_frames(msgs, data):
    stream = b"".join(encode_frame(n, i, f) for i, (n, f) in enumerate(msgs))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    d = FrameDecoder()
    frames = []
    for a, b in zip([0] + cuts, cuts + [len(stream)]):
        frames += d.feed(stream[a:b])
    assert [(f.name, f.fields()) for f in frames] == msgs
    assert d.counters.seq_gaps == 0 and d.counters.resyncs == 0


@given(st.binary(max_size=600))
def test_garbage_never_raises_and_next_frame_survives(garbage):
    d = FrameDecoder()
    d.feed(garbage)
    good = encode_frame("DRIVE", 1, dict(left_mm_s=5, right_mm_s=-5))
    # one leading delimiter ends whatever the garbage left open (the host's rule)
    frames = d.feed(b"\x00" + good)
    assert [f.fields() for f in frames] == [dict(left_mm_s=5, right_mm_s=-5)]


def test_oversize_chunk_is_dropped_without_buffering_it():
    d = FrameDecoder()
    assert d.feed(b"\x01" * 10_000) == []
    assert len(d._chunk) <= MAX_ENCODED
    assert d.counters.oversize == 1
    good = encode_frame("HEARTBEAT", 3, dict(uptime_ms=1, state=0))
    assert len(d.feed(b"\x00" + good)) == 1


def test_sequence_gaps_are_counted_and_reset():
    d = FrameDecoder()
    hb = lambda s: encode_frame("HEARTBEAT", s, dict(uptime_ms=0, state=0))
    d.feed(hb(65534) + hb(65535) + hb(0))       # wrap is not a gap
    assert d.counters.seq_gaps == 0
    d.feed(hb(5))
    assert d.counters.seq_gaps == 1
    d.reset_sequence()
    d.feed(hb(100))
    assert d.counters.seq_gaps == 1


def test_payload_too_long_refused_by_encoder():
    import pytest
    with pytest.raises(ValueError, match="MAX_PAYLOAD"):
        encode_raw(0x30, 0, b"x" * 97)


def test_crc_matches_stdlib_reference():
    data = bytes(range(256))
    assert crc16(data) == binascii.crc_hqx(data, 0xFFFF)


_MUTATION = st.tuples(st.sampled_from(["flip", "set", "insert", "delete", "zero"]),
                      st.integers(0, 10**6), st.integers(0, 255))


def _mutate(stream: bytes, mutations) -> bytes:
    b = bytearray(stream)
    for kind, where, value in mutations:
        at = where % (len(b) + 1)
        if kind == "insert":
            b.insert(at, value)
        elif not b or at == len(b):
            continue
        elif kind == "flip":
            b[at] ^= 1 << (value % 8)
        elif kind == "set":
            b[at] = value
        elif kind == "zero":
            b[at] = 0
        else:
            del b[at:at + 1 + value % 8]
    return bytes(b)


@given(st.lists(message_and_fields, min_size=1, max_size=12), st.lists(_MUTATION, max_size=8),
       st.integers(1, 64))
def test_mutated_streams_never_raise_and_accept_only_frames_that_were_sent(msgs, muts, step):
    """The Python decoder fuzzed as the C one is (firmware/tests/fuzz_link.c): valid
    frames, damaged by flips, stray bytes, deletions and delimiters, arriving in chunks."""
    sent = [encode_frame(n, i, f) for i, (n, f) in enumerate(msgs)]
    stream = _mutate(b"".join(sent), muts)
    d = FrameDecoder()
    accepted = []
    for at in range(0, len(stream), step):
        accepted += d.feed(stream[at:at + step])
    originals = {(i, n) for i, (n, _) in enumerate(msgs)}
    for frame in accepted:
        assert (frame.seq, frame.name) in originals, "accepted a frame nobody sent"
        assert frame.fields() == msgs[frame.seq][1]
    intact = sum(w in stream for w in sent)
    assert len(accepted) >= intact - len(muts) - 1   # damage costs at most its own frames
