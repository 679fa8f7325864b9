"""Routing and growth: units trained per expert wake for their world and not for others.

Frames come from the tests' own procedural families (tests/scenes.py), go
through the real encoder, and are routed by the bit-exact numpy activator.
Bars, on held-out scenes (16 runs of 8 frames per family, never trained on):
every expert wakes on >= 90 % of its own family's frames and on <= 3 % of the
other families' frames; some wrong expert wakes on <= 10 % of frames of any
family. Adding an expert leaves the others' weights byte-identical and their
accuracy within 1 point.
"""
import dataclasses

import numpy as np
import pytest

from scenes import run
from spikebox.export.activator_training import (UnitTrainingConfig, _false_wake_rates,
                                                recalibrate, train_expert_units)
from spikebox.runtime.activator import ActivatorNetwork, ExpertUnits, make_activator
from spikebox.runtime.encoder import Encoder

RECALL_BAR = 0.90
FALSE_WAKE_BAR = 0.03
ANY_WRONG_WAKE_BAR = 0.10
TRAIN_RUNS, HELD_RUNS = 30, 16
FIRST_EXPERTS = ("line", "ball", "sign")
RUN_FRAMES = 8


def encode_runs(family: str, seeds) -> list[np.ndarray]:
    enc = Encoder()
    out = []
    for seed in seeds:
        enc.reset()
        out.append(np.stack([enc.encode(f) for f in run(family, RUN_FRAMES, seed)]))
    return out


@pytest.fixture(scope="module")
def data():
    families = FIRST_EXPERTS + ("dock", "background")
    train = {f: encode_runs(f, range(1000 * i, 1000 * i + TRAIN_RUNS))
             for i, f in enumerate(families)}
    held = {f: encode_runs(f, range(1000 * i + 500, 1000 * i + 500 + HELD_RUNS))
            for i, f in enumerate(families)}
    return train, held


def train(name: str, train_runs: dict, others) -> ExpertUnits:
    """Fit on two thirds of the training runs; calibrate vth on the other third."""
    fit = TRAIN_RUNS * 2 // 3
    pos = np.concatenate(train_runs[name][:fit])
    neg = np.concatenate([r for f in others for r in train_runs[f][:fit]])
    calibration = [r for f in others for r in train_runs[f][fit:]]
    return train_expert_units(name, pos, neg, heldout_negatives=calibration,
                              config=UnitTrainingConfig(target_false_wake=0.01))


def route(network: ActivatorNetwork, held: dict) -> dict[str, list[set]]:
    """family → per frame, the set of experts that fired."""
    out = {}
    with make_activator(network, backend="numpy") as act:
        for family, runs in held.items():
            out[family] = []
            for r in runs:
                act.reset()
                out[family] += [set(act.step(frame).fired) for frame in r]
    return out


def accuracy(fired: dict, expert: str) -> tuple[float, float]:
    """(recall on its own family, false-wake rate on every other family)."""
    own = [expert in s for s in fired[expert]]
    other = [expert in s for fam, frames in fired.items() if fam != expert for s in frames]
    return float(np.mean(own)), float(np.mean(other))


@pytest.fixture(scope="module")
def first_network(data):
    train_runs, _ = data
    experts = [train(e, train_runs, [f for f in train_runs if f != e and f != "dock"])
               for e in FIRST_EXPERTS]
    return ActivatorNetwork(n_inputs=experts[0].weights.shape[1],
                            timesteps=train_runs["line"][0].shape[1], experts=experts)


def test_trained_units_route_frames_to_their_expert(data, first_network):
    _, held = data
    old_held = {f: r for f, r in held.items() if f != "dock"}
    fired = route(first_network, old_held)
    for expert in FIRST_EXPERTS:
        recall, false_wake = accuracy(fired, expert)
        assert recall >= RECALL_BAR, f"{expert}: recall {recall:.2f}"
        assert false_wake <= FALSE_WAKE_BAR, f"{expert}: false wake {false_wake:.3f}"
    for family, frames in fired.items():
        wrong = np.mean([bool(s - {family}) for s in frames])
        assert wrong <= ANY_WRONG_WAKE_BAR, f"{family}: a wrong expert woke on {wrong:.2f}"


def test_weights_are_lava_format(first_network):
    for units in first_network.experts:
        w = np.asarray(units.weights)
        assert np.issubdtype(w.dtype, np.integer) and w.min() >= -256 and w.max() <= 255
        if w.min() < 0 < w.max():
            assert not (w % 2).any(), "mixed-sign weights must be even (Lava drops the LSB)"
        assert 1 <= units.vth < 2**17


def test_adding_an_expert_trains_only_its_units(data, first_network, tmp_path):
    train_runs, held = data
    old_held = {f: r for f, r in held.items() if f != "dock"}
    before = {e: accuracy(route(first_network, old_held), e) for e in FIRST_EXPERTS}

    first_network.save(tmp_path / "v1")
    loaded = ActivatorNetwork.load(tmp_path / "v1")
    dock = train("dock", train_runs, [f for f in train_runs if f != "dock"])
    grown = loaded.with_expert(dock)
    grown.save(tmp_path / "v2")
    regrown = ActivatorNetwork.load(tmp_path / "v2")

    for old, new in zip(first_network.experts, regrown.experts):
        assert old.name == new.name
        assert old.weights.tobytes() == new.weights.tobytes()
        assert (old.vth, old.weight_exp, old.dv) == (new.vth, new.weight_exp, new.dv)
    fired = route(regrown, held)
    old_fired = {f: s for f, s in fired.items() if f != "dock"}
    for e in FIRST_EXPERTS:
        recall, false_wake = accuracy(old_fired, e)
        assert abs(recall - before[e][0]) < 0.01 and abs(false_wake - before[e][1]) < 0.01, e
    recall, false_wake = accuracy(fired, "dock")
    assert recall >= RECALL_BAR and false_wake <= FALSE_WAKE_BAR, (recall, false_wake)


def test_recalibration_changes_thresholds_only(data, first_network):
    train_runs, _ = data
    # The old experts never saw the dock; recalibrate them with it as a new negative.
    negatives = {e: [r for f in train_runs if f != e for r in train_runs[f]]
                 for e in FIRST_EXPERTS}
    again = recalibrate(first_network, negatives, target_false_wake=0.01)
    net = first_network
    for old, new in zip(net.experts, again.experts):
        assert old.weights.tobytes() == new.weights.tobytes()
        assert dataclasses.replace(new, vth=old.vth) == old, "only vth may change"
        rate = _false_wake_rates(new, [new.vth], negatives[new.name], net.n_inputs,
                                 net.timesteps)[0]
        assert rate <= 0.01, f"{new.name}: {rate:.3f} false wakes after recalibration"
    assert any(o.vth != n.vth for o, n in zip(net.experts, again.experts)), \
        "the dock is a new negative for someone: some threshold must move"


def test_removing_an_expert_removes_its_units(first_network):
    smaller = first_network.without_expert("ball")
    assert [u.name for u in smaller.experts] == ["line", "sign"]
    assert smaller.n_units == first_network.n_units - first_network.experts[1].weights.shape[0]
    with pytest.raises((KeyError, ValueError)):
        first_network.without_expert("nope")
