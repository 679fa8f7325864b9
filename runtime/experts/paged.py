"""The paged file on disk: a graph and the weights file beside it, named in one place.

An expert's paged form (session.py's write_paged writes it, load_session opens
it) is the graph `<name>.paged.onnx` and, when any tensor is large enough to
be stored outside it, its weights `<name>.paged.onnx.data`, which onnxruntime
mmaps. Everything that names, sizes, hashes or moves these files asks here.

    graph = commit_paged(scratch / "line.paged.onnx", box_dir)   # weights first, then the graph

A pair is moved into place weights first and the graph last, so a graph in
its folder means its weights beside it are complete: an interrupted move
leaves the previous pair (or nothing) behind the graph's name.
"""
from __future__ import annotations

import os
from pathlib import Path

PAGED_SUFFIX = ".paged.onnx"      # graph file; its weights sit beside it in <name>.paged.onnx.data
_WEIGHTS_SUFFIX = ".data"


def is_paged_file(path: str | os.PathLike) -> bool:
    """True for a file `write_paged` produced (already optimised) or an .ort file."""
    name = Path(path).name
    return name.endswith(PAGED_SUFFIX) or name.endswith(".ort")


def weights_file(graph_path: str | os.PathLike) -> Path:
    """The mmapped weights file beside a paged graph (it may not exist: no weight >= 16 KiB)."""
    graph_path = Path(graph_path)
    return graph_path.with_name(graph_path.name + _WEIGHTS_SUFFIX)


def external_locations(graph_path: str | os.PathLike) -> list[str]:
    """Every external-data location the graph names (initializers, attributes, subgraphs),
    read without loading any data."""
    import onnx
    model = onnx.load(str(graph_path), load_external_data=False)
    return sorted({entry.value for tensor in _tensors(model.graph)
                   if tensor.data_location == onnx.TensorProto.EXTERNAL
                   for entry in tensor.external_data if entry.key == "location"})


def _tensors(graph):
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _tensors(sub)


def foreign_external_data(graph_path: str | os.PathLike) -> list[str]:
    """External-data locations of a paged graph other than its own weights file beside
    it: onnxruntime would read them, from anywhere (an absolute path, '..'). Empty when
    the graph is what write_paged makes."""
    own = weights_file(graph_path).name
    return [loc for loc in external_locations(graph_path) if loc != own]


def paged_files(graph_path: str | os.PathLike) -> list[Path]:
    """The files a paged expert consists of (graph, and its weights file if any)."""
    graph_path, data = Path(graph_path), weights_file(graph_path)
    return [graph_path] + ([data] if data.exists() else [])


def commit_paged(graph_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Move the paged pair at `graph_path` into `out_dir`: the weights first, then the graph.

    Both are fsynced before their rename. A pair without a weights file removes
    one an older write left in `out_dir`. Returns the graph's new path.
    """
    graph_path, out_dir = Path(graph_path), Path(out_dir)
    final = out_dir / graph_path.name
    weights = weights_file(graph_path)
    if not weights.exists():
        weights_file(final).unlink(missing_ok=True)
    for part in (weights, graph_path):
        if part.exists():
            with open(part, "rb") as f:
                os.fsync(f.fileno())
            os.replace(part, out_dir / part.name)
    return final
