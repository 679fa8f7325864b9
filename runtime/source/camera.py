"""A live camera: OpenCV VideoCapture on a device index, a device path or a GStreamer pipeline.

Data path step 1: **camera** ─► encoder. A reader thread grabs frames as fast
as the device gives them and keeps only the newest, so the control loop always
sees the present, never a queue of the past. Frame ids count every frame the
device delivered; the gap between two reads is what the loop skipped.

A Jetson CSI camera is a GStreamer pipeline that ends in BGR and an appsink
that drops rather than queues, e.g.
    nvarguscamerasrc ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1
    ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR
    ! appsink drop=1 max-buffers=1
(a pipeline sets its size and rate in its caps: width/height/fps here do nothing).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Protocol

import cv2
import numpy as np

from .capture import Capture, Clock, ReadBook, SourceClosed, SourceError, SourceLost

logger = logging.getLogger(__name__)

_RETRY_S = 0.01        # after a failed read: a dead device fails at once, and must not spin a core
_JOIN_TIMEOUT_S = 0.5  # close() waits this long for the reader; a dead V4L2 device can block a
                       # read for 10 s, and then the reader releases the device itself when it returns


class VideoCaptureLike(Protocol):
    """The part of cv2.VideoCapture the camera uses (a test stands in for hardware with it)."""
    def isOpened(self) -> bool: ...
    def read(self) -> tuple[bool, np.ndarray | None]: ...
    def set(self, prop: int, value: float) -> bool: ...
    def get(self, prop: int) -> float: ...
    def getBackendName(self) -> str: ...
    def release(self) -> None: ...


def gstreamer_available() -> bool:
    return cv2.videoio_registry.hasBackend(cv2.CAP_GSTREAMER)


def _no_gstreamer_message(pipeline: str) -> str:
    return (f"cannot open GStreamer pipeline {pipeline!r}: this OpenCV ({cv2.__version__}) was "
            "built without GStreamer (cv2.getBuildInformation() says 'GStreamer: NO'). Fix: on a "
            "Jetson use JetPack's OpenCV (make the venv with --system-site-packages and "
            "`pip uninstall opencv-python-headless` so the pip wheel does not shadow it), or build "
            "opencv-python with GStreamer (git clone https://github.com/opencv/opencv-python; "
            "CMAKE_ARGS='-DWITH_GSTREAMER=ON' pip wheel .; pip install the wheel).")


class CameraSource:
    """Newest-frame-wins capture from a live device (see the module docstring).

    device: a camera index (0 = /dev/video0), a device or file path, or a GStreamer
        pipeline (then api_preference=cv2.CAP_GSTREAMER).
    width_px, height_px, fps: asked of the device when given; stats() says what it gave.
    lost_after_ms: no frame for this long (since the last one, or since open()) makes
        read_latest raise SourceLost.
    clock: stamps frames and judges age and loss; time.monotonic on the robot.
    capture_factory: builds the VideoCapture from (device, api_preference).
    """

    def __init__(self, device: int | str, *, width_px: int | None = None,
                 height_px: int | None = None, fps: float | None = None,
                 lost_after_ms: float = 1000.0, api_preference: int = cv2.CAP_ANY,
                 clock: Clock = time.monotonic,
                 capture_factory: Callable[[int | str, int], VideoCaptureLike] = cv2.VideoCapture):
        for label, value in (("width_px", width_px), ("height_px", height_px), ("fps", fps)):
            if value is not None and value <= 0:
                raise ValueError(f"CameraSource {label} must be > 0 or None, got {value}")
        if lost_after_ms <= 0:
            raise ValueError(f"CameraSource lost_after_ms must be > 0, got {lost_after_ms}")
        self.device = device
        self.requested = {"width_px": width_px, "height_px": height_px, "fps": fps}
        self.lost_after_ms = lost_after_ms
        self.api_preference = api_preference
        self.ended = False   # a live camera never ends; it is lost (SourceLost) or closed
        self._clock, self._factory = clock, capture_factory
        self._lock = threading.Lock()
        self._book = ReadBook()
        self._newest: Capture | None = None
        self._next_id = 0
        self._opened_at_s = 0.0
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()   # one per reader: a reader blocked past close() stays stopped
        self._reader_error: BaseException | None = None
        self._device_gave: dict = {}

    @property
    def name(self) -> str:
        if self.api_preference == cv2.CAP_GSTREAMER:
            return f"GStreamer pipeline {self.device!r}"
        return f"camera {self.device}" if isinstance(self.device, int) else f"camera {self.device!r}"

    # -- open / close -------------------------------------------------------------------
    def open(self) -> None:
        if self._reader is not None:
            return
        if self.api_preference == cv2.CAP_GSTREAMER and not gstreamer_available():
            raise SourceError(_no_gstreamer_message(str(self.device)))
        cap = self._factory(self.device, self.api_preference)
        if not cap.isOpened():
            cap.release()
            raise SourceError(self._cannot_open_message())
        # V4L2 queues several frames by default: without this the loop reads the past.
        # GStreamer ignores it (its appsink's drop=1 max-buffers=1 does the same).
        if not cap.set(cv2.CAP_PROP_BUFFERSIZE, 1):
            logger.debug("%s: the backend does not take CAP_PROP_BUFFERSIZE", self.name)
        for prop, key in ((cv2.CAP_PROP_FRAME_WIDTH, "width_px"),
                          (cv2.CAP_PROP_FRAME_HEIGHT, "height_px"), (cv2.CAP_PROP_FPS, "fps")):
            if self.requested[key] is not None:
                cap.set(prop, float(self.requested[key]))
        self._device_gave = {
            "backend": cap.getBackendName(),
            "width_px": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            "height_px": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            "fps": float(cap.get(cv2.CAP_PROP_FPS)),
            "buffer_size": int(cap.get(cv2.CAP_PROP_BUFFERSIZE)),
        }
        for key, want in self.requested.items():
            if want is not None and self._device_gave[key] != want:
                logger.warning("%s: asked for %s=%s, the device gives %s",
                               self.name, key, want, self._device_gave[key])
        with self._lock:
            self._newest = None   # a frame from before a re-open would read as a silent device
            self._reader_error = None
        self._stop = threading.Event()
        self._opened_at_s = self._clock()
        self._reader = threading.Thread(target=self._read_frames, args=(cap, self._stop),
                                        name=f"source:{self.name}", daemon=True)
        self._reader.start()
        logger.info("%s open: %s", self.name, self._device_gave)

    def _cannot_open_message(self) -> str:
        if self.api_preference == cv2.CAP_GSTREAMER:
            return (f"cannot open GStreamer pipeline {self.device!r}: check it with "
                    "`gst-launch-1.0` (with fakesink in place of appsink); for OpenCV it must "
                    "end in video/x-raw,format=BGR ! appsink")
        if isinstance(self.device, int):
            return (f"cannot open camera index {self.device} (/dev/video{self.device}): no such "
                    "device, or another process holds it. List cameras with "
                    "`v4l2-ctl --list-devices` (or ls /dev/video*) and pass an index that exists.")
        return f"cannot open camera {self.device!r}: no such device or file, or it is busy"

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is None:
            return
        self._stop.set()
        reader.join(_JOIN_TIMEOUT_S)
        if reader.is_alive():
            logger.warning("%s: the reader is blocked in a device read; it releases the "
                           "device when the read returns", self.name)

    def __enter__(self) -> "CameraSource":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the reader thread --------------------------------------------------------------
    def _read_frames(self, cap: VideoCaptureLike, stop: threading.Event) -> None:
        # Decoding every frame here (read, not grab) costs a core's share at high rates,
        # but keeps the device in one thread: VideoCapture is not safe across threads.
        try:
            while not stop.is_set():
                ok, image = cap.read()
                t_s = self._clock()   # stamped when the driver hands it over, after exposure
                image = _as_bgr(image) if ok else None
                if image is None:
                    with self._lock:
                        self._book.read_failures += 1
                    stop.wait(_RETRY_S)
                    continue
                with self._lock:
                    if stop.is_set():
                        break
                    self._newest = Capture(self._next_id, t_s, image)
                    self._next_id += 1
                    self._book.frames_captured += 1
        except BaseException as exc:   # noqa: BLE001 - handed to the reading thread as SourceLost
            if not stop.is_set():
                self._reader_error = exc
        finally:
            cap.release()   # here, never from close(): releasing under a blocked read crashes

    # -- reading ------------------------------------------------------------------------
    def read_latest(self, max_age_ms: float | None) -> Capture | None:
        if self._reader is None:
            raise SourceClosed(f"{self.name}: read_latest() before open() or after close()")
        now_s = self._clock()
        with self._lock:
            newest = self._newest
            if self._reader_error is not None:
                raise SourceLost(f"{self.name}: the reader failed ({self._reader_error!r}) after "
                                 f"{self._book.frames_captured} frames") from self._reader_error
            since_s, since = ((newest.t_monotonic_s, f"since frame {newest.frame_id}")
                              if newest is not None else (self._opened_at_s, "since open()"))
            silent_ms = (now_s - since_s) * 1000.0
            if silent_ms > self.lost_after_ms:
                raise SourceLost(
                    f"{self.name}: no frame for {silent_ms:.0f} ms ({since}, at t={since_s:.3f} s "
                    f"monotonic; limit {self.lost_after_ms:.0f} ms, {self._book.read_failures} "
                    "failed reads): unplugged, or the pipeline died? close() and open() again.")
            return self._book.serve(newest, now_s, max_age_ms)

    def stats(self) -> dict:
        with self._lock:
            counters = self._book.counters()
        return {**counters, "source": self.name,
                "requested": dict(self.requested), "device_gave": dict(self._device_gave)}


def _as_bgr(image: np.ndarray | None) -> np.ndarray | None:
    """The frame as BGR uint8 (h, w, 3), or None if the device gave something else."""
    if image is None or image.dtype != np.uint8:
        return None
    if image.ndim == 2:   # a mono sensor, or CAP_PROP_CONVERT_RGB off
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    return None
