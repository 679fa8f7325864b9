"""Replay a recording through the same pipeline: its frames, in order, into the box's encoder
and activator, to give the same spikes, frame for frame.

    replayed = replay_activator("runs/today", Box.open("models/demo.box"))
    replayed[12].spikes, replayed[12].fired           # the activator's output on frame 12
    check_replay("runs/today", box)                   # ReplayMismatch naming the first difference

Data path steps 1-3 again, offline: a ClipSource steps through the recording's frames/
folder (every frame, realtime=False) into a VisionLoop with the box's encoder and a fresh
activator, as the daemon built them; each frame is stamped with its recorded capture time, so
the awake sets (the hold is timed; the experts put to sleep by their own outputs are read
from the recording, as no expert runs here) come out the same too. The encoder and the activator carry
state from frame to frame, so replay is exact only over every frame the activator saw: a
recording with a frame missing, changed or dropped (the recorder fell behind) is refused, the
error naming the file.
"""
from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from spikebox.runtime.activator import make_activator
from spikebox.runtime.source import ClipSource, SourceError
from spikebox.runtime.source.clip import FRAME_SUFFIXES

from .config import RunConfig
from .record import FRAMES_DIR, FrameRecord, RecordError, Recording, image_sha256, read_recording
from .stages import STAGES, StageClock
from .vision import VisionLoop

logger = logging.getLogger(__name__)


class ReplayError(RecordError):
    """A recording that cannot be replayed exactly (the message names the file and why)."""


class ReplayMismatch(ReplayError):
    """The replay's activator output differs from the recorded output."""


@dataclass(frozen=True)
class ReplayedFrame:
    i: int                         # as FrameRecord.i
    fired: tuple[str, ...]
    awake: tuple[str, ...]
    spikes: tuple[int, ...]        # per expert, network order
    warmth: tuple[float, ...]


class _SetClock:
    """The replay's clock: the recorded capture time of the frame being replayed."""

    def __init__(self, t_s: float):
        self.t_s = t_s

    def __call__(self) -> float:
        return self.t_s


def replayable(recording: Recording) -> list[Path]:
    """The frame files to replay, in order; ReplayError if any frame the activator saw is not
    in the recording as it was written."""
    folder, frames = recording.folder, recording.frames
    if not frames:
        raise ReplayError(f"{folder}: no frames recorded; nothing to replay")
    if frames[0].file is None:
        raise ReplayError(f"{folder}: recorded without frames (a run report's recording); "
                          "record with frames to replay it")
    for k, frame in enumerate(frames):
        if frame.i != k:
            raise ReplayError(f"{folder / frame.file}: frame {k} before it is missing from the "
                              "recording (the recorder fell behind); the activator's state after "
                              "a gap cannot be rebuilt, so replay cannot be exact")
    dropped = recording.frames_dropped
    if dropped:
        raise ReplayError(f"{folder}: {dropped} frame(s) the activator saw were not recorded "
                          "(the recorder fell behind, see meta.json); replay cannot be exact")
    if not recording.finished:
        logger.warning("%s: the run did not finish (killed?); replaying the %d frames written",
                       folder, len(frames))
    paths = [folder / frame.file for frame in frames]
    for path in paths:
        if not path.is_file():
            raise ReplayError(f"{path}: missing; a frame the activator saw is gone, so replay "
                              "cannot be exact (restore the file or record the run again)")
    # A ClipSource steps through every image in the folder: nothing may stand between them.
    # (A last file without its line is a killed writer's: it is not stepped to.)
    listed = sorted(p for p in (folder / FRAMES_DIR).iterdir()
                    if p.suffix.lower() in FRAME_SUFFIXES and p.is_file())
    for want, got in zip(paths, listed):
        if want.name != got.name:
            raise ReplayError(f"{got}: not a frame of the recording (frames.jsonl has no line "
                              f"for it; {want.name} was expected); move it out of {got.parent}")
    return paths


def replay_activator(recording_dir: str | Path, box, *, backend: str | None = None
                     ) -> list[ReplayedFrame]:
    """The activator's output on every recorded frame, replayed through `box`'s encoder and
    a fresh activator (`backend`: the recorded run's unless given)."""
    recording = read_recording(recording_dir)
    paths = replayable(recording)
    recorded_box = recording.meta["box"]
    if hashlib.sha256(box.manifest_bytes).hexdigest() != recorded_box["manifest_sha256"]:
        raise ReplayError(f"{box.path}: not the box {recording.folder} was recorded with "
                          f"({recorded_box['path']}, manifest sha256 "
                          f"{recorded_box['manifest_sha256'][:12]}...); replay with that box")
    config = RunConfig.from_dict(recording.meta["config"])
    network, encoder = box.load_activator()
    clock = _SetClock(recording.frames[0].t_s)
    source = ClipSource(recording.folder / FRAMES_DIR, realtime=False, clock=clock)
    activator = make_activator(network, backend=backend or config.activator.backend)
    out = []
    try:
        try:
            source.open()                   # decodes the first frame
        except SourceError:
            raise ReplayError(f"{paths[0]}: does not decode as an image; the recording is "
                              "damaged, so replay cannot be exact") from None
        said = _RecordedVerdicts()
        vision = VisionLoop(source, encoder, activator, None, StageClock(STAGES, config),
                            max_frame_age_ms=math.inf,
                            awake_hold_s=config.activator.awake_hold_ms / 1000.0,
                            always_awake=tuple(config.activator.always_awake), verdicts=said,
                            clock=clock)
        for frame, path in zip(recording.frames, paths):
            clock.t_s = frame.t_s
            said.now = frozenset(frame.asleep)
            seen = vision.cycle()
            if seen is None:
                raise ReplayError(f"{path}: does not decode as an image; the recording is "
                                  "damaged, so replay cannot be exact")
            if image_sha256(seen.capture.image) != frame.image_sha256:
                raise ReplayError(f"{path}: its pixels are not the ones recorded (sha256 differs "
                                  "from frames.jsonl): the file changed after the run, so "
                                  "replay cannot be exact")
            out.append(ReplayedFrame(frame.i, seen.fired, seen.awake,
                                     tuple(seen.expert_spikes.tolist()),
                                     tuple(seen.expert_warmth.tolist())))
    finally:
        activator.close()
        source.close()
    return out


class _RecordedVerdicts:
    """The experts' say (verdicts.py) as the run recorded it: replay runs no expert."""
    now: frozenset[str] = frozenset()

    def asleep(self, now_s: float, resident=None) -> frozenset[str]:
        return self.now

    def waking(self, now_s: float) -> list[str]:
        return []


def first_difference(recorded: list[FrameRecord], replayed: list[ReplayedFrame]) -> str | None:
    """Where replay and recording part, said in words; None if they agree on every frame."""
    if len(recorded) != len(replayed):
        return f"{len(recorded)} frames recorded, {len(replayed)} replayed"
    for rec, rep in zip(recorded, replayed):
        for what in ("spikes", "fired", "awake", "warmth"):
            if getattr(rec, what) != getattr(rep, what):
                return (f"frame {rec.i} (id {rec.frame_id}): {what} recorded "
                        f"{getattr(rec, what)}, replayed {getattr(rep, what)}")
    return None


def check_replay(recording_dir: str | Path, box, *, backend: str | None = None) -> int:
    """Replay and compare; the number of frames that agree, or ReplayMismatch."""
    replayed = replay_activator(recording_dir, box, backend=backend)
    difference = first_difference(read_recording(recording_dir).frames, replayed)
    if difference is not None:
        raise ReplayMismatch(f"{recording_dir}: replay differs from the recording at {difference}")
    return len(replayed)
