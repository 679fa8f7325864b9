"""Checking a model before it enters a box: valid, runnable, optimised, measured.

Any valid ONNX model from any framework: onnx.checker's full check (with
shape inference), a test run of the source with onnxruntime, the paged file
written (optimize.py) and its outputs compared with the source's on the same
random input, then footprint, load time and latency measured in a fresh
process (runtime/experts/footprint.py). Every failure names the file and what
to do, and leaves nothing behind.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort

from spikebox.runtime.box import BoxError
from spikebox.runtime.experts.footprint import FootprintError, footprint_in_fresh_process
from spikebox.runtime.experts.session import ExpertLoadError, input_specs, load_session, output_specs

from .optimize import optimize_for_target

# The optimised graph folds BatchNorm into convolutions and reorders float sums:
# outputs match the source to float32 rounding, not bit for bit.
RTOL, ATOL = 1e-3, 1e-4


@dataclass(frozen=True)
class ModelReport:
    source: Path
    optimized: Path
    inputs: list[dict]
    outputs: list[dict]
    footprint_bytes: int
    load_ms: float
    latency_ms: float
    onnxruntime_version: str
    max_abs_diff: float
    # anonymous memory a shell of it keeps once evicted (None: it cannot be shelved)
    shell_bytes: int | None = None


def _spec_dicts(specs) -> list[dict]:
    return [{"name": s.name, "shape": [d if isinstance(d, int) else str(d) for d in s.shape],
             "dtype": s.dtype} for s in specs]


def random_inputs(session, seed: int = 0, dynamic: int = 2) -> dict[str, np.ndarray]:
    """Random input of every declared shape (dynamic dims → `dynamic`), by dtype."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for s in input_specs(session):
        shape = [d if isinstance(d, int) else dynamic for d in s.shape]
        dtype = np.dtype(s.dtype)
        if dtype.kind == "f":
            feeds[s.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind in "iu":
            feeds[s.name] = rng.integers(0, 2, shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[s.name] = rng.random(shape) < 0.5
        else:
            raise BoxError(f"input '{s.name}' has dtype {s.dtype}, which spikebox cannot feed")
    return feeds


def check_model(model: Path, dest: Path, progress: Callable[[str], None] = lambda s: None
                ) -> ModelReport:
    """Validate `model`, copy it and its paged file into `dest` (created here), measure it."""
    model = Path(model)
    if not model.is_file():
        raise BoxError(f"{model}: no such model file")
    try:
        proto = onnx.load(str(model))
    except Exception as e:  # protobuf raises DecodeError, onnx its own, OSError for I/O
        raise BoxError(f"{model}: not a readable ONNX model ({type(e).__name__}: {e}); export it "
                       f"again from its framework") from None
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as e:
        raise BoxError(f"{model}: fails onnx.checker's full check ({str(e).splitlines()[0]}); "
                       f"fix the export in its framework") from None
    dest.mkdir(parents=True)
    try:
        source = dest / "model.onnx"
        onnx.save(proto, str(source))          # self-contained: external data pulled inline
        try:
            reference = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
            feeds = random_inputs(reference)
            expected = reference.run(None, feeds)
        except BoxError:
            raise
        except Exception as e:
            raise BoxError(f"{model}: onnxruntime {ort.__version__} cannot run it "
                           f"({str(e).splitlines()[0][:300]}); check its opset and ops") from None
        progress("writing the paged file ...")
        optimized = optimize_for_target(source, dest)
        paged = load_session(optimized)
        got = paged.run(None, feeds)
        diff = 0.0
        for name, a, b in zip([o.name for o in output_specs(paged)], expected, got):
            a, b = np.asarray(a), np.asarray(b)
            if a.shape != b.shape or not np.allclose(a, b, rtol=RTOL, atol=ATOL):
                raise BoxError(f"{model}: output '{name}' of the optimised graph differs from the "
                               f"source beyond rtol {RTOL}, atol {ATOL}; report it with the model")
            if a.size and a.dtype.kind in "fc":
                diff = max(diff, float(np.max(np.abs(a - b))))
        progress("measuring footprint, load time and latency in a fresh process ...")
        fp = footprint_in_fresh_process(optimized)
        return ModelReport(source, optimized, _spec_dicts(input_specs(paged)),
                           _spec_dicts(output_specs(paged)), int(fp["footprint_bytes"]),
                           float(fp["load_ms"]), float(fp["run_ms"]), ort.__version__, diff,
                           fp.get("shell_bytes"))
    except (ExpertLoadError, FootprintError) as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise BoxError(str(e)) from None
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
