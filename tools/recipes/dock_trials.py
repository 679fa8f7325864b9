"""Does a box's dock expert, driven by the arbiter, dock? Closed-loop trials in the sim.

    .venv-train/bin/python tools/recipes/dock_trials.py models/demo.box [OTHER.box ...] [--trials 24] [--json]

Each trial puts the robot on held-out courses (tour, seeds from 1001, the fixed look) at a
free spot of the dock's zone in front of the dock, 0.8-2.2 m away, up to 1 rad off its axis,
facing the marker give or take 0.3 rad, the marker in view, and runs, at 30 frames a second of the sim's own clock (as fast as the
machine goes): render, the box's dock expert (its source ONNX, onnxruntime), the arbiter
with the box's drive contract for the dock alone (nobody else: the idle search turns the
robot to look when it sees nothing), the wheel speeds through the reference firmware core.
The arbiter and its limits are the demo run config's (`spikebox run`'s); it gets the sim's
true pose where the daemon has odometry, and the dock is awake while it saw the marker
within the run config's activator.awake_hold_ms where the daemon has the activator: what is measured is the expert and the drive, not the rest of the chain
(`spikebox run --source sim:short:SEED` runs it all). A trial ends docked (the sim's own
test, runtime/sim/truth.py docked()), or not within --seconds.

Per box: docked (of trials), the median seconds to dock, collisions (the daemon's range,
stall and stuck guards are not in this loop: a seek that sees the marker past the dock's
corner drives into it here), and the arbiter's reasons (seek, align, back_out, ...),
control cycles summed over the trials.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import Counter

import numpy as np
import onnxruntime as ort

from spikebox.runtime.arbiter import Arbiter, ExpertResult
from spikebox.runtime.arbiter.odometry import Pose
from spikebox.runtime.box import Box
from spikebox.runtime.daemon import RunConfig
from spikebox.runtime.daemon.run import demo_overrides
from spikebox.runtime.experts.preprocess import frame_to_tensor
from spikebox.runtime.sim import SimWorld, WorldConfig
from spikebox.runtime.sim.truth import docked

FPS = 30


def starts(trials: int, seed0: int = 1001):
    """(seed, x, y, heading) of each trial: a few per held-out course, in front of its dock."""
    per_course = 4
    for k in range(trials):
        seed = seed0 + k // per_course
        yield seed, np.random.default_rng([seed, k])


def _place(world: SimWorld, rng: np.random.Generator) -> None:
    """A free spot in the dock's zone, from where the marker is in view."""
    dock = world.course.docks[0]
    zone = next(z for z in world.course.zones if z.kind == "dock")
    while True:
        side = dock.facing_rad + rng.uniform(-1.0, 1.0)
        away = rng.uniform(800.0, 2200.0)
        x, y = dock.x + math.cos(side) * away, dock.y + math.sin(side) * away
        if not (zone.contains(x, y) and world.collision_map.free(x, y)):
            continue
        world.place_robot(x, y, math.atan2(dock.y - y, dock.x - x) + rng.normal(0.0, 0.3))
        if world.truth().dock.visible:
            return


def trial(box: Box, session, seed: int, rng, seconds: float) -> tuple[float | None, int, Counter]:
    """(seconds to dock or None, collisions, reasons) of one trial."""
    entry = box.experts["dock"]
    spec = entry.inputs[0]
    seek = entry.drive.behaviour
    config = RunConfig().with_overrides(demo_overrides(box.path))     # the demo's, as run
    arbiter = Arbiter({"dock": entry}, config.arbiter, config.link.max_wheel_mm_s)
    awake_hold_s = config.activator.awake_hold_ms / 1000.0
    world = SimWorld(WorldConfig(course="tour", randomize=False), seed=seed)
    reasons: Counter = Counter()
    try:
        _place(world, rng)
        host = world.mcu.host()
        host.hello()
        seen_s = -math.inf
        for k in range(int(seconds * FPS)):
            t = k / FPS
            image, truth = world.render(k), world.truth()
            if truth.zone_kind == "dock" and docked(truth):
                return t, world.collisions, reasons
            out = session.run(None, {spec.name: frame_to_tensor(image, entry.preprocessing, spec)})
            row = np.asarray(out[0]).reshape(-1)
            seen_s = t if row[seek.visible] > 0 else seen_s
            awake = {"dock"} if t - seen_s <= awake_hold_s else set()
            result = ExpertResult({entry.outputs[0].name: np.asarray(out[0])}, k, t)
            decision = arbiter.decide(t, {"dock": result}, awake,
                                      pose=Pose(truth.x_mm, truth.y_mm, truth.heading_rad),
                                      range_mm=world.range_mm())
            reasons[decision.reason] += 1
            host.drive(decision.left_mm_s, decision.right_mm_s)
            world.advance(round((k + 1) * 1000 / FPS) - round(k * 1000 / FPS))
        return None, world.collisions, reasons
    finally:
        world.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("boxes", nargs="+", help="boxes with a dock expert that has a drive contract")
    p.add_argument("--trials", type=int, default=24, help="trials per box (default 24)")
    p.add_argument("--seconds", type=float, default=60.0, help="a trial's limit (default 60)")
    p.add_argument("--each", action="store_true", help="a line for every trial too")
    p.add_argument("--json", action="store_true", help="one JSON object per box, a line each")
    args = p.parse_args()
    for path in args.boxes:
        box = Box.open(path)
        entry = box.experts["dock"]
        if entry.drive is None:
            raise SystemExit(f"{path}: its dock has no drive contract: nothing to drive by")
        session = ort.InferenceSession(str(box.file(entry.files.source)))
        times, collisions, reasons = [], 0, Counter()
        for seed, rng in starts(args.trials):
            took, hits, said = trial(box, session, seed, rng, args.seconds)
            if args.each:
                print(f"  seed {seed}: {'docked in %.1f s' % took if took is not None else 'not docked'}"
                      f"  collisions {hits}  reasons {dict(said.most_common())}", flush=True)
            times += [took] if took is not None else []
            collisions += hits
            reasons += said
        median = statistics.median(times) if times else None
        if args.json:
            print(json.dumps({"box": str(path), "trials": args.trials, "docked": len(times),
                              "median_s": median, "collisions": collisions,
                              "reasons": dict(reasons.most_common())}), flush=True)
            continue
        median = "n/a" if median is None else f"{median:.1f} s"
        print(f"{path}: docked {len(times)}/{args.trials}  median {median}  "
              f"collisions {collisions}  reasons {dict(reasons.most_common())}", flush=True)


if __name__ == "__main__":
    main()
