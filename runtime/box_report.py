"""`spikebox inspect BOX`: what a box holds, read from its manifest; nothing is loaded or changed.

Robot side: it reads the box through runtime/box.py only, so a robot can
inspect a box without the export side installed.
"""
from __future__ import annotations

import sys

from .box import Box, BoxError


def inspect_box(path: str) -> int:
    try:
        box = Box.open(path)
    except BoxError as e:
        print(f"spikebox inspect: {e}", file=sys.stderr)
        return 1
    print(f"box '{box.name}' at {box.path} ({len(box.experts)} experts, "
          f"{len(box.manifest['files'])} files)")
    total = 0
    for name, e in box.experts.items():
        sizes = {}
        for k, rel in e["files"].items():   # a paged file's weights sit beside it in .data
            parts = [box.file(rel), box.file(rel + ".data")]
            sizes[k] = sum(p.stat().st_size for p in parts if p.exists())
        total += e["footprint_bytes"]
        ins = ", ".join(f"{i['name']} {i['shape']} {i['dtype']}" for i in e["inputs"])
        outs = ", ".join(f"{o['name']}" + (f" ({o['meaning']})" if o.get("meaning") else "")
                         for o in e["outputs"])
        print(f"\n  {name}  role={e['role']} priority={e['priority']} "
              f"units={e['activator_units']}")
        print("    files      " + ", ".join(f"{k} {v / 2**20:.2f} MB" for k, v in sizes.items()))
        shell = e.get("shell_bytes", "not measured")     # boxes exported before shells
        shell = ("not shelvable" if shell is None else shell if isinstance(shell, str)
                 else f"{shell / 2**20:.2f} MB")
        print(f"    resident   {e['footprint_bytes'] / 2**20:.2f} MB   shell {shell}   load "
              f"{e['load_ms']:.1f} ms   latency {e['latency_ms']:.2f} ms   "
              f"onnxruntime {e['onnxruntime_version']}")
        print(f"    inputs     {ins}")
        print(f"    outputs    {outs}")
        if e.get("preprocessing"):
            print(f"    preprocess {e['preprocessing']}")
        if e.get("int8"):
            q = e["int8"]
            print(f"    int8       diff {q['max_abs_diff']:.3g} ({q['rel_diff']:.1%} of range, "
                  f"tolerance {q['tolerance']:.1%}{', forced' if q.get('forced') else ''})   "
                  f"{q['fp32_latency_ms']:.2f} -> {q['int8_latency_ms']:.2f} ms "
                  f"({'faster' if q['faster'] else 'not faster'})   "
                  f"{q['fp32_bytes'] / 2**20:.2f} -> {q['int8_bytes'] / 2**20:.2f} MB "
                  f"({'smaller' if q['smaller'] else 'not smaller'})   "
                  f"{q['calibration_samples']} calibration samples")
    print(f"\n  all experts resident: {total / 2**20:.2f} MB; activator: "
          f"{box.manifest.get('activator') or 'none'}")
    return 0
