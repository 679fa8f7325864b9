"""The session factory and the paged format (issue #4): equal outputs, clear errors, measured memory.

Tolerance: the paged file is onnxruntime's optimised graph (BatchNorm folded
into Conv, Conv+ReLU fused), which reorders float32 arithmetic, so outputs
are compared with rtol=1e-4, atol=1e-5 against a default session on the source.
No wall-clock assertions (STYLE.md).
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from spikebox.export import testmodels
from spikebox.export.optimize import optimize_for_target
from spikebox.runtime.experts import ExpertLoadError, SessionConfig, input_specs, load_session, output_specs, warm_up
from spikebox.runtime.experts.footprint import footprint_in_fresh_process

RTOL, ATOL = 1e-4, 1e-5

MODELS = {
    "convnet": lambda: testmodels.mobile_convnet(2.0, image=96),
    "mlp": testmodels.mlp,
    "dynamic": testmodels.dynamic_convnet,
    "multi_io": testmodels.multi_io,
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name → (source .onnx, paged file), built once for the module."""
    d = tmp_path_factory.mktemp("experts")
    out = {}
    for name, build in MODELS.items():
        model = build()
        onnx.checker.check_model(model, full_check=True)
        assert model.opset_import[0].version == 17 and model.ir_version <= 10
        src = d / f"{name}.onnx"
        onnx.save(model, src)
        out[name] = (src, optimize_for_target(src, d / "box"))
    return out


def _feeds(session, rng, dynamic):
    return {s.name: rng.standard_normal([d if isinstance(d, int) else dynamic.get(d, 2) for d in s.shape]
                                        ).astype(s.dtype)
            for s in input_specs(session)}


@pytest.mark.parametrize("name", list(MODELS))
def test_paged_outputs_equal_the_source_model(exported, name):
    src, paged = exported[name]
    direct = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    session = load_session(paged)
    assert [s.name for s in input_specs(session)] == [i.name for i in direct.get_inputs()]
    assert [s.name for s in output_specs(session)] == [o.name for o in direct.get_outputs()]
    rng = np.random.default_rng(7)
    # dynamic dims at two sizes (batch, height, width); static models ignore these
    for dynamic in ({"batch": 1, "height": 32, "width": 40}, {"batch": 3, "height": 57, "width": 64}):
        feeds = _feeds(session, rng, dynamic)
        for got, want in zip(session.run(None, feeds), direct.run(None, feeds)):
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_specs_keep_dynamic_dims_as_names(exported):
    session = load_session(exported["dynamic"][1])
    (image,) = input_specs(session)
    assert image.shape == ("batch", 3, "height", "width") and image.dtype == "float32"
    assert [s.name for s in output_specs(session)] == ["segmentation", "scores"]
    seg, scores = warm_up(session)          # dynamic dims → 1
    assert scores.shape == (1, 10) and seg.shape[:2] == (1, 10)


def test_plain_onnx_loads_too(exported):
    src, _ = exported["multi_io"]
    outputs = warm_up(load_session(src))
    assert [o.shape for o in outputs] == [(1, 1), (1, 5)]


def test_paged_file_keeps_weights_in_an_external_file(exported):
    src, paged = exported["convnet"]
    data = paged.with_name(paged.name + ".data")
    assert data.stat().st_size > 0.9 * src.stat().st_size > paged.stat().st_size * 10


@pytest.mark.parametrize("config", [SessionConfig(), SessionConfig(intra_op_threads=1),
                                    SessionConfig(disable_prepacking=False, cpu_mem_arena=True)])
def test_load_paths_survive_in_a_child_process(exported, config):
    # A crashing load path (DESIGN.md: a segfault in onnxruntime 1.23.2) must fail this test, not the suite.
    _, paged = exported["convnet"]
    code = ("import sys; from spikebox.runtime.experts.session import *; "
            f"s = load_session(sys.argv[1], {config!r}); warm_up(s); print('ok')")
    child = subprocess.run([sys.executable, "-c", code, str(paged)], capture_output=True, text=True,
                           timeout=120)
    assert child.returncode == 0 and child.stdout.strip() == "ok", child.stderr[-500:]


def test_truncated_model_is_refused_naming_the_file(exported, tmp_path):
    src, _ = exported["convnet"]
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.onnx"):
        optimize_for_target(bad, tmp_path / "box")
    with pytest.raises(ExpertLoadError, match="truncated.onnx"):
        load_session(bad)
    assert not any((tmp_path / "box").iterdir())         # nothing left behind


def test_garbage_and_missing_files_are_refused(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not an onnx model" * 50)
    with pytest.raises(ValueError, match="junk.onnx"):
        optimize_for_target(junk, tmp_path)
    with pytest.raises(ValueError, match="missing.onnx"):
        optimize_for_target(tmp_path / "missing.onnx", tmp_path)


def _save(graph_nodes, inputs, outputs, path, inits=()):
    model = helper.make_model(helper.make_graph(graph_nodes, "bad", inputs, outputs, list(inits)),
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_model_with_an_op_onnxruntime_lacks_is_refused(tmp_path):
    src = _save([helper.make_node("Teleport", ["x"], ["y"], domain="com.example")],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], tmp_path / "teleport.onnx")
    with pytest.raises(ValueError, match="teleport.onnx.*cannot load"):
        optimize_for_target(src, tmp_path / "box")


def test_model_that_loads_but_cannot_run_is_refused(tmp_path):
    # Reshape of a dynamic [n, 6] input to [4, 4]: valid graph, fails on the test run (n=1).
    shape = onnx.numpy_helper.from_array(np.array([4, 4], np.int64), "shape")
    src = _save([helper.make_node("Reshape", ["x", "shape"], ["y"])],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 6])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 4])], tmp_path / "reshape.onnx",
                inits=[shape])
    with pytest.raises(ValueError, match="reshape.onnx.*cannot\\s+run"):
        optimize_for_target(src, tmp_path / "box")
    assert not any((tmp_path / "box").iterdir())


def test_a_failed_export_keeps_the_previous_paged_file(exported, tmp_path):
    src, _ = exported["mlp"]
    good = optimize_for_target(src, tmp_path)
    before = good.read_bytes()
    bad = tmp_path / "mlp.onnx"
    bad.write_bytes(src.read_bytes()[:100])
    with pytest.raises(ValueError):
        optimize_for_target(bad, tmp_path)
    assert good.read_bytes() == before and warm_up(load_session(good))


def test_footprint_is_positive_and_grows_with_the_model(tmp_path):
    small, big = tmp_path / "small.onnx", tmp_path / "big.onnx"
    onnx.save(testmodels.mobile_convnet(2.0, image=96), small)
    onnx.save(testmodels.mobile_convnet(12.0, image=96), big)
    f_small = footprint_in_fresh_process(optimize_for_target(small, tmp_path / "box"))
    f_big = footprint_in_fresh_process(optimize_for_target(big, tmp_path / "box"))
    for f in (f_small, f_big):
        assert f["rss_bytes"] > 0 and f["pss_bytes"] > 0 and f["load_ms"] > 0 and f["run_ms"] > 0
        assert f["footprint_bytes"] > 0
    assert f_big["rss_bytes"] > f_small["rss_bytes"] + 5e6       # 10 MB more weights, faulted in
    assert f_big["footprint_bytes"] > f_small["footprint_bytes"] + 5e6


def test_footprint_of_a_bad_file_is_an_exception_not_a_dead_parent(tmp_path):
    from spikebox.runtime.experts.footprint import FootprintError
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"garbage")
    with pytest.raises(FootprintError, match="broken.onnx"):
        footprint_in_fresh_process(bad)


def test_config_is_validated():
    with pytest.raises(ValueError):
        SessionConfig(intra_op_threads=-1)
    with pytest.raises(ValueError):
        SessionConfig(optimization_level="fastest")
