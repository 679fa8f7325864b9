"""The pager: keeps loaded experts within a RAM budget (data path step 4).

    pager = Pager(PagerConfig(budget_bytes, pinned=("avoid",)), loader, footprints,
                  shell_footprints=loader.shell_footprints())
    pager.observe(result.fired, result.warmth)       # once per frame, from the activator
    for name in result.fired:
        with pager.use(name) as session:             # pages in if needed (a stall)
            outputs = session.run(None, feeds)
        with pager.use(name, wait=False) as session: # never waits: None if not resident,
            if session is not None:                  # and its page-in starts in the background
                outputs = session.run(None, feeds)

Invariants, all enforced under one lock:
- the footprints of resident experts plus those being loaded never exceed
  budget_bytes (room is reserved before a load starts, so a load can never race
  with the eviction of the same expert: a loading expert is not resident and so
  is never a victim);
- an expert inside `use()` is never evicted; pinned experts never leave;
- an evicted expert its loader can shelve (runtime/experts/loader.py: the
  ExpertLoader contract; shell.py) becomes a *shell*: its session stays built, its weight pages go back to the
  kernel, and what it still holds counts against the same budget. A page-in
  from a shell maps the weights again instead of building a session; shells
  are dropped oldest first when the budget needs their room;
- an expert the budget cannot hold, or whose loader raised, is refused with
  ExpertRefused (logged once, counted); a failed one is retried only after a
  back-off that doubles per failure. The pager and the other experts go on.
The bookkeeping - who is resident, shelved or loading, and who makes room -
is ledger.py; this module decides when to load and holds the lock.
background.py is its one thread: it pages in what a `use(name, wait=False)`
missed (the daemon's way: no frame waits for a load), then prefetches
(prefetch="background"). Prefetch may instead run in the caller of observe()
("inline": deterministic, used by the simulator), or not at all ("off").
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING

from spikebox.runtime.procmem import memory_status, trim_heap

from .background import Background
from .events import ExpertRefused, ResidencyChange
from .config import PagerConfig, default_budget_bytes
from .ledger import Ledger
from .metrics import PagerMetrics
from .policies import Policy

if TYPE_CHECKING:                       # the contract only: the pager never imports experts
    from spikebox.runtime.experts.loader import ExpertLoader

logger = logging.getLogger(__name__)


class Pager:
    def __init__(self, config: PagerConfig, loader: ExpertLoader, footprints: dict[str, int], *,
                 policy: Policy | None = None, shell_footprints: dict[str, int] | None = None,
                 clock=time.monotonic):
        """config: budget, policy, prefetch, pinned experts, retries (checked where it was made).
        policy: a policy object instead of the one config names (the simulator compares several).
        clock: monotonic seconds, for retry back-offs and page-in times (tests pass a fake)."""
        if not isinstance(config, PagerConfig):
            raise TypeError(f"Pager takes a PagerConfig first, e.g. Pager(PagerConfig(budget_bytes="
                            f"...), loader, footprints); got {type(config).__name__}")
        bad = {n: b for n, b in footprints.items() if b <= 0}
        if bad:
            raise ValueError(f"footprints must be > 0 bytes; got {bad}")
        self.config = config
        self.budget_bytes = (config.budget_bytes if config.budget_bytes is not None
                             else default_budget_bytes(footprints, shell_footprints or {},
                                                       tuple(config.pinned)))
        self.loader = loader
        self.footprints = dict(footprints)
        self.policy = policy if policy is not None else config.make_policy()
        self.prefetch_mode = config.prefetch
        self.retry_after_s, self.retry_max_s = config.retry_after_s, config.retry_max_s
        self.trim_after_evict = config.trim_after_evict
        self.shells_enabled = config.shells
        self.clock = clock
        self._metrics = PagerMetrics()
        self._lock = threading.Condition()
        # Measured bytes a shell keeps; without a figure, the footprint less the pages dropped
        # (which overstates it: it still counts the warm-up's freed activations).
        self._ledger = Ledger(self.budget_bytes, self.footprints, dict(shell_footprints or {}),
                              self.policy, self._metrics,
                              loader.shelve if self.shells_enabled else None)
        self._resident = self._ledger.residents         # the same dicts, read under the lock
        self._loading = self._ledger.loading
        self._failures: dict[str, tuple[int, float]] = {}   # name -> (failures, retry at)
        self._logged_too_big: set[str] = set()
        self._pinned = set(config.pinned)
        self._firing: set[str] = set()          # experts that fired in the latest frame
        self._expected: set[str] = set()        # the latest frame's prefetch candidates
        self._missed: set[str] = set()          # missed (counted) since their page-in was asked
        self._closed = False
        # Callables(ResidencyChange), called under the pager's lock in whichever thread paged
        # in or evicted: they must only hand the change on (a queue), never block or call back.
        self.on_residency: list = []
        unknown = self._pinned - set(self.footprints)
        if unknown:
            raise ValueError(f"pinned experts without a footprint: {sorted(unknown)}")
        for name in config.pinned:                      # pinned: loaded now, in the given order
            try:
                self._acquire(name, count=False)
                self._release(name)
            except ExpertRefused as e:
                logger.error("pinned %s", e)
        self._background = Background(self)     # the thread that pages in what is queued
        if self.prefetch_mode == "background":
            self._background.start()

    # -- the frame loop's side ---------------------------------------------------------
    @contextlib.contextmanager
    def use(self, name: str, wait: bool = True):
        """The session of `name`, resident (and never evicted) until the block ends.
        wait=False: never wait for a page-in. Not resident, the block is given None and the
        page-in is started in the background (a miss, counted once per page-in, never a
        stall); a later use finds it resident. Refusals raise ExpertRefused either way."""
        session = self._acquire(name) if wait else self._acquire_resident(name)
        if session is None:
            yield None
            return
        try:
            yield session
        finally:
            self._release(name)

    def idle(self, timeout_s: float) -> bool:
        """Wait until no page-in is queued or loading; False if the timeout ran out first."""
        with self._lock:
            return self._lock.wait_for(lambda: not (self._background.demand or self._loading),
                                       max(timeout_s, 0.0))

    def observe(self, fired: list[str], warmth: dict[str, float], wanted=()) -> None:
        """One activator frame: the policy learns from it, and warming experts may be prefetched.
        wanted: experts the caller knows it will run soon (a sleeper whose sleep is over and
        whose units fire: runtime/daemon/verdicts.py), prefetched first, by the same rules."""
        with self._lock:
            self.policy.on_observe(list(fired), dict(warmth))
            self._firing = set(fired)
            if self.prefetch_mode == "off":
                return
            expected = list(dict.fromkeys([*wanted, *self.policy.prefetch_candidates(
                list(fired), dict(warmth))]))
            self._expected = set(expected)
            wanted = [n for n in expected
                      if n in self.footprints and n not in self._resident and n not in self._loading]
            self._background.prefetches = wanted        # latest frame wins; stale wishes are dropped
            self._lock.notify_all()
        if self.prefetch_mode == "inline":
            while self._background.prefetch_one():
                pass

    def metrics(self) -> dict:
        with self._lock:
            out = self._metrics.as_dict()
            out.update(budget_bytes=self.budget_bytes,
                       resident_bytes=self._ledger.resident_bytes,
                       shell_bytes=self._ledger.shell_bytes,
                       committed_bytes=self._ledger.committed_bytes,
                       resident=sorted(self._resident), shells=list(self._ledger.shells),
                       pinned=sorted(self._pinned), policy=self.policy.name)
        out.update(memory_status())
        return out

    def resident(self) -> dict[str, int]:
        """name -> footprint bytes of every resident expert."""
        with self._lock:
            return {n: e.footprint_bytes for n, e in self._resident.items()}

    @property
    def pinned(self) -> frozenset[str]:
        """The experts loaded at start and never evicted."""
        return frozenset(self._pinned)

    @property
    def page_ins(self) -> int:
        """Page-ins so far: asked for, prefetched, and the pinned experts' at start."""
        with self._lock:
            return self._metrics.pagein_count

    @property
    def resident_bytes(self) -> int:
        with self._lock:
            return self._ledger.resident_bytes

    @property
    def held_bytes(self) -> int:
        """Resident experts plus shells: what the budget bounds (loads in flight aside)."""
        with self._lock:
            return self._ledger.resident_bytes + self._ledger.shell_bytes

    def stop_paging(self) -> None:
        """No page-in starts after this, none is in flight when it returns, the sessions stay.
        The daemon calls it before its observers hear of the stop: a prefetch landing after a
        recorder stopped listening left the recording's residency short (seen in CI)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._background.join()
        with self._lock:
            while self._loading:                        # a demand load in another thread
                self._lock.wait()

    def close(self) -> None:
        """Stop paging (stop_paging) and drop every session."""
        self.stop_paging()
        with self._lock:
            dropped = self._ledger.clear()
        del dropped
        if self.trim_after_evict:
            trim_heap()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def held_off(self, name: str) -> bool:
        """True while a use() of `name` would be refused without trying: it cannot fit beside
        the pinned experts, or its last load failed and its back-off has not run out."""
        with self._lock:
            return name in self.footprints and self._refusal(name, count=False) is not None

    # -- inside ------------------------------------------------------------------------
    def _refusal(self, name: str, count: bool = True) -> str | None:
        """Why `name` cannot be paged in now, or None; counted and logged unless `count` is
        False (a question, not a use). Under the lock."""
        fp = self.footprints[name]
        room = self.budget_bytes - self._ledger.pinned_bytes(self._pinned, besides=name)
        if fp > room:
            reason = (f"footprint {fp} B exceeds the budget ({self.budget_bytes} B, of which "
                      f"{self.budget_bytes - room} B pinned); raise budget_bytes or shrink the expert")
            if count:
                self._metrics.refused_too_big += 1
                if name not in self._logged_too_big:
                    self._logged_too_big.add(name)
                    logger.error("expert %r refused: %s", name, reason)
            return reason
        failures, retry_at = self._failures.get(name, (0, 0.0))
        if failures and self.clock() < retry_at:
            self._metrics.refused_in_backoff += count
            return f"its last load failed; next retry in {retry_at - self.clock():.1f} s"
        return None

    def _release_sessions(self, sessions: list, evicted: bool) -> None:
        """Outside the lock: the last references go, then freed heap goes back to the OS
        (after a shelving too: the shell's last run left its activations in the heap)."""
        sessions.clear()
        if evicted and self.trim_after_evict:
            trim_heap()

    def _load(self, name: str, prefetch: bool, shell=None, in_use: bool = False):
        """Page `name` in outside the lock: from its shell if it has one (a fresh load if
        that fails); on success the expert is resident (and in use, for a caller waiting on
        it). Returns (entry, None) or (None, error)."""
        t0 = self.clock()
        session = error = None
        shell_failed = False
        if shell is not None:
            try:
                self.loader.unshelve(name, shell)
                session = shell
            except Exception as e:                      # e.g. its file changed on disk
                shell_failed = True
                logger.warning("expert %r: page-in from its shell failed (%s: %s); loading it anew",
                               name, type(e).__name__, e)
            shell = None                                # used, or released before a fresh load
        from_shell = session is not None
        if session is None:
            try:
                session = self.loader.load(name)
            except Exception as e:                      # the loader's failure is the expert's, not ours
                session, error = None, e
        ms = (self.clock() - t0) * 1e3
        with self._lock:
            self._metrics.shells_dropped += shell_failed
            missed = name in self._missed
            self._missed.discard(name)
            if error is not None:
                self._ledger.abandon(name)
                failures = self._failures.get(name, (0, 0.0))[0] + 1
                delay = min(self.retry_after_s * 2 ** (failures - 1), self.retry_max_s)
                self._failures[name] = (failures, self.clock() + delay)
                self._metrics.refused_load_failed += 1
                log = logger.error if failures == 1 else logger.debug
                log("expert %r refused: loading it failed (%s: %s); retry in %.1f s",
                    name, type(error).__name__, error, delay)
                self._lock.notify_all()
                return None, error
            self._failures.pop(name, None)
            entry = self._ledger.admit(name, session, prefetch, in_use)
            if missed:                                  # asked for while loading: a late prefetch
                entry.prefetched_unused = False
            self._tell(name, True, "prefetch" if prefetch else
                       "pinned" if name in self._pinned else "demand", pagein_ms=ms)
            if not prefetch:
                self.policy.on_access(name)
            self._metrics.record_pagein(ms, from_shell)
            if prefetch:
                self._metrics.prefetches_issued += 1
            self.policy.on_load(name, prefetch, pagein_ms=ms)
            self._lock.notify_all()
            return entry, None

    def _acquire(self, name: str, count: bool = True):
        if name not in self.footprints:
            raise ExpertRefused(name, "unknown expert (no footprint given to the pager)")
        waited = False
        with self._lock:
            while True:
                entry = self._resident.get(name)
                if entry is not None:
                    return self._hit(name, entry, count=count and not waited)
                if name in self._loading:               # someone else's load: wait for it
                    if count and not waited:
                        self._metrics.misses += 1
                        self._metrics.stalls += 1
                        self._metrics.prefetches_late += int(self._loading[name])
                    waited = True
                    self._lock.wait()
                    continue
                reason = self._refusal(name)
                if reason is not None:
                    raise ExpertRefused(name, reason)
                victims = self._ledger.plan(name, self._pinned, for_prefetch=False)
                if victims is None and self._loading:     # a load in flight holds the room:
                    if count and not waited:              # once resident it can be evicted
                        self._metrics.misses += 1
                        self._metrics.stalls += 1
                    waited = True
                    self._lock.wait()
                    continue
                if victims is None:
                    self._metrics.refused_no_room += 1
                    raise ExpertRefused(name, "every expert that could make room is running or pinned")
                if count and not waited:
                    self._metrics.misses += 1
                    self._metrics.stalls += 1
                sessions = self._evict(victims, name)
                shell = self._ledger.reserve(name, prefetch=False)
                break
        self._release_sessions(sessions, evicted=bool(victims))
        entry, error = self._load(name, prefetch=False, shell=shell, in_use=True)
        if entry is None:
            raise ExpertRefused(name, f"loading it failed: {type(error).__name__}: {error}") from error
        return entry.session

    def _hit(self, name: str, entry, count: bool):
        """`name` is resident: in use until released. Under the lock."""
        if count:
            self._metrics.hits += 1
            if entry.prefetched_unused:
                self._metrics.prefetches_used += 1
        entry.prefetched_unused = False
        entry.users += 1
        self.policy.on_access(name)
        return entry.session

    def _acquire_resident(self, name: str):
        """use(wait=False): the session if `name` is resident, else None, its page-in queued."""
        if name not in self.footprints:
            raise ExpertRefused(name, "unknown expert (no footprint given to the pager)")
        with self._lock:
            entry = self._resident.get(name)
            if entry is not None:
                return self._hit(name, entry, count=name not in self._missed)
            if name not in self._loading:
                reason = self._refusal(name)
                if reason is not None:
                    raise ExpertRefused(name, reason)
                self._background.ask(name)
            if name not in self._missed:          # one miss per page-in, however many frames ask
                self._missed.add(name)
                self._metrics.misses += 1
                self._metrics.prefetches_late += int(self._loading.get(name, False))
            return None

    def _evict(self, victims: list[str], name: str) -> list:
        """The ledger's eviction for `name`'s room, told to on_residency. Under the lock."""
        leaving = [v for v in victims if v in self._resident]      # the rest are shells
        sessions = self._ledger.evict(victims, name)
        for victim in leaving:
            self._tell(victim, False, "evicted", for_expert=name)
        return sessions

    def _tell(self, name: str, resident: bool, why: str, for_expert: str | None = None,
              pagein_ms: float | None = None) -> None:
        if self.on_residency:
            change = ResidencyChange(self.clock(), name, resident, why, for_expert, pagein_ms)
            for observe in self.on_residency:
                observe(change)

    def _release(self, name: str) -> None:
        with self._lock:
            self._resident[name].users -= 1
            self._lock.notify_all()                     # a queued page-in may wait for its room
