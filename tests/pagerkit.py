"""Boxes of small convnets for the pager's tests: paged like a box's experts, quick to run."""
from __future__ import annotations

from pathlib import Path

import onnx

from spikebox.export.testmodels import small_convnet
from spikebox.runtime.experts.session import write_paged

INPUT_SHAPE = (1, 3, 32, 32)


def write_box(directory, sizes_bytes: dict[str, int], seed: int = 0, paged: bool = True
              ) -> dict[str, Path]:
    """One convnet of about `size` weight bytes per name in `directory`; name -> the file to
    load: the paged file a box carries (paged=True), or the plain .onnx."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for i, (name, size) in enumerate(sorted(sizes_bytes.items())):
        path = directory / f"{name}.onnx"
        onnx.save(small_convnet(size, image=INPUT_SHAPE[-1], seed=seed * 1000 + i), str(path))
        paths[name] = write_paged(path, directory / "paged") if paged else path
    return paths
