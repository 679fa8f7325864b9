"""Do the numpy and Lava backends agree? The check `spikebox export compile` makes.

An activator network is run on the same frames twice — by the numpy backend
the robot uses on a CPU and by the Lava process graph a Loihi 2 board runs —
and refused unless every spike and every final u and v agree. box_compile.py
applies it to a box's own example frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikebox.runtime.activator import ActivatorNetwork, make_activator


class BackendMismatch(RuntimeError):
    """numpy and Lava disagree on the box's own frames: the box must not ship."""


@dataclass(frozen=True)
class CompileReport:
    frames: int
    units: int
    spikes: int
    bit_exact: bool


def check_backends_agree(network: ActivatorNetwork, sequences: list[np.ndarray]) -> CompileReport:
    """Run each sequence ((frames, T, n_inputs) spikes, state reset between
    sequences) through both backends; raise BackendMismatch at the first difference."""
    frames = spikes = 0
    with make_activator(network, backend="numpy") as fast, \
            make_activator(network, backend="lava") as lava:
        for k, seq in enumerate(sequences):
            fast.reset()
            lava.reset()
            for i, frame in enumerate(seq):
                a, b = fast.step(frame), lava.step(frame)
                for what, x, y in (("spikes", a.spikes, b.spikes), ("u", a.u, b.u),
                                   ("v", a.v, b.v)):
                    if not np.array_equal(x, y):
                        unit = int(np.argwhere(np.atleast_2d(x != y))[0][-1])
                        name = network.expert_names[network.unit_expert[unit]]
                        raise BackendMismatch(
                            f"sequence {k}, frame {i}: numpy and Lava differ in {what} of unit "
                            f"{unit} (expert '{name}'); the activator would not behave on a "
                            f"Loihi board as it does on the robot's CPU. Nothing was written.")
                frames += 1
                spikes += int(a.spike_counts.sum())
    return CompileReport(frames, network.n_units, spikes, True)
