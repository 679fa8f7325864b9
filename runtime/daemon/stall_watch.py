"""The control loop's own watchdog: says when the loop has sent nothing for too long, and where
it was held.

    watch = StallWatch(threading.get_ident(), silent_ms=100.0).start()
    watch.beat()                      # every control cycle
    watch.stalls, watch.worst_ms      # stalls seen, and the longest gap between two beats
    watch.stop()                      # before the run's orderly stop (it sends no cycles)

The MCU stops the wheels when the host is silent past its watchdog (200 ms in the reference
firmware): the robot is safe, but nothing says why, and on a robot whose MCU waits longer the
wheels run on the last command meanwhile. Seen in the demo: the stuck guard weighed 15 s of
range readings by comparing every pair, 60-330 ms on the control loop's thread, and the only
sign was the MCU's log line. This thread looks every `silent_ms / 4`; once the loop has been
silent `silent_ms`, it logs the loop's stack (a warning, once per stall). The daemon sets
`silent_ms` to half the MCU's watchdog, so the log comes before the MCU acts.

It only reads: it sends nothing to the MCU and never touches the loop's state. A C call that
holds the interpreter's lock for the whole stall is caught when it lets go (the stack then
shows what came after it); the gap is measured all the same.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
import traceback

logger = logging.getLogger(__name__)

STACK_FRAMES = 8           # innermost frames of the loop's stack in the warning


class StallWatch:
    def __init__(self, loop_thread_id: int, *, silent_ms: float, clock=time.monotonic):
        if silent_ms <= 0:
            raise ValueError(f"silent_ms must be > 0, got {silent_ms}")
        self.loop_thread_id, self.silent_s, self.clock = loop_thread_id, silent_ms / 1000.0, clock
        self.stalls = 0
        self.worst_ms = 0.0             # the longest gap between two beats
        self._last = clock()
        self._reported_for: float | None = None   # the beat whose silence was logged
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spikebox-stall-watch",
                                        daemon=True)

    def start(self) -> StallWatch:
        self._last = self.clock()
        self._thread.start()
        return self

    def beat(self) -> None:
        """The loop sent a cycle."""
        now = self.clock()
        self.worst_ms = max(self.worst_ms, (now - self._last) * 1000.0)
        self._last = now

    def stop(self) -> None:
        """No more watching (does not wait for the thread: see join())."""
        self._stop.set()

    def join(self, timeout_s: float | None = None) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self.silent_s / 4):
            last = self._last
            silent_s = self.clock() - last
            if silent_s < self.silent_s or self._reported_for == last:
                continue
            frame = sys._current_frames().get(self.loop_thread_id)
            if self._stop.is_set() or last != self._last:
                continue                # it beat, or the run is stopping, meanwhile
            self._reported_for = last
            self.stalls += 1
            stack = "".join(traceback.format_stack(frame)[-STACK_FRAMES:]) if frame else \
                "  (the loop's thread is gone)\n"
            logger.warning("the control loop has sent nothing for %.0f ms (the MCU stops the "
                           "wheels when the host is silent for its watchdog); it is held in:\n%s",
                           silent_s * 1000.0, stack.rstrip("\n"))
