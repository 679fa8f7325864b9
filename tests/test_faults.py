"""Fault injection on the byte stream: no damaged frame accepted, back in step within one frame."""
import random

import pytest

from spikebox.firmware_bridge.faults import FaultInjector, judge
from spikebox.firmware_bridge.framing import FrameDecoder, encode_frame, encode_raw
from spikebox.firmware_bridge.protocol import BY_NAME


def _stream(n: int, seed: int) -> bytes:
    rng = random.Random(seed)
    out = bytearray()
    for seq in range(n):
        kind = rng.randrange(3)
        if kind == 0:
            out += encode_frame("DRIVE", seq, dict(left_mm_s=rng.randrange(-999, 999),
                                                   right_mm_s=rng.randrange(-999, 999)))
        elif kind == 1:
            out += encode_frame("LOG", seq, dict(level=20, text="x" * rng.randrange(81)))
        else:
            out += encode_frame("TELEMETRY", seq, {
                k: rng.randrange(0, 30000) for k in BY_NAME["TELEMETRY"].field_names
                if k != "state"} | {"state": 1})
    return bytes(out)


def _run(rate: float, seed: int, n: int = 4000):
    injector = FaultInjector(rate, seed=seed)
    decoder = FrameDecoder()
    stream = _stream(n, seed)
    accepted = []
    for i in range(0, len(stream), 97):     # arrive in odd-sized reads, as from a port
        for f in decoder.feed(injector(stream[i:i + 97])):
            accepted.append(encode_raw(f.msg_id, f.seq, f.payload, version=f.version)[:-1])
    return judge(bytes(injector.clean), injector.damaged_at, accepted), decoder


@pytest.mark.parametrize("rate", [0.01, 0.10])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_corrupt_frame_accepted_and_resync_within_one_frame(rate, seed):
    report, decoder = _run(rate, seed)
    assert report.frames_damaged >= report.frames_sent * rate  # the faults did land
    assert report.corrupt_frames_accepted == 0
    assert report.resync_frames_max <= 1
    # every frame that no fault touched was accepted, except at most one beside a fault
    assert report.frames_accepted >= report.frames_sent - report.frames_damaged * 2
    assert decoder.counters.resyncs > 0


def test_clean_stream_loses_nothing():
    report, decoder = _run(0.0, 4, n=500)
    assert report.frames_accepted == report.frames_sent == 500
    assert report.frames_damaged == 0 and decoder.counters.resyncs == 0


def test_judge_catches_a_corrupt_acceptance_and_a_lost_frame():
    frames = [encode_frame("DRIVE", s, dict(left_mm_s=s, right_mm_s=0)) for s in range(4)]
    clean = b"".join(frames)
    forged = encode_frame("DRIVE", 1, dict(left_mm_s=99, right_mm_s=0))[:-1]
    r = judge(clean, [], [frames[0][:-1], forged, frames[3][:-1]])
    assert r.corrupt_frames_accepted == 1
    assert r.resync_frames_max == 2          # frames 1 and 2 lost with no fault on them
