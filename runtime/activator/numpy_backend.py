"""The activator in numpy: bit-exact with Lava's fixed_pt models, and hundreds of
times faster than Lava's CPU simulation (bench.py measures both).

A frame is feed-forward, so the Dense input of all T timesteps is one matrix
product (T, n_inputs) x (n_inputs, n_units); only the LIF recursion runs
timestep by timestep, on the units alone. All experts' units are concatenated;
their shared Lava parameters become per-unit arrays.

State carried across frames, as in Lava: u, v, and the Dense buffer (the
activation of the frame's last timestep, which Lava's Dense delivers on the
next frame's first timestep).
"""
from __future__ import annotations

import numpy as np

from . import fixed_point as fx
from .interface import FrameAccounting, FrameResult, validate_frame
from .network import ActivatorNetwork


class NumpyActivator:
    def __init__(self, network: ActivatorNetwork):
        if not isinstance(network, ActivatorNetwork):
            raise TypeError(f"NumpyActivator needs an ActivatorNetwork, got {type(network).__name__}")
        self.network = network
        experts = network.experts
        sizes = [e.n_units for e in experts]

        def per_unit(values, dtype):     # an expert's shared parameter, repeated for its units
            return np.repeat(np.asarray(values, dtype=dtype), sizes)

        w_eff = (np.concatenate([fx.effective_weights(e.weights, e.num_weight_bits) for e in experts])
                 if experts else np.zeros((0, network.n_inputs), np.int32))
        # Exactness of the float matrix product: each output is a sum of 0/1 x
        # integer weights with |w| <= 256, so every partial sum, in whatever
        # order or blocking BLAS adds them (FMA included), is an integer of
        # magnitude <= 256 * n_inputs. IEEE binary32 (binary64) represents every
        # integer up to 2**24 (2**53) exactly, and adding two representable
        # integers whose exact sum is representable is exact. So float32 is
        # exact while 256 * n_inputs <= 2**24, i.e. n_inputs <= 65536; above,
        # float64 is exact up to n_inputs <= 2**45.
        self._float = np.float32 if 256 * network.n_inputs <= 2**24 else np.float64
        self._weights_T = np.ascontiguousarray(w_eff.T, dtype=self._float)   # (n_inputs, n_units)
        self._weight_exp = per_unit([e.weight_exp for e in experts], np.int64)
        self._du = per_unit([e.du for e in experts], np.int64)
        self._dv = per_unit([e.dv for e in experts], np.int64)
        self._vth_scaled = fx.scaled_vth(per_unit([e.vth for e in experts], np.int64)).astype(np.int32)
        self._bias = (np.concatenate([fx.scaled_bias(e.bias_mant, e.bias_exp) for e in experts])
                      if experts else np.zeros(0, np.int32))
        # Fast-loop constants (see _lif_frame): decay factors as exact dyadic floats.
        self._cu = ((fx.DECAY_UNITY - (self._du + fx.U_DECAY_OFFSET)) / fx.DECAY_UNITY).astype(np.float64)
        self._cv = ((fx.DECAY_UNITY - self._dv) / fx.DECAY_UNITY).astype(np.float64)
        self._accounting = FrameAccounting(network)
        self._closed = False
        self.reset()

    def reset(self) -> None:
        """Zero u, v and the Dense buffer (a fresh network)."""
        n = self.network.n_units
        self._u = np.zeros(n, np.int32)
        self._v = np.zeros(n, np.int32)
        self._dense_buffer = np.zeros(n, np.int32)

    def step(self, spikes: np.ndarray) -> FrameResult:
        if self._closed:
            raise RuntimeError("NumpyActivator is closed")
        net = self.network
        s = validate_frame(spikes, net.timesteps, net.n_inputs)
        acc = (s.astype(self._float) @ self._weights_T).astype(np.int64)       # exact, see __init__
        a_out = fx.to_channel(fx.shift_activation(acc, self._weight_exp))      # (T, U) int32
        # Dense delay: step t receives the activation of step t-1.
        a_in = np.concatenate([self._dense_buffer[None], a_out[:-1]])
        self._dense_buffer = a_out[-1].copy()

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
