"""What every demo-expert recipe shares: frames from the world, training, held-out figures, export.

    from common import Recipe, run_recipe
    run_recipe(Recipe(name="line_follow", skill="line", factory="make_line_follow", ...))

A recipe (line_follow.py, ...) says which frames its skill sees, what a perfect
expert answers on them (the world's ground truth, runtime/sim/truth.py), its
loss and its held-out metric; this module does the rest, the same way for all:

1. Training frames: the autopilot drives the courses with the world's domain
   randomisation on, and wanders off its ideal path (a smoothed random turn,
   seeded) so the frames show the robot off the line or askew, and the truth
   says how a perfect expert would correct it.
2. Held-out frames: other seeds, randomisation off (the fixed look), wandering
   with a fixed seed; never trained on.
3. Training: fixed seeds, one or two CPU threads, Adam, a few thousand steps.
4. Export: `spikebox export add BOX NAME nets.py:FACTORY --weights ... --metric
   NAME=VALUE` through the project's own CLI (its PyTorch door), run in this
   Python (the training env), with example frames whose view calls for the skill and
   frames that call for none as the background for the activator.

Frames become tensors by the robot's own preprocessing (frame_to_tensor), so the
model is trained on exactly what the robot will feed it.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from spikebox.runtime.box import Box
from spikebox.runtime.experts.preprocess import frame_to_tensor
from spikebox.runtime.sim import GroundTruth, SimWorld, WorldConfig
from spikebox.runtime.sim.autopilot import Autopilot, drive
from spikebox.runtime.sim.truth import cue_skill, docked

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
NETS = HERE / "nets.py"
INPUT_W, INPUT_H = 64, 48              # nets.py's input; frames are rendered at 160x120
PREPROCESSING = {"size": [INPUT_W, INPUT_H], "colour": "bgr", "scale": 1 / 255}
INPUT_SPEC = {"name": "image", "shape": [1, 3, INPUT_H, INPUT_W], "dtype": "float32"}
RENDER_W, RENDER_H = 160, 120          # the sim's default camera: what the robot sees


@dataclass(frozen=True)
class Drives:
    """Which drives a dataset is rendered from."""
    courses: tuple[str, ...]
    seeds: tuple[int, ...]
    randomize: bool                    # domain randomisation (training) or the fixed look
    wander: float                      # std of the random turn added to the autopilot, mm/s
    max_frames: int = 2000             # per drive; a tour takes ~1300-1600 at 20 fps


# wander 25 mm/s (AR 0.9: ~57 mm/s stationary) shows the robot askew yet still lets a drive
# finish the course in ~1400 frames; 60 kept it in the line zone for half the drive.
# 8 seeds, not 4: the line follower's held-out error fell from 0.077 to 0.028 (steering units).
FULL_TRAIN = Drives(("tour", "errand"), tuple(range(1, 9)), randomize=True, wander=25.0)
# Held out: other seeds, the fixed look; the robot wanders too (seeded), so the figures say
# how well an expert corrects, not only how well it repeats the autopilot's ideal drive.
FULL_HELDOUT = Drives(("tour", "errand"), (1001,), randomize=False, wander=25.0)
SMOKE_TRAIN = Drives(("tour",), (1,), randomize=True, wander=25.0)
SMOKE_HELDOUT = Drives(("tour",), (1001,), randomize=False, wander=25.0)


@dataclass(frozen=True)
class Recipe:
    name: str                                  # the expert's name in the box
    skill: str                                 # layout.SKILLS: whose zone's frames it sees
    factory: str                               # in nets.py
    keep: Callable[[GroundTruth], bool]        # which frames of the zone it learns from
    target: Callable[[GroundTruth], list[float]]   # what a perfect expert answers
    loss: Callable                             # (torch out, torch target) -> scalar
    metrics: Callable[[np.ndarray, np.ndarray], dict[str, float]]   # (out, target) held out
    output_meaning: str                        # of nets.OUTPUT's columns
    also_from: tuple[str, ...] = ()            # other skills' zones its frames may be in
    train: Drives = FULL_TRAIN                 # a skill with few frames a drive takes more
    heldout: Drives = FULL_HELDOUT
    steps: int = 1500                          # full run; --smoke does SMOKE_STEPS
    priority: int = 0
    batch: int = 64
    lr: float = 2e-3


SMOKE_STEPS = 5                                # on one training and one held-out drive
EXAMPLES = 400        # activator example frames per skill, and of background, that train its
                      # units (smoke: 12); 64 of them took top-1 on the view's cue to 79 %, 400 to 86 %
KEEP_EXAMPLES = 48    # of those, kept in the box for later experts' calibration: 20 MB in all


class Wanderer(Autopilot):
    """The autopilot plus a smoothed random turn: training frames off the ideal path."""

    def __init__(self, world: SimWorld, wander_mm_s: float, seed: int):
        super().__init__(world)
        self._rng = np.random.default_rng(seed)
        self._turn, self._std = 0.0, wander_mm_s

    def act(self, truth):
        left, right = super().act(truth)
        if left == right == 0.0:            # docked: stay docked
            return left, right
        self._turn = 0.9 * self._turn + self._rng.normal(0.0, self._std)
        return left - self._turn, right + self._turn


def render(drives: Drives, skills: set):
    """Frames (160x120 BGR) and truths of every drive, where the place needs one of `skills`
    (None: open floor), in camera order per drive: a list of (drive id, image, truth)."""
    out = []
    for course in drives.courses:
        for seed in drives.seeds:
            world = SimWorld(WorldConfig(course=course, width_px=RENDER_W, height_px=RENDER_H,
                                         randomize=drives.randomize), seed=seed)
            pilot = (Wanderer(world, drives.wander, seed) if drives.wander
                     else Autopilot(world))
            seen: set[int] = set()              # zones of a wanted skill the drive went through
            try:
                for image, truth in drive(world, drives.max_frames, pilot=pilot):
                    if truth.skill in skills:
                        out.append((f"{course}-{seed}", image, truth))
                        if truth.skill is not None:
                            seen.add(truth.zone)
                    elif seen and truth.skill is not None:
                        break                   # past the skill's zone: the rest is not wanted
                    if truth.zone_kind == "dock" and docked(truth):
                        break                   # at rest before the marker: the drive is done
            finally:
                world.close()
    return out


def tensors(frames) -> np.ndarray:
    """(N, 3, 48, 64) float32, through the robot's own preprocessing."""
    return np.concatenate([frame_to_tensor(image, PREPROCESSING, INPUT_SPEC)
                           for _, image, _ in frames])


def train(recipe: Recipe, x: np.ndarray, y: np.ndarray, steps: int, seed: int = 0):
    import torch
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    nets = _nets()
    model = getattr(nets, recipe.factory)()
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for step in range(steps):
        idx = torch.randint(0, len(xt), (min(recipe.batch, len(xt)),), generator=gen)
        loss = recipe.loss(model(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == steps - 1:
            logger.info("%s: step %d/%d loss %.4f", recipe.name, step + 1, steps, loss.item())
    return model.eval()


def predict(model, x: np.ndarray) -> np.ndarray:
    import torch
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(x[i:i + 256])).numpy()
                               for i in range(0, len(x), 256)])


def _nets():
    import importlib.util
    spec = importlib.util.spec_from_file_location("spikebox_recipe_nets", NETS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _examples(frames, n: int, folder: Path) -> Path:
    """Up to `n` frames spread evenly over all the drives (export add reads each as a still)."""
    folder.mkdir(parents=True)
    pick = np.unique(np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int))
    for i, k in enumerate(pick):
        cv2.imwrite(str(folder / f"{i:05d}.png"), frames[k][1])
    return folder


def export(recipe: Recipe, box: Path, weights: Path, examples: Path, background: Path,
           metrics: dict[str, float]) -> None:
    """`spikebox export add` in this Python (the training env: the door needs torch)."""
    cli = [sys.executable, "-m", "spikebox", "export"]
    if not (box / "manifest.json").exists():
        subprocess.run(cli + ["init", str(box)], check=True)
    elif recipe.name in Box.open(box).experts:          # a re-run replaces the expert
        subprocess.run(cli + ["remove", str(box), recipe.name], check=True)
    w, h = PREPROCESSING["size"]
    add = cli + ["add", str(box), recipe.name, f"{NETS}:{recipe.factory}",
                 "--weights", str(weights), "--input-shape", f"1,3,{h},{w}",
                 "--image-size", f"{w}x{h}", "--colour", "bgr", "--scale", repr(1 / 255),
                 "--examples", str(examples), "--background", str(background),
                 "--keep-examples", str(KEEP_EXAMPLES),
                 "--priority", str(recipe.priority),
                 "--output", f"cat={recipe.output_meaning}"]
    for name, value in metrics.items():
        add += ["--metric", f"{name}={value:.6g}"]
    subprocess.run(add, check=True)


def run_recipe(recipe: Recipe, argv: list[str] | None = None) -> dict[str, float]:
    """The one command of a recipe: render, train, evaluate held out, export; the metrics."""
    p = argparse.ArgumentParser(description=f"example:  .venv-train/bin/python "
                                f"tools/recipes/{recipe.name}.py --box models/demo.box")
    p.add_argument("--box", type=Path, required=True, help="the box to add the expert to "
                   "(made if missing; an expert of the same name is replaced)")
    p.add_argument("--smoke", action="store_true",
                   help=f"CI: {SMOKE_STEPS} training steps on a few frames")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    t0 = time.monotonic()
    smoke = args.smoke
    skills = {recipe.skill, *recipe.also_from}
    rendered = render(SMOKE_TRAIN if smoke else recipe.train, skills | {None})
    # The activator learns when the view calls for the skill (cue_skill: its line, a readable
    # sign, its ball or marker near, an obstacle close ahead), not where the robot stands: a
    # frame of the zone often shows nothing of it (measured: BENCHMARKS.md, routing).
    background = [f for f in rendered if cue_skill(f[2]) is None]
    zone = [f for f in rendered if cue_skill(f[2]) == recipe.skill] or \
        [f for f in rendered if f[2].skill == recipe.skill]     # a smoke drive may show no cue
    train_frames = [f for f in rendered if f[2].skill in skills and recipe.keep(f[2])]
    held_frames = [f for f in render(SMOKE_HELDOUT if smoke else recipe.heldout, skills)
                   if recipe.keep(f[2])]
    if not train_frames or not held_frames:
        raise SystemExit(f"{recipe.name}: the drives gave no frames of its skill "
                         f"({len(train_frames)} training, {len(held_frames)} held out)")
    logger.info("%s: %d training frames, %d held out (%.0f s)", recipe.name, len(train_frames),
                len(held_frames), time.monotonic() - t0)
    y = np.asarray([recipe.target(t) for _, _, t in train_frames], np.float32)
    y_held = np.asarray([recipe.target(t) for _, _, t in held_frames], np.float32)
    model = train(recipe, tensors(train_frames), y, SMOKE_STEPS if smoke else recipe.steps)
    metrics = recipe.metrics(predict(model, tensors(held_frames)), y_held)
    metrics["heldout_frames"] = float(len(held_frames))
    logger.info("%s: held out %s (%.0f s)", recipe.name, metrics, time.monotonic() - t0)

    import torch
    work = Path(tempfile.mkdtemp(prefix=f"spikebox-{recipe.name}-"))
    try:
        torch.save(model.state_dict(), work / "weights.pt")
        n = 12 if smoke else EXAMPLES
        export(recipe, args.box, work / "weights.pt", _examples(zone, n, work / "ex"),
               _examples(background, n, work / "bg"), metrics)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logger.info("%s: done in %.0f s", recipe.name, time.monotonic() - t0)
    return metrics


# --- the finders' shared head: "is it there, and where" (ball_find, dock) ----------------------

def seen_loss(out, target, n_where: int, n_flags: int = 0):
    """Column 0 a visible logit (BCE); the next `n_where` columns regressed (smooth L1) and the
    `n_flags` after them flag logits (BCE), both only on frames where the thing is visible."""
    import torch
    f = torch.nn.functional
    loss = f.binary_cross_entropy_with_logits(out[:, 0], target[:, 0])
    seen = target[:, 0] > 0.5
    if seen.any():
        where = slice(1, 1 + n_where)
        loss = loss + f.smooth_l1_loss(out[seen, where], target[seen, where], beta=0.1)
        if n_flags:
            flags = slice(1 + n_where, 1 + n_where + n_flags)
            loss = loss + f.binary_cross_entropy_with_logits(out[seen, flags], target[seen, flags])
    return loss


def seen_metrics(out: np.ndarray, target: np.ndarray, where: dict[str, float],
                 flags: tuple[str, ...] = ()) -> dict[str, float]:
    """visible_accuracy over every frame; for each of `where` (name -> unit scale, in column
    order after visible) its mean absolute error over the visible frames, in that unit; for
    each flag its accuracy over the visible frames. visible_majority: the figure to beat."""
    truth_seen = target[:, 0] > 0.5
    metrics = {"visible_accuracy": float(np.mean((out[:, 0] > 0) == truth_seen)),
               "visible_majority": float(max(truth_seen.mean(), 1 - truth_seen.mean()))}
    if truth_seen.any():
        for k, (name, scale) in enumerate(where.items(), start=1):
            err = np.abs(out[truth_seen, k] - target[truth_seen, k]) * scale
            metrics[name] = float(err.mean())
        for k, name in enumerate(flags, start=1 + len(where)):
            metrics[name] = float(np.mean((out[truth_seen, k] > 0) == (target[truth_seen, k] > 0.5)))
    return metrics
