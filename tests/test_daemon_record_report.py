"""The run report (issue #12 §2): report.json and the plots of a recorded sim run, read back;
the robot's path drawn where it drove; a run from a clip has no path and says why."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from spikebox.runtime.daemon.record import FRAMES_DIR, Recorder, read_recording
from spikebox.runtime.daemon.report import REPORT, write_report
from spikebox.runtime.daemon.report_plots import SIZE_PX, mm_to_px, plot_path
from spikebox.runtime.daemon.stages import STAGE_NAMES
from spikebox.runtime.sim.course import build_course
from spikebox.runtime.source import ClipSource

from test_daemon_record import run_daemon


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    summary = run_daemon([Recorder(folder / "recording")])
    report = write_report(folder / "recording", folder / "report")
    return dict(folder=folder, summary=summary, report=report,
                recording=read_recording(folder / "recording"))


def test_report_json_holds_the_figures_with_sane_values(sim_run):
    report, summary = sim_run["report"], sim_run["summary"]
    on_disk = json.loads((sim_run["folder"] / "report" / REPORT).read_text())
    assert on_disk == report
    assert report["finished"] and report["complete"] and report["frames_dropped"] == 0
    assert report["frames"] == summary["frames"] > 30
    assert 1 < report["fps"] < 100
    assert 0 < report["latency_ms_p50"] <= report["latency_ms_p99"] < 2000
    assert report["latency_samples"] > 10
    assert report["control_cycles"] == summary["control_cycles"]
    assert report["stalled_frames"] == summary["stalled_frames"] >= 0
    assert report["page_ins"] == summary["page_ins"] >= 0
    assert sum(report["paged_in"].values()) >= 1
    assert set(report["missed_deadlines"]) == set(STAGE_NAMES)
    assert all(isinstance(v, int) and v >= 0 for v in report["missed_deadlines"].values())
    assert sum(report["frames_fired"].values()) > 0
    sim = report["sim"]
    assert sim["course"] == "tour" and sim["collisions"] >= 0
    assert 0 <= sim["progress_waypoints"] <= sim["route_waypoints"]
    assert sim["zones_visited"][0] == "open" and sim["distance_mm"] > 100
    assert report["summary"]["frames"] == summary["frames"]


def test_every_plot_is_a_real_image_of_its_size(sim_run):
    plots = sim_run["report"]["plots"]
    assert set(plots) == {"raster", "residency", "latency", "path"}
    for name, plot in plots.items():
        image = cv2.imread(str(sim_run["folder"] / "report" / plot["file"]))
        assert image is not None, f"{plot['file']} does not decode"
        w, h = SIZE_PX[name]
        assert image.shape == (h, w, 3) and plot["size_px"] == [w, h]
        assert image.std() > 10, f"{plot['file']} is blank"


def test_the_path_is_drawn_where_the_robot_drove(sim_run, tmp_path):
    geometry = sim_run["report"]["plots"]["path"]
    truths = [f.truth for f in sim_run["recording"].frames]
    course = build_course("tour", 0)
    with_path = cv2.imread(str(sim_run["folder"] / "report" / geometry["file"]))
    plot_path(course, [], tmp_path / "map.png")      # the same map, nobody on it
    map_only = cv2.imread(str(tmp_path / "map.png"))
    changed = (with_path != map_only).any(axis=2)
    x0, y0, x1, y1 = (int(round(v)) for v in geometry["axes_px"])
    inside = np.zeros_like(changed)
    inside[y0 + 2:y1 - 2, x0 + 2:x1 - 2] = True
    ys, xs = np.nonzero(changed & inside)
    assert len(xs) > 50, "no path drawn on the map"
    path_px = np.array([mm_to_px(geometry, t["x_mm"], t["y_mm"]) for t in truths])
    # Each place the robot was is drawn on ...
    near_drawn = [changed[max(0, round(v) - 2):round(v) + 3, max(0, round(u) - 2):round(u) + 3].any()
                  for u, v in path_px]
    assert np.mean(near_drawn) > 0.95
    # ... and what changed on the map is where the robot was (its line and markers), no further.
    d = np.hypot(xs[:, None] - path_px[None, :, 0], ys[:, None] - path_px[None, :, 1]).min(axis=1)
    assert np.mean(d <= 10) > 0.99, f"{np.mean(d > 10):.1%} of the drawn pixels are off the path"
    # The start is where the course puts the robot.
    sx, sy = mm_to_px(geometry, *course.start[:2])
    assert np.hypot(sx - path_px[0, 0], sy - path_px[0, 1]) < 8


def test_a_report_of_a_killed_run_has_what_was_written(sim_run, tmp_path):
    killed = Path(shutil.copytree(sim_run["folder"] / "recording", tmp_path / "killed"))
    meta = json.loads((killed / "meta.json").read_text())
    for key in ("summary", "sim_end", "ended_by", "records", "dropped"):
        meta.pop(key, None)
    meta.update(finished=False, complete=False)
    (killed / "meta.json").write_text(json.dumps(meta))
    report = write_report(killed)
    assert not report["finished"] and report["frames"] == sim_run["report"]["frames"]
    assert report["stalled_frames"] is None and report["sim"]["progress_waypoints"] is None
    assert report["latency_ms_p99"] == sim_run["report"]["latency_ms_p99"]
    assert (killed / "path.png").is_file()


def test_the_daemon_fed_a_recording_as_a_clip_sees_the_same_spikes_and_has_no_path(
        sim_run, tmp_path):
    """The same pipeline, the whole daemon: the recorded frames, stepped one a read, reach
    the activator in order; its spikes equal the recorded ones. A clip has no ground truth,
    so the report draws no path, and says why."""
    recorded = sim_run["recording"]
    source = ClipSource(recorded.folder / FRAMES_DIR, realtime=False)
    source.open()
    try:
        run_daemon([Recorder(tmp_path / "clip", frames=False)], source=source, seconds=60.0)
    finally:
        source.close()
    again = read_recording(tmp_path / "clip")
    assert again.meta["ended_by"] == "source ended" and again.meta["complete"]
    assert [f.image_sha256 for f in again.frames] == [f.image_sha256 for f in recorded.frames]
    assert [f.spikes for f in again.frames] == [f.spikes for f in recorded.frames]
    assert [f.fired for f in again.frames] == [f.fired for f in recorded.frames]
    report = write_report(tmp_path / "clip")
    assert report["sim"] is None and "not the sim" in report["plots"]["path"]["skipped"]
    assert not (tmp_path / "clip" / "path.png").exists()
    assert cv2.imread(str(tmp_path / "clip" / "raster.png")).shape[:2] == SIZE_PX["raster"][::-1]
