"""A serial line that loses, duplicates and delays whole frames, with the real
firmware core at its far end, and the judge of what came out of it.

    line = LossyLine(LineFaults(drop=0.2, duplicate=0.1, delay=0.3, seed=7))
    link = Link(LinkConfig(url=line.url))    # a real pty, as /dev/ttyUSB0 would be
    ...                                       # estop/clear/drive from many threads
    line.close()
    assert estop_violations(line.events) == []

The host end is a pseudo-terminal the `Link` opens like any port; the MCU end
is `FirmwareCore` (firmware/sb_core.c, in this process), fed by one thread
that decides each frame's fate from a seeded generator. A delayed frame is
held up to `max_delay_ms`, so frames sent after it overtake it, as they would
through a buffer that stalls. Every frame the core received, every motor
command it gave and every ACK it sent is logged in the core's own order in
`events`, which `estop_violations` reads. Used by the e-stop property tests
and `spikebox bench faults`.
"""
from __future__ import annotations

import heapq
import itertools
import random
import select
import threading
import time
from dataclasses import dataclass

from .core_lib import FirmwareCore
from .framing import Frame, FrameDecoder, encode_raw
from .host_pty import McuPty
from .protocol import ACK_APPLIED, BY_ID, newer


@dataclass(frozen=True)
class LineFaults:
    """What happens to each frame, in each direction, independently."""
    drop: float = 0.0          # probability it is lost
    duplicate: float = 0.0     # probability a second copy follows (with its own delay)
    delay: float = 0.0         # probability it is held back ...
    max_delay_ms: float = 30.0  # ... by up to this long
    seed: int = 0

    def __post_init__(self):
        for name in ("drop", "duplicate", "delay"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"LineFaults.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.max_delay_ms < 0:
            raise ValueError("LineFaults.max_delay_ms must be >= 0")


@dataclass(frozen=True)
class LineEvent:
    """One thing at the MCU end, in the core's order: a host frame it received
    ('frame'), a motor command it gave ('motors'), an ACK it sent ('ack')."""
    kind: str
    frame: Frame | None = None
    left_mm_s: int = 0
    right_mm_s: int = 0


class LossyLine:
    def __init__(self, faults: LineFaults = LineFaults(), *, tick_ms: float = 1.0):
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._pty = McuPty()
        self.url = self._pty.url
        self.core = FirmwareCore()
        self.events: list[LineEvent] = []
        self.frames_dropped = 0
        self.blocked: set[str] = set()   # names of host frames that never reach the MCU
        self.frames_duplicated = 0
        self.frames_delayed = 0
        self._order = itertools.count()
        self._to_core: list = []
        self._to_host: list = []
        self._tick_s = tick_ms / 1000
        self._from_core_decoder = FrameDecoder()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="lossy-line", daemon=True)
        self._thread.start()

    def inject(self, wire: bytes) -> None:
        """Bytes reaching the MCU from elsewhere (another host on the line, a replayed
        frame); what the MCU answers goes to the host like any answer."""
        with self._lock:
            self._from_core(self._core_call(self.core.rx, wire), self._from_core_decoder,
                            time.monotonic())

    def snapshot(self) -> list[LineEvent]:
        with self._lock:
            return list(self.events)

    def events_since(self, n: int) -> list[LineEvent]:
        """The events after the first n (for judging a long run as it goes)."""
        with self._lock:
            return self.events[n:]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._pty.close()

    def __enter__(self) -> "LossyLine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- the line's thread ----
    def _route(self, frame: Frame, queue: list, now: float) -> None:
        f, rng = self.faults, self._rng
        if rng.random() < f.drop:
            self.frames_dropped += 1
            return
        copies = 2 if rng.random() < f.duplicate else 1
        self.frames_duplicated += copies - 1
        for _ in range(copies):
            due = now
            if rng.random() < f.delay:
                self.frames_delayed += 1
                due += rng.uniform(0, f.max_delay_ms) / 1000
            heapq.heappush(queue, (due, next(self._order), frame))

    def _from_core(self, out: bytes, decoder: FrameDecoder, now: float) -> None:
        for frame in decoder.feed(out):
            if BY_ID[frame.msg_id].name == "ACK":
                self.events.append(LineEvent("ack", frame))
            self._route(frame, self._to_host, now)

    def _core_call(self, fn, *args) -> bytes:
        n0 = len(self.core.motor_log)
        out = fn(*args)
        for left, right in self.core.motor_log[n0:]:
            self.events.append(LineEvent("motors", None, left, right))
        return out

    def _run(self) -> None:
        from_host, from_core = FrameDecoder(), self._from_core_decoder
        next_tick = time.monotonic()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._pty.master], [], [], self._tick_s)
            now = time.monotonic()
            with self._lock:
                if ready:
                    for frame in from_host.feed(self._pty.read()):
                        if frame.name in self.blocked:
                            self.frames_dropped += 1
                            continue
                        self._route(frame, self._to_core, now)
                while self._to_core and self._to_core[0][0] <= now:
                    frame = heapq.heappop(self._to_core)[2]
                    self.events.append(LineEvent("frame", frame))
                    wire = b"\x00" + encode_raw(frame.msg_id, frame.seq, frame.payload,
                                                version=frame.version)
                    self._from_core(self._core_call(self.core.rx, wire), from_core, now)
                if now >= next_tick:
                    next_tick = now + self._tick_s
                    self._from_core(self._core_call(self.core.tick), from_core, now)
                while self._to_host and self._to_host[0][0] <= now:
                    frame = heapq.heappop(self._to_host)[2]
                    self._pty.write(b"\x00" + encode_raw(frame.msg_id, frame.seq, frame.payload,
                                                         version=frame.version))


class EstopJudge:
    """The e-stop rule, applied to a line's events as they come (see estop_violations).

    After an ESTOP is applied the wheels stay at zero until a CLEAR issued after it
    (a newer cmd_id) is applied and acked, and then a DRIVE sent after that CLEAR
    (a newer frame seq) arrives. Incremental, so a long run is judged in one pass."""

    def __init__(self):
        self.violations: list[str] = []
        self.events_seen = 0
        self._estop_id: int | None = None       # the last ESTOP applied
        self._clear_seq: int | None = None      # frame seq of a CLEAR that lifted it
        self._current: Frame | None = None      # the host frame being handled

    def feed(self, new_events: list[LineEvent]) -> list[str]:
        """Judge events that follow the ones fed before; returns the new violations."""
        found = []
        for i, ev in enumerate(new_events, start=self.events_seen):
            v = self._one(i, ev)
            if v:
                found.append(v)
        self.events_seen += len(new_events)
        self.violations += found
        return found

    def _one(self, i: int, ev: LineEvent) -> str | None:
        current = self._current
        if ev.kind == "frame":
            self._current = ev.frame
        elif ev.kind == "ack":
            ack = ev.frame.fields()
            if ack["result"] != ACK_APPLIED:
                return None
            if BY_ID[ack["acked_msg_id"]].name == "ESTOP":
                self._estop_id, self._clear_seq = ack["cmd_id"], None
            elif (self._estop_id is not None and newer(ack["cmd_id"], self._estop_id)
                  and current is not None):
                self._clear_seq = current.seq
        elif ev.kind == "motors" and (ev.left_mm_s or ev.right_mm_s) and \
                self._estop_id is not None:
            is_drive = current is not None and current.name == "DRIVE"
            if self._clear_seq is None or not is_drive or not newer(current.seq,
                                                                    self._clear_seq):
                why = "no CLEAR issued after it" if self._clear_seq is None else "no fresh DRIVE"
                return (f"event {i}: motors {ev.left_mm_s},{ev.right_mm_s} after ESTOP "
                        f"{self._estop_id} with {why} (frame {current.name if current else None}"
                        f" seq {current.seq if current else None})")
        return None


def estop_violations(events: list[LineEvent]) -> list[str]:
    """Every time the motors were given a non-zero setpoint while an applied ESTOP
    should have held them (the rule: EstopJudge)."""
    judge = EstopJudge()
    judge.feed(events)
    return judge.violations
