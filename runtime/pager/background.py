"""The pager's background thread: it pages in what is queued, so no frame waits for a load.

    background = Background(pager)
    background.ask("dock")                 # a use(wait=False) missed: page it in soon
    background.prefetches = ["ball_find"]  # the latest frame's prefetch wishes (observe())
    background.start()                     # the one thread: asked page-ins first, then wishes

One thread, started with the pager when prefetch="background", else on the first asked
page-in. An asked page-in (a demand: a frame wanted the expert and went on without it) may
evict whatever a waiting use() may; when its room is held by an expert that is running or
by a load in flight, it waits for that to end. A prefetch is a guess: it never evicts a
running, pinned or firing expert, nor another the policy expects to fire, nor one it
values at least as much. Both share the pager's lock and its ledger: this is the pager's
own module, not a second owner of its state.
"""
from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)


class Background:
    def __init__(self, pager):
        self.pager = pager
        self.demand: list[str] = []        # asked page-ins, oldest first
        self.prefetches: list[str] = []    # the latest frame's wishes (prefetch modes on)
        self._thread: threading.Thread | None = None

    def ask(self, name: str) -> None:
        """Queue `name`'s page-in (under the pager's lock)."""
        if name not in self.demand:
            self.demand.append(name)
            self.start()
            self.pager._lock.notify_all()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="pager-pageins", daemon=True)
            self._thread.start()

    def join(self) -> None:
        """After the pager is closed (and its lock notified): wait for the thread to end."""
        if self._thread is not None:
            self._thread.join()

    def demand_one(self) -> bool:
        """Start and finish the oldest asked page-in; False when none is left."""
        return self._page_in(self._next_demand, prefetch=False)

    def prefetch_one(self) -> bool:
        """Start and finish one wished prefetch; False when nothing is left to try."""
        return self._page_in(self._next_prefetch, prefetch=True)

    def _page_in(self, pick, prefetch: bool) -> bool:
        """`pick()` (under the pager's lock): (name, victims) to page in, or None. Room is
        made and reserved under the lock; the load runs outside it."""
        p = self.pager
        with p._lock:
            chosen = pick()
            if chosen is None:
                return False
            name, victims = chosen
            sessions = p._evict(victims, name)
            shell = p._ledger.reserve(name, prefetch=prefetch)
            p._lock.notify_all()                    # a load has begun: whoever waits on one
        p._release_sessions(sessions, evicted=bool(victims))
        p._load(name, prefetch=prefetch, shell=shell)
        return True

    def _next_demand(self):
        p = self.pager
        while self.demand and not p._closed:
            name = self.demand[0]
            if name in p._resident or name in p._loading:
                self.demand.pop(0)
                continue
            if p._refusal(name, count=False) is not None:     # refused at its next use
                self.demand.pop(0)
                p._missed.discard(name)
                continue
            victims = p._ledger.plan(name, p._pinned, for_prefetch=False)
            if victims is None:
                if p._loading or any(e.users for e in p._resident.values()):
                    p._lock.wait()                  # a release or a load frees room
                    continue
                self.demand.pop(0)                  # every other expert is pinned
                p._missed.discard(name)
                p._metrics.refused_no_room += 1
                continue
            self.demand.pop(0)
            return name, victims
        return None

    def _next_prefetch(self):
        p = self.pager
        while self.prefetches and not p._closed:
            name = self.prefetches.pop(0)
            if name in p._resident or name in p._loading:
                continue
            failures, retry_at = p._failures.get(name, (0, 0.0))
            if p.footprints[name] > p.budget_bytes or (failures and p.clock() < retry_at):
                p._metrics.prefetches_skipped += 1  # refused on demand, with the log line there
                continue
            # An expert firing this frame is about to be used: a guess never evicts it,
            # whatever the policy's arithmetic says (the bench caught 10 such evictions).
            # Nor one the policy expects to fire as well: swapping two guesses is churn.
            victims = p._ledger.plan(name, p._pinned | p._firing | p._expected,
                                     for_prefetch=True)
            if victims is None:
                p._metrics.prefetches_skipped += 1
                continue
            p._metrics.prefetch_evicted_firing += len(set(victims) & p._firing)
            return name, victims
        return None

    def _loop(self) -> None:
        p = self.pager
        wishes = p.prefetch_mode == "background"    # "inline" prefetches in observe()'s caller
        while True:
            with p._lock:
                while not (self.demand or (wishes and self.prefetches) or p._closed):
                    p._lock.wait()
                if p._closed:
                    return
            try:
                self.demand_one() or (wishes and self.prefetch_one())
            except Exception:                           # never let the thread die silently
                logger.exception("page-in in the background failed")
