"""`spikebox export compile BOX`: the box's activator, checked on Lava against numpy.

The manifest names the activator folder (network + the encoder config its
spikes came from) and each expert's example frames. compile encodes each
expert's examples as one sequence and runs them through the numpy backend and
the Lava process graph; the box is refused unless every spike, u and v agree
(activator_compile.check_backends_agree).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from spikebox.runtime.activator import ActivatorNetwork
from spikebox.runtime.box import Box, BoxError
from spikebox.runtime.encoder import Encoder, load_config

from .activator_compile import CompileReport, check_backends_agree

ENCODER_JSON = "encoder.json"


def load_activator(box: Box) -> tuple[ActivatorNetwork, Encoder]:
    folder = box.activator_dir
    if folder is None or not folder.is_dir():
        raise BoxError(f"{box.path}: has no activator yet (add an expert with "
                       f"`spikebox export add`)")
    network = ActivatorNetwork.load(folder)
    encoder = Encoder(load_config(folder / ENCODER_JSON))
    if encoder.n_inputs != network.n_inputs or encoder.config.timesteps != network.timesteps:
        raise BoxError(f"{folder}: the encoder config gives {encoder.n_inputs} inputs x "
                       f"{encoder.config.timesteps} timesteps but the network expects "
                       f"{network.n_inputs} x {network.timesteps}; re-export the box")
    return network, encoder


def read_frames(folder: Path, what: str) -> list[np.ndarray]:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")) \
        if folder.is_dir() else []
    if not paths:
        raise BoxError(f"{folder}: no example frames (*.png, *.jpg) for {what}")
    frames = []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise BoxError(f"{p}: not a readable image; replace or delete it")
        frames.append(img)
    return frames


def compile_box(path: str | os.PathLike, progress: Callable[[str], None] = lambda s: None
                ) -> CompileReport:
    box = Box.open(path)
    network, encoder = load_activator(box)
    sequences = []
    for name in network.expert_names:
        rel = box.manifest["examples"].get(name)
        if rel is None:
            raise BoxError(f"{box.path}: the manifest names no example frames for '{name}'")
        frames = read_frames(box.file(rel), f"expert '{name}'")
        encoder.reset()
        sequences.append(np.stack([encoder.encode(f) for f in frames]))
        progress(f"encoded {len(frames)} example frames of '{name}'")
    progress(f"running {sum(len(s) for s in sequences)} frames through numpy and Lava ...")
    return check_backends_agree(network, sequences)
