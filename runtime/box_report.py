"""`spikebox inspect BOX`: what a box holds, read from its manifest; nothing is loaded or changed.

Robot side: it reads the box through runtime/box.py only, so a robot can
inspect a box without the export side installed.
"""
from __future__ import annotations

import sys
from typing import Iterator, Mapping, Sequence

from .box import Box, BoxError
from .experts.cpu_target import cpu_key, this_cpu
from .experts.paged import paged_files
from .manifest import RUN_UNWOKEN


def inspect_box(path: str) -> int:
    """Print what the box at `path` holds; 1 (and one line on stderr) if it is not a usable box."""
    try:
        lines = list(describe(Box.open(path)))
    except BoxError as e:
        print(f"spikebox inspect: {e}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def describe(box: Box) -> Iterator[str]:
    """The lines `spikebox inspect` prints: who signed it, experts, files, sizes, figures."""
    yield f"box '{box.name}' at {box.path} ({len(box.experts)} experts, {len(box.manifest.files)} files)"
    yield f"  signature  {box.signature.summary()}"
    total = 0
    for name, e in box.experts.items():
        sizes = {}
        for k, rel in (("source", e.files.source), ("optimized", e.files.optimized)):
            sizes[k] = sum(p.stat().st_size for p in paged_files(box.file(rel)) if p.exists())
        total += e.footprint_bytes
        ins = ", ".join(f"{i.name} {list(i.shape)} {i.dtype}" for i in e.inputs)
        outs = ", ".join(o.name + (f" ({o.meaning})" if o.meaning else "") for o in e.outputs)
        yield f"\n  {name}  role={e.role} priority={e.priority} units={e.activator_units}"
        yield "    woken by   " + (f"activator, {e.activator_units} units" if e.camera_woken else
                                  f"not woken by the camera: {RUN_UNWOKEN}")
        yield "    files      " + ", ".join(f"{k} {v / 2**20:.2f} MB" for k, v in sizes.items())
        shell = "not shelvable" if e.shell_bytes is None else f"{e.shell_bytes / 2**20:.2f} MB"
        yield (f"    resident   {e.footprint_bytes / 2**20:.2f} MB   shell {shell}   load "
               f"{e.load_ms:.1f} ms   latency {e.latency_ms:.2f} ms   "
               f"onnxruntime {e.onnxruntime_version}")
        yield "    measured   footprint, load and latency at " + (
            shapes_text(e.measured_shapes) if e.measured_shapes
            else "input shapes not recorded (a box from before they were)")
        yield f"    inputs     {ins}"
        yield f"    outputs    {outs}"
        yield "    drive      " + (e.drive.summary() if e.drive else
                                  "none: the arbiter only logs its outputs")
        if e.metrics:
            yield "    held-out   " + "   ".join(f"{k} {v:.4g}" for k, v in e.metrics.items())
        if e.preprocessing:
            yield f"    preprocess {e.preprocessing}"
        here = cpu_key(this_cpu())
        for t in e.files.tuned:
            mark = "this CPU: loaded here" if t.cpu_key == here else "another CPU"
            naive = (f", naive {t.naive_latency_ms:.2f} ms" if t.naive_latency_ms is not None
                     else "")
            yield (f"    tuned      {t.cpu_key} ({t.cpu.get('machine')}, onnxruntime "
                   f"{t.cpu.get('onnxruntime')}; {mark})   latency {t.latency_ms:.2f} ms "
                   f"(portable {t.portable_latency_ms:.2f} ms{naive})   resident "
                   f"{t.footprint_bytes / 2**20:.2f} MB" + ("   weights pre-packed" if t.prepack else "")
                   + ("   memory arena" if t.arena else ""))
        if e.int8:
            q = e.int8
            yield (f"    int8       diff {q.max_abs_diff:.3g} ({q.rel_diff:.1%} of range, "
                   f"tolerance {q.tolerance:.1%}{', forced' if q.forced else ''})   "
                   f"{q.fp32_latency_ms:.2f} -> {q.int8_latency_ms:.2f} ms "
                   f"({'faster' if q.faster else 'not faster'})   "
                   f"{q.fp32_bytes / 2**20:.2f} -> {q.int8_bytes / 2**20:.2f} MB "
                   f"({'smaller' if q.smaller else 'not smaller'})   "
                   f"{q.calibration_samples} calibration samples")
    yield (f"\n  all experts resident: {total / 2**20:.2f} MB; activator: "
           f"{box.manifest.activator or 'none'}")


def shapes_text(shapes: Mapping[str, Sequence[int]]) -> str:
    """`audio [1, 16000], state [2, 1, 64]`: input shapes, as inspect and export print them."""
    return ", ".join(f"{name} {list(dims)}" for name, dims in shapes.items())
