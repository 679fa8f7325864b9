"""Random-weight ONNX models built at run time, for tests and benchmarks (off-device).

Nothing is committed or downloaded: each builder draws seeded numpy weights and
returns an `onnx.ModelProto` (opset 17, IR version 8, which onnxruntime 1.23
reads; onnx 1.23 would otherwise write IR 14, which it refuses).

    from spikebox.export.testmodels import mobile_convnet, model_bytes
    model = mobile_convnet(size_mb=5)            # MobileNet-like, ~5 MB of weights
    onnx.save(model, "expert.onnx")

The shapes cover what issue #4 asks an expert to be: an image convnet, an MLP
on a flat tensor, dynamic batch and spatial size, several inputs and outputs
(a published mobile model's op mix is mobile_models.py's `mobile_mix`);
and, as published models often have, inputs whose dynamic dims or values carry
meaning (issue #10 §4: a fixed audio window and a state tensor, a width that
must be a multiple of 32, two inputs whose dims must match, an input whose
values are a shape).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8     # onnxruntime 1.23 reads IR <= 11; 8 is what opset 17 first shipped with


class _Graph:
    """Accumulates nodes and seeded random initialisers with unique names."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def weight(self, stem: str, shape, scale: float | None = None) -> str:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else int(shape[0])
        scale = np.sqrt(2.0 / max(fan_in, 1)) if scale is None else scale
        name = self.name(stem)
        data = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        self.inits.append(numpy_helper.from_array(data, name))
        return name

    def const(self, stem: str, data: np.ndarray) -> str:
        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(data, name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def conv_bn_relu(self, x: str, c_in: int, c_out: int, k: int, stride: int = 1,
                     group: int = 1, act: str | None = "Relu") -> str:
        """Conv, BatchNormalization, then `act` (an ONNX op type; None for none)."""
        w = self.weight("conv_w", (c_out, c_in // group, k, k))
        y = self.op("Conv", [x, w], kernel_shape=[k, k], strides=[stride, stride],
                    pads=[k // 2] * 4, group=group)
        # BatchNormalization left in the source graph, as exporters emit it:
        # the optimised file folds it into the conv, which is part of what paging saves.
        scale = self.const("bn_scale", (1 + 0.1 * self.rng.standard_normal(c_out)).astype(np.float32))
        bias = self.const("bn_bias", (0.1 * self.rng.standard_normal(c_out)).astype(np.float32))
        mean = self.const("bn_mean", (0.1 * self.rng.standard_normal(c_out)).astype(np.float32))
        var = self.const("bn_var", (1 + 0.1 * self.rng.random(c_out)).astype(np.float32))
        y = self.op("BatchNormalization", [y, scale, bias, mean, var], epsilon=1e-5)
        return self.op(act, [y]) if act else y

    def dense(self, x: str, n_in: int, n_out: int) -> str:
        w = self.weight("fc_w", (n_out, n_in))
        b = self.const("fc_b", np.zeros(n_out, np.float32))
        return self.op("Gemm", [x, w, b], transB=1)

    def model(self, inputs, outputs, name: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="spikebox.export.testmodels")
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model, full_check=True)
        return model


def _rename_output(g: _Graph, value: str, name: str) -> None:
    for node in g.nodes:
        node.input[:] = [name if i == value else i for i in node.input]
        node.output[:] = [name if o == value else o for o in node.output]


# MobileNetV1's body: (output channels at width 1.0, stride) per depthwise-separable block.
_MOBILENET_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                     (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


def _mobilenet_params(width: float, classes: int) -> int:
    c = max(8, int(32 * width))
    total = 3 * c * 9 + 4 * c
    for base, _ in _MOBILENET_BLOCKS:
        out = max(8, int(base * width))
        total += c * 9 + 4 * c + c * out + 4 * out
        c = out
    return total + c * classes + classes


def mobile_convnet(size_mb: float = 5.0, *, image: int = 160, classes: int = 1000,
                   seed: int = 0) -> onnx.ModelProto:
    """MobileNetV1-like classifier (conv/BN/ReLU, depthwise-separable blocks), ~`size_mb` MB.

    The width multiplier is chosen so the float32 weights come to `size_mb`
    (MobileNetV1 at width 1.0 is ~16.9 MB); input [1, 3, image, image], output [1, classes].
    """
    target = size_mb * 1e6 / 4
    lo, hi = 0.05, 4.0
    for _ in range(40):                       # params grow monotonically with width
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _mobilenet_params(mid, classes) < target else (lo, mid)
    width = (lo + hi) / 2
    g = _Graph(seed)
    c = max(8, int(32 * width))
    x = g.conv_bn_relu("image", 3, c, 3, stride=2)
    for base, stride in _MOBILENET_BLOCKS:
        out = max(8, int(base * width))
        x = g.conv_bn_relu(x, c, c, 3, stride=stride, group=c)     # depthwise
        x = g.conv_bn_relu(x, c, out, 1)                          # pointwise
        c = out
    x = g.op("GlobalAveragePool", [x])
    x = g.op("Flatten", [x], axis=1)
    x = g.dense(x, c, classes)
    _rename_output(g, g.op("Softmax", [x], axis=-1), "probs")
    return g.model([helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, image, image])],
                   [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, classes])],
                   f"mobile_convnet_{size_mb:g}mb")


def small_convnet(weight_bytes: int, *, image: int = 32, n_conv: int = 4, outputs: int = 8,
                  seed: int = 0) -> onnx.ModelProto:
    """A few wide 3x3 conv/BN/ReLU layers on a small image, pooling and a dense head, with
    about `weight_bytes` of float32 weights: cheap to run, so tests can page many of them.
    Input "image" [1, 3, image, image], output "logits" [1, outputs]."""
    width = max(8, int(np.sqrt(max(weight_bytes // 4, 1000) / (9 * n_conv))))
    g = _Graph(seed)
    x, c = "image", 3
    for i in range(n_conv):
        x = g.conv_bn_relu(x, c, width, 3, stride=2 if i < 2 else 1)
        c = width
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    _rename_output(g, g.dense(x, c, outputs), "logits")
    return g.model([helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, image, image])],
                   [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, outputs])],
                   f"small_convnet_{seed}")


def mlp(features: int = 64, hidden: tuple[int, ...] = (256, 256), outputs: int = 4, *,
        seed: int = 1) -> onnx.ModelProto:
    """An MLP on a flat telemetry/audio tensor: input ["batch", features] → ["batch", outputs]."""
    g = _Graph(seed)
    x, n = "features", features
    for h in hidden:
        x = g.op("Relu", [g.dense(x, n, h)])
        n = h
    _rename_output(g, g.op("Tanh", [g.dense(x, n, outputs)]), "command")
    return g.model([helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", features])],
                   [helper.make_tensor_value_info("command", TensorProto.FLOAT, ["batch", outputs])],
                   "mlp")


def memory_bomb(side: int = 50_000) -> onnx.ModelProto:
    """A hostile model: a few hundred bytes on disk whose graph makes a side x side float
    tensor (ConstantOfShape; 10 GB at 50,000), summed and added to its input. Any test run
    of it in the exporting process would take the machine's memory."""
    g = _Graph(0)
    shape = g.const("shape", np.array([side, side], np.int64))
    ones = g.op("ConstantOfShape", [shape],
                value=helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0]))
    total = g.op("ReduceSum", [ones], keepdims=0)
    _rename_output(g, g.op("Add", ["x", total]), "y")
    return g.model([helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], "memory_bomb")


def dynamic_convnet(channels: int = 32, classes: int = 10, *, seed: int = 2) -> onnx.ModelProto:
    """A fully convolutional net with dynamic batch and spatial size.

    Input ["batch", 3, "height", "width"]; outputs a per-pixel map
    ["batch", classes, "out_h", "out_w"] (stride 4) and a pooled ["batch", classes] score.
    """
    g = _Graph(seed)
    x = g.conv_bn_relu("image", 3, channels, 3, stride=2)
    x = g.conv_bn_relu(x, channels, channels, 3, stride=1, group=channels)
    x = g.conv_bn_relu(x, channels, 2 * channels, 1)
    x = g.conv_bn_relu(x, 2 * channels, 2 * channels, 3, stride=2, group=2 * channels)
    x = g.conv_bn_relu(x, 2 * channels, 2 * channels, 1)
    w = g.weight("head_w", (classes, 2 * channels, 1, 1))
    seg = g.op("Conv", [x, w], kernel_shape=[1, 1])
    pooled = g.op("Flatten", [g.op("GlobalAveragePool", [seg])], axis=1)
    _rename_output(g, seg, "segmentation")
    _rename_output(g, pooled, "scores")
    return g.model(
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("segmentation", TensorProto.FLOAT,
                                       ["batch", classes, "out_h", "out_w"]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", classes])],
        "dynamic_convnet")


def multi_io(image: int = 64, telemetry: int = 16, classes: int = 5, *,
             seed: int = 3) -> onnx.ModelProto:
    """Two inputs (an image and a telemetry vector), two outputs (steering, class probabilities)."""
    g = _Graph(seed)
    x = g.conv_bn_relu("image", 3, 16, 3, stride=2)
    x = g.conv_bn_relu(x, 16, 32, 3, stride=2)
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    t = g.op("Relu", [g.dense("telemetry", telemetry, 32)])
    z = g.op("Relu", [g.dense(g.op("Concat", [x, t], axis=1), 64, 64)])
    _rename_output(g, g.op("Tanh", [g.dense(z, 64, 1)]), "steering")
    _rename_output(g, g.op("Softmax", [g.dense(z, 64, classes)], axis=-1), "class_probs")
    return g.model(
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, image, image]),
         helper.make_tensor_value_info("telemetry", TensorProto.FLOAT, [1, telemetry])],
        [helper.make_tensor_value_info("steering", TensorProto.FLOAT, [1, 1]),
         helper.make_tensor_value_info("class_probs", TensorProto.FLOAT, [1, classes])],
        "multi_io")


# Models whose inputs' dynamic dims or values carry meaning, as published models often
# have: a test run on generated inputs (each dynamic dim set to a small number, random
# values) fails, and the model is fine.

def keyword_spotter(window: int = 16000, hidden: int = 64, classes: int = 4, *,
                    seed: int = 4) -> onnx.ModelProto:
    """A streaming audio model: "audio" [1, "samples"] must be a window of exactly `window`
    samples (it is projected by a [window, hidden] MatMul) and "state" [2, "batch",
    "hidden"] a recurrent state of `hidden` (the projection is added to it). Outputs
    "scores" [1, classes] and "next_state" [2, "batch", "hidden"]."""
    g = _Graph(seed)
    h = g.op("MatMul", ["audio", g.weight("window_w", (window, hidden))])      # [1, hidden]
    state = g.op("Tanh", [g.op("Add", ["state", h])])                          # [2, b, hidden]
    _rename_output(g, g.op("Softmax", [g.op("MatMul", [h, g.weight("cls_w", (hidden, classes))])],
                           axis=-1), "scores")
    _rename_output(g, state, "next_state")
    return g.model(
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, "samples"]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", "hidden"])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, classes]),
         helper.make_tensor_value_info("next_state", TensorProto.FLOAT, [2, "batch", "hidden"])],
        "keyword_spotter")


def stride32_segmenter(classes: int = 3, *, seed: int = 5) -> onnx.ModelProto:
    """A detector-style net: "image" [1, 3, "height", "width"] whose width must be a
    multiple of 32 (a Reshape folds each row into bands of 32 pixels); output "bands"
    [1, classes, "height", "width/32"]."""
    g = _Graph(seed)
    cols = g.op("Reshape", ["image", g.const("bands_of_32", np.array([0, 0, 0, -1, 32], np.int64))])
    bands = g.op("ReduceMean", [cols], axes=[4], keepdims=0)                  # [1, 3, h, w/32]
    w = g.weight("head_w", (classes, 3, 1, 1))
    _rename_output(g, g.op("Conv", [bands, w], kernel_shape=[1, 1]), "bands")
    return g.model(
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "height", "width"])],
        [helper.make_tensor_value_info("bands", TensorProto.FLOAT, [1, classes, "height",
                                                                     "width/32"])],
        "stride32_segmenter")


def matched_pair(features: int = 8, *, seed: int = 6) -> onnx.ModelProto:
    """Two inputs whose dynamic dims must match: "left" and "right", both ["n", features],
    are added; output "both" ["n", features]."""
    g = _Graph(seed)
    _rename_output(g, g.op("Relu", [g.op("Add", ["left", "right"])]), "both")
    return g.model(
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", features])
         for n in ("left", "right")],
        [helper.make_tensor_value_info("both", TensorProto.FLOAT, ["n", features])],
        "matched_pair")


def reshape_by_input(features: int = 6) -> onnx.ModelProto:
    """A model with no dynamic dim whose input *values* carry meaning: "x" [1, features] is
    reshaped to the shape given in "target_shape" (int64 [2]; zeros are zeros), output "y"
    ["rows", "cols"]. Random values are no shape of `features` elements: only real inputs run."""
    g = _Graph(0)
    _rename_output(g, g.op("Reshape", ["x", "target_shape"], allowzero=1), "y")
    return g.model(
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, features]),
         helper.make_tensor_value_info("target_shape", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", "cols"])],
        "reshape_by_input")


def model_bytes(model: onnx.ModelProto) -> int:
    """Bytes of the serialised model (what `onnx.save` writes without external data)."""
    return model.ByteSize()


def write_bench_sources(sizes_mb=(2, 5, 10, 20), out_dir=".", *, seed: int = 0,
                        names=None) -> dict:
    """Write one `mobile_convnet` per size to `out_dir`; return {"convnet_<n>mb": path}
    (or {names[i]: path}).

    The runtime's load benchmark (runtime/experts/bench.py) measures files, so
    the models it needs are built here, off the robot's import path.
    """
    from pathlib import Path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for i, size in enumerate(sizes_mb):
        name = names[i] if names is not None else f"convnet_{size:g}mb"
        path = out_dir / f"{name}.onnx"
        onnx.save(mobile_convnet(size, seed=seed + i), path)
        paths[name] = path
    return paths
