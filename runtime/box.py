"""A box, as the robot reads it: the manifest, typed and validated once, its files, their hashes.

    box = Box.open("/opt/robot/skills.box")  # BoxError naming the bad key, its value and the fix
    box = Box.open(path, trusted_keys=["/etc/spikebox/owner.pub.pem"])   # only if signed by one
    box.signature.summary()   # "by key 3fa2b1c4d5e6f708 (ed25519), matches the manifest", "unsigned"
    box.verify()                       # sha256 of every file; raises BoxError naming the first bad one
    entry = box.experts["line_follow"]       # an ExpertEntry
    path = box.file(entry.files.optimized)
    if box.woken_by_camera:                  # experts the camera wakes (the others: pinned, by name)
        network, encoder = box.load_activator()  # their units, and the encoder they were trained on

Layout (written only by `spikebox export`, which commits every change by
replacing manifest.json atomically; a file the manifest does not name is
leftover of an interrupted export and is ignored):

    BOX/manifest.json                       schema_version, experts, activator, sha256 of every file
    BOX/manifest.sig                        the owner's Ed25519 signature of manifest.json's bytes
                                            (box_signature.py; `spikebox export sign`)
    BOX/experts/<name>-<id>/model.onnx      the source model, as given
    BOX/experts/<name>-<id>/<optimised>     the file the pager loads
    BOX/activator-<id>/                     activator.json, activator.npz (runtime/activator);
                                            none while no expert is woken by the camera
    BOX/examples/<name>-<id>/NNNN.png       the expert's example frames (training, compile);
                                            only experts the camera wakes have them

The manifest's schema is runtime/manifest.py's dataclasses (Manifest,
ExpertEntry, ...; imported from here as well): Box.open reads manifest.json
through them once, so a missing key, a wrong type or a number out of range is
one BoxError naming the key (`experts.line.footprint_bytes`), never a
KeyError later in the pager or a command.

Trust (DESIGN.md): with trusted_keys, Box.open refuses a box unless
manifest.sig is a valid signature of manifest.json's exact bytes by one of
them, before those bytes are parsed; the manifest's hashes then carry that
trust to every file (verify, and the pager's loader before each first load).
Without trusted_keys, integrity is by the hashes alone, as before signing.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

import cv2
import numpy as np

from .activator import ActivatorNetwork
from .encoder import Encoder
from .box_signature import SignatureCheck, TrustedKey, load_trusted_keys, read_signature
from .files import parse_json, read_bytes
# The schema's names, imported from here too: runtime.box is the box's one face.
from .manifest import (EXPERT_NAME_RULE, FIX, METRIC_NAME_RULE, SCHEMA_VERSION, WAKES,  # noqa: F401
                       WOKEN_BY_ACTIVATOR, WOKEN_BY_NAME, BoxError, ExpertEntry, ExpertFiles,
                       Int8Entry, Manifest, OutputEntry, TensorEntry, valid_expert_name,
                       valid_metric_name)

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"      # beside the manifest, never listed in it (it signs the manifest)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Box:
    path: Path
    manifest: Manifest
    signature: SignatureCheck | None = None   # what Box.open found beside the manifest
    manifest_bytes: bytes = b""               # exactly what Box.open parsed (and a signature covers)

    @classmethod
    def open(cls, path: str | os.PathLike,
             trusted_keys: Sequence[TrustedKey] | None = None) -> "Box":
        """The box at `path`, its manifest validated. With trusted_keys (public keys, or PEM
        files of them; none or empty: hashes only), BoxError unless the manifest is signed by
        one of them; a trusted key file that cannot be used is a KeyFileError."""
        path = Path(path)
        trusted = load_trusted_keys(trusted_keys or ())
        if not (path / MANIFEST).exists():
            raise BoxError(f"{path / MANIFEST}: missing; {path} is not a box "
                           f"(make one with: spikebox export init {path})")
        raw = read_bytes(path / MANIFEST, FIX, BoxError)   # read once: verified, then parsed
        signature = read_signature(path / SIGNATURE, raw, path)
        refusal = signature.refusal(trusted) if trusted else None
        if refusal:
            raise BoxError(refusal)
        data = parse_json(raw, path / MANIFEST, FIX, BoxError)
        return cls(path, Manifest.from_json(data, path / MANIFEST), signature, raw)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def experts(self) -> dict[str, ExpertEntry]:
        return self.manifest.experts

    @property
    def woken_by_camera(self) -> list[str]:
        """The experts the activator's units wake from camera frames (the network's, in
        manifest order); the others are pinned or woken by name."""
        return [name for name, e in self.experts.items() if e.camera_woken]

    @property
    def activator_dir(self) -> Path | None:
        rel = self.manifest.activator
        return self.path / rel if rel else None

    def file(self, rel: str) -> Path:
        """Path of a file the manifest names; refuses paths that leave the box."""
        p = (self.path / rel).resolve()
        if self.path.resolve() not in p.parents:
            raise BoxError(f"{self.path / MANIFEST}: names {rel!r}, outside the box")
        return p

    def unlisted(self) -> list[str]:
        """Paths in the box that the manifest does not list (never followed through a
        symlink, never loaded): leftovers of an interrupted export, or files slipped in.
        A folder that holds nothing listed is one entry; a symlink is one entry."""
        listed = set(self.manifest.files)
        folders = {p for rel in listed for p in PurePosixPath(rel).parents if str(p) != "."}
        out: list[str] = []

        def walk(folder: Path, rel: PurePosixPath) -> None:
            for child in sorted(folder.iterdir()):
                crel = rel / child.name
                if str(crel) in listed and child.is_file() and not child.is_symlink():
                    continue
                if child.is_dir() and not child.is_symlink() and crel in folders:
                    walk(child, crel)
                else:
                    out.append(str(crel))
        for child in sorted(self.path.iterdir()):
            if child.name in (MANIFEST, SIGNATURE):
                continue
            rel = PurePosixPath(child.name)
            if child.is_dir() and not child.is_symlink() and rel in folders:
                walk(child, rel)
            elif str(rel) not in listed:
                out.append(str(rel))
        return out

    def verify(self, only: list[str] | None = None) -> int:
        """Check the sha256 of every file the manifest names (or of `only`); returns bytes read."""
        total = 0
        for rel, digest in self.manifest.files.items():
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

    def load_activator(self) -> tuple[ActivatorNetwork, Encoder]:
        """The activator's network and the encoder whose spikes it was trained on.

        The encoder's config is the manifest's (stored once: every expert's units
        were trained on its spikes); the network must take exactly its inputs and hold
        units for exactly the experts the manifest has woken by the camera. A box none of
        whose experts the camera wakes has no activator: BoxError (ask `woken_by_camera`).
        """
        folder = self.activator_dir
        if folder is None and self.experts:
            raise BoxError(f"{self.path}: has no activator: none of its {len(self.experts)} "
                           f"experts is woken by the camera (they are pinned or woken by name); "
                           f"add one with --examples to give it one")
        if folder is None or not folder.is_dir():
            raise BoxError(f"{self.path}: has no activator yet (add an expert with "
                           f"`spikebox export add`)")
        # Every byte loaded is covered by a hash: the activator's files too, and its folder
        # resolves inside the box.
        prefix = self.manifest.activator + "/"
        listed = [rel for rel in self.manifest.files if rel.startswith(prefix)]
        if not listed:
            raise BoxError(f"{self.path / MANIFEST}: lists no files of the activator "
                           f"{self.manifest.activator!r}; restore the box or export it again")
        self.verify(only=listed)
        folder = self.file(self.manifest.activator)
        network = ActivatorNetwork.load(folder)
        encoder = Encoder(self.manifest.encoder)
        if encoder.n_inputs != network.n_inputs or encoder.config.timesteps != network.timesteps:
            raise BoxError(f"{self.path / MANIFEST}: the encoder config gives {encoder.n_inputs} "
                           f"inputs x {encoder.config.timesteps} timesteps but the network in "
                           f"{folder} expects {network.n_inputs} x {network.timesteps}; "
                           f"re-export the box")
        woken = self.woken_by_camera
        if sorted(network.expert_names) != sorted(woken):
            raise BoxError(f"{self.path / MANIFEST}: the activator in {folder} has units for "
                           f"{sorted(network.expert_names)}, but the experts the manifest has "
                           f"woken by the camera are {sorted(woken)}; {FIX}")
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
