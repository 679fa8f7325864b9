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

The manifest's schema is the dataclasses below (Manifest, ExpertEntry, ...):
Box.open reads manifest.json through them once (runtime/schema.py), so a
missing key, a wrong type or a number out of range is one BoxError naming
the key (`experts.line.footprint_bytes`), never a KeyError later in the
pager or a command.

Trust (DESIGN.md): with trusted_keys, Box.open refuses a box unless
manifest.sig is a valid signature of manifest.json's exact bytes by one of
them, before those bytes are parsed; the manifest's hashes then carry that
trust to every file (verify, and the pager's loader before each first load).
Without trusted_keys, integrity is by the hashes alone, as before signing.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

import cv2
import numpy as np

from .activator import ActivatorNetwork
from .encoder import Encoder, EncoderConfig
from .box_signature import SignatureCheck, TrustedKey, load_trusted_keys, read_signature
from .files import parse_json, read_bytes
from .schema import FieldError, Invalid, at_least, join, read_as

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"      # beside the manifest, never listed in it (it signs the manifest)
_FIX = "restore the box from its source, or export it again"


class BoxError(ValueError):
    """A box that cannot be used as it is; the message names the file and the fix."""


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True, kw_only=True)
class TensorEntry:
    """One graph input, as export read it from the model."""

    name: str
    shape: tuple[int | str, ...]      # a dynamic dim is its symbolic name
    dtype: str                        # numpy dtype name, e.g. "float32"


@dataclass(frozen=True, kw_only=True)
class OutputEntry(TensorEntry):
    meaning: str = ""                 # for the arbiter and people, e.g. "steering in [-1, 1]"


@dataclass(frozen=True, kw_only=True)
class ExpertFiles:
    source: str                       # the model as given, relative to the box
    optimized: str                    # the paged graph the pager loads (its weights beside it)


@dataclass(frozen=True, kw_only=True)
class Int8Entry:
    """What `export add --int8` measured, int8 against fp32 (export/quantize.py)."""

    max_abs_diff: float               # worst |int8 - fp32| over every output and held-out feed
    rel_diff: float                   # worst max_abs_diff / output range, over the outputs
    worst_output: str
    tolerance: float
    forced: bool                      # accepted above the tolerance by --force-int8
    fp32_latency_ms: float            # medians of interleaved runs in one process
    int8_latency_ms: float
    faster: bool                      # int8_latency_ms < fp32_latency_ms
    fp32_bytes: int                   # paged files on disk (graph + weights)
    int8_bytes: int
    smaller: bool                     # int8_bytes < fp32_bytes
    fp32_footprint_bytes: int         # what the loaded session adds (fresh process, footprint.py)
    int8_footprint_bytes: int
    int8_shell_bytes: int | None      # what a shell of the int8 expert keeps (None: not shelvable)
    smaller_resident: bool            # int8_footprint_bytes < fp32_footprint_bytes
    calibration_samples: int
    heldout_samples: int

    def __post_init__(self):
        at_least(self, 0, "max_abs_diff", "rel_diff", "fp32_latency_ms", "int8_latency_ms",
                 "fp32_bytes", "int8_bytes", "fp32_footprint_bytes", "int8_footprint_bytes",
                 "int8_shell_bytes", "calibration_samples", "heldout_samples")
        if not self.tolerance > 0:
            raise Invalid("tolerance", self.tolerance, "a number > 0")


@dataclass(frozen=True, kw_only=True)
class ExpertEntry:
    """One expert of a box: its files, tensors, and the figures export measured."""

    name: str
    version: int
    role: str                         # what the arbiter treats it as, e.g. "skill"
    priority: int                     # higher wins in the arbiter
    files: ExpertFiles
    inputs: tuple[TensorEntry, ...]
    outputs: tuple[OutputEntry, ...]
    preprocessing: dict | None = None   # image inputs: experts/preprocess.py checks it at use
    footprint_bytes: int              # what its session adds (fresh process): the pager's budget
    shell_bytes: int | None = None    # what its shell keeps once evicted (None: no shell)
    load_ms: float
    latency_ms: float
    onnxruntime_version: str
    max_abs_diff_vs_source: float
    activator_units: int              # the activator's units that wake it (0: it has none)
    # What wakes it: WOKEN_BY_ACTIVATOR (its units fire on camera frames) or WOKEN_BY_NAME
    # (camera frames never do: it is pinned, pager.pinned in the run config, or asked for by
    # name). None: a box from before this was recorded, where activator_units > 0 meant the
    # activator (see `camera_woken`).
    woken_by: str | None = None
    # The input shapes footprint, load time and latency were measured at (input name -> dims;
    # export add's test input), and what the robot warms it up at: a model whose dynamic
    # dims carry meaning runs at no other. None: a box from before they were recorded.
    measured_shapes: dict[str, tuple[int, ...]] | None = None
    int8: Int8Entry | None = None     # None: fp32
    added_at: str
    # Held-out figures its trainer measured, e.g. {"steering_mae": 0.05} (tools/recipes/):
    # name -> value, names as METRIC_NAME_RULE; None: none given.
    metrics: dict[str, float] | None = None

    def __post_init__(self):
        # A footprint of 0 or less would make the pager refuse the whole box.
        at_least(self, 1, "version", "footprint_bytes")
        at_least(self, 0, "shell_bytes", "load_ms", "latency_ms", "max_abs_diff_vs_source",
                 "activator_units")
        for metric in self.metrics or {}:
            if not valid_metric_name(metric):
                raise Invalid(join("metrics", str(metric)), metric,
                              f"a metric name: {METRIC_NAME_RULE}")
        if self.measured_shapes is not None:
            self._check_measured_shapes()
        if self.woken_by not in (None, *WAKES):
            raise Invalid("woken_by", self.woken_by, " or ".join(map(repr, WAKES)))
        if self.woken_by == WOKEN_BY_ACTIVATOR and self.activator_units < 1:
            raise Invalid("activator_units", self.activator_units,
                          f"a number >= 1 (woken_by is {WOKEN_BY_ACTIVATOR!r})")
        if self.woken_by == WOKEN_BY_NAME and self.activator_units != 0:
            raise Invalid("activator_units", self.activator_units,
                          f"0 (woken_by is {WOKEN_BY_NAME!r}: it has no activator units)")

    def _check_measured_shapes(self) -> None:
        declared = {i.name: i.shape for i in self.inputs}
        if set(self.measured_shapes) != set(declared):
            raise Invalid("measured_shapes", sorted(self.measured_shapes),
                          f"a shape for each input, no more: {sorted(declared)}")
        for name, dims in self.measured_shapes.items():
            want = declared[name]
            if len(dims) != len(want) or any(d < 1 for d in dims) or any(
                    isinstance(w, int) and w > 0 and w != d for w, d in zip(want, dims)):
                raise Invalid(join("measured_shapes", name), list(dims),
                              f"{len(want)} dims >= 1 that fit the input's shape {list(want)}")

    @property
    def camera_woken(self) -> bool:
        """True if its activator units wake it from camera frames; False if only pinning or
        a request by name does."""
        if self.woken_by is None:                 # a box from before woken_by was recorded
            return self.activator_units > 0
        return self.woken_by == WOKEN_BY_ACTIVATOR


@dataclass(kw_only=True)
class Manifest:
    """manifest.json. Mutable so that export can stage a change; Box.open reads a fresh one."""

    schema_version: int
    name: str
    created_by: str
    experts: dict[str, ExpertEntry]
    activator: str | None             # the activator folder, None before the first expert
    examples: dict[str, str]          # expert name (or _background) -> folder of example frames
    files: dict[str, str]             # path in the box -> sha256 of every file the box holds
    encoder: EncoderConfig            # the encoder whose spikes the activator was trained on

    def __post_init__(self):
        for key, entry in self.experts.items():
            at = join("experts", key)
            if not valid_expert_name(key):
                raise Invalid(at, key, f"an expert name: {EXPERT_NAME_RULE}")
            if entry.name != key:
                raise Invalid(join(at, "name"), entry.name, f"{key!r}, the key it is under")
            for which, rel in (("source", entry.files.source), ("optimized", entry.files.optimized)):
                if rel not in self.files:      # every byte the robot loads is covered by a hash
                    raise Invalid(join(join(at, "files"), which), rel,
                                  "a file the manifest hashes (a key of 'files')")
        for rel, digest in self.files.items():
            _inside(join("files", rel), rel)
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise Invalid(join("files", rel), digest, "a sha256 (64 lowercase hex digits)")
        for name, rel in self.examples.items():
            _inside(join("examples", name), rel)
        if self.activator is not None:
            _inside("activator", self.activator)
        woken = [key for key, entry in self.experts.items() if entry.camera_woken]
        if woken and self.activator is None:
            raise Invalid("activator", None, f"an activator folder: expert {woken[0]!r} is "
                          f"woken by the activator's units")

    @classmethod
    def from_json(cls, data, where: Path) -> "Manifest":
        """Validate parsed manifest.json; BoxError naming `where`, the key, the value and the fix."""
        if not isinstance(data, dict):
            raise BoxError(f"{where}: holds a JSON {type(data).__name__}, not an object; {_FIX}")
        version = data.get("schema_version")
        if type(version) is not int or version != SCHEMA_VERSION:
            raise BoxError(f"{where}: schema_version {version!r} is not one this spikebox "
                           f"reads (it reads {SCHEMA_VERSION}); use the spikebox version that "
                           f"wrote the box, or export it again")
        try:
            return read_as(cls, data)
        except FieldError as e:     # Invalid, or a ConfigError of the encoder's
            raise BoxError(f"{where}: {e.describe()}; {_FIX}") from None

    def to_json(self) -> dict:
        """As json.loads would give it back (tuples as lists): what from_json reads."""
        return json.loads(json.dumps(asdict(self)))


# What wakes an expert (ExpertEntry.woken_by): one spelling, here.
WOKEN_BY_ACTIVATOR = "activator"     # its activator units, firing on camera frames
WOKEN_BY_NAME = "name"               # never the camera: pinned, or asked for by name
WAKES = (WOKEN_BY_ACTIVATOR, WOKEN_BY_NAME)


# An expert's name is part of file and folder names, logs and the CLI: one rule, here.
EXPERT_NAME_RULE = ("1 to 64 ASCII letters, digits, '-' or '_', starting with a letter or a "
                    "digit")
_EXPERT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


# A held-out metric's name, e.g. "steering_mae" or "accuracy": one rule, here.
METRIC_NAME_RULE = "1 to 64 lowercase ASCII letters, digits or '_', starting with a letter"
_METRIC_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def valid_metric_name(name) -> bool:
    return isinstance(name, str) and _METRIC_NAME.fullmatch(name) is not None


def valid_expert_name(name) -> bool:
    return isinstance(name, str) and _EXPERT_NAME.fullmatch(name) is not None


def _inside(key: str, rel: str) -> None:
    """A path the manifest names stays inside the box, as far as its text can tell
    (Box.file() also resolves symlinks when the file is used)."""
    path = PurePosixPath(rel)
    if not rel or path.is_absolute() or ".." in path.parts or "\\" in rel:
        raise Invalid(key, rel, "a path inside the box: relative, '/'-separated, no '..'")


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
        raw = read_bytes(path / MANIFEST, _FIX, BoxError)   # read once: verified, then parsed
        signature = read_signature(path / SIGNATURE, raw, path)
        refusal = signature.refusal(trusted) if trusted else None
        if refusal:
            raise BoxError(refusal)
        data = parse_json(raw, path / MANIFEST, _FIX, BoxError)
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
                           f"woken by the camera are {sorted(woken)}; {_FIX}")
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
