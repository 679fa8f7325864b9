"""Making and changing boxes: `spikebox export init | add | remove` (check: box_check.py,
sign: box_sign.py).

Every change is staged beside the current files under new names and then
committed by one atomic replace of manifest.json (box_commit.py; the box's
signature is removed just before it: a changed box is unsigned); files the old
manifest named are removed only after the commit. An export interrupted at any
point leaves the box as it was, or unsigned (plus unreferenced leftovers that
the next change sweeps away).
"""
from __future__ import annotations

import copy
import logging
import math
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from spikebox import __version__
from spikebox.runtime.activator import ActivatorNetwork
from spikebox.runtime.arbiter import DriveContract
from spikebox.runtime.box import (EXPERT_NAME_RULE, METRIC_NAME_RULE, SCHEMA_VERSION,
                                  WOKEN_BY_ACTIVATOR, WOKEN_BY_NAME, Box, BoxError,
                                  ExpertEntry, ExpertFiles, Manifest, OutputEntry, TensorEntry,
                                  read_frames, valid_expert_name, valid_metric_name)
from spikebox.runtime.box_report import shapes_text
from spikebox.runtime.config_fields import ConfigError
from spikebox.runtime.encoder import Encoder, EncoderConfig
from spikebox.runtime.experts.preprocess import frame_to_tensor
from spikebox.runtime.schema import Invalid

from .activator_training import UnitTrainingConfig, train_expert_units
from .box_commit import _commit, _refuse_links, _rehash, _sweep
from .drive_spec import check_drive_fits, outputs_of_onnx
from .model_check import DEFAULT_MEMORY_LIMIT_BYTES, ModelReport, check_model
from .quantize import DEFAULT_TOLERANCE, QuantReport, quantize_expert
from .torch_door import is_torch_spec, torch_to_onnx

logger = logging.getLogger(__name__)

BACKGROUND = "_background"       # examples of no expert's world (negatives only)
# A new box's encoder. "cues" static features, not the first design's plain B, G, R: units
# trained alike (300 frames of each skill's cue, held-out drives of the demo world) named what
# the view calls for on 74 % of frames instead of 52 %, at 0.47 uJ a frame instead of 2.5.
NEW_BOX_ENCODER = EncoderConfig(static_features="cues")
MAX_FOOTPRINT_MB = 1024          # above this no robot budget is sane


@dataclass
class AddOptions:
    examples: Path | None = None         # frames of the expert's world (*.png), each read as a still,
                                         # which train its activator units; None: no units, the
                                         # camera never wakes it (pinned, or woken by name)
    background: Path | None = None       # frames of no expert's world, kept in the box
    role: str = "skill"
    priority: int = 0                    # arbiter: higher wins when several experts drive
    outputs: dict[str, str] = field(default_factory=dict)       # output name → meaning
    preprocessing: dict | None = None    # image inputs: size, colour order, scale, mean/std
    max_footprint_mb: float = MAX_FOOTPRINT_MB
    weights: Path | None = None          # a PyTorch MODEL's state_dict (torch.save)
    # Input shapes: a list is a PyTorch factory's inputs, in order (they have no names yet);
    # a dict an ONNX model's, by input name: what it is test-run and measured at, for a
    # model whose dynamic dims carry meaning (model_inputs.py). None: generated.
    input_shapes: list[tuple[int, ...]] | dict[str, tuple[int, ...]] | None = None
    sample_inputs: Path | None = None    # an .npz, one array per input (by name): the test
                                         # run's and the measurements' input
    training: UnitTrainingConfig = field(default_factory=UnitTrainingConfig)
    int8: bool = False                   # quantise; the pager then loads the int8 file
    calibration: Path | None = None      # int8: frames (image experts) or .npz per sample
    int8_tolerance: float = DEFAULT_TOLERANCE   # int8 vs fp32, fraction of output range (quantize.py)
    force_int8: bool = False             # keep int8 even above the tolerance
    metrics: dict[str, float] = field(default_factory=dict)   # held-out figures, into the entry
    keep_examples: int | None = None     # store at most this many of the examples (and of the
                                         # background) in the box; all of them train the units
    drive: DriveContract | None = None   # how its outputs drive the robot (None: only logged)

    def __post_init__(self):
        # Errors name the field, never a flag: the CLI that fills these speaks flags (commands.py).
        if not self.int8_tolerance > 0:
            raise ConfigError("int8_tolerance", self.int8_tolerance, "must be > 0")
        if self.background is not None and self.examples is None:
            raise ConfigError("background", self.background, "trains activator units against "
                              "an expert's examples, and none are given; give examples too, or "
                              "leave it out (an expert without examples has no units)")
        for name in ("calibration", "force_int8"):
            if not self.int8 and getattr(self, name) not in (None, False):
                raise ConfigError(name, getattr(self, name), "is for int8, which is off")
        if self.keep_examples is not None and (type(self.keep_examples) is not int
                                               or self.keep_examples < 1):
            raise ConfigError("keep_examples", self.keep_examples, "must be an int >= 1")
        for metric, value in self.metrics.items():
            if not valid_metric_name(metric):
                raise ConfigError("metrics", metric, f"a metric name: {METRIC_NAME_RULE}")
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError("metrics", f"{metric}={value}", "needs a finite number")
        if self.int8 and self.preprocessing is None and self.calibration is None:
            raise ConfigError("calibration", None, "is needed for int8 on a tensor expert (no "
                              "image preprocessing): a folder of .npz files, one per sample, "
                              "keyed by input name")


def init_box(path: str | os.PathLike, name: str | None = None,
             encoder: EncoderConfig | None = None) -> Box:
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise BoxError(f"{path}: exists and is not empty; choose a new folder for the box")
    path.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(schema_version=SCHEMA_VERSION, name=name or path.name,
                        created_by=f"spikebox {__version__}", experts={}, activator=None,
                        examples={}, files={}, encoder=encoder or NEW_BOX_ENCODER)
    _commit(path, manifest)
    return Box.open(path)


def _copy_frames(frames: list[np.ndarray], dest: Path) -> None:
    dest.mkdir(parents=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(dest / f"{i:05d}.png"), f)


def _encode(encoder: Encoder, frames: list[np.ndarray]) -> np.ndarray:
    """Each example frame encoded on its own, as a still (the event channel silent): examples
    may come from many drives in any order, and the units learn what one frame shows. On the
    demo world's held-out drives, units trained on stills routed as well as units trained on
    frames in camera order (top-1 on the view's cue 87 % against 86 %)."""
    stills = []
    for f in frames:
        encoder.reset()
        stills.append(encoder.encode(f))
    return np.stack(stills)


def _kept(frames: list[np.ndarray], keep: int | None) -> list[np.ndarray]:
    """At most `keep` of `frames`, evenly spread over them, in their order."""
    if keep is None or len(frames) <= keep:
        return frames
    return [frames[i] for i in np.linspace(0, len(frames) - 1, keep).round().astype(int)]


def add_expert(path: str | os.PathLike, name: str, model: str | os.PathLike,
               options: AddOptions | None = None,
               progress: Callable[[str], None] = lambda s: None) -> ExpertEntry:
    """Validate, optimise and measure `model`, train its activator units (if it has
    examples; without, the camera never wakes it), commit."""
    options = options or AddOptions()
    box = Box.open(path)
    bp = box.path
    manifest = copy.deepcopy(box.manifest)
    if not valid_expert_name(name):
        raise BoxError(f"expert name {name!r}: use {EXPERT_NAME_RULE}")
    if name in manifest.experts:
        raise BoxError(f"{bp}: already has an expert '{name}'; remove it first "
                       f"(spikebox export remove {bp} {name}) or choose another name")
    if not is_torch_spec(str(model)):    # a PyTorch model's outputs are known once converted
        check_drive_fits(options.drive, outputs_of_onnx(Path(model)), model)
    _sweep(bp, manifest)
    uid = uuid.uuid4().hex[:8]

    staged_paths: list[Path] = []       # removed again if anything fails before the commit
    try:
        progress(f"checking {model} ...")
        staged = bp / "experts" / f"{name}-{uid}"
        staged.parent.mkdir(exist_ok=True)
        staged_paths.append(staged)
        source, by_name = Path(model), options.input_shapes
        if is_torch_spec(str(model)):        # PyTorch's door: to ONNX first, then as any ONNX
            if isinstance(options.input_shapes, dict):
                raise BoxError(f"{model}: a PyTorch model's inputs have no names before it is "
                               f"exported: give --input-shape dims once per input, in "
                               f"forward()'s order (e.g. --input-shape 1,3,96,96)")
            progress(f"converting {model} to ONNX with torch.onnx.export ...")
            converted = Path(tempfile.mkdtemp(prefix="spikebox-torch-"))
            staged_paths.append(converted)
            source = torch_to_onnx(str(model), converted / f"{name}.onnx",
                                   weights=options.weights, input_shapes=options.input_shapes)
            by_name = None                   # the shapes it was exported at are its own now
        elif options.weights is not None:
            raise BoxError(f"{model}: --weights is for a PyTorch MODEL (FILE.py:FACTORY or "
                           f"FILE.pt2); an ONNX file carries its weights")
        # The test run may use 1 GiB beyond three footprints of the largest allowed model.
        limit = max(DEFAULT_MEMORY_LIMIT_BYTES, (1 << 30) + 3 * int(options.max_footprint_mb * 2**20))
        report: ModelReport = check_model(source, staged, progress=progress,
                                          memory_limit_bytes=limit, input_shapes=by_name,
                                          sample_inputs=options.sample_inputs)
        if source != Path(model):
            shutil.rmtree(source.parent, ignore_errors=True)
        check_drive_fits(options.drive, [OutputEntry(**o) for o in report.outputs], model)
        unknown = set(options.outputs) - {o["name"] for o in report.outputs}
        if unknown:
            raise BoxError(f"{model}: has no output named {sorted(unknown)}; its outputs are "
                           f"{[o['name'] for o in report.outputs]}")
        if report.footprint_bytes > options.max_footprint_mb * 2**20:
            raise BoxError(f"{model}: its loaded footprint is {report.footprint_bytes / 2**20:.0f} MB, "
                           f"above {options.max_footprint_mb:.0f} MB: no robot budget fits it; use "
                           f"a smaller model (or raise --max-footprint-mb)")

        positives: list[np.ndarray] = []       # none: camera frames never wake it
        if options.examples is not None:
            progress("reading example frames ...")
            positives = read_frames(Path(options.examples), f"expert '{name}'")
            ex_dir = bp / "examples" / f"{name}-{uid}"
            staged_paths.append(ex_dir)
            _copy_frames(_kept(positives, options.keep_examples), ex_dir)
            manifest.examples[name] = f"examples/{ex_dir.name}"
        if options.preprocessing is not None:
            # The robot will feed camera frames through this: check it fits the model now
            # (without examples, on a blank frame of the smallest size the encoder reads).
            w, h = manifest.encoder.min_frame_size
            frame = positives[0] if positives else np.zeros((h, w, 3), np.uint8)
            try:
                frame_to_tensor(frame, options.preprocessing, report.inputs[0])
            except ValueError as e:
                raise BoxError(f"{model}: the image preprocessing does not fit its input: {e}"
                               ) from None
        int8: QuantReport | None = None
        if options.int8:
            int8 = quantize_expert(report, staged, preprocessing=options.preprocessing,
                                   calibration=options.calibration, example_frames=positives,
                                   tolerance=options.int8_tolerance, force=options.force_int8,
                                   what=f"expert '{name}'", progress=progress)
        n_units = 0              # an expert without examples: the activator is not touched
        if positives:
            n_units = _stage_units(box, manifest, name, positives, options, uid, staged_paths,
                                   progress)

        try:
            entry = _entry(name, staged, report, int8, n_units, options)
        except Invalid as e:        # a measurement the robot would refuse: not written
            raise BoxError(f"{model}: a figure export measured is out of range ({e}); add it "
                           f"again, or report it with the model") from None
        manifest.experts[name] = entry
        _rehash(bp, manifest)
    except BaseException:
        for p in staged_paths:
            shutil.rmtree(p, ignore_errors=True)
        raise
    _commit(bp, manifest)         # if its checks refuse it, the staged files are leftovers (swept)
    _sweep(bp, manifest)
    progress(f"added '{name}'{' (int8)' if int8 else ''}: "
             f"{entry.footprint_bytes / 2**20:.1f} MB resident, "
             f"load {entry.load_ms:.1f} ms, latency {entry.latency_ms:.2f} ms, measured at "
             f"{shapes_text(entry.measured_shapes)}; woken by "
             f"{'its activator units' if n_units else 'activator.always_awake, never the camera'}")
    return entry


def _stage_units(box: Box, manifest: Manifest, name: str, positives: list[np.ndarray],
                 options: AddOptions, uid: str, staged_paths: list[Path],
                 progress: Callable[[str], None]) -> int:
    """Train `name`'s activator units on its example frames against the other experts'
    examples and the background, stage the grown network (and a new background) in the box
    under `uid`, and point `manifest` at them; returns the number of units. Every path it
    creates is put in `staged_paths` first. Other experts' units are not touched."""
    bp = box.path
    given_background: list[np.ndarray] = []
    if options.background is not None:
        bg = given_background = read_frames(Path(options.background), "the background")
        old = manifest.examples.get(BACKGROUND)
        bg_dir = bp / "examples" / f"{BACKGROUND}-{uid}"
        staged_paths.append(bg_dir)
        _copy_frames(_kept(bg, options.keep_examples), bg_dir)
        manifest.files = {k: v for k, v in manifest.files.items()
                          if not (old and k.startswith(old + "/"))}
        manifest.examples[BACKGROUND] = f"examples/{bg_dir.name}"
    negative_sets = [v for k, v in manifest.examples.items() if k != name]
    if not negative_sets:
        raise BoxError(f"add {name}: the box has no other experts' example frames and no "
                       f"background frames to tell its world from; add --background DIR "
                       f"(frames of no skill's world)")
    encoder = Encoder(manifest.encoder)
    progress(f"training {options.training.units_per_expert} activator units for '{name}' ...")
    pos = _encode(encoder, positives)
    # Negatives: the other experts' kept examples, and all of the background given now.
    neg_runs = [_encode(encoder, given_background if k == BACKGROUND and given_background
                        else read_frames(bp / rel, rel))
                for k, rel in manifest.examples.items() if k != name]
    units = train_expert_units(name, pos, np.concatenate(neg_runs), heldout_negatives=neg_runs,
                               config=options.training)
    network = (ActivatorNetwork.load(box.activator_dir) if box.activator_dir
               else ActivatorNetwork(n_inputs=encoder.n_inputs,
                                     timesteps=encoder.config.timesteps, experts=[]))
    network = network.with_expert(units)
    act_dir = bp / f"activator-{uid}"
    staged_paths.append(act_dir)
    act_dir.mkdir()
    network.save(act_dir)
    manifest.activator = act_dir.name
    return units.n_units


def _entry(name: str, staged: Path, report: ModelReport, int8: QuantReport | None, n_units: int,
           options: AddOptions) -> ExpertEntry:
    """The manifest entry of an expert add_expert staged; int8's figures when int8 is on
    (the pager budgets and times the file it loads)."""
    paged = int8.int8 if int8 else report.optimized
    return ExpertEntry(
        name=name, version=1, role=options.role, priority=options.priority,
        files=ExpertFiles(source=f"experts/{staged.name}/{report.source.name}",
                          optimized=f"experts/{staged.name}/{paged.name}"),
        inputs=tuple(TensorEntry(name=i["name"], shape=tuple(i["shape"]), dtype=i["dtype"])
                     for i in report.inputs),
        outputs=tuple(OutputEntry(name=o["name"], shape=tuple(o["shape"]), dtype=o["dtype"],
                                  meaning=options.outputs.get(o["name"], ""))
                      for o in report.outputs),
        preprocessing=options.preprocessing,
        footprint_bytes=int8.int8_footprint_bytes if int8 else report.footprint_bytes,
        # what the pager's shell of it keeps once evicted (runtime/experts/shell.py)
        shell_bytes=int8.int8_shell_bytes if int8 else report.shell_bytes,
        load_ms=int8.int8_load_ms if int8 else report.load_ms,
        latency_ms=int8.int8_run_ms if int8 else report.latency_ms,
        onnxruntime_version=report.onnxruntime_version,
        max_abs_diff_vs_source=report.max_abs_diff, activator_units=n_units,
        woken_by=WOKEN_BY_ACTIVATOR if n_units else WOKEN_BY_NAME,
        measured_shapes={k: tuple(v) for k, v in report.measured_shapes.items()},
        int8=int8.manifest_entry() if int8 else None,
        added_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        metrics=dict(options.metrics) or None,
        drive=options.drive,
    )


def remove_expert(path: str | os.PathLike, name: str) -> None:
    box = Box.open(path)
    manifest = copy.deepcopy(box.manifest)
    if name not in manifest.experts:
        raise BoxError(f"{box.path}: has no expert '{name}' (it has: "
                       f"{', '.join(manifest.experts) or 'none'})")
    _refuse_links(box.path, box.manifest)
    del manifest.experts[name]
    manifest.examples.pop(name, None)
    if box.experts[name].camera_woken and box.activator_dir:   # else it has no units to remove
        network = ActivatorNetwork.load(box.activator_dir).without_expert(name)
        if network.experts:
            act_dir = box.path / f"activator-{uuid.uuid4().hex[:8]}"
            act_dir.mkdir()
            network.save(act_dir)
            manifest.activator = act_dir.name
        else:
            manifest.activator = None
    _rehash(box.path, manifest)
    _commit(box.path, manifest)
    _sweep(box.path, manifest)
