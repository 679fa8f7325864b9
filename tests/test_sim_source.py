"""SimSource keeps the capture contract: ids that increase with the clock, staleness, repeats
and gaps counted, the truth of each frame kept; and its MCU takes a real Link."""
import time

import numpy as np
import pytest

from spikebox.firmware_bridge import Link, LinkConfig
from spikebox.runtime.source import Source, SourceClosed, SourceError, open_source
from spikebox.runtime.source.sim import SimSource
from test_source import FakeClock   # the capture tests' clock: one fake for every source


def test_paced_frames_follow_the_clock_and_staleness_is_the_contracts():
    clock = FakeClock()
    source = SimSource(fps=10.0, serial=False, clock=clock.now)
    assert isinstance(source, Source)
    with pytest.raises(SourceClosed):
        source.read_latest(None)
    with source:
        first = source.read_latest(100)
        assert first.frame_id == 0 and first.t_monotonic_s == clock.t
        assert first.image.shape == (120, 160, 3) and not first.image.flags.writeable
        clock.advance(0.05)                           # no new frame due: the same capture ...
        assert source.read_latest(None) is first
        assert source.read_latest(30) is None         # ... which is 50 ms old: stale at 30 ms
        clock.advance(0.051)                          # frame 1 is due
        second = source.read_latest(30)
        assert second.frame_id == 1 and second.age_ms(clock.t) == 0
        clock.advance(0.35)                           # a slow reader: frames 2-4 are skipped
        fourth = source.read_latest(30)
        assert fourth.frame_id == 4
        stats = source.stats()
        assert stats["frames_dropped"] == 2 and stats["stale_reads"] == 1
        assert stats["frames_repeated"] == 1 and stats["frames_captured"] == 5
        truth = source.truth(4)
        assert truth.frame_id == 4 and truth.zone_kind == "open" and truth.skill is None
        assert source.truth(2) is None                # never drawn
        assert source.ended is False
    with pytest.raises(SourceClosed):
        source.read_latest(None)


def test_stepped_frames_advance_the_world_one_period_a_read():
    clock = FakeClock()
    with SimSource(fps=20.0, realtime=False, serial=False, clock=clock.now) as source:
        world = source.world
        host = world.mcu.host()
        host.hello()
        ids, xs = [], []
        for _ in range(10):
            host.drive(200, 200)
            capture = source.read_latest(None)
            ids.append(capture.frame_id)
            xs.append(source.truth(capture.frame_id).x_mm)
        assert ids == list(range(10)) and world.t_ms == 450
        assert np.all(np.diff(xs[2:]) > 5)            # the firmware drives it, frame by frame


    def frames():   # the same reads again: the same frames (virtual time, seeded)
        with SimSource(fps=20.0, realtime=False, serial=False, clock=clock.now) as source:
            return [source.read_latest(None).image.tobytes() for _ in range(3)]
    assert frames() == frames()


def test_open_source_sim_specs_and_errors():
    clock = FakeClock()
    with open_source("sim:errand:4", width_px=64, height_px=48, fps=5, clock=clock.now) as source:
        assert source.read_latest(None).image.shape == (48, 64, 3)
        assert source.truth(0).course == "errand" and source.truth(0).seed == 4
        assert source.serial_url and source.stats()["serial_url"] == source.serial_url
    for bad in ("sim:tour:x", "sim:a:b:c"):
        with pytest.raises(SourceError, match="sim:COURSE:SEED"):
            open_source(bad)
    with pytest.raises(SourceError, match="640x480"):
        open_source("sim", width_px=1280, height_px=960)


def test_a_link_drives_the_live_sim_robot_seen_in_its_frames():
    with SimSource(fps=30.0) as source:
        with Link(LinkConfig(url=source.serial_url)) as link:
            deadline = time.monotonic() + 0.8
            while time.monotonic() < deadline:
                link.send_drive(250, 250)
                link.heartbeat()
                time.sleep(0.02)
            capture = source.read_latest(None)
            truth = source.truth(capture.frame_id)
            assert truth.applied_mm_s == (250, 250) and truth.x_mm > 400 + 80
            link.estop()
            time.sleep(0.5)
            capture = source.read_latest(None)
            assert source.truth(capture.frame_id).estopped
