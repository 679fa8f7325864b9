"""The run's pace (runtime/daemon/pace.py): a vision chain slower than rates.frame_hz slows the
frame rate, stretches the frame-counted limits and scales camera-driven speeds, instead of a
robot standing blind on frames that are always stale."""
import collections
import time

import numpy as np
import pytest

from spikebox.runtime.activator import make_activator
from spikebox.runtime.box import Box
from spikebox.runtime.daemon import RunConfig
from spikebox.runtime.daemon import run as run_module
from spikebox.runtime.daemon.pace import (HEADROOM, MIN_FRAME_HZ, Pace, TooSlowToDrive,
                                          VisionCost, measure_vision)
from spikebox.runtime.daemon.refusals import DaemonError
from spikebox.runtime.daemon.run import Daemon, default_box
from spikebox.runtime.source.sim import SimSource

from daemonkit import run_in_thread


def _cost(total_ms: float) -> VisionCost:
    return VisionCost(encoder_ms=total_ms * 0.1, activator_ms=total_ms * 0.9, backend="lava")


def test_a_chain_that_keeps_up_changes_nothing():
    config = RunConfig()
    pace = Pace.for_cost(config, _cost(1000.0 / config.rates.frame_hz / HEADROOM * 0.9))
    assert not pace.adapted and pace.slowdown == 1.0
    assert pace.apply(config) is config
    assert pace.deadlines_ms({"encoder": 0.25, "activator": 0.25}) == {}


def test_a_slow_chain_keeps_the_same_frames_and_millimetres_per_frame():
    config = RunConfig()
    pace = Pace.for_cost(config, _cost(45.0))
    slow = pace.apply(config)
    assert pace.adapted
    assert slow.rates.frame_hz == pace.frame_hz <= 1000.0 / (45.0 * HEADROOM)
    k = config.rates.frame_hz / slow.rates.frame_hz
    assert k > 1
    # Limits counted in frames stay the same number of frames (rounded up to whole ms) ...
    for table, key in (("source", "max_frame_age_ms"), ("arbiter", "result_max_age_ms"),
                       ("activator", "awake_hold_ms")):
        before, after = getattr(getattr(config, table), key), getattr(getattr(slow, table), key)
        assert before * k <= after < before * k + 1
    # ... and the robot moves no farther a frame than at the configured rate.
    for key in ("cruise_mm_s", "turn_rad_s", "idle_speed_mm_s"):
        per_frame = getattr(config.arbiter, key) / config.rates.frame_hz
        assert getattr(slow.arbiter, key) / slow.rates.frame_hz == pytest.approx(per_frame)
    # What reads the MCU's telemetry, not the camera, is not touched.
    for key in ("range_stop_mm", "range_slow_mm", "telemetry_max_age_ms", "back_off_mm_s"):
        assert getattr(slow.arbiter, key) == getattr(config.arbiter, key)
    deadlines = pace.deadlines_ms({"encoder": 0.25, "activator": 0.25})
    assert deadlines["activator"] >= pace.cost.activator_ms * HEADROOM
    assert "rates.adapt = false" in pace.describe()


def test_adapt_false_keeps_the_rates_and_says_the_frames_will_be_stale():
    config = RunConfig().with_overrides({"rates.adapt": False})
    pace = Pace.for_cost(config, _cost(45.0))
    assert not pace.adapted and pace.apply(config) is config
    assert "stale" in pace.describe()


def test_a_chain_too_slow_to_steer_by_is_refused_naming_the_setting():
    for adapt in (True, False):
        config = RunConfig().with_overrides({"rates.adapt": adapt})
        with pytest.raises(TooSlowToDrive, match="activator.backend"):
            Pace.for_cost(config, _cost(1000.0 / MIN_FRAME_HZ))


def test_measuring_leaves_encoder_and_activator_as_fresh_ones():
    """The run's spikes are those of a run without the measurement (replay depends on it)."""
    box = Box.open(default_box())
    network, encoder = box.load_activator()
    _, fresh_encoder = box.load_activator()
    frames = [np.random.default_rng(i).integers(0, 256, (120, 160, 3), dtype=np.uint8)
              for i in range(4)]
    with make_activator(network, backend="numpy") as measured, \
            make_activator(network, backend="numpy") as fresh:
        cost = measure_vision(encoder, measured, (160, 120), "numpy")
        assert cost.encoder_ms > 0 and cost.activator_ms > 0
        for frame in frames:
            a = measured.step(encoder.encode(frame))
            b = fresh.step(fresh_encoder.encode(frame))
            assert np.array_equal(a.spike_counts, b.spike_counts)
            assert np.array_equal(a.v, b.v)


class _SlowActivator:
    """The real activator on a CPU that takes STEP_S a frame: the one thing here that cannot be
    real (the chain of a small robot board, or Lava's simulation on a slower machine)."""
    STEP_S = 0.12

    def __init__(self, real):
        self.real, self.network = real, real.network

    def step(self, spikes):
        time.sleep(self.STEP_S)
        return self.real.step(spikes)

    def reset(self):
        self.real.reset()

    def close(self):
        self.real.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("adapt", [True, False])
def test_a_slow_activator_slows_the_run_instead_of_blinding_the_robot(monkeypatch, adapt):
    """At 120 ms a frame every frame is older than the configured 100 ms age limit: kept at the
    configured rates the robot never sees a fresh frame and stands (blind); paced, it drives."""
    def slow_activator(network, backend):
        return _SlowActivator(make_activator(network, backend=backend))
    monkeypatch.setattr(run_module, "make_activator", slow_activator)
    config = RunConfig().with_overrides({"seconds": 6.0, "rates.adapt": adapt,
                                         "arbiter.idle": "cruise"})
    with SimSource(course="tour", seed=5, fps=config.rates.frame_hz) as source:
        daemon = Daemon(config, source=source)
        t, out = run_in_thread(daemon)
        t.join(60)
    summary = out["summary"]
    reasons = collections.Counter(c.reason for c in daemon.parts["control"].commands)
    assert summary["motors_confirmed_zero"]
    if adapt:
        assert summary["pace"]["adapted"]
        assert summary["pace"]["frame_hz"] <= 1000.0 / (_SlowActivator.STEP_S * 1000 * HEADROOM)
        assert reasons["blind"] < 0.2 * sum(reasons.values()), reasons
        moving = sum(1 for c in daemon.parts["control"].commands if c.left_mm_s or c.right_mm_s)
        assert moving > 0.5 * sum(reasons.values()), reasons           # it drove
    else:
        assert not summary["pace"]["adapted"]
        assert reasons["blind"] > 0.9 * sum(reasons.values()), reasons


def test_a_chain_too_slow_to_steer_by_is_refused_before_the_link_opens(monkeypatch):
    class Glacial(_SlowActivator):
        STEP_S = 1.0 / MIN_FRAME_HZ
    monkeypatch.setattr(run_module, "make_activator",
                        lambda network, backend: Glacial(make_activator(network, backend=backend)))
    opened = []
    monkeypatch.setattr(Daemon, "_open_link", lambda self, *a: opened.append(1))
    with pytest.raises(DaemonError, match="frames/s"):
        Daemon(RunConfig().with_overrides({"seconds": 1.0})).run()
    assert not opened


def test_the_lava_demo_config_is_the_demo_on_lava():
    from pathlib import Path
    from spikebox.runtime.daemon.run import DEMO_ALWAYS_AWAKE, DEMO_OVERRIDES
    config = RunConfig.from_toml(Path(__file__).resolve().parent.parent / "tools" / "lava-demo.toml")
    assert config.activator.backend == "lava"
    assert config.activator.always_awake == DEMO_ALWAYS_AWAKE
    assert all(getattr(config.arbiter, k.split(".")[1]) == v for k, v in DEMO_OVERRIDES.items())
