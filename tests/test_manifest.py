"""A damaged manifest is refused once, on load, with one BoxError naming the key, the bad
value and the fix: from `spikebox export check`, `spikebox inspect` and the robot alike
(issue #9 §3). A negative footprint used to pass `check` and then make the pager refuse
the whole box; missing keys and wrong types were KeyError/TypeError tracebacks."""
import json
import re
import shutil
import subprocess
import sys

import pytest

from boxkit import write_assets
from spikebox.cli import main
from spikebox.export.testmodels import mlp
from spikebox.runtime.box import Box, BoxError

FIX = "restore the box from its source, or export it again"


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    d = tmp_path_factory.mktemp("assets")
    frames = write_assets(d, {"mlp": mlp()}, ("line", "background"), runs=2)
    box = tmp_path_factory.mktemp("boxes") / "skills"
    assert main(["export", "init", str(box)]) == 0
    assert main(["export", "add", str(box), "line", str(d / "mlp.onnx"), "--examples",
                 str(frames["line"]), "--background", str(frames["background"]),
                 "--metric", "steering_mae=0.05"]) == 0
    return box


def _set(*path, value):
    def corrupt(m):
        for key in path[:-1]:
            m = m[key]
        m[path[-1]] = value
    return corrupt


def _delete(*path):
    def corrupt(m):
        for key in path[:-1]:
            m = m[key]
        del m[path[-1]]
    return corrupt


def _experts_as_a_list(m):
    m["experts"] = list(m["experts"].values())


def _unhashed_model(m):
    m["experts"]["line"]["files"]["optimized"] = "experts/elsewhere/model.paged.onnx"


# (the key the message must name, how the manifest is damaged, how the bad value is shown)
CORRUPTIONS = [
    ("experts.line.footprint_bytes", _set("experts", "line", "footprint_bytes", value=-4096),
     "is -4096"),
    ("experts.line.footprint_bytes", _delete("experts", "line", "footprint_bytes"), "is missing"),
    ("experts.line.shell_bytes", _set("experts", "line", "shell_bytes", value=-1), "is -1"),
    ("experts.line.load_ms", _set("experts", "line", "load_ms", value="fast"), "is 'fast'"),
    ("experts.line.priority", _set("experts", "line", "priority", value=True), "is True"),
    ("experts.line.files", _delete("experts", "line", "files"), "is missing"),
    ("experts.line.files.optimized", _unhashed_model, "is 'experts/elsewhere/model.paged.onnx'"),
    ("experts.line.inputs[0].shape", _set("experts", "line", "inputs", 0, "shape", value="1x64"),
     "is '1x64'"),
    ("experts.line.metrics.Bad-Name", _set("experts", "line", "metrics", value={"Bad-Name": 1.0}),
     "is 'Bad-Name'"),
    ("experts.line.metrics.steering_mae", _set("experts", "line", "metrics",
                                               value={"steering_mae": "low"}), "is 'low'"),
    ("experts.line.name", _set("experts", "line", "name", value="ball"), "is 'ball'"),
    ("experts", _experts_as_a_list, "is [{"),
    ("name", _delete("name"), "is missing"),
    ("activator", _set("activator", value="../elsewhere"), "is '../elsewhere'"),
    ("encoder.timesteps", _set("encoder", "timesteps", value=0), "encoder.timesteps = 0"),
    ("schema_version", _set("schema_version", value=True), "schema_version True"),
]


@pytest.fixture
def damaged(box, tmp_path, request):
    key, corrupt, shown = request.param
    copy = tmp_path / "damaged"
    shutil.copytree(box, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    corrupt(manifest)
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return copy, key, shown


@pytest.mark.parametrize("damaged", CORRUPTIONS, indirect=True,
                         ids=[f"{i}-{key}" for i, (key, _, _) in enumerate(CORRUPTIONS)])
def test_a_damaged_manifest_is_one_error_naming_the_key(damaged, capsys):
    copy, key, shown = damaged
    with pytest.raises(BoxError) as refused:           # what the robot's BoxLoader opens with
        Box.open(copy)
    message = str(refused.value)
    assert message.startswith(f"{copy / 'manifest.json'}: ") and key in message
    assert shown in message
    assert FIX in message or "export it again" in message
    for argv, prefix in ((["export", "check", str(copy)], "spikebox export check: refused: "),
                         (["inspect", str(copy)], "spikebox inspect: ")):
        assert main(argv) == 1
        out = capsys.readouterr()
        assert out.err == f"{prefix}{message}\n" and out.out == ""


def test_no_traceback_escapes_the_commands(box, tmp_path):
    copy = tmp_path / "negative"
    shutil.copytree(box, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["experts"]["line"]["footprint_bytes"] = -4096
    (copy / "manifest.json").write_text(json.dumps(manifest))
    for command in (["export", "check"], ["inspect"]):
        run = subprocess.run([sys.executable, "-m", "spikebox", *command, str(copy)],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 1
        assert "Traceback" not in run.stderr and len(run.stderr.splitlines()) == 1
        assert re.search(r"experts\.line\.footprint_bytes is -4096; expected a number >= 1",
                         run.stderr)


def test_export_writes_only_what_the_robot_reads(box):
    """The writer goes through the same schema: a manifest export wrote reads back equal."""
    b = Box.open(box)
    assert json.loads((box / "manifest.json").read_text()) == b.manifest.to_json()


def test_held_out_metrics_are_kept_and_shown(box, capsys):
    """`export add --metric NAME=VALUE` (tools/recipes/) lands in the entry; inspect shows it."""
    assert Box.open(box).experts["line"].metrics == {"steering_mae": 0.05}
    assert main(["inspect", str(box)]) == 0
    assert "held-out   steering_mae 0.05" in capsys.readouterr().out
    add = ["export", "add", str(box), "x", "m.onnx", "--examples", ".", "--metric"]
    for bad in ("steering_mae", "steering_mae=low"):
        with pytest.raises(SystemExit):                   # argparse: usage, exit 2
            main(add + [bad])
        assert "give NAME=NUMBER" in capsys.readouterr().err
    assert main(add + ["Bad=1"]) == 1
    assert "a metric name" in capsys.readouterr().err
