"""`spikebox bench routing`: does the box's activator wake the right expert on the demo world?

    from spikebox.runtime.bench.routing import run_routing_bench, format_table
    print(format_table(run_routing_bench("models/demo.box")))

Held-out drives: the autopilot drives fixed-seed courses (seeds no recipe trains on, the
fixed look) through the firmware core; every frame goes through the box's own encoder and the
numpy activator (bit-exact with Lava), drive by drive from a reset, as a robot would see it.

The world's skills are the demo box's experts by layout.DEMO_EXPERT_OF_SKILL; a skill whose
expert the box lacks counts as needing one that never fires.

Per frame, the activator's *top expert* is the one whose units spiked most this frame (a tie:
the warmest, then network order); none if no unit spiked. Figures (issue #10 §3, §6):

- top1_accuracy: over frames in a zone that needs a skill, top expert == the zone's skill.
- wake_within_2_recall: over zone entries (a drive's first frame in a zone that needs a
  skill), the zone's expert fired on the entry frame or one of the 2 after it.
- false_wakes_per_min: on open floor, episodes per minute of open-floor driving, at the
  drives' frame rate. An episode is a run of frames in which some expert fired; runs less
  than EPISODE_GAP_S apart are one episode (a flickering wake is one false wake to the
  robot: its expert pages in once), as wake-word engines count false accepts.
- loihi_uj_per_frame: mean Loihi energy estimate (runtime/activator/energy.py).
- growth_max_delta_pts: for each expert X, the network without X's units against the whole
  one: the largest change, in points, of any other expert's top-1 on its zone's frames.
  Units never interact, so spikes are computed once and X is masked out; that the other
  units stay byte-identical when X is added is held by the tests of `export add`.
- box_mb, experts, experts_metrics: the box's size on disk, its experts and each one's
  held-out figures from its manifest entry.

Besides (not targets): `bounds`, the same three zone figures for activators that know more
than any camera-driven one can (`oracle_bounds`): a perfect detector of the view's cue, the
same holding the last cue it saw, and one that knows which zone the nearest floor in view lies
in, fired at once or after the best constant delay. They bound what routing can reach on this
world; top1_accuracy_cue, the same against what each frame's view calls for
(runtime/sim/truth.py cue_skill) over frames that show a cue; top1_ceiling_zone, what a
perfect cue detector that holds the last cue it saw would score on top1_accuracy (the most
a camera-driven activator can reach on the zone label of this world); zone_in_view, the
fraction of those frames whose nearest floor in view lies in the zone the robot stands in
(the rest show only the next zone's floor, or a wall); per-skill recall.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from spikebox.runtime.activator import ActivatorNetwork, make_activator
from spikebox.runtime.box import Box
from spikebox.runtime.encoder import Encoder
from spikebox.runtime.sim.autopilot import drive
from spikebox.runtime.sim.layout import DEMO_EXPERT_OF_SKILL
from spikebox.runtime.sim.truth import cue_skill, docked
from spikebox.runtime.sim.world import SimWorld, WorldConfig

from .targets import Target, render, stamp

COURSES = ("tour", "errand")
SEEDS = (2001, 2002)            # recipes train on 1..16 and hold out 1001..1008
FPS = 20.0
MAX_FRAMES = 2000               # per drive; the autopilot docks at the end of a course in ~1200
WAKE_WITHIN = 2                 # frames after a zone entry
NONE, MISSING = -1, -2          # a frame needs no expert; needs one the box lacks
EPISODE_GAP_S = 0.5             # wakes closer than this are one episode

TARGETS = (
    Target("top1_accuracy", ">=", 0.98),
    Target("wake_within_2_recall", ">=", 0.99),
    Target("false_wakes_per_min", "<=", 1.0),
    Target("loihi_uj_per_frame", "<=", 10.0),
    Target("growth_max_delta_pts", "<", 1.0),
    Target("box_mb", "<=", 20.0),
)


@dataclass
class Drive:
    """One held-out drive as the activator saw it."""
    counts: np.ndarray          # (frames, experts) unit spikes per expert
    warmth: np.ndarray          # (frames, experts)
    energy_uj: np.ndarray       # (frames,)
    zone: np.ndarray            # (frames,) zone index
    need: np.ndarray            # (frames,) expert index the zone needs, or NONE / MISSING
    cue: np.ndarray             # (frames,) expert index the view calls for, or NONE / MISSING
    in_view: np.ndarray | None = None   # (frames,) zone index of the nearest floor in view


def top_expert(counts: np.ndarray, warmth: np.ndarray) -> np.ndarray:
    """(frames,) index of the expert that spiked most (ties: the warmest, then the first); -1
    where none spiked (NONE)."""
    # warmth is in [0, 1]: it orders experts of equal counts, never overturns a count.
    score = counts + 0.5 * warmth
    return np.where(counts.max(axis=1, initial=0) > 0, score.argmax(axis=1), NONE)


def record_drive(network: ActivatorNetwork, encoder: Encoder, course: str, seed: int,
                 names: list[str], max_frames: int = MAX_FRAMES,
                 expert_of_skill: dict[str, str] = DEMO_EXPERT_OF_SKILL) -> Drive:
    """One drive through `network` (experts ordered by `names` in the result)."""
    order = network.expert_names
    starts = np.cumsum([0] + [e.n_units for e in network.experts])[:-1]
    # expert index in `names` order (the box's) for each of the network's experts
    to_names = np.array([names.index(n) for n in order])
    skill_of = {s: names.index(e) if e in names else MISSING for s, e in expert_of_skill.items()}
    world = SimWorld(WorldConfig(course=course), seed=seed)
    counts, warmth, energy, zone, need, cue, in_view = [], [], [], [], [], [], []
    try:
        with make_activator(network, backend="numpy") as act:
            encoder.reset()
            for image, truth in drive(world, max_frames, fps=FPS):
                r = act.step(encoder.encode(image))
                c = np.zeros(len(names))
                w = np.zeros(len(names))
                if len(order):
                    c[to_names] = np.add.reduceat(r.spike_counts, starts)
                    w[to_names] = [r.warmth[n] for n in order]
                counts.append(c)
                warmth.append(w)
                energy.append(r.energy_uj)
                zone.append(truth.zone)
                need.append(skill_of.get(truth.skill, MISSING) if truth.skill else NONE)
                seen = cue_skill(truth)
                cue.append(skill_of.get(seen, MISSING) if seen else NONE)
                in_view.append(_zone_in_view(world))
                if truth.zone_kind == "dock" and docked(truth):
                    break
    finally:
        world.close()
    return Drive(np.array(counts).reshape(-1, len(names)), np.array(warmth).reshape(-1, len(names)),
                 np.array(energy), np.array(zone), np.array(need), np.array(cue), np.array(in_view))


def _zone_in_view(world: SimWorld) -> int:
    """The zone of the nearest floor the camera sees (the bottom row's middle), -1 if none.
    The floor under the robot is never in view: at the default mount it starts ~0.2 m ahead."""
    view = world.view()
    cam = view.camera
    p = np.linalg.solve(view.floor_homography(), [cam.centre_px[0], cam.height_px - 0.5, 1.0])
    zone = world.course.zone_at(p[0] / p[2], p[1] / p[2])
    return world.course.zones.index(zone) if zone is not None else -1


def held_last_cue(cue: np.ndarray) -> np.ndarray:
    """What a perfect cue detector that holds the last cue it saw would name, frame by frame."""
    out = np.empty_like(cue)
    last = NONE
    for i, c in enumerate(cue):
        if c != NONE:
            last = c
        out[i] = last
    return out


ORACLE_DELAYS = range(0, 41)    # frames: the view-zone oracle held back by each, the best kept


def _fire(labels: np.ndarray, n_experts: int) -> np.ndarray:
    """(frames, experts) counts of an activator that fires exactly `labels` (NONE: nothing)."""
    counts = np.zeros((len(labels), n_experts))
    hit = labels >= 0
    counts[np.flatnonzero(hit), labels[hit]] = 1
    return counts


def _view_zone_need(d: Drive) -> np.ndarray:
    """Per frame, the expert the zone of the nearest floor in view needs (NONE: none)."""
    need_of_zone = dict(zip(d.zone.tolist(), d.need.tolist()))
    return np.array([need_of_zone.get(z, NONE) for z in d.in_view.tolist()], int)


def oracle_bounds(drives: list[Drive], n_experts: int, fps: float = FPS) -> dict:
    """top1_accuracy, wake_within_2_recall and false_wakes_per_min of activators that know
    more than the camera can tell them, on the same drives (module docstring):

    - cue: fires the skill of the view's cue on exactly the frames that show one;
    - held_cue: the same, holding the last cue it saw;
    - view_zone: fires the skill of the zone whose floor is nearest in view (a perfect reader
      of a world whose zones each look their own);
    - view_zone_delayed: the same held back by the constant delay (ORACLE_DELAYS, frames)
      that gives it the best top-1; `delay_frames` says which.
    """
    keys = ("top1_accuracy", "wake_within_2_recall", "false_wakes_per_min")

    def score(labels: list[np.ndarray]) -> dict:
        made = [Drive(_fire(lab, n_experts), np.zeros((len(lab), n_experts)), d.energy_uj,
                      d.zone, d.need, d.cue, d.in_view) for lab, d in zip(labels, drives)]
        f = routing_figures(made, n_experts, fps, bounds=False)
        return {k: f[k] for k in keys}

    out = {"cue": score([d.cue for d in drives]),
           "held_cue": score([held_last_cue(d.cue) for d in drives])}
    if not all(d.in_view is not None for d in drives):
        return out
    seen = [_view_zone_need(d) for d in drives]
    out["view_zone"] = score(seen)
    best = None
    for k in ORACLE_DELAYS:
        f = score([np.concatenate([np.full(min(k, len(s)), NONE), s[:max(len(s) - k, 0)]])
                   for s in seen])
        if best is None or (f["top1_accuracy"] or 0) > (best["top1_accuracy"] or 0):
            best = {**f, "delay_frames": k}
    out["view_zone_delayed"] = best
    return out


def routing_figures(drives: list[Drive], n_experts: int, fps: float = FPS,
                    bounds: bool = True) -> dict:
    """The bench's figures from recorded drives (a pure function, tested on its own)."""
    need = np.concatenate([d.need for d in drives]) if drives else np.zeros(0, int)
    cue = np.concatenate([d.cue for d in drives]) if drives else np.zeros(0, int)
    tops = [top_expert(d.counts, d.warmth) for d in drives]
    top = np.concatenate(tops) if tops else np.zeros(0, int)
    skilled = need != NONE
    out: dict = {"frames": int(len(need))}
    out["top1_accuracy"] = float(np.mean(top[skilled] == need[skilled])) if skilled.any() else None
    shown = cue != NONE
    out["top1_accuracy_cue"] = float(np.mean(top[shown] == cue[shown])) if shown.any() else None
    ceiling = np.concatenate([held_last_cue(d.cue) for d in drives]) if drives else top
    out["top1_ceiling_zone"] = (float(np.mean(ceiling[skilled] == need[skilled]))
                                if skilled.any() else None)
    if drives and all(d.in_view is not None for d in drives):
        zone = np.concatenate([d.zone for d in drives])
        in_view = np.concatenate([d.in_view for d in drives])
        out["zone_in_view"] = float(np.mean(in_view[skilled] == zone[skilled])) if skilled.any() else None
    else:
        out["zone_in_view"] = None

    entries = woke = 0
    episodes = open_frames = 0
    for d, t in zip(drives, tops):
        fired = d.counts.sum(axis=1) > 0
        for i in range(len(d.zone)):
            if d.need[i] != NONE and (i == 0 or d.zone[i] != d.zone[i - 1]):
                entries += 1
                woke += bool(d.need[i] >= 0 and (d.counts[i:i + WAKE_WITHIN + 1, d.need[i]] > 0).any())
        open_floor = d.need == NONE
        open_frames += int(open_floor.sum())
        wakes = np.flatnonzero(fired & open_floor)
        gap = max(1, round(EPISODE_GAP_S * fps))
        episodes += int(len(wakes) and 1 + np.count_nonzero(np.diff(wakes) >= gap))
    out["zone_entries"] = entries
    out["wake_within_2_recall"] = woke / entries if entries else None
    out["open_floor_minutes"] = open_frames / fps / 60.0
    out["false_wakes_per_min"] = (episodes / out["open_floor_minutes"]) if open_frames else None
    energy = np.concatenate([d.energy_uj for d in drives]) if drives else np.zeros(0)
    out["loihi_uj_per_frame"] = float(energy.mean()) if len(energy) else None

    # Growth: mask each expert out in turn; the others' top-1 on their own zones' frames.
    def per_skill_top1(mask: np.ndarray) -> np.ndarray:
        t = np.concatenate([top_expert(d.counts * mask, d.warmth * mask) for d in drives])
        return np.array([np.mean(t[need == k] == k) if (need == k).any() else np.nan
                         for k in range(n_experts)])

    whole = per_skill_top1(np.ones(n_experts)) if drives else np.full(n_experts, np.nan)
    deltas = []
    for x in range(n_experts if n_experts > 1 and drives else 0):
        mask = np.ones(n_experts)
        mask[x] = 0
        without = per_skill_top1(mask)
        others = [k for k in range(n_experts) if k != x and not np.isnan(whole[k])]
        deltas += [abs(whole[k] - without[k]) * 100 for k in others]
    out["growth_max_delta_pts"] = float(max(deltas)) if deltas else None
    out["_per_skill_top1"] = whole
    if bounds:
        out["bounds"] = oracle_bounds(drives, n_experts, fps) if drives else {}
    return out


def _box_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def run_routing_bench(box_path: str | os.PathLike, courses=COURSES, seeds=SEEDS,
                      max_frames: int = MAX_FRAMES,
                      progress: Callable[[str], None] = lambda s: None) -> dict:
    box = Box.open(box_path)
    names = [n for n in box.manifest.experts if box.manifest.experts[n].activator_units > 0]
    network, encoder = box.load_activator()
    drives = []
    for course in courses:
        for seed in seeds:
            progress(f"routing: {course} seed {seed} ...")
            drives.append(record_drive(network, encoder, course, seed, names, max_frames))
    fig = routing_figures(drives, len(names))
    per_skill = fig.pop("_per_skill_top1")
    result = {
        **fig,
        "top1_per_expert": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, per_skill)},
        "box": str(box.path), "box_mb": _box_mb(box.path), "experts": len(box.manifest.experts),
        "experts_metrics": {n: e.metrics for n, e in box.manifest.experts.items()},
        "drives": [f"{c}-{s}" for c in courses for s in seeds],
    }
    return stamp(result, TARGETS)


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def format_table(r: dict) -> str:
    num = (lambda x, f: "n/a" if x is None else format(x, f))
    rows = [("held-out frames", str(r["frames"]), None),
            ("top-1, zone's skill", _pct(r["top1_accuracy"]), "top1_accuracy"),
            ("  ceiling: perfect cue detector, held", _pct(r["top1_ceiling_zone"]), None),
            ("  frames whose nearest floor in view is the zone's", _pct(r["zone_in_view"]), None),
            ("top-1, what the view calls for", _pct(r["top1_accuracy_cue"]), None),
            (f"zone entries woken within {WAKE_WITHIN}", _pct(r["wake_within_2_recall"]),
             "wake_within_2_recall"),
            ("false wakes / min of open floor", num(r["false_wakes_per_min"], ".2f"),
             "false_wakes_per_min"),
            ("Loihi energy, uJ / frame", num(r["loihi_uj_per_frame"], ".2f"), "loihi_uj_per_frame"),
            ("growth: largest move of another expert, pts", num(r["growth_max_delta_pts"], ".2f"),
             "growth_max_delta_pts"),
            ("box size, MB", f"{r['box_mb']:.1f}", "box_mb"),
            ("experts", str(r["experts"]), None)]
    rows += [(f"  top-1 on {n}'s zone", _pct(v), None) for n, v in r["top1_per_expert"].items()]
    for name, b in r.get("bounds", {}).items():
        delay = f", {b['delay_frames']} frames late" if "delay_frames" in b else ""
        rows.append((f"bound, {name} oracle{delay}: top-1 / wake-2 / false wakes",
                     f"{_pct(b['top1_accuracy'])} / {_pct(b['wake_within_2_recall'])} / "
                     f"{num(b['false_wakes_per_min'], '.2f')}", None))
    return render(f"spikebox bench routing ({r['box']}; drives {', '.join(r['drives'])})",
                  rows, TARGETS, r)
