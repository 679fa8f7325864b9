"""int8 through `spikebox export add --int8`: measured against fp32, recorded, refused above the
tolerance with the box unchanged, forced past it; and frames → expert input (preprocess)."""
import json
import shutil

import cv2
import numpy as np
import onnx
import pytest

from boxkit import snapshot, write_assets
from spikebox.cli import main
from spikebox.export.quantize import DEFAULT_TOLERANCE, quantize_int8
from spikebox.export.testmodels import mlp, mobile_convnet, multi_io
from spikebox.runtime.box import Box, BoxError
from spikebox.runtime.experts.preprocess import frame_to_tensor
from spikebox.runtime.experts.session import TensorSpec, load_session


# ---- preprocess: values checked by hand on tiny frames ----

def test_nchw_rgb_scale_mean_std_by_hand():
    frame = np.array([[[10, 20, 30], [40, 50, 60]]], np.uint8)          # 1 x 2, BGR
    pre = {"colour": "rgb", "scale": 0.5, "mean": [1, 2, 3], "std": [2, 4, 8]}
    x = frame_to_tensor(frame, pre, TensorSpec("image", (1, 3, 1, 2), "float32"))
    assert x.shape == (1, 3, 1, 2) and x.dtype == np.float32
    # RGB: R = 30, 60; G = 20, 50; B = 10, 40 → (p * 0.5 - mean) / std
    assert np.allclose(x[0, 0, 0], [(15 - 1) / 2, (30 - 1) / 2])
    assert np.allclose(x[0, 1, 0], [(10 - 2) / 4, (25 - 2) / 4])
    assert np.allclose(x[0, 2, 0], [(5 - 3) / 8, (20 - 3) / 8])


def test_nhwc_resize_with_area_averaging_by_hand():
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[:2, :2] = (0, 0, 8)          # each 2x2 block one colour: INTER_AREA → its value
    frame[:2, 2:] = (4, 0, 0)
    frame[2:, :2] = (0, 12, 0)
    frame[2:, 2:] = (100, 100, 100)
    frame[3, 3] = (0, 0, 0)            # one pixel off: the block's mean is 75
    spec = {"name": "cam", "shape": ["batch", 2, 2, 3], "dtype": "float32"}
    x = frame_to_tensor(frame, {"size": [2, 2], "colour": "bgr", "scale": 1.0}, spec)
    assert x.shape == (1, 2, 2, 3)
    assert x[0, 0, 0].tolist() == [0, 0, 8] and x[0, 0, 1].tolist() == [4, 0, 0]
    assert x[0, 1, 0].tolist() == [0, 12, 0] and x[0, 1, 1].tolist() == [75, 75, 75]
    raw = frame_to_tensor(frame, None, {"name": "cam", "shape": [1, 4, 4, 3], "dtype": "uint8"})
    assert raw.dtype == np.uint8 and np.array_equal(raw[0], frame)


@pytest.mark.parametrize("shape, pre, dtype, words", [
    ((1, 4, 8, 8), {}, "float32", "neither dim 1"),
    ((1, 64), {}, "float32", "not an image input"),
    ((1, 3, 8, 8), {"size": [16, 8]}, "float32", "has width 8"),
    ((2, 3, 8, 8), {}, "float32", "fixed batch of 2"),
    ((1, 3, 8, 8), {"colour": "hsv"}, "float32", "'bgr' or 'rgb'"),
    ((1, 3, 8, 8), {"mean": [1, 2]}, "float32", "needs 3 values"),
    ((1, 3, 8, 8), {"scale": 0.5}, "uint8", "need a float input"),
    ((1, 3, 8, 8), {"sise": [8, 8]}, "float32", "unknown preprocessing keys"),
])
def test_what_cannot_be_mapped_is_a_clear_valueerror(shape, pre, dtype, words):
    with pytest.raises(ValueError, match=words):
        frame_to_tensor(np.zeros((8, 8, 3), np.uint8), pre, TensorSpec("x", shape, dtype))


# ---- quantize_int8 on its own ----

def test_report_flags_are_the_measured_comparisons_and_a_refusal_leaves_nothing(tmp_path):
    onnx.save(mlp(), str(tmp_path / "mlp.onnx"))
    rng = np.random.default_rng(5)
    feeds = [{"features": rng.standard_normal((1, 64)).astype(np.float32)} for _ in range(16)]
    r = quantize_int8(tmp_path / "mlp.onnx", feeds, tmp_path / "out", tolerance=DEFAULT_TOLERANCE,
                      force=False)
    assert r.int8.is_file() and r.int8.name == "mlp.int8.paged.onnx"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [r.int8.name, r.int8.name + ".data"]
    assert (r.calibration_samples, r.heldout_samples) == (12, 4)
    assert 0 < r.rel_diff <= r.tolerance and r.max_abs_diff > 0 and not r.forced
    assert r.faster == (r.int8_latency_ms < r.fp32_latency_ms)
    assert r.smaller == (r.int8_bytes < r.fp32_bytes)
    assert r.smaller_resident == (r.int8_footprint_bytes < r.fp32_footprint_bytes)
    assert r.int8_bytes < r.fp32_bytes / 2          # int8 weights: a quarter, plus scales
    # int8 weights are mmapped and never written either: the expert can be kept as a shell
    assert r.int8_shell_bytes is not None and 0 <= r.int8_shell_bytes < r.int8_footprint_bytes
    with pytest.raises(BoxError, match=r"mlp.onnx: int8 output 'command' differs .* above the "
                                       r"tolerance 0.00%.*--force-int8"):
        quantize_int8(tmp_path / "mlp.onnx", feeds, tmp_path / "refused", tolerance=1e-9,
                      force=False)
    assert list((tmp_path / "refused").iterdir()) == []
    with pytest.raises(BoxError, match="at least 4 calibration samples"):
        quantize_int8(tmp_path / "mlp.onnx", feeds[:3], tmp_path / "few", tolerance=0.1,
                      force=False)


# ---- through the CLI, on a box ----





@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    d = tmp_path_factory.mktemp("assets")
    frames = write_assets(d, {"conv": mobile_convnet(2), "mlp": mlp(), "multi": multi_io()},
                          ("line", "ball", "background"), runs=4)
    rng = np.random.default_rng(0)
    for name, make in (("mlp", lambda: {"features": rng.standard_normal((1, 64))}),
                       ("multi", lambda: {"image": rng.random((1, 3, 64, 64)),
                                          "telemetry": rng.standard_normal((1, 16))})):
        (d / f"cal_{name}").mkdir()
        for i in range(16):
            np.savez(d / f"cal_{name}" / f"{i:03d}.npz",
                     **{k: v.astype(np.float32) for k, v in make().items()})
    return d, frames


@pytest.fixture(scope="module")
def box(assets, tmp_path_factory):
    d, frames = assets
    box = tmp_path_factory.mktemp("boxes") / "skills"
    assert main(["export", "init", str(box)]) == 0
    assert main(["export", "add", str(box), "line", str(d / "conv.onnx"), "--examples",
                 str(frames["line"]), "--background", str(frames["background"]),
                 "--image-size", "160x160", "--colour", "rgb", "--scale", str(1 / 255),
                 "--int8"]) == 0
    return box


def test_image_expert_int8_is_measured_recorded_and_paged(box, assets, capsys):
    d, frames = assets
    e = Box.open(box).experts["line"]
    q = e.int8
    assert e.files.optimized.endswith("model.int8.paged.onnx")
    assert not list(box.glob("experts/line-*/model.paged.onnx*"))      # fp32 paged file gone
    assert q.calibration_samples == 18 and q.tolerance == DEFAULT_TOLERANCE
    assert 0 < q.rel_diff <= q.tolerance and not q.forced
    assert q.faster == (q.int8_latency_ms < q.fp32_latency_ms)
    assert q.smaller == (q.int8_bytes < q.fp32_bytes)
    assert e.footprint_bytes == q.int8_footprint_bytes        # the pager budgets int8
    assert e.measured_shapes == {"image": (1, 3, 160, 160)}   # fp32 and int8 figures alike
    # the paged int8 expert against a direct session on the source, on the expert's frames
    b = Box.open(box)
    paged = load_session(b.file(e.files.optimized))
    import onnxruntime as ort
    source = ort.InferenceSession(str(b.file(e.files.source)),
                                  providers=["CPUExecutionProvider"])
    shown = [cv2.imread(str(p)) for p in sorted(frames["line"].glob("*.png"))]
    feeds = [{"image": frame_to_tensor(f, e.preprocessing, e.inputs[0])} for f in shown]
    a = np.stack([source.run(None, f)[0] for f in feeds])
    got = np.stack([paged.run(None, f)[0] for f in feeds])
    assert np.max(np.abs(a - got)) <= q.tolerance * (a.max() - a.min())
    assert main(["export", "check", str(box)]) == 0
    assert main(["inspect", str(box)]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("int8")]
    assert len(line) == 1 and "of range" in line[0] and "calibration samples" in line[0]


def test_tensor_expert_needs_calibration_then_quantises_from_npz(box, assets, capsys):
    d, frames = assets
    before = snapshot(box)
    assert main(["export", "add", str(box), "tele", str(d / "mlp.onnx"), "--examples",
                 str(frames["ball"]), "--int8"]) == 1
    assert "--calibration: is needed for int8 on a tensor expert" in capsys.readouterr().err
    assert main(["export", "add", str(box), "tele", str(d / "mlp.onnx"), "--examples",
                 str(frames["ball"]), "--int8", "--calibration", str(frames["ball"])]) == 1
    assert "no .npz files" in capsys.readouterr().err
    assert snapshot(box) == before
    copy = box.parent / "tele"
    shutil.copytree(box, copy)
    assert main(["export", "add", str(copy), "tele", str(d / "mlp.onnx"), "--examples",
                 str(frames["ball"]), "--int8", "--calibration", str(d / "cal_mlp")]) == 0
    q = Box.open(copy).experts["tele"].int8
    assert q.calibration_samples == 12 and 0 < q.rel_diff <= q.tolerance


def test_impossible_tolerance_is_refused_unchanged_and_forced_through(box, assets, capsys):
    d, frames = assets
    args = ["export", "add", str(box), "ball", str(d / "multi.onnx"), "--examples",
            str(frames["ball"]), "--int8", "--calibration", str(d / "cal_multi"),
            "--int8-tolerance", "1e-9"]
    before = snapshot(box)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "ball" not in json.loads((box / "manifest.json").read_text())["experts"]
    assert "model.onnx: int8 output" in err and "above the tolerance" in err
    assert "--force-int8" in err
    assert snapshot(box) == before
    assert main(args + ["--force-int8"]) == 0
    q = Box.open(box).experts["ball"].int8
    assert q.forced and q.rel_diff > q.tolerance == 1e-9
    assert q.faster == (q.int8_latency_ms < q.fp32_latency_ms)
    assert q.smaller == (q.int8_bytes < q.fp32_bytes)
