"""What `spikebox sim` does (the parser is in spikebox/cli.py): record a drive, draw the sheet."""
from __future__ import annotations

import sys

from .record import RecordError, record
from .sheet import contact_sheet
from .world import WorldConfig


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size {text!r}: give WIDTHxHEIGHT, e.g. 160x120") from None
    return w, h


def run_sim_command(*, record: str | None, seconds: float | None, sheet: str | None, seed: int,
                    course: str, size: str, fps: float, randomize: bool) -> int:
    try:
        w, h = _size(size)
        config = WorldConfig(course=course, width_px=w, height_px=h, randomize=randomize)
    except ValueError as exc:
        print(f"spikebox sim: {exc}", file=sys.stderr)
        return 2
    if record:
        try:
            done = _record(record, seconds, config, seed, fps)
        except RecordError as exc:
            print(f"spikebox sim --record: {exc}", file=sys.stderr)
            return 1
        print(f"recorded {done.frames} frames ({done.seconds:g} s of world time, course "
              f"{course!r}, seed {seed}) into {done.folder}: frame_*.png, truth.jsonl, meta.json; "
              f"collisions {done.collisions}, {'docked' if done.docked else 'not docked yet'}")
    if sheet:
        shown = contact_sheet(sheet, seed=seed, width_px=w, height_px=h)
        for look, zones in shown.items():
            print(f"{look}: {', '.join(zones)}")
        print(f"contact sheet written to {sheet}")
    return 0


def _record(folder, seconds, config, seed, fps):
    def progress(done, total):
        print(f"  {done}/{total} frames", file=sys.stderr)
    return record(folder, seconds, config=config, seed=seed, fps=fps, progress=progress)
