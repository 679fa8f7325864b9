"""mobile_mix: a published mobile model's op mix (MobileNetV3 blocks, a GRU or LSTM, attention)
for the pager bench. It must be a valid model onnxruntime runs at any image size and batch,
hold the ops whose session-creation cost it stands for, weigh what it is asked to, be the
same bytes for a seed, and go into a box through `spikebox export add`."""
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from spikebox.cli import main
from spikebox.export.mobile_models import mobile_mix
from spikebox.runtime.box import Box

OUTPUTS = 8    # mobile_mix's default


@pytest.fixture(scope="module", params=["gru", "lstm"])
def mix(request):
    return request.param, mobile_mix(4.0, rnn=request.param)


def _weight_bytes(model: onnx.ModelProto) -> int:
    return sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer)


def test_passes_the_full_checker(mix):
    onnx.checker.check_model(mix[1], full_check=True)


def test_dynamic_batch_and_image_size_are_symbolic(mix):
    image = mix[1].graph.input[0]
    assert image.name == "image"
    assert [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim] == \
        ["batch", 3, "height", "width"]
    logits = mix[1].graph.output[0]
    assert [d.dim_param or d.dim_value for d in logits.type.tensor_type.shape.dim] == \
        ["batch", OUTPUTS]


def test_runs_at_two_image_sizes_and_batches_each_image_on_its_own(mix):
    session = ort.InferenceSession(mix[1].SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for h, w in ((160, 160), (96, 128)):
        images = rng.standard_normal((2, 3, h, w)).astype(np.float32)
        one, = session.run(None, {"image": images[:1]})
        two, = session.run(None, {"image": images})
        assert one.shape == (1, OUTPUTS) and two.shape == (2, OUTPUTS)
        assert np.isfinite(two).all()
        # The head reads the map as [seq, batch, channels]: a wrong Transpose would let the
        # attention mix the images of a batch; the first image scores the same alone.
        np.testing.assert_allclose(two[:1], one, rtol=1e-4, atol=1e-4)
        assert not np.allclose(two[0], two[1])


def test_holds_the_ops_of_a_mobile_model(mix):
    rnn, model = mix
    ops = Counter(n.op_type for n in model.graph.node)
    for op in ("Conv", "HardSwish", "HardSigmoid", "BatchNormalization", "GlobalAveragePool",
               "Softmax", "MatMul", "Add", "Gemm", rnn.upper()):
        assert ops[op] >= 1, op
    assert ops["GRU" if rnn == "lstm" else "LSTM"] == 0
    shapes = {t.name: tuple(t.dims) for t in model.graph.initializer}
    depthwise = []
    for node in model.graph.node:
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        if node.op_type == "Conv" and group > 1:
            out_channels, in_per_group = shapes[node.input[1]][:2]
            assert (group, in_per_group) == (out_channels, 1), node.name   # one filter a channel
            depthwise.append(node)
    assert len(depthwise) == 15                         # one per inverted-residual block
    assert ops["Add"] >= 5                              # residuals (and the attention's)


@pytest.mark.parametrize("size_mb", [2.0, 6.0])
def test_weights_come_to_the_size_asked(size_mb):
    assert _weight_bytes(mobile_mix(size_mb)) == pytest.approx(size_mb * 1e6, rel=0.25)


def test_deterministic_for_a_seed():
    a = mobile_mix(2.0, seed=3).SerializeToString()
    assert a == mobile_mix(2.0, seed=3).SerializeToString()
    assert a != mobile_mix(2.0, seed=4).SerializeToString()


def test_an_unknown_rnn_is_refused_by_name():
    with pytest.raises(ValueError, match="rnn is 'transformer'; expected 'gru' or 'lstm'"):
        mobile_mix(2.0, rnn="transformer")


def test_export_add_takes_it_at_its_recorded_input_shape(tmp_path, capsys):
    model = mobile_mix(4.0)
    flag = {p.key: p.value for p in model.metadata_props}["input_shape"]
    assert flag == "image=1,3,160,160"
    onnx.save(model, str(tmp_path / "mix.onnx"))
    box = tmp_path / "box"
    assert main(["export", "init", str(box)]) == 0
    assert main(["export", "add", str(box), "mix", str(tmp_path / "mix.onnx"),
                 "--input-shape", flag]) == 0, capsys.readouterr().err
    entry = Box.open(box).experts["mix"]
    assert entry.measured_shapes == {"image": (1, 3, 160, 160)}
