"""idle = "search": look round; nothing seen, go where there is most room, and look round again.

    search = Search(wheels, idle_speed_mm_s)
    left, right = search.step(now_s, side, heading_rad, range_mm)   # each cycle nobody drives

Turning in place on one spot finds what can be seen from that spot. By a wall it finds
little (half the turn faces the wall), and in the demo the robot then drifted along walls
for minutes with the way on out of view. So, knowing its heading (odometry.py, the MCU's
gyro) and how far it could drive straight on (telemetry range_mm):

1. LOOK: turn in place, `side` first (the arbiter's choice: the way the robot last turned
   toward what it sought), a full turn, noting the range at each heading;
2. FACE: turn to the heading with the most room (each heading scored by the least range
   within ROOM_WINDOW_RAD of it, so a wide opening beats a slit), but not back the way the
   robot came (`ways_back`: toward a door it passed, decide.py) while another heading reads
   GO_ROOM_MM; and with the way on seen lately (`way_on`: the heading a door finder last saw
   it along, decide.py), the heading nearest it (within TOWARD_RAD) that reads GO_ROOM_MM;
3. GO: drive straight on at idle_speed_mm_s, until the range falls to GO_UNTIL_MM, or for
   as long as half the room seen allows (at most GO_MAX_S); then LOOK again.

With a `route` (the heading round what the range sensor read blocked on the straight way to
the way on: ways.py, places.py) it turns to that heading and drives, instead of all three.
Without a heading or a range this cycle it turns in place, as before. Taken over by an
expert for more than RESUME_S, it starts again with LOOK: the robot has moved. The range
and stall guards still act on what it asks for.
"""
from __future__ import annotations

import math

import numpy as np

from .kinematics import wrap_angle

SEARCH_TURN = 0.75         # turns in place at this share of a full turn rate (a look round
#                            takes ~5 s; 0.5 took ~8 s and completed fewer lockstep tours)
LOOK, FACE, GO = "look", "face", "go"
ROUTE_TURN, ROUTE = "route_turn", "route"   # turning to a route's heading; driving along it
ROOM_WINDOW_RAD = math.radians(15)
FACED_RAD = math.radians(8)
GO_UNTIL_MM = 450.0
GO_MAX_S = 6.0
GO_ROOM_MM = 2 * GO_UNTIL_MM + 300.0   # room enough to drive a little way (the search's GO)
RESUME_S = 1.0
TOWARD_RAD = math.radians(90)
ROUTE_FACED_RAD = math.radians(20)   # a route's heading this near: drive on (it is steered
#                                      again each cycle)


class Search:
    def __init__(self, wheels, idle_speed_mm_s: float):
        self.wheels, self.speed_mm_s = wheels, float(idle_speed_mm_s)
        self.phase = LOOK
        self._start: float | None = None          # LOOK: the heading it started from
        self._seen: list[tuple[float, float]] = []   # LOOK: (heading, range mm)
        self._target: float | None = None         # FACE and GO: the heading chosen
        self._room_mm = 0.0                       # FACE and GO: the room seen that way
        self._go_until_s = 0.0
        self._last_s: float | None = None

    def step(self, now_s: float, side: float, heading_rad: float | None,
             range_mm: float | None, ways_back=(), way_on: float | None = None,
             route: float | None = None) -> tuple[float, float]:
        """ways_back: (heading rad, half-width rad) of the ways the robot came (decide.py);
        route: the heading round what was read blocked toward the way on (places.py)."""
        resumed = self._last_s is None or now_s - self._last_s > RESUME_S
        self._last_s = now_s
        spin = self.wheels.turn_in_place(side * SEARCH_TURN)
        if heading_rad is None or range_mm is None:
            self._look()                           # blind to its own turn: turn, as before
            return spin
        if route is not None:
            # A way round to the way on is known: take it; a look round starts afresh after.
            self._look()
            off = wrap_angle(route - heading_rad)
            self.phase = ROUTE_TURN if abs(off) > ROUTE_FACED_RAD else ROUTE
            if self.phase == ROUTE_TURN:
                return self.wheels.turn_in_place(math.copysign(SEARCH_TURN, off))
            return (self.speed_mm_s, self.speed_mm_s)
        if resumed or self.phase in (ROUTE, ROUTE_TURN):
            self._look()
        if self.phase == LOOK:
            if self._start is None:
                self._start = heading_rad
            self._seen.append((heading_rad, float(range_mm)))
            if abs(heading_rad - self._start) < 2 * math.pi:
                return spin
            self._target, room = most_room(self._seen, ways_back, GO_ROOM_MM, way_on)
            self.phase = FACE
            self._room_mm = room
        if self.phase == FACE:
            off = wrap_angle(self._target - heading_rad)
            if abs(off) > FACED_RAD:
                return self.wheels.turn_in_place(math.copysign(SEARCH_TURN, off))
            self.phase = GO
            drive_s = max(0.0, self._room_mm / 2 - GO_UNTIL_MM) / self.speed_mm_s
            self._go_until_s = now_s + min(GO_MAX_S, drive_s)
        if self.phase == GO:
            if range_mm > GO_UNTIL_MM and now_s < self._go_until_s:
                return (self.speed_mm_s, self.speed_mm_s)
            self._look()
        return spin

    def turning(self, now_s: float) -> bool:
        """True while a look round (or the turn to face the way chosen), or a route, is under
        way: it ran within RESUME_S, so a step now goes on with it rather than starting again.
        (An avoider's steer does not cut a route short either: over 32 tours, the same
        completions as letting it, and one tour fewer led back out of a zone.)"""
        return (self._last_s is not None and now_s - self._last_s <= RESUME_S
                and self.phase in (LOOK, FACE, ROUTE_TURN, ROUTE))

    def _look(self) -> None:
        self.phase, self._start, self._seen, self._target = LOOK, None, [], None


def most_room(seen, ways_back=(), enough_mm: float = 0.0, toward: float | None = None
              ) -> tuple[float, float]:
    """Of (heading rad, range mm) readings, the heading whose neighbourhood (ROOM_WINDOW_RAD)
    reads the most room (its least reading: a wide opening beats a slit), and that room.
    ways_back: (heading rad, half-width rad) not to choose while a heading outside them all
    reads at least `enough_mm` (a dead end's only way out is back)."""
    seen = np.asarray(seen, dtype=np.float64)
    h, r = seen[:, 0], seen[:, 1]
    room = _window_min(h, r, ROOM_WINDOW_RAD)
    back = np.zeros(len(h), dtype=bool)
    for heading, half_rad in ways_back:
        back |= np.abs(wrap_angle(h - heading)) <= half_rad
    if back.any() and np.any(room[~back] >= enough_mm):
        room = np.where(back, -np.inf, room)
    if toward is not None:
        off = np.abs(wrap_angle(h - toward))
        on = (room >= enough_mm) & (off <= TOWARD_RAD)
        if on.any():
            best = int(np.argmin(np.where(on, off, np.inf)))
            return float(h[best]), float(room[best])
    best = int(np.argmax(room))
    return float(h[best]), float(room[best])


def _window_min(h: np.ndarray, r: np.ndarray, half_rad: float) -> np.ndarray:
    """For each reading, the least of the readings whose heading is within half_rad of its
    own (round the circle). O(n log n): a stuck guard's look holds 15 s of control cycles
    (~1,500 readings), and comparing every pair took 60-330 ms of the control loop's thread,
    past the MCU's 200 ms watchdog. Headings sorted round the circle, with a turn's copy
    either side; each reading's window is a run of that order, its least from a sparse table."""
    n = len(h)
    on_circle = wrap_angle(h)
    order = np.argsort(on_circle, kind="stable")
    ring = on_circle[order]
    ring_h = np.concatenate((ring - 2 * np.pi, ring, ring + 2 * np.pi))
    table = [np.tile(r[order], 3)]          # table[k][i]: the least of ring_r[i : i + 2**k]
    lo = np.searchsorted(ring_h, ring - half_rad, side="left")
    hi = np.searchsorted(ring_h, ring + half_rad, side="right")   # a window holds itself
    span = hi - lo
    k = np.floor(np.log2(span)).astype(np.intp)
    while len(table) <= k.max():
        step, prev = 1 << (len(table) - 1), table[-1]
        table.append(np.minimum(prev[:-step], prev[step:]))
    least = np.empty(n)
    for level in np.unique(k):
        at = k == level
        t = table[level]
        least[at] = np.minimum(t[lo[at]], t[hi[at] - (1 << level)])
    room = np.empty(n)
    room[order] = least
    return room
