"""Helpers for the sim tests: constructed poses in front of things, reading a sign off a frame."""
from __future__ import annotations

import math

import cv2
import numpy as np

from spikebox.runtime.sim import SimWorld, WorldConfig
from spikebox.runtime.sim.layout import SIGN_CLASSES, Sign
from spikebox.runtime.sim.textures import sign_texture


def in_front(x: float, y: float, facing_rad: float, distance_mm: float):
    """The pose `distance_mm` out along facing_rad from (x, y), looking back at it."""
    return (x + math.cos(facing_rad) * distance_mm, y + math.sin(facing_rad) * distance_mm,
            facing_rad + math.pi)


def world_with_sign(sign_class: str, distance_mm: float, size=(160, 120)):
    """A world (fixed look) whose course has a `sign_class` sign, and the robot placed in
    front of it, facing it, where it stands free in the sign's own zone."""
    for seed in range(200):
        world = SimWorld(WorldConfig(width_px=size[0], height_px=size[1]), seed=seed)
        for sign in world.course.signs:
            pose = in_front(sign.x, sign.y, sign.facing_rad, distance_mm)
            if (sign.sign_class == sign_class and world.collision_map.free(pose[0], pose[1], 150)
                    and world.course.zone_at(*pose[:2]) == world.course.zone_at(sign.x, sign.y)):
                world.place_robot(*pose)
                return world, sign
        world.close()
    raise AssertionError(f"no seed below 200 has a free view of a {sign_class} sign")


def read_sign(image: np.ndarray, world: SimWorld, sign: Sign, size=(96, 68)) -> dict[str, float]:
    """Rectify the sign's face out of the frame (its corners projected by the camera) and
    score it against every sign's picture (normalised cross-correlation, 1 = identical)."""
    f = np.array([math.cos(sign.facing_rad), math.sin(sign.facing_rad)])
    right = np.array([-f[1], f[0]])
    c, h = np.array([sign.x, sign.y]), sign.width_mm / 2
    z0, z1 = sign.bottom_mm, sign.bottom_mm + sign.height_mm
    corners = np.array([[*(c - right * h), z1], [*(c + right * h), z1],
                        [*(c + right * h), z0], [*(c - right * h), z0]])
    u, v, _ = world.view().project(corners)
    w, hh = size
    to_face = cv2.getPerspectiveTransform(np.float32(np.column_stack([u, v])),
                                          np.float32([[0, 0], [w, 0], [w, hh], [0, hh]]))
    face = cv2.cvtColor(cv2.warpPerspective(image, to_face, size), cv2.COLOR_BGR2GRAY)
    scores = {}
    for cls in SIGN_CLASSES:
        ref = cv2.resize(sign_texture(cls).levels[0], size, interpolation=cv2.INTER_AREA)
        ref = cv2.cvtColor(ref, cv2.COLOR_BGR2GRAY)
        scores[cls] = float(cv2.matchTemplate(face.astype(np.float32), ref.astype(np.float32),
                                              cv2.TM_CCOEFF_NORMED)[0, 0])
    return scores
