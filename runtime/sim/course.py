"""Courses: zones strung together, cell by cell, and built from a seed.

    course = build_course("tour", seed=3)     # the same name and seed, the same course
    COURSES                                   # name -> the zones it strings, in order

A course lays its zones on a grid of 2 m cells in a snake (left to right, then
back), joins each to the next by a door and walls everything else in. The seed
draws each zone's contents (zones.py): where the line runs, which signs stand
where, the ball's colour and place, the obstacles, the dock's marker.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .layout import (CELL_MM, DOOR_MM, EXIT_POST_BGR, EXIT_POST_HEIGHT_MM, EXIT_POST_MM,
                     ZONE_KINDS, Course, Door, Point, Prism, Wall, Waypoint, Zone)
from .zones import DOOR_INSET_MM, furnish, passage, start_pose

_WALL_PIECE_MM = 500.0   # walls are cut this short so that drawing far-to-near stays right


@dataclass(frozen=True)
class CourseSpec:
    cols: int
    zones: tuple[str, ...]
    about: str

    def __post_init__(self):
        bad = [k for k in self.zones if k not in ZONE_KINDS]
        if bad:
            raise ValueError(f"CourseSpec: unknown zone kinds {bad}; known: {ZONE_KINDS}")
        if len(self.zones) % self.cols:
            raise ValueError(f"CourseSpec: {len(self.zones)} zones do not fill rows of {self.cols}")


COURSES: dict[str, CourseSpec] = {
    "tour": CourseSpec(3, ("open", "line", "sign", "ball", "obstacle", "dock"),
                       "every zone once, open floor first, the dock last"),
    "errand": CourseSpec(3, ("sign", "ball", "open", "line", "obstacle", "dock"),
                         "the same zones in another order"),
    "short": CourseSpec(3, ("line", "sign", "dock"), "three zones in a row"),
}
DEFAULT_COURSE = "tour"


def course_spec(name: str) -> CourseSpec:
    if name not in COURSES:
        raise ValueError(f"no course {name!r}; courses: {', '.join(sorted(COURSES))}")
    return COURSES[name]


def _snake(cols: int, n: int) -> list[tuple[int, int]]:
    cells = []
    for i in range(n):
        row, k = divmod(i, cols)
        cells.append((k if row % 2 == 0 else cols - 1 - k, row))
    return cells


def _pieces(a: Point, b: Point, door: bool) -> list[Wall]:
    """A wall along one cell edge, with a door gap in its middle if asked, in short pieces."""
    length = math.dist(a, b)
    ux, uy = (b[0] - a[0]) / length, (b[1] - a[1]) / length
    spans = ([(0.0, (length - DOOR_MM) / 2), ((length + DOOR_MM) / 2, length)] if door
             else [(0.0, length)])
    walls = []
    for s0, s1 in spans:
        n = max(1, math.ceil((s1 - s0) / _WALL_PIECE_MM))
        for k in range(n):
            t0, t1 = s0 + (s1 - s0) * k / n, s0 + (s1 - s0) * (k + 1) / n
            walls.append(Wall(a[0] + ux * t0, a[1] + uy * t0, a[0] + ux * t1, a[1] + uy * t1))
    return walls


def _walls_and_doors(cols: int, rows: int, order: dict[tuple[int, int], int]):
    """Every cell edge is a wall; the edge between consecutive zones has a door in it."""
    walls, doors = [], {}
    edges = []   # (endpoint a, endpoint b, cell on one side, cell on the other)
    for i in range(cols + 1):
        for j in range(rows):
            edges.append(((i * CELL_MM, j * CELL_MM), (i * CELL_MM, (j + 1) * CELL_MM),
                          (i - 1, j), (i, j)))
    for j in range(rows + 1):
        for i in range(cols):
            edges.append(((i * CELL_MM, j * CELL_MM), ((i + 1) * CELL_MM, j * CELL_MM),
                          (i, j - 1), (i, j)))
    for a, b, c0, c1 in edges:
        k0, k1 = order.get(c0), order.get(c1)
        door = k0 is not None and k1 is not None and abs(k0 - k1) == 1
        walls += _pieces(a, b, door)
        if door:
            first, second = (c0, c1) if k0 < k1 else (c1, c0)
            doors[min(k0, k1)] = Door((a[0] + b[0]) / 2, (a[1] + b[1]) / 2,
                                      float(second[0] - first[0]), float(second[1] - first[1]))
    return walls, doors


def build_course(name: str = DEFAULT_COURSE, seed: int = 0) -> Course:
    """The course `name`, its zones furnished from `seed` (each zone from its own stream,
    so one zone's draws never shift another's)."""
    spec = course_spec(name)
    n = len(spec.zones)
    cells = _snake(spec.cols, n)
    rows = n // spec.cols
    walls, doors = _walls_and_doors(spec.cols, rows, {c: k for k, c in enumerate(cells)})
    zones, prisms, signs, balls, docks, route, goals = [], [], [], [], [], [], []
    for k, (kind, (col, row)) in enumerate(zip(spec.zones, cells)):
        zone = Zone(k, kind, col * CELL_MM, row * CELL_MM, doors.get(k - 1), doors.get(k))
        stuff = furnish(zone, np.random.default_rng([seed, k, ZONE_KINDS.index(kind)]))
        if stuff.line is not None:
            zone = Zone(k, kind, zone.x0, zone.y0, zone.entry, zone.exit, stuff.line)
        zones.append(zone)
        prisms += stuff.prisms
        signs += stuff.signs
        balls += stuff.balls
        docks += stuff.docks
        if zone.exit is not None:
            prisms += exit_posts(zone.exit)
        route += [Waypoint(x, y, k) for x, y in _zone_route(zone, stuff.docks)]
        goals.append(_goal(zone, stuff.docks))
    return Course(name, seed, spec.cols, rows, tuple(zones), tuple(walls), tuple(prisms),
                  tuple(signs), tuple(balls), tuple(docks), start_pose(zones[0]), tuple(route),
                  tuple(goals))


def exit_posts(door: Door) -> list[Prism]:
    """The two posts that mark a door as the way on: against the wall, just beside the gap,
    on the side of the zone the door leaves."""
    half, gap = EXIT_POST_MM / 2, DOOR_MM / 2 + EXIT_POST_MM / 2 + 10.0
    ax, ay = -door.ny, door.nx                    # along the wall
    posts = []
    for side in (-1.0, 1.0):
        cx = door.x + ax * side * gap - door.nx * (half + 5.0)
        cy = door.y + ay * side * gap - door.ny * (half + 5.0)
        corners = [(-half, -half), (half, -half), (half, half), (-half, half)]   # ccw
        posts.append(Prism(tuple((cx + u, cy + v) for u, v in corners), EXIT_POST_HEIGHT_MM,
                           EXIT_POST_BGR))
    return posts


def _goal(zone: Zone, docks) -> Point:
    if zone.exit is not None:
        return (zone.exit.x + zone.exit.nx * DOOR_INSET_MM, zone.exit.y + zone.exit.ny * DOOR_INSET_MM)
    return passage(zone, docks[0] if docks else None)[1]


def _zone_route(zone: Zone, docks) -> list[Point]:
    """The way through one zone: in, (along the line | through the middle), out."""
    p_in, p_out = passage(zone, docks[0] if docks else None)
    if zone.line is not None:
        middle = [p for p in zone.line[10:-10:10]]
    elif zone.kind in ("obstacle", "dock"):
        middle = []   # straight at the exit: the obstacles are in the way on purpose
    else:
        middle = [zone.centre]
    return [p_in, *middle, p_out]
