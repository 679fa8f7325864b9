"""A box's experts as the pager loads them, against a naive session of each source: steady
latency, a cold page-in, and what verifying the loaded files costs.

    from spikebox.runtime.bench.steady import bench_box_experts
    bench_box_experts("models/demo.box")        # `spikebox bench pager --box DIR`

Per expert, in this process:
- steady: the paged file as BoxLoader opens it (the file tuned for this CPU where the box
  has one, `spikebox export tune`; else the portable one) and a naive
  `InferenceSession(source.onnx)` (onnxruntime's defaults: everything optimised at load),
  run on the same random inputs at the shapes export measured (`measured_shapes`), timed
  in blocks (paged, naive, naive, paged); the ratio is the median of the blocks' ratios.
- pagein_cold_ms: the expert's loaded files dropped from the OS page cache
  (posix_fadvise DONTNEED, as on a robot whose RAM cannot cache the box), then one
  page-in as the pager does it on a first load: verify (sha256), a new session, a warm-up run.
- verify_ms_per_mb: the sha256 check of that page-in, per MB of the files read, cold.
Wall-clock figures are measured here, never asserted in tests (STYLE.md).
"""
from __future__ import annotations

import math
import os
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..box import Box
from ..experts.box_loader import BoxLoader
from ..experts.session import zero_inputs

MIN_TIMED_S = 1.5           # per expert, both paths in turn: noise here is ±10 % at 0.4 s
RUNS = 20


def drop_from_page_cache(path: Path) -> None:
    """Ask the kernel to forget `path`'s cached pages (clean ones not mapped by anyone)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _feeds(session, shapes, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, zero in zero_inputs(session, shapes=shapes).items():
        if zero.dtype.kind == "f":
            out[name] = rng.standard_normal(zero.shape).astype(zero.dtype)
        else:                   # ids, flags, states: zeros are always in range
            out[name] = zero
    return out


def _paired_rounds(paged, naive, feeds) -> tuple[float, float, float]:
    """(paged median ms, naive median ms, median of the blocks' paged / naive ratios).

    A block is four runs: paged, naive, naive, paged. Whichever runs second in a pair finds
    the inputs and caches warm (seen: a steady 20 % either way), and the block's ratio, the
    geometric mean of its two pairs' ratios, cancels that; a slow spell of this shared machine
    lands on both sides of a block a few ms long. The ratio of two medians taken over 1.5 s
    moved by up to ±10 % run to run; the median of single pairs' ratios fell on whichever
    order's mode had the more samples."""
    t_paged, t_naive, ratios = [], [], []
    t_end = time.perf_counter() + MIN_TIMED_S

    def timed(session) -> float:
        t0 = time.perf_counter()
        session.run(None, feeds)
        return (time.perf_counter() - t0) * 1e3

    while len(ratios) < RUNS or time.perf_counter() < t_end:
        p1, n1, n2, p2 = timed(paged), timed(naive), timed(naive), timed(paged)
        t_paged += [p1, p2]
        t_naive += [n1, n2]
        ratios.append(math.sqrt((p1 / n1) * (p2 / n2)))
    return statistics.median(t_paged), statistics.median(t_naive), statistics.median(ratios)


def bench_box_experts(box_path, progress=lambda s: None) -> dict:
    box = Box.open(box_path)
    per_expert = {}
    cold_ms, verify_ms, verify_bytes = [], 0.0, 0
    for name, entry in box.experts.items():
        progress(f"{name}: steady latency, paged vs naive ...")
        loader = BoxLoader(box)
        paged = loader.load(name)
        naive = ort.InferenceSession(str(box.file(entry.files.source)),
                                     providers=["CPUExecutionProvider"])
        feeds = _feeds(naive, entry.measured_shapes)
        naive.run(None, feeds)
        paged_ms, naive_ms, ratio = _paired_rounds(paged, naive, feeds)
        del paged, naive

        progress(f"{name}: cold page-in ...")
        files = [box.file(rel) for rel in loader.expert_files(name)]
        cold = BoxLoader(box)                   # never verified: its first load hashes
        for f in files:
            drop_from_page_cache(f)
        t0 = time.perf_counter()
        cold.load(name)
        cold_ms.append((time.perf_counter() - t0) * 1e3)
        verify_ms += cold.verify_ms_total
        verify_bytes += cold.verify_bytes_total
        per_expert[name] = {
            "file": "tuned" if name in loader.tuned else "portable",
            "shapes": {k: list(v) for k, v in (entry.measured_shapes or {}).items()},
            "paged_ms": paged_ms, "naive_ms": naive_ms,
            "steady_latency_ratio": ratio,
            "pagein_cold_ms": cold_ms[-1],
            "loaded_mb": sum(f.stat().st_size for f in files) / 1e6,
        }
    ratios = [e["steady_latency_ratio"] for e in per_expert.values()]
    return {
        "box": str(box.path),
        "steady_latency_ratio_max": max(ratios) if ratios else None,
        "pagein_cold_ms": {n: e["pagein_cold_ms"] for n, e in per_expert.items()},
        "verify_ms_per_mb": verify_ms / (verify_bytes / 1e6) if verify_bytes else None,
        "experts": per_expert,
    }
