"""The pager's ledger: which experts are resident, shelved or loading, and what the budget holds.

Data path step 4 (pager), its bookkeeping half: pager.py decides when to load
and calls this under its lock; this decides who makes room and keeps the
count. Committed bytes are the footprints of resident and loading experts plus
what each shell keeps; they never exceed the budget, because room is taken
(victims evicted, the load's footprint reserved) before a load starts.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from .metrics import PagerMetrics
from .policies import Policy

logger = logging.getLogger(__name__)


@dataclass
class Shell:
    session: object
    shell_bytes: int                # what the session keeps with its weight pages dropped


@dataclass
class Resident:
    session: object
    footprint_bytes: int
    prefetched_unused: bool = False
    users: int = 0


class Ledger:
    """Not thread-safe: every call is made under the pager's lock.

    shelve(name, session) -> bytes dropped, or None: release the session. None
    for `shelve` means no shells. shell_footprints: measured bytes a shell of
    each expert keeps; without a figure, its footprint less the pages dropped.
    """

    def __init__(self, budget_bytes: int, footprints: dict[str, int],
                 shell_footprints: dict[str, int], policy: Policy, metrics: PagerMetrics,
                 shelve=None):
        self.budget_bytes = budget_bytes
        self.footprints = footprints
        self.shell_footprints = shell_footprints
        self.policy = policy
        self.metrics = metrics
        self.shelve = shelve
        self.residents: dict[str, Resident] = {}
        self.shells: dict[str, Shell] = {}              # oldest first
        self.loading: dict[str, bool] = {}              # name -> is a prefetch
        self.committed_bytes = 0

    @property
    def resident_bytes(self) -> int:
        return sum(e.footprint_bytes for e in self.residents.values())

    @property
    def shell_bytes(self) -> int:
        return sum(s.shell_bytes for s in self.shells.values())

    def pinned_bytes(self, pinned: set[str], besides: str) -> int:
        return sum(e.footprint_bytes for n, e in self.residents.items() if n in pinned and n != besides)

    def cost(self, name: str) -> int:
        """Bytes a page-in of `name` adds to what is committed (its shell is already counted)."""
        shell = self.shells.get(name)
        return self.footprints[name] - (shell.shell_bytes if shell else 0)

    def plan(self, name: str, pinned: set[str], for_prefetch: bool) -> list[str] | None:
        """Victims whose eviction lets `name` fit, or None if no allowed set does.

        Counted as if every victim were released whole, so the plan holds
        whether or not a victim can be shelved. Idle unpinned residents go by
        the policy (a prefetch evicts none the policy values at least as much
        as `name`); if they are not enough, shells go too, oldest first (a
        prefetch whose residents are all worth more may still take shells' room).
        """
        need = self.committed_bytes + self.cost(name) - self.budget_bytes
        candidates = [n for n, e in self.residents.items() if e.users == 0 and n not in pinned]
        worth = self.policy.priority(name) if for_prefetch else None
        victims = []
        while need > 0 and candidates:
            victim = self.policy.choose_victim(candidates)
            if for_prefetch and self.policy.priority(victim) >= worth:
                break                                   # the rest are worth more still
            victims.append(victim)
            candidates.remove(victim)
            need -= self.residents[victim].footprint_bytes
        for shell in (n for n in self.shells if n != name):
            if need <= 0:
                break
            victims.append(shell)
            need -= self.shells[shell].shell_bytes
        return victims if need <= 0 else None

    def evict(self, victims: list[str], name: str) -> list:
        """Make room for `name`: shelve or release `victims` (a plan's).

        Returns the sessions to release outside the lock. A shell is kept only
        while `name` still fits beside it; older shells go first.
        """
        sessions = []
        for victim in victims:
            if victim in self.shells:
                sessions.append(self.drop_shell(victim))
                continue
            entry = self.residents.pop(victim)
            self.committed_bytes -= entry.footprint_bytes
            self.metrics.evictions += 1
            self.policy.on_evict(victim)
            dropped = self._shelve(victim, entry.session)
            if dropped:
                fp = entry.footprint_bytes
                shell_bytes = max(min(self.shell_footprints.get(victim, fp - dropped), fp), 0)
                self.shells[victim] = Shell(entry.session, shell_bytes)
                self.committed_bytes += shell_bytes
                self.metrics.shelved += 1
            else:
                sessions.append(entry.session)
        while self.committed_bytes + self.cost(name) > self.budget_bytes:
            sessions.append(self.drop_shell(next(n for n in self.shells if n != name)))
        return sessions

    def _shelve(self, name: str, session) -> int | None:
        if self.shelve is None:
            return None
        try:
            return self.shelve(name, session)
        except Exception:                               # a shell is an optimisation: release instead
            logger.exception("shelving %r failed; releasing its session", name)
            return None

    def drop_shell(self, name: str):
        shell = self.shells.pop(name)
        self.committed_bytes -= shell.shell_bytes
        self.metrics.shells_dropped += 1
        return shell.session

    def reserve(self, name: str, prefetch: bool):
        """Commit `name`'s full footprint for its load; returns its shell's session or None."""
        shell = self.shells.pop(name, None)
        if shell is not None:
            self.committed_bytes -= shell.shell_bytes
        self.loading[name] = prefetch
        self.committed_bytes += self.footprints[name]
        return shell.session if shell is not None else None

    def admit(self, name: str, session, prefetch: bool, in_use: bool) -> Resident:
        """A reserved load succeeded: `name` is resident (a demand load its caller waits for
        is born in use, so no prefetch can evict it before its caller runs it)."""
        self.loading.pop(name)
        entry = Resident(session, self.footprints[name], prefetched_unused=prefetch,
                         users=int(in_use))
        self.residents[name] = entry
        return entry

    def abandon(self, name: str) -> None:
        """A reserved load failed: its room is free again."""
        self.loading.pop(name)
        self.committed_bytes -= self.footprints[name]

    def clear(self) -> list:
        """Forget every resident expert and shell; returns their sessions to release."""
        sessions = [e.session for e in self.residents.values()]
        sessions += [s.session for s in self.shells.values()]
        self.residents.clear()
        self.shells.clear()
        self.committed_bytes = 0
        return sessions
