"""Models whose inputs' dynamic dims or values carry meaning (issue #10 §4.2-3): the test run
on generated inputs fails, and the refusal names the inputs, the shapes tried and the flag;
`--input-shape NAME=dims` and `--sample-inputs FILE.npz` make them run; every figure is
measured at shapes the manifest records, inspect shows, and the robot warms up at."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from boxkit import snapshot
from spikebox.cli import main
from spikebox.export.model_inputs import InputShape, InputShapeError, parse_input_shape
from spikebox.export.testmodels import (keyword_spotter, matched_pair, mlp, reshape_by_input,
                                        stride32_segmenter)
from spikebox.runtime.box import Box, BoxError

KWS_SHAPES = ["--input-shape", "audio=1,16000", "--input-shape", "state=2,1,64"]


def _cli(*argv) -> subprocess.CompletedProcess:
    """The real command line, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "spikebox", *map(str, argv)],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    for name, model in (("kws", keyword_spotter()), ("seg", stride32_segmenter()),
                        ("pair", matched_pair()), ("reshape", reshape_by_input()),
                        ("mlp", mlp())):
        onnx.save(model, str(d / f"{name}.onnx"))
    rng = np.random.default_rng(0)
    np.savez(d / "kws.npz", audio=rng.standard_normal((1, 16000)).astype(np.float32),
             state=np.zeros((2, 1, 64), np.float32))
    np.savez(d / "reshape.npz", x=np.arange(6, dtype=np.float32)[None],
             target_shape=np.array([2, 3], np.int64))
    return d


@pytest.fixture
def empty_box(tmp_path):
    box = tmp_path / "box"
    assert main(["export", "init", str(box)]) == 0
    return box


@pytest.fixture(scope="module")
def kws_box(models, tmp_path_factory):
    """The keyword spotter, added with its shapes by name through the real command line."""
    box = tmp_path_factory.mktemp("boxes") / "kws"
    assert main(["export", "init", str(box)]) == 0
    done = _cli("export", "add", box, "kws", models / "kws.onnx", *KWS_SHAPES)
    assert done.returncode == 0, done.stderr
    return box, done.stderr


def test_parse_input_shape():
    assert parse_input_shape("1,3,96,96") == InputShape(None, (1, 3, 96, 96))   # PyTorch's form
    assert parse_input_shape("1x3x96x96").dims == (1, 3, 96, 96)
    assert parse_input_shape("audio=1,16000") == InputShape("audio", (1, 16000))
    assert str(parse_input_shape("state = 2,1,64")) == "state=2,1,64"
    for bad, words in (("", "positive integers"), ("1,a", "positive integers"),
                       ("1,0,3", "positive integers"), ("audio=1,-5", "e.g. audio=1,16000"),
                       ("=1,2", "name the input before '='"), ("audio=", "positive integers")):
        with pytest.raises(InputShapeError, match="--input-shape") as e:
            parse_input_shape(bad)
        assert words in str(e.value)


@pytest.mark.parametrize("model, tried, example", [
    ("kws", ["audio [1, 2] (generated: 'samples' set to 2)",
             "state [2, 2, 2] (generated: 'batch', 'hidden' set to 2)"],
     "--input-shape audio=1,N"),
    ("seg", ["image [1, 3, 2, 2] (generated: 'height', 'width' set to 2)"],
     "--input-shape image=1,3,N,N"),
])
def test_meaningful_dynamic_dims_are_refused_naming_inputs_shapes_and_the_flag(
        models, empty_box, model, tried, example):
    before = snapshot(empty_box)
    done = _cli("export", "add", empty_box, model, models / f"{model}.onnx")
    assert done.returncode == 1
    err = done.stderr.splitlines()[-1]
    assert err.startswith(f"spikebox export add: refused: {models / model}.onnx: its test run "
                          f"failed on generated inputs: ")
    for words in (*tried, example, "--sample-inputs FILE.npz", "dynamic dims may carry meaning"):
        assert words in err
    assert "opset" not in err                       # not the advice for a shape problem
    assert snapshot(empty_box) == before


def test_shapes_by_name_make_it_run_and_are_recorded_and_shown(models, kws_box):
    box, progress = kws_box
    entry = Box.open(box).experts["kws"]
    assert entry.measured_shapes == {"audio": (1, 16000), "state": (2, 1, 64)}
    assert [i.shape for i in entry.inputs] == [(1, "samples"), (2, "batch", "hidden")]
    raw = json.loads((box / "manifest.json").read_text())["experts"]["kws"]
    assert raw["measured_shapes"] == {"audio": [1, 16000], "state": [2, 1, 64]}
    last = progress.splitlines()[-1]
    assert last.startswith("added 'kws': ") and \
        last.endswith("measured at audio [1, 16000], state [2, 1, 64]; woken by "
                      "activator.always_awake, never the camera")
    assert "audio [1, 16000] (--input-shape), state [2, 1, 64] (--input-shape)" in progress
    done = _cli("inspect", box)
    assert ("    measured   footprint, load and latency at audio [1, 16000], state [2, 1, 64]"
            in done.stdout.splitlines())


def test_check_and_the_pager_warm_it_up_at_its_measured_shapes(kws_box):
    """At the declared shapes with dynamic dims 1 it cannot run: the robot uses the
    measured ones."""
    from spikebox.runtime.experts.box_loader import BoxLoader
    from spikebox.runtime.experts.session import (ExpertLoadError, load_session, warm_up,
                                                  zero_inputs)
    from spikebox.runtime.pager import Pager, PagerConfig
    box, _ = kws_box
    b = Box.open(box)
    with pytest.raises(ExpertLoadError, match="cannot run it"):
        warm_up(load_session(b.file(b.experts["kws"].files.optimized)))
    assert main(["export", "check", str(box)]) == 0
    loader = BoxLoader(b)
    fp = loader.footprints()
    with Pager(PagerConfig(fp["kws"], prefetch="off"), loader, fp) as pager:
        with pager.use("kws") as session:
            scores, state = session.run(None, zero_inputs(session, shapes=loader.warm_up_shapes(
                "kws")))
    assert scores.shape == (1, 4) and state.shape == (2, 1, 64)


def test_sample_inputs_make_it_run_and_their_shapes_are_recorded(models, empty_box, capsys):
    assert main(["export", "add", str(empty_box), "kws", str(models / "kws.onnx"),
                 "--sample-inputs", str(models / "kws.npz")]) == 0
    assert "audio [1, 16000] (--sample-inputs)" in capsys.readouterr().err
    assert Box.open(empty_box).experts["kws"].measured_shapes == \
        {"audio": (1, 16000), "state": (2, 1, 64)}


def test_values_that_carry_meaning_need_sample_inputs(models, empty_box, capsys):
    """No dynamic dim to blame: the refusal asks for real inputs, and they make it run."""
    before = snapshot(empty_box)
    assert main(["export", "add", str(empty_box), "r", str(models / "reshape.onnx")]) == 1
    err = capsys.readouterr().err
    assert ("failed on generated inputs: x [1, 6] (generated: random values), target_shape "
            "[2] (generated: random values)") in err
    assert "random values may not be what it takes: give real inputs with --sample-inputs" in err
    assert "opset" not in err and snapshot(empty_box) == before
    assert main(["export", "add", str(empty_box), "r", str(models / "reshape.onnx"),
                 "--sample-inputs", str(models / "reshape.npz")]) == 0
    entry = Box.open(empty_box).experts["r"]
    assert entry.measured_shapes == {"x": (1, 6), "target_shape": (2,)}


def test_two_inputs_whose_dims_must_match(models, empty_box, capsys):
    """One given, the other generated: the refusal names the generated one and its flag."""
    assert main(["export", "add", str(empty_box), "pair", str(models / "pair.onnx"),
                 "--input-shape", "left=5,8"]) == 1
    err = capsys.readouterr().err
    assert "left [5, 8] (--input-shape), right [2, 8] (generated: 'n' set to 2)" in err
    assert "--input-shape right=N,8" in err
    assert main(["export", "add", str(empty_box), "pair", str(models / "pair.onnx"),
                 "--input-shape", "left=5,8", "--input-shape", "right=5,8"]) == 0
    assert Box.open(empty_box).experts["pair"].measured_shapes == {"left": (5, 8),
                                                                    "right": (5, 8)}


def test_a_shape_given_that_still_fails_says_so(models, empty_box, capsys):
    assert main(["export", "add", str(empty_box), "seg", str(models / "seg.onnx"),
                 "--input-shape", "image=1,3,48,48"]) == 1
    err = capsys.readouterr().err
    assert ("its test run failed on the inputs given: image [1, 3, 48, 48] (--input-shape) "
            "(onnxruntime: ") in err
    assert "check them against what the model takes" in err
    assert main(["export", "add", str(empty_box), "seg", str(models / "seg.onnx"),
                 "--input-shape", "image=1,3,48,64"]) == 0


@pytest.mark.parametrize("flags, words", [
    (["--input-shape", "mic=1,16000"],
     "--input-shape mic=1,16000: {kws} has no input 'mic'; its inputs: audio [1, 'samples'], "
     "state [2, 'batch', 'hidden']"),
    (["--input-shape", "audio=1,16000,1"],
     "--input-shape audio=1,16000,1: input 'audio' has 2 dims (audio [1, 'samples']), not 3"),
    (["--input-shape", "audio=2,16000"],
     "--input-shape audio=2,16000: dim 0 of input 'audio' is fixed at 1 in the model "
     "(audio [1, 'samples']); give 1 there"),
    (["--input-shape", "1,16000"],
     "--input-shape 1,16000: {kws} is an ONNX model, whose inputs have names: give NAME=dims, "
     "e.g. --input-shape audio=1,16000"),
    (["--input-shape", "audio=1,16000", "--input-shape", "2,1,64"],
     "--input-shape 2,1,64: name the input as the others do (NAME=dims)"),
    (["--input-shape", "audio=1,16000", "--input-shape", "audio=1,8000"],
     "--input-shape audio=1,8000: input 'audio' is given twice"),
    (["--input-shape", "audio=1,16000", "--sample-inputs", "{npz}"],
     "input 'audio' is given twice, by --input-shape and in {npz}; give it one way"),
])
def test_bad_input_shapes_are_refused_clearly_and_the_box_is_unchanged(
        models, empty_box, capsys, flags, words):
    kws, npz = models / "kws.onnx", models / "kws.npz"
    before = snapshot(empty_box)
    flags = [f.format(npz=npz) for f in flags]
    assert main(["export", "add", str(empty_box), "kws", str(kws), *flags]) == 1
    assert words.format(kws=kws, npz=npz) in capsys.readouterr().err
    assert snapshot(empty_box) == before


def test_a_non_positive_dim_is_a_usage_error(models, empty_box):
    done = _cli("export", "add", empty_box, "kws", models / "kws.onnx", "--input-shape",
                "audio=1,0")
    assert done.returncode == 2
    assert "--input-shape 'audio=1,0': give positive integers, e.g. audio=1,16000" in done.stderr


@pytest.mark.parametrize("arrays, words", [
    ({"mic": np.zeros((1, 16000), np.float32)},
     "holds 'mic', which is no input of the model; key each array by input name"),
    ({"audio": np.zeros((1, 16000), np.float64)},
     "'audio' is float64 [1, 16000], the model takes float32 audio [1, 'samples']"),
    ({"state": np.zeros((3, 1, 64), np.float32)},
     "'state' is float32 [3, 1, 64], the model takes float32 state [2, 'batch', 'hidden']"),
])
def test_sample_inputs_that_do_not_fit_are_refused(models, empty_box, tmp_path, capsys,
                                                    arrays, words):
    npz = tmp_path / "samples.npz"
    np.savez(npz, **arrays)
    assert main(["export", "add", str(empty_box), "kws", str(models / "kws.onnx"),
                 "--sample-inputs", str(npz)]) == 1
    assert f"--sample-inputs {npz}: {words}" in capsys.readouterr().err


def test_generated_shapes_of_an_ordinary_model_are_recorded_too(models, empty_box, capsys):
    assert main(["export", "add", str(empty_box), "tele", str(models / "mlp.onnx")]) == 0
    assert Box.open(empty_box).experts["tele"].measured_shapes == {"features": (2, 64)}
    assert "measured at features [2, 64]" in capsys.readouterr().err.splitlines()[-1]


def test_old_boxes_without_measured_shapes_load_and_say_so(capsys, tmp_path):
    from boxkit import old_demo_box
    demo = old_demo_box(tmp_path)
    assert all(e.measured_shapes is None for e in Box.open(demo).experts.values())
    assert main(["inspect", str(demo)]) == 0
    assert capsys.readouterr().out.count(
        "measured   footprint, load and latency at input shapes not recorded") == 5


@pytest.mark.parametrize("shapes, words", [
    ({"audio": [1, 16000]}, "experts.kws.measured_shapes is ['audio']; expected a shape for "
                            "each input, no more: ['audio', 'state']"),
    ({"audio": [1, 16000], "state": [2, 1, 64], "mic": [1]}, "expected a shape for each input"),
    ({"audio": [1, 16000, 1], "state": [2, 1, 64]},
     "experts.kws.measured_shapes.audio is [1, 16000, 1]; expected 2 dims >= 1 that fit the "
     "input's shape [1, 'samples']"),
    ({"audio": [2, 16000], "state": [2, 1, 64]}, "measured_shapes.audio is [2, 16000]"),
    ({"audio": [1, 0], "state": [2, 1, 64]}, "measured_shapes.audio is [1, 0]"),
    ({"audio": "1x16000", "state": [2, 1, 64]}, "measured_shapes.audio is '1x16000'"),
])
def test_a_manifest_whose_measured_shapes_do_not_fit_is_refused(kws_box, tmp_path, shapes,
                                                                words):
    box, _ = kws_box
    copy = tmp_path / "copy"
    shutil.copytree(box, copy)
    data = json.loads((copy / "manifest.json").read_text())
    data["experts"]["kws"]["measured_shapes"] = shapes
    (copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BoxError) as e:
        Box.open(copy)
    assert words in str(e.value)
