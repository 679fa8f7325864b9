"""`spikebox sim --record / --sheet` write what they say; `spikebox bench sim` has its keys."""
import json
import subprocess
import sys

import cv2
import pytest

from spikebox.cli import main
from spikebox.runtime.sim.record import read_truth
from spikebox.runtime.source import ClipSource


def test_sim_help_opens_with_an_example():
    out = subprocess.run([sys.executable, "-m", "spikebox", "sim", "--help"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0
    assert out.stdout.split("\n\n", 1)[1].startswith("example:  spikebox sim --record")


def test_record_writes_frames_and_one_truth_line_each(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["sim", "--record", str(out), "--seconds", "3", "--seed", "2",
                 "--course", "short", "--size", "96x72", "--fps", "10"]) == 0
    assert "recorded 30 frames" in capsys.readouterr().out
    meta = json.loads((out / "meta.json").read_text())
    assert meta["complete"] and meta["frames"] == 30 and meta["course"] == "short"
    lines = read_truth(out)
    assert [line["frame_id"] for line in lines] == list(range(30))
    assert [line["t_s"] for line in lines] == pytest.approx([k / 10 for k in range(30)])
    for line in lines:
        image = cv2.imread(str(out / line["file"]))
        assert image.shape == (72, 96, 3)
    assert lines[0]["zone_kind"] == "line" and lines[0]["skill"] == "line"
    assert lines[-1]["x_mm"] != lines[0]["x_mm"]                 # the autopilot drove
    with ClipSource(out, realtime=False) as clip:                 # the folder replays as a clip
        assert clip.read_latest(None).image.shape == (72, 96, 3)
    assert main(["sim", "--record", str(out), "--seconds", "1"]) == 1   # not over a recording
    assert "is not empty" in capsys.readouterr().err


def test_an_interrupted_recording_leaves_readable_files(tmp_path):
    out = tmp_path / "cut"
    out.mkdir()
    from spikebox.runtime.sim.record import record

    class Stop(Exception):
        pass

    def stop_at_100(done, total):
        raise Stop()
    with pytest.raises(Stop):
        record(out, 10.0, seed=0, fps=20.0, progress=stop_at_100)
    with open(out / "truth.jsonl", "a") as f:     # as if killed in the middle of a line
        f.write('{"frame_id": 100, "t_s"')
    lines = read_truth(out)
    assert len(lines) == 100 and all((out / line["file"]).is_file() for line in lines)
    assert not json.loads((out / "meta.json").read_text())["complete"]
    assert not list(out.glob(".*.tmp"))


def test_sheet_shows_every_zone_labelled(tmp_path, capsys):
    sheet = tmp_path / "sheet.png"
    assert main(["sim", "--sheet", str(sheet), "--size", "80x60"]) == 0
    out = capsys.readouterr().out
    for look in ("fixed look (evaluation)", "domain randomisation (training)"):
        assert f"{look}: open, line, sign, ball, obstacle, dock" in out
    image = cv2.imread(str(sheet))
    assert image.shape[1] == 3 * 80 * 2                  # three tiles a row, shown x2
    assert image.shape[0] == 2 * (30 + 2 * (60 * 2 + 40))   # two looks: a header, two rows each


def test_sim_without_an_action_says_what_to_give(capsys):
    assert main(["sim"]) == 2
    assert "--record DIR --seconds S, or --sheet FILE.png" in capsys.readouterr().err
    assert main(["sim", "--record", "x"]) == 2
    assert main(["sim", "--sheet", "x.png", "--course", "maze"]) == 2
    assert "no course 'maze'" in capsys.readouterr().err


def test_bench_sim_reports_its_keys():
    from spikebox.runtime.bench.sim import run_sim_bench
    result = run_sim_bench(frames=12)
    for key in ("fps_160x120", "fps_640x480", "fps_160x120_randomized", "ms_p50_160x120",
                "ms_p95_640x480", "targets", "targets_met"):
        assert key in result
    assert result["targets"] == {"fps_160x120": ">= 200.0"} and result["opencv_threads"] == 1
    json.dumps(result)
