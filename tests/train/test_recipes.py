"""Each finished demo-expert recipe (tools/recipes/) in its --smoke mode, in the training env.

A smoke run renders a few world frames, trains a few steps and exports through
`spikebox export add` into a temporary box: the box must open, hold the expert
with its image preprocessing, and carry the held-out metric the recipe measured.
The full runs (`make experts`) are what ships in models/.
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("torch")

from spikebox.runtime.box import Box  # noqa: E402

RECIPES = Path(__file__).resolve().parents[2] / "tools" / "recipes"

# recipe script -> (expert name, the held-out metric it must record, its input [w, h])
FINISHED = {
    "line_follow.py": ("line_follow", "steering_mae", [64, 48]),
    "sign_read.py": ("sign_read", "accuracy", [128, 96]),      # words read at 128x96
    "ball_find.py": ("ball_find", "bearing_mae_deg", [64, 48]),
    "obstacle_avoid.py": ("obstacle_avoid", "steering_mae", [64, 48]),
    "dock.py": ("dock", "off_axis_mae_deg", [64, 48]),
    "exit_find.py": ("exit_find", "bearing_mae_deg", [64, 48]),
}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("script", sorted(FINISHED))
def test_recipe_smoke_builds_a_box_with_its_metric(script, tmp_path):
    name, metric, size = FINISHED[script]
    box_path = tmp_path / "smoke.box"
    run = subprocess.run([sys.executable, str(RECIPES / script), "--box", str(box_path), "--smoke"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    box = Box.open(box_path)
    box.verify()
    entry = box.experts[name]
    assert entry.metrics is not None and metric in entry.metrics
    assert entry.metrics[metric] >= 0 and entry.metrics["heldout_frames"] > 0
    assert entry.preprocessing["size"] == size
    assert tuple(entry.inputs[0].shape) == (1, 3, size[1], size[0])
    assert entry.outputs[0].meaning


def test_every_recipe_is_smoke_tested():
    """A new recipe joins FINISHED (and `make experts`) or this fails."""
    scripts = {p.name for p in RECIPES.glob("*.py")} - {"common.py", "frames.py", "nets.py", "rewake.py",
                                                          "ball_eval.py", "dock_eval.py",
                                                          "dock_trials.py", "course_trials.py"}
    assert scripts == set(FINISHED)


def _counts(line: str, key: str) -> tuple[int, int]:
    return tuple(map(int, line.split(f"{key} ")[1].split(" ")[0].split("/")))


def _mean_n(line: str, key: str) -> tuple[float, int]:
    """`key MEAN (n=N)` of an eval line, as (MEAN, N)."""
    mean, n = line.split(f"{key} ")[1].split(" ")[:2]
    return float(mean), int(n.strip("(n=)"))


@pytest.mark.timeout(600)
@pytest.mark.parametrize("script, sets", [
    ("ball_eval.py", ["signs_near:", "drives:"]),
    ("dock_eval.py", ["dock_near:", "drives:"]),
])
def test_the_eval_scripts_count_on_held_out_frames_for_the_demo_box(script, sets):
    run = subprocess.run([sys.executable, str(RECIPES / script), "--smoke",
                          str(RECIPES.parents[1] / "models" / "demo.box")],
                         capture_output=True, text=True, timeout=600, cwd=RECIPES)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert [line.split()[1] for line in lines] == sets
    if script == "ball_eval.py":                   # balls seen that are not there
        for line in lines:
            said, frames = _counts(line, "phantom")
            assert 0 <= said <= frames
        assert _counts(lines[0], "phantom")[1] > 0
        return
    # The dock: its distance error near the marker, and its off-axis error where it has one.
    error_m, near = _mean_n(lines[0], "near_distance_mae_m")
    assert near > 0 and 0 <= error_m < 1.0
    if "off_axis_mae_deg" in lines[0]:
        error_deg, seen = _mean_n(lines[0], "off_axis_mae_deg")
        assert seen >= near and 0 <= error_deg < 90
        assert _mean_n(lines[0], "near_off_axis_mae_deg")[1] == near


@pytest.mark.timeout(600)
def test_dock_trials_drive_the_demo_boxs_dock_in_the_sim_and_count():
    """Two short trials: the arbiter drives every cycle of each (its reasons counted) until
    docked or out of time; nothing else is asserted of a few seconds' driving."""
    run = subprocess.run([sys.executable, str(RECIPES / "dock_trials.py"), "--trials", "2",
                          "--seconds", "3", "--json", str(RECIPES.parents[1] / "models" / "demo.box")],
                         capture_output=True, text=True, timeout=600, cwd=RECIPES)
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout.splitlines()[-1])
    assert figures["trials"] == 2 and 0 <= figures["docked"] <= 2
    cycles = sum(figures["reasons"].values())
    assert 0 < cycles <= 2 * 3 * 30
    assert (figures["median_s"] is None) == (figures["docked"] == 0)


@pytest.mark.timeout(600)
def test_course_trials_run_the_demo_boxs_whole_chain_on_the_sims_clock_and_count():
    """Two short trials of the whole chain: every frame gets its control cycles (the arbiter's
    reasons counted), the robot moves off the start, and the box's figures add up the trials'."""
    run = subprocess.run([sys.executable, str(RECIPES / "course_trials.py"), "--trials", "2",
                          "--seconds", "3", "--control-per-frame", "2", "--each", "--json",
                          str(RECIPES.parents[1] / "models" / "demo.box")],
                         capture_output=True, text=True, timeout=600, cwd=RECIPES)
    assert run.returncode == 0, run.stderr[-3000:]
    *trials, figures = [json.loads(line) for line in run.stdout.splitlines()]
    assert [t["seed"] for t in trials] == [2001, 2002]
    assert figures["trials"] == 2 and figures["completed"] == 0 and figures["median_s"] is None
    for t in trials:
        assert t["frames"] == 3 * 30 and t["cycles"] == t["frames"] * 2
        assert sum(t["reasons"].values()) == t["cycles"]
        assert t["zones_visited"][0] == "open" and t["zone_at_end"][1] == t["zones_visited"][-1]
        assert t["distance_mm"] > 50                     # the firmware moved the robot
        assert t["completed"] is False and t["seconds"] is None
    assert figures["cycles"] == sum(t["cycles"] for t in trials)
    assert figures["collisions"] == sum(t["collisions"] for t in trials)
    assert figures["reasons"] == dict(sum((Counter(t["reasons"]) for t in trials),
                                          Counter()).most_common())


@pytest.mark.timeout(600)
def test_rewake_builds_a_new_activator_and_keeps_the_experts(tmp_path):
    """rewake.py: a new box from the demo box's experts, their models and metrics unchanged,
    a new activator (today's encoder) with units for every one the camera wakes."""
    demo = Box.open(RECIPES.parents[1] / "models" / "demo.box")
    new_path = tmp_path / "new.box"
    run = subprocess.run([sys.executable, str(RECIPES / "rewake.py"), "--from", str(demo.path),
                          "--box", str(new_path), "--smoke"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    new = Box.open(new_path)
    new.verify()
    assert list(new.experts) == list(demo.experts)
    for name, entry in demo.experts.items():
        assert new.experts[name].metrics == entry.metrics
        assert (new.path / new.experts[name].files.source).read_bytes() == \
            (demo.path / entry.files.source).read_bytes()
    network, encoder = new.load_activator()
    assert sorted(network.expert_names) == sorted(n for n, e in demo.experts.items()
                                                  if e.camera_woken)
    for name, entry in new.experts.items():          # contracts as the recipes say today
        recipe = RECIPES / f"{name}.py"
        if recipe.is_file():
            assert entry.drive is not None and entry.camera_woken == demo.experts[name].camera_woken
    assert encoder.config.static_features == "cues"


def test_rewake_reads_a_recorded_run_and_labels_its_frames_as_the_world_did(tmp_path):
    """rewake.py --closed-loop: a run's recording (frames.jsonl + PNGs) gives frames whose truth,
    read back from JSON, calls for the same skill as the world's own GroundTruth did; and the
    examples folder then holds half drive frames, half recorded ones, flat."""
    import json
    import math

    import cv2
    import numpy as np

    sys.path.insert(0, str(RECIPES))
    import rewake
    from spikebox.runtime.sim.truth import cue_skill
    from spikebox.runtime.sim.world import SimWorld, WorldConfig

    rec = tmp_path / "run" / "recording"
    (rec / "frames").mkdir(parents=True)
    world = SimWorld(WorldConfig(course="tour"), seed=3)
    want, rows = [], []
    try:
        for i, zone in enumerate(z for z in world.course.zones if z.entry is not None):
            door = zone.entry
            world.place_robot(door.x + 300 * door.nx, door.y + 300 * door.ny,
                              math.atan2(door.ny, door.nx))
            truth = world.truth()
            want.append(cue_skill(truth))
            image = np.full((120, 160, 3), 40 * i, np.uint8)
            cv2.imwrite(str(rec / "frames" / f"{i:06d}.png"), image)
            rows.append({"file": f"frames/{i:06d}.png", "truth": truth.to_json()})
    finally:
        world.close()
    rows.append({"file": None, "truth": rows[0]["truth"]})              # no image: left out
    (rec / "frames.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    frames = rewake.recorded_frames(tmp_path / "run")
    assert len(frames) == len(want) and [cue_skill(f[2]) for f in frames] == want
    assert len(set(want)) > 1                                          # the zones call for skills
    drives = [("d", np.zeros((120, 160, 3), np.uint8), None)] * 10
    folder = rewake._mixed(drives, frames, 8, tmp_path / "examples")
    assert sorted(p.name for p in folder.iterdir()) == [f"{k:05d}.png" for k in range(8)]
