"""`export compile`'s activator check: numpy and Lava must agree on the box's frames."""
import dataclasses

import pytest

from spikebox.export import backend_check
from spikebox.export.backend_check import BackendMismatch, check_backends_agree
from spikebox.runtime.bench.activator import random_frames, random_network


@pytest.fixture(scope="module")
def network():
    return random_network(n_inputs=300, experts=3, units=2, timesteps=8, seed=4)


def test_agreeing_backends_pass(network):
    seqs = [random_frames(network, 4, rate=0.2, seed=s) for s in (1, 2)]
    report = check_backends_agree(network, seqs)
    assert report.frames == 8 and report.units == 6 and report.bit_exact
    assert report.spikes > 0, "a check on a silent network would prove nothing"


def test_a_disagreeing_backend_is_refused(network, monkeypatch):
    """A numpy backend that is off by one in v on one frame must stop the compile."""
    class OffByOne:
        def __init__(self, inner):
            self.inner, self.n = inner, 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.inner.close()

        def reset(self):
            self.inner.reset()

        def step(self, frame):
            r = self.inner.step(frame)
            self.n += 1
            if self.n == 3:
                v = r.v.copy()
                v[4] += 1
                r = dataclasses.replace(r, v=v)
            return r

    real = backend_check.make_activator
    monkeypatch.setattr(backend_check, "make_activator",
                        lambda net, backend: OffByOne(real(net, backend)) if backend == "numpy"
                        else real(net, backend))
    with pytest.raises(BackendMismatch, match=r"frame 2: numpy and Lava differ in v of unit 4 "
                                              r"\(expert 'expert2'\)"):
        check_backends_agree(network, [random_frames(network, 5, rate=0.2)])
