"""The floor seen from above: one texture of the whole course, markings and shadows painted in.

    floor = FloorMap.draw(course, look, rng)    # BGR image, floor.mm_per_px millimetres a pixel
    floor.to_world                              # 3x3: pixel (col, row, 1) -> floor (x mm, y mm, 1)

The camera sees the floor through one homography (camera.py) of this image, so
everything flat — the floor's own texture, the line track, contact shadows
under solids — is drawn once per episode here, never per frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .layout import Course, LINE_CHEVRON_ANGLE_DEG, LINE_CHEVRON_ARM_MM, LINE_CHEVRON_EVERY_MM
from .randomize import Look

MM_PER_PX = 5.0


MIP_LEVELS = 4   # the map, then halved three times: far floor is drawn from a small level


@dataclass(frozen=True)
class FloorMap:
    image: np.ndarray          # BGR uint8, row 0 is the course's north edge
    mm_per_px: float
    height_mm: float
    levels: tuple[np.ndarray, ...] = ()   # image, then pyrDown'ed: far floor without aliasing

    @property
    def to_world(self) -> np.ndarray:
        s = self.mm_per_px
        return np.array([[s, 0.0, 0.5 * s], [0.0, -s, self.height_mm - 0.5 * s], [0, 0, 1.0]])

    def level_to_world(self, level: int) -> np.ndarray:
        """3x3: pixel (col, row, 1) of `levels[level]` -> floor (x mm, y mm, 1)."""
        k = float(2 ** level)
        return self.to_world @ np.array([[k, 0.0, (k - 1) / 2], [0.0, k, (k - 1) / 2], [0, 0, 1.0]])

    def px(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        """Floor mm -> (col, row) in the image, pixel centres at integers."""
        return x_mm / self.mm_per_px - 0.5, (self.height_mm - y_mm) / self.mm_per_px - 0.5

    @classmethod
    def draw(cls, course: Course, look: Look, rng: np.random.Generator,
             mm_per_px: float = MM_PER_PX) -> "FloorMap":
        w, h = int(round(course.width_mm / mm_per_px)), int(round(course.height_mm / mm_per_px))
        floor = cls(np.empty((0, 0, 3), np.uint8), mm_per_px, course.height_mm)   # for px()
        image = _texture(look, rng, w, h, mm_per_px)
        image = _shadows(floor, course, image)
        for zone in course.zones:
            if zone.line is not None:
                width = max(1, int(round(look.line_width_mm / mm_per_px)))
                strokes = [np.array(zone.line), *line_chevrons(np.array(zone.line))]
                for stroke in strokes:
                    pts = np.array([floor.px(x, y) for x, y in stroke]) * 16
                    cv2.polylines(image, [np.round(pts).astype(np.int32)], False, look.line_bgr,
                                  width, cv2.LINE_AA, 4)
        levels = [image]
        while len(levels) < MIP_LEVELS:
            levels.append(cv2.pyrDown(levels[-1]))
        for level in levels:
            level.flags.writeable = False
        return cls(image, mm_per_px, course.height_mm, tuple(levels))


def line_chevrons(line: np.ndarray) -> list[np.ndarray]:
    """The line track's arrows (layout.LINE_CHEVRON_*): (3, 2) floor points each, one arm's
    end, the tip on the line, the other arm's end; the tips point the way the line runs (its
    points' order, the course's)."""
    seg = np.diff(line, axis=0)
    lengths = np.hypot(seg[:, 0], seg[:, 1])
    along = np.concatenate([[0.0], np.cumsum(lengths)])
    spread = math.radians(LINE_CHEVRON_ANGLE_DEG)
    out = []
    for s in np.arange(LINE_CHEVRON_EVERY_MM / 2, along[-1], LINE_CHEVRON_EVERY_MM):
        j = min(int(np.searchsorted(along, s, side="right")) - 1, len(seg) - 1)
        if lengths[j] == 0:
            continue
        tip = line[j] + seg[j] * (s - along[j]) / lengths[j]
        back = math.atan2(seg[j, 1], seg[j, 0]) + math.pi
        arms = [tip + LINE_CHEVRON_ARM_MM * np.array([math.cos(back + a), math.sin(back + a)])
                for a in (spread, -spread)]
        out.append(np.array([arms[0], tip, arms[1]]))
    return out


def _noise(rng: np.random.Generator, w: int, h: int, cells: tuple[int, int]) -> np.ndarray:
    """Smooth noise in [-1, 1]: a coarse random grid, cubic-interpolated up to (h, w)."""
    coarse = rng.uniform(-1.0, 1.0, (cells[1], cells[0])).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _texture(look: Look, rng: np.random.Generator, w: int, h: int, s: float) -> np.ndarray:
    k = look.floor_texture_contrast
    shade = 10.0 * k * _noise(rng, w, h, (max(2, w // 60), max(2, h // 60)))
    if look.floor_style == "tiles":
        tile = int(round(300.0 / s))
        ys, xs = np.mgrid[0:h, 0:w]
        checker = ((xs // tile + ys // tile) % 2).astype(np.float32)
        shade += 14.0 * k * (checker - 0.5)
        grout = (xs % tile < max(1, int(4 / s))) | (ys % tile < max(1, int(4 / s)))
        shade[grout] -= 18.0 * k
    elif look.floor_style == "planks":
        plank = int(round(150.0 / s))
        ys = np.arange(h)[:, None]
        tones = rng.uniform(-1, 1, h // plank + 2).astype(np.float32)
        shade += 16.0 * k * tones[ys // plank] + 5.0 * k * _noise(rng, w, h, (w // 4, h // 40))
        shade[(ys[:, 0] % plank) == 0, :] -= 14.0 * k
    elif look.floor_style == "speckle":
        dots = rng.random((h, w)) < 0.03
        shade[dots] += rng.uniform(-45, 45, int(dots.sum())) * k
    shade += rng.normal(0.0, 3.0 * k, (h, w)).astype(np.float32)   # fine grain
    base = np.asarray(look.floor_bgr, np.float32)[None, None, :]
    return np.clip(base + shade[:, :, None], 0, 255).astype(np.uint8)


def _shadows(floor: FloorMap, course: Course, image: np.ndarray) -> np.ndarray:
    """Soft contact shadows under everything that stands on the floor, and the walls' foot."""
    h, w = image.shape[:2]
    dark = np.zeros((h, w), np.float32)
    s = floor.mm_per_px

    def poly(points, value):
        pts = np.array([floor.px(x, y) for x, y in points]) * 16
        cv2.fillPoly(dark, [np.round(pts).astype(np.int32)], value, cv2.LINE_AA, 4)

    for prism in course.prisms:
        poly(prism.footprint, 1.0)
    for ball in course.balls:
        cx, cy = floor.px(ball.x, ball.y)
        cv2.circle(dark, (int(round(cx * 16)), int(round(cy * 16))),
                   int(round(ball.radius_mm * 0.8 / s * 16)), 1.0, -1, cv2.LINE_AA, 4)
    for sign in course.signs:
        dx, dy = math.cos(sign.facing_rad + math.pi / 2), math.sin(sign.facing_rad + math.pi / 2)
        half = sign.width_mm / 2
        poly([(sign.x - dx * half, sign.y - dy * half), (sign.x + dx * half, sign.y + dy * half),
              (sign.x + dx * half + 20, sign.y + dy * half + 20),
              (sign.x - dx * half + 20, sign.y - dy * half + 20)], 0.5)
    for wall in course.walls:
        a, b = floor.px(wall.x0, wall.y0), floor.px(wall.x1, wall.y1)
        cv2.line(dark, (int(round(a[0])), int(round(a[1]))), (int(round(b[0])), int(round(b[1]))),
                 0.8, max(1, int(round(30 / s))))
    dark = cv2.GaussianBlur(dark, (0, 0), 40.0 / s)
    return (image.astype(np.float32) * (1.0 - 0.4 * np.clip(dark, 0, 1))[:, :, None]).astype(np.uint8)
