"""Record a run: every frame the activator saw and what it made of it, the commands sent, the
MCU's telemetry, the pager's page-ins and evictions, and the sim's ground truth.

    recorder = Recorder("runs/today")                  # a new (or empty) folder
    Daemon(config, observers=[recorder]).run()         # written as the run goes
    recording = read_recording("runs/today")           # what replay.py and report.py read

The folder (RECORDING_SCHEMA 1):

    meta.json          box (path, name, manifest sha256), the run config (table and TOML), the
                       source, the experts in network order; written when the run starts and
                       again when it stops: finished, complete, records written and dropped,
                       the daemon's summary(), the sim's end state (progress, collisions)
    frames/000000.png  every frame the activator saw, in order, lossless (not with frames=False)
    frames.jsonl       a FrameRecord a line: i (the n-th frame the activator saw, its PNG's
                       number), frame_id, capture time, fired, awake, spikes and warmth per
                       expert, the pixels' sha256, the sim's ground truth
    commands.jsonl     a control.Command a line: the DRIVE as written to the port
    telemetry.jsonl    each new TELEMETRY frame (firmware_bridge's Telemetry)
    residency.jsonl    a pager.ResidencyChange a line; the first lines say who was resident
                       when the run started (why "pinned", or "resident")
    runs.jsonl         an experts_loop.ExpertRun a line: which expert ran on which frame,
                       its outputs (what the arbiter read)

It never blocks a loop: the callbacks only put what they are given (frames are immutable) on
a bounded queue, and one writer thread encodes and writes. When the queue is full the record
is dropped and counted, and meta.json says the recording is incomplete: a dropped frame
leaves a gap in the numbers, after which the activator's state cannot be rebuilt, so replay
refuses it. A killed run leaves everything written so far readable: each PNG is whole
(temporary file, then rename) before its line is written, lines are flushed whenever the
queue empties, and meta.json from the start says finished: false.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import queue
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from spikebox.firmware_bridge.telemetry import Telemetry
from spikebox.runtime.files import atomic_write, read_json, read_jsonl
from spikebox.runtime.pager import ResidencyChange

from .control import Command
from .experts_loop import ExpertRun

logger = logging.getLogger(__name__)

RECORDING_SCHEMA = 1
META = "meta.json"
FRAMES_DIR = "frames"
FRAME_NAME = "{:06d}.png"
FRAMES_LOG, COMMANDS_LOG = "frames.jsonl", "commands.jsonl"
TELEMETRY_LOG, RESIDENCY_LOG = "telemetry.jsonl", "residency.jsonl"
RUNS_LOG = "runs.jsonl"
LOGS = {"frame": FRAMES_LOG, "command": COMMANDS_LOG, "telemetry": TELEMETRY_LOG,
        "residency": RESIDENCY_LOG, "run": RUNS_LOG}
QUEUE_RECORDS = 256        # ~3 s of a 30 fps, 50 Hz run; frames are held, not copied: at
                           # 640x480 a full queue of frames is ~230 MB
PNG_COMPRESSION = 1        # zlib level: fast; the frames stay lossless at any level
WRITER_JOIN_S = 30.0       # the backlog a full queue holds, written out at the end
_STOP = object()


class RecordError(RuntimeError):
    """A recording cannot be written or read (the message names the file and the fix)."""


def image_sha256(image: np.ndarray) -> str:
    """The sha256 of a frame's pixels and shape: what the activator saw, whatever the file."""
    h = hashlib.sha256(repr(image.shape).encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


@dataclass(frozen=True)
class FrameRecord:
    """One frame as the activator saw it (a line of frames.jsonl)."""
    i: int                         # the n-th frame the activator saw in the run, from 0
    frame_id: int                  # the source's id
    t_s: float                     # capture time, monotonic
    seen_s: float                  # when the activator was done with it
    fired: tuple[str, ...]
    awake: tuple[str, ...]
    spikes: tuple[int, ...]        # per expert, network order (meta "experts")
    warmth: tuple[float, ...]
    energy_uj: float
    image_sha256: str
    file: str | None = None        # frames/000000.png; None: recorded without frames
    truth: dict | None = None      # the sim's GroundTruth.to_json(); None: not the sim
    asleep: tuple[str, ...] = ()   # put to sleep by their own outputs (verdicts.py)

    @classmethod
    def from_json(cls, row: dict) -> FrameRecord:
        return cls(**{**row, "fired": tuple(row["fired"]), "awake": tuple(row["awake"]),
                      "spikes": tuple(row["spikes"]), "warmth": tuple(row["warmth"]),
                      "asleep": tuple(row.get("asleep", ()))})


@dataclass(frozen=True)
class Recording:
    """A recording as read back: meta.json and each log's records, in order."""
    folder: Path
    meta: dict
    frames: list[FrameRecord]
    commands: list[Command]
    telemetry: list[Telemetry]
    residency: list[ResidencyChange]
    cut_short: tuple[str, ...]     # logs whose last line a killed writer cut (left out)
    runs: list[ExpertRun] = ()     # each expert run, outputs as arrays (none in recordings
    #                                made before runs.jsonl)

    @property
    def experts(self) -> tuple[str, ...]:
        return tuple(self.meta["experts"])

    @property
    def finished(self) -> bool:
        return bool(self.meta.get("finished"))

    @property
    def frames_dropped(self) -> int:
        """Frames the activator saw that the recording lacks (the queue was full, or writing
        failed): from meta.json once finished, and from the gaps in the numbers."""
        recorded = self.meta.get("dropped", {}).get("frame", 0)
        numbered = (self.frames[-1].i + 1 - len(self.frames)) if self.frames else 0
        return max(recorded, numbered)


class Recorder:
    """A Daemon observer writing a recording into `folder` (see the module docstring).

    frames: write each frame as a PNG (replay needs them); False records the lines only
        (a run report needs no pixels).
    queue_records: records waiting for the writer before new ones are dropped."""

    def __init__(self, folder: str | Path, *, frames: bool = True,
                 queue_records: int = QUEUE_RECORDS, png_compression: int = PNG_COMPRESSION):
        if queue_records < 1:
            raise ValueError(f"queue_records must be >= 1, got {queue_records}")
        self.folder = Path(folder)
        if self.folder.is_dir() and any(self.folder.iterdir()):   # refused before anything moves
            raise RecordError(f"{self.folder} is not empty: record into a new folder (a "
                              "recording there would mix with what is in it)")
        self.save_frames, self.png_compression = frames, png_compression
        self.written: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.error: str | None = None          # the first write that failed: nothing after it is
        self._queue: queue.Queue = queue.Queue(maxsize=queue_records)
        self._drop_lock = threading.Lock()     # drops are counted from several threads
        self._frames_seen = 0
        self._files: dict[str, object] = {}
        self._writer: threading.Thread | None = None
        self._meta: dict = {}
        self._truth_of = None
        self._link = self._pager = self._experts = None
        self._last_telemetry = None

    # -- the daemon's side (each in its loop's thread: quick, never blocking) -------------
    def start(self, daemon) -> None:
        parts = daemon.parts
        self._open_folder()
        self._link, self._pager = parts["link"], parts["pager"]
        self._truth_of = parts["board"].truth_of          # the sim's ground truth, else None
        self._meta = _meta_at_start(daemon, frames=self.save_frames)
        self._write_meta()
        self._files = {kind: open(self.folder / name, "a", encoding="utf-8")
                       for kind, name in LOGS.items()}
        pinned = set(self._pager.config.pinned)
        for name in sorted(self._pager.resident()):
            self._put("residency", ResidencyChange(daemon.started_s, name, True,
                                                   "pinned" if name in pinned else "resident"))
        self._pager.on_residency.append(self._residency)
        self._experts = parts["experts"]
        self._experts.on_run.append(self._run)
        self._writer = threading.Thread(target=self._write_loop, name="spikebox-recorder",
                                        daemon=True)
        self._writer.start()

    def seen(self, seen) -> None:
        i, self._frames_seen = self._frames_seen, self._frames_seen + 1
        truth = self._truth_of(seen.capture.frame_id) if self._truth_of is not None else None
        self._put("frame", (i, seen, truth))

    def command(self, command: Command) -> None:
        self._put("command", command)
        telemetry = self._link.latest_telemetry()
        if telemetry is not None and telemetry is not self._last_telemetry:
            self._last_telemetry = telemetry
            self._put("telemetry", telemetry)

    def _residency(self, change: ResidencyChange) -> None:
        self._put("residency", change)

    def _run(self, run) -> None:
        self._put("run", run)

    def stopped(self, daemon) -> None:
        """The loops have stopped: write the backlog, then meta.json with the run's figures."""
        if self._pager is not None and self._residency in self._pager.on_residency:
            self._pager.on_residency.remove(self._residency)
        if self._experts is not None and self._run in self._experts.on_run:
            self._experts.on_run.remove(self._run)
        if self._writer is None:
            return
        try:
            self._queue.put(_STOP, timeout=WRITER_JOIN_S)   # the writer is draining the queue
        except queue.Full:
            pass
        self._writer.join(WRITER_JOIN_S)
        if self._writer.is_alive():
            logger.error("the recorder did not write its backlog within %.0f s; %s is "
                         "incomplete", WRITER_JOIN_S, self.folder)
            self.error = self.error or "the writer did not finish"
        self._meta.update(_meta_at_end(daemon), **self.stats(), finished=True)
        self._write_meta()
        logger.info("recorded %d frames into %s%s", self.written["frame"], self.folder,
                    "" if self._meta["complete"] else " (incomplete: see meta.json)")

    @property
    def started(self) -> bool:
        """start() ran: the folder holds a recording (a report can be written from it)."""
        return self._writer is not None

    def stats(self) -> dict:
        return {"records": dict(self.written), "dropped": dict(self.dropped),
                "writer_error": self.error,
                "complete": not self.dropped and self.error is None}

    # -- inside ----------------------------------------------------------------------------
    def _open_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.save_frames:
            (self.folder / FRAMES_DIR).mkdir()      # fails if another recorder got there first

    def _put(self, kind: str, payload) -> None:
        try:
            self._queue.put_nowait((kind, payload))
        except queue.Full:
            with self._drop_lock:
                self.dropped[kind] += 1

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            kind, payload = item
            if self.error is None:
                try:
                    self._write(kind, payload)
                    self.written[kind] += 1
                except Exception as e:      # a full disk, say: the run goes on, unrecorded
                    self.error = f"{type(e).__name__}: {e}"
                    logger.exception("recording into %s failed; the run goes on without it "
                                     "(the recording is incomplete)", self.folder)
            if self.error is not None:
                with self._drop_lock:
                    self.dropped[kind] += 1
            if self._queue.empty():
                self._flush()
        self._flush()
        for f in self._files.values():
            f.close()

    def _flush(self) -> None:
        for f in self._files.values():
            try:
                f.flush()
            except OSError:
                pass

    def _write(self, kind: str, payload) -> None:
        # A frame is encoded here; the rest are dataclasses (Command, Telemetry, ResidencyChange,
        # ExpertRun).
        row = self._frame_row(*payload) if kind == "frame" else dataclasses.asdict(payload)
        self._files[kind].write(json.dumps(row, separators=(",", ":"), default=_plain) + "\n")

    def _frame_row(self, i: int, seen, truth) -> dict:
        image = seen.capture.image
        row = {"i": i, "frame_id": seen.capture.frame_id, "t_s": seen.capture.t_monotonic_s,
               "seen_s": seen.seen_s, "fired": list(seen.fired), "awake": list(seen.awake),
               "asleep": list(seen.asleep), "spikes": seen.expert_spikes.tolist(), "warmth": seen.expert_warmth.tolist(),
               "energy_uj": seen.energy_uj, "image_sha256": image_sha256(image)}
        if self.save_frames:
            name = f"{FRAMES_DIR}/{FRAME_NAME.format(i)}"
            ok, png = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION,
                                                   self.png_compression])
            if not ok:
                raise RecordError(f"could not encode frame {i} as PNG")
            atomic_write(self.folder / name, png.tobytes(), durable=False)
            row["file"] = name                  # the line after its whole file
        if truth is not None:
            row["truth"] = truth.to_json()
        return row

    def _write_meta(self) -> None:
        atomic_write(self.folder / META,
                     (json.dumps(self._meta, indent=1, default=_plain) + "\n").encode())


def _meta_at_start(daemon, *, frames: bool) -> dict:
    parts, config = daemon.parts, daemon.config
    box, source = parts["box"], parts["source"]
    meta = {
        "schema": RECORDING_SCHEMA,
        "what": "a spikebox run: frames the activator saw, commands sent, telemetry, paging",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "finished": False, "complete": False, "frames_saved": frames,
        "box": {"path": str(box.path), "name": box.name,
                "manifest_sha256": hashlib.sha256(box.manifest_bytes).hexdigest()},
        "config": config.to_dict(), "config_toml": config.to_toml(),
        "source": source.name,
        "experts": list(parts["vision"].names),
        "started_s": daemon.started_s,
        "budget_bytes": parts["pager"].budget_bytes,
    }
    if parts["board"].truth_of is not None:     # the sim: which course, to draw it again
        world = source.world
        meta["sim"] = {"course": world.course.name, "seed": world.seed,
                       "randomize": world.config.randomize,
                       "route_waypoints": len(world.course.route)}
    return meta


def _meta_at_end(daemon) -> dict:
    out = {"summary": daemon.summary(), "ended_by": daemon.ended_by}
    source = daemon.parts["source"]
    if daemon.parts["board"].truth_of is not None:
        world = source.world
        out["sim_end"] = {"progress_waypoints": world.progress(),
                          "collisions": world.collisions,
                          "course_completed": daemon.ended_by == "course completed"}
    return out


def _plain(value):
    """JSON for what json does not know: numpy scalars and arrays, paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


# -- reading ---------------------------------------------------------------------------------
def read_recording(folder: str | Path) -> Recording:
    """A recording's meta.json and logs; RecordError naming the file and the fix if it is not
    one this version reads. A log's last line cut short by a killed run is left out."""
    folder = Path(folder)
    meta = read_json(folder / META, "is this a folder `spikebox run` recorded into?", RecordError)
    if meta.get("schema") != RECORDING_SCHEMA:
        raise RecordError(f"{folder / META}: recording schema {meta.get('schema')!r}; this "
                          f"spikebox reads schema {RECORDING_SCHEMA}: replay it with the version "
                          "that recorded it")
    logs, cut = {}, []
    for kind, name in LOGS.items():
        path = folder / name
        rows, was_cut = read_jsonl(path, RecordError) if path.exists() else ([], False)
        logs[kind] = rows
        if was_cut:
            cut.append(name)
    try:
        return Recording(folder, meta, [FrameRecord.from_json(r) for r in logs["frame"]],
                         [Command(**r) for r in logs["command"]],
                         [Telemetry(**r) for r in logs["telemetry"]],
                         [ResidencyChange(**r) for r in logs["residency"]], tuple(cut),
                         [ExpertRun(**{**r, "outputs": {k: np.asarray(v, np.float32) for k, v
                                                        in r["outputs"].items()}})
                          for r in logs["run"]])
    except TypeError as e:                  # a line with other fields than this version writes
        raise RecordError(f"{folder}: a line does not match recording schema "
                          f"{RECORDING_SCHEMA} ({e})") from None

