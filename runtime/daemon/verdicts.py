"""Woken by mistake: an awake expert whose own outputs give it nothing to act on sleeps a while.

    verdicts = Verdicts(quiet_runs=3, sleep_s=1.5, never=("obstacle_avoid",))
    verdicts.ran("ball_find", entry, outputs, now_s)     # the experts loop, after each run
    verdicts.asleep(now_s, resident)                    # the vision loop: not woken now
    verdicts.waking(now_s)                              # ... and what the pager should load

Data path steps 3-5, the experts' answer fed back to the waking. The activator is cheap
and wakes an expert on the look of its domain (orange near a sign's board looks like a
ball); the expert is the one that can tell. Its drive contract (runtime/arbiter/contract.py)
says when a row gives it nothing to do: a seek whose target is not seen, a steer whose line
is not in view or an avoider with nothing near, classes without a confident class that does
something. After `quiet_runs` such runs in a row it sleeps for `sleep_s`: not awake to the
arbiter, not run, not held by the pager (which may then evict it). Then its units may wake
it again: if they fire, the pager is asked to load it in the background, and it wakes once
resident (no stall), or after another `wake_wait_s` if the budget is taken by experts at
work. A target that came into view meanwhile is seen after `sleep_s` to twice that.

A wake into a budget taken by experts at work is paid by them: the sleeper is paged in on
demand, evicts the one at work, and the two take turns (two page-ins a turn) until its own
runs put it back to sleep. In the demo the dock, on its approach, lost turns to the ball
finder this way every 3.5 s while the ball finder's units kept firing on the same view:
turns were 48 of a run's 71 misses (tools/pager_replay.py). So such a wake is a probe: its
first run within sleep_s decides (quiet: back to sleep), and each probe that finds nothing
doubles the next wait, up to MAX_WAIT_DOUBLINGS times: a view that keeps waking an expert by
mistake is asked again less often, and each asking costs the expert at work one turn. A run
that finds something, or a wake with room to spare, starts it over.

Why it matters: two experts awake that the RAM budget cannot hold together take turns, one
page-in each turn (a stall, and a read of the store: 1.5 GB/s here, 10-50x slower on an SD
card). In the demo the ball finder and the dock were awake together on a third of the
frames; on nearly every one of them, one of the two saw nothing.

Experts without a drive contract, of an output the contract cannot read, or in `never`
(activator.always_awake) are never put to sleep. Thread-safe: the experts loop writes,
the vision loop reads.
"""
from __future__ import annotations

import threading
from collections import Counter
from typing import Protocol

from spikebox.runtime.arbiter.decide import drive_row

MAX_WAIT_DOUBLINGS = 2   # wake_wait_s at most x4 (demo: 1.5 s asleep, then up to 6 s more)


class Sleepers(Protocol):
    """What the vision loop asks of the experts' say: Verdicts in a run, the recorded sleepers
    in a replay (replay.py)."""

    def asleep(self, now_s: float, resident=None) -> frozenset[str]: ...

    def waking(self, now_s: float) -> list[str]: ...


class Verdicts:
    def __init__(self, quiet_runs: int, sleep_s: float, never=(), wake_wait_s: float | None = None):
        """wake_wait_s: how long a sleeper whose time is over may wait to be resident before
        it wakes anyway (default: sleep_s)."""
        self.quiet_runs, self.sleep_s, self.never = int(quiet_runs), float(sleep_s), set(never)
        self.wake_wait_s = self.sleep_s if wake_wait_s is None else float(wake_wait_s)
        self._lock = threading.Lock()
        self._quiet: Counter = Counter()              # name -> quiet runs in a row
        self._until: dict[str, float] = {}            # name -> asleep until (monotonic s)
        self._doublings: Counter = Counter()          # name -> its wake wait doubled so often
        self._forced: dict[str, float] = {}           # name -> when woken into a budget
                                                      # held by others (a probe)
        self.slept: Counter = Counter()               # name -> times put to sleep
        self.forced: Counter = Counter()              # name -> times so woken

    def ran(self, name: str, entry, outputs: dict, now_s: float) -> None:
        """One run of `name` (its manifest entry) gave `outputs` (output name -> array)."""
        if self.quiet_runs <= 0 or name in self.never or not quiet(entry, outputs):
            with self._lock:
                self._quiet.pop(name, None)
                self._doublings.pop(name, None)       # it found something: start over
                self._forced.pop(name, None)
            return
        with self._lock:
            self._quiet[name] += 1
            forced_at = self._forced.pop(name, None)
            # Not run within sleep_s of a forced wake (its units fell silent): no probe, and
            # its next run is judged as any other's.
            probe = forced_at is not None and now_s - forced_at <= self.sleep_s
            # A probe is of a view already judged: one quiet run decides, so the expert at
            # work loses one turn to it, not one every ROTATE_FRAMES for three.
            if self._quiet[name] >= (1 if probe else self.quiet_runs):
                del self._quiet[name]
                self._until[name] = now_s + self.sleep_s
                self.slept[name] += 1
                if probe:                             # a wake others paid for found nothing
                    self._doublings[name] = min(self._doublings[name] + 1, MAX_WAIT_DOUBLINGS)

    def wake_wait(self, name: str) -> float:
        """How long `name`, its sleep over, may wait to be resident before it wakes anyway."""
        return self.wake_wait_s * 2 ** self._doublings[name]

    def asleep(self, now_s: float, resident=None) -> frozenset[str]:
        """The experts put to sleep and not yet woken at `now_s`. With `resident` (a callable:
        the names the pager holds; asked only when a sleep is over), one whose sleep is over
        wakes once it is resident (waking(): the pager loads it in the background, so its
        first run does not wait for a page-in), or wake_wait(name) after its time (the budget
        holds others that are at work: a forced wake, module docstring)."""
        with self._lock:
            over = [(n, until) for n, until in self._until.items() if now_s >= until]
            held = resident() if over and resident is not None else None
            for name, until in over:
                if held is None or name in held:
                    del self._until[name]
                    self._forced.pop(name, None)
                    self._doublings.pop(name, None)   # room to spare: start over
                elif now_s >= until + self.wake_wait(name):
                    del self._until[name]
                    self._forced[name] = now_s
                    self.forced[name] += 1
            return frozenset(self._until)

    def waking(self, now_s: float) -> list[str]:
        """Asleep, their sleep over, waiting to be resident."""
        with self._lock:
            return sorted(n for n, until in self._until.items() if now_s >= until)


def quiet(entry, outputs: dict) -> bool:
    """True when `entry`'s drive contract finds nothing to act on in `outputs`; False when it
    has no contract or its output is not the finite row the manifest declares (unknown is
    not quiet; decide.drive_row, the arbiter's own reading)."""
    if entry.drive is None:
        return False
    row, fault = drive_row(entry, outputs)
    return fault is None and bool(entry.drive.behaviour.quiet(row))
