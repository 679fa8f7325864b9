"""The demo world: repeatable frames, a camera that is the pinhole model, and ground truth that
is right on constructed poses (ball, dock, signs, line, obstacles, open floor)."""
import math
import time

import cv2
import numpy as np
import pytest

from simkit import in_front, read_sign, world_with_sign
from spikebox.runtime.sim import (COURSES, SIGN_CLASSES, ZONE_KINDS, CameraMount, PinholeCamera,
                                  SimWorld, WorldConfig, build_course)
from spikebox.runtime.sim.autopilot import drive
from spikebox.runtime.sim.camera import CameraView
from spikebox.runtime.sim.layout import DOCK_STOP_MM, ROBOT_RADIUS_MM
from spikebox.runtime.sim.robot import GRID_MM, RANGE_WIDTH
from spikebox.runtime.sim.textures import aruco_dictionary


def drive_images(config: WorldConfig, seed: int, n: int = 40) -> list[np.ndarray]:
    world = SimWorld(config, seed=seed)
    try:
        return [image for image, _ in drive(world, n)]
    finally:
        world.close()


@pytest.mark.parametrize("randomize", [False, True])
def test_same_seed_same_frames_byte_for_byte_and_other_seeds_differ(randomize):
    config = WorldConfig(randomize=randomize)
    first, again = drive_images(config, 5), drive_images(config, 5)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, again))
    other = drive_images(config, 6)
    assert sum(a.tobytes() != b.tobytes() for a, b in zip(first, other)) >= len(first) - 1
    assert first[0].shape == (120, 160, 3) and first[0].dtype == np.uint8


def test_courses_are_built_from_their_seed():
    assert build_course("tour", 3) == build_course("tour", 3)
    assert build_course("tour", 3) != build_course("tour", 4)
    for name, spec in COURSES.items():
        course = build_course(name, 0)
        assert [z.kind for z in course.zones] == list(spec.zones)
    assert set(COURSES["tour"].zones) == set(ZONE_KINDS)   # one course holds every zone
    with pytest.raises(ValueError, match="no course 'maze'; courses: errand, short, tour"):
        build_course("maze")


def test_camera_projects_a_floor_point_where_the_pinhole_model_says():
    cam = PinholeCamera(160, 120, hfov_deg=70)
    mount = CameraMount(height_mm=150, tilt_deg=20, forward_mm=60)
    view = CameraView.from_pose(cam, mount, 1000.0, 2000.0, math.pi / 2)   # facing +y
    f = 80 / math.tan(math.radians(35))
    t, h = math.radians(20), 150.0
    for ahead, left in ((500.0, 0.0), (800.0, 120.0), (350.0, -90.0)):
        # The point `ahead` of the lens and `left` of it, on the floor: in camera axes
        # x = right, y = down, z = along the tilted optical axis.
        x, y, z = -left, h * math.cos(t) - ahead * math.sin(t), ahead * math.cos(t) + h * math.sin(t)
        want = (f * x / z + 79.5, f * y / z + 59.5)
        point = np.array([[1000.0 - left, 2000.0 + 60.0 + ahead, 0.0]])
        u, v, depth = view.project(point)
        assert (u[0], v[0]) == pytest.approx(want, abs=1e-6) and depth[0] == pytest.approx(z)
        H = view.floor_homography() @ np.array([point[0, 0], point[0, 1], 1.0])
        assert (H[0] / H[2], H[1] / H[2]) == pytest.approx(want, abs=1e-6)
    assert view.horizon_v() == pytest.approx(59.5 - f * math.tan(t))


def test_the_rendered_floor_puts_the_line_where_the_camera_says():
    world = SimWorld(WorldConfig(course="short"), seed=1)
    line = np.asarray(world.course.zones[0].line)
    k = len(line) // 2
    (x0, y0), (x1, y1) = line[k - 3], line[k + 3]
    heading = math.atan2(y1 - y0, x1 - x0)
    # Stand 600 mm back along the line, looking along it: the line's point k is ahead.
    world.place_robot(line[k, 0] - 600 * math.cos(heading), line[k, 1] - 600 * math.sin(heading),
                      heading)
    image = world.render()
    u, v, _ = world.view().project(np.array([[line[k, 0], line[k, 1], 0.0]]))
    u, v = int(round(u[0])), int(round(v[0]))
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(int)
    assert grey[v, u] < 60, "the line (dark) is not where the camera projects it"
    assert grey[v, u + 20] > 100 and grey[v, u - 20] > 100, "floor beside the line is not floor"
    truth = world.truth()
    assert truth.zone_kind == "line" and truth.skill == "line" and truth.line.visible
    world.close()


def test_line_truth_steers_back_onto_the_line():
    world = SimWorld(WorldConfig(course="short"), seed=1)
    line = np.asarray(world.course.zones[0].line)
    k = len(line) // 2
    d = line[k + 1] - line[k - 1]
    heading = math.atan2(d[1], d[0])
    world.place_robot(*line[k], heading)
    world.render()
    on = world.truth().line
    assert abs(on.offset_mm) < 5 and abs(on.heading_error_rad) < 0.05 and abs(on.steering) < 0.5
    right = (line[k, 0] + 100 * math.sin(heading), line[k, 1] - 100 * math.cos(heading))
    world.place_robot(*right, heading)   # 100 mm to the right of the line
    world.render()
    off = world.truth().line
    assert off.offset_mm == pytest.approx(100, abs=10) and off.steering > on.steering + 0.2
    world.close()


def test_ball_dead_ahead_has_bearing_zero_and_its_distance():
    world = SimWorld(WorldConfig(), seed=2)
    ball = world.course.balls[0]
    world.place_robot(*in_front(ball.x, ball.y, 0.3, 700.0))
    image = world.render()
    truth = world.truth()
    assert truth.zone_kind == "ball" and truth.skill == "ball"
    assert truth.ball.visible and truth.ball.colour == ball.colour
    assert truth.ball.bearing_rad == pytest.approx(0.0, abs=1e-9)
    assert truth.ball.distance_mm == pytest.approx(700.0, abs=1e-6)
    u, v, _ = world.view().project(np.array([[ball.x, ball.y, ball.radius_mm]]))
    assert u[0] == pytest.approx(79.5, abs=1e-6)
    b, g, r = (int(c) for c in image[int(round(v[0])), int(round(u[0]))])
    want = np.array(ball.colour_bgr, int)
    assert np.abs(np.array([b, g, r]) - want).max() < 70, "the ball's colour is not at its centre"
    world.place_robot(*in_front(ball.x, ball.y, 0.3, 700.0)[:2], 0.3 + math.pi + 1.2)
    world.render()
    assert not world.truth().ball.visible            # turned away: out of the frame
    world.close()


def test_the_range_sensor_reads_the_worlds_solids_through_the_firmware():
    """range_mm in the MCU's telemetry, over a real Link: how far the robot could drive straight
    on before the ball ahead enters its path (its body and the sensor's margin); turned round,
    to what is behind it."""
    from spikebox.firmware_bridge import Link, LinkConfig
    world = SimWorld(WorldConfig(), seed=2)
    ball = world.course.balls[0]
    pose = in_front(ball.x, ball.y, 1.0, 700.0)
    assert world.collision_map.free(*pose[:2])
    world.place_robot(*pose)
    gap = 700.0 - ball.radius_mm - RANGE_WIDTH * ROBOT_RADIUS_MM
    assert world.range_mm() == pytest.approx(gap, abs=15)     # the 10 mm collision grid
    url = world.mcu.serve_pty(realtime=True)
    try:
        with Link(LinkConfig(url=url)) as link:
            tel = None
            deadline = time.monotonic() + 3.0
            while tel is None and time.monotonic() < deadline:
                link.heartbeat()
                time.sleep(0.02)
                tel = link.latest_telemetry(max_age_ms=100)
            assert tel is not None, "no telemetry from the sim's MCU"
            assert tel.range_mm == pytest.approx(gap, abs=15)
            with world.mcu.lock:
                x, y, heading = world.mcu.robot.pose()
            world.place_robot(x, y, heading + math.pi)      # the ball behind it now
            time.sleep(0.3)
            tel = link.latest_telemetry(max_age_ms=100)
            behind = world.range_mm()
            assert abs(behind - gap) > 100           # something else, at another distance
            assert tel is not None and tel.range_mm == pytest.approx(behind, abs=15)
    finally:
        world.close()


@pytest.mark.parametrize("size", [(160, 120), (640, 480)])
def test_facing_the_dock_at_the_stop_distance_is_aligned_and_aruco_finds_the_marker(size):
    world = SimWorld(WorldConfig(width_px=size[0], height_px=size[1]), seed=0)
    dock = world.course.docks[0]
    world.place_robot(*in_front(dock.x, dock.y, dock.facing_rad, DOCK_STOP_MM))
    image = world.render()
    truth = world.truth()
    assert truth.zone_kind == "dock" and truth.skill == "dock"
    assert truth.dock.visible and truth.dock.aligned and truth.dock.marker_id == dock.marker_id
    assert truth.dock.distance_mm == pytest.approx(DOCK_STOP_MM)
    assert truth.dock.bearing_rad == pytest.approx(0.0, abs=1e-9)
    _, ids, _ = cv2.aruco.ArucoDetector(aruco_dictionary()).detectMarkers(image)
    assert ids is not None and ids.ravel().tolist() == [dock.marker_id]
    x, y, heading = in_front(dock.x, dock.y, dock.facing_rad, DOCK_STOP_MM)
    world.place_robot(x, y, heading + 0.3)          # turned 17 degrees: seen, not aligned
    world.render()
    assert world.truth().dock.visible and not world.truth().dock.aligned
    world.close()


@pytest.mark.parametrize("sign_class", SIGN_CLASSES)
def test_a_sign_is_read_right_and_its_picture_is_legible_in_the_frame(sign_class):
    world, sign = world_with_sign(sign_class, 800.0)
    image = world.render()
    truth = world.truth()
    assert truth.zone_kind == "sign" and truth.skill == "sign"
    assert truth.sign.visible and truth.sign.sign_class == sign_class
    assert truth.sign.text == {"word_dock": "DOCK", "word_ball": "BALL",
                               "word_line": "LINE"}.get(sign_class)
    assert truth.sign.distance_mm == pytest.approx(800.0)
    # Legible: the face cut out of the 160x120 frame matches its own picture best,
    # clearly ahead of every other sign's (the three words look alike as shapes).
    scores = read_sign(image, world, sign)
    best = max(scores, key=scores.get)
    runner_up = max(v for k, v in scores.items() if k != sign_class)
    assert best == sign_class and scores[sign_class] > 0.8 and scores[sign_class] - runner_up > 0.08, scores
    world.close()


def test_obstacle_truth_steers_round_what_is_ahead_and_measures_the_gap():
    world = SimWorld(WorldConfig(), seed=0)
    zone = next(z for z in world.course.zones if z.kind == "obstacle")
    prism = min(world.course.prisms, key=lambda p: math.dist(p.centre, zone.centre))
    cx, cy = prism.centre
    radius = max(math.dist(prism.centre, p) for p in prism.footprint)
    for facing in np.linspace(0, 2 * math.pi, 16, endpoint=False):
        x, y, heading = in_front(cx, cy, facing, radius + ROBOT_RADIUS_MM + 250)
        if zone.contains(x, y) and world.collision_map.free(x, y, ROBOT_RADIUS_MM + 40):
            break
    world.place_robot(x, y, heading)
    world.render()
    truth = world.truth()
    assert truth.zone_kind == "obstacle" and truth.skill == "obstacle"
    assert truth.obstacle.clear_ahead_mm < 450
    assert abs(truth.obstacle.steering) > 0.3, "straight at an obstacle is not the safe way"
    world.close()


def test_open_floor_needs_no_expert():
    world = SimWorld(WorldConfig(), seed=0)
    world.render()
    truth = world.truth()
    assert (truth.zone_kind, truth.skill, truth.line) == ("open", None, None)
    assert truth.collisions == 0 and not truth.estopped
    json_line = truth.to_json()
    from spikebox.runtime.sim.truth import SCHEMA_VERSION
    assert json_line["schema"] == SCHEMA_VERSION and json_line["sign"]["visible"] in (True, False)
    world.close()


def test_the_autopilot_drives_a_course_to_the_dock_without_a_collision():
    world = SimWorld(WorldConfig(course="short"), seed=4)
    zones_seen = []
    for _, truth in drive(world, 1200):
        if not zones_seen or zones_seen[-1] != truth.zone_kind:
            zones_seen.append(truth.zone_kind)
        if truth.zone_kind == "dock" and truth.dock.aligned and max(map(abs, truth.wheels_mm_s)) < 5:
            break
    assert zones_seen == ["line", "sign", "dock"]
    assert truth.dock.aligned and truth.collisions == 0
    world.close()


def test_the_line_tracks_arrows_point_the_way_the_course_runs():
    """Every chevron's tip lies on the line and its arms trail behind it, along the course:
    what lets a camera on the line tell which way it runs."""
    from spikebox.runtime.sim.floor import line_chevrons
    from spikebox.runtime.sim.layout import LINE_CHEVRON_EVERY_MM
    world = SimWorld(WorldConfig(), seed=4)
    line = np.array(next(z for z in world.course.zones if z.kind == "line").line)
    world.close()
    chevrons = line_chevrons(line)
    length = np.hypot(*np.diff(line, axis=0).T).sum()
    assert len(chevrons) == pytest.approx(length / LINE_CHEVRON_EVERY_MM, abs=1)
    for left, tip, right in chevrons:
        near = np.argmin(np.hypot(*(line - tip).T))
        k = min(near, len(line) - 2)
        ahead = line[k + 1] - line[k]
        assert np.hypot(*(line - tip).T).min() < 60.0            # on the line (its sampling)
        assert ((left + right) / 2 - tip) @ ahead < 0            # the arms trail behind the tip


def test_the_range_sensor_watches_the_robots_path_with_a_margin_and_nothing_behind_it():
    """The range sensor's path is RANGE_WIDTH of the radius either side, from the centre line
    on: a wall 30 mm beside the robot is out of it (the way along reads clear), a wall within
    the margin is in it (a robot that close gets turned away before its flank grazes it),
    and against that wall, facing away from it, the way reads clear: a robot is never turned
    on the spot for ever by what is beside or behind it."""
    world = SimWorld(WorldConfig(), seed=3)
    r = ROBOT_RADIUS_MM
    x = next(x for x in range(400, 5600, 100)
             if world.collision_map.ray(x, r + 60, 0.0, 900.0, r * RANGE_WIDTH) > 800)
    world.place_robot(x, r + 30, 0.0)                           # 30 mm off the outer wall, y = 0
    assert world.range_mm() > 600
    world.place_robot(x, r + 5, 0.0)                            # 5 mm off it: inside the margin
    assert world.range_mm() <= 20
    world.place_robot(x, r + 5, math.radians(60))               # turned away from it
    assert world.range_mm() > 600
    world.place_robot(x, r + 5, -math.pi / 2)                   # facing it
    assert world.range_mm() <= 20
    world.close()


def test_the_range_sensor_never_reads_farther_than_the_robot_can_drive():
    """At many free poses of a course, the range read is at most how far the robot's disc can
    slide straight on before it touches a solid (sphere tracing on the collision grid, within
    a grid cell): the guard that trusts it stops in time."""
    world = SimWorld(WorldConfig(course="tour"), seed=2001)
    cmap, rng = world.collision_map, np.random.default_rng(5)
    checked = 0
    while checked < 300:
        x, y, h = rng.uniform(0, 6000), rng.uniform(0, 4000), rng.uniform(-math.pi, math.pi)
        if not cmap.free(x, y, ROBOT_RADIUS_MM):
            continue
        reach = cmap.path_clear(x, y, h, 2000.0, RANGE_WIDTH * ROBOT_RADIUS_MM)
        assert reach <= cmap.ray(x, y, h, 2000.0, ROBOT_RADIUS_MM) + GRID_MM, (x, y, h)
        checked += 1
    world.close()
