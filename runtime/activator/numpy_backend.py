"""The activator on the CPU: bit-exact with Lava's fixed_pt models, and hundreds of
times faster than Lava's CPU simulation (bench.py measures both).

Two paths, the same numbers:
- the frame kernel (kernel.py, C): reads the network's int8 weight codes where the
  inputs spiked, one thread; what runs wherever the package was built with a compiler.
- numpy: a frame is feed-forward, so the Dense input of all T timesteps is one
  matrix product (T, n_inputs) x (n_inputs, n_units) of float weights (exact, see
  __init__), and only the LIF recursion runs timestep by timestep, on the units
  alone. It holds a float copy of the weights (4 bytes a synapse) and does dense
  work: the fallback, and the reference the kernel is tested against.
All experts' units are concatenated; their shared Lava parameters become per-unit arrays.

State carried across frames, as in Lava: u, v, and the Dense buffer (the
activation of the frame's last timestep, which Lava's Dense delivers on the
next frame's first timestep).
"""
from __future__ import annotations

import logging

import numpy as np

from . import fixed_point as fx
from .interface import FrameAccounting, FrameResult, validate_frame
from .kernel import FrameKernel, LifParams
from .network import ActivatorNetwork

logger = logging.getLogger(__name__)
PATHS = ("auto", "kernel", "numpy")
_said_no_kernel = False


class NumpyActivator:
    """path: "auto" (the kernel where built, else numpy), "kernel" (refuse without it) or
    "numpy" (the dense reference)."""

    def __init__(self, network: ActivatorNetwork, path: str = "auto"):
        global _said_no_kernel
        if not isinstance(network, ActivatorNetwork):
            raise TypeError(f"NumpyActivator needs an ActivatorNetwork, got {type(network).__name__}")
        if path not in PATHS:
            raise ValueError(f"NumpyActivator path {path!r}: expected one of {PATHS}")
        self.network = network
        experts = network.experts
        sizes = [e.n_units for e in experts]

        def per_unit(values, dtype):     # an expert's shared parameter, repeated for its units
            return np.repeat(np.asarray(values, dtype=dtype), sizes)

        self._packed = network.packed()
        kernel = FrameKernel.load() if path != "numpy" and FrameKernel.fits(network.n_inputs) else None
        if kernel is None and path == "kernel":
            raise RuntimeError("the activator frame kernel is not built (reinstall spikebox with "
                               "a C compiler: pip install -e .) or the network is too wide for it")
        if kernel is None and path == "auto" and not _said_no_kernel:
            _said_no_kernel = True
            logger.warning("activator: frame kernel not built; the numpy path runs (bit-exact, "
                           "dense float work: slower for large boxes)")
        self._kernel = kernel
        self.path = "kernel" if kernel is not None else "numpy"
        self._weight_exp = per_unit([e.weight_exp for e in experts], np.int64)
        self._du = per_unit([e.du for e in experts], np.int64)
        self._dv = per_unit([e.dv for e in experts], np.int64)
        self._vth_scaled = fx.scaled_vth(per_unit([e.vth for e in experts], np.int64)).astype(np.int32)
        self._bias = (np.concatenate([fx.scaled_bias(e.bias_mant, e.bias_exp) for e in experts])
                      if experts else np.zeros(0, np.int32))
        n = network.n_units
        self._u, self._v = np.zeros(n, np.int32), np.zeros(n, np.int32)
        self._dense_buffer = np.zeros(n, np.int32)
        if kernel is not None:
            i32 = (lambda a: np.ascontiguousarray(a, dtype=np.int32))
            self._lif = LifParams(
                weight_exp=i32(self._weight_exp),
                u_scale=(fx.DECAY_UNITY - (self._du + fx.U_DECAY_OFFSET)) / fx.DECAY_UNITY,
                v_scale=(fx.DECAY_UNITY - self._dv) / fx.DECAY_UNITY, bias=i32(self._bias),
                vth_scaled=i32(self._vth_scaled))
            self._bound = kernel.bind(network.timesteps, self._packed, self._lif,
                                      self._u, self._v, self._dense_buffer)
        else:
            self._init_numpy_path()
        self._accounting = FrameAccounting(network)
        self._closed = False

    @property
    def nbytes(self) -> int:
        """Bytes of weights and per-unit arrays this activator holds (the network's packed codes
        included, counted once)."""
        arrays = [self._packed.codes, self._packed.offset, self._packed.shift, self._weight_exp,
                  self._du, self._dv, self._vth_scaled, self._bias, self._u, self._v,
                  self._dense_buffer, self._accounting.fanout, self._accounting.vth_scaled]
        arrays += list(vars(self._lif).values()) if self._kernel is not None else [self._weights_T]
        return int(sum(a.nbytes for a in arrays))

    def _init_numpy_path(self) -> None:
        network = self.network
        p = self._packed
        # Exactness of the float matrix product: each output is a sum of 0/1 x
        # integer weights with |w| <= 256, so every partial sum, in whatever
        # order or blocking BLAS adds them (FMA included), is an integer of
        # magnitude <= 256 * n_inputs. IEEE binary32 (binary64) represents every
        # integer up to 2**24 (2**53) exactly, and adding two representable
        # integers whose exact sum is representable is exact. So float32 is
        # exact while 256 * n_inputs <= 2**24, i.e. n_inputs <= 65536; above,
        # float64 is exact up to n_inputs <= 2**45.
        self._float = np.float32 if 256 * network.n_inputs <= 2**24 else np.float64
        self._weights_T = ((p.codes.astype(self._float) + p.offset.astype(self._float))
                           * (2.0 ** p.shift).astype(self._float))      # (n_inputs, n_units)
        # Fast-loop constants (see _lif_frame): decay factors as exact dyadic floats.
        self._cu = ((fx.DECAY_UNITY - (self._du + fx.U_DECAY_OFFSET)) / fx.DECAY_UNITY).astype(np.float64)
        self._cv = ((fx.DECAY_UNITY - self._dv) / fx.DECAY_UNITY).astype(np.float64)

    def reset(self) -> None:
        """Zero u, v and the Dense buffer (a fresh network). In place: the kernel holds them."""
        for state in (self._u, self._v, self._dense_buffer):
            state[:] = 0

    def step(self, spikes: np.ndarray) -> FrameResult:
        if self._closed:
            raise RuntimeError("NumpyActivator is closed")
        net = self.network
        s = validate_frame(spikes, net.timesteps, net.n_inputs)
        if self._kernel is not None:
            out = self._bound.run(s).copy()
            return self._accounting.result(s, out, self._u.copy(), self._v.copy(),
                                           counts=self._bound.counts.astype(np.int64))
        acc = (s.astype(self._float) @ self._weights_T).astype(np.int64)       # exact, see _init_numpy_path
        a_out = fx.to_channel(fx.shift_activation(acc, self._weight_exp))      # (T, U) int32
        # Dense delay: step t receives the activation of step t-1.
        a_in = np.concatenate([self._dense_buffer[None], a_out[:-1]])
        self._dense_buffer[:] = a_out[-1]

        out = self._lif_frame(a_in)
        return self._accounting.result(s, out, self._u.copy(), self._v.copy())

    def _lif_frame(self, a_in: np.ndarray) -> np.ndarray:
        """fx.lif_step over the frame's timesteps, rewritten for speed (~15 ufunc
        calls a step, no allocation); tests hold it equal to fx.lif_step and to Lava.

        Why it is the same arithmetic:
        - decay: Lava computes sign(p) * (|p| >> 12) with p = x * (4096 - d) in
          int64, i.e. p / 4096 truncated toward zero. Here x * ((4096 - d) / 4096)
          in float64: (4096 - d) / 4096 is an exact dyadic number and the product
          has at most 31 + 13 significant bits < 53, so it equals p / 4096
          exactly, and np.trunc truncates toward zero. |result| <= |x| < 2**31,
          so the cast back to int32 is exact.
        - int32 sums wrap modulo 2**32 exactly as Lava's int32 arrays do (the
          order of the additions does not change a modular sum).
        - u's wrap: Lava's two np.where lines change u only outside
          (-2**23, 2**23]; (u + 2**23 - 1) viewed as uint32 is < 2**24 exactly
          for those inside, so one max() tells whether the rare path is needed.
        """
        T, n = a_in.shape
        act = a_in << np.int32(fx.ACT_SHIFT)              # (T, U) int32, wraps like Lava's
        out = np.empty((T, n), np.bool_)
        u, v = self._u, self._v
        f = np.empty(n, np.float64)
        dec = np.empty(n, np.int32)
        probe = np.empty(n, np.int32)
        probe_u = probe.view(np.uint32)
        lo, hi = np.int32(-fx.MAX_UV + 1), np.int32(fx.MAX_UV - 1)
        for t in range(T):
            np.multiply(u, self._cu, out=f)
            np.trunc(f, out=f)
            np.copyto(dec, f, casting="unsafe")
            np.add(dec, act[t], out=u)
            np.add(u, np.int32(fx.MAX_UV - 1), out=probe)
            if n and probe_u.max() >= 2 * fx.MAX_UV:
                u[:] = fx.wrap_current(u)
            np.multiply(v, self._cv, out=f)
            np.trunc(f, out=f)
            np.copyto(v, f, casting="unsafe")
            v += u
            v += self._bias
            np.maximum(v, lo, out=v)                       # = Lava's np.clip, without its Python wrapper
            np.minimum(v, hi, out=v)
            spiked = out[t]
            np.greater(v, self._vth_scaled, out=spiked)
            v[spiked] = 0
        return out

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> "NumpyActivator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
