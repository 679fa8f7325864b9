"""The frame kernel: one activator frame in C (_frame_kernel.c), loaded with ctypes.

    kernel = FrameKernel.load()          # None where the extension was not built
    spikes = kernel.run(frame, packed, lif, state)

The numpy backend uses it when it is there: the same arithmetic as fixed_point.py, one
thread, work that grows with the input spikes (each spiking input's row of int8 codes is
read once a frame) instead of a dense float matrix product over every input. Where it is
not built (no C compiler when the package was installed), the backend says so once and
runs its numpy path, bit-exact and slower at scale.
"""
from __future__ import annotations

import ctypes
import importlib.util
import logging
from dataclasses import dataclass

import numpy as np

from .packed import Packed

logger = logging.getLogger(__name__)

UNIT_BLOCK = 512                 # as _frame_kernel.c
MAX_INPUTS = 2**23 - 1           # int32 block sums stay exact below this (_frame_kernel.c)
_MODULE = "spikebox.runtime.activator._frame_kernel"

@dataclass(frozen=True)
class LifParams:
    """Per-unit constants of the LIF and Dense, as the kernel takes them (int32, C order)."""
    weight_exp: np.ndarray
    u_scale: np.ndarray           # float64 (4096 - (du + 1)) / 4096: exact, see _frame_kernel.c
    v_scale: np.ndarray           # float64 (4096 - dv) / 4096
    bias: np.ndarray              # bias_mant << bias_exp
    vth_scaled: np.ndarray        # vth << 6


class FrameKernel:
    def __init__(self, lib: ctypes.CDLL):
        fn = lib.sb_activator_frame
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_int] * 3 + [ctypes.c_void_p] * 20
        self._fn = fn

    @classmethod
    def load(cls) -> "FrameKernel | None":
        spec = importlib.util.find_spec(_MODULE)
        if spec is None or spec.origin is None:
            return None
        try:
            return cls(ctypes.CDLL(spec.origin))
        except OSError as exc:          # a broken build: say so, run the numpy path
            logger.warning("activator frame kernel %s does not load (%s); using numpy",
                           spec.origin, exc)
            return None

    @staticmethod
    def fits(n_inputs: int) -> bool:
        return n_inputs <= MAX_INPUTS

    def bind(self, timesteps: int, packed: Packed, lif: LifParams, u: np.ndarray, v: np.ndarray,
             dense_buffer: np.ndarray) -> "BoundKernel":
        return BoundKernel(self._fn, timesteps, packed, lif, u, v, dense_buffer)


class BoundKernel:
    """The kernel with one network's arrays and its scratch bound: a frame costs one foreign
    call with plain pointers (ctypes' checked array arguments cost ~1 us each)."""

    def __init__(self, fn, timesteps: int, packed: Packed, lif: LifParams, u: np.ndarray,
                 v: np.ndarray, dense_buffer: np.ndarray):
        n, units = packed.codes.shape
        chunks = (timesteps + 63) // 64
        kinds = [(packed.codes, np.int8), (packed.offset, np.int32), (packed.shift, np.int32),
                 (lif.weight_exp, np.int32), (lif.u_scale, np.float64), (lif.v_scale, np.float64),
                 (lif.bias, np.int32), (lif.vth_scaled, np.int32), (u, np.int32), (v, np.int32),
                 (dense_buffer, np.int32)]
        for arr, dtype in kinds:        # the kernel reads raw memory: hold it to its layout
            if arr.dtype != dtype or not arr.flags.c_contiguous:
                raise TypeError(f"frame kernel: an array is {arr.dtype}, "
                                f"{'' if arr.flags.c_contiguous else 'not '}C-contiguous; "
                                f"expected {np.dtype(dtype)}, C-contiguous")
        self.out = np.empty((timesteps, units), np.uint8)
        self.counts = np.empty(units, np.int32)
        self._keep = [a for a, _ in kinds] + [self.out, self.counts] + [
            np.empty(chunks * n, np.uint64), np.empty(chunks * n, np.int32),
            np.empty(timesteps, np.int32), np.empty(timesteps * UNIT_BLOCK, np.int32),
            np.empty(timesteps * UNIT_BLOCK, np.int16), np.empty(timesteps, np.int32)]
        self._args = [a.ctypes.data for a in self._keep]
        self._fn, self.shape = fn, (timesteps, n, units)

    def run(self, spikes: np.ndarray) -> np.ndarray:
        """One frame of (T, n_inputs) bool spikes, C-contiguous; u, v and the Dense buffer
        bound at bind() are updated in place. Returns the (T, n_units) bool spikes: a
        buffer that the next run() overwrites, as is `counts`, each unit's spikes."""
        T, n, units = self.shape
        if spikes.shape != (T, n) or spikes.dtype != np.bool_ or not spikes.flags.c_contiguous:
            raise ValueError(f"frame kernel: expected a C-contiguous ({T}, {n}) bool frame")
        a = self._args
        rc = self._fn(T, n, units, spikes.ctypes.data, *a)
        if rc != 0:
            raise RuntimeError(f"activator frame kernel refused a ({T}, {n}) frame")
        return self.out.view(np.bool_)
