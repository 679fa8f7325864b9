"""An e-stop nothing can undo: estop/clear/drive from several threads over a
line that drops, duplicates and delays frames, against the real firmware core.

The `Link` talks to a real pseudo-terminal; at the far end the firmware core
(firmware/sb_core.c, loaded in-process) logs every frame it received, every
motor command it gave and every ACK it sent, in its own order. Hypothesis
chooses the faults and the interleaving; after every step the log is judged:
once an ESTOP is applied, the wheels stay at zero until a CLEAR issued after
it is applied and acked and a DRIVE sent after that CLEAR arrives.
"""
import queue
import threading
import time

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from spikebox.firmware_bridge import (BridgeError, CommandSuperseded, CommandTimeout, Link,
                                      LinkConfig)
from spikebox.firmware_bridge.lossy_line import (EstopJudge, LineEvent, LineFaults, LossyLine,
                                                 estop_violations)
from spikebox.firmware_bridge.protocol import STATE_ESTOPPED, STATE_WATCHDOG_STOPPED

WORKERS = 3


class Worker:
    """A thread of the host program: runs the calls given to it, in order, and logs them."""

    def __init__(self, link: Link, log: list, log_lock: threading.Lock):
        self.link, self.log, self.log_lock = link, log, log_lock
        self.q: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def submit(self, *op) -> None:
        self.q.put(op)

    def join(self) -> None:
        self.q.put(None)
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "a worker hung"

    def _run(self) -> None:
        while (op := self.q.get()) is not None:
            kind = op[0]
            with self.log_lock:
                entry = {"kind": kind, "start": time.monotonic(), "end": None, "ok": None}
                self.log.append(entry)
            try:
                if kind == "estop":
                    self.link.estop()
                elif kind == "clear":
                    self.link.clear()
                else:
                    for _ in range(3):   # a few cycles of a control loop
                        self.link.send_drive(op[1], op[2])
                        self.link.heartbeat()
                        time.sleep(0.003)
                entry["ok"] = True
            except BridgeError as e:
                entry["ok"] = False
                entry["error"] = type(e).__name__
            entry["end"] = time.monotonic()


class EstopOrder(RuleBasedStateMachine):
    @initialize(drop=st.sampled_from([0.0, 0.1, 0.3]), duplicate=st.sampled_from([0.0, 0.2]),
                delay=st.sampled_from([0.0, 0.3, 0.6]), seed=st.integers(0, 2**16))
    def start(self, drop, duplicate, delay, seed):
        self.line = LossyLine(LineFaults(drop=drop, duplicate=duplicate, delay=delay,
                                         max_delay_ms=40, seed=seed))
        self.link = Link(LinkConfig(url=self.line.url, ack_timeout_ms=15, max_retries=8,
                                    hello_interval_ms=20, handshake_timeout_ms=5000,
                                    link_timeout_ms=2000))
        self.link.connect()
        self.calls: list[dict] = []
        self.calls_lock = threading.Lock()
        self.workers = [Worker(self.link, self.calls, self.calls_lock) for _ in range(WORKERS)]
        self.judge = EstopJudge()

    @rule(w=st.integers(0, WORKERS - 1))
    def estop(self, w):
        self.workers[w].submit("estop")

    @rule(w=st.integers(0, WORKERS - 1))
    def clear(self, w):
        self.workers[w].submit("clear")

    @rule(w=st.integers(0, WORKERS - 1), left=st.integers(50, 400), right=st.integers(-400, -50))
    def drive(self, w, left, right):
        self.workers[w].submit("drive", left, right)

    @rule(ms=st.integers(0, 40))
    def wait(self, ms):
        time.sleep(ms / 1000)

    @invariant()
    def wheels_held_by_every_applied_estop(self):
        if hasattr(self, "line"):
            assert self.judge.feed(self.line.events_since(self.judge.events_seen)) == []

    def teardown(self):
        if not hasattr(self, "line"):
            return
        try:
            for w in self.workers:
                w.join()
            time.sleep(0.1)   # let delayed frames land
            assert self.judge.feed(self.line.events_since(self.judge.events_seen)) == []
            assert estop_violations(self.line.snapshot()) == []   # one pass agrees
            # The host believes the robot is stopped: then it is, soon, even if some
            # estop() gave up (every try lost): the host re-sends ESTOP while the MCU does
            # not hold it, and its silence lets the MCU's watchdog stop the wheels.
            if self.link.estop_latched:
                core = self.line.core
                deadline = time.monotonic() + 2.0
                while (core.left_mm_s, core.right_mm_s) != (0, 0) and \
                        time.monotonic() < deadline:
                    time.sleep(0.01)
                assert (core.left_mm_s, core.right_mm_s) == (0, 0)
        finally:
            self.link.close()
            self.line.close()


TestEstopOrder = EstopOrder.TestCase
TestEstopOrder.settings = settings(max_examples=int(__import__("os").environ.get("ESTOP_EXAMPLES", 25)), stateful_step_count=30, deadline=None,
                                   suppress_health_check=[HealthCheck.too_slow])


def ev(kind, frame=None, left=0, right=0):
    return LineEvent(kind, frame, left, right)


def test_the_judge_catches_a_clear_older_than_the_estop():
    """The rule the property test applies, on a hand-written log of the original bug."""
    from spikebox.firmware_bridge.framing import Frame
    from spikebox.firmware_bridge.protocol import BY_NAME, pack_payload

    def frame(name, seq, **fields):
        return Frame(BY_NAME[name].msg_id, seq, pack_payload(name, fields))

    def ack(cmd_id, name):
        return ev("ack", frame("ACK", 0, cmd_id=cmd_id, acked_msg_id=BY_NAME[name].msg_id,
                               result=0))

    log = [ev("frame", frame("ESTOP", 10, cmd_id=6, reason=0)), ev("motors"), ack(6, "ESTOP"),
           ev("frame", frame("CLEAR", 11, cmd_id=5)), ev("motors"), ack(5, "CLEAR"),
           ev("frame", frame("DRIVE", 12, left_mm_s=100, right_mm_s=100)),
           ev("motors", left=100, right=100)]
    assert len(estop_violations(log)) == 1, "a retried older CLEAR lifted a newer ESTOP"
    log[3] = ev("frame", frame("CLEAR", 11, cmd_id=7))
    log[5] = ack(7, "CLEAR")
    assert estop_violations(log) == []
    log[6] = ev("frame", frame("DRIVE", 9, left_mm_s=100, right_mm_s=100))
    assert len(estop_violations(log)) == 1, "a DRIVE sent before the CLEAR moved the wheels"


def test_clear_overlapped_by_an_estop_loses():
    """clear() in flight when estop() is issued, on a slow line: the CLEAR is abandoned
    (CommandSuperseded), and the robot ends stopped."""
    with LossyLine() as line:
        link = Link(LinkConfig(url=line.url, ack_timeout_ms=200, max_retries=2))
        link.connect()
        try:
            line.faults = LineFaults(delay=1.0, max_delay_ms=80, seed=3)  # now slow
            outcome = {}

            def clear():
                try:
                    outcome["clear"] = link.clear()
                except CommandSuperseded as e:
                    outcome["clear"] = e

            t = threading.Thread(target=clear)
            t.start()
            while not link._book.in_flight("CLEAR"):
                time.sleep(0.001)   # the CLEAR has its cmd_id: it is in flight
            assert link.estop() in (0, 1)
            t.join(timeout=5)
            assert isinstance(outcome["clear"], CommandSuperseded)
            assert link.estop_latched and link.send_drive(100, 100) is None
            time.sleep(0.2)   # every late frame has landed
            assert line.core.state & STATE_ESTOPPED
            assert (line.core.left_mm_s, line.core.right_mm_s) == (0, 0)
            assert link.stats()["commands_superseded"] == 1
        finally:
            link.close()


def test_every_estop_frame_lost_still_stops_the_wheels():
    """No ESTOP frame reaches the MCU: estop() gives up (CommandTimeout), but the host is
    latched, so it holds its heartbeats (the MCU's watchdog stops the wheels) and, once
    the line carries ESTOP again, re-sends it because the MCU reports it is not held."""
    with LossyLine() as line:
        link = Link(LinkConfig(url=line.url, ack_timeout_ms=10, max_retries=2,
                               hello_interval_ms=20))
        link.connect()
        try:
            deadline = time.monotonic() + 5
            while line.core.left_mm_s != 150 and time.monotonic() < deadline:
                link.send_drive(150, 150)
                link.heartbeat()
                time.sleep(0.005)
            assert line.core.left_mm_s == 150
            line.blocked = {"ESTOP"}
            with pytest.raises(CommandTimeout):
                link.estop()
            assert link.estop_latched
            for _ in range(40):                      # the control loop keeps calling
                assert link.send_drive(150, 150) is None and link.heartbeat() is False
                time.sleep(0.01)
            assert (line.core.left_mm_s, line.core.right_mm_s) == (0, 0), "watchdog stop"
            assert line.core.state & STATE_WATCHDOG_STOPPED
            line.blocked = set()
            deadline = time.monotonic() + 5
            while not line.core.state & STATE_ESTOPPED and time.monotonic() < deadline:
                time.sleep(0.01)
            assert line.core.state & STATE_ESTOPPED, "the latch was not enforced"
            assert link.stats()["estop_reasserts"] >= 1
        finally:
            link.close()


@pytest.mark.parametrize("reboot", [False, True])
def test_latched_estop_is_sent_again_after_the_link_comes_back(reboot):
    """The MCU reboots (forgetting its latch) or the port is re-opened while the host
    is latched: the host sends ESTOP again before anything else."""
    with LossyLine() as line:
        link = Link(LinkConfig(url=line.url, hello_interval_ms=20))
        link.connect()
        try:
            link.estop()
            if reboot:
                with line._lock:                       # a brown-out: a fresh core
                    line.core = type(line.core)()
            else:
                link._lost("test: port re-opened")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not (
                    link.connected and link.stats()["estop_reasserts"] >= 1):
                time.sleep(0.01)
            assert link.stats()["estop_reasserts"] == 1, "the e-stop was not re-asserted"
            assert link.send_drive(200, 200) is None, "latched: no DRIVE may be sent"
            while True:     # CLEAR is refused while the re-asserted ESTOP is in flight
                try:
                    link.clear()
                    break
                except CommandSuperseded:
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
            assert line.core.state & STATE_ESTOPPED == 0
            assert [e.frame.name for e in line.snapshot() if e.kind == "frame"
                    and e.frame.name in ("ESTOP", "CLEAR")][-2:] == ["ESTOP", "CLEAR"]
            assert link.send_drive(200, 200) is not None
        finally:
            link.close()
