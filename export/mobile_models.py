"""A published mobile model's op mix, built at run time (off-device): `mobile_mix`.

    from spikebox.export.mobile_models import mobile_mix
    onnx.save(mobile_mix(4.0, rnn="lstm"), "mix.onnx")   # ~4 MB, any H x W

Session creation and onnxruntime's layout passes depend on the ops a graph
holds: the plain convnets of testmodels.py load several times faster than a
real OCR or detector model. These graphs hold what such models hold, for the
pager bench (bench_box.py) and tests.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from .testmodels import _Graph, _rename_output


# MobileNetV3-Large's body: (expand, output channels at width 1.0, squeeze-excite, activation,
# stride) per inverted-residual block. Its 5x5 depthwise kernels are 3x3 here: the op mix is
# what session creation and onnxruntime's layout passes depend on, not the kernel size.
_MOBILENETV3_BLOCKS = [
    (16, 16, False, "Relu", 1), (64, 24, False, "Relu", 2), (72, 24, False, "Relu", 1),
    (72, 40, True, "Relu", 2), (120, 40, True, "Relu", 1), (120, 40, True, "Relu", 1),
    (240, 80, False, "HardSwish", 2), (200, 80, False, "HardSwish", 1),
    (184, 80, False, "HardSwish", 1), (184, 80, False, "HardSwish", 1),
    (480, 112, True, "HardSwish", 1), (672, 112, True, "HardSwish", 1),
    (672, 160, True, "HardSwish", 2), (960, 160, True, "HardSwish", 1),
    (960, 160, True, "HardSwish", 1)]


def _div8(channels: float) -> int:
    return max(8, int(round(channels / 8)) * 8)


class _WeightCounter(_Graph):
    """A _Graph that only adds up initialiser bytes: sizes a builder without drawing weights."""

    def __init__(self):
        super().__init__(0)
        self.bytes = 0

    def weight(self, stem: str, shape, scale: float | None = None) -> str:
        self.bytes += 4 * int(np.prod(shape))
        return self.name(stem)

    def const(self, stem: str, data: np.ndarray) -> str:
        self.bytes += data.nbytes
        return self.name(stem)


def _bias(g: _Graph, n: int) -> str:
    return g.const("b", (0.1 * g.rng.standard_normal(n)).astype(np.float32))


def _inverted_residual(g: _Graph, x: str, c_in: int, expand: int, c_out: int, se: bool,
                       act: str, stride: int) -> str:
    """1x1 expand, 3x3 depthwise, squeeze-excite, 1x1 project (no activation), residual Add."""
    y = g.conv_bn_relu(x, c_in, expand, 1, act=act) if expand != c_in else x
    y = g.conv_bn_relu(y, expand, expand, 3, stride=stride, group=expand, act=act)
    if se:
        squeeze = _div8(expand / 4)
        s = g.op("GlobalAveragePool", [y])
        s = g.op("Relu", [g.op("Conv", [s, g.weight("se_w", (squeeze, expand, 1, 1)),
                                        _bias(g, squeeze)], kernel_shape=[1, 1])])
        s = g.op("Conv", [s, g.weight("se_w", (expand, squeeze, 1, 1)), _bias(g, expand)],
                 kernel_shape=[1, 1])
        y = g.op("Mul", [y, g.op("HardSigmoid", [s], alpha=1 / 6, beta=0.5)])   # PyTorch's
    y = g.conv_bn_relu(y, expand, c_out, 1, act=None)
    return g.op("Add", [x, y]) if stride == 1 and c_in == c_out else y


def _mobile_mix_graph(g: _Graph, width: float, rnn: str, outputs: int) -> str:
    """Builds the mobile_mix graph into `g` from input "image"; returns the output value."""
    c = _div8(16 * width)
    x = g.conv_bn_relu("image", 3, c, 3, stride=2, act="HardSwish")
    for expand, out, se, act, stride in _MOBILENETV3_BLOCKS:
        x = _inverted_residual(g, x, c, _div8(expand * width), _div8(out * width), se, act, stride)
        c = _div8(out * width)
    x = g.conv_bn_relu(x, c, _div8(960 * width), 1, act="HardSwish")
    c = _div8(960 * width)
    # The feature map read as a sequence of its h*w cells: [seq, batch, channels].
    x = g.op("Reshape", [x, g.const("flat_hw", np.array([0, 0, -1], np.int64))])
    x = g.op("Transpose", [x], perm=[2, 0, 1])
    hidden, gates = _div8(128 * width), {"gru": 3, "lstm": 4}[rnn]
    w = g.weight("rnn_w", (2, gates * hidden, c), scale=1 / np.sqrt(c))
    r = g.weight("rnn_r", (2, gates * hidden, hidden), scale=1 / np.sqrt(hidden))
    b = g.const("rnn_b", np.zeros((2, 2 * gates * hidden), np.float32))
    extra = {"linear_before_reset": 1} if rnn == "gru" else {}      # as PyTorch exports a GRU
    y = g.op(rnn.upper(), [x, w, r, b], hidden_size=hidden, direction="bidirectional", **extra)
    # Y [seq, 2, batch, hidden] -> [batch, seq, 2 * hidden]
    y = g.op("Transpose", [y], perm=[2, 0, 1, 3])
    x = g.op("Reshape", [y, g.const("join_dirs", np.array([0, 0, -1], np.int64))])
    d = 2 * hidden

    def project(v: str, stem: str) -> str:
        return g.op("Add", [g.op("MatMul", [v, g.weight(stem, (d, d))]), _bias(g, d)])

    q, k, v = project(x, "q_w"), project(x, "k_w"), project(x, "v_w")
    scores = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 2, 1])])
    scores = g.op("Mul", [scores, g.const("scale", np.array(1 / np.sqrt(d), np.float32))])
    att = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
    x = g.op("LayerNormalization", [g.op("Add", [x, project(att, "o_w")]),
                                    g.const("ln_g", np.ones(d, np.float32)),
                                    g.const("ln_b", np.zeros(d, np.float32))], axis=-1)
    x = g.op("ReduceMean", [x], axes=[1], keepdims=0)                      # [batch, d]
    return g.dense(x, d, outputs)


def mobile_mix(size_mb: float = 4.0, *, image: int = 160, seed: int = 0, rnn: str = "gru",
               outputs: int = 8) -> onnx.ModelProto:
    """A published mobile model's op mix (MobileNetV3 backbone, recurrent and attention head),
    ~`size_mb` MB of float32 weights.

    Conv stem, 15 inverted-residual blocks (1x1 expand, 3x3 depthwise, squeeze-excite with
    GlobalAveragePool, 1x1 convs and HardSigmoid, 1x1 project, residual Add), ReLU and
    HardSwish, BatchNormalization left unfolded; the final map read as a sequence of its
    cells through a bidirectional `rnn` ("gru" or "lstm"), single-head self-attention
    (MatMul Q/K/V, Softmax, output projection, LayerNormalization), mean over the
    sequence and a Gemm. Creating its session runs the fusions, layout passes and kernel
    set-up a real OCR or detector model makes onnxruntime run; the convnets above, all
    Conv/BN/ReLU, skip most of them and load several times faster.

    Input "image" ["batch", 3, "height", "width"], any size; output "logits"
    ["batch", outputs]. The model's metadata "input_shape" is `export add`'s
    `--input-shape` at `image` pixels square, the size it is meant to run at.
    """
    if rnn not in ("gru", "lstm"):
        raise ValueError(f"mobile_mix: rnn is {rnn!r}; expected 'gru' or 'lstm'")
    lo, hi = 0.05, 4.0
    for _ in range(30):                       # weight bytes grow monotonically with width
        mid = (lo + hi) / 2
        counter = _WeightCounter()
        _mobile_mix_graph(counter, mid, rnn, outputs)
        lo, hi = (mid, hi) if counter.bytes < size_mb * 1e6 else (lo, mid)
    g = _Graph(seed)
    _rename_output(g, _mobile_mix_graph(g, (lo + hi) / 2, rnn, outputs), "logits")
    model = g.model(
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", outputs])],
        f"mobile_mix_{rnn}_{size_mb:g}mb")
    helper.set_model_props(model, {"input_shape": f"image=1,3,{image},{image}"})
    return model
