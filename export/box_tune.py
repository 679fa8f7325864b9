"""`spikebox export tune BOX`: each expert's paged file optimised for the CPU this runs on.

    spikebox export tune /opt/robot/skills.box      # on the robot, once, after copying the box

A box's paged files are optimised at onnxruntime's "extended" level, which any
CPU runs; the "all" level adds layouts for this CPU's vector units (NCHWc) that
onnxruntime marks hardware-specific, and without them a paged expert ran every
inference 1.3-1.4x slower than a naive session of its source (BENCHMARKS.md,
pager). Tuning writes, beside each expert's portable file, one optimised at
"all" here, weights still in a file beside it (mmapped, so shells keep
working), and records it in the manifest under this CPU's key
(runtime/experts/cpu_target.py) with its own footprint and its latency beside
the portable file's and a naive session's, measured in this process. It is
opened the cheapest way that runs as fast as the fastest (within 2 %, measured
side by side): as the pager opens paged files (weights mapped, no pre-packing,
no arena), else with onnxruntime's memory arena, else its weight pre-packing,
else both (an LSTM head needs the arena); the manifest records which, and the
shell then keeps those private buffers, measured in a fresh process and budgeted.
The robot's loader takes it
wherever the key matches and the portable file everywhere else. An expert whose
tuned file is slower (beyond 5 %, the timing noise of a small model), or whose
outputs differ beyond the tolerance, is left as it was, and the report says why. Like every change, it unsigns a signed box.
"""
from __future__ import annotations

import copy
import dataclasses
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import onnxruntime as ort

from spikebox.runtime.box import Box, BoxError
from spikebox.runtime.experts.cpu_target import cpu_key, this_cpu
from spikebox.runtime.experts.footprint import footprint_in_fresh_process
from spikebox.runtime.experts.paged import PAGED_SUFFIX, commit_paged, paged_files
from spikebox.runtime.experts.session import (SessionConfig, load_session, warm_up, write_paged,
                                              zero_inputs)
from spikebox.runtime.manifest import TunedFile

from .box_commit import _commit, _refuse_links, _rehash, _sweep
from .model_check import random_inputs

RUNS = 15                     # interleaved timed runs of each file, at least ...
MIN_TIMED_S = 1.5             # ... and this long in all: a 0.1 ms expert needs thousands
RTOL, ATOL = 1e-3, 1e-4       # a layout change reorders float sums: not bit-equal, this close
SLOWER = 1.05                 # kept unless slower than the portable file by more than this: on
                              # a 0.1 ms model, "faster" by a hair was noise and left one portable
PACE = 1.02                   # a variant within this of the fastest one is as fast
# How the tuned file is opened, cheapest first: (onnxruntime's weight pre-packing, its CPU
# memory arena with memory patterns). Both are what a naive session has; both leave private
# memory a shell keeps (measured, budgeted): the arena activation buffers, pre-packing a copy
# of the weights. Measured here, 6 s a variant, 3 rounds, a mobile_mix with an LSTM head:
# none 1.05-1.17x a naive session, pre-packing 0.98-1.05x, arena 0.94-0.98x, both 0.94-0.95x.
VARIANTS = ((False, False), (False, True), (True, False), (True, True))


def _config(variant: tuple[bool, bool]) -> SessionConfig:
    prepack, arena = variant
    return SessionConfig(disable_prepacking=not prepack, cpu_mem_arena=arena)


@dataclass
class TuneReport:
    name: str
    kept: bool
    why: str
    portable_ms: float | None = None
    tuned_ms: float | None = None


def _interleaved_ms(sessions, feeds, runs: int = RUNS) -> list[float]:
    """Median steady latency of each session, timed in alternation (same machine moment)."""
    times = [[] for _ in sessions]
    t_end = time.perf_counter() + MIN_TIMED_S
    while len(times[0]) < runs or time.perf_counter() < t_end:
        for i, s in enumerate(sessions):
            t0 = time.perf_counter()
            s.run(None, feeds)
            times[i].append((time.perf_counter() - t0) * 1e3)
    return [statistics.median(t) for t in times]


def tune_box(path, progress: Callable[[str], None] = lambda s: None) -> list[TuneReport]:
    box = Box.open(path)
    box.verify()
    _refuse_links(box.path, box.manifest)
    cpu = this_cpu()
    key = cpu_key(cpu)
    manifest = copy.deepcopy(box.manifest)
    reports = []
    for name, entry in manifest.experts.items():
        progress(f"tuning {name} for {key} ({cpu['machine']}, onnxruntime {cpu['onnxruntime']}) ...")
        portable = box.file(entry.files.optimized)
        base = portable.name.removesuffix(PAGED_SUFFIX)
        tuned_name = f"{base}.{key}"
        scratch = Path(tempfile.mkdtemp(dir=portable.parent, prefix=".tune-"))
        try:
            graph = write_paged(portable, scratch, level="all", name=tuned_name)
            shapes = entry.measured_shapes
            sessions = [ort.InferenceSession(str(box.file(entry.files.source)),
                                             providers=["CPUExecutionProvider"]),   # naive
                        load_session(portable)]
            sessions += [load_session(graph, _config(v)) for v in VARIANTS]
            feeds = random_inputs(sessions[1], {k: list(v.shape) for k, v in
                                                zero_inputs(sessions[1], shapes=shapes).items()})
            for s_, path in zip(sessions[1:], (portable, graph, graph)):
                warm_up(s_, path, zero_inputs(s_, shapes=shapes))
            want = sessions[1].run(None, feeds)
            close = all(all(np.allclose(x, y, rtol=RTOL, atol=ATOL)
                            for x, y in zip(want, s_.run(None, feeds))) for s_ in sessions[2:])
            naive_ms, portable_ms, *variant_ms = _interleaved_ms(sessions, feeds)
            del sessions
            # The cheapest variant (least private memory a shell must keep) as fast as the
            # fastest: judged against each other, measured side by side, not against a bound.
            pick = next(i for i, ms in enumerate(variant_ms) if ms <= PACE * min(variant_ms))
            (prepack, arena), tuned_ms = VARIANTS[pick], variant_ms[pick]
            if not close:
                reports.append(TuneReport(name, False, "outputs differ from the portable file's "
                                          f"beyond rtol {RTOL:g}", portable_ms, tuned_ms))
                continue
            if tuned_ms > SLOWER * portable_ms:
                reports.append(TuneReport(name, False, "slower here: the portable file stays",
                                          portable_ms, tuned_ms))
                continue
            config = _config((prepack, arena))
            fp = footprint_in_fresh_process(graph, config, feeds=zero_inputs(load_session(graph),
                                                                               shapes=shapes))
            final = commit_paged(graph, portable.parent)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        rel = final.relative_to(box.path).as_posix()
        tuned = TunedFile(cpu_key=key, cpu=dict(cpu), graph=rel,
                          footprint_bytes=max(1, int(fp["footprint_bytes"])),
                          shell_bytes=fp.get("shell_bytes"), latency_ms=tuned_ms,
                          portable_latency_ms=portable_ms, naive_latency_ms=naive_ms,
                          prepack=prepack, arena=arena)
        others = tuple(t for t in entry.files.tuned if t.cpu_key != key)
        manifest.experts[name] = dataclasses.replace(
            entry, files=dataclasses.replace(entry.files, tuned=others + (tuned,)))
        for f in paged_files(final):          # a re-tune replaces the files: hash them anew
            manifest.files.pop(f.relative_to(box.path).as_posix(), None)
        reports.append(TuneReport(name, True, f"{portable_ms / tuned_ms:.2f}x the portable "
                                  f"file's speed, {naive_ms / tuned_ms:.2f}x a naive session's"
                                  + (" (weights pre-packed: its shell keeps them)" if prepack else "")
                                  + (" (memory arena on)" if arena else ""),
                                  portable_ms, tuned_ms))
    if any(r.kept for r in reports):
        _rehash(box.path, manifest)
        _commit(box.path, manifest)
        _sweep(box.path, manifest)
    else:
        Box.open(box.path)      # nothing kept: leave the box as it was (the scratch is gone)
    return reports
