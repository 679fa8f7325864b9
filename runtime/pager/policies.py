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

    def on_load(self, name: str, prefetched: bool) -> None:
        pass

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
    """Keep what the activator predicts will be reused; prefetch what is warming.

    Per expert it keeps `reuse`: an exponentially decayed count of *run starts*
    (frames where it fires after not firing), half-life `reuse_half_life_frames`.
    Scenes persist, so how often an expert's scene comes back predicts its next
    use better than how recently its last run ended (which is what LRU keys on,
    and why LRU keeps a skill whose zone the robot just left).

    priority = warmth_weight * warmth_now + reuse_now (+ 1e-9 * recency to break ties)
    An expert firing now has warmth 1.0 and so outranks any idle one.

    Prefetch: experts whose warmth is at least `prefetch_warmth` and that are not
    firing this frame (those are being demanded now), warmest first.
    """

    name = "activator"

    def __init__(self, prefetch_warmth: float = 0.5, reuse_half_life_frames: float = 400.0,
                 warmth_weight: float = 10.0):
        super().__init__()
        self.check_options(prefetch_warmth, reuse_half_life_frames)
        self.prefetch_warmth = prefetch_warmth
        self.warmth_weight = warmth_weight
        self._decay_per_frame = math.log(2.0) / reuse_half_life_frames
        self.frame = 0
        self.warmth: dict[str, float] = {}
        self._reuse: dict[str, tuple[float, int]] = {}    # name -> (score, frame it was last updated)
        self._fired_last: set[str] = set()

    @staticmethod
    def check_options(prefetch_warmth: float, reuse_half_life_frames: float) -> None:
        """Raises ConfigError for options this policy cannot use (PagerConfig checks with it)."""
        if not 0.0 < prefetch_warmth <= 1.0:
            raise ConfigError("prefetch_warmth", prefetch_warmth, "must be in (0, 1]")
        if reuse_half_life_frames <= 0:
            raise ConfigError("reuse_half_life_frames", reuse_half_life_frames, "must be > 0")

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
        self._fired_last = fired_now

    def priority(self, name: str) -> float:
        return (self.warmth_weight * self.warmth.get(name, 0.0) + self._reuse_now(name)
                + 1e-9 * self.last_access.get(name, 0))

    def prefetch_candidates(self, fired: list[str], warmth: dict[str, float]) -> list[str]:
        fired_now = set(fired)
        warm = [(w, n) for n, w in warmth.items() if w >= self.prefetch_warmth and n not in fired_now]
        return [n for _, n in sorted(warm, key=lambda wn: (-wn[0], wn[1]))]
