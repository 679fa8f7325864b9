"""`spikebox bench e2e` on short runs: the keys the issue names, per mode, with sane values."""
import pytest

from spikebox.runtime.bench.e2e import KEYS, MODES, recall_bound, run_e2e_bench


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
