"""Captures: real video files and folders of PNGs, real cv2.VideoCapture, a fake clock.

Every frame carries its number in its pixels (eight black/white stripes, one
per bit, wide enough to survive MJPG), so a test reads back which frame a
source really returned, not only the id it claims. Timing is judged on a fake
clock; the only real waits are bounded polls for a reader thread to catch up.
"""
import queue
import re
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from spikebox.runtime.source import (CameraSource, Capture, ClipSource, Source, SourceClosed,
                                     SourceError, SourceLost, open_source)

H, W, BITS = 48, 64, 8


class FakeClock:
    def __init__(self, t: float = 100.0):
        self.t = t

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def numbered_image(n: int) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    for bit in range(BITS):
        if n >> bit & 1:
            img[:, bit * (W // BITS):(bit + 1) * (W // BITS)] = 255
    return img


def number_of(img: np.ndarray) -> int:
    stripes = img.reshape(H, BITS, W // BITS, 3).mean(axis=(0, 2, 3))
    return sum(1 << bit for bit in range(BITS) if stripes[bit] > 128)


def write_video(path: Path, n_frames: int, fps: float = 20.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (W, H))
    assert writer.isOpened()
    for n in range(n_frames):
        writer.write(numbered_image(n))
    writer.release()
    return path


def write_folder(folder: Path, n_frames: int) -> Path:
    folder.mkdir()
    for n in range(n_frames):   # unpadded numbers: frame_10 must come after frame_9
        assert cv2.imwrite(str(folder / f"frame_{n}.png"), numbered_image(n))
    return folder


def wait_for(condition, what: str, timeout_s: float = 20.0) -> None:
    """Poll until a reader thread has caught up; a guard against a hang, not a timing test."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture(params=["video", "folder"])
def clip_path(request, tmp_path):
    """Ten frames recorded at 20 fps, as a video file or a folder of PNGs (+ its fps)."""
    if request.param == "video":
        return write_video(tmp_path / "clip.avi", 10), None
    return write_folder(tmp_path / "frames", 10), 20.0


def test_numbered_frames_survive_mjpg(tmp_path):
    with ClipSource(write_video(tmp_path / "c.avi", 12), realtime=False) as clip:
        assert [number_of(clip.read_latest(None).image) for _ in range(12)] == list(range(12))


# -- paced replay -------------------------------------------------------------------------

def test_paced_replay_returns_the_frame_for_the_clocks_time(clip_path, clock):
    path, fps = clip_path
    with ClipSource(path, fps=fps, clock=clock.now) as clip:
        first = clip.read_latest(None)
        assert (first.frame_id, first.t_monotonic_s, number_of(first.image)) == (0, 100.0, 0)
        clock.advance(0.05)
        second = clip.read_latest(None)
        assert (second.frame_id, number_of(second.image)) == (1, 1)
        assert second.t_monotonic_s == pytest.approx(100.05)
        clock.advance(0.02)              # still inside frame 1's 50 ms
        assert clip.read_latest(None) is second
        clock.advance(0.13)              # a slow consumer: 200 ms after open is frame 4
        fourth = clip.read_latest(None)
        assert (fourth.frame_id, number_of(fourth.image)) == (4, 4)
        assert fourth.t_monotonic_s == pytest.approx(100.2)   # when frame 4 became current
        stats = clip.stats()
    assert stats["frames_returned"] == 4 and stats["frames_repeated"] == 1
    assert stats["frames_dropped"] == 2          # frames 2 and 3: their time passed unread
    assert stats["frames_captured"] == 5 and stats["fps"] == 20.0


def test_stale_reads_return_none_and_are_counted(clip_path, clock):
    path, _ = clip_path
    with ClipSource(path, fps=5.0, clock=clock.now) as clip:   # 5 fps: a frame lasts 200 ms
        assert clip.read_latest(max_age_ms=50).frame_id == 0       # age 0
        clock.advance(0.08)
        assert clip.read_latest(max_age_ms=50) is None              # frame 0 is 80 ms old
        assert clip.read_latest(max_age_ms=100).frame_id == 0
        assert clip.read_latest(max_age_ms=None).frame_id == 0      # no limit
        clock.advance(0.13)                                         # frame 1 became current 10 ms ago
        assert clip.read_latest(max_age_ms=50).frame_id == 1
        with pytest.raises(ValueError):
            clip.read_latest(max_age_ms=-1)
        stats = clip.stats()
    assert stats["stale_reads"] == 1 and stats["frames_returned"] == 4


@pytest.mark.parametrize("loop", [False, True])
def test_paced_end_of_clip(clip_path, clock, loop):
    path, fps = clip_path
    with ClipSource(path, fps=fps, loop=loop, clock=clock.now) as clip:
        clock.advance(0.45)
        assert clip.read_latest(None).frame_id == 9
        clock.advance(0.11)              # 560 ms: past the tenth frame's 50 ms
        capture = clip.read_latest(None)
        if loop:                         # ids keep counting; the pictures start again
            assert (capture.frame_id, number_of(capture.image), clip.ended) == (11, 1, False)
        else:
            assert capture is None and clip.ended
            clock.advance(1.0)
            assert clip.read_latest(None) is None
            assert clip.stats()["frames_captured"] == 10 and clip.stats()["frame_count"] == 10


@pytest.mark.parametrize("loop", [False, True])
def test_stepped_replay_gives_every_frame_once(clip_path, clock, loop):
    path, _ = clip_path   # a stepped folder needs no fps
    with ClipSource(path, loop=loop, realtime=False, clock=clock.now) as clip:
        captures = []
        for _ in range(25):
            clock.advance(1.0)           # however slow the reader, nothing is skipped
            captures.append(clip.read_latest(max_age_ms=0))
        stats = clip.stats()
    if loop:
        assert [c.frame_id for c in captures] == list(range(25))
        assert [number_of(c.image) for c in captures] == [i % 10 for i in range(25)]
        assert [c.t_monotonic_s for c in captures] == [101.0 + i for i in range(25)]
    else:
        assert [number_of(c.image) for c in captures[:10]] == list(range(10))
        assert captures[10:] == [None] * 15 and clip.ended
    assert stats["frames_dropped"] == 0 and stats["stale_reads"] == 0


def test_folder_frame_that_does_not_decode_is_counted(tmp_path, clock):
    folder = write_folder(tmp_path / "frames", 4)
    (folder / "frame_2.png").write_bytes(b"not a png")
    with ClipSource(folder, realtime=False, clock=clock.now) as clip:
        got = [clip.read_latest(None) for _ in range(4)]
        assert [number_of(c.image) if c else None for c in got] == [0, 1, None, 3]
        assert clip.stats()["read_failures"] == 1


def test_clips_that_cannot_play_name_the_file(tmp_path):
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"junk" * 100)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no frames here")
    cases = {junk: "cannot open video file", tmp_path / "empty": "holds no",
             tmp_path / "missing.avi": "no such file"}
    for path, words in cases.items():
        with pytest.raises(SourceError, match=words) as err:
            ClipSource(path, fps=10).open()
        assert str(path) in str(err.value)
    with pytest.raises(SourceError, match="fps="):   # a paced folder must be told its rate
        ClipSource(write_folder(tmp_path / "frames", 2)).open()


def test_read_before_open_and_after_close(clip_path):
    path, fps = clip_path
    clip = ClipSource(path, fps=fps)
    with pytest.raises(SourceClosed, match="before open"):
        clip.read_latest(None)
    clip.open()
    clip.close()
    clip.close()
    with pytest.raises(SourceClosed):
        clip.read_latest(None)


def test_capture_is_a_read_only_bgr_frame():
    capture = Capture(0, 1.0, numbered_image(3))
    with pytest.raises(ValueError):
        capture.image[0, 0, 0] = 1
    for bad in (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)):
        with pytest.raises(ValueError, match="BGR uint8"):
            Capture(0, 1.0, bad)


# -- camera -------------------------------------------------------------------------------

def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("source:")]


def test_camera_on_a_real_video_file_keeps_only_the_newest_frame(tmp_path, clock):
    """cv2.VideoCapture reads files too: the reader thread and real OpenCV, no stand-in."""
    path = write_video(tmp_path / "cam.avi", 10)
    camera = CameraSource(str(path), clock=clock.now, lost_after_ms=1000)
    with camera:
        wait_for(lambda: camera.stats()["read_failures"] > 0, "the file's end")
        newest = camera.read_latest(None)
        assert (newest.frame_id, number_of(newest.image), newest.t_monotonic_s) == (9, 9, 100.0)
        stats = camera.stats()
        assert stats["frames_captured"] == 10 and stats["frames_dropped"] == 9
        assert stats["device_gave"] == {"backend": "FFMPEG", "width_px": W, "height_px": H,
                                        "fps": 20.0, "buffer_size": stats["device_gave"]["buffer_size"]}
        clock.advance(1.5)               # the "camera" delivers nothing more
        with pytest.raises(SourceLost, match=r"no frame for 1500 ms \(since frame 9"):
            camera.read_latest(None)
    assert not _readers()
    with pytest.raises(SourceClosed, match="after close"):
        camera.read_latest(None)


class StandInCamera:
    """Hardware that cannot exist here: a camera that gives exactly the frames a test hands it.

    Its read() waits briefly for a frame and otherwise fails, as a V4L2 read does
    when the device stops delivering; `block` makes read() hang like a dead device.
    """

    def __init__(self):
        self.frames: queue.Queue = queue.Queue()
        self.block = threading.Event()
        self.unblock = threading.Event()
        self.blocked = threading.Event()
        self.released = threading.Event()
        self.asked: dict[int, float] = {}
        self.error: Exception | None = None

    def factory(self, device, api_preference):
        self.opened_with = (device, api_preference)
        self.released.clear()
        return self

    def deliver(self, source: CameraSource, n: int) -> None:
        before = source.stats()["frames_captured"]
        self.frames.put(numbered_image(n))
        wait_for(lambda: source.stats()["frames_captured"] > before, f"frame {n}")

    def isOpened(self):
        return True

    def read(self):
        if self.block.is_set():
            self.blocked.set()
            self.unblock.wait()
        if self.error is not None:
            raise self.error
        try:
            return True, self.frames.get(timeout=0.005)
        except queue.Empty:
            return False, None

    def set(self, prop, value):
        self.asked[prop] = value
        return prop == cv2.CAP_PROP_BUFFERSIZE   # it takes the buffer size, not the resolution

    def get(self, prop):
        return {cv2.CAP_PROP_FRAME_WIDTH: 320, cv2.CAP_PROP_FRAME_HEIGHT: 240,
                cv2.CAP_PROP_FPS: 30.0, cv2.CAP_PROP_BUFFERSIZE: 1}.get(prop, 0.0)

    def getBackendName(self):
        return "STAND-IN"

    def release(self):
        self.released.set()


def test_camera_ids_timestamps_staleness_and_loss(clock):
    device = StandInCamera()
    camera = CameraSource(0, width_px=640, height_px=480, clock=clock.now,
                          capture_factory=device.factory)
    with camera:
        assert device.asked[cv2.CAP_PROP_BUFFERSIZE] == 1 and device.asked[cv2.CAP_PROP_FRAME_WIDTH] == 640
        assert camera.stats()["device_gave"]["width_px"] == 320   # what it gave, not what we asked
        assert camera.read_latest(None) is None                   # nothing captured yet
        seen = []
        for n in range(3):
            device.deliver(camera, n)
            seen.append(camera.read_latest(max_age_ms=0))
            clock.advance(0.01)
        assert [(c.frame_id, number_of(c.image)) for c in seen] == [(0, 0), (1, 1), (2, 2)]
        assert [c.t_monotonic_s for c in seen] == pytest.approx([100.0, 100.01, 100.02])
        device.deliver(camera, 3)
        device.deliver(camera, 4)                                  # 3 is overwritten unread
        assert camera.read_latest(None).frame_id == 4
        clock.advance(0.2)
        assert camera.read_latest(max_age_ms=100) is None          # 200 ms old: stale
        assert camera.read_latest(max_age_ms=None).frame_id == 4   # the same frame, again
        stats = camera.stats()
        assert {k: stats[k] for k in ("frames_captured", "frames_returned", "frames_dropped",
                                      "frames_repeated", "stale_reads", "empty_reads")} == {
            "frames_captured": 5, "frames_returned": 5, "frames_dropped": 1,
            "frames_repeated": 1, "stale_reads": 1, "empty_reads": 1}
        clock.advance(0.85)                                        # 1.05 s since frame 4
        with pytest.raises(SourceLost) as lost:
            camera.read_latest(None)
        assert re.search(r"camera 0: no frame for 1050 ms \(since frame 4, at t=100\.030", str(lost.value))
        assert "unplugged" in str(lost.value)
    assert device.released.is_set() and not _readers()


def test_camera_that_never_delivers_is_lost_counting_from_open(clock):
    device = StandInCamera()
    with CameraSource(0, lost_after_ms=300, clock=clock.now, capture_factory=device.factory) as camera:
        wait_for(lambda: camera.stats()["read_failures"] > 0, "a failed read")
        clock.advance(0.29)
        assert camera.read_latest(None) is None    # silent, but not for 300 ms yet
        clock.advance(0.02)
        with pytest.raises(SourceLost, match="since open"):
            camera.read_latest(None)
        camera.close()
        camera.open()                              # a re-open starts the silence count again
        assert camera.read_latest(None) is None
        device.deliver(camera, 7)
        assert camera.read_latest(None).frame_id == 0
    assert not _readers()


def test_camera_close_does_not_hang_on_a_blocked_read(clock):
    """A dead V4L2 device can block a read for seconds: close() returns, the reader
    releases the device itself once the read gives up."""
    device = StandInCamera()
    camera = CameraSource(0, clock=clock.now, capture_factory=device.factory)
    camera.open()
    device.block.set()
    assert device.blocked.wait(20)
    camera.close()
    assert not device.released.is_set()          # not released under a read in progress
    device.unblock.set()
    assert device.released.wait(20)
    wait_for(lambda: not _readers(), "the reader to exit")


def test_camera_reader_error_becomes_source_lost(clock):
    device = StandInCamera()
    device.error = OSError("USB disconnect")
    with CameraSource(0, clock=clock.now, capture_factory=device.factory) as camera:
        wait_for(lambda: device.released.is_set(), "the reader to stop")
        with pytest.raises(SourceLost, match="USB disconnect"):
            camera.read_latest(None)


def test_camera_index_that_does_not_exist(clock):
    if Path("/dev/video97").exists():
        pytest.skip("this machine has a /dev/video97")
    with pytest.raises(SourceError, match=r"camera index 97 \(/dev/video97\).*v4l2-ctl"):
        CameraSource(97, clock=clock.now).open()
    assert not _readers()


# -- open_source --------------------------------------------------------------------------

def _opencv_has_gstreamer() -> bool:
    return re.search(r"GStreamer:\s+YES", cv2.getBuildInformation()) is not None


def test_open_source_picks_the_kind_the_spec_names(tmp_path, clock):
    video = write_video(tmp_path / "run.avi", 3)
    folder = write_folder(tmp_path / "frames", 3)
    for spec, kwargs in ((str(video), {}), (folder, {"fps": 10.0})):
        with open_source(str(spec), clock=clock.now, **kwargs) as source:
            assert isinstance(source, ClipSource) and isinstance(source, Source)
            assert number_of(source.read_latest(None).image) == 0
    with open_source("sim:short:2", clock=clock.now) as source:   # tests/test_sim_source.py
        assert type(source).__name__ == "SimSource" and isinstance(source, Source)
        assert source.name == "sim course 'short' seed 2"
    with pytest.raises(SourceError, match="no course 'nowhere'"):
        open_source("sim:nowhere")
    for spec in (97, "97", " 97 "):
        with pytest.raises(SourceError, match="camera index 97"):
            open_source(spec)
    with pytest.raises(SourceError, match="cannot open camera '/dev/null'"):   # a device path
        open_source("/dev/null")
    with pytest.raises(SourceError, match="no such file or folder.*GStreamer pipeline"):
        open_source(str(tmp_path / "nothing.avi"))
    assert not _readers()


def test_pipeline_spec_says_whether_opencv_has_gstreamer():
    pipeline = "nvarguscamerasrc ! nvvidconv ! video/x-raw,format=BGR ! appsink"
    with pytest.raises(SourceError) as err:
        open_source(pipeline)
    message = str(err.value)
    assert pipeline in message
    if _opencv_has_gstreamer():
        assert "gst-launch-1.0" in message
    else:
        assert "built without GStreamer" in message
        assert "JetPack" in message and "WITH_GSTREAMER=ON" in message
