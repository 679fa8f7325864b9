"""Places: where the range sensor found the robot could drive and where it could not, and the way round.

    places = Places()
    places.see(now_s, pose, range_mm)                  # once a control cycle (decide.py)
    places.blocked_on(now_s, pose, goal, short_mm)     # a place remembered blocked on the way?
    heading = places.route(now_s, pose, goal)          # the heading to drive toward goal, or None

Each of the search, the stuck guard and the seeks reads only what is in front of it now, and
in the obstacle field they went round in circles: seen in the trials (seed 2015, twice, 43 s
apart), the way-on finder sought the exit along a line a small box stood on, the box stopped
the robot at the same spot, the robot stepped aside, looked round, was driven out by the stuck
guard, and sought the exit along the same line again. What the range sensor read along the
way was forgotten each time.

So every reading is kept for MEMORY_S, by place, in odometry millimetres on a CELL_MM grid.
The range sensor reads how far the robot's centre could drive straight on before its body
(a corridor a little wider than the robot) meets something: each reading says the cells on
the centre line up to that far are places the robot can stand (less MARGIN_MM), and the cell
just beyond is one it cannot (`range_mm` is measured in the robot's own terms, so what is kept
is where its centre can go, not where things are). The latest word on a cell wins. A route is
a shortest way over the 8-connected grid from the robot's cell to the goal's, round the cells
remembered blocked (grown by one cell, so the way keeps a margin and a gap between two
readings of one box is not taken for a way through) and through places never read (an
unknown place may be free: the way is tried and read as the robot goes). The heading is
toward the furthest point along that way that is in a straight, unblocked line from here.

Odometry drifts with distance (odometry.py): what is remembered is forgotten after
MEMORY_S, and used only near where it was read. Pure given its inputs: no clock is read.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from spikebox.firmware_bridge.protocol import RANGE_NONE

from .odometry import Pose

CELL_MM = 50.0
MEMORY_S = 45.0            # a reading older than this is forgotten
REACH_MM = 2000.0          # nothing in range (RANGE_NONE): free this far (the sensor's reach)
MARGIN_MM = 50.0           # free up to this short of where the body would meet something
AROUND_CELLS = 16          # the route's grid: the robot's and the goal's cells, and this round
PLAN_EVERY_S = 0.5         # the cost map is computed again this often (1-2 ms a room), ...
REPLAN_NEW_S = 0.1         # ... or this often while new places are read blocked, ...
GOAL_MOVED_MM = 150.0      # ... or when the goal moves this far
LOOKAHEAD_CELLS = 12       # the heading: toward the furthest of this many steps in sight
_NEIGHBOURS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1))
_ACROSS = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.uint8)     # erosion footprints
_CORNERS = np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1]], np.uint8)
_FAR = np.float32(1e9)     # a cost not reached (yet)


def _cell(x_mm: float, y_mm: float) -> tuple[int, int]:
    return int(math.floor(x_mm / CELL_MM)), int(math.floor(y_mm / CELL_MM))


def _centre(cell: tuple[int, int]) -> tuple[float, float]:
    return (cell[0] + 0.5) * CELL_MM, (cell[1] + 0.5) * CELL_MM


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _line(a: tuple[float, float], b: tuple[float, float]) -> list[tuple[int, int]]:
    """The cells a straight line from a to b (mm) crosses, in order (sampled at a third of
    a cell: a corner may be skipped, which the grown blocks cover)."""
    n = max(1, int(math.dist(a, b) / (CELL_MM / 3)))
    xs = np.floor(np.linspace(a[0], b[0], n + 1) / CELL_MM).astype(np.int64)
    ys = np.floor(np.linspace(a[1], b[1], n + 1) / CELL_MM).astype(np.int64)
    cells, last = [], None
    for c in zip(xs.tolist(), ys.tolist()):
        if c != last:
            cells.append(c)
            last = c
    return cells


class Places:
    def __init__(self):
        self._free: dict[tuple[int, int], float] = {}      # cell -> when last read free
        self._blocked: dict[tuple[int, int], float] = {}   # cell -> when last read blocked
        self._stood: dict[tuple[int, int], float] = {}     # cell -> when the robot last stood there
        self._plan: _Plan | None = None
        self._pruned_s = -math.inf
        self._reads = 0            # places newly read blocked so far (a new plan is due)

    def see(self, now_s: float, pose: Pose | None, range_mm: float | None) -> None:
        """One range reading from `pose` (None for either: nothing is learnt)."""
        if pose is None or range_mm is None or not _finite(pose.x_mm, pose.y_mm, pose.heading_rad):
            return
        far = REACH_MM if range_mm >= RANGE_NONE else float(range_mm)
        here = (pose.x_mm, pose.y_mm)
        self._stood[_cell(*here)] = now_s
        free_to = pose.point_at(0.0, max(0.0, far - MARGIN_MM))
        for c in _line(here, free_to):
            self._free[c] = now_s
        if range_mm < RANGE_NONE:
            hit = _cell(*pose.point_at(0.0, far + CELL_MM / 2))
            if not self.blocked_at(now_s, hit):
                self._reads += 1
            self._blocked[hit] = now_s
        if now_s - self._pruned_s > 1.0:
            self._prune(now_s)

    def stood(self, now_s: float) -> np.ndarray:
        """(n, 2) odometry mm: the middles of the cells the robot stood in within MEMORY_S."""
        cells = [c for c, t in self._stood.items() if now_s - t <= MEMORY_S]
        return np.array([_centre(c) for c in cells], np.float64).reshape(-1, 2)

    def blocked_at(self, now_s: float, cell: tuple[int, int]) -> bool:
        """The latest word on `cell`, within MEMORY_S, is that the robot cannot stand there."""
        t = self._blocked.get(cell)
        return t is not None and now_s - t <= MEMORY_S and t >= self._free.get(cell, -math.inf)

    def blocked_on(self, now_s: float, pose: Pose, goal: tuple[float, float],
                   short_mm: float) -> bool:
        """True if the straight way from `pose` to `goal`, less its last `short_mm`, crosses a
        place remembered blocked, or a place beside one (the margin a route keeps)."""
        distance = math.dist((pose.x_mm, pose.y_mm), goal)
        if not (_finite(pose.heading_rad, distance) and distance > short_mm):
            return False
        end = pose.point_at(pose.toward(goal)[0], distance - short_mm)
        return any(self.blocked_at(now_s, (i + di, j + dj))
                   for i, j in _line((pose.x_mm, pose.y_mm), end)
                   for di in (-1, 0, 1) for dj in (-1, 0, 1))

    def route(self, now_s: float, pose: Pose, goal: tuple[float, float]) -> float | None:
        """The heading (rad, odometry) to drive along toward `goal` (mm) round the places
        remembered blocked; None if no way is known (the goal walled off as far as read)."""
        if not _finite(pose.x_mm, pose.y_mm, *goal):
            return None
        plan = self._plan
        start = _cell(pose.x_mm, pose.y_mm)
        if (plan is None or now_s - plan.made_s > PLAN_EVERY_S
                or (plan.reads != self._reads and now_s - plan.made_s > REPLAN_NEW_S)
                or math.dist(plan.goal, goal) > GOAL_MOVED_MM or not plan.holds(start)):
            blocked = [c for c in self._blocked if self.blocked_at(now_s, c)]
            plan = self._plan = _Plan(now_s, goal, start, blocked)
            plan.reads = self._reads
        path = plan.path_from(start)
        if not path:
            return None
        here = (pose.x_mm, pose.y_mm)
        aim = path[0]
        for cell in path[:LOOKAHEAD_CELLS]:
            if any(plan.solid_at(c) for c in _line(here, _centre(cell))[1:]):
                break
            aim = cell
        x, y = _centre(aim)
        if math.dist(here, (x, y)) < 1.0:
            x, y = goal
        return math.atan2(y - pose.y_mm, x - pose.x_mm)

    def _prune(self, now_s: float) -> None:
        self._pruned_s = now_s
        for memory in (self._free, self._blocked, self._stood):
            for c in [c for c, t in memory.items() if now_s - t > MEMORY_S]:
                del memory[c]


class _Plan:
    """The cost to the goal from every cell of a grid round the robot and the goal."""

    def __init__(self, now_s: float, goal: tuple[float, float], start: tuple[int, int],
                 blocked: list[tuple[int, int]]):
        self.made_s, self.goal = now_s, goal
        self.reads = 0                     # Places._reads when it was made
        g = _cell(*goal)
        self.i0 = min(g[0], start[0]) - AROUND_CELLS
        self.j0 = min(g[1], start[1]) - AROUND_CELLS
        w = max(g[0], start[0]) + AROUND_CELLS + 1 - self.i0
        h = max(g[1], start[1]) + AROUND_CELLS + 1 - self.j0
        solid = np.zeros((w, h), dtype=np.uint8)
        if blocked:
            at = np.asarray(blocked, dtype=np.int64) - (self.i0, self.j0)
            at = at[(at[:, 0] >= 0) & (at[:, 0] < w) & (at[:, 1] >= 0) & (at[:, 1] < h)]
            solid[at[:, 0], at[:, 1]] = 1
        solid = cv2.dilate(solid, np.ones((3, 3), np.uint8))     # grown by a cell round
        # Where the robot stands and where it is going are never walls to the plan.
        solid[start[0] - self.i0, start[1] - self.j0] = 0
        solid[g[0] - self.i0, g[1] - self.j0] = 0
        self.solid = solid.astype(bool)
        # A wavefront from the goal: each pass, every open cell takes the least of its own
        # cost and its neighbours' plus the step (1 across, sqrt 2 corner to corner), by two
        # erosions (a minimum over a neighbourhood, in OpenCV's C); until nothing changes, or
        # until the passes since the wave reached the robot's cell are enough for any way
        # there of up to sqrt 2 times as many steps (the rest of the grid is not asked about).
        cost = np.full((w, h), _FAR, dtype=np.float32)
        cost[g[0] - self.i0, g[1] - self.j0] = 0.0
        si, sj = start[0] - self.i0, start[1] - self.j0
        enough = 2 * (w + h)
        for n in range(2 * (w + h)):
            nearer = np.minimum(cv2.erode(cost, _ACROSS) + 1.0,
                                cv2.erode(cost, _CORNERS) + math.sqrt(2))
            nearer[self.solid] = _FAR
            relaxed = np.minimum(cost, nearer)
            if np.array_equal(relaxed, cost) or n >= enough:
                break
            cost = relaxed
            if enough == 2 * (w + h) and cost[si, sj] < _FAR:
                enough = int(math.sqrt(2) * n) + 3
        cost[cost >= _FAR] = np.inf
        self.cost, self.goal_cell = cost, g

    def holds(self, cell: tuple[int, int]) -> bool:
        i, j = cell[0] - self.i0, cell[1] - self.j0
        return 0 <= i < self.cost.shape[0] and 0 <= j < self.cost.shape[1]

    def solid_at(self, cell: tuple[int, int]) -> bool:
        """Remembered blocked, or beside such a place (a cell outside the grid: not known)."""
        return self.holds(cell) and bool(self.solid[cell[0] - self.i0, cell[1] - self.j0])

    def path_from(self, start: tuple[int, int]) -> list[tuple[int, int]]:
        """The cells from `start` (not included) down the cost to the goal; [] if none."""
        if not self.holds(start) or not np.isfinite(self._at(start)):
            return []
        path, here = [], start
        while here != self.goal_cell and len(path) < LOOKAHEAD_CELLS:
            nxt = min(((here[0] + di, here[1] + dj) for di, dj in _NEIGHBOURS),
                      key=lambda c: self._at(c) if self.holds(c) else np.inf)
            if not self._at(nxt) < self._at(here):
                break
            path.append(nxt)
            here = nxt
        return path

    def _at(self, cell: tuple[int, int]) -> float:
        return float(self.cost[cell[0] - self.i0, cell[1] - self.j0])
