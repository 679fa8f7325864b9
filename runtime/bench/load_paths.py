"""Load paths for an expert, side by side in one process: why the pager loads what it loads.

    from spikebox.export.testmodels import write_bench_sources       # builds 2-20 MB convnets
    from spikebox.runtime.bench.load_paths import bench_load
    print(bench_load(write_bench_sources(sizes_mb=(2, 5, 10, 20), out_dir=tmp))["load_speedup"])

Every candidate is first tried in a child process (a crashing load path is a
failed measurement, not a dead benchmark; onnxruntime 1.23.2 segfaulted on
`use_ort_model_bytes_for_initializers` for real models, DESIGN.md), then all
surviving candidates are timed interleaved, `repeats` times each, medians.
`naive_load_ms` is `InferenceSession(source.onnx)` with default options;
`pagein_ms` is the pager's page-in of an expert it has loaded before: from its
shell (shell.py: the built session kept, its weight pages mapped back in with
MADV_POPULATE_READ), and `pagein_new_ms` a new `load_session` of the paged file
(an expert's first page-in, or after its shell was dropped). Load time is what
the pager waits for; `*_first_run_ms` adds the first run, where pages not yet
mapped are faulted in (and where the convnet's compute dominates).
Wall-clock figures are measured, never asserted in tests.

Candidates (figures from one run here, 2 cores, noisy; medians ms, 2/5/10/20 MB):
naive 6.8/10.7/17.2/34.4; ORT format by path 2.9/6.7/22.7/19.4 and from bytes
(use_ort_model_bytes_directly) 3.2/5.8/10.3/18.8 - both copy every weight out of
the file; paged (optimised ONNX, external mmapped weights, no optimisation
and no pre-packing at load) 1.7/1.8/1.9/2.0, flat in size; the 1.5 ms that
remains is onnxruntime building a session of ~30 fused nodes (a one-node model
loads in 0.25 ms); ~0.1 ms of it was one open/mmap/close per external tensor
(31 at the former 1 KiB threshold; session.py now keeps tensors < 16 KiB
inline). A page-in from a shell skips all of it: 0.1/0.3/0.4/0.7 ms, the
weight pages mapped back in included. Global thread pools
(set_global_thread_pool_sizes + use_per_session_threads=False) saved ~0.1 ms
more on 2 cores but make every other session in the process fail unless it
opts in too, so the factory does not use them.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Mapping

import onnxruntime as ort

from ..experts.paged import weights_file
from ..experts.session import SessionConfig, load_session, write_paged, zero_inputs
from ..experts.shell import WeightPages

_P = ["CPUExecutionProvider"]


def _options(level="disable", threads=0, prepack=False, arena=False, extra=None) -> ort.SessionOptions:
    o = ort.SessionOptions()
    o.graph_optimization_level = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                                  "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
    o.intra_op_num_threads, o.inter_op_num_threads = threads, 1
    o.enable_cpu_mem_arena = o.enable_mem_pattern = arena
    o.log_severity_level = 3
    if not prepack:
        o.add_session_config_entry("session.disable_prepacking", "1")
    for k, v in (extra or {}).items():
        o.add_session_config_entry(k, v)
    return o


def _prepare(src: Path, work: Path) -> dict[str, Path]:
    """The files each candidate loads: source, .ort, inline-optimised .onnx, paged."""
    files = {"source": src, "paged": write_paged(src, work, level="extended")}
    for key, fmt in (("ort", "ORT"), ("inline", "ONNX")):
        out = work / f"{src.stem}.{key}.{'ort' if fmt == 'ORT' else 'onnx'}"
        if not out.exists():
            o = ort.SessionOptions()
            o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
            o.log_severity_level = 3
            o.optimized_model_filepath = str(out)
            o.add_session_config_entry("session.save_model_format", fmt)
            ort.InferenceSession(str(src), o, providers=_P)
        files[key] = out
    return files


def _ort_bytes(f):
    return ort.InferenceSession(f["ort"].read_bytes(), _options(
        prepack=True, arena=True, extra={"session.load_model_format": "ORT",
                                         "session.use_ort_model_bytes_directly": "1"}), providers=_P)


# name → how to open the expert from its prepared files. "paged" is load_session's default.
CANDIDATES: dict[str, Callable[[dict], ort.InferenceSession]] = {
    "naive": lambda f: ort.InferenceSession(str(f["source"]), providers=_P),
    "ort_path": lambda f: ort.InferenceSession(str(f["ort"]), _options(prepack=True, arena=True), providers=_P),
    "ort_bytes_direct": _ort_bytes,
    "inline_optimized": lambda f: ort.InferenceSession(str(f["inline"]), _options(), providers=_P),
    "paged_prepack_arena": lambda f: load_session(f["paged"], SessionConfig(disable_prepacking=False,
                                                                             cpu_mem_arena=True)),
    "paged_1_thread": lambda f: load_session(f["paged"], SessionConfig(intra_op_threads=1)),
    "paged": lambda f: load_session(f["paged"]),
    # The pager's page-in of an expert it evicted to a shell (shell.py): the same session,
    # its weight pages mapped again. `_SHELVE` makes the shell before each timed page-in.
    "shell": lambda f: _unshelve(f),
}

_shells: dict[Path, tuple[ort.InferenceSession, WeightPages]] = {}


def _shelve(f: dict) -> None:
    """Untimed: evict the expert of `f` to a shell (its weight pages dropped)."""
    if f["paged"] not in _shells:
        session = load_session(f["paged"])
        session.run(None, zero_inputs(session))
        _shells[f["paged"]] = session, WeightPages(weights_file(f["paged"]))
    if _shells[f["paged"]][1].drop() is None:
        raise RuntimeError(f"{f['paged']}: its weights could not be dropped; no shell to page in")


def _unshelve(f: dict) -> ort.InferenceSession:
    if f["paged"] not in _shells:              # the probe's child: make the shell first
        _shelve(f)
    session, pages = _shells[f["paged"]]
    pages.populate()
    return session


_SHELVE = {"shell": _shelve}                    # untimed set-up before each timed load


def _probe(candidate: str, files: list[dict], global_pool: bool = False, repeats: int = 0) -> dict:
    """Open (and run once) every model with `candidate` in a child; crash → {"ok": False}."""
    code = ("import json,sys; from pathlib import Path; "
            "from spikebox.runtime.bench.load_paths import _child; _child(json.loads(sys.argv[1]))")
    arg = json.dumps({"candidate": candidate, "files": [{k: str(v) for k, v in f.items()} for f in files],
                      "global_pool": global_pool, "repeats": repeats})
    try:
        child = subprocess.run([sys.executable, "-c", code, arg], capture_output=True, text=True,
                               timeout=600)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "timed out"}
    if child.returncode != 0:
        tail = (child.stderr.strip().splitlines() or [""])[-1][:300]
        return {"ok": False, "error": f"exit {child.returncode}: {tail}"}
    return {"ok": True, **json.loads(child.stdout.strip().splitlines()[-1])}


def _child(arg: dict) -> None:
    files = [{k: Path(v) for k, v in f.items()} for f in arg["files"]]
    if arg["global_pool"]:
        # Once set, every session in this process must opt in (onnxruntime raises otherwise).
        ort.set_global_thread_pool_sizes(0, 1)
        def open_(f):
            o = _options()
            o.use_per_session_threads = False
            return ort.InferenceSession(str(f["paged"]), o, providers=_P)
    else:
        open_ = CANDIDATES[arg["candidate"]]
    load_ms = []
    for f in files:
        s = open_(f)
        s.run(None, zero_inputs(s))
        times = []
        for _ in range(arg["repeats"]):
            t0 = time.perf_counter()
            open_(f)
            times.append((time.perf_counter() - t0) * 1e3)
        load_ms.append(statistics.median(times) if times else None)
    print(json.dumps({"load_ms": load_ms}))


def bench_load(sources: Mapping[str, Path], *, repeats: int = 15, workdir: Path | None = None) -> dict:
    """Time every candidate load path on each source model, interleaved in this process.

    sources: name → source .onnx. Prepared files go to `workdir` (default: beside
    each source). Returns naive_load_ms, pagein_ms, load_speedup (medians over
    all loads of all models), per_model figures and every candidate's.
    """
    prepared = {name: _prepare(Path(src), Path(workdir or Path(src).parent)) for name, src in sources.items()}
    probes = {c: _probe(c, list(prepared.values())) for c in CANDIDATES}
    alive = [c for c in CANDIDATES if probes[c]["ok"]]
    if "naive" not in alive or "paged" not in alive:
        raise RuntimeError(f"baseline or chosen load path failed in a child: {probes}")
    load = {n: {c: [] for c in alive} for n in prepared}
    first = {n: {c: [] for c in alive} for n in prepared}
    for name, f in prepared.items():
        for c in alive:                       # page cache and onnxruntime's one-time set-up
            _SHELVE.get(c, lambda f: None)(f)
            CANDIDATES[c](f)
    for _ in range(repeats):
        for name, f in prepared.items():
            for c in alive:
                _SHELVE.get(c, lambda f: None)(f)
                t0 = time.perf_counter()
                session = CANDIDATES[c](f)
                t1 = time.perf_counter()
                session.run(None, zero_inputs(session))
                t2 = time.perf_counter()
                load[name][c].append((t1 - t0) * 1e3)
                first[name][c].append((t2 - t0) * 1e3)
                del session
    med = statistics.median
    per_model = {}
    for name in prepared:
        naive = med(load[name]["naive"])
        per_model[name] = {
            "source_bytes": Path(prepared[name]["source"]).stat().st_size,
            **{f"{c}_load_ms": round(med(load[name][c]), 3) for c in alive},
            **{f"{c}_load_first_run_ms": round(med(first[name][c]), 3) for c in alive},
            **{f"{c}_speedup": round(naive / med(load[name][c]), 2) for c in alive},
        }
    pool = _probe("paged_global_pool", list(prepared.values()), global_pool=True, repeats=repeats)
    for name, ms in zip(prepared, pool.get("load_ms", [])):
        per_model[name]["paged_global_pool_load_ms_own_process"] = ms and round(ms, 3)
    def overall(c, times=load):
        return med([t for n in prepared for t in times[n][c]])

    # A page-in is from a shell when the pager has kept one (every expert it has
    # loaded before, while shells fit the budget); else a new session of the paged file.
    pagein = "shell" if "shell" in alive else "paged"
    return {
        "naive_load_ms": round(overall("naive"), 3),
        "pagein_ms": round(overall(pagein), 3),
        "pagein_new_ms": round(overall("paged"), 3),
        "load_speedup": round(overall("naive") / overall(pagein), 2),
        "load_speedup_new": round(overall("naive") / overall("paged"), 2),
        "load_speedup_per_model_min": min(m[f"{pagein}_speedup"] for m in per_model.values()),
        "naive_load_first_run_ms": round(overall("naive", first), 3),
        "pagein_first_run_ms": round(overall(pagein, first), 3),
        "pagein_new_first_run_ms": round(overall("paged", first), 3),
        "pagein_from": pagein,
        "candidates": {c: ({"ok": True} if probes[c]["ok"] else probes[c]) for c in CANDIDATES},
        "global_pool_probe": {"ok": pool["ok"], **({} if pool["ok"] else {"error": pool["error"]})},
        "repeats": repeats,
        "onnxruntime": ort.__version__,
        "per_model": per_model,
    }
