"""The activator's part of a box, and `spikebox export compile BOX`.

    BOX/
      activator/activator.json, activator.npz   the network (ActivatorNetwork.save)
      activator/encoder.json                    the encoder config its spikes came from
      examples/<expert>/*.png                   example frames of each expert's world,
                                                in camera order (sorted by name)

The rest of the box (manifest, experts' ONNX files) arrives with issue #4.
`compile` encodes each expert's examples as one sequence and runs them through
the numpy backend and the Lava process graph; the box is refused unless every
spike, u and v agree (activator_compile.check_backends_agree).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from spikebox.runtime.activator import ActivatorNetwork
from spikebox.runtime.encoder import Encoder, load_config, save_config

from .activator_compile import CompileReport, check_backends_agree

ACTIVATOR_DIR = "activator"
ENCODER_JSON = "encoder.json"
EXAMPLES_DIR = "examples"


class BoxError(ValueError):
    """A box that cannot be used as it is; the message names the file and the fix."""


def save_activator(box: str | os.PathLike, network: ActivatorNetwork, encoder_config) -> None:
    folder = Path(box) / ACTIVATOR_DIR
    folder.mkdir(parents=True, exist_ok=True)
    network.save(folder)
    save_config(encoder_config, folder / ENCODER_JSON)


def load_activator(box: str | os.PathLike) -> tuple[ActivatorNetwork, Encoder]:
    folder = Path(box) / ACTIVATOR_DIR
    if not folder.is_dir():
        raise BoxError(f"{folder}: missing; this box has no activator yet "
                       f"(add an expert with `spikebox export add`)")
    network = ActivatorNetwork.load(folder)
    encoder = Encoder(load_config(folder / ENCODER_JSON))
    if encoder.n_inputs != network.n_inputs or encoder.config.timesteps != network.timesteps:
        raise BoxError(f"{folder}: the encoder config gives {encoder.n_inputs} inputs x "
                       f"{encoder.config.timesteps} timesteps but the network expects "
                       f"{network.n_inputs} x {network.timesteps}; re-export the box")
    return network, encoder


def example_frames(box: str | os.PathLike, expert: str) -> list[np.ndarray]:
    folder = Path(box) / EXAMPLES_DIR / expert
    paths = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if not paths:
        raise BoxError(f"{folder}: no example frames (*.png) for expert '{expert}'; compile "
                       f"checks the activator on them")
    frames = []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise BoxError(f"{p}: not a readable image; replace or delete it")
        frames.append(img)
    return frames


def compile_box(box: str | os.PathLike, progress: Callable[[str], None] = lambda s: None
                ) -> CompileReport:
    network, encoder = load_activator(box)
    sequences = []
    for name in network.expert_names:
        frames = example_frames(box, name)
        encoder.reset()
        sequences.append(np.stack([encoder.encode(f) for f in frames]))
        progress(f"encoded {len(frames)} example frames of '{name}'")
    progress(f"running {sum(len(s) for s in sequences)} frames through numpy and Lava ...")
    return check_backends_agree(network, sequences)
