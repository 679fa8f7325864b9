"""The control loop's own watchdog (runtime/daemon/stall_watch.py): a loop silent for longer than
it should be is logged with where it was held. Seen in the demo: the stuck guard held the
control loop 60-330 ms, and only the MCU's watchdog log said anything."""
import logging
import threading
import time

import pytest

from spikebox.runtime.arbiter import Arbiter
from spikebox.runtime.daemon import RunConfig
from spikebox.runtime.daemon.run import Daemon
from spikebox.runtime.daemon.stall_watch import StallWatch
from spikebox.runtime.source.sim import SimSource

from daemonkit import run_in_thread, wait


def _held_here(seconds):
    time.sleep(seconds)


def test_a_silent_loop_is_logged_once_with_its_stack_and_its_gap_measured(caplog):
    caplog.set_level(logging.WARNING, logger="spikebox.runtime.daemon.stall_watch")
    watch = StallWatch(threading.get_ident(), silent_ms=100.0).start()
    try:
        for _ in range(5):                      # beating: nothing to say
            watch.beat()
            time.sleep(0.01)
        watch.beat()
        _held_here(0.5)                         # one silence: ~20 looks by the watch
        watch.beat()
        for _ in range(5):
            watch.beat()
            time.sleep(0.01)
    finally:
        watch.join(2.0)
    held = [r.getMessage() for r in caplog.records if "_held_here" in r.getMessage()]
    assert len(held) == 1 and "sent nothing for" in held[0]   # once per silence, not per look
    assert watch.stalls >= 1 and watch.worst_ms >= 500.0
    with pytest.raises(ValueError):
        StallWatch(threading.get_ident(), silent_ms=0)


class _HeldArbiter(Arbiter):
    """The real arbiter, held once for `hold_s` inside its decision after `after` cycles."""
    def __init__(self, *args, after=30, hold_s=0.35):
        super().__init__(*args)
        self.after, self.hold_s, self.cycles = after, hold_s, 0

    def decide(self, *args, **kwargs):
        self.cycles += 1
        if self.cycles == self.after:
            _hold_the_control_loop(self.hold_s)
        return super().decide(*args, **kwargs)


def _hold_the_control_loop(seconds):
    time.sleep(seconds)


@pytest.mark.timeout(60)
def test_the_daemon_says_where_its_control_loop_was_held_and_counts_it(caplog):
    """Half the MCU's watchdog (the reference firmware's: 200 ms) silent: a warning naming the
    code that held the loop, `control_stalls` and `control_gap_ms_max` in the summary."""
    caplog.set_level(logging.WARNING, logger="spikebox.runtime.daemon.stall_watch")
    config = RunConfig().with_overrides({"arbiter.idle": "cruise", "seconds": 30.0})
    with SimSource(course="tour", seed=2, fps=20.0) as source:
        daemon = Daemon(config, source=source, arbiter_factory=lambda box, cfg: _HeldArbiter(
            box.experts, cfg.arbiter, cfg.link.max_wheel_mm_s))
        t, out = run_in_thread(daemon)
        try:
            assert wait(lambda: daemon.parts and daemon.parts["arbiter"].cycles > 60, 20.0)
        finally:
            daemon.stop("test")
            t.join(10)
    summary = out["summary"]
    assert summary["control_stalls"] >= 1 and summary["control_gap_ms_max"] >= 350.0
    held = [r.getMessage() for r in caplog.records if "_hold_the_control_loop" in r.getMessage()]
    assert held, [r.getMessage() for r in caplog.records]
