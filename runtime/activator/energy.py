"""What one activator frame would cost on a Loihi chip, in microjoules.

Per-operation energies from M. Davies et al., "Loihi: A Neuromorphic Manycore
Processor with On-Chip Learning", IEEE Micro 38(1):82-99, 2018, Table 2:

    synaptic spike operation (min)   23.6 pJ
    neuron update, active            81   pJ
    neuron update, inactive          52   pJ
    spike, within tile                1.7 pJ

This is an estimate of the compute on the neurocores only (no host I/O, no
static power, no routing across tiles or chips, Loihi 1 figures).

Counting, per frame of T timesteps (the same for both backends):
  synops     = Σ_t Σ_i s[t, i] · fanout[i], where s[t, i] ∈ {0, 1} is input
               channel i's spike at timestep t and fanout[i] is the number of
               units whose *effective* weight from input i (after Lava's
               clipping and truncation) is nonzero: one synaptic op per
               delivered (spike, nonzero synapse) pair.
  neuron updates = T · n_units, every unit updates every timestep. Our
               convention: an update is *active* on a timestep where the unit
               fires, *inactive* otherwise (the two figures differ by 36 %,
               which bounds the error of this choice on the neuron term).
  spikes     = input spikes delivered (Σ s) + unit spikes emitted.
"""
from __future__ import annotations

import numpy as np

PJ_PER_SYNOP = 23.6
PJ_PER_ACTIVE_UPDATE = 81.0
PJ_PER_INACTIVE_UPDATE = 52.0
PJ_PER_SPIKE = 1.7


def fanout(effective_weights_T: np.ndarray) -> np.ndarray:
    """(n_inputs,) number of units each input reaches with a nonzero weight.

    effective_weights_T: (n_inputs, n_units), the weights Lava's Dense uses.
    """
    return np.count_nonzero(effective_weights_T, axis=1).astype(np.int64)


def fanout_packed(packed, rows: int = 4096) -> np.ndarray:
    """fanout() of a network's packed weights (network.Packed), a block of inputs at a time:
    a weight is nonzero where its code is not minus its unit's offset."""
    codes = packed.codes
    out = np.empty(codes.shape[0], np.int64)
    zero_code = -packed.offset
    for i in range(0, codes.shape[0], rows):
        out[i:i + rows] = np.count_nonzero(codes[i:i + rows] != zero_code, axis=1)
    return out


def per_column(spikes: np.ndarray) -> np.ndarray:
    """(columns,) int64 spikes per column of a (T, columns) bool or 0/1 array."""
    s = np.asarray(spikes)
    if s.dtype.itemsize == 1 and s.shape[0] <= 255:     # small sums: bytes add fastest
        return np.add.reduce(s.view(np.uint8), axis=0, dtype=np.uint8).astype(np.int64)
    return np.count_nonzero(s, axis=0).astype(np.int64)


def synops(input_spikes: np.ndarray, fanout_per_input: np.ndarray) -> int:
    """Σ_t Σ_i s[t, i] · fanout[i] for a (T, n_inputs) 0/1 frame."""
    return int(per_column(input_spikes) @ fanout_per_input)


def frame_energy_uj(n_synops: int, n_input_spikes: int, n_unit_spikes: int,
                    n_units: int, timesteps: int) -> float:
    updates = n_units * timesteps
    pj = (PJ_PER_SYNOP * n_synops
          + PJ_PER_ACTIVE_UPDATE * n_unit_spikes
          + PJ_PER_INACTIVE_UPDATE * (updates - n_unit_spikes)
          + PJ_PER_SPIKE * (n_input_spikes + n_unit_spikes))
    return pj * 1e-6
