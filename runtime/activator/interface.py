"""The activator's interface: what goes in and comes out each frame, for both backends.

In:  a (T, n_inputs) 0/1 spike array from the encoder (bool or unsigned/signed ints).
Out: FrameResult — per-timestep spikes, end-of-frame u/v, which experts fired,
     how close each is to firing (warmth), and a Loihi energy estimate.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from . import energy
from .fixed_point import VTH_SHIFT
from .network import ActivatorNetwork


@dataclass
class FrameResult:
    spikes: np.ndarray        # (T, n_units) bool, per timestep
    spike_counts: np.ndarray  # (n_units,) int
    u: np.ndarray             # (n_units,) int32, at the end of the frame
    v: np.ndarray             # (n_units,) int32, at the end of the frame
    expert_names: tuple[str, ...]   # the network's experts, in network order
    expert_spikes: np.ndarray       # (experts,) int64: spikes of each expert's units this frame
    expert_warmth: np.ndarray       # (experts,) float64: max over its units of 1.0 if it spiked
                                    # this frame, else clip(v_end / (vth << 6), 0, 1)
    synops: int               # synaptic ops this frame (see energy.py)
    energy_uj: float          # Loihi estimate for this frame (see energy.py)
    _views: dict = field(default_factory=dict, repr=False, compare=False)

    # Names-keyed views for code that wants them (the pager); built on first use, so a frame of
    # a thousand experts costs array work only.
    @property
    def fired(self) -> list[str]:
        """Experts with at least one unit spiking this frame, in network order."""
        if "fired" not in self._views:
            self._views["fired"] = [self.expert_names[i] for i in np.flatnonzero(self.expert_spikes)]
        return self._views["fired"]

    @property
    def warmth(self) -> dict[str, float]:
        """expert_warmth by expert name."""
        if "warmth" not in self._views:
            self._views["warmth"] = dict(zip(self.expert_names, self.expert_warmth.tolist()))
        return self._views["warmth"]


class Activator(Protocol):
    """The interface both backends implement."""
    network: ActivatorNetwork

    def step(self, spikes: np.ndarray) -> FrameResult: ...
    def reset(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self): ...
    def __exit__(self, *exc) -> None: ...


def validate_frame(spikes, timesteps: int, n_inputs: int) -> np.ndarray:
    """Check an encoder frame and return it as a C-contiguous (T, n_inputs) bool array."""
    arr = np.asarray(spikes)
    want = f"a ({timesteps}, {n_inputs}) array of 0/1 spikes (bool or uint8)"
    if arr.shape != (timesteps, n_inputs):
        raise ValueError(f"activator input: expected {want}, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        return np.ascontiguousarray(arr)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"activator input: expected {want}, got dtype {arr.dtype}"
                         + (" containing NaN" if arr.dtype.kind in "fc" and np.isnan(arr).any() else ""))
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"activator input: expected {want}, got values in [{arr.min()}, {arr.max()}]")
    if arr.dtype.itemsize == 1:
        return np.ascontiguousarray(arr).view(np.bool_)   # 0/1 bytes are valid bools
    return arr.astype(np.bool_)


class FrameAccounting:
    """Per-network constants to turn (spikes, u, v) into a FrameResult."""

    def __init__(self, network: ActivatorNetwork):
        self.network = network
        self.names = tuple(network.expert_names)
        self.starts = np.cumsum([0] + [e.n_units for e in network.experts])[:-1]
        self.vth_scaled = np.repeat([float(e.vth << VTH_SHIFT) for e in network.experts],
                                    [e.n_units for e in network.experts])
        self.fanout = energy.fanout_packed(network.packed())
        # vth = 0: a unit that did not fire has v <= 0, so dividing by 1 gives warmth 0.
        self.inv_vth = 1.0 / np.maximum(self.vth_scaled, 1.0)
        self.n_units, self.timesteps = network.n_units, network.timesteps   # once: a sum over experts

    def result(self, input_spikes: np.ndarray, spikes: np.ndarray, u: np.ndarray, v: np.ndarray,
               counts: np.ndarray | None = None) -> FrameResult:
        """counts: each unit's spikes, where the backend has them already."""
        # Array work only, whatever the number of experts (no Python loop over them).
        counts = energy.per_column(spikes) if counts is None else counts
        unit_warmth = v * self.inv_vth
        np.clip(unit_warmth, 0.0, 1.0, out=unit_warmth)
        unit_warmth[counts > 0] = 1.0
        if len(self.names):
            per_expert_max = np.maximum.reduceat(unit_warmth, self.starts)
            per_expert_count = np.add.reduceat(counts, self.starts)
        else:
            per_expert_max = per_expert_count = np.zeros(0)
        n_syn = energy.synops(input_spikes, self.fanout)
        n_unit_spikes = int(counts.sum())
        return FrameResult(
            spikes=spikes, spike_counts=counts, u=u, v=v, expert_names=self.names,
            expert_spikes=per_expert_count.astype(np.int64), expert_warmth=per_expert_max,
            synops=n_syn,
            energy_uj=energy.frame_energy_uj(n_syn, int(np.count_nonzero(input_spikes)), n_unit_spikes,
                                             self.n_units, self.timesteps),
        )
