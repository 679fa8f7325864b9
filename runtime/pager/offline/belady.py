"""Belady's ceiling, computed offline on a recorded demand trace.

On a miss, load the requested expert and, while over budget, evict the resident
expert whose next request is farthest in the future (never requested again
counts as infinitely far). With equal sizes this is Belady's MIN, the optimal
demand-paging hit rate. With variable sizes optimal paging is NP-hard and this
is only a heuristic ceiling (it may evict one large expert where two small ones
would serve better, or the reverse), so a size-aware online policy can, rarely,
beat it. It is a ceiling for *demand* paging: a policy that prefetches loads
before the request and so can turn misses Belady pays for into hits.
"""
from __future__ import annotations

import math


def belady_hit_rate(trace: list[str], footprints: dict[str, int], budget_bytes: int) -> float:
    """Hit rate of farthest-next-use eviction on `trace` (one expert name per request).

    Experts larger than the budget are never resident: every request of them misses.
    """
    if not trace:
        return 0.0
    next_use = [math.inf] * len(trace)
    seen: dict[str, int] = {}
    for i in range(len(trace) - 1, -1, -1):
        next_use[i] = seen.get(trace[i], math.inf)
        seen[trace[i]] = i
    resident: dict[str, float] = {}       # name -> index of its next request
    used = 0
    hits = 0
    for i, name in enumerate(trace):
        if name in resident:
            hits += 1
            resident[name] = next_use[i]
            continue
        size = footprints[name]
        if size > budget_bytes:
            continue
        while used + size > budget_bytes:
            victim = max(resident, key=lambda n: (resident[n], n))
            used -= footprints[victim]
            del resident[victim]
        resident[name] = next_use[i]
        used += size
    return hits / len(trace)


def optimal_hit_rate_brute_force(trace: list[str], footprints: dict[str, int],
                                 budget_bytes: int) -> float:
    """The true optimum of demand paging, by trying every eviction choice: tiny traces only.

    On a miss the requested expert must be loaded; any resident set that then
    fits the budget may be kept (evicting more than needed is allowed).
    """
    from functools import lru_cache
    from itertools import combinations

    @lru_cache(maxsize=None)
    def best(i: int, resident: frozenset) -> int:
        if i == len(trace):
            return 0
        name = trace[i]
        if name in resident:
            return 1 + best(i + 1, resident)
        if footprints[name] > budget_bytes:
            return best(i + 1, resident)
        others = sorted(resident)
        result = 0
        for k in range(len(others) + 1):
            for kept in combinations(others, k):
                if sum(footprints[n] for n in kept) + footprints[name] <= budget_bytes:
                    result = max(result, best(i + 1, frozenset(kept) | {name}))
        return result

    return best(0, frozenset()) / len(trace) if trace else 0.0
