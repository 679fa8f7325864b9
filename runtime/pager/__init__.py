"""Pager: keeps the experts the activator calls for within a RAM budget (data path step 4).

    from spikebox.runtime.pager import Pager, PagerConfig
    pager = Pager(PagerConfig(budget_bytes, pinned=("avoid",)), loader, footprints)
    pager.observe(result.fired, result.warmth)      # each frame, from the activator
    with pager.use("line_follow") as session:       # resident while the block runs
        session.run(None, feeds)
    pager.metrics()                                 # hits, stalls, prefetch recall, RSS, PSS, ...

An evicted expert whose loader can shelve it (runtime/experts/shell.py) stays
as a shell: its session kept, its weight pages given back, its remaining bytes
counted in the budget; a page-in from a shell maps the weights back (~0.5 ms).

The offline tools (simulate, traces, Belady's ceiling) are in `offline/`.
"""
from spikebox.runtime.procmem import memory_status, rss_bytes, trim_heap

from .config import PagerConfig
from .pager import ExpertRefused, Pager, ResidencyChange
from .policies import ActivatorAwarePolicy, LRUPolicy, Policy

__all__ = ["ActivatorAwarePolicy", "ExpertRefused", "LRUPolicy", "Pager", "PagerConfig", "Policy",
           "ResidencyChange", "memory_status", "rss_bytes", "trim_heap"]
