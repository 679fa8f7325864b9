"""Boxes end to end through the CLI: init, add any ONNX model, compile, check, inspect,
remove; bad models, name clashes and tampering refused with the box unchanged."""
import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from boxkit import snapshot, write_assets
from spikebox.cli import main
from spikebox.export.testmodels import dynamic_convnet, mlp, mobile_convnet, multi_io
from spikebox.runtime.box import Box
from spikebox.runtime.experts.session import load_session




@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    d = tmp_path_factory.mktemp("assets")
    frames = write_assets(d, {"conv": mobile_convnet(2), "mlp": mlp(), "dyn": dynamic_convnet(),
                              "multi": multi_io()}, ("line", "ball", "sign", "background"), runs=6)
    return d, frames




@pytest.fixture(scope="module")
def box(assets, tmp_path_factory):
    d, frames = assets
    box = tmp_path_factory.mktemp("boxes") / "skills"
    assert main(["export", "init", str(box)]) == 0
    assert main(["export", "add", str(box), "line", str(d / "conv.onnx"), "--examples",
                 str(frames["line"]), "--background", str(frames["background"]),
                 "--output", "probs=line classes", "--image-size", "160x160"]) == 0
    assert main(["export", "add", str(box), "ball", str(d / "multi.onnx"), "--examples",
                 str(frames["ball"]), "--output", "steering=steering in [-1, 1]"]) == 0
    return box


def test_added_experts_are_in_the_manifest_and_page(box):
    b = Box.open(box)
    assert list(b.experts) == ["line", "ball"]
    line = b.experts["line"]
    assert line.footprint_bytes > 0 and line.load_ms > 0
    assert 0 < line.shell_bytes < line.footprint_bytes / 2     # measured with the footprint
    assert line.preprocessing["size"] == [160, 160]
    assert b.manifest.encoder.timesteps > 0                          # the encoder config: once,
    assert not list(box.glob("activator-*/encoder.json"))           # in the manifest
    assert b.verify() > 0
    sess = load_session(b.file(line.files.optimized))
    src = onnx.load(str(b.file(line.files.source)))
    assert [i.name for i in sess.get_inputs()] == [i.name for i in src.graph.input]


def test_compile_check_and_inspect(box, capsys):
    assert main(["export", "compile", str(box)]) == 0
    assert main(["export", "check", str(box)]) == 0
    out = capsys.readouterr().out
    assert "expert line: loads and runs" in out and "activator: " in out
    assert "expert line: loads and runs; shell round trip ok" in out
    assert main(["inspect", str(box)]) == 0
    out = capsys.readouterr().out
    assert "line" in out and "resident" in out and "steering in [-1, 1]" in out
    assert " MB   shell " in out


@pytest.mark.parametrize("model, words", [
    ("truncated", "not a readable ONNX model"),
    ("garbage", "not a readable ONNX model"),
    ("missing", "no such model file"),
])
def test_bad_models_are_refused_and_the_box_is_unchanged(box, assets, tmp_path, capsys,
                                                         model, words):
    d, frames = assets
    path = tmp_path / f"{model}.onnx"
    if model == "truncated":
        path.write_bytes((d / "conv.onnx").read_bytes()[:5000])
    elif model == "garbage":
        path.write_bytes(b"\x00\x01not onnx" * 100)
    before = snapshot(box)
    assert main(["export", "add", str(box), "sign", str(path), "--examples",
                 str(frames["sign"])]) == 1
    assert words in capsys.readouterr().err
    assert snapshot(box) == before


def test_a_model_onnxruntime_cannot_run_is_refused(box, assets, tmp_path, capsys):
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    node = helper.make_node("NoSuchOp", ["x"], ["y"], domain="com.example")
    m = helper.make_model(helper.make_graph([node], "g", [x], [y]), ir_version=10,
                          opset_imports=[helper.make_opsetid("", 17),
                                         helper.make_opsetid("com.example", 1)])
    onnx.save(m, str(tmp_path / "odd.onnx"))
    before = snapshot(box)
    assert main(["export", "add", str(box), "sign", str(tmp_path / "odd.onnx"), "--examples",
                 str(assets[1]["sign"])]) == 1
    err = capsys.readouterr().err
    assert "odd.onnx" in err and "refused" in err
    assert "cannot run it" in err and "check its opset and ops" in err   # here it is the ops
    assert "generated inputs" not in err and "--input-shape" not in err
    assert snapshot(box) == before


@pytest.mark.parametrize("model, extra, words", [
    ("conv", ["--image-size", "96x96"], "preprocessing does not fit its input"),
    ("mlp", ["--output", "steer=steering"], "has no output named ['steer']"),
])
def test_options_that_do_not_fit_the_model_are_refused(box, assets, capsys, model, extra, words):
    d, frames = assets
    before = snapshot(box)
    assert main(["export", "add", str(box), "sign", str(d / f"{model}.onnx"), "--examples",
                 str(frames["sign"]), *extra]) == 1
    assert words in capsys.readouterr().err
    assert snapshot(box) == before


def test_first_expert_needs_background_and_a_refusal_leaves_nothing(assets, tmp_path, capsys):
    d, frames = assets
    box = tmp_path / "new"
    assert main(["export", "init", str(box)]) == 0
    before = snapshot(box)
    assert main(["export", "add", str(box), "line", str(d / "mlp.onnx"), "--examples",
                 str(frames["line"])]) == 1
    assert "add --background DIR" in capsys.readouterr().err
    assert snapshot(box) == before
    assert main(["export", "add", str(box), "line", str(d / "mlp.onnx"), "--examples",
                 str(frames["line"]), "--background", str(frames["background"]),
                 "--max-footprint-mb", "0.001"]) == 1
    assert "no robot budget fits it" in capsys.readouterr().err
    assert snapshot(box) == before


def test_name_clash_is_refused(box, assets, capsys):
    d, frames = assets
    before = snapshot(box)
    assert main(["export", "add", str(box), "line", str(d / "mlp.onnx"), "--examples",
                 str(frames["line"])]) == 1
    assert "already has an expert 'line'" in capsys.readouterr().err
    assert snapshot(box) == before


BAD_NAMES = ["", "..", "a b", "ünï", "back\\slash", "a/b", "_lead", "-lead", "x" * 250, "dot.ted",
             " pad", "tab\t", "nul\x00"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=range(len(BAD_NAMES)))
def test_expert_names_follow_one_rule_everywhere(box, assets, tmp_path, capsys, name):
    """`export add` refuses a bad name with the rule (the box untouched), and a manifest
    whose expert has that name is refused on load, by the same rule."""
    from spikebox.export.box_edit import AddOptions, add_expert
    from spikebox.runtime.box import EXPERT_NAME_RULE, BoxError, valid_expert_name
    d, frames = assets
    before = snapshot(box)
    with pytest.raises(BoxError) as refused:      # the library (a '-' name never gets past argparse)
        add_expert(box, name, d / "mlp.onnx", AddOptions(examples=frames["line"]))
    assert EXPERT_NAME_RULE in str(refused.value)
    if not name.startswith("-"):
        assert main(["export", "add", str(box), name, str(d / "mlp.onnx"), "--examples",
                     str(frames["line"])]) == 1
        assert EXPERT_NAME_RULE in capsys.readouterr().err
    assert snapshot(box) == before
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(box, copy)
    data = json.loads((copy / "manifest.json").read_text())
    entry = data["experts"].pop("ball")
    data["experts"][name] = dict(entry, name=name)
    (copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BoxError, match="an expert name"):
        Box.open(copy)
    assert not valid_expert_name(name)
    assert all(valid_expert_name(n) for n in ("line", "Ball-2", "0dock", "a_b", "x" * 64))


def test_tampering_after_export_is_caught(box, tmp_path, capsys):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(box, copy)
    b = Box.open(copy)
    data = b.file(b.experts["ball"].files.optimized)
    data = data.with_name(data.name + ".data") if data.with_name(data.name + ".data").exists() \
        else data
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))
    assert main(["export", "check", str(copy)]) == 1
    assert "sha256 does not match" in capsys.readouterr().err
    (copy / "manifest.json").write_text(json.dumps({"schema_version": 99}))
    assert main(["inspect", str(copy)]) == 1
    assert "schema_version 99" in capsys.readouterr().err


def test_dynamic_and_tensor_models_join_and_removal_touches_only_that_expert(box, assets,
                                                                            tmp_path):
    import shutil
    from spikebox.runtime.activator import ActivatorNetwork
    d, frames = assets
    copy = tmp_path / "grow"
    shutil.copytree(box, copy)
    before = ActivatorNetwork.load(Box.open(copy).activator_dir)
    assert main(["export", "add", str(copy), "sign", str(d / "dyn.onnx"), "--examples",
                 str(frames["sign"])]) == 0
    grown = ActivatorNetwork.load(Box.open(copy).activator_dir)
    for old in before.experts:
        new = grown.experts[grown.expert_names.index(old.name)]
        assert old.weights.tobytes() == new.weights.tobytes()
    assert main(["export", "remove", str(copy), "ball"]) == 0
    b = Box.open(copy)
    assert list(b.experts) == ["line", "sign"] and b.verify() > 0
    left = ActivatorNetwork.load(b.activator_dir)
    assert left.expert_names == ["line", "sign"]
    assert not any("ball" in p.name for p in (copy / "experts").iterdir())
    assert np.array_equal(left.experts[0].weights, before.experts[0].weights)


def test_pager_pages_box_experts_and_refuses_a_tampered_one(box, tmp_path):
    import shutil
    import time
    from spikebox.runtime.experts.box_loader import BoxLoader
    from spikebox.runtime.pager import ExpertRefused, Pager, PagerConfig
    copy = tmp_path / "paged"
    shutil.copytree(box, copy)
    loader = BoxLoader(Box.open(copy))
    fp = loader.footprints()
    with Pager(PagerConfig(sum(fp.values()), policy="lru", prefetch="off"), loader, fp) as pager:
        with pager.use("line") as session:
            assert session.get_inputs()
        # tamper with ball's weights after export: refused, counted; line goes on
        b = Box.open(copy)
        target = b.file(b.experts["ball"].files.optimized)
        raw = bytearray(target.read_bytes())
        raw[-3] ^= 0x01
        time.sleep(0.01)
        target.write_bytes(bytes(raw))
        with pytest.raises(ExpertRefused, match="sha256 does not match"):
            with pager.use("ball"):
                pass
        with pager.use("line"):
            pass
        m = pager.metrics()
        assert m["refused_load_failed"] == 1 and m["hits"] >= 1


def test_a_shelved_expert_whose_weights_change_on_disk_is_refused(box, tmp_path):
    """A shell reads its weights back from the file: the page-in checks the file first."""
    import os
    import shutil
    from spikebox.runtime.experts.box_loader import BoxLoader
    from spikebox.runtime.experts.session import zero_inputs
    from spikebox.runtime.pager import ExpertRefused, Pager, PagerConfig
    copy = tmp_path / "shelved"
    shutil.copytree(box, copy)
    loader = BoxLoader(Box.open(copy))
    fp = loader.footprints()
    shells = loader.shell_footprints()
    assert set(shells) == {"line", "ball"}
    assert fp["line"] + fp["ball"] > fp["line"] + shells["ball"] >= fp["ball"] + shells["line"]
    budget = fp["line"] + shells["ball"]            # line or ball whole, and the other's shell
    with Pager(PagerConfig(budget, policy="lru", prefetch="off"), loader, fp,
               shell_footprints=shells) as pager:
        with pager.use("line") as s:
            feeds = zero_inputs(s)
            expected = s.run(None, feeds)[0]
        for name in ("ball", "line", "ball"):                 # line and ball trade places
            with pager.use(name) as s:
                if name == "line":
                    assert np.array_equal(s.run(None, feeds)[0], expected)
        m = pager.metrics()
        assert m["shells"] == ["line"] and m["pageins_from_shell"] == 2
        weights = Path(str(loader.graph_path("line")) + ".data")
        raw = bytearray(weights.read_bytes())
        raw[len(raw) // 2] ^= 0x01                            # in place: same inode, same size
        with open(weights, "r+b") as f:
            f.write(raw)
        st = weights.stat()
        os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        with pytest.raises(ExpertRefused, match="sha256 does not match"):
            with pager.use("line"):
                pass
        with pager.use("ball"):                               # the other expert goes on
            pass
        m = pager.metrics()
    assert m["refused_load_failed"] == 1 and m["shells_dropped"] >= 1


def test_check_catches_weights_that_come_back_different(box, tmp_path, monkeypatch):
    """The shell round trip in `export check` compares outputs: weights changed on disk
    while paged out (after the sha256 pass) are caught, naming the expert."""
    import shutil

    from spikebox.export import box_check
    from spikebox.runtime.box import BoxError
    copy = tmp_path / "checked"
    shutil.copytree(box, copy)
    real_populate = box_check.WeightPages.populate

    def populate_after_a_write(pages):
        raw = bytearray(pages.path.read_bytes())
        raw[len(raw) // 3: len(raw) // 3 + 4096] = bytes(4096)      # in place: same inode
        with open(pages.path, "r+b") as f:
            f.write(raw)
        return real_populate(pages)

    monkeypatch.setattr(box_check.WeightPages, "populate", populate_after_a_write)
    with pytest.raises(BoxError, match="expert 'line' output 'probs' changed after its weights"):
        list(box_check.check_box(copy))


def test_a_symlink_in_a_box_is_refused_and_nothing_outside_is_touched(box, assets, tmp_path,
                                                                      capsys):
    """The cleanup of export add/remove used to follow a symlinked folder and delete
    folders outside the box that the manifest did not name, even when the add was refused."""
    import shutil
    d, frames = assets
    copy = tmp_path / "copy"
    shutil.copytree(box, copy)
    outside = tmp_path / "outside"                        # examples/ now leads out of the box,
    shutil.move(copy / "examples", outside)               # to a folder that also holds a
    (outside / "precious").mkdir()                        # folder the manifest does not name
    (outside / "precious" / "data.txt").write_text("keep me")
    (copy / "examples").symlink_to(outside)
    before_outside = snapshot(outside)
    for argv in (["export", "add", str(copy), "sign", str(d / "mlp.onnx"), "--examples",
                  str(frames["sign"])], ["export", "remove", str(copy), "ball"]):
        before = snapshot(copy)
        assert main(argv) == 1
        assert "symlink" in capsys.readouterr().err
        assert snapshot(copy) == before
    assert snapshot(outside) == before_outside
    assert (outside / "precious" / "data.txt").read_text() == "keep me"


def test_check_reports_what_the_manifest_does_not_list_and_the_next_change_sweeps_it(
        box, assets, tmp_path, capsys):
    import shutil
    d, frames = assets
    copy = tmp_path / "copy"
    shutil.copytree(box, copy)
    (copy / "experts" / "line-00000000").mkdir()           # an interrupted add's leftovers
    (copy / "experts" / "line-00000000" / "model.onnx").write_bytes(b"half")
    (copy / "stray.onnx").write_bytes(b"slipped in")
    b = Box.open(copy)
    assert b.unlisted() == ["experts/line-00000000", "stray.onnx"]
    assert main(["export", "check", str(copy)]) == 1
    err = capsys.readouterr().err
    assert "experts/line-00000000" in err and "stray.onnx" in err and "never loaded" in err
    assert main(["export", "remove", str(copy), "ball"]) == 0
    assert Box.open(copy).unlisted() == []
    assert main(["export", "check", str(copy)]) == 0


def test_a_model_whose_test_run_would_take_the_machines_memory_is_refused(box, tmp_path,
                                                                         capsys):
    """A 10 GB ConstantOfShape in a few hundred bytes: the test run happens in a child
    whose address space is limited, so it is refused with what was too big, this process
    stays small, and nothing is left in the box."""
    import resource
    from spikebox.export.testmodels import memory_bomb
    onnx.save(memory_bomb(50_000), str(tmp_path / "bomb.onnx"))
    before = snapshot(box)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert main(["export", "add", str(box), "bomb", str(tmp_path / "bomb.onnx"), "--examples",
                 str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "needs more than 4.0 GB of memory" in err and "too big for a robot" in err
    assert snapshot(box) == before                      # no staged folder left behind
    # this process did not grow by the tensor (10 GB); a generous bound on the noise
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 500 * 1024


def test_keep_examples_stores_few_while_all_train(assets, tmp_path):
    """--keep-examples N: the box holds N of the example frames (and of the background),
    evenly spread; the units are the ones all the frames train, the same as without it."""
    d, frames = assets
    boxes = {}
    for keep in (None, 5):
        box = tmp_path / f"keep{keep}"
        assert main(["export", "init", str(box)]) == 0
        extra = [] if keep is None else ["--keep-examples", str(keep)]
        assert main(["export", "add", str(box), "line", str(d / "mlp.onnx"), "--examples",
                     str(frames["line"]), "--background", str(frames["background"]), *extra]) == 0
        boxes[keep] = Box.open(box)
    given = len(list(frames["line"].glob("*.png")))
    for keep, b in boxes.items():
        stored = {k: len(list((b.path / rel).glob("*.png"))) for k, rel in b.manifest.examples.items()}
        assert stored == ({"line": given, "_background": given} if keep is None
                          else {"line": 5, "_background": 5})
    (net_all, _), (net_few, _) = boxes[None].load_activator(), boxes[5].load_activator()
    assert net_all == net_few
    with pytest.raises(ValueError, match="keep_examples"):
        from spikebox.export.box_edit import AddOptions
        AddOptions(keep_examples=0)


def test_example_frames_are_read_as_stills():
    """Each example is encoded from a fresh encoder state: its event channel is silent, so the
    order of the frames (and where they were taken) cannot teach the units anything."""
    from spikebox.export.box_edit import _encode
    from spikebox.runtime.encoder import Encoder, EncoderConfig
    enc = Encoder(EncoderConfig(static_features="cues"))
    a = np.full((120, 160, 3), 60, np.uint8)
    b = np.full((120, 160, 3), 220, np.uint8)
    spikes = _encode(enc, [a, b, a])
    events = slice(0, enc.channel_slices["event_off"].stop)
    assert not spikes[:, :, events].any()
    assert (spikes[0] == spikes[2]).all()
