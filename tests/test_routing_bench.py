"""`spikebox bench routing`: its figures, computed by hand on made-up drives, and one short
real drive of the demo world through the bundled box."""
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spikebox.runtime.bench.routing import (MISSING, NONE, Drive, held_last_cue, oracle_bounds,
                                            record_drive, routing_figures, top_expert)
from spikebox.runtime.box import Box
from spikebox.runtime.sim.autopilot import drive
from spikebox.runtime.sim.truth import cue_skill
from spikebox.runtime.sim.world import SimWorld, WorldConfig

DEMO = Path(__file__).resolve().parents[1] / "models" / "demo.box"


def made_up(counts, need, zone, cue=None, energy=1.0):
    counts = np.asarray(counts, float)
    return Drive(counts=counts, warmth=np.zeros_like(counts), energy_uj=np.full(len(counts), energy),
                 zone=np.asarray(zone), need=np.asarray(need),
                 cue=np.asarray(need if cue is None else cue))


def test_top_expert_counts_then_warmth_then_none():
    counts = np.array([[0, 3, 1], [2, 2, 0], [0, 0, 0], [1, 1, 0]])
    warmth = np.array([[0, 1, 1], [0.2, 0.9, 0], [0.5, 0.9, 0], [0, 0, 0]])
    assert top_expert(counts, warmth).tolist() == [1, 1, NONE, 0]


def test_figures_by_hand():
    # 2 experts. Frames: open, open, zone A (expert 0) x3, zone B (expert 1) x3, open x 16.
    need = [NONE, NONE, 0, 0, 0, 1, 1, 1] + [NONE] * 16
    zone = [0, 0, 1, 1, 1, 2, 2, 2] + [3] * 16
    counts = [[0, 0]] * len(need)
    counts[1] = [1, 0]                   # a false wake on open floor
    counts[4] = [2, 0]                   # A wakes on its entry's 3rd frame: within 2; B never
    counts[11] = [0, 1]                  # a second episode, 10 frames (0.5 s) after the first;
    counts[13] = [1, 0]                  # a flicker 2 frames later is the same episode
    counts[23] = [1, 0]                  # a third, 0.5 s after the flicker
    f = routing_figures([made_up(counts, need, zone)], n_experts=2, fps=20.0)
    assert f["frames"] == 24
    assert f["top1_accuracy"] == pytest.approx(1 / 6)
    assert f["zone_entries"] == 2 and f["wake_within_2_recall"] == 0.5
    assert f["open_floor_minutes"] == pytest.approx(18 / 20 / 60)
    assert f["false_wakes_per_min"] == pytest.approx(3 / (18 / 20 / 60))
    assert f["loihi_uj_per_frame"] == 1.0
    # masking expert 1 never changes expert 0's top-1, and B is 0 either way
    assert f["growth_max_delta_pts"] == 0.0


def test_growth_sees_an_expert_that_steals_frames():
    need = [0, 0, 0, 0]
    counts = [[1, 2], [1, 0], [1, 0], [1, 0]]    # expert 1 wins frame 0 of expert 0's zone
    f = routing_figures([made_up(counts, need, [1, 1, 1, 1])], n_experts=2)
    assert f["top1_accuracy"] == 0.75
    assert f["growth_max_delta_pts"] == pytest.approx(25.0)   # without 1: expert 0 at 100 %


def test_a_skill_whose_expert_the_box_lacks_counts_against_it():
    f = routing_figures([made_up([[0], [0]], [MISSING, MISSING], [1, 1])], n_experts=1)
    assert f["top1_accuracy"] == 0.0 and f["wake_within_2_recall"] == 0.0
    assert f["false_wakes_per_min"] is None          # no open floor driven


def test_held_last_cue_is_the_ceiling_rule():
    assert held_last_cue(np.array([NONE, 2, NONE, NONE, 0, NONE])).tolist() == [NONE, 2, 2, 2, 0, 0]


def test_oracle_bounds_by_hand():
    """A camera that sees one frame ahead: the view-zone oracle wakes before each entry (a
    false wake on open floor, a wrong frame at the end of zone A); held back one frame it is
    exact. The cue oracle fires only where a cue shows."""
    N = NONE
    zone = [0, 0, 1, 1, 1, 1, 2, 2]
    need = [N, N, 0, 0, 0, 0, 1, 1]
    cue = [N, N, N, 0, 0, N, N, 1]
    d = dataclasses.replace(made_up(np.zeros((8, 2)), need, zone, cue=cue),
                            in_view=np.array([0, 1, 1, 1, 1, 2, 2, 2]))
    b = oracle_bounds([d], n_experts=2, fps=20.0)
    assert b["view_zone"]["top1_accuracy"] == pytest.approx(5 / 6)
    assert b["view_zone"]["wake_within_2_recall"] == 1.0
    assert b["view_zone"]["false_wakes_per_min"] == pytest.approx(1 / (2 / 20 / 60))
    assert b["view_zone_delayed"] == {"top1_accuracy": 1.0, "wake_within_2_recall": 1.0,
                                      "false_wakes_per_min": 0.0, "delay_frames": 1}
    assert b["cue"]["top1_accuracy"] == pytest.approx(3 / 6)
    assert b["cue"]["wake_within_2_recall"] == 1.0     # A's cue on entry+1, B's on entry+1
    assert b["held_cue"]["top1_accuracy"] == pytest.approx(4 / 6)   # A held into B's first frame
    assert routing_figures([d], 2)["bounds"] == b


def test_cue_skill_on_the_world():
    """Along a real drive: the cue is None or a skill; in the line zone with the line in view
    it is the line; and somewhere a frame's cue differs from its zone's skill (the view is not
    the place), which is why the bench reports both."""
    world = SimWorld(WorldConfig(course="tour"), seed=2001)
    seen = []
    try:
        for _, truth in drive(world, 700):
            seen.append((truth, cue_skill(truth)))
    finally:
        world.close()
    assert {c for _, c in seen} <= {None, "line", "sign", "ball", "obstacle", "dock"}
    on_line = [c for t, c in seen if t.zone_kind == "line" and t.line.visible]
    assert on_line and all(c == "line" for c in on_line)
    assert any(c != t.skill for t, c in seen)
    assert all(c is None for t, c in seen if t.zone_kind == "open" and not
               (t.sign.visible or t.ball.visible or t.dock.visible or (t.line and t.line.visible)))


@pytest.mark.skipif(not (DEMO / "manifest.json").exists(), reason="no bundled demo box")
def test_a_real_drive_through_the_demo_box():
    box = Box.open(DEMO)
    network, encoder = box.load_activator()
    names = list(network.expert_names)
    d = record_drive(network, encoder, "short", 2001, names, max_frames=120)
    assert d.counts.shape == (120, len(names)) and (d.counts >= 0).all()
    assert (d.energy_uj > 0).all()
    assert set(np.unique(d.need)) <= set(range(len(names))) | {NONE, MISSING}
    f = routing_figures([d], len(names))
    assert 0.0 <= f["top1_accuracy"] <= 1.0 and f["frames"] == 120
    # the nearest floor in view is the standing zone's except near a door or facing a wall
    assert d.in_view.shape == d.zone.shape and 0.5 < np.mean(d.in_view == d.zone) <= 1.0


def test_the_floor_under_the_robot_is_not_what_its_camera_sees():
    """The world fact behind zone_in_view: placed just short of a door, facing through it,
    the robot stands in one zone and its camera's nearest floor is the next one's."""
    from spikebox.runtime.bench.routing import _zone_in_view
    from spikebox.runtime.sim.world import SimWorld, WorldConfig
    world = SimWorld(WorldConfig(course="short"), seed=2001)
    try:
        a, b = world.course.zones[0], world.course.zones[1]
        (ax, ay), (bx, by) = a.centre, b.centre
        heading = np.arctan2(by - ay, bx - ax)
        # 60 mm short of the shared wall, on the line between the two zones' centres
        half = np.hypot(bx - ax, by - ay) / 2 - 60.0
        world.place_robot(ax + half * np.cos(heading), ay + half * np.sin(heading), heading)
        world.render()
        assert world.zone() is a and _zone_in_view(world) == 1
    finally:
        world.close()


@pytest.mark.skipif(not (DEMO / "manifest.json").exists(), reason="no bundled demo box")
def test_cli_json_has_the_contract_keys(monkeypatch):
    from spikebox.runtime.bench import routing
    out = routing.run_routing_bench(DEMO, courses=("short",), seeds=(2001,), max_frames=60)
    for key in ("frames", "top1_accuracy", "wake_within_2_recall", "false_wakes_per_min",
                "loihi_uj_per_frame", "growth_max_delta_pts", "box_mb", "experts",
                "experts_metrics", "targets", "targets_met"):
        assert key in out
    assert out["experts_metrics"]["line_follow"]["steering_mae"] > 0
    json.dumps(out)                                  # --json prints it
    assert "top-1, zone's skill" in routing.format_table(out)
