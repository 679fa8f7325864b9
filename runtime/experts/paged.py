"""The paged file on disk: a graph and the weights file beside it, named in one place.

An expert's paged form (session.py's write_paged writes it, load_session opens
it) is the graph `<name>.paged.onnx` and, when any tensor is large enough to
be stored outside it, its weights `<name>.paged.onnx.data`, which onnxruntime
mmaps. Everything that names, sizes, hashes or moves these files asks here.
"""
from __future__ import annotations

import os
from pathlib import Path

PAGED_SUFFIX = ".paged.onnx"      # graph file; its weights sit beside it in <name>.paged.onnx.data


def is_paged_file(path: str | os.PathLike) -> bool:
    """True for a file `write_paged` produced (already optimised) or an .ort file."""
    name = Path(path).name
    return name.endswith(PAGED_SUFFIX) or name.endswith(".ort")


def weights_file(graph_path: str | os.PathLike) -> Path:
    """The mmapped weights file beside a paged graph (it may not exist: no weight >= 16 KiB)."""
    graph_path = Path(graph_path)
    return graph_path.with_name(graph_path.name + ".data")


def paged_files(graph_path: str | os.PathLike) -> list[Path]:
    """The files a paged expert consists of (graph, and its weights file if any)."""
    graph_path = Path(graph_path)
    data = graph_path.with_name(graph_path.name + ".data")
    return [graph_path] + ([data] if data.exists() else [])
