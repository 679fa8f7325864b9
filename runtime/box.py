"""A box, as the robot reads it: the manifest, its files, their hashes.

    box = Box.open("/opt/robot/skills.box")
    box.verify()                       # sha256 of every file; raises BoxError naming the first bad one
    entry = box.experts["line_follow"]
    path = box.file(entry["files"]["optimized"])

Layout (written only by `spikebox export`, which commits every change by
replacing manifest.json atomically; a file the manifest does not name is
leftover of an interrupted export and is ignored):

    BOX/manifest.json                       schema_version, experts, activator, sha256 of every file
    BOX/experts/<name>-<id>/model.onnx      the source model, as given
    BOX/experts/<name>-<id>/<optimised>     the file the pager loads
    BOX/activator-<id>/                     activator.json, activator.npz, encoder.json
    BOX/examples/<name>-<id>/NNNN.png       the expert's example frames (training, compile)
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .activator import ActivatorNetwork
from .encoder import Encoder, load_config
from .files import read_json

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


class BoxError(ValueError):
    """A box that cannot be used as it is; the message names the file and the fix."""


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Box:
    path: Path
    manifest: dict

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Box":
        path = Path(path)
        if not (path / MANIFEST).exists():
            raise BoxError(f"{path / MANIFEST}: missing; {path} is not a box "
                           f"(make one with: spikebox export init {path})")
        m = read_json(path / MANIFEST, "restore the box from its source or export it again",
                      BoxError)
        if not isinstance(m, dict) or m.get("schema_version") != SCHEMA_VERSION:
            version = m.get("schema_version") if isinstance(m, dict) else None
            raise BoxError(f"{path / MANIFEST}: schema_version {version!r} is not one this "
                           f"spikebox reads (it reads {SCHEMA_VERSION}); use the spikebox "
                           f"version that wrote the box, or export it again")
        for key in ("name", "experts", "files"):
            if key not in m:
                raise BoxError(f"{path / MANIFEST}: no '{key}'; the manifest is damaged")
        return cls(path, m)

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def experts(self) -> dict[str, dict]:
        return self.manifest["experts"]

    @property
    def activator_dir(self) -> Path | None:
        rel = self.manifest.get("activator")
        return self.path / rel if rel else None

    def file(self, rel: str) -> Path:
        """Path of a file the manifest names; refuses paths that leave the box."""
        p = (self.path / rel).resolve()
        if self.path.resolve() not in p.parents:
            raise BoxError(f"{self.path / MANIFEST}: names {rel!r}, outside the box")
        return p

    def verify(self, only: list[str] | None = None) -> int:
        """Check the sha256 of every file the manifest names (or of `only`); returns bytes read."""
        total = 0
        for rel, digest in self.manifest["files"].items():
            if only is not None and rel not in only:
                continue
            p = self.file(rel)
            if not p.is_file():
                raise BoxError(f"{p}: missing from the box; restore the box or export it again")
            if sha256_file(p) != digest:
                raise BoxError(f"{p}: sha256 does not match the manifest: the file changed "
                               f"after export; restore the box or export it again")
            total += p.stat().st_size
        return total


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
