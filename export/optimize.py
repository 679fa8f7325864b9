"""Export's optimisation step: a source .onnx becomes the file the pager loads.

    from spikebox.export.optimize import optimize_for_target
    paged = optimize_for_target(Path("line.onnx"), Path("box/experts"))   # box/experts/line.paged.onnx

The format is the runtime's (spikebox.runtime.experts.session.write_paged:
onnxruntime-optimised ONNX, weights in an mmapped external file); this step
adds the checks export owes the box: the written file loads through the
pager's own factory and runs once, or nothing is left behind.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from spikebox.runtime.experts.paged import commit_paged
from spikebox.runtime.experts.session import ExpertLoadError, load_session, warm_up, write_paged

logger = logging.getLogger(__name__)


def optimize_for_target(src: Path, out_dir: Path, *, level: str = "extended",
                        name: str | None = None,
                        feeds: dict[str, np.ndarray] | None = None) -> Path:
    """Write the paged file for `src` into `out_dir` (atomically) and return its path.

    level: "extended" (default) is portable across CPUs, for a box built on a
    workstation; "all" adds onnxruntime's hardware-specific NCHWc layout
    (measured 5-25% faster runs on x86 convnets), for a file written on the
    robot itself. Raises ValueError (ExpertLoadError) naming `src` when
    onnxruntime cannot load or run the model; then `out_dir` holds nothing new.
    feeds: what the written file's check run takes (default: zeros, dynamic dims 1; a
    model whose dynamic dims carry meaning needs its own).
    """
    src, out_dir = Path(src), Path(out_dir)
    if not src.is_file():
        raise ExpertLoadError(f"{src}: no such model file")
    out_dir.mkdir(parents=True, exist_ok=True)
    # Written and checked in a scratch folder beside the box's files, then
    # renamed in: a model that fails the check never replaces a good one.
    scratch = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{src.name}."))
    try:
        staged = write_paged(src, scratch, level=level, name=name)
        warm_up(load_session(staged), path=src, feeds=feeds)
        final = commit_paged(staged, out_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    logger.info("optimised %s -> %s (level %s)", src, final, level)
    return final
