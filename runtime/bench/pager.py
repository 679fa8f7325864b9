"""`spikebox bench pager`: load paths, then the pager's policies and memory.

    spikebox bench pager --json       # builds MobileNet-like experts of 2-20 MB in a temp dir

    from spikebox.export.testmodels import write_bench_sources   # off-device model builders
    from spikebox.runtime.bench.pager import run_pager_bench
    run_pager_bench(write_bench_sources)

The model builder is passed in: the robot side never builds models (export does).
Load paths (naive InferenceSession vs page-in) are load_paths.py's.

Hit rates come from the simulator (the same Pager and policy code, token
sessions, prefetch completing within a frame) on footprints and shell sizes
measured from real sessions; memory figures and `real_run` (300 frames at
50 Hz, background prefetch, page-ins from shells) come from real onnxruntime
sessions in this process.
Wall-clock figures are measured here, never asserted in tests (STYLE.md).
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time

from pathlib import Path

import numpy as np

from ..experts.session import write_paged
from ..experts.footprint import rss_added_by_load, rss_kept_by_shell
from ..experts.session_loader import SessionLoader
from ..pager.offline.belady import belady_hit_rate
from ..pager.offline.simulate import demand_trace, serve_frame, simulate
from ..pager.offline.traces import scene_trace
from ..pager.offline.unavoidable import unavoidable_misses
from ..pager.config import PagerConfig
from ..pager.pager import Pager
from ..pager.policies import ActivatorAwarePolicy, LRUPolicy
from ..procmem import memory_status, rss_bytes, trim_heap
from .load_paths import bench_load
from .targets import Target, render, stamp

MB = 1e6


def rss_after_cycles(loader, footprints: dict[str, int], cycles: int = 500,
                     checkpoints=(10,), trim_after_evict: bool = True) -> dict[int, int]:
    """RSS (bytes) with nothing resident, after each checkpoint of `cycles` page-in/evict cycles.

    The budget holds only the largest expert, so every request pages one in and
    evicts the one before: a cycle is one page-in plus one eviction. At a
    checkpoint the last expert is evicted too before RSS is read, so every
    reading has the same (empty) resident set and the difference is what the
    cycles left behind.
    """
    names = sorted(footprints)
    marks = {}
    done = 0
    for mark in sorted(set(c for c in checkpoints if c < cycles) | {cycles}):
        config = PagerConfig(max(footprints.values()), policy="lru", prefetch="off",
                             trim_after_evict=trim_after_evict)
        pager = Pager(config, loader, footprints)
        try:
            while done < mark:
                done += 1
                with pager.use(names[done % len(names)]):
                    pass
        finally:
            pager.close()                               # evicts the last one
        marks[mark] = rss_bytes()
    return marks


def _real_run(loader, footprints, shells, budget_bytes, frames, frame_period_s: float) -> dict:
    """The real pager, background prefetch on, over `frames` at a fixed frame period."""
    pager = Pager(PagerConfig(budget_bytes, policy="activator", prefetch="background"), loader,
                  footprints, shell_footprints=shells)
    over_budget = 0
    try:
        next_t = time.monotonic()
        for fired, warmth in frames:
            serve_frame(pager, fired, warmth)
            over_budget += pager.held_bytes > budget_bytes
            next_t += frame_period_s
            time.sleep(max(0.0, next_t - time.monotonic()))
        return dict(pager.metrics(), over_budget_steps=over_budget)
    finally:
        pager.close()


def bench_policies(n_experts: int = 16, n_frames: int = 4000, budget_fraction: float = 0.25,
                   seed: int = 0, weight_mb: tuple = (2.0, 20.0), cycles: int = 500,
                   real_frames: int = 300, frame_period_s: float = 0.02, *,
                   write_sources) -> dict:
    """write_sources(sizes_mb: {name: MB}, folder) -> {name: source .onnx} builds the box's
    models (the CLI passes export's MobileNet-like convnets: the robot side never builds them)."""
    rng = np.random.default_rng(seed)
    names = [f"expert{i:02d}" for i in range(n_experts)]
    sizes = {n: round(float(rng.uniform(*weight_mb)), 1) for n in names}
    with tempfile.TemporaryDirectory(prefix="spikebox-pager-bench-") as tmp:
        paths = {n: write_paged(src, Path(tmp) / "paged")
                 for n, src in write_sources(sizes, Path(tmp)).items()}
        loader = SessionLoader(paths)
        loader.load(names[0])                           # first session: onnxruntime's one-off costs
        trim_heap()
        footprints = {n: max(rss_added_by_load(loader, n, repeats=2), 1) for n in names}
        shells = {n: rss_kept_by_shell(loader, n) for n in names}
        marks = rss_after_cycles(loader, footprints, cycles)     # before the other phases' history
        budget_bytes = int(budget_fraction * sum(footprints.values()))
        frames = scene_trace(names, n_frames, seed=seed)
        activator = simulate(frames, footprints, budget_bytes, ActivatorAwarePolicy(),
                             shell_bytes=shells)
        lru = simulate(frames, footprints, budget_bytes, LRUPolicy(), shell_bytes=shells)
        belady = belady_hit_rate(demand_trace(frames), footprints, budget_bytes)
        unavoidable = unavoidable_misses(frames, footprints, budget_bytes)

        load_ms = []
        for name in names:
            t0 = time.perf_counter()
            loader.load(name)
            load_ms.append((time.perf_counter() - t0) * 1e3)
        trim_heap()
        real = _real_run(loader, footprints, shells, budget_bytes, frames[:real_frames],
                         frame_period_s)
        status = memory_status()
    first, last = marks[10], marks[cycles]
    return {
        "budget_fraction": budget_fraction,
        "budget_mb": budget_bytes / MB,
        "box_mb": sum(footprints.values()) / MB,
        "n_experts": n_experts,
        "requests": activator["requests"],
        "hit_rate": activator["hit_rate"],
        "lru_hit_rate": lru["hit_rate"],
        "belady_hit_rate": belady,
        "prefetch_recall": activator["prefetch_recall"],
        "prefetch_precision": activator["prefetch_precision"],
        "prefetch_evicted_firing": activator["prefetch_evicted_firing"],
        "unavoidable_misses": unavoidable,      # no prefetcher avoids these (offline/unavoidable.py)
        "stalled_requests": activator["stalls"],
        "lru_stalled_requests": lru["stalls"],
        "pager_pagein_ms": statistics.median(load_ms),   # a new session of each paged file
        "shell_mb_total": sum(shells.values()) / MB,
        "real_run": {k: real[k] for k in ("requests", "hit_rate", "stalls", "prefetch_recall",
                                          "prefetch_precision", "prefetches_late", "evictions",
                                          "pageins", "pageins_from_shell", "pagein_ms_mean",
                                          "pagein_shell_ms_mean", "pagein_new_ms_mean",
                                          "shelved", "shells_dropped", "over_budget_steps")},
        "rss_mb_after_10_cycles": first / MB,
        f"rss_mb_after_{cycles}_cycles": last / MB,
        f"rss_growth_pct_{cycles}_cycles": 100.0 * (last - first) / first,
        "peak_rss_mb": status["peak_rss_bytes"] / MB,
    }


TARGETS = (  # issue #4; steady latency: issue #11
    Target("load_speedup", ">=", 6.0),
    Target("steady_latency_ratio_max", "<=", 1.05),
    Target("hit_rate", ">=", "0.95 x belady_hit_rate and > lru_hit_rate",
           judge=lambda r: r["hit_rate"] >= 0.95 * r["belady_hit_rate"]
           and r["hit_rate"] > r["lru_hit_rate"]),
    Target("rss_growth_pct_500_cycles", "<=", 5.0),
)

BOX_TARGETS = (Target("steady_latency_ratio_max", "<=", 1.05),)   # issue #11

LOAD_KEYS = ("naive_load_ms", "pagein_ms", "pagein_new_ms", "load_speedup", "load_speedup_new",
             "naive_load_first_run_ms", "pagein_first_run_ms", "pagein_new_first_run_ms",
             "pagein_from")


def run_pager_bench(write_sources, *, load_sizes_mb=(2, 5, 10, 20), load_repeats: int = 15,
                    progress: bool = True, build_box=None, tune_box=None, write_mix=None,
                    **policy_options) -> dict:
    """Load paths on mobile-size convnets, then the policies and memory on a scene-like trace,
    then (given `build_box` and `tune_box`) paged against naive steady latency on a box of
    such models, portable and tuned for this CPU (steady.py).

    write_sources(sizes_mb: list, folder, names=None) -> {name: source .onnx}: the model
    builder (export.testmodels.write_bench_sources); build_box(folder) -> box path and
    tune_box(box) (export's write_bench_box, box_tune.tune_box), write_mix(folder) -> {name:
    source .onnx} (export's write_mix_sources: published mobile models' op mix, timed in the
    load paths beside the convnets): the robot side never builds models. policy_options go
    to bench_policies."""
    def say(msg):
        if progress:
            print(msg, file=sys.stderr, flush=True)

    steady = None
    if build_box is not None and tune_box is not None:
        from .steady import bench_box_experts
        say("steady latency: a box of the bench's models, paged vs naive, portable then tuned ...")
        with tempfile.TemporaryDirectory(prefix="spikebox-bench-box-") as d:
            box = build_box(Path(d))
            portable = bench_box_experts(box, progress=say)
            tune_box(box)
            steady = bench_box_experts(box, progress=say)
        steady["steady_latency_ratio_portable_max"] = portable["steady_latency_ratio_max"]
        steady["portable_experts"] = portable["experts"]

    say("load paths: naive InferenceSession vs page-in of the paged file ...")
    with tempfile.TemporaryDirectory(prefix="spikebox-bench-") as d:
        sources = write_sources(list(load_sizes_mb), d)
        if write_mix is not None:
            sources.update(write_mix(Path(d)))
        load = bench_load(sources, repeats=load_repeats)
    say("pager: policies on a scene-like trace, 500 page-in/evict cycles ...")
    out = bench_policies(write_sources=lambda sizes, folder: write_sources(
        list(sizes.values()), folder, names=list(sizes)), **policy_options)
    out.update({k: load[k] for k in LOAD_KEYS}, load_per_model=load["per_model"])
    if steady is not None:
        out.update({k: steady[k] for k in STEADY_KEYS}, steady=steady["experts"],
                   steady_portable=steady["portable_experts"])
    else:                   # not measured: the keys say so rather than vanish
        out.update({k: None for k in STEADY_KEYS})
    return stamp(out, TARGETS)


STEADY_KEYS = ("steady_latency_ratio_max", "steady_latency_ratio_portable_max", "pagein_cold_ms",
               "verify_ms_per_mb")


def run_box_bench(box, progress: bool = True) -> dict:
    """`spikebox bench pager --box DIR`: a user's own experts, at the shapes the box records."""
    from .steady import bench_box_experts

    def say(msg):
        if progress:
            print(msg, file=sys.stderr, flush=True)
    return stamp(bench_box_experts(box, progress=say), BOX_TARGETS)


def format_table(r: dict) -> str:
    rows = [
        ("naive load, InferenceSession(source.onnx)", f"{r['naive_load_ms']:.2f} ms", None),
        (f"page-in (median, from a {'shell' if r['pagein_from'] == 'shell' else 'new session'})",
         f"{r['pagein_ms']:.2f} ms", None),
        ("load speedup", f"{r['load_speedup']:.2f}x", "load_speedup"),
        ("page-in as a new session of the paged file",
         f"{r['pagein_new_ms']:.2f} ms ({r['load_speedup_new']:.2f}x)", None),
        ("load + first run: naive / page-in / new session",
         f"{r['naive_load_first_run_ms']:.1f} / {r['pagein_first_run_ms']:.1f} / "
         f"{r['pagein_new_first_run_ms']:.1f} ms", None),
        ("budget (fraction of the box)", f"{r['budget_mb']:.0f} MB ({r['budget_fraction']:.2f})",
         None),
        ("hit rate, activator-aware", f"{r['hit_rate']:.4f}", "hit_rate"),
        ("hit rate, LRU", f"{r['lru_hit_rate']:.4f}", None),
        ("hit rate, Belady (demand paging ceiling)", f"{r['belady_hit_rate']:.4f}", None),
        ("prefetch recall / precision",
         f"{r['prefetch_recall']:.2f} / {r['prefetch_precision']:.2f}", None),
        ("misses no prefetcher avoids / stalled requests",
         f"{r['unavoidable_misses']} / {r['stalled_requests']}", None),
        ("stalled requests (LRU)", f"{r['stalled_requests']} ({r['lru_stalled_requests']})", None),
        ("shells of all experts (measured)", f"{r['shell_mb_total']:.1f} MB", None),
        ("RSS growth over 500 cycles", f"{r['rss_growth_pct_500_cycles']:.2f} %",
         "rss_growth_pct_500_cycles"),
        ("peak RSS", f"{r['peak_rss_mb']:.0f} MB", None),
    ]
    if r.get("steady_latency_ratio_max") is not None:
        rows += [("steady latency, paged / naive (worst; portable file)",
                  f"{r['steady_latency_ratio_max']:.2f} ({r['steady_latency_ratio_portable_max']:.2f})",
                  "steady_latency_ratio_max"),
                 ("verify (sha256, cold), per MB", f"{r['verify_ms_per_mb']:.2f} ms", None)]
        rows += [(f"  cold page-in {n}", f"{ms:.1f} ms", None) for n, ms in r["pagein_cold_ms"].items()]
    return render("spikebox bench pager", rows, TARGETS, r)


def format_box_table(r: dict) -> str:
    rows = [("steady latency, paged / naive (worst)", f"{r['steady_latency_ratio_max']:.2f}",
             "steady_latency_ratio_max"),
            ("verify (sha256, cold), per MB", f"{r['verify_ms_per_mb']:.2f} ms", None)]
    for n, e in r["experts"].items():
        rows.append((f"  {n} ({e['file']}): paged / naive, cold page-in",
                     f"{e['paged_ms']:.2f} / {e['naive_ms']:.2f} ms, {e['pagein_cold_ms']:.1f} ms", None))
    return render(f"spikebox bench pager --box {r['box']}", rows, BOX_TARGETS, r)
