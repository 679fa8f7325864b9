"""The way on through a zone: shortest paths round the solids, for the obstacle truth.

    field = GoalField(collision_map, goal=(x, y), bounds=(x0, y0, x1, y1))
    target = field.aim(x, y)      # a point ~300 mm along the shortest free path, or None

A reactive "steer at the most open heading" avoider dead-ends between two
obstacles; a perfect avoider does not, so the truth follows the shortest path
through free space (cells where the robot's disc, plus a margin, touches
nothing) on a 40 mm grid: Dijkstra from the goal, once per zone and episode.
"""
from __future__ import annotations

import heapq
import math

import numpy as np

from .layout import ROBOT_RADIUS_MM
from .robot import CollisionMap

CELL_MM = 40.0
MARGIN_MM = 30.0
AIM_MM = 300.0
_STEPS = ((1, 0, 1.0), (-1, 0, 1.0), (0, 1, 1.0), (0, -1, 1.0),
          (1, 1, math.sqrt(2)), (1, -1, math.sqrt(2)), (-1, 1, math.sqrt(2)), (-1, -1, math.sqrt(2)))


class GoalField:
    def __init__(self, cmap: CollisionMap, goal: tuple[float, float],
                 bounds: tuple[float, float, float, float], radius_mm: float = ROBOT_RADIUS_MM):
        # Cell centres on multiples of CELL_MM: doors, starts and goals (round millimetres)
        # fall on cell centres, so a straight way ahead reads as a straight path.
        self.x0, self.y0 = bounds[0] - CELL_MM / 2, bounds[1] - CELL_MM / 2
        cols = int(math.ceil((bounds[2] - self.x0) / CELL_MM))
        rows = int(math.ceil((bounds[3] - self.y0) / CELL_MM))
        xs = self.x0 + (np.arange(cols) + 0.5) * CELL_MM
        ys = self.y0 + (np.arange(rows) + 0.5) * CELL_MM
        g = cmap.grid_mm
        ci = np.clip(np.round(xs / g).astype(int), 0, cmap.clearance_mm.shape[1] - 1)
        ri = np.clip(np.round(ys / g).astype(int), 0, cmap.clearance_mm.shape[0] - 1)
        self.free = cmap.clearance_mm[np.ix_(ri, ci)] >= radius_mm + MARGIN_MM
        self.cost = np.full((rows, cols), np.inf)
        self._fill(self._nearest_free(*goal))

    def _cell(self, x: float, y: float) -> tuple[int, int]:
        rows, cols = self.free.shape
        return (min(max(int((y - self.y0) // CELL_MM), 0), rows - 1),
                min(max(int((x - self.x0) // CELL_MM), 0), cols - 1))

    def _centre(self, r: int, c: int) -> tuple[float, float]:
        return self.x0 + (c + 0.5) * CELL_MM, self.y0 + (r + 0.5) * CELL_MM

    def _nearest_free(self, x: float, y: float) -> tuple[int, int] | None:
        r, c = self._cell(x, y)
        if self.free[r, c]:
            return r, c
        rr, cc = np.nonzero(self.free)
        if len(rr) == 0:
            return None
        k = int(np.argmin((rr - r) ** 2 + (cc - c) ** 2))
        return int(rr[k]), int(cc[k])

    def _fill(self, start: tuple[int, int] | None) -> None:
        if start is None:
            return
        rows, cols = self.free.shape
        free, cost = self.free, self.cost
        cost[start] = 0.0
        heap = [(0.0, start[0], start[1])]
        while heap:
            d, r, c = heapq.heappop(heap)
            if d > cost[r, c]:
                continue
            for dr, dc, w in _STEPS:
                nr, nc = r + dr, c + dc
                if 0 <= nr < rows and 0 <= nc < cols and free[nr, nc] and d + w < cost[nr, nc]:
                    cost[nr, nc] = d + w
                    heapq.heappush(heap, (d + w, nr, nc))

    def aim(self, x: float, y: float) -> tuple[float, float] | None:
        """The furthest point, up to AIM_MM down the shortest free path from (x, y), that
        the robot's disc can drive straight to (so a corner is not cut); None when the goal
        cannot be reached from here."""
        here = self._nearest_free(x, y)
        if here is None or not np.isfinite(self.cost[here]):
            return None
        path = [here]
        rows, cols = self.free.shape
        for _ in range(int(AIM_MM / CELL_MM)):
            r, c = path[-1]
            best = (self.cost[r, c], r, c)
            for dr, dc, _w in _STEPS:
                nr, nc = r + dr, c + dc
                if 0 <= nr < rows and 0 <= nc < cols and self.cost[nr, nc] < best[0]:
                    best = (self.cost[nr, nc], nr, nc)
            if (best[1], best[2]) == (r, c):
                break
            path.append((best[1], best[2]))
        target = self._centre(*path[0])
        for cell in path[1:]:
            point = self._centre(*cell)
            if not self._clear_line((x, y), point):
                break
            target = point
        return target

    def _clear_line(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        n = max(2, int(math.dist(a, b) / (CELL_MM / 2)) + 1)
        for t in np.linspace(0.0, 1.0, n)[1:]:
            r, c = self._cell(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
            if not self.free[r, c]:
                return False
        return True
