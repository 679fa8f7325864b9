"""What a source hands the encoder, the contract every source keeps, and its errors.

Data path step 1: **source** ─► encoder. A camera, a recorded clip and (issue
#10) the simulated world all produce `Capture`s and all keep the `Source`
contract, so the daemon reads `read_latest(max_age_ms)` once per control cycle
without knowing which one it has. The bookkeeping that makes "an old frame is
not the latest frame" true is here once (`ReadBook`), shared by every source.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Callable, Protocol, runtime_checkable

import numpy as np

logger = logging.getLogger(__name__)

Clock = Callable[[], float]   # seconds on a monotonic clock; time.monotonic on the robot


class SourceError(RuntimeError):
    """A source cannot be opened (the message names the device, file or pipeline and
    the fix); also the base of every error a source raises."""


class SourceLost(SourceError):
    """A source that was delivering frames stopped (camera unplugged, pipeline died)."""


class SourceClosed(SourceError):
    """read_latest() before open() or after close()."""


# eq=False: comparing two captures would compare their images element-wise, which is
# neither cheap nor a bool; a capture is the same capture only if it is the same object.
@dataclass(frozen=True, eq=False)
class Capture:
    """One frame as the source captured it.

    `image` is made read-only: a source may hand the same capture to several
    reads (no newer frame yet), so a consumer that draws on it copies it first.
    """
    frame_id: int          # +1 per frame the source captured; a gap is frames the reader skipped
    t_monotonic_s: float   # the source clock's time when the frame was captured
    image: np.ndarray      # BGR uint8, (height, width, 3)

    def __post_init__(self):
        img = self.image
        if not (isinstance(img, np.ndarray) and img.dtype == np.uint8
                and img.ndim == 3 and img.shape[2] == 3):
            what = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
            raise ValueError(f"Capture.image must be a BGR uint8 (h, w, 3) array, got {what}")
        img.flags.writeable = False

    def age_ms(self, now_s: float) -> float:
        return (now_s - self.t_monotonic_s) * 1000.0


@runtime_checkable
class Source(Protocol):
    """The contract of every frame source (camera, clip, sim)."""
    name: str     # what was opened, for messages: "camera 0", "clip /data/run3.avi"
    ended: bool   # True once a finite source has nothing more to give (a clip without loop)

    def open(self) -> None:
        """Start capturing; SourceError naming the device and the fix if it cannot."""

    def read_latest(self, max_age_ms: float | None) -> Capture | None:
        """The newest capture, or None when there is none yet, it is older than
        `max_age_ms` by the source's clock (None: no limit), or the source ended.
        SourceLost if a working source stopped; SourceClosed if not open."""

    def close(self) -> None:
        """Stop capturing and release the device; safe to call twice."""

    def stats(self) -> dict:
        """Counters (see ReadBook) and what the device actually gave."""

    def __enter__(self) -> "Source": ...
    def __exit__(self, *exc) -> None: ...


@dataclass
class ReadBook:
    """The counters every source reports, and the one staleness rule they all apply."""
    frames_captured: int = 0   # frames the source produced (a paced clip: frames whose time came)
    frames_returned: int = 0   # reads that returned a capture
    frames_repeated: int = 0   # ... of which returned a frame already returned (no newer one yet)
    frames_dropped: int = 0    # captured frames no read returned: overwritten by a newer one
    stale_reads: int = 0       # reads that returned None: the newest frame was older than max_age_ms
    empty_reads: int = 0       # reads that returned None: nothing captured yet
    read_failures: int = 0     # device reads that gave no frame, clip frames that did not decode
    _last_returned_id: int = field(default=-1, repr=False)

    def serve(self, newest: Capture | None, now_s: float,
              max_age_ms: float | None) -> Capture | None:
        """Return `newest` if it is fresh enough, and count what the reader missed."""
        if max_age_ms is not None and max_age_ms < 0:
            raise ValueError(f"max_age_ms must be >= 0 or None, got {max_age_ms}")
        if newest is None:
            self.empty_reads += 1
            return None
        if max_age_ms is not None and newest.age_ms(now_s) > max_age_ms:
            self.stale_reads += 1
            return None
        if newest.frame_id == self._last_returned_id:
            self.frames_repeated += 1
        elif newest.frame_id > self._last_returned_id:
            self.frames_dropped += newest.frame_id - self._last_returned_id - 1
        self._last_returned_id = newest.frame_id
        self.frames_returned += 1
        return newest

    def counters(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}
