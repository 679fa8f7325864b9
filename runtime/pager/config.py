"""The pager's config: its RAM budget, policy, prefetch and pinned experts.

The `[pager]` table of the run config (runtime/daemon/config.py):

    pager = Pager(PagerConfig(budget_bytes=64_000_000, pinned=("avoid",)), loader, footprints)
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config_fields import ConfigError, check_choice, check_positive
from ..schema import check_fields
from .policies import ActivatorAwarePolicy, LRUPolicy, Policy

PREFETCH_MODES = ("background", "inline", "off")


@dataclass
class PagerConfig:
    budget_bytes: int | None = None   # RAM for resident experts and their shells, in bytes of
                                      # measured footprint (the box manifest's, not file sizes);
                                      # None: the pinned experts plus a quarter of what all the
                                      # others need resident (default_budget_bytes), so
                                      # paging matters
    policy: str = "activator"         # who leaves when room is needed: "activator" (keeps what
                                      # the activator predicts comes back) or "lru"
    pinned: tuple[str, ...] = ()      # experts loaded at start, in this order, never evicted
    prefetch: str = "background"      # warming experts loaded early: "background" (one thread),
                                      # "inline" (inside observe(): deterministic) or "off"
    prefetch_warmth: float = 0.5      # activator policy: warmth (0..1; 1 = firing) from which
                                      # an expert counts as warming (frames of a rise)
    prefetch_confidence: float = 0.7  # activator policy: how likely (0..1] to fire soon, by its
                                      # warmth trend and learned skill transitions, an expert
                                      # must be to be prefetched, when its page-in is free ...
    slow_pagein_ms: float = 20.0      # ... and half that when its measured page-in takes this
                                      # long (about a frame): slow loads start on less evidence
    reuse_half_life_frames: float = 400.0  # activator policy: frames over which an expert's
                                           # count of comebacks halves
    retry_after_s: float = 2.0        # an expert whose load failed is refused this long, the
    retry_max_s: float = 60.0         # wait doubling per failure up to retry_max_s
    trim_after_evict: bool = True     # hand freed heap back to the kernel after an eviction
    shells: bool = True               # keep an evicted expert as a session shell (its weight
                                      # pages dropped) when the loader can shelve

    def __post_init__(self):
        check_fields(self, ConfigError)
        check_positive(self, "retry_after_s", "retry_max_s")
        if self.budget_bytes is not None:
            check_positive(self, "budget_bytes")
        check_choice(self, "policy", (ActivatorAwarePolicy.name, LRUPolicy.name))
        check_choice(self, "prefetch", PREFETCH_MODES)
        if self.retry_max_s < self.retry_after_s:
            raise ConfigError("retry_max_s", self.retry_max_s,
                              f"must be >= retry_after_s ({self.retry_after_s})")
        twice = sorted({n for n in self.pinned if self.pinned.count(n) > 1})
        if twice:
            raise ConfigError("pinned", self.pinned, f"names {twice[0]!r} more than once")
        ActivatorAwarePolicy.check_options(self.prefetch_warmth, self.reuse_half_life_frames,
                                           self.prefetch_confidence, self.slow_pagein_ms)

    def make_policy(self) -> Policy:
        """A fresh policy object of the kind `policy` names (policies keep per-run state)."""
        if self.policy == LRUPolicy.name:
            return LRUPolicy()
        return ActivatorAwarePolicy(self.prefetch_warmth, self.reuse_half_life_frames,
                                    prefetch_confidence=self.prefetch_confidence,
                                    slow_pagein_ms=self.slow_pagein_ms)


DEFAULT_BUDGET_FRACTION = 0.25   # of what all experts need resident: the demo pages for real


def default_budget_bytes(footprints: dict[str, int], shell_footprints: dict[str, int],
                         pinned: tuple[str, ...] = ()) -> int:
    """The pinned experts, plus a quarter of the others' footprints, but never so little that
    the largest of the others cannot be resident beside the pinned ones and every other
    expert's shell."""
    pinned_bytes = sum(footprints.get(n, 0) for n in pinned)
    paged = {n: b for n, b in footprints.items() if n not in pinned}
    quarter = int(DEFAULT_BUDGET_FRACTION * sum(paged.values()))
    if not paged:
        return max(pinned_bytes, 1)
    largest = max(paged, key=paged.get)
    shells = sum(b for n, b in shell_footprints.items() if n != largest and n not in pinned)
    return pinned_bytes + max(quarter, paged[largest] + shells, 1)
