"""Domain randomisation: how the world looks in one episode, and how each frame is spoiled.

    look = draw_look(rng, randomize=True)     # lighting, floor, walls, camera mount, noise...
    look = draw_look(rng, randomize=False)    # the fixed look of a fixed-seed evaluation

Training frames want variety (lighting, floor texture, camera noise, blur,
exposure, pose jitter) so experts learn the skill and not one room; an
evaluation wants none, so a figure means the same thing twice. Everything is
drawn from the episode's numpy Generator, so the same seed gives the same look.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .camera import CameraMount

FLOOR_STYLES = ("concrete", "tiles", "planks", "speckle")


@dataclass(frozen=True)
class Look:
    """Everything about one episode's appearance. The defaults are the evaluation look."""
    floor_style: str = "concrete"
    floor_bgr: tuple[int, int, int] = (150, 152, 148)
    floor_texture_contrast: float = 1.0     # scales the style's texture amplitude
    line_bgr: tuple[int, int, int] = (30, 30, 30)
    line_width_mm: float = 25.0
    wall_bgr: tuple[int, int, int] = (205, 200, 190)
    skirting_bgr: tuple[int, int, int] = (95, 95, 100)
    sky_top_bgr: tuple[int, int, int] = (215, 205, 195)     # the room beyond the walls
    sky_bottom_bgr: tuple[int, int, int] = (175, 170, 165)
    light_azimuth_rad: float = 0.9          # where light comes from, for shading walls and solids
    gain_bgr: tuple[float, float, float] = (1.0, 1.0, 1.0)   # light colour and intensity
    gamma: float = 1.0                      # exposure curve (< 1 brightens the shadows)
    blur_sigma_px: float = 0.0              # defocus / motion, at 160 px width (scales with size)
    noise_sigma: float = 0.0                # sensor noise, grey levels
    mount: CameraMount = field(default_factory=CameraMount)
    frame_jitter_deg: float = 0.0           # per-frame camera shake (yaw, tilt, roll)
    start_jitter_mm: float = 0.0            # the start pose moves by up to this ...
    start_jitter_rad: float = 0.0           # ... and turns by up to this

    def __post_init__(self):
        if self.floor_style not in FLOOR_STYLES:
            raise ValueError(f"Look.floor_style {self.floor_style!r} is not one of {FLOOR_STYLES}")
        if self.gamma <= 0 or self.blur_sigma_px < 0 or self.noise_sigma < 0:
            raise ValueError("Look: gamma must be > 0, blur_sigma_px and noise_sigma >= 0")


def _bgr(rng: np.random.Generator, lo: int, hi: int, spread: int) -> tuple[int, int, int]:
    base = rng.uniform(lo, hi)
    return tuple(int(np.clip(base + rng.uniform(-spread, spread), 0, 255)) for _ in range(3))


def draw_look(rng: np.random.Generator, randomize: bool,
              mount: CameraMount = CameraMount()) -> Look:
    """The look of one episode: `mount` as configured when not randomising, else jittered."""
    if not randomize:
        return Look(mount=mount)
    u = rng.uniform
    jittered = CameraMount(height_mm=mount.height_mm + u(-10, 10),
                           tilt_deg=mount.tilt_deg + u(-3, 3),
                           forward_mm=mount.forward_mm,
                           yaw_deg=mount.yaw_deg + u(-2, 2),
                           roll_deg=mount.roll_deg + u(-2, 2))
    light = u(0.6, 1.35)
    tint = rng.uniform(-0.12, 0.12, 3)
    return Look(
        floor_style=FLOOR_STYLES[int(rng.integers(len(FLOOR_STYLES)))],
        floor_bgr=_bgr(rng, 95, 190, 25),
        floor_texture_contrast=u(0.5, 1.8),
        line_bgr=_bgr(rng, 10, 60, 10),
        line_width_mm=u(20, 32),
        wall_bgr=_bgr(rng, 150, 235, 25),
        skirting_bgr=_bgr(rng, 50, 130, 15),
        sky_top_bgr=_bgr(rng, 170, 240, 20),
        sky_bottom_bgr=_bgr(rng, 130, 200, 20),
        light_azimuth_rad=u(-math.pi, math.pi),
        gain_bgr=tuple(float(light * (1 + t)) for t in tint),
        gamma=u(0.7, 1.4),
        blur_sigma_px=u(0.0, 1.0) if rng.random() < 0.6 else 0.0,
        noise_sigma=u(1.0, 8.0),
        mount=jittered,
        frame_jitter_deg=u(0.0, 0.8),
        start_jitter_mm=150.0,
        start_jitter_rad=0.25,
    )


def exposure_lut(look: Look) -> np.ndarray | None:
    """One (256, 1, 3) table for cv2.LUT: light colour and intensity, then the exposure
    curve; None when it would change nothing."""
    if look.gain_bgr == (1.0, 1.0, 1.0) and look.gamma == 1.0:
        return None
    x = np.arange(256, dtype=np.float64)[:, None] / 255.0
    y = np.clip(x * np.asarray(look.gain_bgr)[None, :], 0.0, 1.0) ** look.gamma
    return np.round(y * 255.0).astype(np.uint8).reshape(256, 1, 3)
