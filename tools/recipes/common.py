"""What every demo-expert recipe shares: frames from the world, training, held-out figures, export.

    from common import Recipe, run_recipe
    run_recipe(Recipe(name="line_follow", skill="line", factory="make_line_follow", ...))

A recipe (line_follow.py, ...) says which frames its skill sees, what a perfect
expert answers on them (the world's ground truth, runtime/sim/truth.py), its
loss and its held-out metric; this module does the rest, the same way for all:

1. Training frames (frames.py): the autopilot drives the courses with the world's
   domain randomisation on, and wanders off its ideal path (a smoothed random turn,
   seeded) so the frames show the robot off the line or askew, and the truth
   says how a perfect expert would correct it. A recipe may add `Views` (poses placed
   in front of its zone's signs or docks) and `Looks` (anywhere, facing any way).
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
import dataclasses
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from spikebox.runtime.box import Box
from spikebox.runtime.experts.preprocess import frame_to_tensor
from spikebox.runtime.sim import GroundTruth
from spikebox.runtime.sim.layout import SKILLS
from spikebox.runtime.sim.truth import cue_skill

# The recipes take these from here, with the rest of what they share.
from frames import (FULL_HELDOUT, FULL_TRAIN, SMOKE_HELDOUT, SMOKE_TRAIN, Drives,  # noqa: F401
                    Looks, Views, render, start_at)

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
NETS = HERE / "nets.py"
INPUT_SIZE = (64, 48)                  # nets.py's default input (w, h); frames are rendered at 160x120


def preprocessing(size: tuple[int, int]) -> dict:
    """The manifest's preprocessing for an expert whose input is `size` (w, h)."""
    return {"size": [size[0], size[1]], "colour": "bgr", "scale": 1 / 255}


def input_spec(size: tuple[int, int]) -> dict:
    return {"name": "image", "shape": [1, 3, size[1], size[0]], "dtype": "float32"}




@dataclass(frozen=True)
class Recipe:
    name: str                                  # the expert's name in the box
    skill: str | None                          # layout.SKILLS: whose zone's frames it sees;
                                               # None: every zone's, and the camera never
                                               # wakes it (no units: pin it, it runs always)
    factory: str                               # in nets.py
    keep: Callable[[GroundTruth], bool]        # which frames of the zone it learns from
    target: Callable[[GroundTruth], list[float]]   # what a perfect expert answers
    loss: Callable                             # (torch out, torch target) -> scalar
    metrics: Callable[[np.ndarray, np.ndarray], dict[str, float]]   # (out, target) held out
    output_meaning: str                        # of nets.OUTPUT's columns
    also_from: tuple[str | None, ...] = ()     # other skills' zones its frames may be in
                                               # (None: open floor)
    train: Drives | tuple[Drives | Views | Looks, ...] = FULL_TRAIN   # a skill with few frames a drive takes more
    heldout: Drives | tuple[Drives | Looks, ...] = FULL_HELDOUT
    steps: int = 1500                          # full run; --smoke does SMOKE_STEPS
    priority: int = 0                          # higher wins in the arbiter
    # How its outputs drive the robot: export add's --drive (runtime/arbiter/contract.py).
    drive: dict | None = None
    batch: int = 64
    lr: float = 2e-3
    input_size: tuple[int, int] = INPUT_SIZE   # (w, h) the net's factory in nets.py takes
    # How often each training frame is drawn into a batch (targets -> weights); None: evenly.
    sample_weight: Callable[[np.ndarray], np.ndarray] | None = None
    # Torch (images, targets, generator) -> (images, targets), on every training batch.
    augment: Callable | None = None
    # The drives whose frames teach the activator (its cue vs none); None: the training drives.
    examples: Drives | tuple[Drives, ...] | None = None
    # More held-out figures from the trained model: (torch model, smoke) -> {name: value}.
    more_metrics: Callable | None = None


SMOKE_STEPS = 5                                # on one training and one held-out drive
EXAMPLES = 400        # activator example frames per skill, and of background, that train its
                      # units (smoke: 12); 64 of them took top-1 on the view's cue to 79 %, 400 to 86 %
KEEP_EXAMPLES = 48    # of those, kept in the box for later experts' calibration: 20 MB in all


def tensors(frames, size: tuple[int, int] = INPUT_SIZE) -> np.ndarray:
    """(N, 3, h, w) float32, through the robot's own preprocessing."""
    pre, spec = preprocessing(size), input_spec(size)
    return np.concatenate([frame_to_tensor(image, pre, spec) for _, image, _ in frames])


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
    weights = (None if recipe.sample_weight is None
               else torch.from_numpy(np.asarray(recipe.sample_weight(y), np.float64)))
    batch = min(recipe.batch, len(xt))
    model.train()
    for step in range(steps):
        if weights is None:
            idx = torch.randint(0, len(xt), (batch,), generator=gen)
        else:
            idx = torch.multinomial(weights, batch, replacement=True, generator=gen)
        xb, yb = xt[idx], yt[idx]
        if recipe.augment is not None:
            xb, yb = recipe.augment(xb, yb, gen)
        loss = recipe.loss(model(xb), yb)
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


def export(recipe: Recipe, box: Path, weights: Path, examples: Path | None,
           background: Path | None, metrics: dict[str, float]) -> None:
    """`spikebox export add` in this Python (the training env: the door needs torch)."""
    cli = [sys.executable, "-m", "spikebox", "export"]
    if not (box / "manifest.json").exists():
        subprocess.run(cli + ["init", str(box)], check=True)
    elif recipe.name in Box.open(box).experts:          # a re-run replaces the expert
        subprocess.run(cli + ["remove", str(box), recipe.name], check=True)
    w, h = recipe.input_size
    add = cli + ["add", str(box), recipe.name, f"{NETS}:{recipe.factory}",
                 "--weights", str(weights), "--input-shape", f"1,3,{h},{w}",
                 "--image-size", f"{w}x{h}", "--colour", "bgr", "--scale", repr(1 / 255),
                 "--priority", str(recipe.priority),
                 "--output", f"cat={recipe.output_meaning}"]
    if examples is not None:                   # else no units: the camera never wakes it
        add += ["--examples", str(examples), "--background", str(background),
                "--keep-examples", str(KEEP_EXAMPLES)]
    if recipe.drive is not None:
        add += ["--drive", json.dumps(recipe.drive)]
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
    skills = ({recipe.skill, *recipe.also_from} if recipe.skill is not None
              else set(SKILLS) | {None})
    # A smoke drive starts where the recipe's drives do (a zone deep in the course is minutes in).
    parts = (recipe.train,) if isinstance(recipe.train, (Drives, Views, Looks)) else recipe.train
    start = next((d.start_zone for d in parts if isinstance(d, Drives)), None)
    smoke_train, smoke_held = (dataclasses.replace(d, start_zone=start)
                               for d in (SMOKE_TRAIN, SMOKE_HELDOUT))
    driven = render(smoke_train if smoke else tuple(d for d in parts if isinstance(d, Drives)),
                    skills | {None})
    rendered = driven + ([] if smoke else render(tuple(v for v in parts if isinstance(v, (Views, Looks))),
                                                 skills | {None}))
    # The activator learns when the view calls for the skill (cue_skill: its line, a readable
    # sign, its ball or marker near, an obstacle close ahead), not where the robot stands: a
    # frame of the zone often shows nothing of it (measured: BENCHMARKS.md, routing). From
    # drives only: placed poses are not what the robot's camera meets.
    seen = ([] if recipe.skill is None else driven if smoke or recipe.examples is None
            else render(recipe.examples, skills | {None}))
    background = [f for f in seen if cue_skill(f[2]) is None]
    zone = [f for f in seen if cue_skill(f[2]) == recipe.skill] or \
        [f for f in seen if f[2].skill == recipe.skill]         # a smoke drive may show no cue
    train_frames = [f for f in rendered if f[2].skill in skills and recipe.keep(f[2])]
    held_frames = [f for f in render(smoke_held if smoke else recipe.heldout, skills)
                   if recipe.keep(f[2])]
    if not train_frames or not held_frames:
        raise SystemExit(f"{recipe.name}: the drives gave no frames of its skill "
                         f"({len(train_frames)} training, {len(held_frames)} held out)")
    logger.info("%s: %d training frames, %d held out (%.0f s)", recipe.name, len(train_frames),
                len(held_frames), time.monotonic() - t0)
    y = np.asarray([recipe.target(t) for _, _, t in train_frames], np.float32)
    y_held = np.asarray([recipe.target(t) for _, _, t in held_frames], np.float32)
    size = recipe.input_size
    model = train(recipe, tensors(train_frames, size), y, SMOKE_STEPS if smoke else recipe.steps)
    metrics = recipe.metrics(predict(model, tensors(held_frames, size)), y_held)
    metrics["heldout_frames"] = float(len(held_frames))
    if recipe.more_metrics is not None:
        metrics.update(recipe.more_metrics(model, smoke))
    logger.info("%s: held out %s (%.0f s)", recipe.name, metrics, time.monotonic() - t0)

    import torch
    work = Path(tempfile.mkdtemp(prefix=f"spikebox-{recipe.name}-"))
    try:
        torch.save(model.state_dict(), work / "weights.pt")
        n = 12 if smoke else EXAMPLES
        woken = recipe.skill is not None
        export(recipe, args.box, work / "weights.pt",
               _examples(zone, n, work / "ex") if woken else None,
               _examples(background, n, work / "bg") if woken else None, metrics)
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
