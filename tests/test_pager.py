"""The pager on real onnxruntime sessions of convnets the tests build (1–10 MB of weights).

Memory figures are checked in subprocesses, so this test process's own history
(other tests, other sessions) does not pollute them. No wall-clock assertions.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading

import numpy as np
import pytest

from spikebox.runtime.config_fields import ConfigError
from spikebox.runtime.experts.footprint import rss_added_by_load, rss_kept_by_shell
from spikebox.runtime.pager import (ActivatorAwarePolicy, ExpertRefused, LRUPolicy, Pager,
                                    PagerConfig)
from spikebox.runtime.pager.offline import belady_hit_rate, demand_trace, scene_trace, simulate
from spikebox.runtime.pager.offline.belady import optimal_hit_rate_brute_force
from pagerkit import INPUT_SHAPE, write_box
from spikebox.runtime.experts.session_loader import SessionLoader

N_EXPERTS = 10


def _sizes(n=N_EXPERTS, seed=0):
    rng = np.random.default_rng(seed)
    return {f"e{i}": int(rng.uniform(1.0, 10.0) * 1e6) for i in range(n)}


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """(paths, footprints): a box of N_EXPERTS convnets and their measured footprints."""
    paths = write_box(tmp_path_factory.mktemp("box"), _sizes())
    loader = SessionLoader(paths)
    loader.load("e0")                                   # onnxruntime's one-off costs, not an expert's
    footprints = {n: max(rss_added_by_load(loader, n, repeats=2), 1) for n in paths}
    return paths, footprints


def _run(session):
    return session.run(None, {"image": np.ones(INPUT_SHAPE, np.float32)})[0]


class FlakyLoader(SessionLoader):
    """A real loader that raises for the names in `broken` (a corrupt file, a hash mismatch)."""

    def __init__(self, paths, broken):
        super().__init__(paths)
        self.broken = set(broken)
        self.attempts = {}

    def load(self, name):
        self.attempts[name] = self.attempts.get(name, 0) + 1
        if name in self.broken:
            raise ValueError(f"sha256 mismatch for {name}.onnx")
        return super().load(name)


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


# -- budget and memory ------------------------------------------------------------------------

def _child(mode, paths, footprints, extra):
    """Run this file as a script in a fresh process; returns its JSON answer."""
    arg = json.dumps({"paths": {k: str(v) for k, v in paths.items()}, "footprints": footprints,
                      **extra})
    out = subprocess.run([sys.executable, __file__, mode, arg], capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_resident_bytes_and_process_rss_stay_within_budget(box):
    paths, footprints = box
    budget = int(0.3 * sum(footprints.values()))
    frames = scene_trace(sorted(paths), 200, seed=3, run_frames=(2, 6), lead_frames=(1, 3))
    assert len(demand_trace(frames)) >= 200            # a few hundred requests
    shells = {n: rss_kept_by_shell(SessionLoader(paths), n) for n in paths}
    got = _child("budget", paths, footprints, {"budget": budget, "frames": frames,
                                               "shells": shells})
    assert got["max_resident_bytes"] <= budget        # experts + shells, checked after every step
    assert got["requests"] >= 200 and got["evictions"] > 0 and got["pageins_from_shell"] > 0
    # Real memory: the baseline is RSS after importing onnxruntime and creating and destroying
    # one session. Slack: the session being built is already inside the budget (room is
    # reserved first), but while it is built onnxruntime also holds the file's bytes and the
    # parsed protobuf (together under the largest footprint, which is ~2-3x the weight bytes),
    # plus 16 MB for allocator fragmentation and the Python objects of the run.
    # Measured here: 12-15 MB above budget + baseline.
    slack = max(footprints.values()) + 16_000_000
    excess = got["max_rss_bytes"] - got["baseline_rss_bytes"] - budget
    print(f"baseline {got['baseline_rss_bytes'] / 1e6:.1f} MB, budget {budget / 1e6:.1f} MB, "
          f"max RSS {got['max_rss_bytes'] / 1e6:.1f} MB, over budget+baseline "
          f"{excess / 1e6:.1f} MB (slack {slack / 1e6:.1f} MB)")
    assert excess <= slack


def test_rss_after_500_page_in_evict_cycles(box):
    paths, footprints = box
    got = _child("cycles", paths, footprints, {"cycles": 500})
    first, last = got["10"], got["500"]
    growth = 100.0 * (last - first) / first
    print(f"RSS after 10 cycles {first / 1e6:.1f} MB, after 500 {last / 1e6:.1f} MB ({growth:+.1f} %)")
    assert growth < 25.0                               # loose: a real process; the benchmark records it


# -- what is never evicted, what is refused ----------------------------------------------------

def test_running_expert_is_never_evicted(box):
    paths, footprints = box
    held = max(footprints, key=footprints.get)
    others = [n for n in sorted(paths) if n != held]
    budget = footprints[held] + max(footprints[n] for n in others)   # room for one other at a time
    pager = Pager(PagerConfig(budget, policy="lru", prefetch="off"), SessionLoader(paths), footprints)
    inside, done = threading.Event(), threading.Event()
    results = {}

    def hold():
        with pager.use(held) as session:
            inside.set()
            done.wait(timeout=120)
            results["held"] = _run(session)             # still a working session

    thread = threading.Thread(target=hold)
    thread.start()
    assert inside.wait(timeout=120)
    for _ in range(2):
        for name in others:
            with pager.use(name) as session:
                _run(session)
            assert held in pager.resident()
            assert pager.resident_bytes <= budget
    done.set()
    thread.join()
    assert results["held"].shape == (1, 8)
    assert pager.metrics()["evictions"] >= len(others)
    pager.close()


def test_pinned_experts_load_at_start_and_never_leave(box):
    paths, footprints = box
    pinned = ["e1", "e2"]
    budget = sum(footprints[n] for n in pinned) + max(footprints.values())
    loader = SessionLoader(paths)
    pager = Pager(PagerConfig(budget, policy="lru", pinned=pinned, prefetch="off"), loader, footprints)
    assert set(pager.resident()) == set(pinned) and loader.loads == 2
    for name in sorted(paths) * 2:
        with pager.use(name):
            pass
        assert set(pinned) <= set(pager.resident())
    assert pager.metrics()["pinned"] == pinned
    pager.close()


def test_expert_bigger_than_budget_is_refused_and_others_go_on(box, caplog):
    paths, footprints = box
    big = max(footprints, key=footprints.get)
    small = sorted((n for n in footprints if n != big), key=footprints.get)[:2]
    budget = footprints[big] - 1
    pager = Pager(PagerConfig(budget, policy="lru", prefetch="off"), SessionLoader(paths), footprints)
    with caplog.at_level(logging.ERROR, logger="spikebox.runtime.pager"):
        for _ in range(3):
            with pytest.raises(ExpertRefused, match="exceeds the budget"):
                with pager.use(big):
                    pass
            for name in small:
                with pager.use(name) as session:
                    _run(session)
    assert sum(big in r.getMessage() for r in caplog.records) == 1     # logged once
    m = pager.metrics()
    assert m["refused_too_big"] == 3 and big not in m["resident"]
    assert m["resident_bytes"] <= budget
    pager.close()


def test_pinned_set_bigger_than_budget_refuses_and_goes_on(box):
    paths, footprints = box
    a = "e3"
    rest = sorted((n for n in footprints if n != a), key=footprints.get)
    small, big = rest[0], rest[-1]
    config = PagerConfig(footprints[a] + footprints[small], policy="lru", pinned=(a, big),
                         prefetch="off")
    pager = Pager(config, SessionLoader(paths), footprints)
    assert set(pager.resident()) == {a}                 # big cannot fit beside a: refused, counted
    assert pager.metrics()["refused_too_big"] == 1
    with pager.use(small) as session:                   # and the pager goes on
        _run(session)
    pager.close()


def test_loader_that_raises_is_refused_backed_off_and_retried(box, caplog):
    paths, footprints = box
    clock = FakeClock()
    loader = FlakyLoader(paths, broken={"e3"})
    budget = sum(footprints.values())
    pager = Pager(PagerConfig(budget, policy="lru", prefetch="off", retry_after_s=2.0), loader,
                  footprints, clock=clock)
    with caplog.at_level(logging.ERROR, logger="spikebox.runtime.pager"):
        for step in range(5):
            with pytest.raises(ExpertRefused):
                with pager.use("e3"):
                    pass
            with pager.use("e4") as session:            # the others go on
                _run(session)
            clock.t += 0.5
    # attempts at t=0 (fails, back-off 2 s), t=2.0 (fails, back-off 4 s); t=0.5..1.5 and 2.5.. refused
    assert loader.attempts["e3"] == 2
    m = pager.metrics()
    assert m["refused_load_failed"] == 2 and m["refused_in_backoff"] == 3
    assert m["committed_bytes"] == m["resident_bytes"] == footprints["e4"]
    assert sum("e3" in r.getMessage() for r in caplog.records) == 1      # logged once
    loader.broken.clear()                               # the file was fixed: after the back-off it loads
    clock.t += 10
    with pager.use("e3") as session:
        _run(session)
    pager.close()


def test_unknown_expert_and_no_room_are_refused(box):
    paths, footprints = box
    budget = footprints["e0"] + footprints["e1"]
    pager = Pager(PagerConfig(budget, policy="lru", prefetch="off"), SessionLoader(paths), footprints)
    with pytest.raises(ExpertRefused, match="unknown"):
        with pager.use("nope"):
            pass
    bigger = [n for n in footprints if footprints[n] > footprints["e1"] and n != "e0"]
    with pager.use("e0"):
        with pager.use("e1"):
            if bigger:                                  # all room is held by running experts
                with pytest.raises(ExpertRefused, match="running or pinned"):
                    with pager.use(bigger[0]):
                        pass
    assert pager.resident_bytes <= budget
    with pytest.raises(ConfigError, match="budget_bytes = 0: must be > 0"):
        PagerConfig(0)
    with pytest.raises(TypeError, match="PagerConfig first"):
        Pager(budget, SessionLoader(paths), footprints)
    pager.close()


# -- use(wait=False): the daemon's way, no frame waits for a page-in ---------------------------

def _settled(pager):
    assert pager.idle(timeout_s=120), "the pager's background page-ins did not finish"


@pytest.mark.parametrize("prefetch", ["off", "background"])
def test_a_use_that_does_not_wait_misses_once_and_finds_it_paged_in_behind(box, prefetch):
    paths, footprints = box
    budget = footprints["e0"] + footprints["e1"]
    pager = Pager(PagerConfig(budget, policy="lru", prefetch=prefetch), SessionLoader(paths),
                  footprints)
    try:
        for _ in range(3):                              # asked on three frames before it lands:
            with pager.use("e0", wait=False) as session:   # one miss, one page-in
                if session is not None:
                    break
            assert session is None
        _settled(pager)
        assert set(pager.resident()) == {"e0"}
        with pager.use("e0", wait=False) as session:
            assert _run(session).shape == (1, 8)
        m = pager.metrics()
        assert (m["hits"], m["misses"], m["stalls"], m["pageins"]) == (1, 1, 0, 1)
        assert (m["prefetches_issued"], m["prefetches_used"]) == (0, 0)   # a demand, not a guess
    finally:
        pager.close()


def test_a_page_in_behind_evicts_an_idle_expert_but_waits_for_a_running_one(box):
    paths, footprints = box
    a, b = sorted(("e0", "e1"), key=footprints.get, reverse=True)
    budget = footprints[a]                              # room for either, not for both
    pager = Pager(PagerConfig(budget, policy="lru", prefetch="off"), SessionLoader(paths),
                  footprints)
    try:
        with pager.use(a) as session:                   # a running: b's page-in must wait
            with pager.use(b, wait=False) as none:
                assert none is None
            assert b not in pager.resident() and a in pager.resident()
            _run(session)
        _settled(pager)                                 # a released: b took its room
        assert set(pager.resident()) == {b}
        assert pager.resident_bytes <= budget
        assert pager.metrics()["stalls"] == 1            # a's own page-in, which it waited for
    finally:
        pager.close()


def test_a_use_that_does_not_wait_on_an_inflight_prefetch_counts_it_late_not_used(box):
    paths, footprints = box
    release = threading.Event()

    class SlowLoader(SessionLoader):
        def load(self, name):
            release.wait(timeout=120)
            return super().load(name)

    pager = Pager(PagerConfig(sum(footprints.values()), policy="activator", prefetch="background",
                              prefetch_warmth=0.5), SlowLoader(paths), footprints)
    try:
        pager.observe([], {"e2": 0.6})
        pager.observe([], {"e2": 0.8})                  # a lead: its prefetch starts, and waits
        with pager._lock:
            assert pager._lock.wait_for(lambda: "e2" in pager._loading, timeout=120)
        with pager.use("e2", wait=False) as session:
            assert session is None
        release.set()
        _settled(pager)
        with pager.use("e2", wait=False) as session:
            _run(session)
        m = pager.metrics()
        assert (m["misses"], m["stalls"], m["prefetches_late"]) == (1, 0, 1)
        assert m["prefetches_used"] == 0 and m["prefetch_recall"] == 0.0
    finally:
        release.set()
        pager.close()


def test_a_use_that_does_not_wait_is_refused_like_any_other(box):
    paths, footprints = box
    small = min(footprints, key=footprints.get)
    big = max(footprints, key=footprints.get)
    loader = FlakyLoader(paths, broken={small})
    pager = Pager(PagerConfig(footprints[big] - 1, policy="lru", prefetch="off"), loader,
                  footprints)
    try:
        with pytest.raises(ExpertRefused, match="exceeds the budget"):
            with pager.use(big, wait=False):
                pass
        with pager.use(small, wait=False) as session:   # its load fails behind ...
            assert session is None
        _settled(pager)
        assert pager.held_off(small)                    # ... and it is held off, as on demand
        with pytest.raises(ExpertRefused, match="last load failed"):
            with pager.use(small, wait=False):
                pass
        assert pager.metrics()["refused_load_failed"] == 1
    finally:
        pager.close()


# -- prefetch ---------------------------------------------------------------------------------

def test_background_prefetch_loads_a_warming_expert(box):
    paths, footprints = box
    config = PagerConfig(sum(footprints.values()), policy="activator", prefetch_warmth=0.5,
                         prefetch="background")
    pager = Pager(config, SessionLoader(paths), footprints)
    pager.observe([], {"e2": 0.6, "e3": 0.1})          # a rise of two frames: a lead
    pager.observe([], {"e2": 0.8, "e3": 0.1})
    with pager._lock:                                   # wait for the loader thread, not for a time
        assert pager._lock.wait_for(lambda: "e2" in pager._resident, timeout=120)
    with pager.use("e2") as session:
        _run(session)
    m = pager.metrics()
    assert (m["hits"], m["misses"], m["prefetches_issued"], m["prefetches_used"]) == (1, 0, 1, 1)
    assert "e3" not in m["resident"]
    pager.close()


def test_once_paging_stops_nothing_more_is_paged_in_and_the_residents_stay(box):
    """The daemon stops paging before its observers hear of the end of a run: a prefetch
    landing after a recorder had stopped listening left the recording's residency short of
    the pager's (seen in CI). Residency changes after stop_paging: none."""
    paths, footprints = box
    config = PagerConfig(sum(footprints.values()), policy="activator", prefetch_warmth=0.5,
                         prefetch="background")
    pager = Pager(config, SessionLoader(paths), footprints)
    changes = []
    pager.on_residency.append(changes.append)
    with pager.use("e1") as session:
        _run(session)
    pager.stop_paging()
    seen, resident = len(changes), set(pager.resident())
    assert resident == {"e1"}
    assert not pager._background._thread.is_alive()     # the page-in thread has ended
    pager.observe([], {"e2": 0.6})                      # a rise that would prefetch e2
    pager.observe([], {"e2": 0.9})
    assert set(pager.resident()) == resident and len(changes) == seen
    pager.close()
    assert not pager.resident()


def test_prefetch_never_evicts_running_or_pinned_experts(box):
    paths, footprints = box
    budget = footprints["e0"] + footprints["e1"]
    warm = min((n for n in footprints if n not in ("e0", "e1")), key=footprints.get)
    pager = Pager(PagerConfig(budget, policy="activator", pinned=("e0",), prefetch="inline"),
                  SessionLoader(paths), footprints)
    with pager.use("e1"):                               # e1 running, e0 pinned: no room for warm
        pager.observe(["e1"], {warm: 0.7, "e1": 1.0})   # (its rise's first frame: no prefetch yet)
        pager.observe(["e1"], {warm: 0.9, "e1": 1.0})
        assert set(pager.resident()) == {"e0", "e1"}
    assert pager.metrics()["prefetches_skipped"] == 1
    pager.observe([], {warm: 0.9})                      # e1 idle and cold now: it may go
    assert set(pager.resident()) == {"e0", warm}
    pager.close()


def test_a_wanted_expert_is_prefetched_at_once_by_the_same_rules(box):
    """observe(..., wanted=[...]): the caller knows it will run it soon (a sleeper whose sleep
    is over and whose units fire: runtime/daemon/verdicts.py); no warmth trend needed, and it
    never evicts an expert firing in that frame."""
    paths, footprints = box
    budget = footprints["e0"] + footprints["e1"]
    other = min((n for n in footprints if n not in ("e0", "e1")), key=footprints.get)
    pager = Pager(PagerConfig(budget, policy="activator", prefetch="inline"),
                  SessionLoader(paths), footprints)
    for name in ("e0", "e1"):
        with pager.use(name) as session:
            _run(session)
    pager.observe(["e0", "e1"], {"e0": 1.0, "e1": 1.0, other: 1.0},      # both firing: no room
                  wanted=[other])
    assert other not in pager.resident()
    pager.observe(["e0"], {"e0": 1.0, other: 1.0}, wanted=[other])        # e1 idle: it goes
    assert set(pager.resident()) == {"e0", other}
    m = pager.metrics()
    assert m["prefetches_issued"] == 1 and m["prefetches_skipped"] == 1
    off = Pager(PagerConfig(budget, policy="lru", prefetch="off"), SessionLoader(paths), footprints)
    off.observe([], {}, wanted=["e0"])                                    # prefetch off: nothing
    assert off.resident() == {}
    off.close()
    pager.close()


def test_a_prefetch_never_evicts_an_expert_firing_in_that_frame():
    """Issue #11: a warm candidate whose scene keeps coming back (high reuse) outranked an
    expert that fired now but rarely before; the prefetch evicted it, and it was paged in
    again on the same frame. Here "often" has 8 past runs; "rare" fires now, resident."""
    footprints = {"often": 10, "rare": 10}
    cold = {"often": 0.0, "rare": 0.0}
    frames = []
    for _ in range(8):                       # "often" runs and stops, 8 times
        frames += [(["often"], {**cold, "often": 1.0}), ([], cold)]
    frames += [(["rare"], {**cold, "rare": 1.0})]                    # rare resident, often not
    frames += [(["rare"], {**cold, "rare": 1.0, "often": 0.8})]      # rare fires; often warms,
    frames += [(["rare"], {**cold, "rare": 1.0, "often": 0.9})] * 3  # a lead by its third frame
    policy = ActivatorAwarePolicy(prefetch_warmth=0.5)
    m = simulate(frames, footprints, budget_bytes=10, policy=policy)   # room for one
    assert policy.priority("often") > policy.priority("rare"), \
        "the trace must make the policy value 'often' above the firing 'rare' (else it tests nothing)"
    assert m["prefetch_evicted_firing"] == 0
    assert m["prefetches_skipped"] == 3 and m["misses"] == 2     # rare stayed: no second miss


def test_prefetch_recall_and_precision_on_a_hand_made_trace():
    footprints = {n: 10 for n in "abcd"}
    cold = {n: 0.0 for n in "abcd"}
    frames = [
        ([], {**cold, "a": 0.6}),
        ([], {**cold, "a": 0.7}),          # a rises two frames: prefetched
        (["a"], {**cold, "a": 1.0}),       # a fires: a used prefetch (hit)
        ([], {**cold, "b": 0.6}),
        ([], {**cold, "b": 0.7}),          # b rises: prefetched ...
        ([], cold),                        # ... but never fires: an unused prefetch
        (["c"], {**cold, "c": 1.0}),       # c fires cold: a miss
        (["a"], {**cold, "a": 1.0}),       # a again: a plain hit
        ([], {**cold, "d": 0.8}),
        ([], {**cold, "d": 0.9}),          # d rises: prefetched
        (["d"], {**cold, "d": 1.0}),       # d fires: used
    ]
    m = simulate(frames, footprints, budget_bytes=40, policy=ActivatorAwarePolicy(prefetch_warmth=0.5))
    assert (m["hits"], m["misses"]) == (3, 1)
    assert (m["prefetches_issued"], m["prefetches_used"]) == (3, 2)
    assert m["prefetch_recall"] == pytest.approx(2 / 3)       # used / (used + misses)
    assert m["prefetch_precision"] == pytest.approx(2 / 3)    # used / issued


# -- policies against each other and against Belady ----------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_activator_aware_beats_lru_and_belady_bounds_demand_paging(seed):
    rng = np.random.default_rng(seed)
    experts = [f"x{i:02d}" for i in range(16)]
    footprints = {e: int(rng.uniform(2, 20) * 1e6) for e in experts}
    budget = int(0.25 * sum(footprints.values()))
    frames = scene_trace(experts, 2000, seed=seed)
    lru = simulate(frames, footprints, budget, LRUPolicy())
    aware = simulate(frames, footprints, budget, ActivatorAwarePolicy())
    aware_demand = simulate([(f, {}) for f, _ in frames], footprints, budget, ActivatorAwarePolicy())
    belady = belady_hit_rate(demand_trace(frames), footprints, budget)
    assert aware["hit_rate"] >= lru["hit_rate"]
    assert aware["stalls"] <= lru["stalls"]
    # Belady bounds demand paging (no prefetch); prefetch may go beyond it (belady.py says why).
    assert belady >= lru["hit_rate"] and belady >= aware_demand["hit_rate"]
    assert aware["hit_rate"] >= 0.95 * belady


@pytest.mark.parametrize("seed", range(30))
def test_belady_is_optimal_for_equal_sizes(seed):
    rng = np.random.default_rng(seed)
    names = "abcde"[: int(rng.integers(3, 6))]
    trace = [str(c) for c in rng.choice(list(names), size=int(rng.integers(6, 13)))]
    footprints = {n: 7 for n in names}
    budget = 7 * int(rng.integers(1, len(names)))
    assert belady_hit_rate(trace, footprints, budget) == pytest.approx(
        optimal_hit_rate_brute_force(trace, footprints, budget))


def test_belady_with_variable_sizes_is_a_heuristic_within_reach_of_optimum():
    footprints = {"a": 3, "b": 3, "c": 6}
    trace = list("abcabcab")
    heuristic = belady_hit_rate(trace, footprints, 6)
    assert heuristic <= optimal_hit_rate_brute_force(trace, footprints, 6)


# -- the subprocess side ------------------------------------------------------------------------

def _child_budget(args):
    import onnxruntime  # noqa: F401  (the baseline includes onnxruntime imported)
    from spikebox.runtime.pager import rss_bytes, trim_heap
    loader = SessionLoader(args["paths"])
    loader.load(sorted(args["paths"])[0])               # one session created and destroyed
    trim_heap()
    baseline = rss_bytes()
    budget = args["budget"]
    pager = Pager(PagerConfig(budget, policy="activator", prefetch="background"), loader,
                  args["footprints"], shell_footprints=args["shells"])
    max_resident = max_rss = 0
    for fired, warmth in args["frames"]:
        pager.observe(fired, warmth)
        for name in fired:
            with pager.use(name) as session:
                _run(session)
            max_resident = max(max_resident, pager.held_bytes)
            max_rss = max(max_rss, rss_bytes())
    m = pager.metrics()
    pager.close()
    return {"baseline_rss_bytes": baseline, "max_rss_bytes": max_rss,
            "max_resident_bytes": max_resident, "requests": m["requests"],
            "evictions": m["evictions"], "pageins_from_shell": m["pageins_from_shell"]}


def _child_cycles(args):
    from spikebox.runtime.bench.pager import rss_after_cycles
    marks = rss_after_cycles(SessionLoader(args["paths"]), args["footprints"], args["cycles"])
    return {str(k): v for k, v in marks.items()}


if __name__ == "__main__":
    mode, payload = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps({"budget": _child_budget, "cycles": _child_cycles}[mode](payload)))


def test_the_default_budget_is_a_quarter_of_the_box_but_fits_the_largest_expert():
    from spikebox.runtime.pager.config import default_budget_bytes
    fp = {f"e{i}": 1_000_000 for i in range(8)}
    assert default_budget_bytes(fp, {}) == 2_000_000
    # one big expert: the budget must hold it beside the others' shells
    fp_big = {"big": 3_000_000, "a": 500_000, "b": 500_000}
    assert default_budget_bytes(fp_big, {"a": 50_000, "b": 60_000, "big": 99}) == 3_110_000
    # pinned experts sit outside the quarter: their bytes, plus the paging of the others
    assert default_budget_bytes(fp, {}, pinned=("e0",)) == 1_000_000 + 1_750_000
    assert default_budget_bytes(fp_big, {"a": 50_000, "b": 60_000}, pinned=("big",)) == \
        3_000_000 + 560_000
    with pytest.raises(ValueError, match="budget_bytes"):
        PagerConfig(budget_bytes=0)


def test_a_pager_without_a_budget_takes_a_quarter_of_its_experts(box):
    from spikebox.runtime.pager.config import default_budget_bytes
    paths, footprints = box
    pager = Pager(PagerConfig(policy="lru", prefetch="off"), SessionLoader(paths), footprints)
    try:
        assert pager.budget_bytes == default_budget_bytes(footprints, {})
        assert pager.budget_bytes < sum(footprints.values())      # not all fit: it pages
        for name in sorted(paths):                                 # and every one still loads
            with pager.use(name) as session:
                assert session is not None
    finally:
        pager.close()
