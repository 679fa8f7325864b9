"""The truths the sign and obstacle experts learn from: what a camera frame can support.

A sign is legible when its whole face is in the frame and wide enough there to read
(checked by reading it: rectified and matched against every sign's picture); the
obstacle label steers toward the open way the camera sees, and driving by it gets
through obstacle fields where driving straight does not."""
import math

import numpy as np
import pytest

from simkit import in_front, read_sign, world_with_sign
from spikebox.runtime.sim import SimWorld, WorldConfig
from spikebox.runtime.sim.autopilot import Autopilot, drive
from spikebox.runtime.sim.layout import ROBOT_RADIUS_MM
from spikebox.runtime.sim.scene import sign_face
from spikebox.runtime.sim.truth import SIGN_LEGIBLE_PX, VIEW_FAN_RAD
from spikebox.runtime.sim.zones import DOOR_INSET_MM


def test_a_near_square_sign_is_legible_and_a_far_one_only_visible():
    world, _ = world_with_sign("word_ball", 800.0)
    world.render()
    near = world.truth().sign
    assert near.visible and near.legible and near.sign_class == "word_ball"
    # 240 mm seen square-on from 740 mm (the lens is 60 mm ahead of the robot's centre), f = 114 px
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


def test_rays_are_ray_along_each_heading():
    world = SimWorld(WorldConfig(), seed=3)
    cmap = world.collision_map
    rng = np.random.default_rng(0)
    for _ in range(50):
        x, y = rng.uniform(0, 6000), rng.uniform(0, 4000)
        angles = rng.uniform(-4, 4, 5)
        radius = float(rng.choice([0.0, ROBOT_RADIUS_MM]))
        assert cmap.rays(x, y, angles, 1500.0, radius).tolist() == \
            [cmap.ray(x, y, a, 1500.0, radius) for a in angles]
    world.close()


def _pose_ahead(world, side_room_mm: float):
    """A pose in the obstacle zone in front of an obstacle, with a long free ray past its
    left edge and past its right edge (either way round is open), or None."""
    cmap = world.collision_map
    zone = next(z for z in world.course.zones if z.kind == "obstacle")
    for prism in world.course.prisms:
        if not zone.contains(*prism.centre):
            continue
        cx, cy = prism.centre
        radius = max(math.dist(prism.centre, p) for p in prism.footprint)
        for facing in np.linspace(0, 2 * math.pi, 24, endpoint=False):
            x, y, heading = in_front(cx, cy, facing, radius + ROBOT_RADIUS_MM + 300)
            if (zone.contains(x, y) and cmap.free(x, y, ROBOT_RADIUS_MM + 40)
                    and cmap.ray(x, y, heading, 2000.0, ROBOT_RADIUS_MM) < 400
                    and min(cmap.ray(x, y, heading + s * VIEW_FAN_RAD, 2000.0, ROBOT_RADIUS_MM)
                            for s in (1, -1)) >= side_room_mm):
                return x, y, heading
    return None


def test_view_steering_turns_away_from_the_side_the_obstacle_is_on():
    checked = 0
    for seed in range(40):
        world = SimWorld(WorldConfig(), seed=seed)
        pose = _pose_ahead(world, side_room_mm=1000.0)
        if pose is not None:
            x, y, heading = pose
            steer = {}
            for turn in (0.25, -0.25):     # turned left, the obstacle stands right of the middle
                world.place_robot(x, y, heading + turn)
                world.render()
                steer[turn] = world.truth().obstacle.view_steering
            assert steer[0.25] > 0.2 and steer[-0.25] < -0.2, (seed, steer)
            checked += 1
        world.close()
        if checked == 3:
            break
    assert checked == 3, "fewer than 3 seeds below 40 have an obstacle ahead with room either side"


def test_to_json_carries_the_new_labels():
    world = SimWorld(WorldConfig(), seed=0)
    world.render()
    line = world.truth().to_json()
    from spikebox.runtime.sim.truth import SCHEMA_VERSION
    assert line["schema"] == SCHEMA_VERSION == 2
    assert set(line["exit"]) == {"visible", "bearing_rad", "distance_mm"}
    assert -1.0 <= line["obstacle"]["view_steering"] <= 1.0
    assert line["sign"]["legible"] in (True, False) and "width_px" in line["sign"]
    world.close()


class _SteerInTheField(Autopilot):
    def __init__(self, world, steer):
        super().__init__(world)
        self.steer = steer

    def act(self, truth):
        if truth.zone_kind != "obstacle":
            return super().act(truth)
        return self._wheels(self.steer(truth), speed=0.7)


def _field_run(seed: int, steer) -> tuple[int, bool]:
    world = SimWorld(WorldConfig(), seed=seed)
    zone = next(z for z in world.course.zones if z.kind == "obstacle")
    door = zone.entry
    world.place_robot(door.x + door.nx * DOOR_INSET_MM, door.y + door.ny * DOOR_INSET_MM,
                      math.atan2(door.ny, door.nx))
    before, out = None, False
    for _, truth in drive(world, 500, pilot=_SteerInTheField(world, steer)):
        before = truth.collisions if before is None else before
        if truth.zone > zone.index:
            out = True
            break
    world.close()
    return truth.collisions - before, out


def test_driving_by_view_steering_gets_through_obstacle_fields_that_straight_does_not():
    seeds = range(1001, 1007)
    by_view = [_field_run(s, lambda t: t.obstacle.view_steering) for s in seeds]
    straight = [_field_run(s, lambda t: 0.0) for s in seeds]
    assert sum(c for c, _ in by_view) < sum(c for c, _ in straight)
    assert sum(o for _, o in by_view) >= 5 and sum(o for _, o in straight) == 0


def test_the_exit_is_seen_ahead_through_its_posts_and_never_behind_a_wall_or_in_the_last_zone():
    """Facing its zone's exit from the middle, the robot sees the way on straight ahead, at the
    distance to the point past the door; turned away it does not; nor from the next zone
    looking back; the last zone has no exit. The posts stand on the leaving side only."""
    import math
    from spikebox.runtime.sim.layout import EXIT_POST_BGR
    from spikebox.runtime.sim.zones import DOOR_INSET_MM
    world = SimWorld(WorldConfig(course="tour"), seed=3)
    try:
        course = world.course
        zone = next(z for z in course.zones if z.kind == "open")
        door = zone.exit
        cx, cy = zone.centre
        through = (door.x + door.nx * DOOR_INSET_MM, door.y + door.ny * DOOR_INSET_MM)
        world.place_robot(cx, cy, math.atan2(through[1] - cy, through[0] - cx))
        world.render()
        t = world.truth().exit
        # the zone's middle is on the door's axis here: the aim is straight through
        assert abs((cx - door.x) * -door.ny + (cy - door.y) * door.nx) < 1.0
        assert t.visible and abs(t.bearing_rad) < 1e-6
        assert t.distance_mm == pytest.approx(math.dist((cx, cy), through), abs=1.0)
        # 500 mm off the axis, 1 m before the door: aim at the axis 350 mm before the door
        from spikebox.runtime.sim.truth import exit_aim
        ax, ay = -door.ny, door.nx
        px, py = door.x - door.nx * 1000 + ax * 500, door.y - door.ny * 1000 + ay * 500
        aim = exit_aim(door, px, py)
        assert aim == pytest.approx((door.x - door.nx * 350, door.y - door.ny * 350))
        # close beside the door, the aim stays ahead of the robot, never behind it
        px, py = door.x - door.nx * 300 + ax * 500, door.y - door.ny * 300 + ay * 500
        aim = exit_aim(door, px, py)
        assert aim == pytest.approx((door.x - door.nx * 150, door.y - door.ny * 150))
        world.place_robot(cx, cy, math.atan2(through[1] - cy, through[0] - cx) + math.pi)
        world.render()
        assert not world.truth().exit.visible
        posts = [p for p in course.prisms if p.colour_bgr == EXIT_POST_BGR]
        assert len(posts) == 2 * (len(course.zones) - 1)
        for p in posts:                                   # each on the leaving side of a door
            d = next(z.exit for z in course.zones
                     if z.exit is not None and math.dist(p.centre, (z.exit.x, z.exit.y)) < 600)
            assert (p.centre[0] - d.x) * d.nx + (p.centre[1] - d.y) * d.ny < 0
        last = course.zones[-1]
        world.place_robot(*last.centre, 0.0)
        world.render()
        assert world.truth().exit == world.truth().exit.__class__(False, None, None)
    finally:
        world.close()
