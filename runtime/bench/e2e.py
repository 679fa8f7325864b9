"""`spikebox bench e2e`: the whole chain driving the course, in four paging modes, one process.

    from spikebox.runtime.bench.e2e import run_e2e_bench, format_table
    print(format_table(run_e2e_bench("models/demo.box")))

Each mode is one `spikebox run` of the demo (the daemon, runtime/daemon/) on the same course
and seed, in real time: the sim renders the camera at `fps`, the box's activator wakes
experts, the pager pages them, the arbiter drives, the reference firmware behind a pty moves
the robot. A mode ends when the robot is docked at the course's end, or after `seconds`.

- resident: a budget that holds every expert (nothing is ever paged out);
- lru: the default budget (the demo's always-awake experts, kept resident, plus a quarter
  of what the others need resident), LRU eviction, no prefetch;
- activator: the same budget, the activator-aware policy and its prefetch;
- activator_cold: as activator, and each expert's files dropped from the OS page cache
  (posix_fadvise DONTNEED) before every page-in, as on a robot whose RAM cannot hold the
  box in its page cache either.

Per mode (issue #12 §4): frames (through the activator), fps, latency_ms_p50/p99 (a frame's
capture -> the first DRIVE that answers it written to the port), stalled_frames (frames on
which an expert waited for a page-in: the experts loop never waits, so none does; the
frames on which an expert was due but not resident yet, answered without it while the
pager paged it in behind, are `unready_frames`), routing_accuracy (over frames in a zone that needs a
skill: the activator's top expert, by spikes, is that skill's), course_completed (docked at
the end), collisions, peak_rss_mb (the process's resident set, sampled through the mode),
budget_mb, pagein_ms_p99 (every page-in the pager made in the mode, asked for or
prefetched, timed by the pager), prefetch_recall, prefetch_precision (the pager's); and
unready_frames, zone_reached (the furthest zone of the course the robot was in, 0 the first),
zone_at_end (where it was when the mode ended), dock_at_end (the sim's view of the dock at the
end, with the marker in view: distance_mm to the marker's face, off_axis_deg, bearing_deg,
aligned and docked by the sim's test; else None: a hold short of docked shows here), and
prefetch_recall_bound: the most recall any
prefetcher could have reported on this mode's own awake experts at its budget, 1 - the misses no
prefetcher avoids (pager/offline/unavoidable.py, on the awake set of every frame seen) / the
mode's would-be misses (prefetches used + misses); None when nothing was ever paged in on
demand or by prefetch (every expert resident): there is nothing to recall.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path

import numpy as np

from spikebox.runtime.daemon import RunConfig
from spikebox.runtime.daemon.run import Daemon, default_box, demo_overrides
from spikebox.runtime.experts.box_loader import BoxLoader
from spikebox.runtime.pager.offline import unavoidable_misses
from spikebox.runtime.procmem import rss_bytes
from spikebox.runtime.sim.layout import DEMO_EXPERT_OF_SKILL
from spikebox.runtime.sim.truth import docked

from .steady import drop_from_page_cache
from .targets import Target, stamp

COURSE, SEED = "tour", 2001     # a seed no recipe trains on (routing's held-out drives)
FPS = 30.0
SECONDS = 150.0                 # per mode, if the course is not completed before
RSS_EVERY_FRAMES = 10


@dataclasses.dataclass(frozen=True)
class Mode:
    budget: str                 # "all": every expert resident; "quarter": the default
    policy: str
    prefetch: str
    cold: bool = False


MODES = {
    "resident": Mode("all", "activator", "background"),
    "lru": Mode("quarter", "lru", "off"),
    "activator": Mode("quarter", "activator", "background"),
    "activator_cold": Mode("quarter", "activator", "background", cold=True),
}
KEYS = ("frames", "fps", "latency_ms_p50", "latency_ms_p99", "stalled_frames",
        "routing_accuracy", "course_completed", "collisions", "peak_rss_mb", "budget_mb",
        "pagein_ms_p99", "prefetch_recall", "prefetch_precision")


class ColdBoxLoader(BoxLoader):
    """BoxLoader that drops an expert's files from the page cache before each page-in."""

    def _drop(self, name: str) -> None:
        for rel in self.expert_files(name):
            drop_from_page_cache(self.box.file(rel))

    def load(self, name: str):
        self._drop(name)
        return super().load(name)

    def unshelve(self, name: str, session) -> None:
        self._drop(name)
        return super().unshelve(name, session)


class _Watch:
    """Observer: routing against the sim's truth, the last truth, the RSS high-water mark."""

    def __init__(self):
        self.hits = self.needed = 0
        self.last_truth = None
        self.furthest_zone = None     # the furthest zone of the course the robot was in
        self.peak_rss = 0
        self.budget_bytes = None
        self.pagein_ms: list[float] = []
        self.awake: list[tuple[list[str], dict]] = []   # per frame seen: (awake, {}) as the
        self._frames = 0                                # offline tools take frames

    def start(self, daemon) -> None:
        self.source = daemon.parts["source"]
        self.names = daemon.parts["vision"].names
        self.pager = daemon.parts["pager"]
        self.budget_bytes = self.pager.budget_bytes
        daemon.parts["pager"].on_residency.append(self._residency)
        self.peak_rss = rss_bytes()

    def _residency(self, change) -> None:       # the pager's thread, under its lock: no work
        if change.resident and change.why != "pinned":
            self.pagein_ms.append(change.pagein_ms)

    def seen(self, seen) -> None:
        self.awake.append((list(seen.awake), {}))
        truth = self.source.truth(seen.capture.frame_id)
        if truth is not None:
            self.last_truth = truth
            self.furthest_zone = max(truth.zone, self.furthest_zone or 0)
            if truth.skill is not None:
                self.needed += 1
                spikes = seen.expert_spikes
                if spikes.size and spikes.max() > 0:
                    best = np.flatnonzero(spikes == spikes.max())
                    top = self.names[int(best[np.argmax(seen.expert_warmth[best])])]
                    self.hits += top == DEMO_EXPERT_OF_SKILL.get(truth.skill)
        self._frames += 1
        if self._frames % RSS_EVERY_FRAMES == 0:
            self.peak_rss = max(self.peak_rss, rss_bytes())

    def recall_bound(self, pager_metrics: dict) -> float | None:
        return recall_bound(self.awake, self.pager.footprints, self.budget_bytes,
                            self.pager.pinned, pager_metrics)


def recall_bound(frames, footprints: dict[str, int], budget_bytes: int, pinned,
                 pager_metrics: dict) -> float | None:
    """1 - the misses no prefetcher avoids on `frames` / the would-be misses the pager counted
    (prefetches used + misses); None if it counted none (module docstring)."""
    would_be = pager_metrics["prefetches_used"] + pager_metrics["misses"]
    if not would_be:
        return None
    floor = unavoidable_misses(frames, footprints, budget_bytes, pinned=pinned)
    return max(0.0, 1.0 - floor / would_be)


def _pct(values, q):
    return float(np.percentile(values, q)) if len(values) else None


def _dock_at_end(truth) -> dict | None:
    """The sim's view of the dock in `truth` (the mode's last), if its marker is in view."""
    if truth is None or not truth.dock.visible or truth.dock.distance_mm is None:
        return None
    d = truth.dock
    deg = lambda rad: None if rad is None else round(math.degrees(rad), 1)
    return {"distance_mm": round(d.distance_mm), "off_axis_deg": deg(d.off_axis_rad),
            "bearing_deg": deg(d.bearing_rad), "aligned": d.aligned, "docked": docked(truth)}


def run_mode(mode: Mode, box_path, *, course=COURSE, seed=SEED, fps=FPS,
             seconds=SECONDS) -> dict:
    box_path = Path(box_path)
    from spikebox.runtime.box import Box
    box = Box.open(box_path)
    everything = sum(e.footprint_bytes for e in box.experts.values())
    overrides = {**demo_overrides(box_path), "box": str(box_path), "seconds": seconds,
                 "source.capture": f"sim:{course}:{seed}", "rates.frame_hz": fps,
                 "pager.policy": mode.policy, "pager.prefetch": mode.prefetch}
    if mode.budget == "all":          # every expert loaded before the run, never evicted
        overrides["pager.budget_bytes"] = everything
        overrides["pager.pinned"] = sorted(box.experts)
    watch = _Watch()
    daemon = Daemon(RunConfig().with_overrides(overrides), observers=[watch],
                    loader_factory=ColdBoxLoader if mode.cold else BoxLoader)
    s = daemon.run()
    truth = watch.last_truth
    pager = s["pager"]
    return {
        "frames": s["frames"],
        "fps": s["fps"],
        "latency_ms_p50": s["latency_ms_p50"],
        "latency_ms_p99": s["latency_ms_p99"],
        "stalled_frames": s["stalled_frames"],
        "routing_accuracy": watch.hits / watch.needed if watch.needed else None,
        "course_completed": s["ended_by"] == "course completed",
        "collisions": None if truth is None else truth.collisions,
        "peak_rss_mb": watch.peak_rss / 1e6,
        "budget_mb": watch.budget_bytes / 1e6,
        "pagein_ms_p99": _pct(watch.pagein_ms, 99),
        "prefetch_recall": pager.get("prefetch_recall"),
        "prefetch_precision": pager.get("prefetch_precision"),
        "prefetch_recall_bound": watch.recall_bound(pager),
        "ended_by": s["ended_by"],
        "seconds": s["seconds"],
        "zone_reached": watch.furthest_zone,       # the furthest, not where the run ended
        "zone_at_end": None if truth is None else truth.zone,
        "dock_at_end": _dock_at_end(truth),
        "page_ins": len(watch.pagein_ms),
        "unready_frames": s["unready_frames"],
        "missed_deadlines": {k: v["missed_deadlines"] for k, v in s["stages"].items()},
        "arbiter": daemon.parts["arbiter"].counts.to_json(),
    }


def _both(result, fn) -> bool:
    return all(fn(result[m]) for m in ("activator", "activator_cold") if m in result)


TARGETS = (
    Target("activator", "<=", "stalled_frames 0, collisions 0, course completed, latency p99 "
           "<= 33 ms, routing and completion equal to resident (also activator_cold)",
           judge=lambda r: _both(r, lambda m: m["stalled_frames"] == 0 and m["collisions"] == 0
                                 and m["course_completed"]
                                 and (m["latency_ms_p99"] or 1e9) <= 33
                                 and m["routing_accuracy"] == r["resident"]["routing_accuracy"])),
    Target("prefetch", ">=", "recall 0.9 with precision 0.7 (activator, activator_cold)",
           judge=lambda r: _both(r, lambda m: (m["prefetch_recall"] or 0) >= 0.9
                                 and (m["prefetch_precision"] or 0) >= 0.7)),
)


def run_e2e_bench(box_path=None, *, modes=tuple(MODES), course=COURSE, seed=SEED, fps=FPS,
                  seconds=SECONDS, progress=lambda s: None) -> dict:
    box_path = Path(box_path) if box_path is not None else default_box()
    result = {"box": str(box_path), "course": course, "seed": seed, "fps_asked": fps,
              "seconds_max": seconds, "cpus": os.cpu_count()}
    for name in modes:
        progress(f"e2e: {name} (up to {seconds:g} s in real time) ...")
        t0 = time.monotonic()
        result[name] = run_mode(MODES[name], box_path, course=course, seed=seed, fps=fps,
                                seconds=seconds)
        progress(f"e2e: {name} done in {time.monotonic() - t0:.0f} s ({result[name]['ended_by']})")
    if all(m in result for m in ("resident", "activator", "activator_cold")):
        return stamp(result, TARGETS)
    result["targets"] = {t.key: t.stated() for t in TARGETS}
    result["targets_met"] = False            # a partial run judges nothing
    return result


def _f(v, fmt="{:.1f}") -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return fmt.format(v)


def format_table(r: dict) -> str:
    modes = [m for m in MODES if m in r]
    lines = [f"spikebox bench e2e: course {r['course']} seed {r['seed']}, {r['fps_asked']:g} fps "
             f"asked, up to {r['seconds_max']:g} s a mode, box {r['box']}", ""]
    lines.append(f"{'':22}" + "".join(f"{m:>16}" for m in modes))
    for key in KEYS + ("prefetch_recall_bound",):
        fmt = "{:.3f}" if key in ("routing_accuracy", "prefetch_recall", "prefetch_precision",
                                  "prefetch_recall_bound") \
            else "{:.0f}" if key in ("frames", "stalled_frames", "collisions") else "{:.1f}"
        lines.append(f"{key:22}" + "".join(f"{_f(r[m][key], fmt):>16}" for m in modes))
    lines.append(f"{'ended by':22}" + "".join(f"{r[m]['ended_by'][:15]:>16}" for m in modes))
    lines.append("")
    lines += [f"target {t.key}: {t.stated()}" for t in TARGETS]
    lines.append(f"targets met: {'yes' if r['targets_met'] else 'no'}")
    return "\n".join(lines)
