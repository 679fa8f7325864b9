"""Which CPU a paged file was optimised for: the key a tuned file is valid under.

    key = cpu_key(this_cpu())     # e.g. "x86_64-1f3a9c2b7d40"

onnxruntime's highest optimisation level ("all") lays convolutions out for the
CPU it runs on (NCHWc blocks sized to its vector width) and marks such a graph
hardware-specific. A box's portable paged file is optimised at "extended"; on
the robot that runs 1.3-1.4x slower than a naive session of the source, which
applies "all" at every load (measured: BENCHMARKS.md, pager). `spikebox export
tune BOX`, run on the robot (or a machine of the same CPU), writes an "all"
file per expert, recorded in the manifest under this key; the loader uses it
only where the key matches: same machine type, same onnxruntime, same vector
instruction sets. Anything else loads the portable file, as before.
"""
from __future__ import annotations

import hashlib
import json
import platform
from functools import lru_cache

import onnxruntime as ort

# The instruction sets onnxruntime's CPU kernels (MLAS) choose their code by.
_ISA = {"sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512dq",
        "avx512vl", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8",
        "asimd", "asimddp", "asimdhp", "fphp", "sve", "sve2", "i8mm", "bf16"}


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return set(value.split())
    except OSError:
        pass
    return set()


@lru_cache(maxsize=1)
def this_cpu() -> dict[str, str]:
    """What a tuned file depends on, for this process: machine, onnxruntime, vector ISA."""
    return {"machine": platform.machine(), "onnxruntime": ort.__version__,
            "isa": " ".join(sorted(_cpu_flags() & _ISA))}


def cpu_key(cpu: dict[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(cpu, sort_keys=True).encode()).hexdigest()[:12]
    return f"{cpu.get('machine', 'cpu')}-{digest}"
