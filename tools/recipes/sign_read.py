"""The sign reader: a camera frame of the sign zone -> which sign it reads.

    .venv-train/bin/python tools/recipes/sign_read.py --box models/demo.box [--smoke]

Classes, in the output's column order: runtime/sim's SIGN_CLASSES (arrow_left,
arrow_right, stop, and the written words DOCK, BALL, LINE: a message to read, not a
shape). Labels: truth.sign.sign_class on frames where a sign is near and square
enough to read (in the sign zone, and through its door from the line zone), 32
drives (64 signs). Held-out metric: accuracy of the largest logit over those frames;
beside it majority_accuracy, always guessing the commonest class, the figure to beat.
"""
from __future__ import annotations

import numpy as np

from common import Drives, Recipe, run_recipe
from spikebox.runtime.sim import SIGN_CLASSES


def _loss(out, target):
    import torch
    return torch.nn.functional.cross_entropy(out, target[:, 0].long())


def _metrics(out: np.ndarray, target: np.ndarray) -> dict[str, float]:
    truth = target[:, 0].astype(int)
    return {"accuracy": float(np.mean(out.argmax(axis=1) == truth)),
            "majority_accuracy": float(np.bincount(truth).max() / len(truth))}


RECIPE = Recipe(
    name="sign_read", skill="sign", factory="make_sign_read",
    keep=lambda t: t.sign.visible,
    also_from=("line",),         # the signs are read through the door, from the line zone too
    target=lambda t: [float(SIGN_CLASSES.index(t.sign.sign_class))],
    loss=_loss, metrics=_metrics,
    output_meaning="logits over " + ", ".join(SIGN_CLASSES),
    # A sign zone holds two signs: many more drives than the line follower's, each cut
    # after its sign zone (errand starts with it), for every class seen often enough.
    train=Drives(("tour", "errand"), tuple(range(1, 17)), randomize=True, wander=25.0),
    heldout=Drives(("tour", "errand"), tuple(range(1001, 1009)), randomize=False, wander=25.0))

if __name__ == "__main__":
    run_recipe(RECIPE)
