"""The whole daemon on real parts: the demo box, the sim world, the reference firmware behind a
pseudo-terminal, the arbiter. Runs in real time (a few seconds each)."""
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from spikebox.runtime.daemon import RunConfig
from spikebox.runtime.daemon.run import Daemon
from spikebox.runtime.sim.autopilot import drive_frames
from spikebox.runtime.sim.layout import DOCK_STOP_MM
from spikebox.runtime.source.sim import SimSource
from spikebox.runtime.sim.zones import DOOR_INSET_MM

from daemonkit import run_in_thread, wait

REPO = Path(__file__).resolve().parent.parent
CRUISE = {"arbiter.idle": "cruise", "arbiter.idle_speed_mm_s": 150.0}


def _config(**overrides) -> RunConfig:
    return RunConfig().with_overrides({**CRUISE, **overrides})


def _start_in(source: SimSource, kind: str) -> int:
    """Put the robot just inside the entry of the course's first `kind` zone; its index."""
    world = source.world
    zone = next(z for z in world.course.zones if z.kind == kind)
    door = zone.entry
    with world.mcu.lock:
        world.place_robot(door.x + door.nx * DOOR_INSET_MM, door.y + door.ny * DOOR_INSET_MM,
                          math.atan2(door.ny, door.nx))
    return zone.index


@pytest.mark.timeout(120)
def test_a_short_closed_loop_run_follows_the_line_through_its_zone_into_the_next():
    """From the line zone's door, the activator wakes the line follower, the arbiter steers by
    it, the firmware turns the wheels, and the robot comes out of the zone's far door."""
    with SimSource(course="tour", seed=5, fps=20.0) as source:
        line_zone = _start_in(source, "line")
        daemon = Daemon(_config(seconds=40.0), source=source)
        t, out = run_in_thread(daemon)
        reached = wait(lambda: (source.truth(_newest(daemon)) or _NO).zone > line_zone, 40.0)
        daemon.stop("checkpoint")
        t.join(10)
        truth = source.world.truth()
        arbiter = daemon.parts["arbiter"]
    assert reached, f"still in zone {truth.zone} ({truth.zone_kind}) after 40 s"
    assert truth.collisions == 0
    assert arbiter.counts.driven_by["line_follow"] > 0
    assert out["summary"]["motors_confirmed_zero"]


@pytest.mark.timeout(120)
def test_from_the_dock_zones_door_the_demo_comes_in_square_on_the_marker_and_holds():
    """The demo's run config (the avoider and the way-on finder always awake, idle search):
    the activator wakes the dock, which outranks the avoider's steering, comes in along the
    marker's axis and squares up. Mostly the world then says docked and the run ends "course
    completed"; the dock's distance reading near the marker errs by 25 mm on average and
    by up to ~80 mm (BENCHMARKS.md, "Docking"), and the world's window is ±60 mm, so a run
    may instead hold square on the axis a little out of it (seen once in CI: 476 mm, 4°).
    Its off-axis reading errs too (2.9° median, 7.1° p90 at 350-450 mm: BENCHMARKS.md,
    "The dock squares up within 3 degrees"): from this door one run in five held 466 mm out,
    44 mm off the axis and 7° askew, a little past the world's 40 mm and 6°. So "square" here
    is within 60 mm and 8° of the axis. The old dock, driven straight at the marker, held
    7-14 degrees askew, and as far off the axis as it came in."""
    from spikebox.runtime.daemon.run import demo_overrides
    with SimSource(course="short", seed=2001, fps=20.0) as source:
        _start_in(source, "dock")
        daemon = Daemon(RunConfig().with_overrides({**demo_overrides(None), "seconds": 60.0}),
                        source=source)
        t, out = run_in_thread(daemon)
        t.join(90)
        truth = source.world.truth()
        arbiter = daemon.parts["arbiter"]
    dock = truth.dock
    square = (dock.visible and abs(dock.distance_mm - DOCK_STOP_MM) <= 100
              and abs(dock.distance_mm * math.sin(dock.off_axis_rad)) <= 60
              and abs(math.degrees(dock.bearing_rad - dock.off_axis_rad)) <= 8)
    assert daemon.ended_by == "course completed" or square, (daemon.ended_by, dock)
    assert truth.collisions == 0
    # It squared up (the world may say docked while the dock still turns the last degree,
    # before its own five rows say square: then it has not "arrived" yet).
    assert arbiter.counts.driven_by["dock"] > 0
    assert arbiter.counts.reasons["align"] + arbiter.counts.reasons["arrived"] > 0
    assert out["summary"]["motors_confirmed_zero"]


class _NoTruth:
    zone = -1


_NO = _NoTruth()


def _newest(daemon: Daemon) -> int:
    vision = daemon.parts.get("vision")
    seen = None if vision is None else vision.seen.get()
    return -1 if seen is None else seen.capture.frame_id


@pytest.mark.timeout(60)
def test_stop_puts_the_motors_to_zero_by_a_drive_before_run_returns():
    with SimSource(course="tour", seed=2, fps=20.0) as source:
        daemon = Daemon(_config(seconds=30.0), source=source)
        t, out = run_in_thread(daemon)
        mcu = source.world.mcu
        assert wait(lambda: min(mcu.robot.wheels()[2:]) > 50, 15.0), "the robot never moved"
        daemon.stop("test")
        t.join(10)
        assert not t.is_alive()
        with mcu.lock:
            setpoints = mcu.robot.wheels()[2:]         # what the firmware gives the motors
            watchdog = mcu.watchdog_stopped
    assert out["summary"]["motors_confirmed_zero"] is True
    assert setpoints == (0, 0)
    assert not watchdog, "the wheels stopped by the MCU's watchdog, not by the daemon's DRIVE 0,0"
    assert out["summary"]["ended_by"] == "test"


@pytest.mark.timeout(60)
def test_a_source_that_ends_ends_the_run_with_the_motors_at_zero(tmp_path):
    frames = tmp_path / "clip"
    frames.mkdir()
    for k, image in enumerate(drive_frames(40, (160, 120))):
        cv2.imwrite(str(frames / f"{k:04d}.png"), image)
    config = _config(**{"source.capture": str(frames), "rates.frame_hz": 20.0,
                        "source.max_frame_age_ms": 1000, "seconds": 30.0})
    summary = Daemon(config).run()                 # the firmware alone, on a pty (VirtualMcu)
    assert summary["ended_by"] == "source ended"
    assert summary["frames"] >= 30
    assert summary["motors_confirmed_zero"] is True
    assert summary["failure"] is None


@pytest.mark.timeout(90)
def test_sigterm_stops_the_motors_first_and_exits_143():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "spikebox", "run", "--seconds", "60"],
                            cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=env)
    lines = []
    try:
        for line in proc.stderr:                   # status lines come once a second
            lines.append(line)
            if re.search(r"drive [+-]\d+/[+-]\d+", line) and "drive +0/+0" not in line:  # moving
                break
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    finally:
        proc.kill()
    text = "".join(lines) + rest
    assert proc.returncode == 128 + signal.SIGTERM, text
    assert "done (SIGTERM)" in text and "confirmed at zero by the MCU" in text, text


def test_the_systemd_unit_runs_the_daemon_and_stops_it_the_way_the_daemon_expects():
    import configparser
    import shlex
    import shutil

    from spikebox.cli import build_parser
    unit = REPO / "tools" / "spikebox.service"
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(unit)
    service = parser["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/spikebox")
    args = build_parser().parse_args(argv[1:])
    assert args.func.__name__ == "_cmd_run" and args.seconds == 0      # until stopped
    assert service["KillSignal"] == "SIGTERM"        # what run_until_signalled handles
    assert "143" in service["SuccessExitStatus"].split()               # 128 + SIGTERM: clean
    assert float(service["TimeoutStopSec"]) >= 2     # room for the motors-first stop
    assert service["Restart"] == "on-failure"
    if shutil.which("systemd-analyze"):
        out = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                             text=True)
        assert "Unknown" not in out.stderr and "unknown" not in out.stderr, out.stderr


@pytest.mark.timeout(90)
def test_run_report_writes_the_report_and_a_replayable_recording(tmp_path, capsys):
    import json

    from spikebox.cli import BAD_CONFIG, main
    from spikebox.runtime.box import Box
    from spikebox.runtime.daemon.replay import check_replay
    report = tmp_path / "run1"
    assert main(["run", "--seconds", "3", "--report", str(report)]) == 0
    figures = json.loads((report / "report.json").read_text())
    assert figures["frames"] >= 20 and figures["finished"] and figures["complete"]
    for plot in ("raster.png", "residency.png", "latency.png", "path.png"):
        assert cv2.imread(str(report / plot)) is not None, plot
    assert f"report in {report}" in capsys.readouterr().err
    agreed = check_replay(report / "recording", Box.open(REPO / "models" / "demo.box"))
    assert agreed == figures["frames"]               # every frame, spike for spike
    # A folder that holds a recording already is refused before anything moves.
    assert main(["run", "--seconds", "3", "--report", str(report)]) == BAD_CONFIG
    assert "recording" in capsys.readouterr().err


def _facing_a_wall(source: SimSource, lo_mm: float = 500.0, hi_mm: float = 800.0) -> float:
    """Turn the robot at the course's start to face a wall lo..hi mm ahead (the body's way);
    how far it is."""
    world = source.world
    x, y, _ = world.course.start
    for heading in [i * math.pi / 36 for i in range(72)]:
        with world.mcu.lock:
            world.place_robot(x, y, heading)
        ahead = world.range_mm()
        if lo_mm <= ahead <= hi_mm:
            return ahead
    raise AssertionError("no wall 0.5-0.8 m from the course's start")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("guard", [True, False])
def test_the_range_guard_keeps_a_cruising_robot_off_a_wall_the_camera_cannot_see(guard):
    """Idle cruise straight at a wall: with the range guard (the default) the MCU's range
    sensor stops the forward motion and the robot turns away, never touching it; with the guard
    off it drives into the wall (the test's premise)."""
    with SimSource(course="tour", seed=3, fps=20.0) as source:
        _facing_a_wall(source)
        daemon = Daemon(_config(seconds=12.0, **({} if guard else {"arbiter.range_stop_mm": 0})),
                        source=source)
        t, out = run_in_thread(daemon)
        control = None
        if guard:
            turned = wait(lambda: daemon.parts.get("control") is not None
                          and daemon.parts["control"].near.turns > 0, 12.0)
            wait(lambda: source.world.range_mm() > 300.0, 8.0)    # turned away, clear again
        else:
            turned = wait(lambda: source.world.collisions > 0, 12.0)
        daemon.stop("checkpoint")
        t.join(10)
        control = daemon.parts["control"]
        collisions = source.world.collisions
    if guard:
        assert turned, "the range guard never turned the robot away"
        assert collisions == 0
        assert any(c.reason == "near" for c in control.commands)
        assert out["summary"]["guards"]["range_turns"] == control.near.turns >= 1
    else:
        assert turned and collisions >= 1
    assert out["summary"]["motors_confirmed_zero"]
