"""Activator: numpy backend bit-exact with real Lava (fixed_pt), files, shutdown, input checks."""
import json
import os
import threading
import time

import numpy as np
import pytest

from spikebox.runtime.activator import (ActivatorFileError, ActivatorNetwork, ExpertUnits, FrameResult,
                                        make_activator)
from spikebox.runtime.activator import energy
from spikebox.runtime.activator import fixed_point as fx
from spikebox.runtime.activator.network import JSON_NAME, NPZ_NAME

# -- helpers -------------------------------------------------------------------


def same(a: FrameResult, b: FrameResult) -> bool:
    return (np.array_equal(a.spikes, b.spikes) and np.array_equal(a.u, b.u)
            and np.array_equal(a.v, b.v) and a.fired == b.fired and a.synops == b.synops)


def reference_run(network, frames):
    """Lava's timestep loop written literally with fixed_point's functions, one
    expert at a time; returns per-frame (spikes, u, v) and which edge cases occurred."""
    seen = {"u_wrapped": False, "v_clipped": False, "channel_wrapped": False, "fired": False}
    state = []
    for e in network.experts:
        n = e.n_units
        state.append({"u": np.zeros(n, np.int32), "v": np.zeros(n, np.int32), "buf": np.zeros(n, np.int32)})
    out = []
    for frame in frames:
        spikes, us, vs = [], [], []
        for e, st in zip(network.experts, state):
            w = fx.effective_weights(e.weights, e.num_weight_bits).astype(np.int64)
            bias = fx.scaled_bias(e.bias_mant, e.bias_exp)
            sp = np.zeros((network.timesteps, e.n_units), bool)
            for t in range(network.timesteps):
                a_in = st["buf"]
                acc = fx.shift_activation(w @ frame[t].astype(np.int64), e.weight_exp)
                st["buf"] = fx.to_channel(acc)
                seen["channel_wrapped"] |= bool((acc != st["buf"]).any())
                raw_u = fx.decay(st["u"], e.du + 1) + (a_in << np.int32(6))
                seen["u_wrapped"] |= bool(((raw_u > fx.MAX_UV) | (raw_u <= -fx.MAX_UV)).any())
                raw_v = fx.decay(st["v"], e.dv).astype(np.int64) + fx.wrap_current(raw_u) + bias
                seen["v_clipped"] |= bool((np.abs(raw_v) >= fx.MAX_UV).any())
                st["u"], st["v"], sp[t] = fx.lif_step(st["u"], st["v"], a_in, e.du, e.dv, bias,
                                                      fx.scaled_vth(e.vth))
                seen["fired"] |= bool(sp[t].any())
            spikes.append(sp)
            us.append(st["u"].copy())
            vs.append(st["v"].copy())
        out.append((np.concatenate(spikes, axis=1), np.concatenate(us), np.concatenate(vs)))
    return out, seen


def edge_network(seed=0, n_inputs=300, timesteps=8):
    """Experts chosen to hit every fixed-point corner (the reference trace checks they do)."""
    rng = np.random.default_rng(seed)
    r = lambda lo, hi, units: rng.integers(lo, hi, (units, n_inputs))  # noqa: E731
    return ActivatorNetwork(n_inputs, timesteps, [
        ExpertUnits("mixed", r(-256, 256, 3), vth=500, du=300, dv=200),
        ExpertUnits("excitatory_5bit", r(0, 256, 2), num_weight_bits=5, vth=2000, du=0, dv=4095),
        ExpertUnits("inhibitory_biased", r(-256, 1, 2), num_weight_bits=6, vth=10, du=4095, dv=0,
                    bias_mant=np.array([4095, 1000]), bias_exp=np.array([7, 3])),
        # 300 inputs x ~180 << 16 overflows int32 on the Dense → LIF channel and u's 24 bits
        ExpertUnits("u_wrap", r(100, 256, 2), weight_exp=16, vth=131071, du=0, dv=0),
        ExpertUnits("v_saturate", r(0, 256, 2), weight_exp=4, vth=131071, du=4095, dv=0),
        ExpertUnits("negative_exp", r(-256, 256, 2), weight_exp=-5, vth=100, du=1000, dv=1000,
                    bias_mant=np.array([-4096, 17]), bias_exp=np.array([-3, 0])),
        ExpertUnits("mixed_3bit", r(-40, 90, 3), num_weight_bits=3, weight_exp=2, vth=3000, du=4095,
                    dv=4095, bias_mant=np.array([-5, 0, 5]), bias_exp=np.array([1, 2, 7])),
        ExpertUnits("silent", np.zeros((1, n_inputs), np.int64), vth=0, du=0, dv=0),
    ])


def random_network(seed, n_inputs=200, timesteps=6, experts=5):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(experts):
        units = int(rng.integers(1, 5))
        kind = rng.integers(3)
        lo, hi = [(-256, 256), (0, 256), (-256, 1)][kind]
        out.append(ExpertUnits(
            f"x{i}", rng.integers(lo, hi, (units, n_inputs)), weight_exp=int(rng.integers(-8, 9)),
            num_weight_bits=int(rng.integers(1, 9)), vth=int(rng.integers(0, 2**17)),
            du=int(rng.choice([0, 4095, rng.integers(4096)])),
            dv=int(rng.choice([0, 4095, rng.integers(4096)])),
            bias_mant=rng.integers(-4096, 4096, units), bias_exp=rng.integers(-12, 8, units)))
    return ActivatorNetwork(n_inputs, timesteps, out)


def frames_for(network, rates, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.random((network.timesteps, network.n_inputs)) < p).astype(np.uint8) for p in rates]


RATES = [0.05, 0.0, 1.0, 0.3, 0.02, 0.5, 0.0, 0.1, 1.0, 0.01] * 3


def children_of_this_process():
    return children_of(os.getpid())


def children_of(parent: int) -> list:
    """Live child processes, minus multiprocessing's per-interpreter resource tracker."""
    me, out = str(parent), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline") as f:
                cmd = f.read()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z" and "resource_tracker" not in cmd:
            out.append(pid)
    return sorted(out)


def shm_entries():
    return set(os.listdir("/dev/shm"))


def alive(pid) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def shm_mapped_by(pid) -> set:
    try:
        with open(f"/proc/{pid}/maps") as f:
            return {line.split("/dev/shm/")[1].split()[0] for line in f if "/dev/shm/" in line}
    except OSError:
        return set()


def leaked_shm(before: set) -> set:
    """Segments that appeared in /dev/shm since `before` and no *other* live process maps.

    /dev/shm is machine-wide: on a shared machine another test run's Lava makes
    its own segments meanwhile, and it maps them. A segment this process still
    maps, or one nobody maps any more, is ours and leaked.
    """
    new = shm_entries() - before
    for pid in filter(str.isdigit, os.listdir("/proc") if new else ()):
        if int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/maps") as f:
                maps = f.read()
        except OSError:                             # gone meanwhile, or not ours to read
            continue
        new = {n for n in new if f"/dev/shm/{n}" not in maps}
    return new


# -- fixed point against Lava's own code ---------------------------------------


def test_effective_weights_match_lava_weightutils():
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights
    rng = np.random.default_rng(3)
    for lo, hi in [(-256, 256), (0, 256), (-256, 1), (0, 1)]:
        w = rng.integers(lo, hi, (5, 40))
        mode = determine_sign_mode(w)
        assert fx.sign_mode(w).value == mode.value
        for bits in range(1, 9):
            lava = truncate_weights(clip_weights(w, mode, num_bits=8), mode, bits)
            assert np.array_equal(fx.effective_weights(w, bits), lava), (lo, hi, bits)
    # by hand: mixed 8-bit drops the LSB with an arithmetic shift
    assert fx.effective_weights(np.array([[-3, 3, 255, -256]])).tolist() == [[-4, 2, 254, -256]]
    # inhibitory: -256 clips to -255, then -255 → -254 with 7 bits
    assert fx.effective_weights(np.array([[-256, -3]]), 7).tolist() == [[-254, -2]]


def test_decay_truncates_toward_zero():
    assert fx.decay(np.array([-512], np.int32), 1).tolist() == [-511]   # -511.875 → -511
    assert fx.decay(np.array([512], np.int32), 1).tolist() == [511]
    assert fx.decay(np.array([6400], np.int32), 2049).tolist() == [3198]


def test_fast_loop_equals_reference_on_extreme_states():
    """The numpy backend's rewritten LIF loop against fx.lif_step, from random
    (often out-of-range) states that only a long run could reach."""
    from spikebox.runtime.activator.numpy_backend import NumpyActivator
    rng = np.random.default_rng(7)
    for seed in range(20):
        net = random_network(seed, n_inputs=50, timesteps=4)
        act = NumpyActivator(net, path="numpy")
        n = net.n_units
        act._u = rng.integers(-2**31, 2**31, n).astype(np.int32)
        act._v = rng.integers(-2**23 + 1, 2**23, n).astype(np.int32)
        u, v = act._u.copy(), act._v.copy()
        a_in = rng.integers(-2**31, 2**31, (4, n)).astype(np.int32)
        spikes = act._lif_frame(a_in)
        for t in range(4):
            u, v, sp = fx.lif_step(u, v, a_in[t], act._du, act._dv, act._bias, act._vth_scaled)
            assert np.array_equal(sp, spikes[t])
        assert np.array_equal(u, act._u) and np.array_equal(v, act._v)


def hand_network():
    # A: w=100 excitatory → a_in 100 → act 6400; du=2048 (u·2047/4096), dv=1024 (v·3/4),
    #    vth 100 → 6400
    # B: w=-3 inhibitory, 7 bits → -2, weight_exp 2 → -8 → act -512; du=0 (u·4095/4096),
    #    dv=0 (no leak), bias 100 << 2 = 400, vth 0 → fires when v > 0
    return ActivatorNetwork(1, 4, [
        ExpertUnits("A", np.array([[100]]), du=2048, dv=1024, vth=100),
        ExpertUnits("B", np.array([[-3]]), num_weight_bits=7, weight_exp=2, du=0, dv=0, vth=0,
                    bias_mant=np.array([100]), bias_exp=np.array([2])),
    ])


# Computed by hand from Lava's equations (Dense output arrives one step late):
# frame 1 = spikes at t0, t1. A: a_in = [0, 100, 100, 0]
#   t0 u=0 v=0 | t1 u=6400 v=6400 (not > 6400) | t2 u=3198+6400=9598, v=4800+9598=14398 > 6400 → spike, v=0
#   t3 u=trunc(9598·2047/4096)=4796, v=4796
# B: a_in = [0, -8, -8, 0]
#   t0 u=0 v=400 > 0 → spike, v=0 | t1 u=-512 v=-512+400=-112 | t2 u=-511-512=-1023 v=-112-1023+400=-735
#   t3 u=trunc(-1023·4095/4096)=-1022 v=-735-1022+400=-1357
# frame 2 = no spikes. A: u 2396, 1197, 598, 298;
#   v 3597+2396=5993, 4494+1197=5691, 4268+598=4866, 3649+298=3947
# B: u -1021, -1020, -1019, -1018; v -1978, -2598, -3217, -3835
HAND_FRAMES = [np.array([[1], [1], [0], [0]], np.uint8), np.zeros((4, 1), np.uint8)]
HAND_EXPECTED = [
    {"spikes": [[0, 1], [0, 0], [1, 0], [0, 0]], "u": [4796, -1022], "v": [4796, -1357]},
    {"spikes": [[0, 0]] * 4, "u": [298, -1018], "v": [3947, -3835]},
]


@pytest.mark.parametrize("backend", ["numpy", "lava"])
def test_hand_computed_case(backend):
    with make_activator(hand_network(), backend) as act:
        for frame, want in zip(HAND_FRAMES, HAND_EXPECTED):
            r = act.step(frame)
            assert r.spikes.astype(int).tolist() == want["spikes"]
            assert r.u.tolist() == want["u"] and r.v.tolist() == want["v"]
            assert r.u.dtype == np.int32 and r.v.dtype == np.int32 and r.spikes.dtype == bool
    assert r.fired == [] and r.warmth["B"] == 0.0
    assert r.warmth["A"] == pytest.approx(3947 / 6400)


def wrap32(x: int) -> int:
    return (x + 2**31) % 2**32 - 2**31


@pytest.mark.parametrize("backend", ["numpy", "lava"])
def test_dense_to_lif_channel_is_int32_not_int16(backend):
    """LIF.a_in is declared int16, yet Lava delivers the Dense output as int32:
    the channel has Dense.a_out's dtype (int32) and recv() adds it to int16 zeros."""
    w_small = np.zeros((1, 400), np.int64)
    w_small[0, :4] = 255
    net = ActivatorNetwork(400, 2, [
        ExpertUnits("fits_int32", w_small, weight_exp=7, du=4095, dv=4095, vth=2**17 - 1),
        ExpertUnits("wraps_int32", np.full((1, 400), 255), weight_exp=16, du=4095, dv=4095, vth=2**17 - 1),
    ])
    frame = np.zeros((2, 400), np.uint8)
    frame[0] = 1
    with make_activator(net, backend) as act:
        r = act.step(frame)
    # 4·255 << 7 = 130560 does not fit int16 (it would become -512); u = 130560 << 6
    assert r.u[0] == 8355840
    # 400·255 << 16 wraps in the int32 channel, << 6 wraps again in int32,
    # then u is wrapped once by 2**24 (and stays far outside 24 bits, as in Lava); v clips.
    a_in = wrap32(102000 << 16)
    u = wrap32(a_in << 6)
    u = u - 2**24 if u > 2**23 else (u + 2**24 if u <= -2**23 else u)
    assert a_in == -1905262592 and u == -1660944384
    assert r.u[1] == u and r.v[1] == -(2**23 - 1)


def test_hand_case_results_and_energy():
    with make_activator(hand_network()) as act:
        r = act.step(HAND_FRAMES[0])
    assert r.fired == ["A", "B"] and r.warmth == {"A": 1.0, "B": 1.0}
    assert r.spike_counts.tolist() == [1, 1]
    assert r.synops == 4            # 2 input spikes x 2 units with nonzero weight
    pj = 4 * 23.6 + 2 * 81 + (8 - 2) * 52 + (2 + 2) * 1.7
    assert r.energy_uj == pytest.approx(pj * 1e-6)


def test_synops_count_only_nonzero_effective_weights():
    # a mixed weight of 1 is truncated to 0 by Lava's Dense: no synapse, no synop
    net = ActivatorNetwork(3, 2, [ExpertUnits("e", np.array([[1, -5, 0], [7, 0, 0]]))])
    fan = energy.fanout(fx.effective_weights(net.experts[0].weights).T)
    assert fan.tolist() == [1, 1, 0]
    r = make_activator(net).step(np.array([[1, 1, 1], [1, 0, 0]], np.uint8))
    assert r.synops == 3


# -- numpy vs Lava, bit for bit -------------------------------------------------


def run_both(network, frames):
    with make_activator(network, "numpy") as a, make_activator(network, "lava") as b:
        for k, f in enumerate(frames):
            ra, rb = a.step(f), b.step(f)
            assert same(ra, rb), f"frame {k}: numpy and Lava differ"
            assert ra.warmth == rb.warmth and ra.energy_uj == rb.energy_uj
        a.reset()
        b.reset()
        for k, f in enumerate(frames[:6]):
            ra, rb = a.step(f), b.step(f)
            assert same(ra, rb), f"after reset, frame {k}: numpy and Lava differ"
        return ra


def test_numpy_bit_exact_with_lava_on_edge_cases():
    net = edge_network()
    frames = frames_for(net, RATES)
    # the frames really drive every corner case, according to the literal reference
    ref, seen = reference_run(net, frames)
    assert all(seen.values()), seen
    with make_activator(net) as a:
        for (sp, u, v), f in zip(ref, frames):
            r = a.step(f)
            assert np.array_equal(r.spikes, sp) and np.array_equal(r.u, u) and np.array_equal(r.v, v)
    run_both(net, frames)


@pytest.mark.parametrize("seed", [11, 12])
def test_numpy_bit_exact_with_lava_on_random_networks(seed):
    net = random_network(seed)
    run_both(net, frames_for(net, RATES, seed=seed))


def test_empty_network_numpy():
    r = make_activator(ActivatorNetwork(5, 3, [])).step(np.ones((3, 5), np.uint8))
    assert r.spikes.shape == (3, 0) and r.fired == [] and r.warmth == {} and r.synops == 0
    with pytest.raises(ValueError, match="at least one expert"):
        make_activator(ActivatorNetwork(5, 3, []), "lava")


# -- input checks ----------------------------------------------------------------


@pytest.mark.parametrize("bad, match", [
    (np.zeros((4, 3), np.uint8), "shape"),
    (np.zeros((8,), np.uint8), "shape"),
    (np.zeros((4, 2), np.float32), "dtype float32"),
    (np.full((4, 2), np.nan), "NaN"),
    (-np.ones((4, 2), np.int8), r"values in \[-1"),
    (np.full((4, 2), 2, np.uint8), "values in"),
    (np.array([["a", "b"]] * 4), "dtype"),
])
def test_bad_frames_are_refused(bad, match):
    act = make_activator(ActivatorNetwork(2, 4, [ExpertUnits("e", np.ones((1, 2), np.int64))]))
    with pytest.raises(ValueError, match=match):
        act.step(bad)


def test_good_frame_dtypes_give_same_result():
    net = edge_network(n_inputs=20, timesteps=3)
    f = frames_for(net, [0.4])[0]
    results = [make_activator(net).step(x) for x in (f, f.astype(bool), f.astype(np.int64), f.tolist())]
    assert all(same(results[0], r) for r in results[1:])


# -- network validation --------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    ({"weights": np.ones((2, 3)) * 0.5}, "integer array"),
    ({"weights": np.full((2, 3), 300)}, r"\[-256, 255\]"),
    ({"weights": np.ones(3, int)}, "2-D"),
    ({"vth": 2**17}, "vth"),
    ({"du": -1}, "du"),
    ({"dv": 4096}, "dv"),
    ({"num_weight_bits": 9}, "num_weight_bits"),
    ({"weight_exp": 1.0}, "weight_exp"),
    ({"bias_mant": np.zeros(3, int)}, r"bias_mant must have shape \(2,\)"),
    ({"bias_exp": np.full(2, 8)}, "bias_exp"),
    ({"name": ""}, "name"),
])
def test_expert_validation(kwargs, match):
    args = {"name": "e", "weights": np.ones((2, 3), int)} | kwargs
    with pytest.raises(ValueError, match=match):
        ExpertUnits(**args)


def test_network_validation_and_growth():
    e = ExpertUnits("a", np.ones((2, 3), int))
    with pytest.raises(ValueError, match="duplicate"):
        ActivatorNetwork(3, 4, [e, e])
    with pytest.raises(ValueError, match="3 inputs"):
        ActivatorNetwork(4, 4, [e])
    with pytest.raises(ValueError, match="timesteps"):
        ActivatorNetwork(3, 0, [e])
    net = ActivatorNetwork(3, 4, [e]).with_expert(ExpertUnits("b", np.zeros((3, 3), int)))
    assert net.n_units == 5 and net.expert_names == ["a", "b"]
    assert net.unit_expert.tolist() == [0, 0, 1, 1, 1] and net.expert_slice("b") == slice(2, 5)
    with pytest.raises(ValueError, match="already exists"):
        net.with_expert(e)
    assert net.without_expert("a").expert_names == ["b"]
    assert net.replace_expert(ExpertUnits("a", np.zeros((1, 3), int))).n_units == 4
    assert e.weights.codes.flags.writeable is False and np.asarray(e.weights).flags.writeable is False


# -- files -------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    net = edge_network(n_inputs=30, timesteps=5)
    net.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [JSON_NAME, NPZ_NAME]   # no temp files left
    back = ActivatorNetwork.load(tmp_path)
    assert back == net
    f = frames_for(net, [0.3, 0.6])
    a, b = make_activator(net), make_activator(back)
    assert all(same(a.step(x), b.step(x)) for x in f)


def test_tampered_npz_is_refused(tmp_path):
    net = edge_network(n_inputs=30, timesteps=5)
    net.save(tmp_path)
    data = bytearray((tmp_path / NPZ_NAME).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / NPZ_NAME).write_bytes(bytes(data))
    with pytest.raises(ActivatorFileError, match=f"{NPZ_NAME}.*sha256"):
        ActivatorNetwork.load(tmp_path)


def test_truncated_npz_is_refused(tmp_path):
    edge_network(n_inputs=30, timesteps=5).save(tmp_path)
    data = (tmp_path / NPZ_NAME).read_bytes()
    (tmp_path / NPZ_NAME).write_bytes(data[: len(data) // 3])
    with pytest.raises(ActivatorFileError, match=NPZ_NAME):
        ActivatorNetwork.load(tmp_path)
    # even when the json is made to agree, the npz itself is unreadable
    meta = json.loads((tmp_path / JSON_NAME).read_text())
    import hashlib
    meta["arrays_sha256"] = hashlib.sha256(data[: len(data) // 3]).hexdigest()
    (tmp_path / JSON_NAME).write_text(json.dumps(meta))
    with pytest.raises(ActivatorFileError, match=f"{NPZ_NAME}.*not a readable npz"):
        ActivatorNetwork.load(tmp_path)


def test_unknown_schema_version_and_missing_files(tmp_path):
    with pytest.raises(ActivatorFileError, match=f"{JSON_NAME}.*missing"):
        ActivatorNetwork.load(tmp_path)
    edge_network(n_inputs=30, timesteps=5).save(tmp_path)
    meta = json.loads((tmp_path / JSON_NAME).read_text())
    meta["schema_version"] = 3
    (tmp_path / JSON_NAME).write_text(json.dumps(meta))
    with pytest.raises(ActivatorFileError, match=f"{JSON_NAME}.*schema_version 3.*reads 1, 2"):
        ActivatorNetwork.load(tmp_path)
    meta["schema_version"] = 2
    (tmp_path / JSON_NAME).write_text(json.dumps(meta))
    (tmp_path / NPZ_NAME).unlink()
    with pytest.raises(ActivatorFileError, match=f"{NPZ_NAME}.*missing"):
        ActivatorNetwork.load(tmp_path)


def test_wrong_dtype_in_npz_is_refused(tmp_path):
    import hashlib
    import io
    net = ActivatorNetwork(3, 2, [ExpertUnits("e", np.ones((2, 3), int))])
    net.save(tmp_path)
    buf = io.BytesIO()
    np.savez(buf, expert0_weight_codes=np.ones((2, 3), np.float64),
             expert0_bias_mant=np.zeros(2, np.int16), expert0_bias_exp=np.zeros(2, np.int16))
    (tmp_path / NPZ_NAME).write_bytes(buf.getvalue())
    meta = json.loads((tmp_path / JSON_NAME).read_text())
    meta["arrays_sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    (tmp_path / JSON_NAME).write_text(json.dumps(meta))
    with pytest.raises(ActivatorFileError, match=f"{NPZ_NAME}.*expert0_weight_codes.*float64"):
        ActivatorNetwork.load(tmp_path)


# -- Lava shutdown ----------------------------------------------------------------------


def small_network():
    return ActivatorNetwork(6, 3, [ExpertUnits("a", np.ones((2, 6), int), vth=50),
                                   ExpertUnits("b", -np.ones((1, 6), int))])


def test_close_leaves_no_processes_or_shared_memory():
    shm_before, kids_before = shm_entries(), children_of_this_process()
    act = make_activator(small_network(), "lava")
    act.step(np.ones((3, 6), np.uint8))
    assert children_of_this_process() != kids_before     # Lava really runs in child processes
    act.close()
    act.close()                                           # twice is fine
    assert not leaked_shm(shm_before)
    assert children_of_this_process() == kids_before
    with pytest.raises(RuntimeError, match="closed"):
        act.step(np.ones((3, 6), np.uint8))
    with make_activator(small_network(), "lava") as act:  # context manager
        act.step(np.zeros((3, 6), np.uint8))
    assert not leaked_shm(shm_before) and children_of_this_process() == kids_before


def test_open_close_cycles_leave_no_threads_or_graphs_behind():
    """Each Lava activator opened and closed used to leave three port threads and its
    whole process graph (weights included) in Lava's registries for good."""
    import gc
    import threading
    from lava.magma.core.process.process import AbstractProcess
    shm_before, kids_before = shm_entries(), children_of_this_process()
    threads_before = {t.ident for t in threading.enumerate()}
    gc.collect()
    procs_before = {id(o) for o in gc.get_objects() if isinstance(o, AbstractProcess)}
    for _ in range(4):
        with make_activator(small_network(), "lava") as act:
            act.step(np.ones((3, 6), np.uint8))
    del act
    gc.collect()
    new_threads = [t.name for t in threading.enumerate() if t.ident not in threads_before]
    assert not new_threads, f"threads left behind: {new_threads}"
    alive = [o for o in gc.get_objects()
             if isinstance(o, AbstractProcess) and id(o) not in procs_before]
    assert not alive, f"{len(alive)} Lava processes still referenced after close"
    assert not leaked_shm(shm_before) and children_of_this_process() == kids_before


def test_close_before_any_frame_is_prompt_and_clean():
    shm_before, kids_before = shm_entries(), children_of_this_process()
    act = make_activator(small_network(), "lava", stop_timeout_s=30.0)
    act.reset()                                  # nothing has run yet: a no-op
    t0 = time.monotonic()
    act.close()
    assert time.monotonic() - t0 < 10            # the graceful path, not the 30 s fallback
    assert not leaked_shm(shm_before) and children_of_this_process() == kids_before


def test_interpreter_exit_with_an_open_activator_does_not_hang():
    import subprocess
    import sys
    code = ("import numpy as np\n"
            "from spikebox.runtime.activator import ActivatorNetwork, ExpertUnits, make_activator\n"
            "act = make_activator(ActivatorNetwork(4, 2, [ExpertUnits('a', np.ones((1, 4), int))]), 'lava')\n"
            "act.step(np.ones((2, 4), np.uint8))\n"
            "print('left open')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "left open" in done.stdout, done.stderr


def test_close_does_not_hang_when_lava_stop_hangs():
    shm_before, kids_before = shm_entries(), children_of_this_process()
    act = make_activator(small_network(), "lava", stop_timeout_s=1.0)
    act.step(np.ones((3, 6), np.uint8))
    release = threading.Event()
    act._runtime.stop = lambda: release.wait(60)   # a runtime whose stop never returns
    t0 = time.monotonic()
    act.close()
    elapsed = time.monotonic() - t0
    release.set()
    assert elapsed < 10
    deadline = time.monotonic() + 5
    while (leaked_shm(shm_before) or children_of_this_process() != kids_before) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not leaked_shm(shm_before)
    assert children_of_this_process() == kids_before


# -- bench -------------------------------------------------------------------------------------


def test_bench_backends_reports_and_matches():
    from spikebox.runtime.bench.activator import bench_backends, random_frames, random_network
    net = random_network(n_inputs=100, experts=3, units=2, timesteps=4)
    out = bench_backends(net, random_frames(net, 4, rate=0.1), numpy_repeats=1)
    assert out["bit_exact"] is True
    assert {"numpy_ms_per_frame", "lava_ms_per_frame", "speedup", "synops_per_frame",
            "loihi_uj_per_frame", "units", "inputs", "timesteps"} <= out.keys()
    assert (out["units"], out["inputs"], out["timesteps"]) == (6, 100, 4)


@pytest.mark.parametrize("how", ["SIGTERM to the CLI", "SIGKILL"])
def test_a_stopped_or_killed_process_leaves_no_lava_workers_or_segments(how):
    """SIGTERM to a spikebox command unwinds it (the activator closes); SIGKILL cannot be
    caught, so Lava's workers notice their parent is gone and exit, and the resource
    tracker then unlinks their segments. Either way nothing is left running or in
    /dev/shm. (Before: 10 workers and ~25 segments stayed after either signal.)"""
    import os
    import signal
    import subprocess
    import sys
    code = ("import os, numpy as np\n"
            "from spikebox.cli import stop_on_sigterm, Terminated\n"
            "from spikebox.runtime.activator import ActivatorNetwork, ExpertUnits, make_activator\n"
            "stop_on_sigterm()\n"
            "net = ActivatorNetwork(4, 2, [ExpertUnits('a', np.ones((1, 4), int)),\n"
            "                              ExpertUnits('b', np.ones((1, 4), int))])\n"
            "try:\n"
            "    with make_activator(net, 'lava') as act:\n"
            "        act.step(np.ones((2, 4), np.uint8))\n"
            "        print('ready', flush=True)\n"
            "        while True:\n"
            "            act.step(np.ones((2, 4), np.uint8))\n"
            "except Terminated:\n"
            "    raise SystemExit(143)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    kids = children_of(proc.pid)
    segments = {s for k in kids for s in shm_mapped_by(k)}
    assert kids and segments
    proc.send_signal(signal.SIGTERM if how.startswith("SIGTERM") else signal.SIGKILL)
    assert proc.wait(timeout=60) == (143 if how.startswith("SIGTERM") else -9)

    def clean():
        return not any(alive(k) for k in kids) and not any(
            os.path.exists(f"/dev/shm/{s}") for s in segments)
    deadline = time.monotonic() + 20
    while not clean() and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [k for k in kids if alive(k)]
    for k in left:
        os.kill(k, signal.SIGKILL)
    assert not left, f"{len(left)} Lava workers outlived their parent"
    assert clean(), "shared memory segments left in /dev/shm"
