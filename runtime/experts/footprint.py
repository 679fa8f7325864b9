"""What an expert costs in RAM: measured in a fresh process (what a box records and the pager
budgets), or as this process's RSS growth (tests and benchmarks, without a box).

    from spikebox.runtime.experts.footprint import footprint_in_fresh_process
    footprint_in_fresh_process("box/experts/line.paged.onnx")
    # {'footprint_bytes': ..., 'rss_bytes': ..., 'pss_bytes': ..., 'anon_bytes': ..., 'load_ms': ..., ...}

The child imports onnxruntime and opens a one-node model first, so the
figures exclude onnxruntime's one-time set-up and count only what this
expert's session adds after load + one warm-up run. `anon_bytes` is private
memory the kernel cannot drop; `file_bytes` is resident file-backed memory,
which it can drop under pressure and fault back in from the file.
`footprint_bytes`, what a box records and the pager budgets, is the
anonymous memory the session adds plus the resident pages of the expert's own
weights file. Not the PSS delta: PSS of the shared libraries moves whenever
another process maps or unmaps them, and with tests running beside it a
0.6 MB expert measured -56 kB. `shell_bytes`
is what the session keeps once shelved (its weight pages dropped, freed heap
trimmed: runtime/experts/shell.py), or None if it cannot be shelved. A crash or a hang
in the child is an exception here, never a dead parent.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from spikebox.runtime.procmem import rss_bytes, trim_heap

from .loader import ExpertLoader
from .session import SessionConfig


class FootprintError(RuntimeError):
    """The measuring child crashed, hung or could not load the model."""


_CHILD = r"""
import json, sys, time
import numpy, onnx, onnxruntime as ort
from onnx import helper, TensorProto
from spikebox.runtime.experts.session import SessionConfig, load_session, warm_up, zero_inputs
from spikebox.runtime.experts.paged import weights_file
from spikebox.runtime.experts.shell import WeightPages, page_counts
from spikebox.runtime.procmem import PAGE_BYTES, smaps_rollup as rollup, trim_heap


args = json.loads(sys.argv[1])
config = SessionConfig(**{k: tuple(v) if k == "providers" else v for k, v in args["config"].items()})
# onnxruntime's environment, allocators and kernel registry are set up by the first session:
# pay for them before the baseline so the figures are this expert's alone.
tiny = helper.make_model(helper.make_graph(
    [helper.make_node("Identity", ["x"], ["y"])], "tiny",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]),
    opset_imports=[helper.make_opsetid("", 17)])
tiny.ir_version = 8
first = ort.InferenceSession(tiny.SerializeToString(), providers=["CPUExecutionProvider"])
first.run(None, {"x": numpy.zeros(1, "float32")})
feeds = None
if args["feeds"]:                       # read before the baseline: they are not the expert's
    with numpy.load(args["feeds"], allow_pickle=False) as z:
        feeds = {k: z[k] for k in z.files}
trim_heap()
before = rollup()
t0 = time.perf_counter()
session = load_session(args["path"], config)
t1 = time.perf_counter()
feeds = feeds if feeds is not None else zero_inputs(session)
warm_up(session, args["path"], feeds)
t2 = time.perf_counter()
runs = []
for _ in range(args["runs"]):
    t = time.perf_counter(); session.run(None, feeds); runs.append(time.perf_counter() - t)
after = rollup()
weights = WeightPages(weights_file(args["path"])).ranges if weights_file(args["path"]).exists() else []
own_file_bytes = page_counts(weights)[0] * PAGE_BYTES if weights else 0
runs.sort()
# The shell, measured against a baseline that already holds what this expert's first run
# left in the heap (glibc keeps it for the process; the next session reuses it).
shell = None
if weights_file(args["path"]).exists():
    del session
    trim_heap()
    base = rollup()
    session = load_session(args["path"], config)
    warm_up(session, args["path"], feeds)
    if WeightPages(weights_file(args["path"])).drop() is not None:
        trim_heap()
        # Anonymous, not PSS: a shell holds no file pages, and PSS moves whenever another
        # process maps or unmaps the same shared libraries.
        shell = max(rollup()["Anonymous"] - base["Anonymous"], 0)
print(json.dumps({
    "footprint_bytes": max(after.get("Anonymous", 0) - before.get("Anonymous", 0), 0) + own_file_bytes,
    "rss_bytes": after["Rss"] - before["Rss"],
    "pss_bytes": after["Pss"] - before["Pss"],
    "anon_bytes": after.get("Anonymous", 0) - before.get("Anonymous", 0),
    "file_bytes": (after.get("Pss_File", 0) - before.get("Pss_File", 0)),
    "private_dirty_bytes": after.get("Private_Dirty", 0) - before.get("Private_Dirty", 0),
    "load_ms": (t1 - t0) * 1e3,
    "first_run_ms": (t2 - t1) * 1e3,
    "run_ms": runs[len(runs) // 2] * 1e3,
    "shell_bytes": shell,
}))
"""


def footprint_in_fresh_process(path: str | os.PathLike, config: SessionConfig | None = None, *,
                               runs: int = 5, timeout_s: float = 120.0,
                               memory_limit_bytes: int | None = None,
                               feeds: dict[str, np.ndarray] | None = None) -> dict:
    """Load `path` in a fresh Python process; return the memory and time its session adds,
    run on `feeds` (input name -> array; default: zeros, each dynamic dim 1).

    Keys: footprint_bytes (anonymous memory + its own resident weight pages), rss_bytes,
    pss_bytes, anon_bytes, file_bytes (resident file-backed, proportional),
    private_dirty_bytes, load_ms, first_run_ms, run_ms (median of `runs`), shell_bytes
    (anonymous memory a shell of it keeps; None if it cannot be shelved).
    memory_limit_bytes caps the child's address space (an untrusted model cannot take
    the machine's memory; it fails the measurement instead).
    """
    path = Path(path).resolve()
    with tempfile.TemporaryDirectory(prefix="spikebox-footprint-") as tmp:
        feeds_file = None
        if feeds is not None:
            feeds_file = Path(tmp) / "feeds.npz"
            np.savez(feeds_file, **feeds)
        args = json.dumps({"path": str(path), "config": asdict(config or SessionConfig()),
                           "runs": max(1, runs), "feeds": str(feeds_file) if feeds_file else None})
        try:
            child = subprocess.run([sys.executable, "-c", _CHILD, args], capture_output=True,
                                   text=True, timeout=timeout_s,
                                   preexec_fn=None if memory_limit_bytes is None
                                   else lambda: resource.setrlimit(
                                       resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes)))
        except subprocess.TimeoutExpired:
            raise FootprintError(f"{path}: footprint measurement did not finish in "
                                 f"{timeout_s:g} s") from None
    if child.returncode != 0:
        how = (f"crashed (signal {-child.returncode})" if child.returncode < 0
               else f"failed (exit {child.returncode})")
        tail = (child.stderr.strip().splitlines() or ["no output"])[-1][:400]
        raise FootprintError(f"{path}: footprint measurement {how}: {tail}")
    try:
        return json.loads(child.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise FootprintError(f"{path}: footprint child printed no result: {child.stdout[-200:]!r}") from None


def rss_added_by_load(loader: ExpertLoader, name: str, repeats: int = 3) -> int:
    """RSS a loaded `name` adds: the largest RSS delta over `repeats` load/release cycles.

    The largest, not the median: the budget must hold the worst case. Meant for
    tests and benchmarks; a box records its footprints at export time.
    """
    worst = 0
    for _ in range(max(1, repeats)):
        trim_heap()
        before = rss_bytes()
        session = loader.load(name)
        worst = max(worst, rss_bytes() - before)
        del session
        trim_heap()
    return worst


def rss_kept_by_shell(loader: ExpertLoader, name: str) -> int:
    """RSS a shell of `name` keeps: loaded, run, shelved, freed heap trimmed (tests, benchmarks).

    Raises ValueError if the loader cannot shelve it. A box records this at export.
    """
    trim_heap()
    before = rss_bytes()
    session = loader.load(name)
    if loader.shelve(name, session) is None:
        raise ValueError(f"{name}: its loader cannot shelve it (no mmapped weights file?)")
    trim_heap()
    kept = rss_bytes() - before
    del session
    trim_heap()
    return max(kept, 0)
