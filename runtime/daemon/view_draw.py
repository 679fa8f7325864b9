"""The live view's picture: the newest frame, what the activator and the pager did with it,
and the command that went out, drawn with OpenCV (runtime/daemon/view.py serves it).

    picture = draw_view(ViewState(...))           # BGR uint8, view_size_px(...) big
    ok, jpeg = cv2.imencode(".jpg", picture)

Top: the camera frame scaled to VIEW_WIDTH_PX: its id and age on a band along its top
(red when stale), the wheel setpoints as bars at its edges and the command (wheels,
reason, expert) on a band along its foot. Below: the
spike raster, one row per expert in network order and one column per recent frame
(newest at the right; brighter = more unit spikes, blue behind = awake), each row
labelled with the expert's name in the colour of its state: fired on the newest
frame, awake, resident in the pager, or none of these.

Only the view's server threads call this; never the vision or control loop.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

VIEW_WIDTH_PX = 640          # the frame is scaled to this width, for legibility
ROW_PX = 16                  # one raster row per expert
LABEL_PX = 150               # the experts' names, left of the raster
CELL_PX = 5                  # one raster column per frame
RASTER_FRAMES = (VIEW_WIDTH_PX - LABEL_PX) // CELL_PX
LEGEND_PX = 40               # two text lines under the raster
BAND_PX = 22                 # the command's band at the foot of the frame

FONT = cv2.FONT_HERSHEY_SIMPLEX
BACKGROUND = (24, 24, 24)
FIRED = (90, 230, 90)        # BGR: green
AWAKE = (60, 210, 240)       # yellow
RESIDENT = (235, 235, 235)   # white
ASLEEP = (110, 110, 110)     # grey
AWAKE_CELL = (70, 30, 10)    # dark blue behind an awake expert's cells
SPIKE = np.array([80, 255, 120], np.float32)   # a cell at the window's most spikes
FORWARD, BACKWARD, NOT_SENT = (90, 230, 90), (60, 120, 255), (80, 80, 255)


@dataclass(frozen=True)
class ViewState:
    """What one picture shows; the server gathers it from the observer's newest references."""
    names: tuple[str, ...]                     # experts, network order
    image: np.ndarray | None                   # the newest frame (BGR), None before the first
    frame_id: int | None
    frame_age_ms: float | None                 # now - its capture
    max_frame_age_ms: float                    # older is stale (source.max_frame_age_ms)
    spikes: np.ndarray                         # (frames, experts) unit spikes, oldest first
    awake: np.ndarray                          # (frames, experts) bool
    fired: tuple[str, ...]                     # on the newest frame
    resident: tuple[str, ...]                  # in the pager now
    left_mm_s: int | None                      # the command as sent (None: not sent)
    right_mm_s: int | None
    reason: str | None                         # None: no command yet
    expert: str | None
    full_scale_mm_s: float                     # a wheel bar at full height
    frame_size_px: tuple[int, int]             # (w, h): the placeholder's before a frame


def view_size_px(frame_size_px: tuple[int, int], experts: int) -> tuple[int, int]:
    """(width, height) of the picture for frames of (w, h) and that many experts."""
    w, h = frame_size_px
    return VIEW_WIDTH_PX, round(h * VIEW_WIDTH_PX / w) + experts * ROW_PX + LEGEND_PX


def draw_view(s: ViewState) -> np.ndarray:
    w, h = s.frame_size_px if s.image is None else (s.image.shape[1], s.image.shape[0])
    width, height = view_size_px((w, h), len(s.names))
    camera_h = height - len(s.names) * ROW_PX - LEGEND_PX
    out = np.empty((height, width, 3), np.uint8)
    out[:] = BACKGROUND
    camera = out[:camera_h]
    if s.image is None:
        _text(camera, "waiting for the first frame", (20, camera_h // 2), 0.7, RESIDENT)
    else:
        # Nearest when enlarging: the pixels the encoder read, not a smoothed guess of them.
        grow = width >= w
        camera[:] = cv2.resize(s.image, (width, camera_h),
                               interpolation=cv2.INTER_NEAREST if grow else cv2.INTER_AREA)
        _frame_tag(camera, s)
    _command(camera, s)
    _raster(out[camera_h:camera_h + len(s.names) * ROW_PX], s)
    _legend(out[height - LEGEND_PX:], s)
    return out


def _frame_tag(camera: np.ndarray, s: ViewState) -> None:
    age = "" if s.frame_age_ms is None else f"  {s.frame_age_ms:.0f} ms old"
    stale = s.frame_age_ms is not None and s.frame_age_ms > s.max_frame_age_ms
    band = _darken(camera[:BAND_PX])
    _text(band, f"frame {s.frame_id}{age}" + ("  STALE: the robot acts on no frame" if stale
                                            else ""), (8, 16), 0.5, NOT_SENT if stale else RESIDENT)


def _command(camera: np.ndarray, s: ViewState) -> None:
    h, w = camera.shape[:2]
    band = _darken(camera[h - BAND_PX:])
    if s.reason is None:
        _text(band, "no command yet", (8, 16), 0.5, ASLEEP)
        return
    if s.left_mm_s is None:
        _text(band, f"NOT SENT ({s.reason})", (8, 16), 0.5, NOT_SENT)
        return
    who = s.expert or "no expert"
    _text(band, f"L {s.left_mm_s:+d}  R {s.right_mm_s:+d} mm/s   {s.reason}   {who}",
          (8, 16), 0.5, RESIDENT)
    # The wheels as bars at the frame's edges: up from the middle is forward.
    mid, reach = h // 2, h // 2 - BAND_PX - 6       # between the two bands
    for x, mm_s in ((4, s.left_mm_s), (w - 16, s.right_mm_s)):
        length = int(round(reach * min(abs(mm_s) / s.full_scale_mm_s, 1.0)))
        top, bottom = (mid - length, mid) if mm_s >= 0 else (mid, mid + length)
        cv2.rectangle(camera, (x, mid - reach), (x + 12, mid + reach), ASLEEP, 1)
        if length:
            cv2.rectangle(camera, (x, top), (x + 12, bottom),
                          FORWARD if mm_s >= 0 else BACKWARD, cv2.FILLED)


def _raster(strip: np.ndarray, s: ViewState) -> None:
    frames = s.spikes[-RASTER_FRAMES:]
    awake = s.awake[-RASTER_FRAMES:]
    resident, fired = set(s.resident), set(s.fired)
    for row, name in enumerate(s.names):
        colour = (FIRED if name in fired else AWAKE if awake[-1:, row].any()
                  else RESIDENT if name in resident else ASLEEP)
        mark = "R " if name in resident else "  "
        _text(strip, mark + name, (6, row * ROW_PX + 12), 0.42, colour)
    if not len(frames):
        return
    # Cells: the awake background, then spikes scaled to the window's largest count.
    n, experts = frames.shape
    cells = np.zeros((experts, n, 3), np.float32)
    cells[awake.T] = AWAKE_CELL
    level = frames.T.astype(np.float32) / max(float(frames.max()), 1.0)
    lit = level > 0
    cells[lit] = (0.35 + 0.65 * level[lit])[:, None] * SPIKE
    big = cv2.resize(cells.astype(np.uint8), (n * CELL_PX, experts * ROW_PX),
                     interpolation=cv2.INTER_NEAREST)
    x0 = strip.shape[1] - n * CELL_PX               # the newest frame at the right edge
    strip[:, x0:] = big
    strip[:, x0:][::ROW_PX] = BACKGROUND             # a thin line between the rows


def _legend(legend: np.ndarray, s: ViewState) -> None:
    resident = ", ".join(s.resident) or "none"
    _text(legend, f"resident: {resident}", (6, 15), 0.42, RESIDENT)
    _text(legend, "fired", (6, 33), 0.42, FIRED)
    _text(legend, "awake", (56, 33), 0.42, AWAKE)
    _text(legend, "R resident", (110, 33), 0.42, RESIDENT)
    _text(legend, f"raster: last {RASTER_FRAMES} frames, newest right", (LABEL_PX + 60, 33),
          0.42, ASLEEP)


def _darken(band: np.ndarray) -> np.ndarray:
    """The frame under a line of text, darkened so the text reads on any scene."""
    band[:] = (band * 0.35).astype(np.uint8)
    return band


def _text(img: np.ndarray, text: str, at: tuple[int, int], scale: float, colour) -> None:
    cv2.putText(img, text, at, FONT, scale, colour, 1, cv2.LINE_AA)
