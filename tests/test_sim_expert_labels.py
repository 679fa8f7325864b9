"""The truths the experts learn from, where they say what a camera frame can support.

A sign is legible when its whole face is in the frame and wide enough there to read
(checked by reading it: rectified and matched against every sign's picture)."""
import numpy as np
import pytest

from simkit import read_sign, world_with_sign
from spikebox.runtime.sim import SimWorld, WorldConfig
from spikebox.runtime.sim.autopilot import drive
from spikebox.runtime.sim.scene import sign_face
from spikebox.runtime.sim.truth import SIGN_LEGIBLE_PX


def test_a_near_square_sign_is_legible_and_a_far_one_only_visible():
    world, _ = world_with_sign("word_ball", 800.0)
    world.render()
    near = world.truth().sign
    assert near.visible and near.legible and near.sign_class == "word_ball"
    # 240 mm seen square-on from ~860 mm (the lens is 60 mm ahead of the centre) at f = 114 px
    assert near.width_px == pytest.approx(240.0 * world.camera.f_px / 740.0, rel=0.15)
    world.close()
    world, _ = world_with_sign("word_ball", 1400.0)
    world.render()
    far = world.truth().sign
    assert far.visible and not far.legible and far.width_px < SIGN_LEGIBLE_PX
    world.close()


def test_a_sign_cut_by_the_frame_edge_is_not_legible():
    world, sign = world_with_sign("arrow_left", 700.0)
    x, y, heading = world.pose()
    w, h = world.camera.width_px, world.camera.height_px
    cut = 0
    for turn in np.linspace(0.2, 0.7, 26):      # the sign slides out over the frame's left edge
        world.place_robot(x, y, heading - turn)
        world.render()
        truth = world.truth().sign
        u, v, depth = world.view().project(sign_face(sign)[0])
        whole = bool(((depth > 0) & (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)).all())
        if truth.visible:
            assert truth.sign_class == "arrow_left" and truth.width_px >= SIGN_LEGIBLE_PX
            assert truth.legible == whole, (turn, u, v)
            cut += not whole
    assert cut >= 2
    world.close()


def test_every_legible_frame_of_a_drive_reads_right_off_the_frame():
    """On whole drives (every class, near and far, askew), each frame called legible reads as
    its own sign's picture, ahead of every other sign's."""
    read, margins = 0, []
    for course, seed in (("errand", 1003), ("tour", 1002), ("tour", 1005)):
        world = SimWorld(WorldConfig(course=course), seed=seed)
        for k, (image, truth) in enumerate(drive(world, 700)):
            if truth.sign.legible:
                sign = next(s for s in world.course.signs if s.sign_class == truth.sign.sign_class)
                scores = read_sign(image, world, sign)
                best = max(scores, key=scores.get)
                assert best == truth.sign.sign_class, (course, seed, k, scores)
                margins.append(scores[best] - max(v for c, v in scores.items() if c != best))
                read += 1
        world.close()
    assert read >= 30
    assert np.mean(np.asarray(margins) > 0.08) >= 0.9, sorted(margins)[:10]


def test_to_json_carries_the_new_labels():
    world = SimWorld(WorldConfig(), seed=0)
    world.render()
    line = world.truth().to_json()
    assert line["schema"] == 1
    assert line["sign"]["legible"] in (True, False) and "width_px" in line["sign"]
    world.close()
