"""The robot's heading from the MCU's gyro (runtime/arbiter/heading.py): by hand, and over a real
Link from the reference firmware driving the sim robot."""
import math
import time
from dataclasses import dataclass

import pytest

from spikebox.runtime.arbiter.heading import MAX_GAP_MS, GyroHeading


@dataclass
class _Tel:
    mcu_time_ms: int
    gyro_z_cdps: int


def test_the_rate_is_integrated_over_the_mcus_clock():
    h = GyroHeading()
    assert h.update(None) is None                          # no telemetry: unknown
    assert h.update(_Tel(1000, 9000)) == 0.0               # 90 deg/s from here on
    assert h.update(_Tel(1000, 9000)) == 0.0               # the same sample again: nothing
    for t in range(1020, 2001, 20):
        rad = h.update(_Tel(t, 9000))
    assert rad == pytest.approx(math.pi / 2)               # 1 s at 90 deg/s
    h.update(_Tel(2100, -9000))                            # the trapezoid: 0 over this step
    assert h.heading_rad == pytest.approx(math.pi / 2)


def test_a_gap_or_a_restarted_mcu_adds_nothing():
    h = GyroHeading()
    h.update(_Tel(1000, 18000))
    h.update(_Tel(1000 + MAX_GAP_MS + 1, 18000))           # a lost link: taken as stood still
    assert h.heading_rad == 0.0
    h.update(_Tel(5, 18000))                               # the MCU restarted: its clock went back
    assert h.heading_rad == 0.0
    h.update(_Tel(105, 18000))
    assert h.heading_rad == pytest.approx(math.radians(18.0))


@pytest.mark.timeout(30)
def test_over_a_real_link_the_heading_follows_the_sim_robots_turn():
    """The firmware turns the sim robot's wheels; the gyro it reports, integrated on the host,
    gives the turn the world measured (within the 0.01 deg/s quantum and one sample)."""
    from spikebox.firmware_bridge import Link, LinkConfig
    from spikebox.runtime.sim.world import SimWorld, WorldConfig
    world = SimWorld(WorldConfig(), seed=2)
    x, y, _ = world.mcu.robot.pose()
    world.place_robot(x, y, 0.0)
    url = world.mcu.serve_pty(realtime=True)
    try:
        with Link(LinkConfig(url=url)) as link:
            h = GyroHeading()
            start = None
            end = time.monotonic() + 1.5
            while time.monotonic() < end:                  # turn left in place, then stop
                link.send_drive(-100, 100)
                link.heartbeat()
                start = h.update(link.latest_telemetry(max_age_ms=100)) if start is None else start
                h.update(link.latest_telemetry(max_age_ms=100))
                time.sleep(0.005)
            for _ in range(40):
                link.send_drive(0, 0)
                link.heartbeat()
                h.update(link.latest_telemetry(max_age_ms=100))
                time.sleep(0.005)
            with world.mcu.lock:
                turned = world.mcu.robot.pose()[2]
    finally:
        world.close()
    assert start is not None
    assert turned > 1.0                                    # it did turn, left (+)
    assert h.heading_rad == pytest.approx(turned, abs=math.radians(4))
