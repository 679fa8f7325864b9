"""The vision loop: source -> encoder -> activator -> pager.observe, at rates.frame_hz.

    vision = VisionLoop(source, encoder, activator, pager, clock, config)
    seen = vision.cycle()          # a Seen for a new fresh frame, else None (counted)

Data path steps 1-4 up to the pager's forecast. Each new frame's spikes go through
the activator; the pager learns from which experts are awake and how warm the rest are
(and may prefetch). What the experts loop needs is published as a `Seen`: the
frame, and the experts *awake* for it — fired on this frame, or within
`awake_hold_s` before it. The hold is the robot's hysteresis: a skill whose units
flicker off for a frame or two keeps its expert running instead of dropping it.
The experts of `activator.always_awake` are awake on every frame, whatever their
units say (the daemon keeps them resident).

A camera that is lost (unplugged, its pipeline dead: `SourceLost`) does not end
the run: no fresh frame reaches the control loop, so the arbiter stops the robot
(blind), the loss is logged once, naming the source, and the source is closed and
opened again every `REOPEN_EVERY_S` until frames come back; then the robot goes on.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from spikebox.runtime.source import Capture, SourceError, SourceLost

from .stages import StageClock
from .verdicts import Sleepers

logger = logging.getLogger(__name__)

REOPEN_EVERY_S = 1.0      # a lost source is closed and opened again this often


@dataclass(frozen=True, eq=False)
class Seen:
    """One frame as the activator saw it."""
    capture: Capture
    expert_spikes: np.ndarray          # (experts,) unit spikes of each expert, network order
    expert_warmth: np.ndarray          # (experts,) 0..1
    fired: tuple[str, ...]             # experts with a unit spiking on this frame
    awake: tuple[str, ...]             # fired now or within awake_hold_s (and not asleep)
    energy_uj: float
    seen_s: float                      # monotonic time the activator finished with it
    asleep: tuple[str, ...] = ()       # put to sleep by their own outputs (verdicts.py):
    #                                    not awake whatever their units say


class Latest:
    """A latest-value slot between two threads: put() replaces, wait_newer() blocks until
    something newer than what the reader last took (or the timeout)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._value, self._version = None, 0

    def put(self, value) -> None:
        with self._cond:
            self._value, self._version = value, self._version + 1
            self._cond.notify_all()

    def get(self):
        with self._cond:
            return self._value

    def wait_newer(self, version: int, timeout_s: float):
        """(value, its version) once the version passes `version`, else (None, version)."""
        with self._cond:
            if self._cond.wait_for(lambda: self._version > version, timeout_s):
                return self._value, self._version
            return None, version


def told_in_use(awake, always_awake) -> list[str]:
    """What the pager is told is in use on a frame: the awake experts, but the always-awake."""
    return [n for n in awake if n not in always_awake]


class AwakeHold:
    """Which experts are awake for a frame: fired on it or within `hold_s` before it (by the
    captures' times), and the always-awake, less those asleep. Pure given its inputs: the
    vision loop's, and tools/recipes/course_trials.py's, which steps the chain on the sim's
    clock (one rule, never a second copy)."""

    def __init__(self, names, hold_s: float, always_awake: tuple[str, ...] = ()):
        self.names, self.hold_s = tuple(names), float(hold_s)
        self.always_awake = tuple(always_awake)
        self._last_fired_s = np.full(len(self.names), -np.inf)

    def step(self, t_s: float, expert_spikes: np.ndarray, asleep=frozenset()) -> tuple[str, ...]:
        """The awake experts for the frame captured at `t_s` whose units spiked `expert_spikes`
        (per expert, in `names` order); the always-awake ones last."""
        self._last_fired_s[np.asarray(expert_spikes) > 0] = t_s
        held = t_s - self._last_fired_s <= self.hold_s
        woken = [n for n, a in zip(self.names, held) if a and n not in asleep]
        return tuple(dict.fromkeys(woken + list(self.always_awake)))


class VisionLoop:
    def __init__(self, source, encoder, activator, pager, stage_clock: StageClock, *,
                 max_frame_age_ms: float, awake_hold_s: float, always_awake: tuple[str, ...] = (),
                 verdicts: Sleepers | None = None, clock=time.monotonic):
        """always_awake: experts awake on every frame (activator.always_awake).
        verdicts: the experts' own say (verdicts.py; None: the units alone wake them)."""
        self.source, self.encoder, self.activator, self.pager = source, encoder, activator, pager
        self.verdicts = verdicts
        self.stages = stage_clock
        self.max_frame_age_ms, self.awake_hold_s = max_frame_age_ms, awake_hold_s
        self.clock = clock
        self.names = tuple(activator.network.expert_names)
        self.always_awake = tuple(always_awake)
        self._awake = AwakeHold(self.names, awake_hold_s, self.always_awake)
        self._last_id = -1
        self.frames = 0                # new frames through the activator
        self.lost_since_s: float | None = None   # the source is lost since then (None: it is not)
        self.losses = 0                # times the source was lost
        self.reopen_attempts = 0
        self._next_reopen_s = 0.0
        self._closed = False           # lost, and not yet opened again
        self.seen = Latest()
        self.on_seen: list = []        # callables(seen), in this thread: recorders, the view

    def _timed(self, stage: str, fn, *args):
        t0 = self.clock()
        try:
            return fn(*args)
        except Exception:
            self.stages.count(stage, "errors")
            raise
        finally:
            self.stages.record(stage, (self.clock() - t0) * 1000.0)

    def cycle(self) -> Seen | None:
        if self._closed and not self._reopen():
            return None
        try:
            capture = self._timed("source", self.source.read_latest, self.max_frame_age_ms)
        except SourceLost as e:
            self._lost(e)
            return None
        if self.lost_since_s is not None and capture is not None:   # open is not enough
            logger.warning("%s: frames are back after %.1f s (%d reopen attempts); driving on",
                           self.source.name, self.clock() - self.lost_since_s,
                           self.reopen_attempts)
            self.lost_since_s = None
        if capture is None:
            if not getattr(self.source, "ended", False):
                self.stages.count("source", "stale")
            return None
        if capture.frame_id == self._last_id:        # no newer frame yet: nothing to do
            return None
        self._last_id = capture.frame_id
        spikes = self._timed("encoder", self.encoder.encode, capture.image)
        result = self._timed("activator", self.activator.step, spikes)
        now = self.clock()
        asleep, waking = frozenset(), []
        if self.verdicts is not None:
            asleep = self.verdicts.asleep(now, None if self.pager is None
                                          else self.pager.resident)
            waking = [n for n in self.verdicts.waking(now) if n in result.fired]
        awake = self._awake.step(capture.t_monotonic_s, result.expert_spikes, asleep)
        if self.pager is not None:
            # What the pager is told is in use is what the experts loop will ask it for: the
            # awake experts, held through a flicker of their units, not this frame's spikes. A
            # prefetch never evicts one (it evicted a held expert, which was paged straight
            # back in: two page-ins and a miss). The always-awake ones are pinned and say
            # nothing about what comes next. An expert asleep is neither needed nor about to
            # be: the pager may evict it. One whose sleep is over, and whose units fire, is
            # loaded in the background.
            self.pager.observe(told_in_use(awake, self.always_awake),
                               {n: 0.0 if n in asleep and n not in waking else w
                                for n, w in result.warmth.items()}, wanted=waking)
        seen = Seen(capture, result.expert_spikes.copy(), result.expert_warmth.copy(),
                    tuple(result.fired), awake, float(result.energy_uj), now,
                    tuple(n for n in self.names if n in asleep))
        self.frames += 1
        self.seen.put(seen)
        for observe in self.on_seen:
            observe(seen)
        return seen

    def _lost(self, error: SourceLost) -> None:
        """The source stopped giving frames: the robot is already blind (no fresh frame, so
        the arbiter stops it); say so once and try to open the source again."""
        now = self.clock()
        if self.lost_since_s is None:
            self.lost_since_s, self.losses = now, self.losses + 1
            self.reopen_attempts = 0
            self.stages.count("source", "errors")
            logger.error("%s; the robot is stopped (no fresh frame) and the source is opened "
                         "again every %.0f s until frames come back", error, REOPEN_EVERY_S)
        self._closed, self._next_reopen_s = True, now + REOPEN_EVERY_S

    def _reopen(self) -> bool:
        """True once the lost source is open again (then read it), else False (not yet)."""
        now = self.clock()
        if now < self._next_reopen_s:
            return False
        self._next_reopen_s = now + REOPEN_EVERY_S
        self.reopen_attempts += 1
        try:
            self.source.close()
            self.source.open()
        except SourceError as e:
            logger.debug("reopening %s: %s", self.source.name, e)
            return False
        self._closed = False       # read it now; lost again if no frame comes in its limit
        return True
