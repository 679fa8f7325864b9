"""A recorded clip: a video file or a folder of numbered .png/.jpg frames, replayed.

Data path step 1: **clip** ─► encoder, in place of a camera (offline runs,
replay tests, a recording of the sim). Paced replay (`realtime=True`) follows
the clock: `read_latest` returns the frame that would be on screen now, at the
clip's recorded rate, so a slow consumer skips frames exactly as it would on a
live camera (the gap shows in frame ids and in stats()). `realtime=False` steps
one frame per read instead, for offline runs that must see every frame.

Frame ids count frames of the replay: a looped clip keeps counting (id n is the
clip's first frame again). A paced frame is stamped with the time it became
current (open time + id / fps); a stepped frame with the time it was read.
"""
from __future__ import annotations

import logging
import math
import re
import time
from pathlib import Path

import cv2
import numpy as np

from .capture import Capture, Clock, ReadBook, SourceClosed, SourceError

logger = logging.getLogger(__name__)

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")

# Clock arithmetic in floats puts t0 + 3/fps a hair below frame 3; a millionth of a
# frame of slack keeps frame boundaries where a reader (and a test) expects them.
_FRAME_EPSILON = 1e-6


class ClipSource:
    """Replays a video file or a folder of frames (see the module docstring).

    fps: replay rate; a video file's own rate when None. A folder records none,
        so a paced folder needs it (a stepped one does not).
    loop: start again at the end; else read_latest returns None and `ended` is True.
    """

    def __init__(self, path: str | Path, *, fps: float | None = None, loop: bool = False,
                 realtime: bool = True, clock: Clock = time.monotonic):
        if fps is not None and not fps > 0:
            raise ValueError(f"ClipSource fps must be > 0 or None, got {fps}")
        self.path = Path(path)
        self.fps, self.loop, self.realtime = fps, loop, realtime
        self.ended = False
        self._clock = clock
        self._book = ReadBook()
        self._frames: _FolderFrames | _VideoFrames | None = None
        self._rate_fps = 0.0
        self._t0_s = 0.0
        self._next_step = 0
        self._newest: Capture | None = None
        self._first_image: np.ndarray | None = None   # decoded by open() to prove the clip plays
        self._failed_id = -1

    @property
    def name(self) -> str:
        return f"clip {str(self.path)!r}"

    def open(self) -> None:
        if self._frames is not None:
            return
        if not self.path.exists():
            raise SourceError(f"{self.name}: no such file or folder")
        frames = _FolderFrames(self.path) if self.path.is_dir() else _VideoFrames(self.path)
        try:
            first = frames.frame(0)
            if first is None:
                raise SourceError(f"{self.name} holds no frames that decode: record it again, "
                                  "or check it plays (ffplay / an image viewer)")
            rate = self.fps or frames.recorded_fps
            if self.realtime and not (rate and math.isfinite(rate) and rate > 0):
                raise SourceError(
                    f"{self.name} says no frame rate to replay it at (a folder of frames records "
                    "none): give fps= (the rate it was recorded at), or realtime=False to step "
                    "one frame per read")
        except BaseException:
            frames.close()
            raise
        self._frames, self._rate_fps, self._first_image = frames, rate or 0.0, first
        self.ended, self._next_step, self._failed_id = False, 0, -1
        self._newest = None
        self._t0_s = self._clock()   # a paced clip's frame 0 is current from this moment
        logger.info("%s open: %s frames, %s", self.name, frames.count or "?",
                    f"{self._rate_fps:g} fps" if self.realtime else "one frame per read")

    def close(self) -> None:
        frames, self._frames = self._frames, None
        if frames is not None:
            frames.close()

    def __enter__(self) -> "ClipSource":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read_latest(self, max_age_ms: float | None) -> Capture | None:
        if self._frames is None:
            raise SourceClosed(f"{self.name}: read_latest() before open() or after close()")
        now_s = self._clock()
        if self.ended:
            return None
        if self.realtime:
            frame_id = int((now_s - self._t0_s) * self._rate_fps + _FRAME_EPSILON)
            t_s = self._t0_s + frame_id / self._rate_fps
        else:
            frame_id, t_s = self._next_step, now_s
            self._next_step += 1
        if self._newest is None or frame_id > self._newest.frame_id:
            decoded = self._advance(frame_id, t_s)
            # Stepped, a frame that does not decode is that step's frame: none, not the last one.
            if self.ended or (not decoded and not self.realtime):
                return None
        return self._book.serve(self._newest, now_s, max_age_ms)

    def _advance(self, frame_id: int, t_s: float) -> bool:
        """Make frame `frame_id` the newest capture (True), or find the clip's end or an
        undecodable frame (False)."""
        frames = self._frames
        if frames.count is not None and frame_id >= frames.count and not self.loop:
            self._end()
            return False
        index = frame_id % frames.count if self.loop and frames.count else frame_id
        image = self._frame(index)
        if image is None and frames.count is not None and index >= frames.count:
            # A video's length is known only once a read runs past its end: now it is.
            if not self.loop:
                self._end()
                return False
            image = self._frame(frame_id % frames.count)
        if image is None:   # a paced frame that does not decode: as a frame the camera dropped
            if frame_id != self._failed_id:
                self._book.read_failures += 1
                self._failed_id = frame_id
            return False
        self._newest = Capture(frame_id, t_s, image)
        self._book.frames_captured = max(self._book.frames_captured, frame_id + 1)
        return True

    def _frame(self, index: int) -> np.ndarray | None:
        return self._first_image if index == 0 else self._frames.frame(index)

    def _end(self) -> None:
        self.ended = True
        self._book.frames_captured = self._frames.count
        logger.info("%s ended after %d frames", self.name, self._frames.count)

    def stats(self) -> dict:
        count = self._frames.count if self._frames is not None else None
        return {**self._book.counters(), "source": self.name, "frame_count": count,
                "fps": self._rate_fps if self.realtime else None, "loop": self.loop,
                "ended": self.ended}


def _natural_key(path: Path) -> list:
    # frame_2.png before frame_10.png; split() alternates text and digits, so keys compare.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


class _FolderFrames:
    """Numbered image files, decoded one at a time (a clip may be larger than the RAM budget)."""
    recorded_fps = None

    def __init__(self, folder: Path):
        self.paths = sorted((p for p in folder.iterdir()
                             if p.suffix.lower() in FRAME_SUFFIXES and p.is_file()),
                            key=_natural_key)
        if not self.paths:
            raise SourceError(f"clip folder {str(folder)!r} holds no {'/'.join(FRAME_SUFFIXES)} "
                              "frames: point --source at the folder the frames were recorded into")
        self.count: int | None = len(self.paths)

    def frame(self, index: int) -> np.ndarray | None:
        image = cv2.imread(str(self.paths[index]), cv2.IMREAD_COLOR)
        if image is None:
            logger.warning("clip frame %s does not decode; skipped", self.paths[index])
        return image

    def close(self) -> None:
        pass


class _VideoFrames:
    """A video file decoded forward; its length is learnt when a read runs past the end."""

    def __init__(self, path: Path):
        self.path = path
        self.count: int | None = None
        self._capture = self._open()
        self._next_index = 0
        self.recorded_fps = float(self._capture.get(cv2.CAP_PROP_FPS))

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"cannot open video file {str(self.path)!r}: OpenCV cannot read it (not a video, "
                "damaged, or a codec its FFMPEG lacks). Re-encode it, e.g. "
                f"`ffmpeg -i {self.path.name} -c:v mjpeg clip.avi`, or give a folder of frames.")
        return capture

    def frame(self, index: int) -> np.ndarray | None:
        """Frame `index`, or None once the file ends before it (then count is set)."""
        if index < self._next_index:
            # Back to the start for a loop: re-opening is exact in every container,
            # seeking (CAP_PROP_POS_FRAMES) only in some.
            self._capture.release()
            self._capture, self._next_index = self._open(), 0
        while self._next_index < index:   # frames a slow reader skipped: grab, do not decode
            if not self._capture.grab():
                self.count = self._next_index
                return None
            self._next_index += 1
        ok, image = self._capture.read()
        if not ok:
            self.count = self._next_index
            return None
        self._next_index += 1
        return image

    def close(self) -> None:
        self._capture.release()
