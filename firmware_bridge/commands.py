"""The host's half of "an e-stop always wins" (PROTOCOL.md, "Order").

The `Link` sends and retries; the CommandBook decides what a command is
allowed to be: cmd_ids in the order commands are issued, the host's e-stop
latch, which commands are in flight, and which of them an ESTOP has
overtaken. Its methods are called with the link's lock held, so an issue, a
latch and a supersede are one step each. The LatchKeeper re-sends the ESTOP
while the host is latched and the MCU may not hold it.
"""
from __future__ import annotations

import threading
import time
from typing import Callable
from dataclasses import dataclass, field

from .link_types import CommandSuperseded
from .protocol import ACK_STALE


@dataclass
class Pending:
    """A command in flight, until its ACK or its last retry."""
    name: str                   # ESTOP or CLEAR
    done: threading.Event = field(default_factory=threading.Event)
    result: int | None = None
    superseded: bool = False    # a CLEAR abandoned because an ESTOP was issued


class CommandBook:
    def __init__(self):
        self.latched = False    # from estop() until a CLEAR issued after it is acked
        self.latched_at = 0.0   # time.monotonic() of the latest latch()
        self.reason = 0         # of the latest estop(), for re-sending it
        self._epoch = 0         # +1 per estop(): a CLEAR issued before it loses
        self._cmd_id = 0
        self._pending: dict[int, Pending] = {}

    def issue(self, name: str) -> tuple[int, Pending]:
        """A new cmd_id, newer than every one issued before."""
        self._cmd_id = (self._cmd_id + 1) & 0xFFFF
        pending = self._pending[self._cmd_id] = Pending(name)
        return self._cmd_id, pending

    def forget(self, cmd_id: int) -> None:
        self._pending.pop(cmd_id, None)

    def acked(self, cmd_id: int, result: int) -> None:
        pending = self._pending.get(cmd_id)
        if pending is not None:
            pending.result = result
            pending.done.set()

    def latch(self, reason: int) -> None:
        """estop(): latch now, before anything is sent, and abandon every CLEAR in flight."""
        self.latched = True
        self.latched_at = time.monotonic()
        self.reason = reason
        self._epoch += 1
        for pending in self._pending.values():
            if pending.name == "CLEAR":
                pending.superseded = True
                pending.done.set()

    def in_flight(self, name: str) -> bool:
        return any(p.name == name for p in list(self._pending.values()))

    def may_clear(self) -> int:
        """Before a CLEAR is issued; returns the epoch to hand to unlatch()."""
        if self.in_flight("ESTOP"):
            raise CommandSuperseded("CLEAR refused: an ESTOP is still in flight and an "
                                    "e-stop always wins; clear() after estop() returns")
        return self._epoch

    def unlatch(self, epoch: int) -> None:
        """A CLEAR issued at `epoch` was acked: lift the latch unless an ESTOP came since."""
        if self._epoch != epoch:
            raise CommandSuperseded("CLEAR acked, but an ESTOP issued meanwhile is newer "
                                    "and stands; clear() again after it")
        self.latched = False


class LatchKeeper:
    """While the host is latched, one ESTOP re-sent until the MCU acks it: after a
    reconnect (an MCU that rebooted forgot its latch) or when the MCU reports it does
    not hold the e-stop. Runs on the link's reader thread, which calls step() each turn."""

    def __init__(self, book: CommandBook, lock: threading.Lock,
                 send_estop: Callable[[int, int], None], retry_s: float):
        self._book, self._lock, self._send, self._retry_s = book, lock, send_estop, retry_s
        self._current: tuple[int, Pending] | None = None
        self._due = 0.0

    def idle(self) -> bool:
        return self._current is None

    def start(self) -> None:
        """A new ESTOP, newest of all commands, sent now and until acked."""
        self.end()
        with self._lock:
            self._current = self._book.issue("ESTOP")
        self._due = 0.0
        self.step(time.monotonic())

    def step(self, now: float) -> None:
        if self._current is None:
            return
        cmd_id, pending = self._current
        if not self._book.latched:
            self.end()
        elif pending.done.is_set():
            if pending.result == ACK_STALE:
                self.start()        # answered from the old session: a new id
            else:
                self.end()
        elif now >= self._due:
            self._due = now + self._retry_s
            self._send(cmd_id, self._book.reason)

    def end(self) -> None:
        if self._current is not None:
            with self._lock:
                self._book.forget(self._current[0])
            self._current = None
