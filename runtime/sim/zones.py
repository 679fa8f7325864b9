"""What each kind of zone puts in its cell, drawn from the seed.

    furnish("ball", zone, rng) -> Furnishing(balls=(Ball(...),), ...)

Every zone is a 2 m cell entered through one door and left through another
(course.py). `passage(zone)` is the way a robot crosses it: from the entry (or the
start) to the exit (or the end of the course); signs stand beside it, obstacles
stand across it but always leave a way round, the line track joins the doors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from .layout import (CELL_MM, DOCK_STOP_MM, ROBOT_RADIUS_MM, SIGN_CLASSES, BALL_COLOURS, Ball,
                     Dock, Point, Prism, Sign, Zone)

DOOR_INSET_MM = 250.0     # route points this far either side of a door: cross it square
_MARGIN_MM = 350.0        # content stays this far inside its cell's walls
_OBSTACLE_COLOURS = ((60, 60, 170), (40, 140, 190), (150, 90, 40), (90, 150, 60),
                     (120, 120, 120), (40, 90, 120), (170, 140, 110))


@dataclass
class Furnishing:
    line: tuple[Point, ...] | None = None
    prisms: list[Prism] = field(default_factory=list)
    signs: list[Sign] = field(default_factory=list)
    balls: list[Ball] = field(default_factory=list)
    docks: list[Dock] = field(default_factory=list)


def start_pose(zone: Zone) -> tuple[float, float, float]:
    """Where a course starting in `zone` puts the robot: back from the exit, facing it."""
    cx, cy = zone.centre
    nx, ny = zone.exit.nx, zone.exit.ny
    return cx - nx * 600.0, cy - ny * 600.0, math.atan2(ny, nx)


def dock_side(zone: Zone) -> tuple[float, float]:
    """The inward normal of the wall the dock stands against: across from the entry,
    unless the exit is there."""
    sides = [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)]   # inward normals
    taken = set()
    for door, sign in ((zone.entry, 1.0), (zone.exit, -1.0)):
        if door is not None:   # a door's wall has inward normal n (entry) or -n (exit)
            taken.add((round(door.nx * sign), round(door.ny * sign)))
    if zone.entry is not None:
        opposite = (-round(zone.entry.nx), -round(zone.entry.ny))
        if opposite not in taken:
            return float(opposite[0]), float(opposite[1])
    return next(s for s in sides if (round(s[0]), round(s[1])) not in taken)


def passage(zone: Zone, dock: Dock | None = None) -> tuple[Point, Point]:
    """(in, out): just inside the entry (or the start), just inside the exit (or the
    course's end: in front of the dock, or past the middle)."""
    if zone.entry is not None:
        p_in = (zone.entry.x + zone.entry.nx * DOOR_INSET_MM,
                zone.entry.y + zone.entry.ny * DOOR_INSET_MM)
    else:
        p_in = start_pose(zone)[:2]
    if zone.exit is not None:
        p_out = (zone.exit.x - zone.exit.nx * DOOR_INSET_MM,
                 zone.exit.y - zone.exit.ny * DOOR_INSET_MM)
    elif dock is not None:
        p_out = (dock.x + math.cos(dock.facing_rad) * DOCK_STOP_MM,
                 dock.y + math.sin(dock.facing_rad) * DOCK_STOP_MM)
    else:
        cx, cy = zone.centre
        p_out = (cx + zone.entry.nx * 400.0, cy + zone.entry.ny * 400.0)
    return p_in, p_out


def _inside(zone: Zone, x: float, y: float, margin: float = _MARGIN_MM) -> Point:
    return (min(max(x, zone.x0 + margin), zone.x0 + CELL_MM - margin),
            min(max(y, zone.y0 + margin), zone.y0 + CELL_MM - margin))


def _line(zone: Zone, rng: np.random.Generator) -> tuple[Point, ...]:
    """A quintic Bezier from door to door (or start to end): it leaves and reaches each
    door square (the second and fifth control points lie on the doors' normals) and
    wanders in between (the two middle ones are drawn from the seed)."""
    p_in, p_out = passage(zone)
    if zone.entry is not None:
        p0, n0 = (zone.entry.x, zone.entry.y), (zone.entry.nx, zone.entry.ny)
    else:
        p0, n0 = p_in, (zone.exit.nx, zone.exit.ny)
    if zone.exit is not None:
        p3, n3 = (zone.exit.x, zone.exit.y), (zone.exit.nx, zone.exit.ny)
    else:
        p3, n3 = p_out, n0
    reach0, reach3 = rng.uniform(350, 550, 2)
    controls = [p0, (p0[0] + n0[0] * reach0, p0[1] + n0[1] * reach0)]
    for t in (0.35, 0.65):
        dx, dy = rng.uniform(-450, 450, 2)
        controls.append(_inside(zone, p0[0] + (p3[0] - p0[0]) * t + dx,
                                p0[1] + (p3[1] - p0[1]) * t + dy))
    controls += [(p3[0] - n3[0] * reach3, p3[1] - n3[1] * reach3), p3]
    c = np.asarray(controls)
    t = np.linspace(0.0, 1.0, 121)[:, None]
    degree = len(c) - 1
    pts = sum(math.comb(degree, k) * (1 - t) ** (degree - k) * t ** k * c[k]
              for k in range(degree + 1))
    return tuple((float(x), float(y)) for x, y in pts)


def _along(points: list[Point], fraction: float) -> tuple[Point, Point]:
    """The point `fraction` of the way along a polyline, and the unit direction there."""
    pts = np.asarray(points, float)
    seg = np.diff(pts, axis=0)
    lengths = np.hypot(seg[:, 0], seg[:, 1])
    target = fraction * lengths.sum()
    i = int(np.searchsorted(np.cumsum(lengths), target))
    i = min(i, len(seg) - 1)
    before = lengths[:i].sum()
    u = seg[i] / max(lengths[i], 1e-9)
    p = pts[i] + u * (target - before)
    return (float(p[0]), float(p[1])), (float(u[0]), float(u[1]))


def _signs(zone: Zone, rng: np.random.Generator) -> list[Sign]:
    p_in, p_out = passage(zone)
    path = [p_in, zone.centre, p_out]
    classes = rng.choice(len(SIGN_CLASSES), size=2, replace=False)
    first_side = 1.0 if rng.random() < 0.5 else -1.0
    signs = []
    for k, (fraction, cls) in enumerate(zip((0.3, 0.68), classes)):
        (px, py), (ux, uy) = _along(path, fraction + rng.uniform(-0.05, 0.05))
        side = first_side * (1.0 if k == 0 else -1.0) * rng.uniform(380, 520)
        x, y = _inside(zone, px - uy * side, py + ux * side, 250.0)
        # The face looks back along the way, at where a robot comes from.
        rx, ry = px - ux * 900.0, py - uy * 900.0
        facing = math.atan2(ry - y, rx - x) + rng.uniform(-0.2, 0.2)
        signs.append(Sign(x, y, facing, SIGN_CLASSES[int(cls)]))
    return signs


def _ball(zone: Zone, rng: np.random.Generator) -> Ball:
    p_in, p_out = passage(zone)
    while True:
        x, y = (zone.x0 + rng.uniform(450, CELL_MM - 450), zone.y0 + rng.uniform(450, CELL_MM - 450))
        if min(math.dist((x, y), p_in), math.dist((x, y), p_out)) > 450:
            colour = list(BALL_COLOURS)[int(rng.integers(len(BALL_COLOURS)))]
            return Ball(x, y, float(rng.uniform(55, 80)), colour)


def _obstacle(x: float, y: float, rng: np.random.Generator) -> Prism:
    colour = _OBSTACLE_COLOURS[int(rng.integers(len(_OBSTACLE_COLOURS)))]
    height = float(rng.uniform(120, 280))
    if rng.random() < 0.5:   # a box, turned
        w, d, a = rng.uniform(150, 320), rng.uniform(150, 320), rng.uniform(0, math.pi)
        c, s = math.cos(a), math.sin(a)
        corners = [(-w / 2, -d / 2), (w / 2, -d / 2), (w / 2, d / 2), (-w / 2, d / 2)]
        pts = [(x + c * u - s * v, y + s * u + c * v) for u, v in corners]
    else:                    # a cylinder, as a 12-gon
        r = rng.uniform(70, 140)
        pts = [(x + r * math.cos(a), y + r * math.sin(a))
               for a in np.linspace(0, 2 * math.pi, 13)[:-1]]
    return Prism(tuple((float(u), float(v)) for u, v in pts), height, colour)


def _connected(zone: Zone, prisms: list[Prism], a: Point, b: Point) -> bool:
    """Can a robot get from a to b inside the cell around these prisms? (20 mm grid)"""
    cell = 20.0
    n = int(CELL_MM / cell)
    solid = np.zeros((n, n), np.uint8)
    for p in prisms:
        poly = np.array([[(x - zone.x0) / cell, (y - zone.y0) / cell] for x, y in p.footprint])
        cv2.fillConvexPoly(solid, np.round(poly * 16).astype(np.int32), 1, shift=4)
    solid[0, :] = solid[-1, :] = solid[:, 0] = solid[:, -1] = 1
    clearance = cv2.distanceTransform(1 - solid, cv2.DIST_L2, 5) * cell
    free = (clearance > ROBOT_RADIUS_MM + 30.0).astype(np.uint8)
    _, labels = cv2.connectedComponents(free, connectivity=8)
    ia = labels[int((a[1] - zone.y0) / cell), int((a[0] - zone.x0) / cell)]
    ib = labels[int((b[1] - zone.y0) / cell), int((b[0] - zone.x0) / cell)]
    return ia != 0 and ia == ib


def _obstacles(zone: Zone, rng: np.random.Generator) -> list[Prism]:
    p_in, p_out = passage(zone)
    for _attempt in range(40):
        # The first stands across the way; the rest anywhere clear of the doors.
        (px, py), (ux, uy) = _along([p_in, p_out], rng.uniform(0.4, 0.6))
        off = rng.uniform(-120, 120)
        centres = [(px - uy * off, py + ux * off)]
        wanted = int(rng.integers(4, 7))
        for _ in range(60):
            if len(centres) >= wanted:
                break
            c = (zone.x0 + rng.uniform(_MARGIN_MM, CELL_MM - _MARGIN_MM),
                 zone.y0 + rng.uniform(_MARGIN_MM, CELL_MM - _MARGIN_MM))
            if (min(math.dist(c, q) for q in centres) > 420
                    and min(math.dist(c, p_in), math.dist(c, p_out)) > 400):
                centres.append(c)
        prisms = [_obstacle(x, y, rng) for x, y in centres]
        if _connected(zone, prisms, p_in, p_out):
            return prisms
    return prisms[:1]   # a single obstacle across a 2 m room always leaves a way round


def _dock(zone: Zone, rng: np.random.Generator) -> Dock:
    nx, ny = dock_side(zone)
    cx, cy = zone.centre
    along = rng.uniform(-350, 350)
    depth = Dock.depth_mm
    wall_x, wall_y = cx - nx * CELL_MM / 2, cy - ny * CELL_MM / 2
    return Dock(wall_x + nx * depth - ny * along, wall_y + ny * depth + nx * along,
                math.atan2(ny, nx), int(rng.integers(0, 50)))


def furnish(zone: Zone, rng: np.random.Generator) -> Furnishing:
    """The contents of one zone of its kind."""
    out = Furnishing()
    if zone.kind == "line":
        out.line = _line(zone, rng)
    elif zone.kind == "sign":
        out.signs = _signs(zone, rng)
    elif zone.kind == "ball":
        out.balls = [_ball(zone, rng)]
    elif zone.kind == "obstacle":
        out.prisms = _obstacles(zone, rng)
    elif zone.kind == "dock":
        dock = _dock(zone, rng)
        out.docks, out.prisms = [dock], [dock.body()]
    elif zone.kind != "open":
        raise ValueError(f"unknown zone kind {zone.kind!r}")
    return out
