"""The sim's robot moves by what the firmware applied: the real core, the C kinematics,
virtual time. An ESTOP or the watchdog stops it; a real Link drives it over a pty."""
import math
import time

import pytest

from spikebox.firmware_bridge import Link, LinkConfig
from spikebox.firmware_bridge.core_lib import SimRobot
from spikebox.firmware_bridge.sim_mcu import SimMcu


def fresh_mcu() -> SimMcu:
    mcu = SimMcu()
    mcu.robot.set_room(8000, 8000)
    mcu.robot.place(1000.0, 1000.0, 0.0)
    return mcu


def drive_for(mcu: SimMcu, host, left, right, ms: int, every_ms: int = 50) -> None:
    for _ in range(ms // every_ms):
        host.drive(left, right)
        mcu.advance(every_ms)


def test_sim_robot_is_the_c_kinematics():
    robot = SimRobot()
    robot.set_room(5000, 5000)
    robot.place(100.0, 200.0, 0.5)
    assert robot.pose() == pytest.approx((100.0, 200.0, 0.5))
    robot.set_wheels(100, 100)
    for _ in range(2000):
        robot.step(1.0)
    x, y, heading = robot.pose()
    # 30 ms wheel lag: 2 s at 100 mm/s rolls 200 mm less the lag's 3 mm, straight on.
    assert math.hypot(x - 100, y - 200) == pytest.approx(197.0, abs=0.5)
    assert heading == pytest.approx(0.5)
    assert robot.wheels() == (100.0, 100.0, 100.0, 100.0)   # settled exactly on the setpoint
    robot.set_wheels(0, 0)
    for _ in range(500):
        robot.step(1.0)
    x, y, heading = robot.pose()
    robot.set_wheels(-50, 50)                                 # spin on the spot
    for _ in range(1000):
        robot.step(1.0)
    assert robot.pose()[:2] == pytest.approx((x, y))
    turned = 100.0 / robot.wheelbase_mm * (1.0 - 0.03)        # rad in 1 s, less the lag
    assert robot.pose()[2] == pytest.approx(heading + turned, abs=2e-3)


def test_wheels_follow_the_firmware_not_the_host():
    mcu = fresh_mcu()
    host = mcu.host()
    host.drive(200, 200)            # before a handshake the core ignores DRIVE
    mcu.advance(200)
    assert mcu.robot.pose()[:2] == (1000.0, 1000.0)
    host.hello()
    drive_for(mcu, host, 200, 200, 1000)
    assert mcu.applied_mm_s == (200, 200)
    assert mcu.robot.pose()[0] == pytest.approx(1000 + 200 - 6, abs=1)   # 1 s at 200, less lag


def test_estop_frame_into_the_core_stops_the_robot():
    mcu = fresh_mcu()
    host = mcu.host()
    host.hello()
    drive_for(mcu, host, 200, 200, 500)
    host.estop()
    assert mcu.estopped and mcu.applied_mm_s == (0, 0)
    drive_for(mcu, host, 200, 200, 400)     # the host keeps asking: the core holds zero
    stopped = mcu.robot.pose()
    drive_for(mcu, host, 200, 200, 1000)
    assert mcu.robot.pose() == stopped
    host.clear()
    drive_for(mcu, host, 200, 200, 500)
    assert mcu.robot.pose()[0] > stopped[0] + 50


def test_watchdog_stops_the_robot_on_virtual_time():
    mcu = fresh_mcu()
    host = mcu.host()
    host.hello()
    drive_for(mcu, host, 150, 150, 500)
    host.drive(150, 150)
    mcu.advance(199)                          # silent, not yet 200 ms of virtual time
    assert not mcu.watchdog_stopped and mcu.applied_mm_s == (150, 150)
    mcu.advance(2)
    assert mcu.watchdog_stopped and mcu.applied_mm_s == (0, 0)
    mcu.advance(400)                          # the wheels' lag runs out
    stopped = mcu.robot.pose()
    mcu.advance(1000)
    assert mcu.robot.pose() == stopped


def test_after_step_sees_every_millisecond():
    seen = []
    mcu = SimMcu(after_step=lambda robot: seen.append(robot.pose()))
    mcu.advance(37)
    assert len(seen) == 37 and mcu.now_ms == 37


def test_a_real_link_drives_the_sim_over_a_pty_in_real_time():
    mcu = fresh_mcu()
    url = mcu.serve_pty(realtime=True)
    try:
        with Link(LinkConfig(url=url)) as link:   # connects: HELLO over the pty
            deadline = time.monotonic() + 0.6
            while time.monotonic() < deadline:
                link.send_drive(200, 200)
                link.heartbeat()
                time.sleep(0.02)
            assert mcu.robot.pose()[0] > 1000 + 40
            assert mcu.now_ms >= 500      # the pty thread ran the clock
    finally:
        mcu.close()
