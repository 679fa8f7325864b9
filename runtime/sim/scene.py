"""The course as things to draw: flat faces, pictures on quads, spheres, in world mm.

    scene = Scene.build(course, look)
    scene.things[i]          # a wall piece, a solid, a sign, the ball: drawn whole, far to near
    scene.sort_keys(C)       # how near each thing can come to the camera at C (for the order)

Walls are thin two-sided quads (a dark skirting below, the wall above); solids
are prisms whose side faces and top are one-sided (what faces away is not
drawn); a sign is a picture on a post; the dock is a prism with its marker
picture on the front face. Colours are shaded once here by the episode's light.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .layout import Course, Prism, Sign
from .randomize import Look
from .textures import POST_BGR, SIGN_BACK_BGR, Texture, marker_plate_mm, marker_texture, sign_texture

SKIRTING_MM = 40.0
POST_WIDTH_MM = 30.0
_UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class Face:
    points: np.ndarray                       # (k, 3) world mm, a convex polygon
    front_bgr: tuple[int, int, int]          # seen from the side `normal` points to
    back_bgr: tuple[int, int, int] | None    # None: one-sided, not drawn from behind
    normal: np.ndarray                       # (3,) unit


@dataclass(frozen=True)
class Picture:
    """A textured quad. corners: top-left, top-right, bottom-right, bottom-left, as a
    reader in front of it (on the `normal` side) sees them."""
    corners: np.ndarray
    texture: Texture
    normal: np.ndarray
    back_bgr: tuple[int, int, int] | None


@dataclass(frozen=True)
class Sphere:
    centre: np.ndarray
    radius_mm: float
    bgr: tuple[int, int, int]


@dataclass(frozen=True)
class Thing:
    """Drawn as a unit: faces, then pictures, then the sphere."""
    faces: tuple[Face, ...] = ()
    pictures: tuple[Picture, ...] = ()
    sphere: Sphere | None = None


def _shade(bgr, normal: np.ndarray, light: np.ndarray) -> tuple[int, int, int]:
    k = 1.08 if normal[2] > 0.5 else 0.62 + 0.38 * max(0.0, float(normal[:2] @ light))
    return tuple(int(min(255, round(c * k))) for c in bgr)


def _vertical_quad(a, b, z0: float, z1: float) -> np.ndarray:
    return np.array([[a[0], a[1], z1], [b[0], b[1], z1], [b[0], b[1], z0], [a[0], a[1], z0]])


def _normal_2d(a, b) -> np.ndarray:
    """The unit normal on the right of a -> b (outward for a counter-clockwise polygon)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    n = math.hypot(dx, dy)
    return np.array([dy / n, -dx / n, 0.0])


def _ccw(points) -> list:
    pts = list(points)
    area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1]))
    return pts if area > 0 else pts[::-1]


def _prism_faces(prism: Prism, light: np.ndarray) -> list[Face]:
    pts = _ccw(prism.footprint)
    faces = []
    for a, b in zip(pts, pts[1:] + pts[:1]):
        n = _normal_2d(a, b)
        faces.append(Face(_vertical_quad(a, b, 0.0, prism.height_mm), _shade(prism.colour_bgr, n, light),
                          None, n))
    top = np.array([[x, y, prism.height_mm] for x, y in pts])
    faces.append(Face(top, _shade(prism.colour_bgr, _UP, light), None, _UP))
    return faces


def _upright_quad(x: float, y: float, facing_rad: float, width_mm: float, z0: float, z1: float,
                  out_mm: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Corners (TL, TR, BR, BL as seen from the front) of an upright rectangle centred
    on (x, y) whose front looks along facing_rad, and its normal."""
    f = np.array([math.cos(facing_rad), math.sin(facing_rad), 0.0])
    right = np.array([-f[1], f[0], 0.0])   # the reader's right: the reader looks along -f
    c = np.array([x, y, 0.0]) + f * out_mm
    h = width_mm / 2
    corners = np.array([c - right * h + _UP * z1, c + right * h + _UP * z1,
                        c + right * h + _UP * z0, c - right * h + _UP * z0])
    return corners, f


def sign_face(sign: Sign) -> tuple[np.ndarray, np.ndarray]:
    """A sign's picture: its corners (TL, TR, BR, BL as its reader sees them, world mm) and
    the unit normal its face looks along. What is drawn, and what truth.py measures."""
    return _upright_quad(sign.x, sign.y, sign.facing_rad, sign.width_mm, sign.bottom_mm,
                         sign.bottom_mm + sign.height_mm)


@dataclass(frozen=True)
class FaceTable:
    """Every face of a scene in flat arrays, so a frame transforms all vertices at once
    and only the drawing itself is a loop."""
    vertices: np.ndarray            # (V, 3) world mm
    index: tuple[np.ndarray, ...]   # per face: its vertices' rows in `vertices`
    starts: np.ndarray              # (F,) where each face's run begins in np.concatenate(index)
    flat_index: np.ndarray          # np.concatenate(index)
    normal: np.ndarray              # (F, 3)
    anchor: np.ndarray              # (F, 3): a vertex of each face
    front: tuple[tuple[int, int, int], ...]
    back: tuple[tuple[int, int, int] | None, ...]
    of_thing: tuple[range, ...]     # the faces of thing i

    @classmethod
    def of(cls, things) -> "FaceTable":
        vertices, index, normal, anchor, front, back, of_thing = [], [], [], [], [], [], []
        n_vertices = 0
        for thing in things:
            first = len(index)
            for face in thing.faces:
                k = len(face.points)
                vertices.append(face.points)
                index.append(np.arange(n_vertices, n_vertices + k))
                n_vertices += k
                normal.append(face.normal)
                anchor.append(face.points[0])
                front.append(tuple(int(c) for c in face.front_bgr))
                back.append(None if face.back_bgr is None else tuple(int(c) for c in face.back_bgr))
            of_thing.append(range(first, len(index)))
        lengths = np.array([len(i) for i in index], dtype=np.int64)
        return cls(np.concatenate(vertices), tuple(index),
                   np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
                   np.concatenate(index), np.array(normal), np.array(anchor), tuple(front),
                   tuple(back), tuple(of_thing))


@dataclass(frozen=True)
class Scene:
    things: tuple[Thing, ...]
    seg_a: np.ndarray       # (N, 2): each thing's footprint as a segment a-b, widened by r
    seg_b: np.ndarray
    r: np.ndarray
    faces: FaceTable

    @classmethod
    def build(cls, course: Course, look: Look) -> "Scene":
        light = np.array([math.cos(look.light_azimuth_rad), math.sin(look.light_azimuth_rad)])
        things, segs = [], []
        for w in course.walls:
            a, b = (w.x0, w.y0), (w.x1, w.y1)
            n = _normal_2d(a, b)
            faces = tuple(Face(_vertical_quad(a, b, z0, z1), _shade(bgr, n, light),
                               _shade(bgr, -n, light), n)
                          for z0, z1, bgr in ((0.0, SKIRTING_MM, look.skirting_bgr),
                                              (SKIRTING_MM, w.height_mm, look.wall_bgr)))
            things.append(Thing(faces=faces))
            segs.append((a, b, 0.0))
        docks = {d.body().footprint: d for d in course.docks}
        for prism in course.prisms:
            pictures = ()
            dock = docks.get(prism.footprint)
            if dock is not None:
                side = marker_plate_mm(dock.marker_mm)
                z = dock.marker_centre_z_mm
                corners, f = _upright_quad(dock.x, dock.y, dock.facing_rad, side, z - side / 2,
                                           z + side / 2, out_mm=1.0)
                pictures = (Picture(corners, marker_texture(dock.marker_id), f, None),)
            things.append(Thing(faces=tuple(_prism_faces(prism, light)), pictures=pictures))
            c = np.array(prism.centre)
            radii = [math.dist(prism.centre, p) for p in prism.footprint]
            segs.append((c, c, 0.85 * float(np.mean(radii))))
        for s in course.signs:
            corners, f = sign_face(s)
            post, _ = _upright_quad(s.x, s.y, s.facing_rad, POST_WIDTH_MM, 0.0, s.bottom_mm,
                                    out_mm=-2.0)
            things.append(Thing(faces=(Face(post, POST_BGR, POST_BGR, f),),
                                pictures=(Picture(corners, sign_texture(s.sign_class), f,
                                                  SIGN_BACK_BGR),)))
            segs.append((corners[0, :2], corners[1, :2], 0.0))
        for ball in course.balls:
            centre = np.array([ball.x, ball.y, ball.radius_mm])
            things.append(Thing(sphere=Sphere(centre, ball.radius_mm, ball.colour_bgr)))
            segs.append((centre[:2], centre[:2], ball.radius_mm))
        seg_a = np.array([np.asarray(a, float)[:2] for a, _, _ in segs])
        seg_b = np.array([np.asarray(b, float)[:2] for _, b, _ in segs])
        return cls(tuple(things), seg_a, seg_b, np.array([r for _, _, r in segs]),
                   FaceTable.of(things))

    def sort_keys(self, camera_xy: np.ndarray) -> np.ndarray:
        """How near each thing's footprint comes to the camera (mm): drawn far to near."""
        ab = self.seg_b - self.seg_a
        t = np.einsum("ij,ij->i", camera_xy - self.seg_a, ab) / np.maximum(
            np.einsum("ij,ij->i", ab, ab), 1e-9)
        nearest = self.seg_a + ab * np.clip(t, 0.0, 1.0)[:, None]
        return np.hypot(*(nearest - camera_xy).T) - self.r

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Each thing's bounding circle on the floor: centres (N, 2), radii (N,)."""
        centre = (self.seg_a + self.seg_b) / 2
        return centre, np.hypot(*(self.seg_b - self.seg_a).T) / 2 + self.r / 0.85 + 1.0
