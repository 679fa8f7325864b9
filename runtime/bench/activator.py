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


SCALE_SIZES = (16, 256, 1024)        # experts, 4 units each (issue #11 §2)
SCALE_LAVA_FRAMES = {16: 8, 256: 4, 1024: 2}   # Lava's CPU run takes ~0.4 s a frame at 1024


def _scale_met(result: dict) -> bool:
    scale = result.get("scale") or {}
    big, small = scale.get("1024") or {}, scale.get("16") or {}
    return (all(row.get("bit_exact") is True for row in scale.values()) and bool(big) and bool(small)
            and big["ms_per_frame"] <= 1.5 and big["activator_bytes"] <= 25e6
            and small["ms_per_frame"] <= 0.3)


TARGETS = (  # issue #3; scale: issue #11
    Target("speedup", ">=", 30.0),
    Target("numpy_ms_per_frame", "<=", 1.0),
    Target("encode_ms_per_frame", "<=", 1.0),
    Target("bit_exact", "==", True),
    Target("scale", "<=", "1024 experts 1.5 ms and 25 MB, 16 experts 0.3 ms, bit-exact at each",
           judge=_scale_met),
)


def scale_network(experts: int, n_inputs: int, timesteps: int, units: int = 4, groups: int = 4,
                  seed: int = 0) -> ActivatorNetwork:
    """A box of `experts` experts whose LIF and Dense parameters come from `groups` settings, as
    experts trained with one threshold scale share them; Lava then runs `groups` process pairs."""
    rng = np.random.default_rng(seed)
    settings = [dict(vth=int(rng.integers(500, 3000)), du=int(rng.integers(100, 4096)),
                     dv=int(rng.integers(100, 1000))) for _ in range(groups)]
    return ActivatorNetwork(n_inputs, timesteps, [
        ExpertUnits(f"expert{i}", rng.integers(-64, 65, (units, n_inputs)), **settings[i % groups])
        for i in range(experts)])


def bench_scale(frames: np.ndarray, sizes=SCALE_SIZES, repeats: int = 5,
                lava_frames: dict[int, int] = SCALE_LAVA_FRAMES) -> dict:
    """Per size: ms_per_frame (the backend a robot runs: the frame kernel, one thread; best of
    `repeats` passes over `frames`), activator_bytes (what the network and the backend hold),
    bit_exact (against Lava on the first frames), and dense_ms_per_frame (the numpy path, the
    float matrix product this replaces, same frames, same process) for comparison."""
    from ..activator.lava_backend import LavaActivator   # Lava only when asked for

    T, n = frames.shape[1:]
    out = {}
    for size in sizes:
        network = scale_network(size, n, T)
        row = {}
        for key, path in (("ms_per_frame", "auto"), ("dense_ms_per_frame", "numpy")):
            act = NumpyActivator(network, path=path)
            best = float("inf")
            for _ in range(repeats if path == "auto" else 1):
                act.reset()
                t0 = time.perf_counter()
                results = [act.step(f) for f in frames]
                best = min(best, time.perf_counter() - t0)
            row[key] = best / len(frames) * 1e3
            if path == "auto":
                row["path"], row["activator_bytes"] = act.path, act.nbytes
                reference = results
        sample = frames[:lava_frames.get(size, 2)]
        with LavaActivator(network) as lava:
            got = [lava.step(f) for f in sample]
        row["bit_exact"] = all(np.array_equal(a.spikes, b.spikes) and np.array_equal(a.u, b.u)
                               and np.array_equal(a.v, b.v) for a, b in zip(reference, got))
        row["bit_exact_frames"] = len(sample)
        row["units"] = network.n_units
        out[str(size)] = row
    return out


def run_activator_bench(frames: int = 30, experts: int = 16, units: int = 4,
                        size: tuple[int, int] = (160, 120), scale: bool = True) -> dict:
    """`spikebox bench activator`: real encoder spikes of the demo world (the autopilot
    driving the tour course) through a 16-expert x 4-unit network on both backends, same
    frames, same process; then `scale`: 16, 256 and 1024 experts on the same frames."""
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
    out["input_activity"] = float(spikes.mean())
    out["scale"] = bench_scale(spikes) if scale else None
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
    for size, row in (r.get("scale") or {}).items():
        rows.append((f"{size} experts: per frame ({row['path']}) / dense numpy",
                     f"{row['ms_per_frame']:.3f} / {row['dense_ms_per_frame']:.1f} ms", None))
        rows.append((f"{size} experts: bytes held, bit exact ({row['bit_exact_frames']} frames)",
                     f"{row['activator_bytes'] / 1e6:.1f} MB, {row['bit_exact']}", None))
    if r.get("scale"):
        rows.append(("scale targets", "see above", "scale"))
    return render("spikebox bench activator (same frames through both backends)", rows, TARGETS, r)
