"""Export's optional int8 step: static quantisation, measured against fp32, refused if too far off.

    from spikebox.export.quantize import quantize_int8
    r = quantize_int8(Path("box/experts/line-1a2b/model.onnx"), feeds, Path("box/experts/line-1a2b"),
                      tolerance=0.1, force=False)
    r.int8            # box/experts/line-1a2b/model.int8.paged.onnx (the paged format, weights in .data)
    r.rel_diff, r.faster, r.smaller

onnxruntime's static quantiser (QDQ, per-channel int8 weights, uint8
activations calibrated by MinMax) on the weight-carrying ops only (Conv,
MatMul, Gemm): that is where the bytes and the multiply-adds are, and a
quantised Softmax/Tanh head turned a small-probability output into zeros on
the test convnet (rel_diff 1.0 vs 0.03 with the head left in float). Weights use 7 of their
8 bits (reduce_range): x86 CPUs without VNNI (AVX2, this machine) saturate
u8*s8 products in int16 pairs, which cost the test MLP 8.6% of its output
range against 3.1% with 7-bit weights; a box is built on one CPU and run on
another, so the saturation-free choice is the portable one.
Three of every four feeds calibrate; the fourth is held out, and the int8
file's outputs on those are compared with the fp32 paged file's. Latency is
measured here (interleaved runs, medians) and footprint in a fresh process
(runtime/experts/footprint.py), both on the fp32 expert's measured feeds, so
every figure of the two files is at the same input shapes; int8 on CPU is
sometimes slower, so the report says what was measured, never what was hoped.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np
import onnx

from spikebox.runtime.box import BoxError, Int8Entry
from spikebox.runtime.experts.footprint import FootprintError, footprint_in_fresh_process
from spikebox.runtime.experts.preprocess import frame_to_tensor
from spikebox.runtime.experts.paged import commit_paged, paged_files
from spikebox.runtime.experts.session import ExpertLoadError, load_session, output_specs

from .model_inputs import fits
from .optimize import optimize_for_target

logger = logging.getLogger(__name__)

# Measured output difference on the held-out feeds, as a fraction of each
# output's range (max - min of the fp32 outputs over all feeds), worst output
# counts. uint8
# activations resolve 1/255 (0.4%) of a tensor's range per quantised layer and
# the errors add up through the layers: healthy int8 models land at 1-7% here
# (random weights, the worst case: no training shaped their ranges), while a
# quantisation gone wrong (a saturated or zeroed output) lands near 100%.
# 10% passes the first and refuses the second; experts whose outputs need
# more precision (fine steering) set --int8-tolerance lower.
DEFAULT_TOLERANCE = 0.10
QUANTISED_OPS = ["Conv", "MatMul", "Gemm"]
HELDOUT_EVERY = 4          # every 4th feed is held out: both sets span the whole clip
MIN_SAMPLES = 4            # 3 to calibrate, 1 to measure on
LATENCY_ROUNDS = 30        # interleaved fp32/int8 runs per measurement
MAX_IR_VERSION = 10        # onnxruntime 1.23 reads IR <= 11; onnx 1.23 would write 14


@dataclass(frozen=True, kw_only=True)
class QuantReport(Int8Entry):
    """What the box records of an int8 expert (Int8Entry), plus its file and figures for the entry."""

    source: Path
    int8: Path                       # the int8 paged graph file (weights in <int8>.data)
    int8_load_ms: float              # fresh process, as the pager will see it
    int8_run_ms: float

    def manifest_entry(self) -> Int8Entry:
        return Int8Entry(**{f.name: getattr(self, f.name) for f in fields(Int8Entry)})


class _Feeds:
    """onnxruntime's CalibrationDataReader protocol over a list of feeds."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]):
        self._feeds = feeds
        self._next = iter(feeds)

    def get_next(self):
        return next(self._next, None)

    def rewind(self):
        self._next = iter(self._feeds)


def _output_diff(expected: list[list[np.ndarray]], got: list[list[np.ndarray]],
                 names: list[str], spans: list[float]) -> tuple[float, float, str]:
    """(worst max |int8 - fp32|, worst fraction of an output's span, that output's name)."""
    per_output = []
    for k, (name, span) in enumerate(zip(names, spans)):
        a = np.stack([np.asarray(run[k], np.float64) for run in expected])
        b = np.stack([np.asarray(run[k], np.float64) for run in got])
        if a.shape != b.shape:
            raise BoxError(f"int8 output '{name}' has shape {b.shape[1:]}, fp32 {a.shape[1:]}")
        if not a.size:
            continue
        diff = float(np.max(np.abs(a - b)))
        per_output.append((diff / span, diff, name))
    if not per_output:
        return 0.0, 0.0, names[0] if names else "?"
    rel, _, worst = max(per_output)
    return max(d for _, d, _ in per_output), rel, worst


def _spans(runs: list[list[np.ndarray]], n_outputs: int) -> list[float]:
    """Each output's range (max - min over every element and run); a constant one, its size."""
    spans = []
    for k in range(n_outputs):
        values = [np.asarray(run[k], np.float64).ravel() for run in runs]
        a = np.concatenate(values) if values else np.zeros(0)
        span = float(a.max() - a.min()) if a.size else 0.0
        spans.append(span or (float(np.max(np.abs(a))) if a.size else 0.0) or 1.0)
    return spans


def _latencies(fp32, int8, feed: dict, rounds: int) -> tuple[float, float]:
    """Medians (ms) of fp32 and int8 runs on `feed` interleaved, alternating who goes first."""
    times: dict[int, list[float]] = {0: [], 1: []}
    sessions = (fp32, int8)
    for s in sessions:
        s.run(None, feed)                        # warm-up, not timed
    for i in range(rounds):
        for which in ((0, 1) if i % 2 == 0 else (1, 0)):
            t = time.perf_counter()
            sessions[which].run(None, feed)
            times[which].append((time.perf_counter() - t) * 1e3)
    return float(np.median(times[0])), float(np.median(times[1]))


def _quantise(src: Path, calibration: list[dict], scratch: Path) -> Path:
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    prepared = scratch / "prepared.onnx"
    try:
        # Shape inference and BatchNorm folding first, so the quantiser sees the weights
        # the optimised graph will run (and calibrates the folded convolutions).
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=False)
    except Exception as e:  # symbolic shape inference gives up on some graphs: quantise as is
        logger.warning("%s: quantisation pre-processing skipped (%s)", src, e)
        prepared = src
    quantised = scratch / "int8.onnx"
    try:
        quantize_static(str(prepared), str(quantised), _Feeds(calibration),
                        quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        op_types_to_quantize=QUANTISED_OPS)
    except Exception as e:
        raise BoxError(f"{src}: onnxruntime's int8 quantiser failed ({str(e).splitlines()[0][:300]}); "
                       f"add the model without --int8") from None
    model = onnx.load(str(quantised))
    if model.ir_version > MAX_IR_VERSION:
        model.ir_version = MAX_IR_VERSION
        onnx.save(model, str(quantised))
    return quantised


def quantize_int8(source_onnx: Path, calibration: list[dict[str, np.ndarray]], out_dir: Path, *,
                  tolerance: float, force: bool, fp32_paged: Path | None = None,
                  name: str | None = None, feeds: dict[str, np.ndarray] | None = None,
                  progress: Callable[[str], None] = lambda s: None) -> QuantReport:
    """Quantise `source_onnx` to int8, write it paged into `out_dir`, measure it against fp32.

    `calibration`: feeds (input name → array); every HELDOUT_EVERY-th is held
    out to measure the difference. `fp32_paged`: the fp32 paged file already
    written for the source (written here if None). Raises BoxError (a
    ValueError) naming the model, the measured difference and the tolerance
    when rel_diff > tolerance and not `force`; then `out_dir` holds nothing new.
    `feeds`: what latency and footprints are measured on, both files alike (export add
    passes the fp32 expert's measured feeds); default: the first held-out sample.
    """
    source_onnx, out_dir = Path(source_onnx), Path(out_dir)
    if not tolerance > 0:
        raise ValueError(f"int8 tolerance must be > 0, not {tolerance!r}")
    if len(calibration) < MIN_SAMPLES:
        raise BoxError(f"{source_onnx}: int8 needs at least {MIN_SAMPLES} calibration samples "
                       f"(some are held out to measure the difference), got {len(calibration)}")
    heldout = calibration[HELDOUT_EVERY - 1::HELDOUT_EVERY]
    feeds = feeds if feeds is not None else heldout[0]
    calibrate = [f for i, f in enumerate(calibration) if i % HELDOUT_EVERY != HELDOUT_EVERY - 1]
    stem = name or source_onnx.name.removesuffix(".onnx")
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{stem}.int8."))
    try:
        progress(f"quantising to int8 on {len(calibrate)} calibration samples ...")
        quantised = _quantise(source_onnx, calibrate, scratch)
        fp32_paged = Path(fp32_paged) if fp32_paged else optimize_for_target(
            source_onnx, scratch / "fp32", name=stem, feeds=feeds)
        int8_paged = optimize_for_target(quantised, scratch / "int8", name=f"{stem}.int8",
                                         feeds=feeds)
        fp32, int8 = load_session(fp32_paged), load_session(int8_paged)
        names = [o.name for o in output_specs(fp32)]
        try:
            expected = [fp32.run(None, f) for f in heldout]
            got = [int8.run(None, f) for f in heldout]
            # the range over every sample, not only the held-out few: a steadier yardstick
            spans = _spans(expected + [fp32.run(None, f) for f in calibrate], len(names))
        except Exception as e:  # a feed that does not fit the model: onnxruntime's own words
            raise BoxError(f"{source_onnx}: a calibration sample does not run "
                           f"({str(e).splitlines()[0][:300]}); check the calibration inputs") from None
        max_abs, rel, worst = _output_diff(expected, got, names, spans)
        progress(f"int8 vs fp32 on {len(heldout)} held-out samples: max |diff| {max_abs:.4g}, "
                 f"{rel:.2%} of output '{worst}''s range (tolerance {tolerance:.2%})")
        if rel > tolerance and not force:
            raise BoxError(f"{source_onnx}: int8 output '{worst}' differs from fp32 by "
                           f"{max_abs:.4g} ({rel:.2%} of its range) on {len(heldout)} held-out "
                           f"samples, above the tolerance {tolerance:.2%}; add it without --int8, "
                           f"raise --int8-tolerance, or accept it with --force-int8")
        fp32_ms, int8_ms = _latencies(fp32, int8, feeds, LATENCY_ROUNDS)
        del fp32, int8
        progress("measuring int8 and fp32 footprints in fresh processes ...")
        fp_fp32 = footprint_in_fresh_process(fp32_paged, feeds=feeds)
        fp_int8 = footprint_in_fresh_process(int8_paged, feeds=feeds)
        fp32_bytes = sum(p.stat().st_size for p in paged_files(fp32_paged))
        int8_bytes = sum(p.stat().st_size for p in paged_files(int8_paged))
        final = commit_paged(int8_paged, out_dir)
        report = QuantReport(
            source=source_onnx, int8=final, max_abs_diff=max_abs, rel_diff=rel,
            worst_output=worst, tolerance=float(tolerance), forced=bool(rel > tolerance),
            fp32_latency_ms=fp32_ms, int8_latency_ms=int8_ms, faster=int8_ms < fp32_ms,
            fp32_bytes=fp32_bytes, int8_bytes=int8_bytes, smaller=int8_bytes < fp32_bytes,
            fp32_footprint_bytes=int(fp_fp32["footprint_bytes"]),
            int8_footprint_bytes=int(fp_int8["footprint_bytes"]),
            int8_shell_bytes=fp_int8.get("shell_bytes"),
            smaller_resident=int(fp_int8["footprint_bytes"]) < int(fp_fp32["footprint_bytes"]),
            int8_load_ms=float(fp_int8["load_ms"]), int8_run_ms=float(fp_int8["run_ms"]),
            calibration_samples=len(calibrate), heldout_samples=len(heldout))
    except (ExpertLoadError, FootprintError) as e:
        raise BoxError(str(e)) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    logger.info("int8 %s: rel diff %.3g, %.2f -> %.2f ms, %d -> %d bytes", source_onnx, rel,
                fp32_ms, int8_ms, fp32_bytes, int8_bytes)
    return report


def _npz_feed(path: Path, inputs: list[dict]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:
        raise BoxError(f"{path}: not a readable .npz ({type(e).__name__}: {e})") from None
    names = [i["name"] for i in inputs]
    if set(arrays) != set(names):
        raise BoxError(f"{path}: holds {sorted(arrays)}, the model's inputs are {names}; "
                       f"save one array per input, keyed by input name")
    feed = {}
    for spec in inputs:
        a, shape = arrays[spec["name"]], spec["shape"]
        if not fits(a.shape, a.dtype, shape, spec["dtype"]):
            raise BoxError(f"{path}: '{spec['name']}' is {a.dtype} {list(a.shape)}, the model "
                           f"takes {spec['dtype']} {shape}")
        feed[spec["name"]] = a
    return feed


def calibration_feeds(inputs: list[dict], *, calibration: Path | None, preprocessing: dict | None,
                      example_frames: list[np.ndarray] | None, what: str
                      ) -> list[dict[str, np.ndarray]]:
    """Feeds to calibrate `inputs` (manifest input dicts) on.

    A `calibration` folder of .npz files (one per sample, keyed by input name)
    serves any expert; a folder of frames, or else the expert's example frames,
    serves an image expert (one with `preprocessing`) through frame_to_tensor.
    """
    from spikebox.runtime.box import read_frames
    names = [i["name"] for i in inputs]
    frames = example_frames
    if calibration is not None:
        calibration = Path(calibration)
        if not calibration.is_dir():
            raise BoxError(f"{calibration}: no such folder of calibration samples")
        npz = sorted(calibration.glob("*.npz"))
        if npz:
            return [_npz_feed(p, inputs) for p in npz]
        if preprocessing is None:
            raise BoxError(f"{calibration}: no .npz files; a tensor expert is calibrated with "
                           f"one .npz per sample holding {names}")
        frames = read_frames(calibration, f"{what}'s int8 calibration")
    elif preprocessing is None:
        raise BoxError(f"{what}: --int8 on a tensor expert (no image preprocessing) needs "
                       f"--calibration DIR of .npz files, one per sample, keyed by input name "
                       f"({', '.join(names)})")
    if not frames:
        raise BoxError(f"{what}: no frames to calibrate int8 on; give --calibration DIR")
    try:
        return [{i["name"]: frame_to_tensor(f, preprocessing, i) for i in inputs} for f in frames]
    except ValueError as e:
        raise BoxError(f"{what}: frames cannot be int8 calibration input ({e}); give "
                       f"--calibration DIR of .npz files keyed by input name") from None


def quantize_expert(report, staged: Path, *, preprocessing: dict | None,
                    calibration: Path | None, example_frames: list[np.ndarray],
                    tolerance: float, force: bool, what: str,
                    progress: Callable[[str], None] = lambda s: None) -> QuantReport:
    """add_expert's int8 step: feeds, quantisation, and the fp32 paged file replaced by int8.

    `report` is check_model's ModelReport for the staged expert in `staged`.
    """
    samples = calibration_feeds(report.inputs, calibration=calibration,
                                preprocessing=preprocessing, example_frames=example_frames,
                                what=what)
    q = quantize_int8(report.source, samples, staged, tolerance=tolerance, force=force,
                      fp32_paged=report.optimized, name=report.source.name.removesuffix(".onnx"),
                      feeds=report.feeds or None, progress=progress)
    for p in paged_files(report.optimized):       # the pager loads int8; fp32 is rebuilt from source
        p.unlink()
    return q
