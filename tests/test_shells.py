"""Session shells (runtime/experts/shell.py) on real mappings and real onnxruntime sessions:
the written-page guard, memory given back, outputs unchanged, and the pager's budget with shells."""
from __future__ import annotations

import mmap

import numpy as np
import pytest

from spikebox.runtime.experts.paged import weights_file
from spikebox.runtime.experts.shell import WeightPages, page_counts
from spikebox.runtime.pager import LRUPolicy, Pager, PagerConfig
from spikebox.runtime.pager.offline import scene_trace, simulate
from pagerkit import INPUT_SHAPE, write_box
from spikebox.runtime.experts.session_loader import SessionLoader
from spikebox.runtime.experts.footprint import rss_added_by_load, rss_kept_by_shell
from spikebox.runtime.procmem import PAGE_BYTES, rss_bytes, trim_heap


def _run(session):
    return session.run(None, {"image": np.linspace(-1, 1, np.prod(INPUT_SHAPE), dtype=np.float32)
                              .reshape(INPUT_SHAPE)})[0]


@pytest.fixture(scope="module")
def experts(tmp_path_factory):
    """(loader, footprints, shells) for three convnets of 3-9 MB, paged like a box's."""
    paths = write_box(tmp_path_factory.mktemp("shells"), {"a": 9_000_000, "b": 6_000_000,
                                                          "c": 3_000_000})
    loader = SessionLoader(paths)
    loader.load("c")                                     # onnxruntime's one-off costs
    footprints = {n: rss_added_by_load(loader, n, repeats=2) for n in paths}
    shells = {n: rss_kept_by_shell(loader, n) for n in paths}
    return loader, footprints, shells


def test_guard_drops_file_pages_and_refuses_a_written_page(tmp_path):
    """onnxruntime maps weights private and writable: a written page must never be dropped."""
    path = tmp_path / "w.data"
    data = np.random.default_rng(0).integers(0, 255, 16 * PAGE_BYTES, dtype=np.uint8).tobytes()
    path.write_bytes(data)
    with open(path, "rb") as f:
        view = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)     # MAP_PRIVATE, rw
    try:
        assert view[:] == data                                     # every page read in
        pages = WeightPages(path)
        assert len(pages.ranges) == 1
        assert page_counts(pages.ranges) == (16, 0)
        assert pages.drop() == 16 * PAGE_BYTES
        assert page_counts(pages.ranges)[0] == 0                  # gone from this process
        assert view[:] == data                                     # and read back unchanged
        view[5 * PAGE_BYTES] = data[5 * PAGE_BYTES] ^ 0xFF            # a private copy now
        assert page_counts(pages.ranges) == (15, 1)
        assert pages.drop() is None                                # refused, nothing dropped
        assert view[5 * PAGE_BYTES] == data[5 * PAGE_BYTES] ^ 0xFF    # the write survived
        assert page_counts(pages.ranges) == (15, 1)
    finally:
        view.close()
    assert WeightPages(path).drop() is None                        # no longer mapped at all


def test_shelved_session_gives_its_weights_back_and_runs_unchanged(experts):
    loader, footprints, shells = experts
    session = loader.load("a")
    expected = _run(session)
    pages = WeightPages(weights_file(loader.graph_path("a")))
    present, written = page_counts(pages.ranges)
    weights = weights_file(loader.graph_path("a")).stat().st_size
    assert written == 0 and present * PAGE_BYTES >= 0.9 * weights
    trim_heap()
    before = rss_bytes()
    dropped = loader.shelve("a", session)
    trim_heap()
    print(f"weights {weights / 1e6:.1f} MB, dropped {dropped / 1e6:.1f} MB, RSS fell "
          f"{(before - rss_bytes()) / 1e6:.1f} MB, shell {shells['a'] / 1e6:.2f} MB")
    assert dropped >= 0.9 * weights
    assert before - rss_bytes() >= 0.8 * dropped                  # the process really gave it back
    assert page_counts(pages.ranges)[0] == 0
    loader.unshelve("a", session)
    assert page_counts(pages.ranges)[0] * PAGE_BYTES >= 0.9 * weights   # mapped again, not lazily
    assert np.array_equal(_run(session), expected)
    assert shells["a"] < 0.25 * footprints["a"]                     # a shell is small


def test_a_plain_onnx_expert_is_released_not_shelved(tmp_path):
    paths = write_box(tmp_path, {"x": 2_000_000, "y": 2_000_000}, paged=False)
    loader = SessionLoader(paths)
    assert loader.shelve("x", loader.load("x")) is None            # weights inline: nothing mapped
    fp = {n: 10_000_000 for n in paths}
    with Pager(PagerConfig(10_000_000, policy="lru", prefetch="off"), loader, fp) as pager:
        for name in "xyx":
            with pager.use(name) as s:
                _run(s)
        m = pager.metrics()
    assert m["evictions"] == 2 and m["shelved"] == 0 and m["pageins_from_shell"] == 0


def test_pager_pages_in_from_shells_within_budget(experts):
    loader, footprints, shells = experts
    reference = {n: _run(loader.load(n)) for n in footprints}
    budget = footprints["a"] + sum(shells.values())                 # one whole expert + shells
    seq = list("abcabcacbbca")
    with Pager(PagerConfig(budget, policy="lru", prefetch="off"), loader, footprints,
               shell_footprints=shells) as pager:
        for name in seq:
            with pager.use(name) as s:
                assert np.array_equal(_run(s), reference[name])
            assert pager.held_bytes <= budget
        m = pager.metrics()
    assert m["pageins"] == m["misses"] and m["pageins_from_shell"] >= m["pageins"] - 3
    assert m["shelved"] == m["evictions"] > 0 and m["shell_bytes"] <= sum(shells.values())


def test_shells_go_oldest_first_when_the_budget_needs_their_room(experts):
    loader, _, _ = experts
    # Declared figures, so the arithmetic does not hang on RSS noise: the pager budgets by these.
    footprints = {"a": 30_000_000, "b": 25_000_000, "c": 10_000_000}
    shells = {n: 1_000_000 for n in footprints}
    budget = footprints["a"] + 1                    # one whole "a" and no room for any shell
    with Pager(PagerConfig(budget, policy="lru", prefetch="off"), loader, footprints,
               shell_footprints=shells) as pager:
        with pager.use("c"):
            pass
        with pager.use("b"):                        # c fits as a shell beside b
            pass
        assert pager.metrics()["shells"] == ["c"]
        with pager.use("a"):                        # b shelved, then both shells dropped for a
            pass
        m = pager.metrics()
        assert pager.held_bytes <= budget
    assert m["shells"] == [] and m["shells_dropped"] == 2 and m["resident"] == ["a"]


def test_simulated_pager_with_shells_keeps_the_budget():
    names = [f"e{i}" for i in range(8)]
    fp = {n: (i + 2) * 1_000_000 for i, n in enumerate(names)}
    shells = {n: fp[n] // 20 for n in names}
    budget = sum(fp.values()) // 4
    frames = scene_trace(names, 600, seed=1)
    m = simulate(frames, fp, budget, LRUPolicy(), shell_bytes=shells)   # asserts held <= budget
    assert m["pageins_from_shell"] > 0.5 * m["pageins"]
    assert m["shelved"] == m["evictions"]


def test_ranges_of_a_second_session_that_is_gone_are_forgotten(experts):
    """Ranges are found by path: another session of the same file may be among them."""
    loader, _, _ = experts
    first, second = loader.load("b"), loader.load("b")
    expected = _run(second)
    pages = WeightPages(weights_file(loader.graph_path("b")))
    both = len(pages.ranges)
    del first                                       # its mappings go with it
    assert pages.drop() is not None
    assert 0 < len(pages.ranges) == both // 2
    assert page_counts(pages.ranges)[0] == 0
    pages.populate()
    assert np.array_equal(_run(second), expected)
