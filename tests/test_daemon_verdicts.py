"""An expert woken by mistake sleeps (runtime/daemon/verdicts.py): its own outputs, read by its
drive contract, say it has nothing to act on; then it is neither awake, nor run, nor held by
the pager, until its sleep is over. Real contracts from manifest JSON, the demo box's real
activator on the sim, the real experts loop and pager."""
from pathlib import Path

import numpy as np
import pytest

from arbiterkit import experts
from spikebox.runtime.activator import make_activator
from spikebox.runtime.box import Box
from spikebox.runtime.daemon import RunConfig
from spikebox.runtime.daemon.experts_loop import ExpertsLoop, Results
from spikebox.runtime.daemon.stages import STAGES, StageClock
from spikebox.runtime.daemon.verdicts import Verdicts, quiet
from spikebox.runtime.daemon.vision import Latest, Seen, VisionLoop
from spikebox.runtime.experts.box_loader import BoxLoader
from spikebox.runtime.pager import Pager, PagerConfig
from spikebox.runtime.source import Capture
from spikebox.runtime.source.sim import SimSource

DEMO = Path(__file__).resolve().parent.parent / "models" / "demo.box"
SEEK = {"seek": {"output": "cat", "visible": 0, "bearing": 1, "distance": 2, "arrive_m": 0.3,
                 "on_arrival": "release"}}
LINE = {"steer": {"output": "cat", "steering": 0, "visible": 1}}
AVOID = {"steer": {"output": "cat", "steering": 0, "clear_ahead": 1, "stop_within_m": 0.2,
                   "yield_beyond_m": 0.6}}
SIGNS = {"classes": {"output": "cat", "names": ["stop", "arrow_left", "none"],
                     "actions": {"stop": "stop", "arrow_left": "turn_left"}, "margin": 1.0}}
E = experts(ball=dict(like="ball_find", drive=SEEK), line=dict(like="line_follow", drive=LINE),
            avoid=dict(like="obstacle_avoid", drive=AVOID), signs=dict(like="sign_read",
                                                                       drive=SIGNS),
            plain=dict(like="ball_find", drive=None, shape=[1, 3]))


def out(*values):
    return {"cat": np.array([values], np.float32)}


@pytest.mark.parametrize("name, values, want", [
    ("ball", (-2.0, 0.1, 1.0), True),             # its target not seen
    ("ball", (2.0, 0.1, 1.0), False),
    ("line", (0.3, -1.0), True),                  # no line in view
    ("line", (0.3, 1.0), False),
    ("avoid", (0.1, 1.5), True),                  # nothing near: it yields
    ("avoid", (0.1, 0.4), False),
    ("signs", (0.0, 0.2, 3.0), True),             # "none": no sign legible
    ("signs", (0.0, 0.5, 0.8), True),             # no class leads by the margin
    ("signs", (3.0, 0.0, 0.5), False),            # a stop sign
    ("signs", (0.0, 3.0, 0.5), False),            # an arrow
    ("plain", (-2.0, 0.0, 0.0), False),           # no drive contract: never quiet
    ("ball", (float("nan"), 0.0, 0.0), False),    # unknown is not quiet
    ("ball", (-2.0, 0.0), False),                 # nor a row of another size
])
def test_a_row_is_quiet_when_its_contract_finds_nothing_to_act_on(name, values, want):
    assert quiet(E[name], out(*values)) is want
    assert quiet(E["ball"], {"other": np.zeros((1, 3))}) is False


def test_quiet_runs_in_a_row_put_an_expert_to_sleep_for_its_time():
    v = Verdicts(quiet_runs=3, sleep_s=1.5, never=("avoid",))
    no_ball, ball = out(-2.0, 0.0, 1.0), out(2.0, 0.0, 1.0)
    v.ran("ball", E["ball"], no_ball, 10.0)
    v.ran("ball", E["ball"], no_ball, 10.1)
    v.ran("ball", E["ball"], ball, 10.2)          # seen once: the count starts over
    v.ran("ball", E["ball"], no_ball, 10.3)
    v.ran("ball", E["ball"], no_ball, 10.4)
    assert v.asleep(10.4) == frozenset()
    v.ran("ball", E["ball"], no_ball, 10.5)       # the third in a row
    assert v.asleep(10.5) == {"ball"} and v.asleep(11.99) == {"ball"}
    assert v.asleep(12.0) == frozenset()          # its time is over
    for k in range(10):                           # always awake: never put to sleep
        v.ran("avoid", E["avoid"], out(0.0, 2.0), 13.0 + k)
    assert v.asleep(14.0) == frozenset() and v.slept == {"ball": 1}
    # Given what the pager holds: a sleeper whose time is over wakes once it is resident, or
    # wake_wait_s later; meanwhile it is waking (the pager is asked to load it).
    w = Verdicts(quiet_runs=1, sleep_s=1.0, wake_wait_s=2.0)
    w.ran("ball", E["ball"], no_ball, 0.0)
    held = lambda names: (lambda: {n: 1 for n in names})      # as Pager.resident
    assert w.asleep(0.5, resident=held(())) == {"ball"} and w.waking(0.5) == []
    assert w.asleep(1.5, resident=held(())) == {"ball"} and w.waking(1.5) == ["ball"]
    assert w.asleep(1.6, resident=held(("ball",))) == frozenset()
    w.ran("ball", E["ball"], no_ball, 10.0)
    assert w.asleep(12.9, resident=held(())) == {"ball"}
    assert w.asleep(13.0, resident=held(())) == frozenset()  # waited wake_wait_s: awake
    off = Verdicts(quiet_runs=0, sleep_s=1.5)
    for k in range(10):
        off.ran("ball", E["ball"], no_ball, k)
    assert off.asleep(9.0) == frozenset()


def test_a_wake_into_a_budget_held_by_others_that_finds_nothing_waits_longer_next_time():
    """Each forced wake (the budget never has room for the sleeper) whose first run finds
    nothing doubles the next wait, at most twice; finding something, or waking with room,
    starts over."""
    v = Verdicts(quiet_runs=1, sleep_s=1.0, wake_wait_s=2.0)
    no_ball, ball = out(-2.0, 0.0, 1.0), out(2.0, 0.0, 1.0)
    full = lambda: {"dock": 1}                                # as Pager.resident: no room
    room = lambda: {"ball": 1}
    now = [0.0]

    def asleep_for(resident=full, seen=no_ball, step=0.05) -> float:
        """It runs now (0.1 s after it woke); how long until it is awake again."""
        now[0] = round(now[0] + 0.1, 6)
        v.ran("ball", E["ball"], seen, now[0])
        t = now[0]
        while "ball" in v.asleep(now[0], resident=resident):
            now[0] = round(now[0] + step, 6)
        return round(now[0] - t, 6)

    assert asleep_for() == 3.0                                # 1 s asleep + 2 s waiting
    assert asleep_for() == 5.0                                # that probe found nothing: x2
    assert asleep_for() == 9.0                                # x4
    assert asleep_for() == 9.0                                # at most x4
    assert v.forced == {"ball": 4} and v.slept == {"ball": 4}
    v.ran("ball", E["ball"], ball, now[0] + 0.05)             # a ball seen: back to the start
    now[0] += 0.05
    assert asleep_for() == 3.0 and asleep_for() == 5.0
    assert asleep_for(resident=room) == 1.0                   # resident at once: room to spare
    assert asleep_for() == 3.0                                # ... so the wait started over
    assert v.forced == {"ball": 7}
    # Another expert's forced wakes are its own count.
    v.ran("ball", E["ball"], no_ball, now[0] + 0.1)           # the probe finds nothing
    v.ran("sign", E["signs"], out(0.0, 0.2, 3.0), now[0] + 0.1)
    assert v.wake_wait("sign") == 2.0 and v.wake_wait("ball") == 4.0


def test_a_wake_into_a_budget_held_by_others_is_decided_by_its_first_run():
    v = Verdicts(quiet_runs=3, sleep_s=1.0, wake_wait_s=1.0)
    no_ball = out(-2.0, 0.0, 1.0)
    for t in (0.0, 0.1, 0.2):
        v.ran("ball", E["ball"], no_ball, t)
    assert v.asleep(1.5, resident=lambda: {"dock": 1}) == {"ball"}
    assert v.asleep(2.2, resident=lambda: {"dock": 1}) == frozenset()     # forced awake
    v.ran("ball", E["ball"], no_ball, 2.3)                                # one quiet run
    assert v.asleep(2.3) == {"ball"}
    assert v.asleep(5.3, resident=lambda: {"ball": 1}) == frozenset()     # woken with room
    v.ran("ball", E["ball"], no_ball, 5.4)
    v.ran("ball", E["ball"], no_ball, 5.5)
    assert v.asleep(5.5) == frozenset()                                   # three it takes
    v.ran("ball", E["ball"], no_ball, 5.6)
    assert v.asleep(5.6) == {"ball"} and v.slept == {"ball": 3}
    # Woken into a full budget, but its units fell silent and it did not run: no probe. Its
    # next run, much later (a new view), is judged as any other's.
    assert v.asleep(7.6, resident=lambda: {"dock": 1}) == frozenset()     # forced awake
    v.ran("ball", E["ball"], no_ball, 20.0)
    assert v.asleep(20.0) == frozenset() and v.slept == {"ball": 3}
    v.ran("ball", E["ball"], no_ball, 20.1)
    v.ran("ball", E["ball"], no_ball, 20.2)
    assert v.asleep(20.2) == {"ball"} and v.wake_wait("ball") == 1.0      # nor doubled


def test_an_expert_asleep_is_not_awake_nor_firing_to_the_pager_whatever_its_units_say():
    """The demo box's real activator on the sim: the experts it wakes, less the one asleep;
    the pager is told the same (it may evict the sleeper)."""
    demo = Box.open(DEMO)
    network, encoder = demo.load_activator()
    source = SimSource(seed=0, realtime=False, serial=False, fps=20.0)
    source.open()
    act = make_activator(network, backend="numpy")

    class Told:
        held: set = set()

        def observe(self, fired, warmth, wanted=()):
            self.fired, self.warmth, self.wanted = list(fired), dict(warmth), list(wanted)

        def resident(self):
            return {n: 1 for n in self.held}

    pager, now = Told(), [100.0]
    verdicts = Verdicts(quiet_runs=1, sleep_s=10.0, wake_wait_s=10.0)
    vision = VisionLoop(source, encoder, act, pager, StageClock(STAGES, RunConfig()),
                        max_frame_age_ms=10_000, awake_hold_s=0.0, verdicts=verdicts,
                        always_awake=("exit_find",), clock=lambda: now[0])
    try:
        seen = vision.cycle()
        assert seen.fired and seen.asleep == ()
        sleeper = seen.fired[0]
        verdicts.ran(sleeper, E["ball"], {}, now[0])            # not readable: still awake
        assert verdicts.asleep(now[0]) == frozenset()
        verdicts.ran(sleeper, E["ball"], out(-2.0, 0.0, 1.0), now[0])   # sees nothing
        for _ in range(5):
            seen = vision.cycle()
            assert seen.asleep == (sleeper,) and sleeper not in seen.awake
            assert set(seen.awake) == (set(seen.fired) - {sleeper}) | {"exit_find"}
            assert sleeper not in pager.fired and pager.warmth[sleeper] == 0.0
            assert pager.wanted == []
        # Its time over: while its units fire it is asked for, and it wakes once resident.
        now[0] += 10.0
        for _ in range(20):
            seen = vision.cycle()
            if sleeper in seen.fired:
                break
        assert sleeper in seen.fired and seen.asleep == (sleeper,)
        assert pager.wanted == [sleeper] and pager.warmth[sleeper] == 1.0
        pager.held = {sleeper}
        seen = vision.cycle()
        assert seen.asleep == () and (sleeper in seen.awake) == (sleeper in seen.fired)
    finally:
        act.close()
        source.close()


def test_two_experts_the_budget_cannot_hold_stop_taking_turns_once_one_sees_nothing():
    """The real experts loop and pager, on a grey frame neither expert sees anything in: the
    turns cost a page-in each until the quiet one sleeps; then the other runs alone."""
    demo = Box.open(DEMO)
    loader = BoxLoader(demo)
    sizes = loader.footprints()
    first, second = "dock", "ball_find"               # priority 40, then 10
    pager = Pager(PagerConfig(budget_bytes=max(sizes[first], sizes[second]), prefetch="off"),
                  loader, sizes, shell_footprints=loader.shell_footprints())
    verdicts = Verdicts(quiet_runs=3, sleep_s=1000.0)
    slot, results, now = Latest(), Results(), [100.0]
    loop = ExpertsLoop(demo.experts, pager, slot, results, StageClock(STAGES, RunConfig()),
                       max_frame_age_ms=100.0, verdicts=verdicts, clock=lambda: now[0])
    grey = np.full((120, 160, 3), 90, np.uint8)
    try:
        for k in range(60):
            now[0] += 0.033
            asleep = verdicts.asleep(now[0])
            awake = tuple(n for n in (first, second) if n not in asleep)
            slot.put(Seen(Capture(k, now[0], grey), np.zeros(0, np.int64), np.zeros(0), awake,
                          awake, 0.0, now[0], tuple(sorted(asleep))))
            loop.cycle(0.01)
            assert pager.idle(timeout_s=120)          # its page-ins behind, before the next frame
        page_ins = pager.page_ins
    finally:
        pager.close()
    assert {first, second} == set(verdicts.slept)     # a grey floor: neither sees its target
    assert page_ins <= 5 and loop.unready_frames <= 5 and loop.stalled_frames == 0
