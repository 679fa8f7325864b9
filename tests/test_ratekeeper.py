"""The control loop's rate keeper, on a fake clock."""
import pytest

from spikebox.runtime.ratekeeper import Ratekeeper


class FakeClock:
    def __init__(self):
        self.t = 100.0
        self.slept = []

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.slept.append(s)
        self.t += s


def test_keeps_rate_and_counts_missed_deadlines():
    clock = FakeClock()
    rk = Ratekeeper(50, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        clock.t += 0.005            # 5 ms of work in a 20 ms cycle
        assert rk.keep_time() is False
    assert rk.missed_deadlines == 0
    assert clock.t == pytest.approx(100.0 + 10 * 0.02)
    clock.t += 0.035                # one long cycle: 35 ms of work
    assert rk.keep_time() is True
    assert rk.missed_deadlines == 1 and rk.worst_lag_ms == pytest.approx(15.0)
    clock.t += 0.005                # re-anchored: no burst of catch-up cycles
    assert rk.keep_time() is False
    assert clock.slept[-1] == pytest.approx(0.015)


def test_rejects_bad_rate():
    with pytest.raises(ValueError):
        Ratekeeper(0)
