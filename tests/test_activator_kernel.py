"""The frame kernel (runtime/activator/_frame_kernel.c) and the weights it reads, held once.

The kernel is tested against the numpy path (itself tested against fx.lif_step and real
Lava in test_activator.py) on networks and frames built to reach every corner of the
arithmetic: int16 partial sums that must be flushed, code offsets, shifts in both
directions, chunks of 64 timesteps, unit blocks, wrapping currents. And against Lava
directly, on networks whose experts Lava runs as shared processes.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from spikebox.runtime.activator import ActivatorNetwork, ExpertUnits, NumpyActivator
from spikebox.runtime.activator import fixed_point as fx
from spikebox.runtime.activator.kernel import UNIT_BLOCK, FrameKernel
from spikebox.runtime.activator.network import JSON_NAME, NPZ_NAME, ActivatorFileError
from spikebox.runtime.activator.packed import PackedWeights


def test_the_kernel_is_built_by_the_projects_install():
    """`make venv` compiles it (setup.py); without it the robot runs the slow path."""
    assert FrameKernel.load() is not None
    assert NumpyActivator(ActivatorNetwork(3, 2, [ExpertUnits("e", np.ones((1, 3), int))])).path == "kernel"


def _hostile_expert(rng, name, n_inputs, units):
    kind = rng.integers(5)
    if kind == 0:
        w = rng.integers(-256, 256, (units, n_inputs))        # mixed, full range
    elif kind == 1:
        w = rng.integers(0, 256, (units, n_inputs))           # excitatory: offset codes
    elif kind == 2:
        w = -rng.integers(0, 256, (units, n_inputs))          # inhibitory: offset codes
    elif kind == 3:
        w = rng.choice([-256, 255, 0], (units, n_inputs))    # the extremes only
    else:
        w = np.zeros((units, n_inputs), int)
    return ExpertUnits(name, w, num_weight_bits=int(rng.integers(1, 9)),
                       weight_exp=int(rng.choice([-16, -9, -3, 0, 2, 7, 16])),
                       vth=int(rng.choice([0, 1, 400, 2**17 - 1])),
                       du=int(rng.choice([0, 1, 2048, 4095])), dv=int(rng.choice([0, 64, 4095])),
                       bias_mant=rng.integers(-2**12, 2**12, units),
                       bias_exp=rng.integers(-12, 8, units))


@pytest.mark.parametrize("timesteps, n_inputs, units_per_expert, experts", [
    (1, 7, 1, 3),
    (16, 600, 4, 5),             # every input on at once: > 255 additions into one int16 row
    (64, 33, UNIT_BLOCK // 2, 2),   # exactly one 64-step chunk, exactly one unit block
    (65, 40, 3, 3),              # a second chunk of one timestep
    (130, 25, UNIT_BLOCK + 1, 1),   # three chunks; a unit block and one unit over
])
def test_kernel_equals_the_numpy_path_bit_for_bit(timesteps, n_inputs, units_per_expert, experts):
    rng = np.random.default_rng(timesteps * 1000 + n_inputs)
    net = ActivatorNetwork(n_inputs, timesteps, [_hostile_expert(rng, f"e{i}", n_inputs, units_per_expert)
                                                 for i in range(experts)])
    kernel, reference = NumpyActivator(net, path="kernel"), NumpyActivator(net, path="numpy")
    frames = [np.ones((timesteps, n_inputs), np.uint8), np.zeros((timesteps, n_inputs), np.uint8)]
    frames += [(rng.random((timesteps, n_inputs)) < p).astype(np.uint8) for p in (0.03, 0.5, 0.97)]
    for frame in frames * 2:     # state (u, v, the Dense buffer) carried across frames
        a, b = kernel.step(frame), reference.step(frame)
        assert np.array_equal(a.spikes, b.spikes)
        assert np.array_equal(a.u, b.u) and np.array_equal(a.v, b.v)
        assert np.array_equal(a.spike_counts, b.spike_counts)
        assert np.array_equal(a.expert_warmth, b.expert_warmth) and a.fired == b.fired
        assert a.synops == b.synops and a.energy_uj == b.energy_uj
    assert np.array_equal(kernel._dense_buffer, reference._dense_buffer)


def test_kernel_lif_equals_lif_step_from_out_of_range_states():
    """T = 1: the step's input is the Dense buffer, so any int32 current can be put there."""
    rng = np.random.default_rng(3)
    for seed in range(30):
        net = ActivatorNetwork(4, 1, [_hostile_expert(np.random.default_rng(seed), "e", 4, 8)])
        act = NumpyActivator(net, path="kernel")
        u0 = rng.integers(-2**31, 2**31, 8).astype(np.int32)
        v0 = rng.integers(-2**23 + 1, 2**23, 8).astype(np.int32)
        a0 = rng.integers(-2**31, 2**31, 8).astype(np.int32)
        act._u[:], act._v[:], act._dense_buffer[:] = u0, v0, a0
        r = act.step(np.zeros((1, 4), np.uint8))
        u, v, spiked = fx.lif_step(u0, v0, a0, act._du, act._dv, act._bias, act._vth_scaled)
        assert np.array_equal(r.spikes[0], spiked)
        assert np.array_equal(r.u, u) and np.array_equal(r.v, v)


def test_packed_weights_are_lava_effective_weights_in_one_byte():
    rng = np.random.default_rng(0)
    for lo, hi in ((-256, 256), (0, 256), (-255, 1), (-3, 4), (0, 1)):
        for bits in (1, 5, 7, 8):
            raw = rng.integers(lo, hi, (3, 40))
            units = ExpertUnits("e", raw, num_weight_bits=bits)
            assert units.weights.codes.dtype == np.int8
            assert np.array_equal(np.asarray(units.weights), fx.effective_weights(raw, bits))
    with pytest.raises(ValueError, match="one byte"):
        PackedWeights.pack(np.array([[-300, 301]]))


def test_a_network_holds_each_weight_once_in_one_byte():
    rng = np.random.default_rng(1)
    net = ActivatorNetwork(500, 8, [ExpertUnits(f"e{i}", rng.integers(-64, 65, (4, 500)))
                                    for i in range(6)])
    packed = net.packed()
    assert packed.codes.shape == (500, 24) and packed.codes.dtype == np.int8
    for e in net.experts:       # every expert's codes are a view of the one matrix
        assert np.shares_memory(e.weights.codes, packed.codes)
    act = NumpyActivator(net, path="kernel")
    assert 500 * 24 <= act.nbytes < 500 * 24 + 24 * 64 + 500 * 8 + 4096
    assert NumpyActivator(net, path="numpy").nbytes > 4 * 500 * 24    # its float copy


def _as_schema_1(directory, network):
    """Write `network` as an activator of schema 1 (int16 weights), as older boxes hold it."""
    import hashlib
    import io
    arrays, experts = {}, []
    for i, e in enumerate(network.experts):
        names = {a: f"expert{i}_{a}" for a in ("weights", "bias_mant", "bias_exp")}
        arrays[names["weights"]] = np.asarray(e.weights).astype(np.int16)
        arrays[names["bias_mant"]], arrays[names["bias_exp"]] = e.bias_mant, e.bias_exp
        experts.append({"name": e.name, "units": e.n_units, "weight_exp": e.weight_exp,
                        "num_weight_bits": e.num_weight_bits, "vth": e.vth, "du": e.du,
                        "dv": e.dv, "arrays": names})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (directory / NPZ_NAME).write_bytes(buf.getvalue())
    (directory / JSON_NAME).write_text(json.dumps({
        "schema_version": 1, "n_inputs": network.n_inputs, "timesteps": network.timesteps,
        "arrays_file": NPZ_NAME, "arrays_sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
        "experts": experts}))


def test_schema_1_activators_still_load_and_schema_2_is_half_the_size(tmp_path):
    rng = np.random.default_rng(2)
    net = ActivatorNetwork(3000, 4, [_hostile_expert(rng, f"e{i}", 3000, 3) for i in range(5)])
    (tmp_path / "v1").mkdir()
    _as_schema_1(tmp_path / "v1", net)
    assert ActivatorNetwork.load(tmp_path / "v1") == net
    net.save(tmp_path / "v2")
    assert ActivatorNetwork.load(tmp_path / "v2") == net
    assert json.loads((tmp_path / "v2" / JSON_NAME).read_text())["schema_version"] == 2
    sizes = [(tmp_path / v / NPZ_NAME).stat().st_size for v in ("v1", "v2")]
    assert sizes[1] < 0.6 * sizes[0]


@pytest.mark.parametrize("edit, message", [
    ({"weight_code_shift": 0}, "Lava's Dense keeps"),   # odd mixed-sign weights: Lava drops the LSB
    ({"weight_code_shift": 9}, "out of range"),
    ({"weight_code_offset": 1.5}, "must be integers"),
])
def test_weight_codes_that_numpy_and_lava_would_read_differently_are_refused(tmp_path, edit, message):
    import hashlib
    net = ActivatorNetwork(4, 2, [ExpertUnits("e", np.array([[-256, 254, 4, -8]]))])   # shift 1
    net.save(tmp_path)
    meta = json.loads((tmp_path / JSON_NAME).read_text())
    meta["experts"][0].update(edit)
    meta["arrays_sha256"] = hashlib.sha256((tmp_path / NPZ_NAME).read_bytes()).hexdigest()
    (tmp_path / JSON_NAME).write_text(json.dumps(meta))
    with pytest.raises(ActivatorFileError, match=message):
        ActivatorNetwork.load(tmp_path)


def test_lava_runs_experts_of_shared_parameters_as_one_process_pair_bit_exact():
    from spikebox.runtime.activator.lava_backend import LavaActivator, process_groups
    rng = np.random.default_rng(5)
    n = 60
    same = dict(vth=300, du=4095, dv=64)
    experts = [ExpertUnits("mixed_a", rng.integers(-200, 200, (3, n)), **same),
               ExpertUnits("zero", np.zeros((2, n), int), **same),
               ExpertUnits("excitatory", rng.integers(0, 256, (2, n)), **same),
               ExpertUnits("mixed_b", rng.integers(-200, 200, (4, n)), **same),
               ExpertUnits("own_vth", rng.integers(-200, 200, (1, n)), vth=50, du=4095, dv=64),
               ExpertUnits("inhibitory", -rng.integers(0, 256, (2, n)), **same)]
    net = ActivatorNetwork(n, 8, experts)
    groups = process_groups(net)
    assert sorted(map(sorted, groups)) == [[0, 1, 3], [2], [4], [5]]
    frames = (rng.random((6, 8, n)) < 0.4).astype(np.uint8)
    kernel = NumpyActivator(net, path="kernel")
    with LavaActivator(net) as lava:
        for f in frames:
            a, b = kernel.step(f), lava.step(f)
            assert np.array_equal(a.spikes, b.spikes)
            assert np.array_equal(a.u, b.u) and np.array_equal(a.v, b.v)
        assert a.spike_counts.sum() > 0


def test_frame_result_names_views_match_its_arrays():
    rng = np.random.default_rng(4)
    net = ActivatorNetwork(20, 4, [ExpertUnits(f"e{i}", rng.integers(0, 8, (2, 20)), vth=i * 400)
                                   for i in range(5)])
    r = NumpyActivator(net).step(np.ones((4, 20), np.uint8))
    assert r.fired == [n for n, c in zip(r.expert_names, r.expert_spikes) if c > 0]
    assert r.warmth == dict(zip(r.expert_names, r.expert_warmth.tolist()))
    assert r.fired and len(r.fired) < 5
