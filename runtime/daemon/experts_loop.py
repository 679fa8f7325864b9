"""The experts loop: the awake experts, resident through the pager, run on the frame they woke on.

    loop = ExpertsLoop(box.experts, pager, vision.seen, results, stage_clock, ...)
    loop.cycle(timeout_s=0.1)          # one new Seen: each awake expert paged in and run

Data path steps 4-5. It waits for the vision loop's newest `Seen`, drops it if it is
already older than the frame age limit (counted as stale: the control loop answers
the frame with a safe command), and runs each awake expert on that frame (when they
do not all fit the budget together, those that fit by priority and one of the rest in
turn: at most one page-in a frame, not a thrash), the resident ones first. It never
waits for a page-in: `pager.use(name, wait=False)` gives an expert that is not
resident no run on this frame, counted (`unready`), and its page-in goes on in the
pager's background thread for the frames after. The arbiter answers the frame
without it: an awake expert with no fresh result that could outrank the winner
stops the robot (decide.py), a safe command, not a stall. Each expert's newest
outputs go to `Results` with the frame's id and capture time, which the arbiter
reads (and judges for age) every control cycle.

An expert whose inputs are not one camera image, or that the pager refuses
(bigger than the budget, a file that fails its hash), is skipped, counted and
logged once: the robot goes on with the others.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from spikebox.runtime.experts.preprocess import frame_to_tensor
from spikebox.runtime.pager import ExpertRefused

from .stages import StageClock
from .vision import Latest, Seen

logger = logging.getLogger(__name__)

ROTATE_FRAMES = 5      # an awake expert the budget cannot hold beside the others runs this often


@dataclass(frozen=True, eq=False)
class ExpertRun:
    """One expert's outputs on one frame."""
    name: str
    frame_id: int
    t_monotonic_s: float               # the frame's capture time (monotonic)
    outputs: dict[str, np.ndarray]     # output name -> array, as the manifest declares them
    done_s: float                      # monotonic time the outputs were ready


class Results:
    """Each expert's newest ExpertRun, shared between the experts and control loops."""

    def __init__(self):
        self._cond = threading.Condition()
        self._runs: dict[str, ExpertRun] = {}
        self.version = 0                       # +1 per put

    def put(self, run: ExpertRun) -> None:
        with self._cond:
            self._runs[run.name] = run
            self.version += 1
            self._cond.notify_all()

    def snapshot(self) -> dict[str, ExpertRun]:
        with self._cond:
            return dict(self._runs)

    def wait_newer(self, version: int, timeout_s: float) -> bool:
        """True once a result newer than `version` is in (False after the timeout)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.version > version, max(timeout_s, 0.0))


def frame_fed(entry) -> bool:
    """True if a camera frame is all `entry` needs: one image input with its preprocessing."""
    if len(entry.inputs) != 1 or entry.preprocessing is None:
        return False
    shape = entry.inputs[0].shape
    return len(shape) == 4 and 3 in (shape[1], shape[3])


def take_turns(awake: list[str], sizes: dict[str, int], pinned, budget_bytes: int,
               last_ran: dict[str, int], frame: int) -> tuple[list[str], bool]:
    """Which of the `awake` experts (highest priority first) run on the loop's `frame`-th
    frame. All of them if they fit the budget together; else the highest-priority ones that
    fit, and of the rest the one that ran longest ago (`last_ran`: name -> frame), if that
    was ROTATE_FRAMES frames ago or more: a few page-ins a second instead of experts evicting
    one another on every frame. Pinned experts are resident whatever runs: they always run,
    and the others share what the budget has beside them. Also says whether they all fit.
    The experts loop's rule, and tools/pager_replay.py's (one rule, never a second copy)."""
    room = budget_bytes - sum(sizes.get(n, 0) for n in pinned)
    if sum(sizes.get(n, 0) for n in awake if n not in pinned) <= room:
        return list(awake), True
    chosen, used = [n for n in awake if n in pinned], 0
    for name in awake:
        if name not in pinned and used + sizes.get(name, 0) <= room:
            chosen.append(name)
            used += sizes.get(name, 0)
    rest = [n for n in awake if n not in chosen]
    if rest:
        due = min(rest, key=lambda n: last_ran.get(n, -1))
        if frame - last_ran.get(due, -ROTATE_FRAMES) >= ROTATE_FRAMES:
            chosen.append(due)
    return [n for n in awake if n in chosen], False


class ExpertsLoop:
    def __init__(self, experts: dict, pager, seen: Latest, results: Results,
                 stage_clock: StageClock, *, max_frame_age_ms: float, verdicts=None,
                 clock=time.monotonic):
        """verdicts: told each run's outputs (verdicts.py), or None."""
        self.experts, self.pager, self.seen_slot, self.results = experts, pager, seen, results
        self.verdicts = verdicts
        self.stages, self.max_frame_age_ms, self.clock = stage_clock, max_frame_age_ms, clock
        self._version = 0
        self._skipped: set[str] = set()            # logged once each
        self.frames = 0                            # Seens the loop ran experts on
        self.runs = 0
        self.unready: dict[str, int] = {}          # name -> frames it was due, not resident
        self.unready_frames = 0                    # frames on which some expert was so
        self.stalled_frames = 0                    # frames on which some expert waited for a
                                                   # page-in: none does (use(wait=False))
        self.refused: dict[str, int] = {}          # name -> frames it was awake and refused
        self.unfed: set[str] = set()               # awake experts a frame cannot feed
        self.last_fired: tuple[str, ...] = ()
        self.rotated_frames = 0                    # frames whose awake experts did not all fit
        self._last_ran: dict[str, int] = {}        # name -> frame count when it last ran
        self.on_run: list = []         # callables(ExpertRun), in this thread: the recorder

    def _order(self, names) -> list[str]:
        known = [n for n in names if n in self.experts]
        return sorted(known, key=lambda n: (-self.experts[n].priority, n))

    def _this_frame(self, awake: list[str]) -> tuple[list[str], bool]:
        """Which awake experts run on this frame, and whether they all fit (take_turns)."""
        chosen, all_fit = take_turns(awake, self.pager.footprints, self.pager.pinned,
                                     self.pager.budget_bytes, self._last_ran, self.frames)
        self.rotated_frames += not all_fit
        return chosen, all_fit

    def cycle(self, timeout_s: float = 0.1) -> int:
        """Run the awake experts on the next new Seen; the number of experts run."""
        seen, self._version = self.seen_slot.wait_newer(self._version, timeout_s)
        if seen is None:
            return 0
        if seen.capture.age_ms(self.clock()) > self.max_frame_age_ms:
            self.stages.count("experts", "stale")
            return 0
        self.frames += 1
        self.last_fired = seen.fired
        ran, feeds_by_pre = 0, {}
        unready = set()
        # Experts the pager holds off (a failed load in its back-off, too big for the budget)
        # take no turn: the others get the room. One refused on this frame gives its turn up
        # to the rest at once.
        awake = []
        for name in self._order(seen.awake):
            if self.pager.held_off(name):
                self.refused[name] = self.refused.get(name, 0) + 1
                self._skip(name, "the pager refuses it (too big for the budget, or its last "
                                 "load failed and it is held off before a retry)")
            else:
                awake.append(name)
        tried: set[str] = set()
        asked = False                  # a page-in asked for on this frame
        while True:
            refused = False
            chosen, all_fit = self._this_frame([n for n in awake if n not in tried])
            # The resident ones run first: an asked page-in could otherwise evict one of
            # them before its turn (the budget's room for the one not resident).
            resident = self.pager.resident() if chosen else {}
            for name in sorted(chosen, key=lambda n: n not in resident):
                tried.add(name)
                entry = self.experts[name]
                if not frame_fed(entry):
                    if name not in self.unfed:
                        self.unfed.add(name)
                        logger.warning("expert %s: woken, but a camera frame cannot feed its "
                                       "inputs %s; not run", name,
                                       [list(i.shape) for i in entry.inputs])
                    continue
                # Taking turns, a second page-in asked for on one frame would evict the first
                # before it ran: the higher priority is asked first, the rest wait their turn.
                run = (self.UNREADY if asked and not all_fit and name not in resident
                       else self._run(name, entry, seen, feeds_by_pre))
                if run is self.UNREADY:
                    unready.add(name)
                    asked = True
                    self.stages.count("pager", "unready")
                elif run is not None:
                    ran += 1
                refused |= run is None and self.pager.held_off(name)
            if not refused:
                break
        for name in unready:
            self.unready[name] = self.unready.get(name, 0) + 1
        self.unready_frames += bool(unready)
        return ran

    UNREADY = "unready"                # _run: not resident; its page-in is on its way

    def _run(self, name: str, entry, seen: Seen, feeds_by_pre: dict) -> ExpertRun | str | None:
        spec = entry.inputs[0]
        key = (repr(entry.preprocessing), tuple(spec.shape), spec.dtype)
        try:
            if key not in feeds_by_pre:
                feeds_by_pre[key] = frame_to_tensor(seen.capture.image, entry.preprocessing, spec)
        except ValueError as e:
            self._skip(name, f"its preprocessing cannot be applied: {e}")
            return None
        t0 = self.clock()
        try:
            with self.pager.use(name, wait=False) as session:
                t1 = self.clock()
                self.stages.record("pager", (t1 - t0) * 1000.0)
                if session is None:
                    return self.UNREADY
                arrays = session.run(None, {spec.name: feeds_by_pre[key]})
                t2 = self.clock()
                self.stages.record("experts", (t2 - t1) * 1000.0)
        except ExpertRefused as e:
            self.refused[name] = self.refused.get(name, 0) + 1
            self.stages.count("pager", "errors")
            self._skip(name, e.reason)
            return None
        except Exception as e:                     # onnxruntime: a model that fails on a frame
            self.stages.count("experts", "errors")
            self._skip(name, f"inference failed: {e}")
            return None
        outputs = {o.name: np.asarray(a) for o, a in zip(entry.outputs, arrays)}
        run = ExpertRun(name, seen.capture.frame_id, seen.capture.t_monotonic_s, outputs,
                        self.clock())
        self.runs += 1
        self._last_ran[name] = self.frames
        self.results.put(run)
        for observe in self.on_run:
            observe(run)
        if self.verdicts is not None:
            self.verdicts.ran(name, entry, outputs, run.done_s)
        return run

    def _skip(self, name: str, why: str) -> None:
        if name not in self._skipped:
            self._skipped.add(name)
            logger.warning("expert %s skipped (the robot goes on without it): %s", name, why)
