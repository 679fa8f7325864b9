"""The activator's weights, one byte a synapse: Lava's effective 8-bit weights as int8 codes.

    packed = PackedWeights.pack(effective_weights(w, bits))   # (units, n_inputs)
    np.asarray(packed)                                         # the int16 weights again

network.py holds each expert's weights so, and a network's experts as views into one
(n_inputs, n_units) matrix (Packed), the layout the frame kernel reads (kernel.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fixed_point import effective_weights

WEIGHT_MIN, WEIGHT_MAX = -256, 255     # Lava's Dense weight range (8 bits, mixed sign)
CODE_DTYPE = np.int8                   # activator schema 2: one byte a synapse
CODE_SHIFT_MAX = 8


class PackedWeights:
    """(units, n_inputs) effective Dense weights, one byte a synapse:
    weight = (code + offset) << shift, codes int8.

    Lava's effective weights always pack: mixed-sign ones are even (shift 1), one-signed
    ones span at most 255 values (offset 128 or -127). `np.asarray(packed)` gives the int16
    weights (a new read-only array each time: for export, Lava and tests, not per frame).
    """
    __slots__ = ("codes", "offset", "shift")

    def __init__(self, codes: np.ndarray, offset: int, shift: int):
        self.codes, self.offset, self.shift = codes, int(offset), int(shift)

    @classmethod
    def pack(cls, weights: np.ndarray) -> "PackedWeights":
        w = np.asarray(weights, dtype=np.int32)
        lo, hi = (int(w.min()), int(w.max())) if w.size else (0, 0)
        for shift in range(CODE_SHIFT_MAX + 1):
            if ((w >> shift) << shift != w).any():
                break
            q_lo, q_hi = lo >> shift, hi >> shift
            if q_hi - q_lo <= 255:
                offset = q_hi - 127 if q_hi > 127 else (q_lo + 128 if q_lo < -128 else 0)
                codes = ((w >> shift) - offset).astype(CODE_DTYPE)
                codes.setflags(write=False)
                return cls(codes, offset, shift)
        raise ValueError(f"weights in [{lo}, {hi}] do not fit one byte a synapse "
                         "(they are not Lava effective weights)")

    @property
    def shape(self) -> tuple[int, ...]:
        return self.codes.shape

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes)

    def __array__(self, dtype=None, copy=None):
        out = (self.codes.astype(np.int16) + np.int16(self.offset)) << np.int16(self.shift)
        out.setflags(write=False)
        return out if dtype is None else out.astype(dtype)

    def tobytes(self) -> bytes:
        return np.asarray(self).tobytes()

    def __repr__(self) -> str:
        return f"PackedWeights(shape={self.shape}, offset={self.offset}, shift={self.shift})"


@dataclass(frozen=True)
class Packed:
    """A network's weights as the frame kernel reads them: one matrix, input-major."""
    codes: np.ndarray          # (n_inputs, n_units) int8, C order
    offset: np.ndarray         # (n_units,) int32, each unit's expert's code offset
    shift: np.ndarray          # (n_units,) int32

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes + self.offset.nbytes + self.shift.nbytes)


def check_packed(packed: PackedWeights, num_weight_bits: int, where: str) -> None:
    """Codes read from a file, or handed over: int8, in range, and weights Lava keeps as they
    are (else numpy and Lava would not compute the same network)."""
    if packed.codes.dtype != CODE_DTYPE:
        raise ValueError(f"{where}: weight codes must be int8, got {packed.codes.dtype}")
    if not 0 <= packed.shift <= CODE_SHIFT_MAX or not -256 <= packed.offset <= 255:
        raise ValueError(f"{where}: weight code shift {packed.shift} / offset {packed.offset} "
                         f"out of range (0..{CODE_SHIFT_MAX} / -256..255)")
    w = np.asarray(packed)
    if w.min() < WEIGHT_MIN or w.max() > WEIGHT_MAX or \
            not np.array_equal(effective_weights(w, num_weight_bits), w):
        raise ValueError(f"{where}: weight codes do not give weights Lava's Dense keeps as they "
                         f"are (with num_weight_bits={num_weight_bits})")
