"""Record and replay (issue #12 §2, §5): a short sim run through the real Daemon (the demo box,
the numpy activator, the sim with the reference firmware on its pty) is recorded, and replaying
the recording gives the same activator output, spike for spike, on every frame."""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from spikebox.runtime.box import Box
from spikebox.runtime.daemon import RunConfig, record
from spikebox.runtime.daemon.record import (FRAMES_DIR, Recorder, RecordError, image_sha256,
                                            read_recording)
from spikebox.runtime.daemon.replay import (ReplayError, ReplayMismatch, check_replay,
                                            first_difference, replay_activator)
from spikebox.runtime.daemon.run import Daemon
from spikebox.runtime.experts.box_loader import BoxLoader
from spikebox.runtime.pager import Pager, PagerConfig

DEMO = Path(__file__).resolve().parent.parent / "models" / "demo.box"
RUN_SECONDS = 3.0


@dataclass(frozen=True)
class Decision:
    left_mm_s: float
    right_mm_s: float
    expert: str | None = None
    reason: str = "cruise"
    frame_id: int | None = None
    captured_s: float | None = None


class Cruise:
    """A fixed gentle curve: the view changes, so the activator has something to say (the
    real arbiter is not what is under test here)."""

    def decide(self, now_s, results, awake, pose=None, range_mm=None):
        return Decision(150, 190)


class AtStop:
    """What the pager held when the run stopped (it is closed after the observers' stop)."""

    def stopped(self, daemon):
        self.resident = set(daemon.parts["pager"].resident())
        self.seen = daemon.parts["vision"].frames
        self.commands = list(daemon.parts["control"].commands)
        self.config = daemon.config


class SlowRecorder(Recorder):
    """A recorder on a disk too slow for the run: its queue fills and it drops records."""

    def _write(self, kind, payload):
        time.sleep(0.03)
        super()._write(kind, payload)


class KilledRecorder(Recorder):
    """As if the process were killed before the end: stopped() never runs."""

    def stopped(self, daemon):
        self.daemon = daemon

    def finish(self):
        """End its writer thread (the process lives on, unlike a killed one's)."""
        self._queue.put(record._STOP)
        self._writer.join()


def run_daemon(observers, *, source=None, seconds=RUN_SECONDS) -> dict:
    config = RunConfig(box=str(DEMO)).with_overrides({"source.capture": "sim:tour:0",
                                                      "seconds": seconds})
    daemon = Daemon(config, source=source, arbiter_factory=lambda box, cfg: Cruise(),
                    observers=observers)
    return daemon.run()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recorded")
    full, slow = Recorder(folder / "full"), SlowRecorder(folder / "slow", queue_records=4)
    killed, at_stop = KilledRecorder(folder / "killed"), AtStop()
    summary = run_daemon([full, slow, killed, at_stop])
    deadline = time.monotonic() + 10
    while not killed._queue.empty() and time.monotonic() < deadline:   # its writer goes on
        time.sleep(0.05)
    time.sleep(0.3)                                  # ... and flushes once the queue is empty
    yield dict(folder=folder, full=full, slow=slow, killed=killed, at_stop=at_stop,
               summary=summary)
    killed.finish()


@pytest.fixture(scope="module")
def demo():
    return Box.open(DEMO)


def test_the_recording_holds_every_frame_the_activator_saw_and_every_command_sent(run):
    rec = read_recording(run["full"].folder)
    meta, at_stop = rec.meta, run["at_stop"]
    assert meta["finished"] and meta["complete"] and meta["dropped"] == {}
    assert meta["box"]["manifest_sha256"] == hashlib.sha256(
        (DEMO / "manifest.json").read_bytes()).hexdigest()
    assert RunConfig.from_dict(meta["config"]) == at_stop.config
    assert meta["config_toml"] == at_stop.config.to_toml()
    # the activator's experts, in its network's order (those the camera wakes)
    assert meta["experts"] == list(Box.open(DEMO).load_activator()[0].expert_names)
    assert sorted(meta["experts"]) == ["ball_find", "dock", "line_follow", "obstacle_avoid",
                                       "sign_read"]
    assert len(rec.frames) == at_stop.seen == run["summary"]["frames"] > 30
    assert [f.i for f in rec.frames] == list(range(len(rec.frames)))
    ids = [f.frame_id for f in rec.frames]
    assert ids == sorted(set(ids))
    assert len(list((rec.folder / FRAMES_DIR).glob("*.png"))) == len(rec.frames)
    some = rec.frames[len(rec.frames) // 2]
    image = cv2.imread(str(rec.folder / some.file))
    assert image.shape == (120, 160, 3) and image_sha256(image) == some.image_sha256
    assert any(f.fired for f in rec.frames), "nothing fired: the replay test would prove little"
    # Fired is awake, unless its own outputs put it to sleep (verdicts.py)
    assert all(set(f.fired) <= set(f.awake) | set(f.asleep) for f in rec.frames)
    assert not any(set(f.awake) & set(f.asleep) for f in rec.frames)
    # Each expert run: on a frame it was awake for, its outputs as the manifest declares them.
    awake_on = {f.frame_id: set(f.awake) for f in rec.frames}
    assert len(rec.runs) == run["summary"]["expert_runs"] > 0
    entries = Box.open(DEMO).experts
    for r in rec.runs:
        assert r.name in awake_on[r.frame_id]
        assert {k: v.shape for k, v in r.outputs.items()} == \
            {o.name: tuple(o.shape) for o in entries[r.name].outputs}
    # The commands as sent, in order, equal to the control loop's own log.
    assert rec.commands == at_stop.commands and rec.commands
    assert sum(c.left_mm_s is not None for c in rec.commands) > 0.9 * len(rec.commands)
    times = [t.received_at for t in rec.telemetry]
    assert len(times) > 10 and times == sorted(times)
    # The sim's ground truth of each frame, the robot moving along it.
    truths = [f.truth for f in rec.frames]
    assert all(t is not None and t["frame_id"] == f.frame_id for t, f in zip(truths, rec.frames))
    moved = np.hypot(truths[-1]["x_mm"] - truths[0]["x_mm"], truths[-1]["y_mm"] - truths[0]["y_mm"])
    assert moved > 100
    assert meta["sim"]["course"] == "tour" and meta["sim_end"]["collisions"] >= 0
    # The page-ins and evictions, played forward, end where the pager stood.
    resident = set()
    for change in rec.residency:
        (resident.add if change.resident else resident.discard)(change.expert)
    assert rec.residency and resident == at_stop.resident
    assert meta["summary"]["frames"] == run["summary"]["frames"]


def test_replay_gives_the_activator_output_spike_for_spike(run, demo):
    rec = read_recording(run["full"].folder)
    replayed = replay_activator(rec.folder, demo)
    assert len(replayed) == len(rec.frames)
    assert first_difference(rec.frames, replayed) is None
    for recorded, again in zip(rec.frames, replayed):      # the same, said plainly
        assert again.spikes == recorded.spikes and again.fired == recorded.fired
    assert check_replay(rec.folder, demo) == len(rec.frames)


def test_a_replay_that_differs_is_reported_at_its_first_frame(run, demo, tmp_path):
    copy = shutil.copytree(run["full"].folder, tmp_path / "copy")
    lines = (copy / "frames.jsonl").read_text().splitlines()
    row = json.loads(lines[5])
    row["spikes"] = [s + 1 for s in row["spikes"]]
    lines[5] = json.dumps(row)
    (copy / "frames.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ReplayMismatch, match=r"at frame 5 .*spikes"):
        check_replay(copy, demo)


def _copy(run, tmp_path, name) -> Path:
    return Path(shutil.copytree(run["full"].folder, tmp_path / name))


def test_a_changed_missing_undecodable_or_foreign_frame_is_refused_naming_the_file(
        run, demo, tmp_path):
    changed = _copy(run, tmp_path, "changed")
    path = changed / FRAMES_DIR / "000007.png"
    image = cv2.imread(str(path))
    image[60, 80] ^= 1                               # one pixel, one bit
    cv2.imwrite(str(path), image)
    with pytest.raises(ReplayError, match=r"000007\.png: its pixels are not the ones recorded"):
        replay_activator(changed, demo)

    missing = _copy(run, tmp_path, "missing")
    (missing / FRAMES_DIR / "000004.png").unlink()
    with pytest.raises(ReplayError, match=r"000004\.png: missing"):
        replay_activator(missing, demo)

    broken = _copy(run, tmp_path, "broken")
    (broken / FRAMES_DIR / "000003.png").write_bytes(b"not a png")
    with pytest.raises(ReplayError, match=r"000003\.png: does not decode"):
        replay_activator(broken, demo)

    foreign = _copy(run, tmp_path, "foreign")
    shutil.copy(foreign / FRAMES_DIR / "000001.png", foreign / FRAMES_DIR / "000002a.png")
    with pytest.raises(ReplayError, match=r"000002a\.png: not a frame of the recording"):
        replay_activator(foreign, demo)


def test_replay_refuses_another_box(run, tmp_path):
    other = Path(shutil.copytree(DEMO, tmp_path / "other.box"))
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["name"] = "other"
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ReplayError, match="not the box .* was recorded with"):
        replay_activator(run["full"].folder, Box.open(other))


def test_a_recorder_that_falls_behind_drops_and_counts_and_replay_refuses(run, demo):
    slow = run["slow"]
    rec = read_recording(slow.folder)
    assert rec.meta["finished"] and not rec.meta["complete"]
    dropped = rec.meta["dropped"]
    assert dropped.get("frame", 0) > 0
    assert dropped["frame"] + rec.meta["records"]["frame"] == run["at_stop"].seen
    assert rec.frames_dropped == dropped["frame"]
    with pytest.raises(ReplayError, match="fell behind"):
        replay_activator(slow.folder, demo)
    # The loops did not wait for it: the full recorder beside it got every frame.
    assert read_recording(run["full"].folder).meta["records"]["frame"] == run["at_stop"].seen


def test_a_killed_run_leaves_a_readable_recording_that_replays_what_was_written(run, demo):
    folder = run["killed"].folder
    rec = read_recording(folder)
    assert rec.meta["finished"] is False and "summary" not in rec.meta
    assert len(rec.frames) == run["at_stop"].seen and rec.commands and rec.cut_short == ()
    with open(folder / "frames.jsonl", "a") as f:    # killed in the middle of a line
        f.write('{"i": 99999, "frame_id"')
    cut = read_recording(folder)
    assert cut.cut_short == ("frames.jsonl",) and len(cut.frames) == len(rec.frames)
    assert first_difference(cut.frames, replay_activator(folder, demo)) is None


def test_a_recording_folder_must_be_new_or_empty_and_of_a_known_schema(run, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(RecordError, match="not empty"):
        Recorder(busy)
    future = _copy(run, tmp_path, "future")
    meta = json.loads((future / "meta.json").read_text())
    meta["schema"] = 99
    (future / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(RecordError, match=r"meta\.json: recording schema 99"):
        read_recording(future)


def test_the_pager_tells_who_came_in_why_and_who_left(demo):
    loader = BoxLoader(demo)
    footprints = loader.footprints()
    big, second = sorted(footprints, key=footprints.get)[-2:][::-1]
    pager = Pager(PagerConfig(budget_bytes=footprints[big], prefetch="off"), loader, footprints,
                  shell_footprints=loader.shell_footprints())
    changes = []
    pager.on_residency.append(changes.append)
    try:
        with pager.use(second):
            pass
        with pager.use(big):                         # no room for both: `second` leaves
            pass
    finally:
        pager.close()
    said = [(c.expert, c.resident, c.why, c.for_expert) for c in changes]
    assert said == [(second, True, "demand", None), (second, False, "evicted", big),
                    (big, True, "demand", None)]
    assert all(a.t_s <= b.t_s for a, b in zip(changes, changes[1:]))


def test_a_recording_replays_through_the_pager_offline_by_either_rule(run):
    """tools/pager_replay.py: the recording's frames through a real Pager again, told what is
    in use by the daemon's rule (the awake experts) or the one before (this frame's spikes):
    every recorded frame replayed, and no recall above the bound no prefetcher passes."""
    import subprocess
    import sys
    tool = Path(__file__).resolve().parent.parent / "tools" / "pager_replay.py"
    folder = run["folder"] / "full"
    frames = len(record.read_recording(folder).frames)
    for told in ("awake", "fired"):
        done = subprocess.run([sys.executable, str(tool), str(folder), "--told", told, "--json"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        assert out["frames"] == frames and out["told"] == told
        replayed = out["replayed"]
        assert replayed["requests"] > 0
        assert sum(out["misses_by_kind"].values()) == replayed["misses"]   # each told once
        if out["prefetch_recall_bound"] is not None:
            assert replayed["prefetch_recall"] <= out["prefetch_recall_bound"] <= 1.0
    bad = subprocess.run([sys.executable, str(tool), str(folder), "--set",
                          "prefetch_confidence=2"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "pager.prefetch_confidence" in bad.stderr
