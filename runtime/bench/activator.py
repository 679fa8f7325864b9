"""Both activator backends on the same frames, in one process: speed and bit-exactness.

    from spikebox.runtime.bench.activator import bench_backends, random_network, random_frames
    net = random_network(n_inputs=4000, experts=16, units=4, timesteps=16)
    print(bench_backends(net, random_frames(net, 20, rate=0.03)))

Wall-clock figures are measured, never asserted in tests (STYLE.md).
"""
from __future__ import annotations

import time

import numpy as np

from ..activator.network import ActivatorNetwork, ExpertUnits
from ..activator.numpy_backend import NumpyActivator
from .targets import Target, render, stamp


def bench_backends(network: ActivatorNetwork, frames, numpy_repeats: int = 5) -> dict:
    """Run `frames` ((F, T, n_inputs) or a list of (T, n_inputs)) through both backends.

    numpy is timed as the best of `numpy_repeats` passes (each from a reset
    state); lava as one pass over the frames, without building and closing
    (reported apart as lava_build_s).
    """
    from ..activator.lava_backend import LavaActivator   # Lava only when asked for

    frames = [np.asarray(f) for f in frames]
    if not frames:
        raise ValueError("bench_backends needs at least one frame")
    numpy_act = NumpyActivator(network)
    numpy_results, best = None, float("inf")
    for _ in range(max(1, numpy_repeats)):
        numpy_act.reset()
        t0 = time.perf_counter()
        results = [numpy_act.step(f) for f in frames]
        best = min(best, time.perf_counter() - t0)
        numpy_results = numpy_results or results

    t0 = time.perf_counter()
    lava_act = LavaActivator(network)
    build_s = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        lava_results = [lava_act.step(f) for f in frames]
        lava_s = time.perf_counter() - t0
    finally:
        lava_act.close()

    bit_exact = all(np.array_equal(a.spikes, b.spikes) and np.array_equal(a.u, b.u)
                    and np.array_equal(a.v, b.v) for a, b in zip(numpy_results, lava_results))
    numpy_ms = best / len(frames) * 1e3
    lava_ms = lava_s / len(frames) * 1e3
    return {
        "numpy_ms_per_frame": numpy_ms,
        "lava_ms_per_frame": lava_ms,
        "speedup": lava_ms / numpy_ms,
        "bit_exact": bool(bit_exact),
        "synops_per_frame": float(np.mean([r.synops for r in numpy_results])),
        "loihi_uj_per_frame": float(np.mean([r.energy_uj for r in numpy_results])),
        "units": network.n_units,
        "inputs": network.n_inputs,
        "timesteps": network.timesteps,
        "frames": len(frames),
        "lava_build_s": build_s,
        "spikes_per_frame": float(np.mean([r.spike_counts.sum() for r in numpy_results])),
    }


def random_network(n_inputs: int = 4000, experts: int = 16, units: int = 4, timesteps: int = 16,
                   seed: int = 0) -> ActivatorNetwork:
    """A benchmark network: mixed-sign sparse-ish weights, thresholds that fire now and then."""
    rng = np.random.default_rng(seed)
    return ActivatorNetwork(n_inputs, timesteps, [
        ExpertUnits(f"expert{i}", rng.integers(-64, 65, (units, n_inputs)),
                    vth=int(rng.integers(500, 3000)), du=int(rng.integers(100, 4096)),
                    dv=int(rng.integers(100, 1000)))
        for i in range(experts)])


def random_frames(network: ActivatorNetwork, n: int, rate: float = 0.03, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, network.timesteps, network.n_inputs)) < rate).astype(np.uint8)


TARGETS = (  # issue #3
    Target("speedup", ">=", 30.0),
    Target("numpy_ms_per_frame", "<=", 1.0),
    Target("encode_ms_per_frame", "<=", 1.0),
    Target("bit_exact", "==", True),
)


def run_activator_bench(frames: int = 30, experts: int = 16, units: int = 4,
                        size: tuple[int, int] = (160, 120)) -> dict:
    """`spikebox bench activator`: real encoder spikes of the demo world (the autopilot
    driving the tour course) through a 16-expert x 4-unit network on both backends, same
    frames, same process."""
    from spikebox.runtime.encoder import Encoder

    from ..sim.autopilot import drive_frames
    from .encoder import bench_encoder

    out = dict(bench_encoder(n_frames=200, size=size))
    encoder = Encoder()
    spikes = np.stack([encoder.encode(f) for f in drive_frames(frames + 1, size)])[1:]
    network = random_network(n_inputs=encoder.n_inputs, experts=experts, units=units,
                             timesteps=encoder.config.timesteps)
    out.update(bench_backends(network, spikes))
    out["input_spikes_per_frame"] = float(spikes.sum(axis=(1, 2)).mean())
    return stamp(out, TARGETS)


def format_table(r: dict) -> str:
    rows = [
        ("inputs x timesteps", f"{r['inputs']} x {r['timesteps']}", None),
        ("units (experts x units)", str(r["units"]), None),
        ("encode, 160x120 frame (median)", f"{r['encode_ms_per_frame']:.3f} ms", "encode_ms_per_frame"),
        ("numpy backend per frame", f"{r['numpy_ms_per_frame']:.3f} ms", "numpy_ms_per_frame"),
        ("lava backend per frame (Loihi2SimCfg)", f"{r['lava_ms_per_frame']:.1f} ms", None),
        ("speedup (lava / numpy)", f"{r['speedup']:.0f}x", "speedup"),
        ("bit exact (every spike, u, v)", str(r["bit_exact"]), "bit_exact"),
        ("input spikes per frame", f"{r['input_spikes_per_frame']:.0f}", None),
        ("synaptic ops per frame", f"{r['synops_per_frame']:.0f}", None),
        ("Loihi energy estimate per frame", f"{r['loihi_uj_per_frame']:.2f} uJ", None),
    ]
    return render("spikebox bench activator (same frames through both backends)", rows, TARGETS, r)
