"""`spikebox sim --sheet FILE.png`: every zone as the robot's camera sees it, labelled.

The autopilot drives the "tour" course (every zone once); for each zone the
frame that shows it best (the sign, ball or dock at a readable distance, the
line and the obstacles from inside their zone) is kept with its ground truth
as the label. The first rows are the fixed evaluation look, the last the same
course under domain randomisation (the look experts are trained on).
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

from spikebox.runtime.files import atomic_write

from .autopilot import drive
from .layout import ZONE_KINDS
from .truth import GroundTruth, docked
from .world import SimWorld, WorldConfig

SHEET_COURSE = "tour"
_COLUMNS = 3
_LABEL_PX = 40
_HEADER_PX = 30
_SCALE = 2
_MAX_FRAMES = 3000


def _score(truth: GroundTruth, world: SimWorld) -> float | None:
    """How well this frame shows its zone (higher is better); None: it does not."""
    zone = world.course.zones[truth.zone]
    at = (truth.x_mm, truth.y_mm)
    kind = truth.zone_kind
    if kind in ("open", "line"):
        if kind == "line" and not (truth.line and truth.line.visible):
            return None
        return -math.dist(at, zone.centre)
    if kind == "obstacle":   # as many of the field's obstacles in view as one frame holds
        return 1000.0 * _obstacles_in_view(world, zone) - math.dist(at, (zone.entry.x, zone.entry.y))
    seen = {"sign": truth.sign, "ball": truth.ball, "dock": truth.dock}[kind]
    if not seen.visible:
        return None
    ideal_mm = {"sign": 800.0, "ball": 700.0, "dock": 600.0}[kind]
    return -abs(seen.distance_mm - ideal_mm) - 800.0 * abs(seen.bearing_rad)


def _obstacles_in_view(world: SimWorld, zone) -> int:
    view = world.view()
    centres = [(*p.centre, p.height_mm / 2) for p in world.course.prisms if zone.contains(*p.centre)]
    if not centres:
        return 0
    u, v, depth = view.project(np.array(centres))
    w, h = view.camera.width_px, view.camera.height_px
    return int(((depth > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)).sum())


def _label(t: GroundTruth) -> tuple[str, str]:
    kind = t.zone_kind
    if kind == "open":
        return "open floor", "no expert needed"
    if kind == "line":
        return "line track", f"steer {t.line.steering:+.2f}  offset {t.line.offset_mm:+.0f} mm"
    if kind == "sign":
        s = t.sign
        what = f"'{s.text}'" if s.text else s.sign_class.replace("_", " ")
        return f"sign: {what}", f"{s.distance_mm / 1000:.1f} m  bearing {math.degrees(s.bearing_rad):+.0f} deg"
    if kind == "ball":
        b = t.ball
        return f"ball: {b.colour}", f"{b.distance_mm / 1000:.1f} m  bearing {math.degrees(b.bearing_rad):+.0f} deg"
    if kind == "obstacle":
        o = t.obstacle
        return "obstacle field", f"safe steer {o.steering:+.2f}  clear {o.clear_ahead_mm / 1000:.1f} m"
    d = t.dock
    return f"dock: ArUco {d.marker_id}", f"{d.distance_mm / 1000:.1f} m  aligned {'yes' if d.aligned else 'no'}"


def best_frames(config: WorldConfig, seed: int) -> dict[str, tuple[np.ndarray, GroundTruth]]:
    """zone kind -> (image, truth) of the frame that shows it best on one drive."""
    world = SimWorld(config, seed=seed)
    best: dict[str, tuple[float, np.ndarray, GroundTruth]] = {}
    try:
        for image, truth in drive(world, _MAX_FRAMES):
            score = _score(truth, world)
            if score is not None and (truth.zone_kind not in best or score > best[truth.zone_kind][0]):
                best[truth.zone_kind] = (score, image.copy(), truth)
            if docked(truth):
                break
    finally:
        world.close()
    return {k: (img, t) for k, (_, img, t) in best.items()}


def _tile(image: np.ndarray, truth: GroundTruth) -> np.ndarray:
    h, w = image.shape[:2]
    big = cv2.resize(image, (w * _SCALE, h * _SCALE), interpolation=cv2.INTER_NEAREST)
    label = np.full((_LABEL_PX, big.shape[1], 3), 30, np.uint8)
    first, second = _label(truth)
    cv2.putText(label, first, (8, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(label, second, (8, 34), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (190, 220, 255), 1,
                cv2.LINE_AA)
    tile = np.vstack([big, label])
    cv2.rectangle(tile, (0, 0), (tile.shape[1] - 1, tile.shape[0] - 1), (80, 80, 80), 1)
    return tile


def _block(title: str, frames: dict, width: int) -> np.ndarray:
    tiles = [_tile(*frames[k]) for k in ZONE_KINDS if k in frames]
    blank = np.full_like(tiles[0], 30)
    tiles += [blank] * (-len(tiles) % _COLUMNS)
    rows = [np.hstack(tiles[i:i + _COLUMNS]) for i in range(0, len(tiles), _COLUMNS)]
    header = np.full((_HEADER_PX, rows[0].shape[1], 3), 15, np.uint8)
    cv2.putText(header, title, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1,
                cv2.LINE_AA)
    return np.vstack([header, *rows])


def contact_sheet(path: str | os.PathLike, *, seed: int = 0, width_px: int = 160,
                  height_px: int = 120) -> dict[str, list[str]]:
    """Write the sheet to `path` (PNG); returns, per look, the zones it shows."""
    shown = {}
    blocks = []
    for title, randomize, look_seed in (("fixed look (evaluation)", False, seed),
                                        ("domain randomisation (training)", True, seed + 1)):
        config = WorldConfig(course=SHEET_COURSE, width_px=width_px, height_px=height_px,
                             randomize=randomize)
        frames = best_frames(config, look_seed)
        shown[title] = [k for k in ZONE_KINDS if k in frames]
        blocks.append(_block(f"spikebox sim: course '{SHEET_COURSE}', seed {look_seed}, "
                             f"{width_px}x{height_px} (shown x{_SCALE}) - {title}", frames, width_px))
    ok, png = cv2.imencode(".png", np.vstack(blocks), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("could not encode the contact sheet as PNG")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, png.tobytes())
    return shown
