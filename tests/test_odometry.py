"""The robot's pose by dead reckoning from the MCU's telemetry (runtime/arbiter/odometry.py): by
hand, and over a real Link from the reference firmware driving the sim robot."""
import math
import time
from dataclasses import dataclass

import pytest

from spikebox.runtime.arbiter.odometry import MAX_GAP_MS, Odometry, Pose


@dataclass
class _Tel:
    mcu_time_ms: int
    gyro_z_cdps: int
    left_mm_s: int = 0
    right_mm_s: int = 0


def test_the_yaw_rate_is_integrated_over_the_mcus_clock():
    odo = Odometry()
    assert odo.update(None) is None                        # no telemetry: unknown
    assert odo.update(_Tel(1000, 9000)).heading_rad == 0.0     # 90 deg/s from here on
    assert odo.update(_Tel(1000, 9000)).heading_rad == 0.0     # the same sample: nothing
    for t in range(1020, 2001, 20):
        pose = odo.update(_Tel(t, 9000))
    assert pose.heading_rad == pytest.approx(math.pi / 2)  # 1 s at 90 deg/s
    odo.update(_Tel(2100, -9000))                          # the trapezoid: 0 over this step
    assert odo.pose.heading_rad == pytest.approx(math.pi / 2)
    assert (odo.pose.x_mm, odo.pose.y_mm) == (0.0, 0.0)    # turned in place: not moved


def test_the_wheels_move_it_along_its_heading_straight_and_on_an_arc():
    odo = Odometry()
    for t in range(0, 1001, 10):                           # 1 s straight at 200 mm/s
        odo.update(_Tel(t, 0, 200, 200))
    assert (odo.pose.x_mm, odo.pose.y_mm) == (pytest.approx(200.0), pytest.approx(0.0))
    for t in range(1010, 2001, 10):                        # a quarter turn left at 100 mm/s
        odo.update(_Tel(t, 9000, 50, 150))
    r = 100.0 / (math.pi / 2)                              # the arc's radius, mm
    assert odo.pose.x_mm == pytest.approx(200.0 + r, abs=2.0)
    assert odo.pose.y_mm == pytest.approx(r, abs=2.0)


def test_a_gap_or_a_restarted_mcu_adds_nothing():
    odo = Odometry()
    odo.update(_Tel(1000, 18000, 300, 300))
    odo.update(_Tel(1000 + MAX_GAP_MS + 1, 18000, 300, 300))   # a lost link: stood still
    assert odo.pose == Pose(0.0, 0.0, 0.0)
    odo.update(_Tel(5, 18000, 300, 300))                   # the MCU restarted: clock went back
    assert odo.pose == Pose(0.0, 0.0, 0.0)
    odo.update(_Tel(105, 18000, 300, 300))
    assert odo.pose.heading_rad == pytest.approx(math.radians(18.0))
    assert math.hypot(odo.pose.x_mm, odo.pose.y_mm) == pytest.approx(30.0, rel=0.01)


def test_a_poses_bearings_and_points_are_each_others_inverse():
    pose = Pose(100.0, -50.0, math.radians(150))
    point = pose.point_at(math.radians(-40), 800.0)
    bearing, distance = pose.toward(point)
    assert bearing == pytest.approx(math.radians(-40)) and distance == pytest.approx(800.0)
    assert Pose(0.0, 0.0, 0.0).toward((-1.0, 0.0))[0] == pytest.approx(math.pi)


@pytest.mark.timeout(30)
def test_over_a_real_link_the_pose_follows_the_sim_robot():
    """The firmware turns and drives the sim robot's wheels; its gyro and wheel speeds,
    integrated on the host, give the turn and the way the world measured."""
    from spikebox.firmware_bridge import Link, LinkConfig
    from spikebox.runtime.sim.world import SimWorld, WorldConfig
    world = SimWorld(WorldConfig(), seed=2)
    x0, y0, _ = world.mcu.robot.pose()
    world.place_robot(x0, y0, 0.0)
    url = world.mcu.serve_pty(realtime=True)
    odo = Odometry()

    def drive(left, right, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            link.send_drive(left, right)
            link.heartbeat()
            odo.update(link.latest_telemetry(max_age_ms=100))
            time.sleep(0.005)

    try:
        with Link(LinkConfig(url=url)) as link:
            drive(-100, 100, 1.0)          # turn left in place
            drive(150, 150, 1.5)           # then straight on
            drive(0, 0, 0.3)
            with world.mcu.lock:
                x, y, heading = world.mcu.robot.pose()
    finally:
        world.close()
    assert heading > 0.5                                   # it did turn, left (+)
    assert math.hypot(x - x0, y - y0) > 150.0              # and drove
    assert odo.pose.heading_rad == pytest.approx(heading, abs=math.radians(4))
    assert math.hypot(odo.pose.x_mm - (x - x0), odo.pose.y_mm - (y - y0)) < 30.0
