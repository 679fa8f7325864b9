"""The simulated world as a source: frames of the demo world under the capture contract.

    with SimSource(course="tour", seed=0, fps=30) as source:   # or open_source("sim:tour:0")
        link = Link(LinkConfig(url=source.serial_url))       # the robot's MCU: the firmware core
        capture = source.read_latest(max_age_ms=100)
        truth = source.truth(capture.frame_id)               # what a perfect expert would say

Data path step 1: **sim** ─► encoder, in place of a camera. Live (`realtime=True`)
the world runs on the monotonic clock: the reference firmware core behind a
pseudo-terminal (`serial_url`) drives the robot as a serial MCU would, and
`read_latest` renders the frame whose time has come at the robot's pose then
(frame ids count frames of the clock, so a slow reader sees gaps, as with a
camera), stamped with the time it was drawn. Stepped (`realtime=False`) each
read advances the world's virtual time by one frame period and renders; the
firmware's clock is then the world's, not the wall's.

The ground truth of the last `truth_frames` frames is kept (`truth(frame_id)`):
the daemon logs it, the routing benchmark scores against it.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict

from spikebox.runtime.sim.course import DEFAULT_COURSE
from spikebox.runtime.sim.truth import GroundTruth
from spikebox.runtime.sim.world import SimWorld, WorldConfig

from .capture import Capture, Clock, ReadBook, SourceClosed, SourceError

logger = logging.getLogger(__name__)

_FRAME_EPSILON = 1e-6   # as ClipSource: clock arithmetic must not put a frame boundary late


class SimSource:
    """The demo world behind the Source contract (see the module docstring)."""

    def __init__(self, *, course: str = DEFAULT_COURSE, seed: int = 0, width_px: int = 160,
                 height_px: int = 120, fps: float = 30.0, realtime: bool = True,
                 randomize: bool = False, serial: bool = True, clock: Clock = time.monotonic,
                 truth_frames: int = 64):
        if not fps > 0 or truth_frames < 1:
            raise ValueError(f"SimSource: fps ({fps}) must be > 0 and truth_frames "
                             f"({truth_frames}) >= 1")
        try:
            self.config = WorldConfig(course=course, width_px=width_px, height_px=height_px,
                                      randomize=randomize)
        except ValueError as exc:
            raise SourceError(f"--source sim: {exc}") from None
        self.seed, self.fps, self.realtime, self.serial = seed, float(fps), realtime, serial
        self.ended = False     # the world never ends
        self.serial_url: str | None = None
        self._clock, self._truth_frames = clock, truth_frames
        self._world: SimWorld | None = None
        self._book = ReadBook()
        self._newest: Capture | None = None
        self._truths: OrderedDict[int, GroundTruth] = OrderedDict()
        self._t0_s = 0.0
        self._next_step = 0

    @property
    def name(self) -> str:
        return f"sim course {self.config.course!r} seed {self.seed}"

    def open(self) -> None:
        if self._world is not None:
            return
        self._world = SimWorld(self.config, seed=self.seed)
        if self.serial:
            self.serial_url = self._world.mcu.serve_pty(realtime=self.realtime)
        self._book, self._newest, self._next_step = ReadBook(), None, 0
        self._truths.clear()
        self._t0_s = self._clock()
        logger.info("%s open: %dx%d at %g fps, %s; MCU on %s", self.name, self.config.width_px,
                    self.config.height_px, self.fps, "real time" if self.realtime else "stepped",
                    self.serial_url)

    def close(self) -> None:
        world, self._world = self._world, None
        if world is not None:
            world.close()
            self.serial_url = None

    def __enter__(self) -> "SimSource":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read_latest(self, max_age_ms: float | None) -> Capture | None:
        world = self._world
        if world is None:
            raise SourceClosed(f"{self.name}: read_latest() before open() or after close()")
        now_s = self._clock()
        if self.realtime:
            due = int((now_s - self._t0_s) * self.fps + _FRAME_EPSILON)
            if self._newest is None or due > self._newest.frame_id:
                self._capture(world, due, now_s)
        else:
            frame_id = self._next_step
            self._next_step += 1
            if frame_id:
                world.advance(round(frame_id * 1000.0 / self.fps)
                              - round((frame_id - 1) * 1000.0 / self.fps))
            self._capture(world, frame_id, now_s)
        return self._book.serve(self._newest, now_s, max_age_ms)

    def _capture(self, world: SimWorld, frame_id: int, now_s: float) -> None:
        # Under the MCU's lock, so the physics thread cannot move the robot between the
        # pose the frame is drawn at and the pose its truth is computed at.
        with world.mcu.lock:
            image = world.render(frame_id)
            truth = world.truth()
        self._newest = Capture(frame_id, now_s, image)
        self._book.frames_captured = max(self._book.frames_captured, frame_id + 1)
        self._truths[frame_id] = truth
        while len(self._truths) > self._truth_frames:
            self._truths.popitem(last=False)

    def truth(self, frame_id: int) -> GroundTruth | None:
        """The ground truth of a frame this source returned, while it is among the last
        `truth_frames` drawn; None for any other id."""
        return self._truths.get(frame_id)

    @property
    def world(self) -> SimWorld:
        """The world itself (its course, the robot's MCU); SourceClosed when not open."""
        if self._world is None:
            raise SourceClosed(f"{self.name}: not open")
        return self._world

    def stats(self) -> dict:
        world = self._world
        return {**self._book.counters(), "source": self.name, "fps": self.fps,
                "realtime": self.realtime, "course": self.config.course, "seed": self.seed,
                "size_px": [self.config.width_px, self.config.height_px],
                "serial_url": self.serial_url,
                "collisions": world.collisions if world is not None else None,
                "world_ms": world.t_ms if world is not None else None}
