"""Source: where frames enter the robot (data path step 1: **source** ─► encoder).

    from spikebox.runtime.source import open_source, SourceLost
    with open_source("0", width_px=640, height_px=480) as source:   # --source sim|INDEX|FILE|PIPELINE
        capture = source.read_latest(max_age_ms=100)   # None: nothing fresh enough this cycle
        if capture is not None:
            encoder.encode(capture.image)               # BGR uint8; capture.frame_id, .t_monotonic_s
        source.stats()                                  # captured, returned, dropped, stale, ...

Every source keeps one contract (`Source`, in capture.py): a live camera or
GStreamer pipeline (camera.py), a recorded clip (clip.py), and the simulated
world (sim.py, the demo world of runtime/sim/).
"""
from __future__ import annotations

import time
from pathlib import Path

import cv2

from .camera import CameraSource
from .capture import Capture, Clock, Source, SourceClosed, SourceError, SourceLost
from .clip import ClipSource

__all__ = ["CameraSource", "Capture", "ClipSource", "Source", "SourceClosed", "SourceError",
           "SourceLost", "open_source"]


def open_source(spec: str | int, *, width_px: int | None = None, height_px: int | None = None,
                fps: float | None = None, loop: bool = False, realtime: bool = True,
                lost_after_ms: float = 1000.0, clock: Clock = time.monotonic) -> Source:
    """Open the source `spec` names (the CLI's --source) and return it, opened.

    sim, sim:COURSE or sim:COURSE:SEED → the simulated world (SimSource, with the
    firmware core on a pty at its serial_url); an integer → a camera
    index; text with '!' → a GStreamer pipeline; a device path (/dev/video0,
    /dev/v4l/by-id/...) → that camera; a file → a video clip; a folder → a clip
    of numbered frames. width_px/height_px/fps are asked of a camera and given to
    the sim; fps is a clip's replay rate (a folder has none of its own); loop is a
    clip's, realtime a clip's and the sim's, lost_after_ms a camera's.
    """
    source = _source_for(spec, width_px=width_px, height_px=height_px, fps=fps, loop=loop,
                         realtime=realtime, lost_after_ms=lost_after_ms, clock=clock)
    source.open()
    return source


def _source_for(spec: str | int, *, width_px, height_px, fps, loop, realtime, lost_after_ms,
                clock) -> Source:
    camera = dict(width_px=width_px, height_px=height_px, fps=fps, lost_after_ms=lost_after_ms,
                  clock=clock)
    text = str(spec).strip()
    if text == "sim" or text.startswith("sim:"):
        return _sim_source(text, width_px=width_px, height_px=height_px, fps=fps,
                           realtime=realtime, clock=clock)
    if isinstance(spec, int) or text.isdigit():
        return CameraSource(int(text), **camera)
    # Before any path test: a pipeline is no file name, and a long one makes stat() fail.
    if "!" in text:
        return CameraSource(text, api_preference=cv2.CAP_GSTREAMER, **camera)
    path = Path(text).expanduser()
    if path.is_char_device():
        return CameraSource(str(path), **camera)
    if path.is_file() or path.is_dir():
        return ClipSource(path, fps=fps, loop=loop, realtime=realtime, clock=clock)
    raise SourceError(f"--source {text!r}: no such file or folder. Give sim, a camera index "
                      "(0 for /dev/video0), a video file, a folder of numbered .png/.jpg "
                      "frames, or a GStreamer pipeline (elements joined by '!')")


def _sim_source(text: str, *, width_px, height_px, fps, realtime, clock) -> Source:
    from .sim import SimSource   # the world (and its firmware core) only when asked for

    parts = text.split(":")
    if len(parts) > 3 or (len(parts) == 3 and not parts[2].strip().lstrip("-").isdigit()):
        raise SourceError(f"--source {text!r}: give sim, sim:COURSE or sim:COURSE:SEED "
                          "(e.g. sim:tour:3)")
    course = parts[1].strip() if len(parts) > 1 and parts[1].strip() else None
    extra = {"course": course} if course else {}
    if len(parts) == 3:
        extra["seed"] = int(parts[2])
    return SimSource(width_px=width_px or 160, height_px=height_px or 120, fps=fps or 30.0,
                     realtime=realtime, clock=clock, **extra)
