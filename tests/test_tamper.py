"""The trust rules under attack (export/tamper.py): every tampered copy of a real box is
refused by the robot's reader and by `export check`, and nothing outside the box changes."""
import pytest

from boxkit import write_assets
from spikebox.cli import main
from spikebox.export.tamper import CASES, tamper_suite
from spikebox.export.testmodels import mlp, mobile_convnet


@pytest.fixture(scope="module")
def good_box(tmp_path_factory):
    d = tmp_path_factory.mktemp("assets")
    frames = write_assets(d, {"conv": mobile_convnet(1), "mlp": mlp()},
                          ("line", "ball", "background"), runs=4)
    box = tmp_path_factory.mktemp("boxes") / "good"
    assert main(["export", "init", str(box)]) == 0
    assert main(["export", "add", str(box), "line", str(d / "conv.onnx"), "--examples",
                 str(frames["line"]), "--background", str(frames["background"])]) == 0
    assert main(["export", "add", str(box), "ball", str(d / "mlp.onnx"), "--examples",
                 str(frames["ball"])]) == 0
    assert main(["export", "check", str(box)]) == 0
    return box


def test_every_tamper_class_is_refused_and_nothing_outside_is_touched(good_box, tmp_path):
    report = tamper_suite(good_box, tmp_path)
    assert report.cases == list(CASES) and len(report.cases) >= 13
    assert report.accepted == [], {c: report.refusals[c] for c in report.accepted}
    assert report.outside_touched == []
    for case, why in report.refusals.items():
        assert why, f"{case}: refused without a message"
    # the refusals say what is wrong, not a traceback
    assert "sha256" in report.refusals["listed_file_changed"]
    assert "external data" in report.refusals["external_data_outside"]
    assert "does not list" in report.refusals["unlisted_file_added"]
