"""Checking a model before it enters a box: valid, runnable, optimised, measured.

Any valid ONNX model from any framework: onnx.checker's full check (with
shape inference), a test run of the source with onnxruntime, the paged file
written (optimize.py) and its outputs compared with the source's on the same
input, then footprint, load time and latency measured in a fresh process
(runtime/experts/footprint.py) on that input again. The input is generated, or
shaped or given by the user (model_inputs.py); its shapes are reported as
the ones every figure was measured at. Every failure names the file and what
to do, and leaves nothing behind.
"""
from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import NotImplemented as OrtNotImplemented

from spikebox.runtime.box import BoxError
from spikebox.runtime.experts.footprint import FootprintError, footprint_in_fresh_process
from spikebox.runtime.experts.session import ExpertLoadError, input_specs, load_session, output_specs

from .model_inputs import InputPlan, model_inputs, plan_inputs
from .optimize import optimize_for_target

# The optimised graph folds BatchNorm into convolutions and reorders float sums:
# outputs match the source to float32 rounding, not bit for bit.
RTOL, ATOL = 1e-3, 1e-4
# A model's test run may use this much address space (RLIMIT_AS, which onnxruntime's
# and Python's own reservations count against: about 0.35 GB before any model).
DEFAULT_MEMORY_LIMIT_BYTES = 4 << 30


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
    # what it was test-run and measured on, by input name (model_inputs.py)
    feeds: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def measured_shapes(self) -> dict[str, list[int]]:
        """The input shapes every figure was measured at."""
        return {name: list(a.shape) for name, a in self.feeds.items()}


def _spec_dicts(specs) -> list[dict]:
    return [{"name": s.name, "shape": [d if isinstance(d, int) else str(d) for d in s.shape],
             "dtype": s.dtype} for s in specs]


def random_inputs(session, shapes: dict[str, list[int]], seed: int = 0
                  ) -> dict[str, np.ndarray]:
    """Random values of `shapes` (input name -> shape) in each input's dtype."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for s in input_specs(session):
        if s.name not in shapes:
            continue
        shape, dtype = shapes[s.name], np.dtype(s.dtype)
        if dtype.kind == "f":
            feeds[s.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind in "iu":
            feeds[s.name] = rng.integers(0, 2, shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[s.name] = rng.random(shape) < 0.5
        else:
            raise BoxError(f"input '{s.name}' has dtype {s.dtype}, which spikebox cannot feed")
    return feeds


def check_model(model: Path, dest: Path, progress: Callable[[str], None] = lambda s: None, *,
                memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES,
                input_shapes: dict[str, tuple[int, ...]] | list[tuple[int, ...]] | None = None,
                sample_inputs: Path | None = None) -> ModelReport:
    """Validate `model`, copy it and its paged file into `dest` (created here), measure it.

    It is run on `sample_inputs` (an .npz keyed by input name), on random values of
    `input_shapes` (input name -> shape; a list, unnamed, is refused with the names to
    use), and on generated inputs for any input neither gives (model_inputs.py). Everything that runs the model (the test run, the graph
    optimisation, which folds constants, and the footprint measurement) runs in a child
    process whose address space is limited to `memory_limit_bytes`: a model that needs
    more is refused, with what it needed, instead of taking the machine's memory."""
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
    plan = plan_inputs(model, model_inputs(proto), input_shapes, sample_inputs)
    dest.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="spikebox-feeds-"))     # outside the box
    try:
        source = dest / "model.onnx"
        onnx.save(proto, str(source))          # self-contained: external data pulled inline
        progress(f"test-running it on {plan.describe()} and writing the paged file (in a "
                 f"child process) ...")
        trial = _trial_in_child(model, source, dest, plan, work / "feeds.npz", memory_limit_bytes)
        with np.load(work / "feeds.npz", allow_pickle=False) as z:
            feeds = {i.name: z[i.name] for i in plan.inputs}
        optimized = Path(trial["optimized"])
        progress("measuring footprint, load time and latency in a fresh process ...")
        fp = footprint_in_fresh_process(optimized, memory_limit_bytes=memory_limit_bytes,
                                        feeds=feeds)
        return ModelReport(source, optimized, trial["inputs"], trial["outputs"],
                           int(fp["footprint_bytes"]), float(fp["load_ms"]), float(fp["run_ms"]),
                           ort.__version__, trial["max_abs_diff"], fp.get("shell_bytes"), feeds)
    except (ExpertLoadError, FootprintError) as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise BoxError(str(e)) from None
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


class ModelTooBig(BoxError):
    """The model's test run needed more memory than it was allowed."""

    def __init__(self, message: str, peak_rss_bytes: int):
        super().__init__(message)
        self.peak_rss_bytes = peak_rss_bytes


def _trial_in_child(model: Path, source: Path, dest: Path, plan: InputPlan, feeds_out: Path,
                    limit: int) -> dict:
    """The test run, the paged file and the comparison, in a memory-limited child, on the
    feeds `plan` says (the child makes them, and saves them to `feeds_out`)."""
    args = json.dumps({"source": str(source), "dest": str(dest), "shapes": plan.generated(),
                       "samples": str(plan.sample_inputs) if plan.sample_inputs else None,
                       "feeds_out": str(feeds_out)})
    code = "from spikebox.export.model_check import _trial; _trial()"
    try:
        child = subprocess.run([sys.executable, "-c", code, args], capture_output=True, text=True,
                               timeout=600, preexec_fn=lambda: limit_address_space(limit))
    except subprocess.TimeoutExpired:
        raise BoxError(f"{model}: its test run did not finish in 600 s; a model for a robot "
                       f"must answer in milliseconds") from None
    result = _last_json(child.stdout)
    peak = int(result.get("peak_rss_bytes", 0)) if result else 0
    if result and result.get("error") == "memory" or (child.returncode != 0 and result is None
                                                       and _memory_words(child.stderr)):
        raise ModelTooBig(
            f"{model}: its test run needs more than {limit / 2**30:.1f} GB of memory, the "
            f"limit for one, and was stopped at {peak / 2**20:.0f} MB resident "
            f"({(result or {}).get('message', child.stderr.strip()[-200:])[:160]}): a tensor "
            f"of its graph is too big for a robot. Shrink the model (check its ConstantOfShape, "
            f"Expand, Tile and Resize sizes)", peak)
    if result is None or child.returncode != 0:
        how = f"crashed (signal {-child.returncode})" if child.returncode < 0 else "failed"
        raise BoxError(f"{model}: its test run {how}: "
                       f"{(child.stderr.strip().splitlines() or ['no output'])[-1][:300]}")
    if result.get("error") == "run" and not result.get("unsupported"):
        raise BoxError(plan.run_failure(model, result["message"]))
    if result.get("error") in ("run", "unsupported"):
        raise BoxError(f"{model}: onnxruntime {ort.__version__} cannot run it "
                       f"({result['message']}); check its opset and ops")
    if "error" in result:
        raise BoxError(f"{model}: {result['message']}")
    return result


def _memory_words(text: str) -> bool:
    return any(w in text for w in ("MemoryError", "bad_alloc", "bad allocation",
                                   "Failed to allocate", "std::bad_alloc"))


def _last_json(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    return None


def limit_address_space(limit_bytes: int) -> None:
    """In a child before exec: its whole address space at most `limit_bytes`."""
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


def _ort_words(e: BaseException) -> str:
    """onnxruntime's message, first line, without its error-code prefix and source paths."""
    line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    line = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", line)
    line = re.sub(r"\S*/onnxruntime_src/\S+:\d+ |Name:'[^']*' ", "", line)
    line = re.sub(r"(?:\w+ )?(?:\w+::)+~?\w+\([^)]*\) ", "", line)     # the C++ function
    return line[:400]


def _trial() -> None:
    """The child: make the feeds, run the source on them, write the paged file, run it,
    compare. Prints one JSON line: the report, or {"error": ..., "message": ...} where the
    error is "memory", "unsupported" (onnxruntime cannot build a session of it), "run" (the
    run on these feeds failed; "unsupported": true if for an op it does not implement),
    "input", "differs" or "load"."""
    args = json.loads(sys.argv[1])
    source, dest = Path(args["source"]), Path(args["dest"])

    def peak() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def say(obj) -> None:
        print(json.dumps(dict(obj, peak_rss_bytes=peak())), flush=True)

    def memory(e: BaseException) -> bool:
        return _memory_words(f"{type(e).__name__} {e}")

    try:
        try:
            reference = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
        except Exception as e:
            if memory(e):
                raise MemoryError(str(e)) from None
            return say({"error": "unsupported", "message": _ort_words(e)})
        try:
            feeds = random_inputs(reference, args["shapes"])
            if args["samples"]:
                with np.load(args["samples"], allow_pickle=False) as z:
                    feeds.update({k: z[k] for k in z.files})
        except BoxError as e:
            return say({"error": "input", "message": str(e)})
        try:
            expected = reference.run(None, feeds)
        except Exception as e:
            if memory(e):
                raise MemoryError(str(e)) from None
            return say({"error": "run", "message": _ort_words(e),
                        "unsupported": isinstance(e, OrtNotImplemented)})
        np.savez(args["feeds_out"], **feeds)
        optimized = optimize_for_target(source, dest, feeds=feeds)
        paged = load_session(optimized)
        got = paged.run(None, feeds)
        diff = 0.0
        for name, a, b in zip([o.name for o in output_specs(paged)], expected, got):
            a, b = np.asarray(a), np.asarray(b)
            if a.shape != b.shape or not np.allclose(a, b, rtol=RTOL, atol=ATOL):
                return say({"error": "differs", "message": f"output '{name}' of the optimised "
                            f"graph differs from the source beyond rtol {RTOL}, atol {ATOL}; "
                            f"report it with the model"})
            if a.size and a.dtype.kind in "fc":
                diff = max(diff, float(np.max(np.abs(a - b))))
        say({"optimized": str(optimized), "inputs": _spec_dicts(input_specs(paged)),
             "outputs": _spec_dicts(output_specs(paged)), "max_abs_diff": diff})
    except MemoryError as e:
        say({"error": "memory", "message": str(e)[:300] or "MemoryError"})
    except ExpertLoadError as e:
        if _memory_words(str(e)):
            return say({"error": "memory", "message": str(e)[:300]})
        say({"error": "load", "message": str(e)})
    except Exception as e:
        if memory(e):
            return say({"error": "memory", "message": str(e)[:300]})
        raise
