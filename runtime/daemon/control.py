"""The control loop: arbiter -> bridge, every cycle at rates.control_hz, and the stop.

    control = ControlLoop(link, arbiter, results, vision.seen, stage_clock, config)
    control.cycle()                 # one DRIVE (what the arbiter chose, or a safe one) + heartbeat
    control.stop_motors()           # DRIVE 0,0 until the MCU's telemetry shows its wheels at zero

Data path steps 6-7. It never waits for a frame or an expert: each cycle it gives
the arbiter the experts' newest results and the activator's newest awake set,
sends the setpoint it decides, and feeds the MCU's watchdog. The command actually
written to the port (after the link's clipping) is what gets logged, with the
capture time of the frame it answers: `latency_ms` is capture -> DRIVE written.

When the run ends, for whatever reason, `stop_motors()` runs first: DRIVE 0,0 and
heartbeats until the MCU reports both wheels at zero (or `STOP_CONFIRM_S` passed:
then the MCU's own watchdog stops them once the heartbeats end).
"""
from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass

from spikebox.runtime.arbiter.odometry import Odometry
from spikebox.runtime.arbiter.near import RangeGuard
from spikebox.runtime.arbiter.stall import StallGuard
from spikebox.runtime.arbiter.stuck import StuckGuard

from .stages import StageClock
from .vision import Latest

logger = logging.getLogger(__name__)

STOP_CONFIRM_S = 0.5          # how long stop_motors waits for the MCU to report zero
COMMAND_WINDOW = 100_000      # commands kept for the run report


@dataclass(frozen=True)
class Command:
    """One control cycle: what was decided and what went out."""
    t_s: float                    # monotonic time of the decision
    left_mm_s: int | None         # as written to the port; None: not sent (link down, e-stop)
    right_mm_s: int | None
    expert: str | None            # who drove (None: idle or a safe stop)
    reason: str
    frame_id: int | None          # the frame whose results decided it
    latency_ms: float | None      # that frame's capture -> this DRIVE written, on the first
                                  # DRIVE that answers the frame (None on repeats)


class ControlLoop:
    def __init__(self, link, arbiter, results, seen: Latest, stage_clock: StageClock, *,
                 frame_max_age_ms: float, telemetry_max_age_ms: float,
                 stall: StallGuard | None = None, near: RangeGuard | None = None,
                 stuck: StuckGuard | None = None,
                 clock=time.monotonic):
        self.link, self.arbiter, self.results, self.seen = link, arbiter, results, seen
        self.stages, self.clock = stage_clock, clock
        self.frame_max_age_ms, self.telemetry_max_age_ms = frame_max_age_ms, telemetry_max_age_ms
        self.commands: collections.deque[Command] = collections.deque(maxlen=COMMAND_WINDOW)
        self.cycles = 0
        self.not_sent = 0             # cycles whose DRIVE the link did not send
        self.motors_confirmed_zero: bool | None = None   # set by stop_motors
        self._last_answered: int | None = None
        self._last_sent: tuple[int, int] | None = None
        self.stall = stall                # None: no stall guard
        self.near = near                  # None: no range guard
        self.stuck = stuck                # None: no stuck guard
        self.on_command: list = []     # callables(command), in this thread: recorders, the view
        self.odometry = Odometry()     # from the MCU's gyro and wheels: where the robot is

    def fresh_seen(self, now_s: float):
        """The activator's newest frame, if fresh; else None (then nobody is awake)."""
        seen = self.seen.get()
        if seen is None or seen.capture.age_ms(now_s) > self.frame_max_age_ms:
            return None
        return seen

    def cycle(self) -> Command:
        now = self.clock()
        seen = self.fresh_seen(now)
        results = self.results.snapshot()
        tel = self.link.latest_telemetry(max_age_ms=self.telemetry_max_age_ms)
        pose = self.odometry.update(tel)
        range_mm = None if tel is None else tel.range_mm
        # No fresh frame (the camera lost or stalled): blind, and the arbiter stops the robot.
        decision = self.arbiter.decide(now, results, None if seen is None else seen.awake,
                                       pose, range_mm)
        # Turning on one spot for long (each part right on its own): drive out toward room.
        if self.stuck is not None:
            decision = self.stuck.step(now, decision, pose, range_mm)
        # Something close ahead on the range sensor (nearer than the camera sees): no
        # driving into it.
        if self.near is not None:
            decision = self.near.step(now, decision, range_mm)
        # Pushing and not moving (a bump nothing saw): the stall guard backs the robot off.
        if self.stall is not None:
            decision = self.stall.step(now, self._last_sent, None if tel is None else
                                       (tel.left_mm_s, tel.right_mm_s)) or decision
        t1 = self.clock()
        self.stages.record("arbiter", (t1 - now) * 1000.0)
        sent = self.link.send_drive(decision.left_mm_s, decision.right_mm_s)
        self.link.heartbeat()
        t2 = self.clock()
        self.stages.record("bridge", (t2 - t1) * 1000.0)
        self.cycles += 1
        # The frame this command answers: the one whose expert results drove it, else the
        # newest frame the activator saw (it decided that no expert was awake).
        frame_id, captured = decision.frame_id, None
        run = results.get(decision.expert) if decision.expert is not None else None
        if run is not None and run.frame_id == frame_id:
            captured = run.t_monotonic_s
        else:
            frame_id = None
        if frame_id is None and seen is not None:
            frame_id, captured = seen.capture.frame_id, seen.capture.t_monotonic_s
        # Latency is the frame's capture -> the first DRIVE that answers it; later cycles that
        # repeat the answer (control runs faster than frames come) are not new latencies.
        first_answer = frame_id is not None and frame_id != self._last_answered
        self._last_sent = None if sent is None else (sent.left_mm_s, sent.right_mm_s)
        if sent is None:
            self.not_sent += 1
            cmd = Command(now, None, None, decision.expert, decision.reason, frame_id, None)
        else:
            self._last_answered = frame_id if first_answer else self._last_answered
            cmd = Command(now, sent.left_mm_s, sent.right_mm_s, decision.expert, decision.reason,
                          frame_id, (sent.sent_at - captured) * 1000.0
                          if first_answer and captured is not None else None)
        self.commands.append(cmd)
        for observe in self.on_command:
            observe(cmd)
        return cmd

    def guard_counts(self) -> dict:
        """What the range, stall and stuck guards did (None: that guard is off)."""
        near, stall, stuck = self.near, self.stall, self.stuck
        return {"range_turns": near and near.turns, "range_slowed_cycles": near and near.slowed,
                "range_boxed_in": near and near.boxed_in,
                "range_sidestep_cycles": near and near.sidesteps,
                "stall_back_offs": stall and stall.stalls,
                "stuck_escapes": stuck and stuck.escapes}

    def stop_motors(self, confirm_s: float = STOP_CONFIRM_S) -> bool:
        """DRIVE 0,0 (with heartbeats) until the MCU's telemetry, received after the first
        zero was sent, shows both wheels at zero. True if confirmed."""
        first = self.clock()
        deadline = first + confirm_s
        confirmed = False
        while True:
            try:
                self.link.send_drive(0, 0)
                self.link.heartbeat()
            except Exception as e:                  # the link itself failed: the watchdog stops it
                logger.error("stopping the motors: %s (the MCU's watchdog stops them)", e)
                break
            tel = self.link.latest_telemetry(max_age_ms=self.telemetry_max_age_ms)
            if tel is not None and tel.received_at > first and \
                    tel.left_mm_s == 0 and tel.right_mm_s == 0:
                confirmed = True
                break
            if self.clock() > deadline:
                break
            time.sleep(0.01)
        self.motors_confirmed_zero = confirmed
        if not confirmed:
            logger.warning("the MCU did not confirm zero wheel speed within %.0f ms; its "
                           "watchdog stops them once the heartbeats end", confirm_s * 1000)
        return confirmed
