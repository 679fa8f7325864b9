"""`spikebox export compile BOX`: the box's activator, checked on Lava against numpy.

The manifest names the activator folder, the encoder config its spikes came
from, and each expert's example frames. compile encodes each
expert's examples as one sequence and runs them through the numpy backend and
the Lava process graph; the box is refused unless every spike, u and v agree
(backend_check.check_backends_agree). Experts the camera never wakes have no
units and no examples: a box of only those has nothing to compile.
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np

from spikebox.runtime.box import Box, BoxError, read_frames

from .backend_check import CompileReport, check_backends_agree


def compile_box(path: str | os.PathLike, progress: Callable[[str], None] = lambda s: None
                ) -> CompileReport:
    box = Box.open(path)
    if box.experts and not box.woken_by_camera:       # no units, no activator: nothing to run
        return CompileReport(frames=0, units=0, spikes=0, bit_exact=True)
    network, encoder = box.load_activator()
    sequences = []
    for name in network.expert_names:
        rel = box.manifest.examples.get(name)
        if rel is None:
            raise BoxError(f"{box.path}: the manifest names no example frames for '{name}'")
        frames = read_frames(box.file(rel), f"expert '{name}'")
        encoder.reset()
        sequences.append(np.stack([encoder.encode(f) for f in frames]))
        progress(f"encoded {len(frames)} example frames of '{name}'")
    progress(f"running {sum(len(s) for s in sequences)} frames through numpy and Lava ...")
    return check_backends_agree(network, sequences)
