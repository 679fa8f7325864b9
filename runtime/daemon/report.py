"""The run report: a recording's figures as report.json, and its plots as PNG.

    report = write_report("runs/today/recording", "runs/today")   # report.json and the plots
    report["latency_ms_p99"], report["plots"]["path"]["file"]

What the robot did, read back from a recording (record.py), after the run or after a crash:
frames and fps as the activator saw them, capture -> DRIVE latency, stalled and unready frames and
page-ins, missed deadlines per stage, collisions and course progress in the sim, and the
daemon's own summary(). The plots (report_plots.py, matplotlib on its Agg canvas, no
display): the spike raster (experts x frames), expert residency over time and why, the
latency histogram, and the robot's path over the course map (the sim only; elsewhere the
report says why there is none).
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

from spikebox.firmware_bridge.link_types import percentile
from spikebox.runtime.files import atomic_write

from . import report_plots
from .record import Recording, read_recording

logger = logging.getLogger(__name__)

REPORT = "report.json"
REPORT_SCHEMA = 1


def run_figures(recording: Recording) -> dict:
    """The report's figures (no plots) from a recording."""
    meta, frames, commands = recording.meta, recording.frames, recording.commands
    summary = meta.get("summary") or {}
    span_s = frames[-1].t_s - frames[0].t_s if len(frames) > 1 else 0.0
    latencies = sorted(c.latency_ms for c in commands if c.latency_ms is not None)
    paged_in = Counter(c.why for c in recording.residency if c.resident)
    stages = summary.get("stages") or {}
    fired = Counter(name for f in frames for name in f.fired)
    return {
        "schema": REPORT_SCHEMA,
        "recording": str(recording.folder),
        "finished": recording.finished,
        "complete": bool(meta.get("complete")),
        "ended_by": meta.get("ended_by"),
        "frames": len(frames),
        "frames_dropped": recording.frames_dropped,
        "seconds": summary.get("seconds", span_s),
        "fps": (len(frames) - 1) / span_s if span_s > 0 else 0.0,
        "control_cycles": len(commands),
        "drives_not_sent": sum(c.left_mm_s is None for c in commands),
        "latency_ms_p50": percentile(latencies, 50),
        "latency_ms_p99": percentile(latencies, 99),
        "latency_samples": len(latencies),
        "stalled_frames": summary.get("stalled_frames"),
        "unready_frames": summary.get("unready_frames"),
        "page_ins": summary.get("page_ins"),
        "paged_in": {why: paged_in.get(why, 0) for why in report_plots.RESIDENCY_WHY},
        "evictions": sum(not c.resident for c in recording.residency),
        "missed_deadlines": {name: s["missed_deadlines"] for name, s in stages.items()},
        "frames_fired": {name: fired.get(name, 0) for name in recording.experts},
        "sim": sim_figures(recording),
        "summary": summary,
    }


def sim_figures(recording: Recording) -> dict | None:
    """Collisions, course progress and the zones the robot went through; None off the sim."""
    sim = recording.meta.get("sim")
    truths = [f.truth for f in recording.frames if f.truth is not None]
    if sim is None or not truths:
        return None
    end = recording.meta.get("sim_end") or {}
    zones = []
    for t in truths:
        if not zones or zones[-1] != t["zone_kind"]:
            zones.append(t["zone_kind"])
    return {
        "course": sim["course"], "seed": sim["seed"],
        "collisions": end.get("collisions", truths[-1]["collisions"]),
        "progress_waypoints": end.get("progress_waypoints"),   # None: the run did not finish
        "route_waypoints": sim["route_waypoints"],
        "course_completed": end.get("course_completed", False),
        "zones_visited": zones,
        "distance_mm": report_plots.path_length_mm(truths),
    }


def write_report(recording_dir: str | Path, out_dir: str | Path | None = None) -> dict:
    """Write report.json and the plots into `out_dir` (default: the recording's folder);
    returns what report.json holds."""
    recording = read_recording(recording_dir)
    out = Path(out_dir) if out_dir is not None else recording.folder
    out.mkdir(parents=True, exist_ok=True)
    report = run_figures(recording)
    report["plots"] = report_plots.plot_all(recording, out)
    atomic_write(out / REPORT, (json.dumps(report, indent=1) + "\n").encode())
    logger.info("run report in %s", out / REPORT)
    return report
