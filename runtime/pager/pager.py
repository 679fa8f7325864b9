"""The pager: keeps loaded experts within a RAM budget (data path step 4).

    pager = Pager(PagerConfig(budget_bytes, pinned=("avoid",)), loader, footprints,
                  shell_footprints=loader.shell_footprints())
    pager.observe(result.fired, result.warmth)       # once per frame, from the activator
    for name in result.fired:
        with pager.use(name) as session:             # pages in if needed (a stall)
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
Prefetch runs in one background thread (prefetch="background"), in the caller
of observe() ("inline": deterministic, used by the simulator), or not at all
("off"). A prefetch never evicts a running, pinned or firing expert, nor another
the policy expects to fire, nor one it values at least as much as the expert it
would load.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spikebox.runtime.procmem import memory_status, trim_heap

from .config import PagerConfig, default_budget_bytes
from .ledger import Ledger
from .metrics import PagerMetrics
from .policies import Policy

if TYPE_CHECKING:                       # the contract only: the pager never imports experts
    from spikebox.runtime.experts.loader import ExpertLoader

logger = logging.getLogger(__name__)


class ExpertRefused(RuntimeError):
    """`name` cannot be made resident now; `reason` says why and what to do."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"expert {name!r} refused: {reason}")
        self.name, self.reason = name, reason


@dataclass(frozen=True)
class ResidencyChange:
    """An expert became resident or left: what `Pager.on_residency` callbacks are given."""
    t_s: float                  # the pager's clock (monotonic seconds)
    expert: str
    resident: bool              # True: paged in; False: evicted (shelved or released)
    why: str                    # paged in: "pinned", "demand" (a use() asked for it) or
                                # "prefetch"; evicted: "evicted"
    for_expert: str | None = None   # evicted: the expert whose page-in needed the room


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
        self._prefetch_wanted: list[str] = []
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
        self._worker = None
        if self.prefetch_mode == "background":
            self._worker = threading.Thread(target=self._prefetch_loop, name="pager-prefetch",
                                            daemon=True)
            self._worker.start()

    # -- the frame loop's side ---------------------------------------------------------
    @contextlib.contextmanager
    def use(self, name: str):
        """The session of `name`, resident (and never evicted) until the block ends."""
        session = self._acquire(name)
        try:
            yield session
        finally:
            self._release(name)

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
            self._prefetch_wanted = wanted              # latest frame wins; stale wishes are dropped
            self._lock.notify_all()
        if self.prefetch_mode == "inline":
            while self._prefetch_one():
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
    def resident_bytes(self) -> int:
        with self._lock:
            return self._ledger.resident_bytes

    @property
    def held_bytes(self) -> int:
        """Resident experts plus shells: what the budget bounds (loads in flight aside)."""
        with self._lock:
            return self._ledger.resident_bytes + self._ledger.shell_bytes

    def close(self) -> None:
        """Stop the prefetch thread and drop every session."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        if self._worker is not None:
            self._worker.join()
        with self._lock:
            while self._loading:                        # a demand load in another thread
                self._lock.wait()
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

    def _load(self, name: str, prefetch: bool, shell=None):
        """Page `name` in outside the lock: from its shell if it has one (a fresh load if
        that fails); on success the expert is resident. Returns (entry, None) or (None, error)."""
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
            entry = self._ledger.admit(name, session, prefetch)
            self._tell(name, True, "prefetch" if prefetch else
                       "pinned" if name in self._pinned else "demand")
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
                    if count and not waited:
                        self._metrics.hits += 1
                        if entry.prefetched_unused:
                            self._metrics.prefetches_used += 1
                    entry.prefetched_unused = False
                    entry.users += 1
                    self.policy.on_access(name)
                    return entry.session
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
        entry, error = self._load(name, prefetch=False, shell=shell)
        if entry is None:
            raise ExpertRefused(name, f"loading it failed: {type(error).__name__}: {error}") from error
        return entry.session

    def _evict(self, victims: list[str], name: str) -> list:
        """The ledger's eviction for `name`'s room, told to on_residency. Under the lock."""
        leaving = [v for v in victims if v in self._resident]      # the rest are shells
        sessions = self._ledger.evict(victims, name)
        for victim in leaving:
            self._tell(victim, False, "evicted", for_expert=name)
        return sessions

    def _tell(self, name: str, resident: bool, why: str, for_expert: str | None = None) -> None:
        if self.on_residency:
            change = ResidencyChange(self.clock(), name, resident, why, for_expert)
            for observe in self.on_residency:
                observe(change)

    def _release(self, name: str) -> None:
        with self._lock:
            self._resident[name].users -= 1

    def _prefetch_one(self) -> bool:
        """Start and finish one wanted prefetch; False when nothing is left to try."""
        with self._lock:
            while self._prefetch_wanted and not self._closed:
                name = self._prefetch_wanted.pop(0)
                if name in self._resident or name in self._loading:
                    continue
                fp = self.footprints[name]
                failures, retry_at = self._failures.get(name, (0, 0.0))
                if fp > self.budget_bytes or (failures and self.clock() < retry_at):
                    self._metrics.prefetches_skipped += 1   # refused on demand, with the log line there
                    continue
                # An expert firing this frame is about to be used: a guess never evicts it,
                # whatever the policy's arithmetic says (the bench caught 10 such evictions).
                # Nor one the policy expects to fire as well: swapping two guesses is churn.
                victims = self._ledger.plan(name, self._pinned | self._firing | self._expected,
                                            for_prefetch=True)
                if victims is None:
                    self._metrics.prefetches_skipped += 1
                    continue
                self._metrics.prefetch_evicted_firing += len(set(victims) & self._firing)
                sessions = self._evict(victims, name)
                shell = self._ledger.reserve(name, prefetch=True)
                break
            else:
                return False
        self._release_sessions(sessions, evicted=bool(victims))
        self._load(name, prefetch=True, shell=shell)
        return True

    def _prefetch_loop(self) -> None:
        while True:
            with self._lock:
                while not self._prefetch_wanted and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
            try:
                self._prefetch_one()
            except Exception:                           # never let the thread die silently
                logger.exception("prefetch failed")
