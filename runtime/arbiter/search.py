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
   it along, decide.py), the heading nearest it (within TOWARD_RAD) that reads GO_ROOM_MM.
   With no way on seen, where it has not stood (`freshest`): of the headings with room to
   go, the one whose go ends farthest from every place it stood in lately (places.py).
   The most room alone led back over the same spots in the obstacle field (seed 2015 went
   round one cycle twice, 43 s apart); over 64 lockstep tours this completed 32, not 29;
3. GO: drive straight on at idle_speed_mm_s, until the range falls to GO_UNTIL_MM, or for
   as long as half the room seen allows (toward where it has not stood: the room less
   GO_UNTIL_MM, at most EXPLORE_MM; at most GO_MAX_S); then LOOK again.

With a `route` (the heading round what the range sensor read blocked on the straight way to
the way on: ways.py, places.py) it turns to that heading and drives, instead of all three.
Without a heading or a range this cycle it turns in place, as before. Taken over by an
expert for more than RESUME_S, it starts again with LOOK: the robot has moved. The range
and stall guards still act on what it asks for.
"""
from __future__ import annotations

import math
from typing import Callable

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
EXPLORE_MM = 600.0         # no way on seen: go at most this far toward where it has not stood
EXPLORE_MIN_MM = 200.0     # ... on a heading with this far to go at least
FRESH_SHARE = 0.8          # ... of the headings whose go ends this near the freshest, most room
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
        self._go_mm = 0.0                         # FACE and GO: how far to drive that way
        self._go_until_s = 0.0
        self._last_s: float | None = None

    def step(self, now_s: float, side: float, heading_rad: float | None,
             range_mm: float | None, ways_back=(), way_on: float | None = None,
             route: float | None = None, here: tuple[float, float] | None = None,
             stood: Callable[[], np.ndarray] | None = None) -> tuple[float, float]:
        """ways_back: (heading rad, half-width rad) of the ways the robot came (decide.py);
        route: the heading round what was read blocked toward the way on (places.py);
        here, stood: where the robot is and, asked once a look round, where it has stood
        lately (odometry mm; Places.stood)."""
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
            fresh = None if way_on is not None or here is None or stood is None else \
                freshest(self._seen, ways_back, here, stood())
            if fresh is None:
                self._target, room = most_room(self._seen, ways_back, GO_ROOM_MM, way_on)
                self._go_mm = max(0.0, room / 2 - GO_UNTIL_MM)
            else:
                self._target, self._go_mm = fresh
            self.phase = FACE
        if self.phase == FACE:
            off = wrap_angle(self._target - heading_rad)
            if abs(off) > FACED_RAD:
                return self.wheels.turn_in_place(math.copysign(SEARCH_TURN, off))
            self.phase = GO
            drive_s = self._go_mm / self.speed_mm_s
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
    back = _back(h, ways_back)
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


def freshest(seen, ways_back, here: tuple[float, float], stood: np.ndarray
              ) -> tuple[float, float] | None:
    """Of (heading rad, range mm) readings, not back the way the robot came: the heading
    whose go (its room less GO_UNTIL_MM, at most EXPLORE_MM) ends farthest from every place
    it has stood lately (`stood`, (n, 2) mm); of those within FRESH_SHARE of the farthest,
    the one with the most room. (heading, how far to go mm); None if no heading has
    EXPLORE_MIN_MM to go or nothing was stood on."""
    seen, stood = np.asarray(seen, np.float64), np.asarray(stood, np.float64).reshape(-1, 2)
    h = seen[:, 0]
    room = _window_min(h, seen[:, 1], ROOM_WINDOW_RAD)
    reach = np.clip(room - GO_UNTIL_MM, 0.0, EXPLORE_MM)
    ok = (reach >= EXPLORE_MIN_MM) & ~_back(h, ways_back)
    if not ok.any() or not len(stood):
        return None
    ends = np.asarray(here, np.float64) + reach[:, None] * np.stack((np.cos(h), np.sin(h)), 1)
    fresh = np.linalg.norm(ends[:, None, :] - stood[None, :, :], axis=2).min(axis=1)
    fresh = np.where(ok, fresh, -np.inf)
    pick = fresh >= FRESH_SHARE * fresh.max()
    best = int(np.argmax(np.where(pick, room, -np.inf)))
    return float(h[best]), float(reach[best])


def _back(h: np.ndarray, ways_back) -> np.ndarray:
    """True for each heading within one of the ways back ((heading, half-width) rad)."""
    back = np.zeros(len(h), dtype=bool)
    for heading, half_rad in ways_back:
        back |= np.abs(wrap_angle(h - heading)) <= half_rad
    return back


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
