"""The daemon when a part fails under it (issue #12 §5): the camera vanishes and comes back, the
serial cable comes loose and is plugged back, the run config cannot work with the box. Real
parts: the demo box, the reference firmware on a pseudo-terminal (the sim's, or the virtual
MCU process), the real arbiter. Only the camera's hardware is a stand-in (no camera here)."""
import logging
import time

import numpy as np
import pytest

from spikebox.runtime.arbiter import Arbiter
from spikebox.runtime.daemon import RunConfig
from spikebox.runtime.daemon.refusals import ConfigRefused, check_budget
from spikebox.runtime.daemon.run import Daemon
from spikebox.runtime.daemon.vision import REOPEN_EVERY_S
from spikebox.runtime.pager import PagerConfig
from spikebox.runtime.source import CameraSource
from spikebox.runtime.source.sim import SimSource

from daemonkit import run_in_thread, wait

CRUISE = {"arbiter.idle": "cruise", "arbiter.idle_speed_mm_s": 150.0}


class UsbCamera:
    """A camera's hardware as cv2.VideoCapture shows it, unpluggable: while unplugged a read
    fails (as V4L2's does once the device is gone) and opening it again fails."""

    def __init__(self):
        self.plugged = True
        self.opens = 0
        self._image = np.full((120, 160, 3), 110, np.uint8)
        self._image[60:, :] = 70                      # a floor and a wall: a still scene

    def factory(self, device, api):
        cam = self

        class Capture:
            def isOpened(self):
                return cam.plugged

            def read(self):
                time.sleep(1 / 30)
                return (True, cam._image.copy()) if cam.plugged else (False, None)

            def set(self, prop, value):
                return True

            def get(self, prop):
                return 0.0

            def getBackendName(self):
                return "USB stand-in"

            def release(self):
                pass

        self.opens += 1
        return Capture()


def _wheels(daemon) -> tuple[int, int] | None:
    """What the firmware applies, from its telemetry."""
    tel = daemon.parts["link"].latest_telemetry(max_age_ms=300)
    return None if tel is None else (tel.left_mm_s, tel.right_mm_s)


def _moving(daemon) -> bool:
    w = _wheels(daemon) if daemon.parts else None
    return w is not None and min(w) > 50


def _stopped(daemon) -> bool:
    return _wheels(daemon) == (0, 0)


@pytest.mark.timeout(90)
def test_a_lost_camera_stops_the_robot_says_so_and_the_run_goes_on_when_it_returns(caplog):
    """The idle behaviour cruises while the camera sees; unplugged, the robot is blind and
    stopped by DRIVE 0,0 (not left to the watchdog), the loss is logged naming the camera, and
    once it is plugged back the source is opened again and the robot drives on."""
    caplog.set_level(logging.WARNING, logger="spikebox.runtime.daemon.vision")
    usb = UsbCamera()
    camera = CameraSource(0, lost_after_ms=300, capture_factory=usb.factory)
    camera.open()
    config = RunConfig().with_overrides({**CRUISE, "seconds": 60.0})
    # The real arbiter with no expert allowed to drive: only idle and the blind rule speak.
    daemon = Daemon(config, source=camera,
                    arbiter_factory=lambda box, cfg: Arbiter({}, cfg.arbiter,
                                                             cfg.link.max_wheel_mm_s))
    t, out = run_in_thread(daemon)
    try:
        assert wait(lambda: _moving(daemon), 20.0), "never cruised while the camera saw"
        usb.plugged = False
        assert wait(lambda: _stopped(daemon), 2.0), f"wheels {_wheels(daemon)} with no camera"
        reasons = {c.reason for c in list(daemon.parts["control"].commands)[-5:]}
        assert reasons == {"blind"}
        assert wait(lambda: daemon.parts["vision"].lost_since_s is not None, 3.0)
        assert "SOURCE LOST" in daemon.parts["board"].line()
        time.sleep(2 * REOPEN_EVERY_S)                # reopening fails while it is unplugged
        assert _stopped(daemon) and t.is_alive()
        assert daemon.parts["vision"].reopen_attempts >= 1
        usb.plugged = True
        assert wait(lambda: _moving(daemon), 3 * REOPEN_EVERY_S + 2.0), "never drove on"
        assert daemon.parts["vision"].lost_since_s is None
    finally:
        daemon.stop("test")
        t.join(10)
        camera.close()
    summary = out["summary"]
    assert summary["failure"] is None and summary["ended_by"] == "test"
    assert summary["source"]["losses"] == 1 and usb.opens >= 2
    assert summary["motors_confirmed_zero"] is True
    lost = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("camera 0" in m and "no frame for" in m and "robot is stopped" in m
               for m in lost), lost
    assert any("frames are back" in r.getMessage() for r in caplog.records)


@pytest.mark.timeout(90)
def test_a_pulled_serial_cable_lets_the_watchdog_stop_the_wheels_and_the_daemon_reconnects():
    """The cable between host and MCU comes loose while the robot drives: the firmware hears
    nothing, its watchdog stops the wheels and the robot stands; the daemon keeps running, and
    when the cable is back the link handshakes again and the robot drives on."""
    with SimSource(course="tour", seed=2, fps=20.0) as source:
        daemon = Daemon(RunConfig().with_overrides({**CRUISE, "seconds": 60.0}), source=source)
        t, out = run_in_thread(daemon)
        mcu = source.world.mcu
        try:
            assert wait(lambda: min(mcu.robot.wheels()[2:]) > 50, 15.0), "never moved"
            mcu.cable(False)
            assert wait(lambda: mcu.watchdog_stopped, 2.0), "the watchdog never fired"
            with mcu.lock:
                assert mcu.robot.wheels()[2:] == (0, 0)       # the setpoints: zero at once
            assert wait(lambda: max(map(abs, mcu.robot.wheels()[:2])) < 1.0, 2.0), \
                "the wheels never came to rest"                # the wheels: after braking
            with mcu.lock:
                pose = mcu.robot.pose()
            link = daemon.parts["link"]
            assert wait(lambda: not link.connected, 5.0), "the link never noticed"
            time.sleep(0.5)
            with mcu.lock:
                x, y, _ = mcu.robot.pose()
            assert np.hypot(x - pose[0], y - pose[1]) < 1.0, "it drove on with its cable pulled"
            assert t.is_alive()
            mcu.cable(True)
            assert wait(lambda: link.connected, 10.0), "never reconnected"
            assert wait(lambda: min(mcu.robot.wheels()[2:]) > 50, 5.0), "never drove on"
        finally:
            daemon.stop("test")
            t.join(10)
    summary = out["summary"]
    assert summary["failure"] is None and summary["ended_by"] == "test"
    assert summary["link"]["reconnects"] >= 1 and summary["drives_not_sent"] >= 1
    assert summary["motors_confirmed_zero"] is True


def _footprints():
    return {"line_follow": 3_000_000, "ball_find": 1_000_000, "dock_find": 2_000_000}


@pytest.mark.parametrize("pager, key, fix", [
    (PagerConfig(budget_bytes=500_000), "pager.budget_bytes = 500,000",
     "give at least 3,000,000 B (--budget-mb 3)"),
    (PagerConfig(budget_bytes=4_000_000, pinned=("line_follow", "dock_find")), "pager.pinned",
     "raise the budget or pin fewer"),
    (PagerConfig(budget_bytes=4_000_000, pinned=("lien_follow",)), "pager.pinned",
     "has no expert 'lien_follow'"),
])
def test_a_pager_config_the_box_cannot_work_with_is_refused_naming_the_key_and_the_fix(
        tmp_path, pager, key, fix):
    with pytest.raises(ConfigRefused) as info:
        check_budget(pager, _footprints(), tmp_path)
    assert key in str(info.value) and fix in str(info.value)


def test_a_budget_some_experts_exceed_is_run_with_a_warning_naming_them(tmp_path, caplog):
    check_budget(PagerConfig(budget_bytes=2_500_000), _footprints(), tmp_path)
    assert "line_follow never fit" in caplog.text
    check_budget(PagerConfig(), _footprints(), tmp_path)          # the default: fits the largest


@pytest.mark.timeout(60)
def test_a_budget_no_expert_fits_is_refused_before_the_link_or_the_source_opens():
    """Refused before anything moves: not one byte reaches the sim's MCU."""
    with SimSource(course="tour", seed=2, fps=20.0) as source:
        mcu = source.world.mcu
        heard = []
        real_rx = mcu.rx
        mcu.rx = lambda data: (heard.append(data), real_rx(data))
        config = RunConfig().with_overrides({**CRUISE, "seconds": 5.0,
                                             "pager.budget_bytes": 1000})
        daemon = Daemon(config, source=source)
        with pytest.raises(ConfigRefused, match=r"pager\.budget_bytes = 1,000: smaller than "
                                                r"every expert"):
            daemon.run()
        time.sleep(0.2)
        assert heard == [] and daemon.parts == {}
        assert mcu.applied_mm_s == (0, 0)



def test_always_awake_naming_an_expert_the_box_lacks_is_refused_naming_the_key():
    from pathlib import Path

    from spikebox.runtime.box import Box
    from spikebox.runtime.daemon.refusals import check_always_awake
    demo = Box.open(Path(__file__).resolve().parent.parent / "models" / "demo.box")
    name = sorted(demo.experts)[0]
    assert check_always_awake((name,), demo) == (name,)
    with pytest.raises(ConfigRefused, match=r"activator\.always_awake = \['obstacle_avod'\]: .* "
                                            r"has no expert 'obstacle_avod'"):
        check_always_awake(("obstacle_avod",), demo)
