"""The pager's counters, and the definitions of its prefetch figures.

A *request* is one `Pager.use(name)`. It is a **hit** if `name` was resident
when asked for, else a **miss**; a miss whose caller had to wait for a load
(its own, or an in-flight prefetch) is a **stall**.

A *would-be miss* is a request that would have missed without prefetching:
a miss, or the first hit on an expert that a prefetch brought in.
- prefetches_issued: prefetch loads that completed and became resident.
- prefetches_used:   those whose expert was requested before being evicted.
- prefetch_recall    = prefetches_used / (prefetches_used + misses)
                       (the share of would-be misses that prefetching removed)
- prefetch_precision = prefetches_used / prefetches_issued
                       (the share of prefetch loads that paid off)
Both are 0.0 when their denominator is 0.

A *page-in* is a load that made an expert resident: from its shell (the
session kept, its weight pages mapped again) or anew (a session built from
the file). Evictions either keep a shell (`shelved`) or release the session;
`shells_dropped` counts shells released later to make room.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

PAGEIN_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)   # upper bounds; one more bucket: above


@dataclass
class PagerMetrics:
    hits: int = 0
    misses: int = 0
    stalls: int = 0
    evictions: int = 0
    prefetches_issued: int = 0
    prefetches_used: int = 0
    prefetches_skipped: int = 0     # would have had to evict a running, pinned or more valuable expert
    prefetches_late: int = 0        # requested while its prefetch was still loading (counted as a stall)
    prefetch_evicted_firing: int = 0   # experts firing in the frame a prefetch evicted them (must be 0)
    refused_too_big: int = 0        # footprint above the budget left beside the pinned experts
    refused_load_failed: int = 0    # the loader raised (corrupt file, hash mismatch, ...)
    refused_in_backoff: int = 0     # requests refused while a failed expert waits to be retried
    refused_no_room: int = 0        # every possible victim was running or pinned
    shelved: int = 0                # evictions that kept a shell
    shells_dropped: int = 0         # shells released to make room (or a failed page-in from one)
    pagein_count: int = 0
    pageins_from_shell: int = 0
    pagein_ms_total: float = 0.0
    pagein_shell_ms_total: float = 0.0
    pagein_ms_buckets: list[int] = field(default_factory=lambda: [0] * (len(PAGEIN_BUCKETS_MS) + 1))

    def record_pagein(self, ms: float, from_shell: bool = False) -> None:
        self.pagein_count += 1
        self.pagein_ms_total += ms
        if from_shell:
            self.pageins_from_shell += 1
            self.pagein_shell_ms_total += ms
        self.pagein_ms_buckets[bisect.bisect_left(PAGEIN_BUCKETS_MS, ms)] += 1

    @property
    def requests(self) -> int:
        return self.hits + self.misses

    def as_dict(self) -> dict:
        requests = self.requests
        would_be = self.prefetches_used + self.misses
        labels = [f"<={b}" for b in PAGEIN_BUCKETS_MS] + [f">{PAGEIN_BUCKETS_MS[-1]}"]
        return {
            "requests": requests,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hits / requests if requests else 0.0,
            "stalls": self.stalls,
            "evictions": self.evictions,
            "prefetches_issued": self.prefetches_issued,
            "prefetches_used": self.prefetches_used,
            "prefetches_skipped": self.prefetches_skipped,
            "prefetches_late": self.prefetches_late,
            "prefetch_evicted_firing": self.prefetch_evicted_firing,
            "prefetch_recall": self.prefetches_used / would_be if would_be else 0.0,
            "prefetch_precision": (self.prefetches_used / self.prefetches_issued
                                   if self.prefetches_issued else 0.0),
            "refused_too_big": self.refused_too_big,
            "refused_load_failed": self.refused_load_failed,
            "refused_in_backoff": self.refused_in_backoff,
            "refused_no_room": self.refused_no_room,
            "refused_loads": self.refused_too_big + self.refused_load_failed,
            "pageins": self.pagein_count,
            "pagein_ms_mean": self.pagein_ms_total / self.pagein_count if self.pagein_count else 0.0,
            "pageins_from_shell": self.pageins_from_shell,
            "pagein_shell_ms_mean": (self.pagein_shell_ms_total / self.pageins_from_shell
                                     if self.pageins_from_shell else 0.0),
            "pagein_new_ms_mean": ((self.pagein_ms_total - self.pagein_shell_ms_total)
                                   / (self.pagein_count - self.pageins_from_shell)
                                   if self.pagein_count > self.pageins_from_shell else 0.0),
            "shelved": self.shelved,
            "shells_dropped": self.shells_dropped,
            "pagein_ms_histogram": dict(zip(labels, self.pagein_ms_buckets)),
        }
