"""The models and box `spikebox bench pager` measures, written at run time (off-device).

    from spikebox.export.bench_box import write_bench_box
    box = write_bench_box(tmp)        # convnets and mobile_mix models, added with export add

The robot side never builds models: spikebox/cli.py passes these builders to
runtime/bench/pager.py.
"""
from __future__ import annotations

import onnx

from .mobile_models import mobile_mix
from .testmodels import write_bench_sources


def write_mix_sources(out_dir, sizes_mb=(4.0, 2.0), *, seed: int = 0) -> dict:
    """One `mobile_mix` per size (a GRU head, then LSTM, alternating) in `out_dir`; returns
    {"mix_<rnn>_<n>mb": path}: the published-mobile op mix for the pager bench's figures."""
    from pathlib import Path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for i, size in enumerate(sizes_mb):
        rnn = "gru" if i % 2 == 0 else "lstm"
        name = f"mix_{rnn}_{size:g}mb"
        paths[name] = out_dir / f"{name}.onnx"
        onnx.save(mobile_mix(size, seed=seed + 100 + i, rnn=rnn), paths[name])
    return paths


def write_bench_box(folder, sizes_mb=(2, 5), mix_mb=(4.0, 2.0), *, seed: int = 0):
    """A box of `mobile_convnet`s of `sizes_mb` and `mobile_mix`es of `mix_mb` (a GRU head, and
    an LSTM head for each size after the first), added with `export add` as a user would,
    none woken by the camera: what `spikebox bench pager` compares paged against naive
    sessions on. Returns its path."""
    from pathlib import Path

    from .box_edit import AddOptions, add_expert, init_box

    folder = Path(folder)
    sources = write_bench_sources(sizes_mb, folder / "sources", seed=seed)
    mixes = write_mix_sources(folder / "sources", mix_mb, seed=seed)
    sources.update(mixes)
    shapes = {name: {"image": (1, 3, 160, 160)} for name in mixes}   # dynamic H, W: as deployed
    box = folder / "bench.box"
    init_box(box)
    for name, path in sources.items():
        add_expert(box, name.replace(".", "_"), path, AddOptions(input_shapes=shapes.get(name)))
    return box
