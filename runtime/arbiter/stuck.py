"""The stuck guard: turning this way and that on one spot for long -> drive out toward the most room.

    guard = StuckGuard(config.arbiter, ways_back=arbiter.ways_back)
    decision = guard.step(now_s, decision, pose, range_mm)   # the same, or an escape
    guard.escapes                                            # times it drove the robot out

Data path: arbiter -> **stuck guard** -> range guard -> stall guard -> bridge, with the
pose (odometry.py) and the MCU's range reading. Each guard and expert can be right on its
own and the robot still go nowhere: seen in the demo, wedged by a sign's board, the
obstacle avoider steered into it, the range guard turned the robot away, the idle search
turned it back to look round, and it turned on one spot for 110 s. The range sensor had
read room on the other side all along.

So: the robot has turned at least half a revolution in all (`TURNED_RAD`) within
`stuck_after_ms` and has not got `MOVED_MM` from where it was at the start of that time
-> if the range sensor has not read every way round over that time (LOOK_BINS sectors), it
turns on in place until it has (at most LOOK_S); then it turns to the heading where it read
the most room (search.most_room: the least reading within 15 degrees, so an opening beats a
slit; not back through a door it came by, Arbiter.ways_back, while another way reads
ESCAPE_ROOM_MM), and drives that way at `idle_speed_mm_s` for up to ESCAPE_MM or
ESCAPE_DRIVE_S (the range guard, after this one, still stops it short of anything). Seen in
the demo: half a turn read, the only room it knew of was back through the door it came by,
and the room toward the way on was in the half it had not looked at. A robot holding still on
purpose (docked, at a stop sign) turns nowhere and is left alone; so is a blind one (a
stop). Without a pose, or with no room read anywhere (boxed in: the range guard's case),
nothing is done. Pure given its inputs: no clock is read here.
"""
from __future__ import annotations

import collections
import math
from typing import TYPE_CHECKING

from spikebox.firmware_bridge.protocol import RANGE_NONE

from .behaviours import ESCAPE_TURN
from .decide import BLIND, Decision
from .kinematics import wrap_angle
from .search import most_room

if TYPE_CHECKING:
    from ..daemon.config import ArbiterConfig
    from .odometry import Pose

STUCK = "stuck"                # Decision.reason while driving out
MOVED_MM = 200.0               # got this far from where it was: not stuck
TURNED_RAD = math.pi           # turned this much in all (not holding still on purpose)
LOOK_BINS = 24                 # every one of these sectors read: it has looked all round
LOOK_S = 12.0                  # looking round on takes at most this long
FACING_RAD = 0.2               # the escape's turn is done within this of the room's heading
ESCAPE_TURN_S = 6.0            # ... or after this long
ESCAPE_MM = 400.0              # the escape's drive: this far
ESCAPE_DRIVE_S = 6.0           # ... or this long (at the demo's 80 mm/s, 480 mm)
FAR_MM = 10_000.0              # "nothing in reach" (RANGE_NONE) counts as this much room
# Room enough for the escape's drive (the range guard after this one stops it short of
# anything): asking 2 * ESCAPE_MM of a way that is not back drove the robot out of the
# obstacle field the way it came in, with 0.6 m read toward the way on (seen in the trials).
ESCAPE_ROOM_MM = ESCAPE_MM + 100.0
LOOK, TURN, DRIVE = "look", "turn", "drive"


def _room_mm(range_mm: float) -> float:
    return FAR_MM if range_mm >= RANGE_NONE else float(range_mm)


def _sectors(readings) -> set[int]:
    return {int((h % (2 * math.pi)) / (2 * math.pi) * LOOK_BINS) % LOOK_BINS for h, _ in readings}


class StuckGuard:
    def __init__(self, config: ArbiterConfig, ways_back=None):
        """ways_back(pose) -> (heading rad, half-width rad) the robot came by, not escaped
        along while another way has room (Arbiter.ways_back); None: none known."""
        self._ways_back = ways_back
        self.after_s = config.stuck_after_ms / 1000.0
        self.min_room_mm = float(config.range_slow_mm)     # less than this anywhere: no way out
        self.speed_mm_s = float(config.idle_speed_mm_s)
        self._turn_mm_s = abs(config.steering.turn_in_place(ESCAPE_TURN, config.wheelbase_mm)[1])
        self.escapes = 0
        self._seen: collections.deque = collections.deque()   # (t, pose, range mm or None)
        self._phase: str | None = None
        self._readings: list[tuple[float, float]] = []   # LOOK: (heading rad, room mm)
        self._side = 1.0                # LOOK: +1 turning left, -1 right
        self._target = 0.0              # the escape's heading (rad, odometry)
        self._since = 0.0               # the phase began (s)
        self._from: tuple[float, float] = (0.0, 0.0)   # where the drive began

    @property
    def enabled(self) -> bool:
        return self.after_s > 0

    def step(self, now_s: float, decision: Decision, pose: Pose | None,
             range_mm: float | None) -> Decision:
        """`decision`, or the escape to send instead."""
        if not self.enabled or pose is None or decision.reason == BLIND:
            self._phase = None
            self._seen.clear()
            return decision
        if self._phase is not None:
            escape = self._escape(now_s, decision, pose, range_mm)
            if escape is not None:
                return escape
        self._seen.append((now_s, pose, range_mm))
        while self._seen and now_s - self._seen[0][0] > self.after_s:
            self._seen.popleft()
        if not self._stuck(now_s, pose):
            return decision
        self._readings = [(p.heading_rad, _room_mm(r)) for _, p, r in self._seen if r is not None]
        # On the way it was turning last: looking round goes on from there.
        last = [p.heading_rad for _, p, _ in list(self._seen)[-10:]]
        self._side = 1.0 if last[-1] >= last[0] else -1.0
        self._seen.clear()
        self._phase, self._since = LOOK, now_s
        return self._escape(now_s, decision, pose, range_mm) or decision

    def _stuck(self, now_s: float, pose: Pose) -> bool:
        first_t, first, _ = self._seen[0]
        if now_s - first_t < 0.95 * self.after_s:
            return False                    # not watched long enough yet
        if any(math.hypot(p.x_mm - pose.x_mm, p.y_mm - pose.y_mm) > MOVED_MM
               for _, p, _ in self._seen):
            return False
        turned = sum(abs(b.heading_rad - a.heading_rad)
                     for (_, a, _), (_, b, _) in zip(self._seen, list(self._seen)[1:]))
        return turned >= TURNED_RAD

    def _escape(self, now_s, decision, pose, range_mm) -> Decision | None:
        if self._phase == LOOK:
            if range_mm is not None:
                self._readings.append((pose.heading_rad, _room_mm(range_mm)))
            if len(_sectors(self._readings)) < LOOK_BINS and now_s - self._since < LOOK_S:
                v = self._side * self._turn_mm_s
                return Decision(-v, v, None, STUCK, False, decision.frame_id, decision.silent)
            ways_back = self._ways_back(pose) if self._ways_back is not None else ()
            heading, room = (most_room(self._readings, ways_back, ESCAPE_ROOM_MM)
                             if self._readings else (0.0, 0.0))
            if room < self.min_room_mm:
                self._phase = None          # no way out read anywhere: the range guard's case
                return None
            self.escapes += 1
            self._phase, self._target, self._since = TURN, heading, now_s
        if self._phase == TURN:
            off = wrap_angle(self._target - pose.heading_rad)
            if abs(off) > FACING_RAD and now_s - self._since < ESCAPE_TURN_S:
                v = math.copysign(self._turn_mm_s, off)
                return Decision(-v, v, None, STUCK, False, decision.frame_id, decision.silent)
            self._phase, self._since, self._from = DRIVE, now_s, (pose.x_mm, pose.y_mm)
        moved = math.hypot(pose.x_mm - self._from[0], pose.y_mm - self._from[1])
        if moved < ESCAPE_MM and now_s - self._since < ESCAPE_DRIVE_S:
            v = self.speed_mm_s
            return Decision(v, v, None, STUCK, False, decision.frame_id, decision.silent)
        self._phase = None
        return None
