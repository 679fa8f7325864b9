"""Lava's bit-accurate Dense and LIF arithmetic (lava-nc 0.10), in plain numpy.

Each function mirrors a line of `lava.proc.dense.models.AbstractPyDenseModelBitAcc`
or `lava.proc.lif.models.AbstractPyLifModelFixed`, down to the integer widths
at which Lava wraps, so the numpy backend is bit-exact with Lava. Nothing here
imports Lava (importing Lava forces multiprocessing's start method to 'fork').

The path of one frame, as Lava computes it:
  Dense   weights: clip to 8 bits by sign mode, then drop
          8 - num_weight_bits + is_mixed LSBs           → effective_weights()
          acc[t] = Σ_i w[:, i]·s[t, i]                  (int64: numpy sums int32 in int64)
          acc << weight_exp, or >> -weight_exp          → shift_activation() (int64)
          sent one step later (a_buff; zero at start, carried across frames)
  channel the int64 buffer is written into the int32 shared-memory channel
          of Dense.a_out: wraps modulo 2**32             → to_channel()
          LIF.a_in is declared int16, but PyInPort.recv() returns
          np.zeros(shape, int16) + received int32 → int32: no int16 cast.
  LIF     u = wrap24(int32(decay(u, du + 1)) + (a_in << 6))   (int32 arithmetic)
          v = clip(int32(decay(v, dv)) + u + bias, ±(2**23 - 1))
          spike = v > vth << 6;  v[spike] = 0              → lif_step()
"""
from __future__ import annotations

from enum import Enum

import numpy as np

DECAY_SHIFT = 12            # decays are 12-bit fractions of 4096
DECAY_UNITY = 1 << DECAY_SHIFT
ACT_SHIFT = 6               # a_in is MSB-aligned by 6 bits
VTH_SHIFT = 6               # so is the threshold
MAX_UV = 1 << 23            # u, v are 24-bit
U_DECAY_OFFSET = 1          # ds_offset: u decays with du + 1 (so du=4095 decays fully)


class SignMode(Enum):
    """Same values as lava.utils.weightutils.SignMode."""
    MIXED = 1
    EXCITATORY = 2
    INHIBITORY = 3


def sign_mode(weights: np.ndarray) -> SignMode:
    """As Lava's determine_sign_mode, which Dense applies to its whole weight matrix."""
    if np.min(weights) >= 0:
        return SignMode.EXCITATORY      # includes an all-zero matrix
    if np.max(weights) <= 0:
        return SignMode.INHIBITORY
    return SignMode.MIXED


def effective_weights(weights: np.ndarray, num_weight_bits: int = 8) -> np.ndarray:
    """The int32 weights Lava's Dense actually uses: clip_weights(..., 8) then truncate_weights.

    Mixed: clip to [-256, 255], drop 9 - num_weight_bits LSBs (arithmetic
    shift, so -3 → -4). Excitatory: clip to [0, 255], drop 8 - num_weight_bits.
    Inhibitory: negate, clip to [0, 255], drop 8 - num_weight_bits, negate back.
    """
    mode = sign_mode(weights)
    w = np.asarray(weights).astype(np.int32)
    if mode is SignMode.INHIBITORY:
        w = -w
    mixed = int(mode is SignMode.MIXED)
    w = np.clip(w, -256 * mixed, 255)
    drop = 8 - num_weight_bits + mixed
    w = (w >> drop) << drop
    return -w if mode is SignMode.INHIBITORY else w


def shift_activation(acc: np.ndarray, weight_exp) -> np.ndarray:
    """Dense's `acc << weight_exp if weight_exp > 0 else acc >> -weight_exp`, in int64.

    weight_exp may be a per-unit array (broadcast over the last axis); for
    each unit one of the two shifts is by 0, so this equals Lava's branch.
    """
    exp = np.asarray(weight_exp, dtype=np.int64)
    acc = np.asarray(acc, dtype=np.int64)
    return np.right_shift(np.left_shift(acc, np.maximum(exp, 0)), np.maximum(-exp, 0))


def to_channel(a: np.ndarray) -> np.ndarray:
    """What crosses Dense.a_out → LIF.a_in: Lava copies the int64 buffer into an
    int32 channel (`array[:] = data`, an unsafe cast: wraps modulo 2**32), and
    the LIF's int16-declared port adds it to int16 zeros, which yields int32."""
    return np.asarray(a).astype(np.int32)


def decay(x: np.ndarray, d) -> np.ndarray:
    """sign(x·(4096 - d)) · (|x·(4096 - d)| >> 12), computed in int64, returned int32."""
    p = np.asarray(x).astype(np.int64) * (DECAY_UNITY - np.asarray(d, dtype=np.int64))
    return (np.sign(p) * (np.abs(p) >> DECAY_SHIFT)).astype(np.int32)


def scaled_bias(bias_mant: np.ndarray, bias_exp: np.ndarray) -> np.ndarray:
    """bias_mant << bias_exp (>> -bias_exp when negative), int32 as in Lava's scale_bias."""
    mant = np.asarray(bias_mant).astype(np.int32)
    exp = np.asarray(bias_exp).astype(np.int32)
    return np.where(exp >= 0, mant << np.maximum(exp, 0), mant >> np.maximum(-exp, 0)).astype(np.int32)


def scaled_vth(vth) -> np.ndarray:
    return np.asarray(vth, dtype=np.int64) << VTH_SHIFT


def wrap_current(u: np.ndarray) -> np.ndarray:
    """Lava's one-time wrap of u: above 2**23 subtract 2**24, at or below -2**23 add 2**24.

    Exactly Lava's two np.where lines (so u == 2**23 is kept, and a value far
    outside 24 bits is wrapped once only, as Lava does).
    """
    u = np.asarray(u, dtype=np.int32)
    hi = np.where(u > MAX_UV, u - 2 * MAX_UV, u)
    return np.where(hi <= -MAX_UV, u + 2 * MAX_UV, hi).astype(np.int32)


def lif_step(u, v, a_in, du, dv, bias, vth_scaled):
    """One PyLifModelBitAcc timestep. All int32 sums wrap like Lava's int32 arrays.

    u, v, a_in: int32 (units,); du, dv: per-unit or scalar 12-bit decays;
    bias: scaled_bias(); vth_scaled: scaled_vth(). Returns (u, v, spiked).
    """
    act = np.asarray(a_in, dtype=np.int32) << np.int32(ACT_SHIFT)
    u = wrap_current(decay(u, np.asarray(du) + U_DECAY_OFFSET) + act)
    v = decay(v, dv) + u + np.asarray(bias, dtype=np.int32)
    v = np.clip(v, -MAX_UV + 1, MAX_UV - 1).astype(np.int32)
    spiked = v > vth_scaled
    v = np.where(spiked, np.int32(0), v).astype(np.int32)
    return u, v, spiked
