"""Experts the camera never wakes (issue #10 §4.1): `export add` without --examples gives an
expert 0 activator units, no example frames and `woken_by: "name"`; the activator holds units
for exactly the experts the camera wakes (none at all while there are none), and every
reader of the box (the robot's Box, check, compile, remove, inspect, the pager) copes."""
import json
import shutil
import subprocess
import sys

import pytest

from boxkit import snapshot, write_assets
from spikebox.cli import main
from spikebox.export.testmodels import mlp, small_convnet
from spikebox.runtime.box import Box, BoxError
from spikebox.runtime.manifest import RUN_UNWOKEN

NOT_WOKEN = f"not woken by the camera: {RUN_UNWOKEN}"


def _cli(*argv) -> subprocess.CompletedProcess:
    """The real command line, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "spikebox", *argv], capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    d = tmp_path_factory.mktemp("assets")
    frames = write_assets(d, {"mlp": mlp(), "conv": small_convnet(60_000)},
                          ("line", "background"), runs=2)
    return d, frames


@pytest.fixture(scope="module")
def pinned_box(assets, tmp_path_factory):
    """A box whose first and only expert was added without --examples (nor --background)."""
    d, _ = assets
    box = tmp_path_factory.mktemp("boxes") / "pinned"
    assert main(["export", "init", str(box)]) == 0
    done = _cli("export", "add", str(box), "avoid", str(d / "mlp.onnx"))
    assert done.returncode == 0, done.stderr
    assert "--background" not in done.stderr
    return box


@pytest.fixture(scope="module")
def mixed_box(pinned_box, assets, tmp_path_factory):
    """pinned_box, then an expert the camera wakes, then another it never wakes."""
    d, frames = assets
    box = tmp_path_factory.mktemp("boxes") / "mixed"
    shutil.copytree(pinned_box, box)
    assert main(["export", "add", str(box), "line", str(d / "conv.onnx"), "--examples",
                 str(frames["line"]), "--background", str(frames["background"])]) == 0
    done = _cli("export", "add", str(box), "telemetry", str(d / "mlp.onnx"))
    assert done.returncode == 0, done.stderr
    return box


def test_first_expert_without_examples_has_no_units_no_examples_and_no_activator(pinned_box):
    box = Box.open(pinned_box)
    entry = box.experts["avoid"]
    assert (entry.woken_by, entry.activator_units, entry.camera_woken) == ("name", 0, False)
    assert box.manifest.activator is None and box.woken_by_camera == []
    assert box.manifest.examples == {}
    assert not (pinned_box / "examples").exists()
    assert not list(pinned_box.glob("activator-*"))
    raw = json.loads((pinned_box / "manifest.json").read_text())
    assert raw["experts"]["avoid"]["woken_by"] == "name"
    with pytest.raises(BoxError, match="none of its 1 experts is woken by the camera"):
        box.load_activator()


def test_a_later_camera_expert_gets_the_only_units_and_a_later_pinned_one_none(mixed_box):
    box = Box.open(mixed_box)
    assert box.woken_by_camera == ["line"]
    assert [box.experts[n].woken_by for n in ("avoid", "line", "telemetry")] == \
        ["name", "activator", "name"]
    network, _ = box.load_activator()
    assert network.expert_names == ["line"]
    assert box.experts["line"].activator_units == network.n_units == 4
    assert set(box.manifest.examples) == {"line", "_background"}
    assert box.verify() > 0


def test_inspect_names_what_wakes_each_expert(pinned_box, mixed_box):
    done = _cli("inspect", str(mixed_box))
    assert done.returncode == 0, done.stderr
    blocks = {b.split()[0]: b for b in done.stdout.split("\n\n  ")[1:]}
    assert f"woken by   {NOT_WOKEN}" in blocks["avoid"]
    assert "woken by   activator, 4 units" in blocks["line"]
    assert f"woken by   {NOT_WOKEN}" in blocks["telemetry"]
    done = _cli("inspect", str(pinned_box))
    assert NOT_WOKEN in done.stdout and "activator: none" in done.stdout


def test_check_passes_and_says_which_experts_the_camera_never_wakes(pinned_box, mixed_box,
                                                                    capsys):
    assert main(["export", "check", str(pinned_box)]) == 0
    out = capsys.readouterr().out
    assert "expert avoid: loads and runs" in out
    assert f"activator: none; 1 not woken by the camera: avoid (each: {RUN_UNWOKEN})" in out
    assert main(["export", "check", str(mixed_box)]) == 0
    out = capsys.readouterr().out
    assert ("activator: 4 units for 1 experts; 2 not woken by the camera: avoid, telemetry "
            f"(each: {RUN_UNWOKEN})") in out


def test_compile_runs_only_the_camera_experts_and_says_when_there_are_none(pinned_box,
                                                                          mixed_box, capsys):
    assert main(["export", "compile", str(pinned_box)]) == 0
    assert "no activator (no expert is woken by the camera); nothing to compile" in \
        capsys.readouterr().out
    assert main(["export", "compile", str(mixed_box)]) == 0
    captured = capsys.readouterr()
    assert "(4 units" in captured.out
    assert "example frames of 'line'" in captured.err
    assert "avoid" not in captured.err and "telemetry" not in captured.err


def test_remove_an_expert_without_units_leaves_the_activator_alone(mixed_box, tmp_path):
    box = tmp_path / "box"
    shutil.copytree(mixed_box, box)
    activator = Box.open(box).manifest.activator
    before = snapshot(box / activator)
    assert main(["export", "remove", str(box), "telemetry"]) == 0
    b = Box.open(box)
    assert list(b.experts) == ["avoid", "line"]
    assert b.manifest.activator == activator and snapshot(box / activator) == before
    assert not any(p.name.startswith("telemetry") for p in (box / "experts").iterdir())
    # the last expert the camera wakes: the activator goes, the pinned one stays usable
    assert main(["export", "remove", str(box), "line"]) == 0
    b = Box.open(box)
    assert list(b.experts) == ["avoid"] and b.manifest.activator is None
    assert not list(box.glob("activator-*")) and b.unlisted() == []
    assert main(["export", "check", str(box)]) == 0
    assert main(["export", "remove", str(box), "avoid"]) == 0
    assert Box.open(box).experts == {}


def test_the_pager_pins_an_expert_the_camera_never_wakes(mixed_box):
    from spikebox.runtime.experts.box_loader import BoxLoader
    from spikebox.runtime.experts.session import zero_inputs
    from spikebox.runtime.pager import Pager, PagerConfig
    loader = BoxLoader(Box.open(mixed_box))
    fp = loader.footprints()
    assert set(fp) == {"avoid", "line", "telemetry"}
    config = PagerConfig(sum(fp.values()), pinned=("avoid",), prefetch="off")
    with Pager(config, loader, fp) as pager:
        assert "avoid" in pager.resident()           # loaded at start, before any frame
        pager.observe(["line"], {"line": 1.0})       # the activator only ever names 'line'
        with pager.use("telemetry") as session:      # woken by name
            assert session.run(None, zero_inputs(session))[0].shape == (1, 4)
        m = pager.metrics()
    assert m["pinned"] == ["avoid"]


def test_background_without_examples_is_refused_naming_the_flag(assets, tmp_path):
    d, frames = assets
    box = tmp_path / "box"
    assert main(["export", "init", str(box)]) == 0
    before = snapshot(box)
    done = _cli("export", "add", str(box), "avoid", str(d / "mlp.onnx"), "--background",
                str(frames["background"]))
    assert done.returncode == 1
    assert "--background" in done.stderr and "give examples too" in done.stderr
    assert snapshot(box) == before


def _entry_with(pinned_box, tmp_path, **changes):
    copy = tmp_path / "copy"
    shutil.copytree(pinned_box, copy)
    data = json.loads((copy / "manifest.json").read_text())
    data["experts"]["avoid"].update(changes)
    (copy / "manifest.json").write_text(json.dumps(data))
    return copy


@pytest.mark.parametrize("changes, words", [
    ({"activator_units": 4}, "experts.avoid.activator_units is 4; expected 0 (woken_by is 'name'"),
    ({"woken_by": "activator"}, "experts.avoid.activator_units is 0; expected a number >= 1"),
    ({"woken_by": "camera"}, "experts.avoid.woken_by is 'camera'; expected 'activator' or 'name'"),
    ({"woken_by": "activator", "activator_units": 4},
     "activator is None; expected an activator folder: expert 'avoid' is woken by"),
])
def test_a_manifest_whose_wake_does_not_add_up_is_refused(pinned_box, tmp_path, changes, words):
    with pytest.raises(BoxError) as e:
        Box.open(_entry_with(pinned_box, tmp_path, **changes))
    assert words in str(e.value)


def test_old_manifests_without_woken_by_mean_the_activator(pinned_box, tmp_path, capsys):
    """Boxes written before woken_by: every expert had units (the bundled demo box, without it)."""
    from boxkit import old_demo_box
    demo = Box.open(old_demo_box(tmp_path))
    assert all(e.woken_by is None for e in demo.experts.values())
    assert demo.woken_by_camera == list(demo.experts) and len(demo.experts) == 5
    network, _ = demo.load_activator()
    assert sorted(network.expert_names) == sorted(demo.experts)
    assert main(["inspect", str(demo.path)]) == 0
    assert capsys.readouterr().out.count("woken by   activator, 4 units") == 5
    # and the field left out of a box without units reads as the camera never waking it
    copy = _entry_with(pinned_box, tmp_path)
    data = json.loads((copy / "manifest.json").read_text())
    del data["experts"]["avoid"]["woken_by"]
    (copy / "manifest.json").write_text(json.dumps(data))
    assert Box.open(copy).experts["avoid"].camera_woken is False
