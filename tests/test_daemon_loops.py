"""The daemon's loops one at a time, on real parts: the demo box's activator and experts, the
sim world stepped frame by frame, the pager over the box's files."""
import itertools
from pathlib import Path

import numpy as np
import pytest

from spikebox.runtime.activator import make_activator
from spikebox.runtime.box import Box
from spikebox.runtime.daemon import RunConfig
from spikebox.runtime.daemon.experts_loop import ExpertsLoop, Results, frame_fed
from spikebox.runtime.daemon.stages import STAGE_NAMES, STAGES, StageClock, config_value
from spikebox.runtime.daemon.vision import Latest, Seen, VisionLoop
from spikebox.runtime.experts.box_loader import BoxLoader
from spikebox.runtime.pager import Pager, PagerConfig
from spikebox.runtime.source import Capture
from spikebox.runtime.source.sim import SimSource

DEMO = Path(__file__).resolve().parent.parent / "models" / "demo.box"


class FakeClock:
    def __init__(self, t=100.0):
        self.t = t

    def __call__(self):
        return self.t


def test_the_stage_table_is_in_data_path_order_and_every_key_is_a_config_key():
    assert STAGE_NAMES == ("source", "encoder", "activator", "pager", "experts", "arbiter",
                           "bridge")
    config = RunConfig()
    for stage in STAGES:
        assert config_value(config, stage.rate_key) > 0
        assert 0 < stage.deadline_share <= 1


def test_stage_clock_counts_a_call_past_its_deadline_as_missed():
    config = RunConfig().with_overrides({"rates.frame_hz": 20.0})
    clock = StageClock(STAGES, config)
    assert clock.deadline_ms["activator"] == pytest.approx(0.25 * 50.0)
    clock.record("activator", 5.0)
    clock.record("activator", 13.0)
    clock.count("source", "stale")
    d = clock.as_dict()
    assert d["activator"]["calls"] == 2 and d["activator"]["missed_deadlines"] == 1
    assert d["source"]["stale"] == 1 and d["activator"]["worst_ms"] == 13.0


def test_latest_hands_a_reader_only_what_is_newer_than_it_took():
    slot = Latest()
    assert slot.wait_newer(0, 0.01) == (None, 0)
    slot.put("a")
    slot.put("b")                                    # the newest wins; "a" is never seen
    value, version = slot.wait_newer(0, 0.01)
    assert (value, version) == ("b", 2)
    assert slot.wait_newer(version, 0.01) == (None, 2)


@pytest.fixture(scope="module")
def demo():
    return Box.open(DEMO)


def _vision(demo, stages, hold_s, seed=0):
    network, encoder = demo.load_activator()
    source = SimSource(seed=seed, realtime=False, serial=False, fps=20.0)
    source.open()
    host = source.world.mcu.host()                   # the firmware core, in process
    host.hello()
    act = make_activator(network, backend="numpy")
    vision = VisionLoop(source, encoder, act, None, stages, max_frame_age_ms=10_000,
                        awake_hold_s=hold_s)
    return source, act, vision, host


def test_vision_keeps_an_expert_awake_for_the_hold_after_its_units_last_fired(demo):
    stages = StageClock(STAGES, RunConfig())
    source, act, vision, host = _vision(demo, stages, hold_s=0.5)
    held = 0
    try:
        last_fired: dict[str, float] = {}
        for _ in range(120):
            host.drive(60, 260)                      # a slow circle: the view keeps changing
            seen = vision.cycle()
            assert seen is not None and vision.seen.get() is seen
            t = seen.capture.t_monotonic_s
            for name in seen.fired:
                last_fired[name] = t
            want = {n for n, tf in last_fired.items() if t - tf <= 0.5}
            assert set(seen.awake) == want
            assert set(seen.fired) <= set(seen.awake)
            held += len(set(seen.awake) - set(seen.fired))
            assert seen.expert_spikes.shape == (len(vision.names),)
    finally:
        act.close()
        source.close()
    assert held > 0, "no frame exercised the hold (nothing fired and then stopped)"
    assert stages.as_dict()["activator"]["calls"] == 120


def test_the_pager_is_told_the_awake_experts_as_in_use_held_through_a_flicker(demo):
    """What the pager hears is in use (and so never evicts for a prefetch) is what the
    experts loop will ask it for: the awake experts, an expert held after its units went
    quiet among them, not this frame's spikes; the always-awake (pinned) ones left out.
    Told only this frame's spikes, the pager evicted a held expert for a prefetch and paged
    it straight back in (a 150 s demo run: 23 times, each 2 page-ins and a miss)."""
    network, encoder = demo.load_activator()
    source = SimSource(seed=0, realtime=False, serial=False, fps=20.0)
    source.open()
    host = source.world.mcu.host()
    host.hello()
    act = make_activator(network, backend="numpy")

    class Told:
        def observe(self, fired, warmth, wanted=()):
            self.fired = list(fired)

    pager = Told()
    vision = VisionLoop(source, encoder, act, pager, StageClock(STAGES, RunConfig()),
                        max_frame_age_ms=10_000, awake_hold_s=0.5, always_awake=("exit_find",))
    held = 0
    try:
        for _ in range(120):
            host.drive(60, 260)
            seen = vision.cycle()
            assert pager.fired == [n for n in seen.awake if n != "exit_find"]
            held += len(set(seen.awake) - set(seen.fired) - {"exit_find"})
    finally:
        act.close()
        source.close()
    assert held > 0, "no frame held an expert whose units had gone quiet"


def test_always_awake_experts_are_awake_on_every_frame_whatever_their_units_say(demo):
    """always_awake: one the camera never wakes and one with units are in every frame's awake
    set, once; another with units is awake only when they fire."""
    stages = StageClock(STAGES, RunConfig())
    network, encoder = demo.load_activator()
    source = SimSource(seed=0, realtime=False, serial=False, fps=20.0)
    source.open()
    act = make_activator(network, backend="numpy")
    always, woken = network.expert_names[:2]
    vision = VisionLoop(source, encoder, act, None, stages, max_frame_age_ms=10_000,
                        awake_hold_s=0.0, always_awake=("exit_find", always))
    try:
        for _ in range(10):
            seen = vision.cycle()
            for name in ("exit_find", always):
                assert seen.awake.count(name) == 1
            assert (woken in seen.awake) == (woken in seen.fired)
    finally:
        act.close()
        source.close()


def test_frame_fed_takes_one_image_input_with_preprocessing(demo):
    entries = demo.experts
    assert all(frame_fed(e) for e in entries.values())
    import dataclasses
    e = next(iter(entries.values()))
    assert not frame_fed(dataclasses.replace(e, preprocessing=None))
    assert not frame_fed(dataclasses.replace(e, inputs=e.inputs + e.inputs))


def _experts_loop(demo, clock, max_age_ms=100.0, budget=None, pinned=()):
    loader = BoxLoader(demo)
    pager = Pager(PagerConfig(budget_bytes=budget, prefetch="off", pinned=tuple(pinned)), loader,
                  loader.footprints(),
                  shell_footprints=loader.shell_footprints())
    slot, results = Latest(), Results()
    stages = StageClock(STAGES, RunConfig())
    loop = ExpertsLoop(demo.experts, pager, slot, results, stages, max_frame_age_ms=max_age_ms,
                       clock=clock)
    return loop, slot, results, stages, pager


def _seen(frame_id, t, awake, image=None):
    image = image if image is not None else np.full((120, 160, 3), 90, np.uint8)
    return Seen(Capture(frame_id, t, image), np.zeros(0, np.int64), np.zeros(0), tuple(awake),
                tuple(awake), 0.0, t)


def _frame(loop, slot, pager, seen) -> int:
    """One frame through the experts loop, then the pager's page-ins behind it finish (frames
    slower than page-ins): the number of experts run."""
    slot.put(seen)
    ran = loop.cycle(0.01)
    assert pager.idle(timeout_s=120)
    return ran


def test_experts_run_on_the_frame_they_woke_on_and_record_its_id_and_capture_time(demo):
    """Not resident, an awake expert is not waited for: the frame goes on without it (counted
    unready, not stalled) while the pager pages it in behind; the next frame runs it."""
    clock = FakeClock()
    everything = sum(e.footprint_bytes for e in demo.experts.values())
    loop, slot, results, stages, pager = _experts_loop(demo, clock, budget=everything)
    try:
        names = sorted(demo.experts)[:2]
        slot.put(_seen(6, clock.t - 0.02, names))
        assert loop.cycle(0.01) == 0 and results.snapshot() == {}
        assert loop.unready_frames == 1 and loop.unready == {n: 1 for n in names}
        assert stages.as_dict()["pager"]["unready"] == 2
        assert pager.idle(timeout_s=120)
        slot.put(_seen(7, clock.t - 0.01, names))
        assert loop.cycle(0.01) == 2
        runs = results.snapshot()
        assert set(runs) == set(names)
        for name in names:
            run = runs[name]
            assert run.frame_id == 7 and run.t_monotonic_s == pytest.approx(clock.t - 0.01)
            declared = {o.name: tuple(o.shape) for o in demo.experts[name].outputs}
            assert {k: v.shape for k, v in run.outputs.items()} == declared
        assert loop.unready_frames == 1 and loop.stalled_frames == 0
        m = pager.metrics()
        assert (m["misses"], m["stalls"], m["pageins"]) == (2, 0, 2)
    finally:
        pager.close()


def test_a_frame_older_than_the_limit_is_not_run_and_is_counted_stale(demo):
    clock = FakeClock()
    loop, slot, results, stages, pager = _experts_loop(demo, clock, max_age_ms=100.0)
    try:
        slot.put(_seen(3, clock.t - 0.5, sorted(demo.experts)[:1]))
        assert loop.cycle(0.01) == 0
        assert results.snapshot() == {}
        assert stages.as_dict()["experts"]["stale"] == 1
    finally:
        pager.close()


def test_an_expert_the_budget_cannot_hold_is_skipped_and_the_others_still_run(demo):
    clock = FakeClock()
    sizes = {n: e.footprint_bytes for n, e in demo.experts.items()}
    small = min(sizes, key=sizes.get)
    big = max(sizes, key=sizes.get)
    assert sizes[big] > sizes[small]
    loop, slot, results, stages, pager = _experts_loop(demo, clock, budget=sizes[small])
    try:
        assert _frame(loop, slot, pager, _seen(1, clock.t, [big, small])) == 0   # paged in behind
        assert _frame(loop, slot, pager, _seen(2, clock.t, [big, small])) == 1
        assert set(results.snapshot()) == {small}
        assert loop.refused == {big: 2}
    finally:
        pager.close()


def test_awake_experts_that_cannot_share_the_budget_take_turns_instead_of_thrashing(demo):
    """The budget holds one of two awake experts: the first by priority (then name) runs on
    every frame but those of the other's turns, the other every ROTATE_FRAMES frames or so -
    two page-ins a turn, not two a frame."""
    from spikebox.runtime.daemon.experts_loop import ROTATE_FRAMES
    clock = FakeClock()
    sizes = {n: e.footprint_bytes for n, e in demo.experts.items()}
    # two of the box, in the order the loop chooses: priority first, then name
    first, second = sorted(sorted(demo.experts)[:2], key=lambda n: -demo.experts[n].priority)
    loop, slot, results, stages, pager = _experts_loop(demo, clock,
                                                       budget=max(sizes[first], sizes[second]))
    ran = {first: 0, second: 0}
    try:
        frames = 4 * ROTATE_FRAMES
        for k in range(frames):
            _frame(loop, slot, pager, _seen(k, clock.t, [first, second]))
            for name, run in results.snapshot().items():
                ran[name] += run.frame_id == k
        page_ins = pager.page_ins
    finally:
        pager.close()
    # the first runs on every frame but the second's turns (and the frame after each, while
    # it is paged back in); the second every ROTATE_FRAMES + 1 frames
    assert ran[second] >= frames // (ROTATE_FRAMES + 2), ran
    assert ran[first] >= frames - 2 * ran[second] - 1, ran
    assert page_ins <= 2 * ran[second] + 2, page_ins


def test_a_pinned_experts_room_is_not_shared_out_twice(demo):
    """A pinned expert holds its bytes whatever runs: two awake others that fit the budget
    only if the pinned one's bytes are forgotten take turns; they do not page each other out
    on every frame (seen in the demo: a page-in a frame, 2,352 stalled frames in 150 s)."""
    from spikebox.runtime.daemon.experts_loop import ROTATE_FRAMES
    clock = FakeClock()
    sizes = {n: e.footprint_bytes for n, e in demo.experts.items()}
    # Pinned and of a lower priority than the other two (as the demo's way-on finder), so
    # they are chosen first; and they fit the budget together only if its bytes are
    # forgotten, while it fits beside either of them: the first three of the box that do.
    prio = {n: e.priority for n, e in demo.experts.items()}
    pin, first, second = next(
        (p, a, b) for p, a, b in itertools.permutations(sorted(demo.experts), 3)
        if a < b and prio[p] < min(prio[a], prio[b]) and sizes[p] <= min(sizes[a], sizes[b]))
    budget = sizes[first] + sizes[second]
    assert sizes[pin] + max(sizes[first], sizes[second]) <= budget
    assert budget < sum(sizes[n] for n in (pin, first, second))
    loop, slot, results, stages, pager = _experts_loop(demo, clock, budget=budget, pinned=[pin])
    frames = 4 * ROTATE_FRAMES
    try:
        for k in range(frames):
            _frame(loop, slot, pager, _seen(k, clock.t, [pin, first, second]))
            assert results.snapshot()[pin].frame_id == k          # the pinned one, every frame
        page_ins = pager.page_ins - 1                             # the pinned one's at start
    finally:
        pager.close()
    assert page_ins <= 2 * (frames // ROTATE_FRAMES) + 2, page_ins


def test_a_tampered_expert_is_refused_and_the_run_goes_on_without_it(demo, tmp_path):
    """One byte of one expert's paged file changed after export: that expert is refused at its
    page-in behind the first frame (its hash), then counted and skipped; the other awake expert
    runs on every frame after, and the refused one is not re-hashed on every frame (the
    pager's back-off)."""
    import shutil
    box_dir = tmp_path / "demo.box"
    shutil.copytree(DEMO, box_dir)
    box = Box.open(box_dir)
    victim, other = sorted(box.experts)[:2]
    paged = box.file(box.experts[victim].files.optimized)
    data = bytearray(paged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    paged.write_bytes(bytes(data))
    clock = FakeClock()
    everything = sum(e.footprint_bytes for e in box.experts.values())
    loop, slot, results, stages, pager = _experts_loop(box, clock, budget=everything)
    try:
        assert _frame(loop, slot, pager, _seen(0, clock.t, [victim, other])) == 0
        for k in range(1, 4):
            assert _frame(loop, slot, pager, _seen(k, clock.t, [victim, other])) == 1
            assert set(results.snapshot()) == {other}
            assert results.snapshot()[other].frame_id == k
        assert loop.refused == {victim: 3}
        assert pager.metrics()["refused_load_failed"] == 1, \
            "hashed and refused once, then held off by the back-off"
        assert victim not in pager.resident()
    finally:
        pager.close()


class _FlakySource:
    """A source under the Source contract whose device can be dead (reads raise SourceLost,
    opens fail), silent (opens, gives no frame) or live."""
    name = "camera 9"
    ended = False

    def __init__(self):
        self.state, self.opens, self.next_id = "live", 0, 0

    def open(self):
        from spikebox.runtime.source import SourceError
        self.opens += 1
        if self.state == "dead":
            raise SourceError("camera 9: no such device")

    def close(self):
        pass

    def read_latest(self, max_age_ms):
        from spikebox.runtime.source import SourceLost
        if self.state == "dead":
            raise SourceLost("camera 9: no frame for 1000 ms")
        if self.state == "silent":
            return None
        self.next_id += 1
        return Capture(self.next_id, 0.0, np.full((120, 160, 3), 90, np.uint8))

    def stats(self):
        return {}


def test_a_lost_source_is_back_only_when_a_frame_comes_not_when_it_opens(demo, caplog):
    from spikebox.runtime.daemon.vision import REOPEN_EVERY_S
    network, encoder = demo.load_activator()
    act = make_activator(network, backend="numpy")
    clock, source = FakeClock(), _FlakySource()
    vision = VisionLoop(source, encoder, act, None, StageClock(STAGES, RunConfig()),
                        max_frame_age_ms=10_000, awake_hold_s=0.5, clock=clock)
    try:
        assert vision.cycle() is not None
        source.state = "dead"
        assert vision.cycle() is None and vision.lost_since_s == clock.t and vision.losses == 1
        clock.t += REOPEN_EVERY_S
        assert vision.cycle() is None and source.opens == 1      # the reopen failed
        source.state = "silent"
        clock.t += REOPEN_EVERY_S
        assert vision.cycle() is None and source.opens == 2      # open, but no frame yet
        assert vision.lost_since_s is not None                   # still lost: still stopped
        assert vision.cycle() is None and source.opens == 2      # read again, not reopened
        assert "frames are back" not in caplog.text
        source.state = "live"
        assert vision.cycle() is not None and vision.lost_since_s is None
        assert vision.losses == 1 and "frames are back" in caplog.text
    finally:
        act.close()
