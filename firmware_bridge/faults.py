"""Byte-stream fault injection (drop, flip, insert) and the bookkeeping to judge it.

Used by the tests and by `spikebox bench bridge` to show that damaged frames
are never accepted and that the receiver is back in step within one frame.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class FaultInjector:
    """Damages each byte with probability `rate`: drop it, flip one bit, or insert a random byte before it."""
    rate: float
    seed: int = 0
    clean: bytearray = field(default_factory=bytearray)   # every byte as sent
    damaged_at: list[int] = field(default_factory=list)   # offsets in `clean` that a fault touched
    faults: int = 0

    def __post_init__(self):
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be in [0, 1], got {self.rate}")
        self._rng = random.Random(self.seed)

    def __call__(self, data: bytes) -> bytes:
        out = bytearray()
        rng = self._rng
        for b in data:
            pos = len(self.clean)
            self.clean.append(b)
            if self.rate and rng.random() < self.rate:
                self.faults += 1
                self.damaged_at.append(pos)
                kind = rng.randrange(3)
                if kind == 0:
                    continue                       # drop
                if kind == 1:
                    out.append(b ^ (1 << rng.randrange(8)))  # flip one bit
                    continue
                out.append(rng.randrange(256))     # insert before this byte
            out.append(b)
        return bytes(out)


def frame_spans(stream: bytes) -> list[tuple[int, int]]:
    """[start, end] offsets (end = the delimiter) of every non-empty chunk of a clean stream."""
    spans, start = [], 0
    for i, b in enumerate(stream):
        if b == 0:
            if i > start:
                spans.append((start, i))
            start = i + 1
    return spans


@dataclass
class FaultReport:
    frames_sent: int
    frames_damaged: int
    frames_accepted: int
    corrupt_frames_accepted: int
    resync_frames_max: int   # longest run of untouched frames lost next to a damaged one


def judge(clean: bytes, damaged_at: list[int], accepted: list[bytes]) -> FaultReport:
    """Compare what a receiver accepted (each frame's wire bytes, delimiter excluded)
    against the clean stream and where the faults hit it."""
    spans = frame_spans(clean)
    chunks = [clean[s:e] for s, e in spans]
    hits = sorted(damaged_at)
    damaged = [False] * len(spans)
    j = 0
    for k, (s, e) in enumerate(spans):
        while j < len(hits) and hits[j] < s:
            j += 1
        damaged[k] = j < len(hits) and hits[j] <= e
    # Walk the accepted frames in order against the sent ones.
    got = [False] * len(spans)
    corrupt = 0
    k = 0
    for frame in accepted:
        m = k
        while m < len(chunks) and chunks[m] != frame:
            m += 1
        if m == len(chunks):
            corrupt += 1          # not a frame that was ever sent (in this order)
            continue
        got[m] = True
        k = m + 1
    run = worst = 0
    for k in range(len(spans)):
        if not got[k] and not damaged[k]:
            run += 1
            worst = max(worst, run)
        else:
            run = 0
    return FaultReport(len(spans), sum(damaged), sum(got), corrupt, worst)
