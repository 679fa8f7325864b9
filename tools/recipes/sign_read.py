"""The sign reader: a camera frame -> which sign it can read, or that it can read none.

    .venv-train/bin/python tools/recipes/sign_read.py --box models/demo.box [--smoke]

Output columns (logits; the largest wins): runtime/sim's SIGN_CLASSES (arrow_left,
arrow_right, stop, and the written words DOCK, BALL, LINE: a message to read, not a
shape), then "none": no legible sign in the frame.

Labels: truth.sign.legible says a sign can be read from the frame itself: its whole
face is in the frame and at least SIGN_LEGIBLE_PX (24) of the frame's pixels wide
(foreshortened, so distance and facing both count; truth.py). Then the class is
truth.sign.sign_class (the widest legible sign), else "none". A sign is read at
128x96, not the other experts' 64x48: a legible word is then >= 19 pixels wide.
Frames whose sign is not legible but nearly (its face >= 3/4 of that width, or cut
by the frame's edge) are left out of training and figures: either answer is fair.
Frames: the sign zone and the line zone before it (its signs are read through the
door), from drives and, in training, from poses placed in front of the signs of
300 more courses; of the frames with no legible sign, one in three (by frame id),
to keep the memory small (training draws half of each batch from each side).

Held-out metrics (the tour and errand courses, seeds 1001-1024, fixed look):
accuracy, the share of frames with a legible sign whose largest logit is that
sign's class ("none" counts as wrong); majority_accuracy, always guessing the
commonest class on those frames, the figure to beat; none_accuracy, the share of
kept frames without a legible sign answered "none".
"""
from __future__ import annotations

import numpy as np

from common import Drives, Recipe, Views, run_recipe
from spikebox.runtime.sim import SIGN_CLASSES
from spikebox.runtime.sim.truth import SIGN_LEGIBLE_PX

NONE = len(SIGN_CLASSES)                  # the "no legible sign" column
NEARLY = 0.75 * SIGN_LEGIBLE_PX           # a sign this wide but not legible: left out
_MIRROR = (1, 0, 2, 3, 4, 5, NONE)        # a mirrored frame: the arrows swap, words do not read


def _keep(t) -> bool:
    s = t.sign
    if s.legible:
        return True
    if s.visible and s.width_px >= NEARLY:
        return False
    return t.frame_id % 3 == 0


def _target(t) -> list[float]:
    return [float(SIGN_CLASSES.index(t.sign.sign_class) if t.sign.legible else NONE)]


def _loss(out, target):
    import torch
    return torch.nn.functional.cross_entropy(out, target[:, 0].long())


def _balance(y):
    """Half of every batch from frames with a legible sign, half from frames without."""
    legible = y[:, 0] != NONE
    return np.where(legible, 1.0 / max(legible.sum(), 1), 1.0 / max((~legible).sum(), 1))


def _augment(x, y, gen):
    """Mirror frames of arrows, stop and none (swapping left and right), never words; and
    scale the exposure by 0.8-1.2."""
    import torch
    cls = y[:, 0].long()
    mirrorable = (cls <= 2) | (cls == NONE)
    flip = mirrorable & (torch.rand(len(cls), generator=gen) < 0.5)
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    cls = torch.where(flip, torch.tensor(_MIRROR)[cls], cls)
    x = x * (0.8 + 0.4 * torch.rand(len(cls), 1, 1, 1, generator=gen))
    return x, cls[:, None].to(y.dtype)


def _metrics(out: np.ndarray, target: np.ndarray) -> dict[str, float]:
    truth, said = target[:, 0].astype(int), out.argmax(axis=1)
    legible = truth != NONE
    metrics = {}
    if legible.any():
        metrics["accuracy"] = float(np.mean(said[legible] == truth[legible]))
        metrics["majority_accuracy"] = float(np.bincount(truth[legible]).max() / legible.sum())
    else:                      # a smoke drive may show no legible sign
        metrics["accuracy"] = metrics["majority_accuracy"] = 0.0
    if (~legible).any():
        metrics["none_accuracy"] = float(np.mean(said[~legible] == NONE))
    metrics["legible_frames"] = float(legible.sum())
    return metrics


RECIPE = Recipe(
    name="sign_read", skill="sign", factory="make_sign_read",
    keep=_keep, target=_target, loss=_loss, metrics=_metrics,
    also_from=("line",),         # the signs are read through the door, from the line zone too
    output_meaning="logits over " + ", ".join(SIGN_CLASSES) + ", none (no legible sign)",
    input_size=(128, 96), sample_weight=_balance, augment=_augment, steps=3000,
    # A sign zone holds two signs: drives show too few of them (trained on 112 drives' 224
    # signs: 0.71-0.77 held out), so most signs come from poses placed in front of them
    # (600 signs: 1.0). Drives still give the frames a robot meets, and the line zone's
    # view through the door (tour), and the activator its examples.
    train=(Views("errand", tuple(range(2001, 2301)), per_seed=12, zone_kind="sign"),
           Drives(("errand",), tuple(range(1, 41)), randomize=True, wander=25.0),
           Drives(("tour",), tuple(range(1, 33)), randomize=True, wander=25.0)),
    heldout=Drives(("tour", "errand"), tuple(range(1001, 1025)), randomize=False, wander=25.0),
    # A stop sign read with a margin stops the robot 2 s, then it goes on. The demo world's
    # arrows stand beside the way pointing nowhere in particular, and words are messages:
    # neither steers (a world whose arrows mean "turn here" maps them to turn_left/right).
    priority=20,
    drive={"classes": {"output": "cat", "names": [*SIGN_CLASSES, "none"],
                       "actions": {"stop": "stop"}, "margin": 1.0, "hold_s": 2.0,
                       "rearm_s": 3.0}})

if __name__ == "__main__":
    run_recipe(RECIPE)
