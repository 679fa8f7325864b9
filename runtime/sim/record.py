"""`spikebox sim --record DIR --seconds S`: the autopilot drives a course; frames and truth are kept.

    DIR/meta.json          course, seed, size, fps, look; "frames" and "complete" at the end
    DIR/frame_000000.png   one PNG a frame (a ClipSource replays the folder: --source DIR)
    DIR/truth.jsonl        one GroundTruth a line (truth.py), with "frame_id", "t_s", "file"

Time is the world's virtual clock, so a recording is as fast as the machine
renders and the same every time for the same seed. Each PNG is written to a
temporary name and renamed, and its truth line is appended after it: a recording
cut short leaves whole frames and a truth line for each of them (a last line cut
mid-write is the only damage; `read_truth` skips it).
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2

from spikebox.runtime.files import atomic_write, read_jsonl

from .autopilot import drive
from .world import SimWorld, WorldConfig

logger = logging.getLogger(__name__)

META = "meta.json"
TRUTH = "truth.jsonl"
FRAME_NAME = "frame_{:06d}.png"
RECORD_SCHEMA = 1


class RecordError(RuntimeError):
    pass


@dataclass(frozen=True)
class RecordResult:
    folder: Path
    frames: int
    seconds: float
    collisions: int
    docked: bool


def record(folder: str | os.PathLike, seconds: float, *, config: WorldConfig = WorldConfig(),
           seed: int = 0, fps: float = 20.0, progress=None) -> RecordResult:
    """Record `seconds` of world time at `fps` into `folder` (new, or empty)."""
    if seconds <= 0 or fps <= 0:
        raise RecordError(f"--seconds ({seconds}) and the frame rate ({fps}) must be > 0")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise RecordError(f"{folder} is not empty: record into a new folder (a recording "
                          "there would mix with what is in it)")
    n_frames = max(1, int(round(seconds * fps)))
    meta = {"schema": RECORD_SCHEMA, "course": config.course, "seed": seed,
            "width_px": config.width_px, "height_px": config.height_px, "fps": fps,
            "randomize": config.randomize, "frames": None, "complete": False}
    atomic_write(folder / META, json.dumps(meta, indent=1).encode())
    world = SimWorld(config, seed=seed)
    frames_done, docked_at = 0, None
    try:
        with open(folder / TRUTH, "a", encoding="utf-8") as truth_file:
            for image, truth in drive(world, n_frames, fps):
                name = FRAME_NAME.format(truth.frame_id)
                ok, png = cv2.imencode(".png", image)
                if not ok:
                    raise RecordError(f"could not encode frame {truth.frame_id} as PNG")
                atomic_write(folder / name, png.tobytes(), durable=False)
                line = {**truth.to_json(), "file": name}
                truth_file.write(json.dumps(line, separators=(",", ":")) + "\n")
                truth_file.flush()
                frames_done += 1
                if docked_at is None and truth.dock.aligned and truth.zone_kind == "dock":
                    docked_at = truth.frame_id
                if progress is not None and frames_done % 100 == 0:
                    progress(frames_done, n_frames)
        collisions = world.collisions
    finally:
        world.close()
    meta.update(frames=frames_done, complete=True, collisions=collisions)
    atomic_write(folder / META, json.dumps(meta, indent=1).encode())
    return RecordResult(folder, frames_done, frames_done / fps, collisions, docked_at is not None)


def read_truth(folder: str | os.PathLike) -> list[dict]:
    """The truth lines of a recording, skipping a last line an interruption cut short."""
    rows, cut = read_jsonl(Path(folder) / TRUTH, RecordError)
    if cut:
        logger.warning("%s: the last truth line is cut short (an interrupted recording)", folder)
    return rows
