"""The robot's camera: a forward-tilted pinhole on the robot, and the maths of seeing the floor.

    cam = PinholeCamera(160, 120, hfov_deg=70)
    view = CameraView.from_pose(cam, CameraMount(), x_mm, y_mm, heading_rad)
    u, v, depth = view.project(np.array([[x, y, z], ...]))   # world mm -> pixels
    H = view.floor_homography()        # floor (x, y, 1) mm -> image (u, v, 1)

Pixel centres are integers (OpenCV's convention): the optical axis goes through
((W - 1) / 2, (H - 1) / 2). Camera axes are OpenCV's: x right, y down, z forward.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NEAR_MM = 20.0   # nothing nearer the lens than this is drawn


@dataclass(frozen=True)
class CameraMount:
    """Where the camera sits on the robot (robot frame: forward from its centre)."""
    height_mm: float = 150.0
    tilt_deg: float = 20.0       # down from level
    forward_mm: float = 60.0     # ahead of the wheel axle's middle
    yaw_deg: float = 0.0         # left of straight ahead (mounting error; jitter)
    roll_deg: float = 0.0        # clockwise as the camera sees it (mounting error; jitter)

    def __post_init__(self):
        if not 20.0 <= self.height_mm <= 1000.0:
            raise ValueError(f"CameraMount.height_mm must be in [20, 1000], got {self.height_mm}")
        if not 0.0 <= self.tilt_deg < 80.0:
            raise ValueError(f"CameraMount.tilt_deg must be in [0, 80), got {self.tilt_deg}")


@dataclass(frozen=True)
class PinholeCamera:
    width_px: int = 160
    height_px: int = 120
    hfov_deg: float = 70.0

    def __post_init__(self):
        if not (16 <= self.width_px <= 640 and 12 <= self.height_px <= 480):
            raise ValueError(f"PinholeCamera: {self.width_px}x{self.height_px} is outside "
                             "16x12 .. 640x480 (the world renders up to 640x480)")
        if not 20.0 <= self.hfov_deg <= 150.0:
            raise ValueError(f"PinholeCamera.hfov_deg must be in [20, 150], got {self.hfov_deg}")

    @property
    def f_px(self) -> float:
        return (self.width_px / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)

    @property
    def centre_px(self) -> tuple[float, float]:
        return (self.width_px - 1) / 2.0, (self.height_px - 1) / 2.0

    @property
    def K(self) -> np.ndarray:
        cx, cy = self.centre_px
        return np.array([[self.f_px, 0.0, cx], [0.0, self.f_px, cy], [0.0, 0.0, 1.0]])

    @property
    def half_hfov_rad(self) -> float:
        return math.radians(self.hfov_deg) / 2.0


@dataclass(frozen=True)
class CameraView:
    """The camera at one instant: R rotates world vectors into camera axes, C is the
    lens centre in world mm."""
    camera: PinholeCamera
    R: np.ndarray
    C: np.ndarray

    @classmethod
    def from_pose(cls, camera: PinholeCamera, mount: CameraMount, x_mm: float, y_mm: float,
                  heading_rad: float) -> "CameraView":
        yaw = heading_rad + math.radians(mount.yaw_deg)
        tilt, roll = math.radians(mount.tilt_deg), math.radians(mount.roll_deg)
        forward = np.array([math.cos(yaw) * math.cos(tilt), math.sin(yaw) * math.cos(tilt),
                            -math.sin(tilt)])
        right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
        down = np.cross(forward, right)
        if roll:
            c, s = math.cos(roll), math.sin(roll)
            right, down = c * right + s * down, -s * right + c * down
        R = np.stack([right, down, forward])
        C = np.array([x_mm + mount.forward_mm * math.cos(heading_rad),
                      y_mm + mount.forward_mm * math.sin(heading_rad), mount.height_mm])
        return cls(camera, R, C)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world mm -> (..., 3) camera-frame mm (z is depth along the axis)."""
        return (points - self.C) @ self.R.T

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, 3) world mm -> u, v (pixels) and depth (mm); depth <= 0 is behind the lens."""
        p = self.to_camera(np.asarray(points, float))
        z = p[..., 2]
        safe = np.where(np.abs(z) < 1e-9, 1e-9, z)
        cx, cy = self.camera.centre_px
        f = self.camera.f_px
        return f * p[..., 0] / safe + cx, f * p[..., 1] / safe + cy, z

    def floor_homography(self) -> np.ndarray:
        """3x3: floor point (x mm, y mm, 1) -> image (u w, v w, w); w is its depth."""
        Rt = np.column_stack([self.R[:, 0], self.R[:, 1], -self.R @ self.C])
        return self.camera.K @ Rt

    def horizon_v(self) -> float:
        """The lowest image row (largest v) the horizon reaches across the image width:
        every pixel below it that shows floor shows floor in front of the camera."""
        # A direction d = (cos a, sin a, 0) on the horizon projects to v = f*(R d)_y/(R d)_z + cy.
        cx, cy = self.camera.centre_px
        f = self.camera.f_px
        worst = -math.inf
        for u in (0.0, self.camera.width_px - 1.0):
            # Ray through (u, v) is level when (R^T ray)_z == 0: solve for v.
            ray_u = (u - cx) / f
            # R^T [ray_u, ray_v, 1] has z = R[0,2]*ray_u + R[1,2]*ray_v + R[2,2] = 0
            if abs(self.R[1, 2]) < 1e-12:
                continue
            ray_v = -(self.R[0, 2] * ray_u + self.R[2, 2]) / self.R[1, 2]
            worst = max(worst, f * ray_v + cy)
        return worst
