"""The renderer: what the robot's camera sees, drawn with OpenCV.

    renderer = Renderer(course, PinholeCamera(160, 120), look, rng)
    image = renderer.render(view, frame_rng)      # BGR uint8 (H, W, 3)

One frame: the room beyond the walls above the horizon (a gradient), the floor
below it by one warpPerspective of the episode's floor map (floor.py), then
every thing in view far to near (walls, solids, signs, the dock, the ball;
scene.py), clipped at the lens's near plane, and last the camera's own faults
(exposure, blur, noise; randomize.py). All of it is a handful of OpenCV calls a
thing, which is what keeps a 160x120 frame well under the 5 ms that 200 fps allows.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from .camera import NEAR_MM, CameraView, PinholeCamera
from .floor import FloorMap
from .layout import Course
from .randomize import Look, exposure_lut
from .scene import Face, Picture, Scene, Sphere

_SHIFT = 4                       # fixed-point bits for OpenCV polygon vertices
_ONE = float(1 << _SHIFT)
_NOISE_PAD = 32                  # the noise tile is this much larger; frames take shifted windows
_CULL_MARGIN_RAD = math.radians(6.0)


class Renderer:
    def __init__(self, course: Course, camera: PinholeCamera, look: Look,
                 rng: np.random.Generator):
        self.camera, self.look = camera, look
        self.floor = FloorMap.draw(course, look, rng)
        self.scene = Scene.build(course, look)
        self._bound_c, self._bound_r = self.scene.bounds()
        w, h = camera.width_px, camera.height_px
        ramp = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
        top, bottom = (np.asarray(c, np.float32) for c in (look.sky_top_bgr, look.sky_bottom_bgr))
        self._background = np.broadcast_to(top + (bottom - top) * ramp, (h, w, 3)).astype(np.uint8)
        self._lut = exposure_lut(look)
        self._blur_sigma = look.blur_sigma_px * w / 160.0
        self._noise = None
        if look.noise_sigma > 0:
            self._noise = np.clip(rng.normal(0.0, look.noise_sigma, (h + _NOISE_PAD, w + _NOISE_PAD, 3)),
                                  -127, 127).astype(np.int16)
        self._border = tuple(int(c) for c in look.wall_bgr)

    # -- one frame ----------------------------------------------------------------------
    def render(self, view: CameraView, frame_rng: np.random.Generator | None = None) -> np.ndarray:
        w, h = self.camera.width_px, self.camera.height_px
        image = np.empty((h, w, 3), np.uint8)
        v0 = int(min(max(math.floor(view.horizon_v()) + 1, 0), h))
        image[:v0] = self._background[:v0]
        self._draw_floor(image, view, v0)
        self._draw_things(image, view)
        return self._camera_faults(image, frame_rng)

    def _draw_things(self, image: np.ndarray, view: CameraView) -> None:
        table = self.scene.faces
        cam = view.to_camera(table.vertices)
        z = cam[:, 2]
        f = self.camera.f_px
        cx, cy = self.camera.centre_px
        safe_z = np.maximum(z, NEAR_MM)
        pix = np.round(np.column_stack([f * cam[:, 0] / safe_z + cx, f * cam[:, 1] / safe_z + cy])
                       * _ONE).astype(np.int32)
        all_in_front = np.minimum.reduceat(z[table.flat_index], table.starts) >= NEAR_MM
        facing = np.einsum("ij,ij->i", view.C - table.anchor, table.normal) >= 0
        for i in self._in_view(view):
            thing = self.scene.things[i]
            for k in table.of_thing[i]:
                bgr = table.front[k] if facing[k] else table.back[k]
                if bgr is None:
                    continue
                rows = table.index[k]
                if all_in_front[k]:
                    cv2.fillConvexPoly(image, pix[rows], bgr, cv2.LINE_8, _SHIFT)
                else:
                    pts = _clip_near(cam[rows])
                    if len(pts) >= 3:
                        cv2.fillConvexPoly(image, self._pixels(pts), bgr, cv2.LINE_8, _SHIFT)
            for picture in thing.pictures:
                self._picture(image, view, picture)
            if thing.sphere is not None:
                self._sphere(image, view, thing.sphere)

    def _draw_floor(self, image: np.ndarray, view: CameraView, v0: int) -> None:
        """The floor below row v0 in bands, each from the map level whose pixels are about
        the size of the floor a screen pixel covers there (a mip-map by rows)."""
        h, w = image.shape[:2]
        if v0 >= h:
            return
        homography = view.floor_homography()
        for level, top, bottom in self._floor_bands(view, v0):
            shift = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, -top], [0.0, 0.0, 1.0]])
            to_image = shift @ homography @ self.floor.level_to_world(level)
            cv2.warpPerspective(self.floor.levels[level], to_image, (w, bottom - top),
                                dst=image[top:bottom], flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=self._border)

    def _floor_bands(self, view: CameraView, v0: int) -> list[tuple[int, int, int]]:
        """(level, first row, end row) from the horizon down. A row's floor footprint is
        the geometric mean of its depth and width per pixel, measured down the middle."""
        h = self.camera.height_px
        cx, _ = self.camera.centre_px
        f = self.camera.f_px
        rows = np.arange(v0, h + 1, dtype=np.float64)
        inv = np.linalg.inv(view.floor_homography())
        pts = inv @ np.vstack([np.full_like(rows, cx), rows, np.ones_like(rows)])
        ground = pts[:2] / pts[2]
        depth_fp = np.hypot(*np.diff(ground, axis=1))
        dist = np.hypot(ground[0] - view.C[0], ground[1] - view.C[1])[:-1]
        width_fp = np.hypot(dist, view.C[2]) / f
        footprint = np.sqrt(depth_fp * width_fp) / self.floor.mm_per_px
        level = np.clip(np.floor(np.log2(np.maximum(footprint, 1e-9) / 1.2)), 0,
                        len(self.floor.levels) - 1).astype(int)
        level[(pts[2, :-1] <= 0) | (pts[2, 1:] <= 0)] = len(self.floor.levels) - 1
        bands, top = [], v0
        for v in range(v0 + 1, h + 1):
            if v == h or level[v - v0] != level[top - v0]:
                bands.append((int(level[top - v0]), top, v))
                top = v
        return bands

    def _in_view(self, view: CameraView) -> np.ndarray:
        """The indices of the things that may show, far to near (painter's order)."""
        c_xy = view.C[:2]
        fwd = view.R[2, :2]
        norm = math.hypot(*fwd)
        fwd = fwd / norm if norm > 1e-9 else np.array([1.0, 0.0])
        rel = self._bound_c - c_xy
        ahead = rel @ fwd
        side = np.abs(rel @ np.array([-fwd[1], fwd[0]]))
        reach = math.tan(min(self.camera.half_hfov_rad + _CULL_MARGIN_RAD, 1.5))
        r = self._bound_r
        keep = (ahead + r > NEAR_MM) & (side - r <= (np.maximum(ahead, 0) + r) * reach)
        index = np.flatnonzero(keep)
        return index[np.argsort(-self.scene.sort_keys(c_xy)[index], kind="stable")]

    # -- drawing ------------------------------------------------------------------------
    def _pixels(self, cam_pts: np.ndarray) -> np.ndarray:
        f = self.camera.f_px
        cx, cy = self.camera.centre_px
        uv = np.column_stack([f * cam_pts[:, 0] / cam_pts[:, 2] + cx,
                              f * cam_pts[:, 1] / cam_pts[:, 2] + cy])
        return np.round(uv * _ONE).astype(np.int32)

    def _face(self, image: np.ndarray, view: CameraView, face: Face) -> None:
        bgr = self._side_colour(view, face.points[0], face.normal, face.front_bgr, face.back_bgr)
        if bgr is None:
            return
        pts = _clip_near(view.to_camera(face.points))
        if len(pts) >= 3:
            cv2.fillConvexPoly(image, self._pixels(pts), bgr, cv2.LINE_8, _SHIFT)

    def _picture(self, image: np.ndarray, view: CameraView, pic: Picture) -> None:
        towards = float((view.C - pic.corners[0]) @ pic.normal) > 0
        if not towards:
            if pic.back_bgr is not None:
                self._face(image, view, Face(pic.corners, pic.back_bgr, pic.back_bgr, pic.normal))
            return
        cam = view.to_camera(pic.corners)
        if (cam[:, 2] < NEAR_MM).any():   # half behind the lens: a flat patch is enough
            mean = tuple(int(c) for c in pic.texture.levels[-1].reshape(-1, 3).mean(axis=0))
            self._face(image, view, Face(pic.corners, mean, None, pic.normal))
            return
        f = self.camera.f_px
        cx, cy = self.camera.centre_px
        uv = np.column_stack([f * cam[:, 0] / cam[:, 2] + cx, f * cam[:, 1] / cam[:, 2] + cy])
        h, w = image.shape[:2]
        x0, y0 = max(int(math.floor(uv[:, 0].min())), 0), max(int(math.floor(uv[:, 1].min())), 0)
        x1, y1 = min(int(math.ceil(uv[:, 0].max())) + 1, w), min(int(math.ceil(uv[:, 1].max())) + 1, h)
        if x1 <= x0 or y1 <= y0:
            return
        width_px = max(np.hypot(*(uv[1] - uv[0])), np.hypot(*(uv[2] - uv[3])))
        tex = pic.texture.level_for(width_px)
        th, tw = tex.shape[:2]
        src = np.array([[-0.5, -0.5], [tw - 0.5, -0.5], [tw - 0.5, th - 0.5], [-0.5, th - 0.5]],
                       np.float32)
        dst = (uv - [x0, y0]).astype(np.float32)
        warped = cv2.warpPerspective(tex, cv2.getPerspectiveTransform(src, dst), (x1 - x0, y1 - y0),
                                     flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.round(dst * _ONE).astype(np.int32), 255, cv2.LINE_8, _SHIFT)
        cv2.copyTo(warped, mask, image[y0:y1, x0:x1])

    def _sphere(self, image: np.ndarray, view: CameraView, sphere: Sphere) -> None:
        c = view.to_camera(sphere.centre[None, :])[0]
        if c[2] < NEAR_MM + sphere.radius_mm:
            return
        f = self.camera.f_px
        cx, cy = self.camera.centre_px
        u, v = f * c[0] / c[2] + cx, f * c[1] / c[2] + cy
        r = f * sphere.radius_mm / c[2]
        base = np.asarray(sphere.bgr, np.float64)
        for k, (du, dv, scale, rgb) in enumerate(((0.0, 0.0, 1.0, base * 0.55),
                                                  (-0.18, -0.2, 0.78, base),
                                                  (-0.38, -0.42, 0.22, np.minimum(base + 90, 255)))):
            if k and r * scale < 0.8:
                break
            centre = (int(round((u + du * r) * _ONE)), int(round((v + dv * r) * _ONE)))
            cv2.circle(image, centre, max(1, int(round(r * scale * _ONE))),
                       tuple(int(x) for x in rgb), -1, cv2.LINE_AA, _SHIFT)

    @staticmethod
    def _side_colour(view, point, normal, front, back):
        if float((view.C - point) @ normal) >= 0:
            return front
        return back

    # -- the camera's own faults ---------------------------------------------------------
    def _camera_faults(self, image: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        if self._lut is not None:
            image = cv2.LUT(image, self._lut)
        if self._blur_sigma > 0.3:
            image = cv2.GaussianBlur(image, (0, 0), self._blur_sigma)
        if self._noise is not None and rng is not None:
            h, w = image.shape[:2]
            dy, dx = (int(v) for v in rng.integers(0, _NOISE_PAD, 2))
            image = cv2.add(image, self._noise[dy:dy + h, dx:dx + w], dtype=cv2.CV_8U)
        return image


def _clip_near(pts: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman against the plane z = NEAR_MM (camera frame): what is in front."""
    inside = pts[:, 2] >= NEAR_MM
    if inside.all():
        return pts
    if not inside.any():
        return pts[:0]
    out = []
    n = len(pts)
    for i in range(n):
        a, b = pts[i], pts[(i + 1) % n]
        a_in, b_in = inside[i], inside[(i + 1) % n]
        if a_in:
            out.append(a)
        if a_in != b_in:
            t = (NEAR_MM - a[2]) / (b[2] - a[2])
            out.append(a + (b - a) * t)
    return np.array(out)
