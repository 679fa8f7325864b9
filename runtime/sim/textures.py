"""The pictures on things: sign faces (arrows, stop, written words) and dock markers.

    sign_texture("word_dock")       # a Texture: BGR levels, full size first, halving down
    marker_texture(7)               # cv2.aruco DICT_4X4_50 marker 7 on a white plate

Each texture keeps a pyramid so a far sign is drawn from a small level (averaged,
not aliased) and a near one from the full picture. Words are written with
cv2.putText, so a text sign is a message to read, not a shape to match.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from .layout import ARUCO_DICTIONARY, SIGN_CLASSES, SIGN_WORDS

SIGN_PX = (192, 136)          # width, height of a sign face's full-size picture (240 x 170 mm)
MARKER_PX = 120               # the marker itself; a white margin of MARKER_MARGIN_PX goes round it
MARKER_MARGIN_PX = 20
SIGN_BACK_BGR = (150, 150, 150)
POST_BGR = (90, 90, 90)


@dataclass(frozen=True)
class Texture:
    levels: tuple[np.ndarray, ...]   # BGR uint8, each half the size of the one before

    def level_for(self, width_px: float) -> np.ndarray:
        """The smallest level at least `width_px` wide (the full picture if none is)."""
        for image in reversed(self.levels):
            if image.shape[1] >= width_px:
                return image
        return self.levels[0]


def _pyramid(image: np.ndarray) -> Texture:
    levels = [image]
    while min(levels[-1].shape[:2]) >= 16:
        levels.append(cv2.pyrDown(levels[-1]))
    for level in levels:
        level.flags.writeable = False
    return Texture(tuple(levels))


def _plate(bg: tuple[int, int, int], border: tuple[int, int, int]) -> np.ndarray:
    w, h = SIGN_PX
    img = np.full((h, w, 3), bg, np.uint8)
    cv2.rectangle(img, (3, 3), (w - 4, h - 4), border, 6)
    return img


def _arrow(direction: int) -> np.ndarray:
    """A white arrow on blue; direction -1 points left, +1 right (as its reader sees it)."""
    w, h = SIGN_PX
    img = _plate((170, 90, 20), (245, 245, 245))
    cx, cy = w // 2, h // 2
    shape = np.array([(-60, -14), (10, -14), (10, -42), (62, 0), (10, 42), (10, 14), (-60, 14)])
    pts = np.column_stack([cx + direction * shape[:, 0], cy + shape[:, 1]]).astype(np.int32)
    cv2.fillPoly(img, [pts], (245, 245, 245), cv2.LINE_AA)
    return img


def _stop() -> np.ndarray:
    w, h = SIGN_PX
    img = _plate((235, 235, 235), (200, 200, 200))
    r = 62
    angles = np.pi / 8 + np.arange(8) * np.pi / 4
    pts = np.column_stack([w / 2 + r * np.cos(angles), h / 2 + r * np.sin(angles)])
    cv2.fillPoly(img, [np.round(pts).astype(np.int32)], (30, 30, 200), cv2.LINE_AA)
    _centred_text(img, "STOP", (245, 245, 245), 100)
    return img


def _centred_text(img: np.ndarray, word: str, colour, width_px: int) -> None:
    font, thickness = cv2.FONT_HERSHEY_DUPLEX, 5
    (tw, th), _ = cv2.getTextSize(word, font, 1.0, thickness)
    scale = width_px / tw
    thickness = max(2, int(round(thickness * scale)))
    (tw, th), _ = cv2.getTextSize(word, font, scale, thickness)
    h, w = img.shape[:2]
    cv2.putText(img, word, ((w - tw) // 2, (h + th) // 2), font, scale, colour, thickness,
                cv2.LINE_AA)


def _word(word: str) -> np.ndarray:
    img = _plate((40, 210, 245), (20, 20, 20))    # yellow plate, black border and letters
    _centred_text(img, word, (20, 20, 20), SIGN_PX[0] - 36)
    return img


@functools.lru_cache(maxsize=None)
def sign_texture(sign_class: str) -> Texture:
    if sign_class not in SIGN_CLASSES:
        raise ValueError(f"no sign {sign_class!r}; signs: {SIGN_CLASSES}")
    if sign_class == "arrow_left":
        return _pyramid(_arrow(-1))
    if sign_class == "arrow_right":
        return _pyramid(_arrow(+1))
    if sign_class == "stop":
        return _pyramid(_stop())
    return _pyramid(_word(SIGN_WORDS[sign_class]))


def aruco_dictionary() -> "cv2.aruco.Dictionary":
    return cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, ARUCO_DICTIONARY))


@functools.lru_cache(maxsize=None)
def marker_texture(marker_id: int) -> Texture:
    """The marker on a white plate: the white margin is the quiet zone a detector needs."""
    marker = cv2.aruco.generateImageMarker(aruco_dictionary(), int(marker_id), MARKER_PX)
    side = MARKER_PX + 2 * MARKER_MARGIN_PX
    plate = np.full((side, side), 235, np.uint8)
    plate[MARKER_MARGIN_PX:MARKER_MARGIN_PX + MARKER_PX,
          MARKER_MARGIN_PX:MARKER_MARGIN_PX + MARKER_PX] = np.where(marker > 127, 235, 20)
    return _pyramid(cv2.cvtColor(plate, cv2.COLOR_GRAY2BGR))


def marker_plate_mm(marker_mm: float) -> float:
    """The side of the white plate a marker of side `marker_mm` is printed on."""
    return marker_mm * (MARKER_PX + 2 * MARKER_MARGIN_PX) / MARKER_PX
