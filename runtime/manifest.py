"""The box manifest's schema: manifest.json as dataclasses, validated once where it is read.

    manifest = Manifest.from_json(json.loads(raw), path)   # BoxError naming the key, value and fix
    entry = manifest.experts["line_follow"]                # an ExpertEntry
    entry.footprint_bytes, entry.camera_woken, entry.measured_shapes

Box.open (runtime/box.py, the robot's one reader of boxes, which re-exports
these names) reads manifest.json through them once (runtime/schema.py's type
rules), so a missing key, a wrong type or a number out of range is one
BoxError naming the key (`experts.line.footprint_bytes`), never a KeyError
later in the pager or a command. Export writes the same dataclasses
(Manifest.to_json). The rules a name follows, and the spellings of what wakes
an expert, are defined here once.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from .arbiter.contract import DriveContract
from .encoder import EncoderConfig
from .schema import FieldError, Invalid, at_least, join, read_as

SCHEMA_VERSION = 1
FIX = "restore the box from its source, or export it again"


class BoxError(ValueError):
    """A box that cannot be used as it is; the message names the file and the fix."""


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
class TunedFile:
    """A paged graph optimised on and for one CPU (`spikebox export tune`, runtime/experts/
    cpu_target.py): the loader takes it where cpu_key is the robot's own."""

    cpu_key: str                      # cpu_target.cpu_key(cpu)
    cpu: dict[str, str]               # machine, onnxruntime version, vector instruction sets
    graph: str                        # relative to the box; its weights beside it
    footprint_bytes: int              # as ExpertEntry's, of this file (and prepack)
    shell_bytes: int | None = None
    latency_ms: float                 # median steady run at measured_shapes, on that CPU
    portable_latency_ms: float        # the portable file's, measured beside it
    naive_latency_ms: float | None = None   # a naive session of the source, beside them
    # How it is opened, where measured to matter (a GRU head ran 10 % faster pre-packed):
    # onnxruntime's weight pre-packing, its CPU memory arena (private memory a shell keeps;
    # footprint_bytes and shell_bytes were measured with them).
    prepack: bool = False
    arena: bool = False

    def __post_init__(self):
        at_least(self, 1, "footprint_bytes")
        at_least(self, 0, "shell_bytes", "latency_ms", "portable_latency_ms", "naive_latency_ms")


@dataclass(frozen=True, kw_only=True)
class ExpertFiles:
    source: str                       # the model as given, relative to the box
    optimized: str                    # the paged graph the pager loads (its weights beside it):
                                      # portable, optimised at onnxruntime's "extended" level
    tuned: tuple[TunedFile, ...] = ()   # the same, optimised for a CPU; used where it matches

    def for_cpu(self, key: str) -> TunedFile | None:
        return next((t for t in self.tuned if t.cpu_key == key), None)


@dataclass(frozen=True, kw_only=True)
class Int8Entry:
    """What `export add --int8` measured, int8 against fp32 (export/quantize.py)."""

    max_abs_diff: float               # worst |int8 - fp32| over every output and held-out feed
    rel_diff: float                   # worst max_abs_diff / output range, over the outputs
    worst_output: str
    tolerance: float
    forced: bool                      # accepted above the tolerance by --force-int8
    fp32_latency_ms: float            # medians of interleaved runs in one process, at the
                                      # entry's measured_shapes (older boxes: held-out samples)
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
    # How its outputs drive the robot (runtime/arbiter/contract.py), checked against its
    # outputs' shapes. None: the arbiter only logs its outputs (and boxes from before).
    drive: DriveContract | None = None

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
        if self.drive is not None:
            try:
                self.drive.check_outputs(self.outputs)
            except Invalid as e:
                raise e.under("drive") from None
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
            named = [("source", entry.files.source), ("optimized", entry.files.optimized)]
            named += [(join(join("tuned", str(i)), "graph"), t.graph)
                      for i, t in enumerate(entry.files.tuned)]
            for which, rel in named:
                if rel not in self.files:      # every byte the robot loads is covered by a hash
                    raise Invalid(join(join(at, "files"), which), rel,
                                  "a file the manifest hashes (a key of 'files')")
            keys = [t.cpu_key for t in entry.files.tuned]
            if len(set(keys)) != len(keys):
                raise Invalid(join(join(at, "files"), "tuned"), keys, "one file per cpu_key")
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
            raise BoxError(f"{where}: holds a JSON {type(data).__name__}, not an object; {FIX}")
        version = data.get("schema_version")
        if type(version) is not int or version != SCHEMA_VERSION:
            raise BoxError(f"{where}: schema_version {version!r} is not one this spikebox "
                           f"reads (it reads {SCHEMA_VERSION}); use the spikebox version that "
                           f"wrote the box, or export it again")
        try:
            return read_as(cls, data)
        except FieldError as e:     # Invalid, or a ConfigError of the encoder's
            raise BoxError(f"{where}: {e.describe()}; {FIX}") from None

    def to_json(self) -> dict:
        """As json.loads would give it back (tuples as lists): what from_json reads. A drive
        contract is written as its one behaviour without the options it leaves unset, and an
        entry without one has no "drive" key, so a box stays readable by a spikebox from
        before contracts, or before an option it does not use."""
        data = json.loads(json.dumps(asdict(self)))
        for entry in data["experts"].values():
            if entry.get("drive") is None:
                entry.pop("drive", None)
            else:
                entry["drive"] = {k: {o: x for o, x in v.items() if x is not None}
                                  for k, v in entry["drive"].items() if v is not None}
        return data


# What wakes an expert (ExpertEntry.woken_by): one spelling, here.
WOKEN_BY_ACTIVATOR = "activator"     # its activator units, firing on camera frames
WOKEN_BY_NAME = "name"               # never the camera: always awake, or asked for by name
# What to do with an expert the camera never wakes: one spelling, for inspect, check, add.
RUN_UNWOKEN = "list it in the run config's activator.always_awake to run it on every frame"
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
