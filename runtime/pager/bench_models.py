"""Convnet-ish ONNX experts with random weights, built at run time, and a plain loader.

For the pager's tests and benchmark only (nothing is committed): a few 3x3 conv
layers on a small image, then pooling and a dense head, sized by weight bytes.
The loader is the session factory's load_session (CPU arena off, no
pre-packing) plus one warm-up run, so footprints include first-run allocations.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from spikebox.runtime.experts.shell import ShellSupport

INPUT_SHAPE = (1, 3, 32, 32)
N_CONV = 4


def make_convnet(weight_bytes: int, seed: int = 0, n_outputs: int = 8):
    """An onnx.ModelProto with about `weight_bytes` of float32 weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    params = max(weight_bytes // 4, 1000)
    width = max(8, int(math.sqrt(params / (9 * N_CONV))))
    nodes, inits = [], []
    prev, channels = "image", INPUT_SHAPE[1]
    for i in range(N_CONV):
        w = (rng.standard_normal((width, channels, 3, 3)) / math.sqrt(9 * channels)).astype(np.float32)
        b = np.zeros(width, np.float32)
        inits += [numpy_helper.from_array(w, f"conv{i}_w"), numpy_helper.from_array(b, f"conv{i}_b")]
        nodes.append(helper.make_node("Conv", [prev, f"conv{i}_w", f"conv{i}_b"], [f"c{i}"],
                                      kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                      strides=[2, 2] if i < 2 else [1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        prev, channels = f"r{i}", width
    head = (rng.standard_normal((channels, n_outputs)) / math.sqrt(channels)).astype(np.float32)
    inits.append(numpy_helper.from_array(head, "head_w"))
    nodes += [helper.make_node("GlobalAveragePool", [prev], ["pooled"]),
              helper.make_node("Flatten", ["pooled"], ["flat"]),
              helper.make_node("MatMul", ["flat", "head_w"], ["logits"])]
    graph = helper.make_graph(
        nodes, f"convnet_{seed}",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(INPUT_SHAPE))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, n_outputs])], inits)
    # onnx 1.23 writes IR 14 by default; onnxruntime 1.23 reads up to IR 11.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    onnx.checker.check_model(model)
    return model


def write_box(directory, sizes_bytes: dict[str, int], seed: int = 0, paged: bool = True
              ) -> dict[str, Path]:
    """Write one convnet per name into `directory`; returns name -> the file to load:
    the paged file a box carries (paged=True), or the plain .onnx."""
    import onnx

    from spikebox.runtime.experts.session import write_paged
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for i, (name, size) in enumerate(sorted(sizes_bytes.items())):
        path = directory / f"{name}.onnx"
        onnx.save(make_convnet(size, seed=seed * 1000 + i), str(path))
        paths[name] = write_paged(path, directory / "paged") if paged else path
    return paths


class SessionLoader(ShellSupport):
    """loader(name) -> a warmed-up session of paths[name], from the one session factory.

    Paged files can be shelved (runtime/experts/shell.py); a plain .onnx cannot.
    """

    def __init__(self, paths: dict[str, Path], config=None):
        self.paths = dict(paths)
        self.config = config
        self.loads = 0

    def __call__(self, name: str):
        from spikebox.runtime.experts.session import load_session, warm_up
        session = load_session(self.paths[name], self.config)
        warm_up(session, self.paths[name])
        self.loads += 1
        return session

    def graph_path(self, name: str) -> Path:
        return self.paths[name]
