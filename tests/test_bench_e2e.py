"""`spikebox bench e2e` on short runs: the keys the issue names, per mode, with sane values."""
import math

import pytest

from spikebox.runtime.bench.e2e import KEYS, MODES, _dock_at_end, recall_bound, run_e2e_bench
from spikebox.runtime.sim import SimWorld, WorldConfig
from spikebox.runtime.sim.layout import DOCK_STOP_MM


@pytest.mark.timeout(120)
def test_e2e_modes_report_every_key_and_the_resident_mode_never_pages():
    r = run_e2e_bench(modes=("resident", "activator_cold"), seconds=4.0)
    assert r["targets_met"] is False                 # a partial run judges nothing
    for mode in ("resident", "activator_cold"):
        m = r[mode]
        assert set(KEYS) <= set(m)
        assert m["frames"] >= 40 and m["fps"] > 10
        assert 0 < m["latency_ms_p50"] <= m["latency_ms_p99"]
        assert m["collisions"] == 0 and m["course_completed"] is False
        assert m["peak_rss_mb"] > 20
        assert m["zone_at_end"] == 0 and m["dock_at_end"] is None   # no dock from the start
    assert r["resident"]["stalled_frames"] == 0 and r["resident"]["page_ins"] == 0
    assert r["resident"]["prefetch_recall_bound"] is None      # nothing to recall
    bound = r["activator_cold"]["prefetch_recall_bound"]
    if bound is not None:           # no pager beats the misses no pager avoids
        assert r["activator_cold"]["prefetch_recall"] <= bound <= 1.0
    assert r["resident"]["budget_mb"] > r["activator_cold"]["budget_mb"]
    assert set(MODES) == {"resident", "lru", "activator", "activator_cold"}


def test_the_recall_bound_counts_the_misses_no_prefetcher_avoids_against_the_would_be_misses():
    """Room for one of a and b beside the pinned p: a on the first frame (nothing warned of
    it), b beside a, and a again beside b all miss whatever the policy; b running on alone
    does not. Three unavoidable misses of six would-be misses: at most half recalled."""
    sizes, budget = {"a": 3, "b": 3, "p": 1}, 4
    frames = [(["p", "a"], {}), (["p", "a", "b"], {}), (["p", "b"], {}), (["p", "b"], {}),
              (["p", "a"], {})]
    assert recall_bound(frames, sizes, budget, {"p"},
                        {"prefetches_used": 2, "misses": 4}) == pytest.approx(0.5)
    assert recall_bound(frames, sizes, budget, {"p"},
                        {"prefetches_used": 0, "misses": 0}) is None     # nothing to recall
    assert recall_bound(frames, sizes, 10, {"p"},                      # all fit: only the first
                        {"prefetches_used": 3, "misses": 1}) == pytest.approx(0.75)


def test_the_dock_at_the_end_is_reported_as_the_sim_sees_it_docked_or_held_short():
    """dock_at_end tells a hold short of docked (seen in e2e runs 39-40: 30-37 s `arrived` at
    the dock, not docked) from a docked robot: the sim's own view and test."""
    world = SimWorld(WorldConfig(course="tour", width_px=160, height_px=120), seed=2001)
    try:
        dock = world.course.docks[0]
        out = (math.cos(dock.facing_rad), math.sin(dock.facing_rad))
        for away_mm, docked in ((DOCK_STOP_MM, True), (DOCK_STOP_MM + 150.0, False)):
            world.place_robot(dock.x + out[0] * away_mm, dock.y + out[1] * away_mm,
                              dock.facing_rad + math.pi)
            d = _dock_at_end(world.truth())
            assert d["docked"] is docked and d["aligned"] is True
            assert abs(d["distance_mm"] - away_mm) <= 20 and abs(d["off_axis_deg"]) < 1.0
    finally:
        world.close()
    assert _dock_at_end(None) is None
