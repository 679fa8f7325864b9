"""Which expert leaves when room is needed, and which warming experts to load early.

A policy sees every request (`on_access`) and every activator frame
(`on_observe`), ranks resident experts by how much keeping them is worth
(`priority`: higher stays), and names warming experts worth prefetching
(`prefetch_candidates`). It never loads or evicts anything itself: the pager
does, under its lock, so a policy needs no locking of its own. The same policy
objects run in the real pager and in the simulator (simulate.py).
"""
from __future__ import annotations

import math

from ..config_fields import ConfigError
from .forecast import Transitions, WarmthTrend, odds


class Policy:
    """The interface; subclasses override `priority` and, to prefetch, `prefetch_candidates`."""

    name = "base"

    def __init__(self):
        self.tick = 0                        # logical time: one per request, never the wall clock
        self.last_access: dict[str, int] = {}

    def on_access(self, name: str) -> None:
        self.tick += 1
        self.last_access[name] = self.tick

    def on_observe(self, fired: list[str], warmth: dict[str, float]) -> None:
        pass

    def on_load(self, name: str, prefetched: bool, pagein_ms: float | None = None) -> None:
        """`name` became resident; pagein_ms: how long its page-in took (the pager measures it)."""

    def on_evict(self, name: str) -> None:
        pass

    def priority(self, name: str) -> float:
        """How much keeping `name` resident is worth; the lowest is evicted first."""
        return float(self.last_access.get(name, 0))

    def choose_victim(self, candidates: list[str]) -> str:
        return min(candidates, key=lambda n: (self.priority(n), self.last_access.get(n, 0), n))

    def prefetch_candidates(self, fired: list[str], warmth: dict[str, float]) -> list[str]:
        """Experts to load before they are asked for, best first (none by default)."""
        return []


class LRUPolicy(Policy):
    """The baseline: evict the least recently used expert; never prefetch."""

    name = "lru"


class ActivatorAwarePolicy(Policy):
    """Keep what the activator predicts will be reused; prefetch what is about to fire.

    Eviction. Per expert it keeps `reuse`: an exponentially decayed count of *run
    starts* (frames where it fires after not firing), half-life
    `reuse_half_life_frames`. Scenes persist, so how often an expert's scene comes
    back predicts its next use better than how recently its last run ended (which is
    what LRU keys on, and why LRU keeps a skill whose zone the robot just left).

        priority = warmth_weight * max(warmth_now, p_fire) + reuse_now
                   (+ 1e-9 * recency to break ties)

    An expert firing now has warmth 1.0 and so outranks any idle one; one the
    forecast below expects to fire soon is kept (and may be loaded) over idle ones.

    Prefetch. For each expert not firing, p = how likely it is to fire soon
    (forecast.py, all counted online from the frames):
    - its warmth *trend*: the frames in a row its warmth has stood at or above
      `prefetch_warmth` and kept rising, and how often a rise that long has ended
      in the expert firing. A false alarm is a one-frame blip; a real lead rises
      over several frames, so the second frame of a rise is what usually decides;
    - learned *transitions*: which expert's run tends to start after the current
      (or last) one's. They scale the trend's odds (a likely successor may go on its
      first warm frame), and once a run has ended with nothing firing, its likely
      successor is prefetched on the transition alone;
    - its *page-in cost*: the p_fire needed is `prefetch_confidence / (1 +
      pagein_ms / slow_pagein_ms)`, pagein_ms the expert's measured page-ins
      (a moving average, to 0.1 ms; none yet: no discount). A shell page-in
      (~0.5 ms) needs about the full confidence; a new session of a real model
      (13-45 ms) spans a frame or more, so it goes earlier, on less evidence.
    Candidates come most likely first. A prefetch still evicts only what the
    policy values less than the expert it loads, never a firing one nor another
    candidate (pager.py). The forecast is made in on_observe; prefetch_candidates
    reads that frame's.

    Options (PagerConfig's fields of the same names, defaults there and here):
    prefetch_warmth         warmth (0..1] from which a frame counts in a rise; 0.5
    prefetch_confidence     p_fire (0..1] a free page-in needs to be prefetched; 0.7
    slow_pagein_ms          page-in ms (> 0) that halves the p_fire needed; 20.0
    reuse_half_life_frames  frames (> 0) over which the count of run starts halves; 400
    """

    name = "activator"

    def __init__(self, prefetch_warmth: float = 0.5, reuse_half_life_frames: float = 400.0,
                 warmth_weight: float = 10.0, prefetch_confidence: float = 0.7,
                 slow_pagein_ms: float = 20.0):
        super().__init__()
        self.check_options(prefetch_warmth, reuse_half_life_frames, prefetch_confidence,
                           slow_pagein_ms)
        self.prefetch_warmth = prefetch_warmth
        self.prefetch_confidence = prefetch_confidence
        self.slow_pagein_ms = slow_pagein_ms
        self.warmth_weight = warmth_weight
        self._decay_per_frame = math.log(2.0) / reuse_half_life_frames
        self.frame = 0
        self.warmth: dict[str, float] = {}
        self.trend = WarmthTrend(prefetch_warmth)
        self.transitions = Transitions()
        self.pagein_ms: dict[str, float] = {}             # moving average per expert
        self.forecast: dict[str, float] = {}              # p_fire > 0 this frame, experts not firing
        self._reuse: dict[str, tuple[float, int]] = {}    # name -> (score, frame it was last updated)
        self._fired_last: set[str] = set()

    @staticmethod
    def check_options(prefetch_warmth: float, reuse_half_life_frames: float,
                      prefetch_confidence: float = 0.7, slow_pagein_ms: float = 20.0) -> None:
        """Raises ConfigError for options this policy cannot use (PagerConfig checks with it)."""
        if not 0.0 < prefetch_warmth <= 1.0:
            raise ConfigError("prefetch_warmth", prefetch_warmth, "must be in (0, 1]")
        if reuse_half_life_frames <= 0:
            raise ConfigError("reuse_half_life_frames", reuse_half_life_frames, "must be > 0")
        if not 0.0 < prefetch_confidence <= 1.0:
            raise ConfigError("prefetch_confidence", prefetch_confidence, "must be in (0, 1]")
        if not slow_pagein_ms > 0:
            raise ConfigError("slow_pagein_ms", slow_pagein_ms, "must be > 0")

    def _reuse_now(self, name: str) -> float:
        score, at = self._reuse.get(name, (0.0, 0))
        return score * math.exp(-self._decay_per_frame * (self.frame - at))

    def on_observe(self, fired: list[str], warmth: dict[str, float]) -> None:
        self.frame += 1
        self.warmth = {n: float(w) for n, w in warmth.items()}
        fired_now = set(fired)
        for name in fired_now:
            self.warmth[name] = 1.0
            if name not in self._fired_last:                # a run starts
                self._reuse[name] = (self._reuse_now(name) + 1.0, self.frame)
        self.trend.update(fired_now, self.warmth)
        self.transitions.update(fired_now)
        self._fired_last = fired_now
        if fired_now:                       # only rising experts can be expected
            names = list(self.trend.rise)
        else:                               # a run ended: any may come next
            names = [n for n in self.warmth if n not in fired_now]
        forecast = ((n, self.p_fire(n, nothing_fires=not fired_now)) for n in names)
        self.forecast = {n: p for n, p in forecast if p > 0.0}

    def on_load(self, name: str, prefetched: bool, pagein_ms: float | None = None) -> None:
        if pagein_ms is not None:           # to 0.1 ms: the simulator's token loads count as
            ms = round(pagein_ms, 1)        # free, so its runs repeat exactly
            before = self.pagein_ms.get(name)
            self.pagein_ms[name] = ms if before is None else 0.7 * before + 0.3 * ms

    def priority(self, name: str) -> float:
        expected = max(self.warmth.get(name, 0.0), self.forecast.get(name, 0.0))
        return (self.warmth_weight * expected + self._reuse_now(name)
                + 1e-9 * self.last_access.get(name, 0))

    def p_fire(self, name: str, nothing_fires: bool) -> float:
        """How likely `name` (not firing now) is to fire soon."""
        frames = self.trend.rise.get(name, 0)
        if frames:
            o = odds(self.trend.fired_rate(frames)) * self.transitions.likelihood_ratio(name)
            return o / (1.0 + o)
        context = self.transitions.context
        if nothing_fires and context and name not in context:   # a run ended: what is next?
            return self.transitions.p_next(name)
        return 0.0

    def needed_confidence(self, name: str) -> float:
        """The p_fire at which `name` is prefetched: lower for an expensive page-in."""
        slowness = self.pagein_ms.get(name, 0.0) / self.slow_pagein_ms
        return self.prefetch_confidence / (1.0 + slowness)

    def prefetch_candidates(self, fired: list[str], warmth: dict[str, float]) -> list[str]:
        fired_now = set(fired)
        likely = []
        for name, p in self.forecast.items():
            if name in fired_now:                           # demanded now, not a guess
                continue
            if p >= self.needed_confidence(name):
                likely.append((p, warmth.get(name, 0.0), name))
        return [n for _, _, n in sorted(likely, key=lambda c: (-c[0], -c[1], c[2]))]
