"""How often boxes' ball finders see a ball that is not there, and see one that is.

    .venv-train/bin/python tools/recipes/ball_eval.py models/demo.box [OTHER.box ...]

On held-out frames no recipe trains on: placed views of the sign zone's signs near and
askew (ball_find.SIGNS_HELDOUT: a red stop sign seen close looks like a red ball), and the
held-out drives of every zone (FULL_HELDOUT). Per box and set: "phantom", the share of
frames without a visible ball where the expert says "seen"; "recall", the share of frames
with a visible ball where it does. Each box's ball_find runs as exported (its source ONNX).
"""
from __future__ import annotations

import argparse

import onnxruntime as ort
import dataclasses

from ball_find import SIGNS_HELDOUT
from frames import FULL_HELDOUT, SMOKE_HELDOUT, render

from spikebox.runtime.box import Box
from spikebox.runtime.experts.preprocess import frame_to_tensor
from spikebox.runtime.sim.layout import SKILLS


def expert_rows(path, name: str, frames):
    """(truth, output row) of box `path`'s expert `name` (its source ONNX, as exported) on
    each (tag, image, truth) of `frames`, in order."""
    box = Box.open(path)
    entry = box.experts[name]
    session = ort.InferenceSession(str(box.file(entry.files.source)))
    spec = entry.inputs[0]
    for _, image, truth in frames:
        yield truth, session.run(None, {spec.name: frame_to_tensor(
            image, entry.preprocessing, spec)})[0].reshape(-1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("boxes", nargs="+", help="boxes with a ball_find expert")
    p.add_argument("--smoke", action="store_true", help="CI: a few frames of each set")
    args = p.parse_args()
    everywhere = set(SKILLS) | {None}
    signs = dataclasses.replace(SIGNS_HELDOUT, seeds=SIGNS_HELDOUT.seeds[:1], per_seed=8) \
        if args.smoke else SIGNS_HELDOUT
    sets = {"signs_near": render(signs, everywhere),
            "drives": render(SMOKE_HELDOUT if args.smoke else FULL_HELDOUT, everywhere)}
    for path in args.boxes:
        for name, frames in sets.items():
            said = {True: [0, 0], False: [0, 0]}            # visible -> [seen, frames]
            for truth, row in expert_rows(path, "ball_find", frames):
                counts = said[bool(truth.ball.visible)]
                counts[0] += int(row[0] > 0)
                counts[1] += 1
            (fp, neg), (tp, pos) = said[False], said[True]
            print(f"{path}  {name}: phantom {fp}/{neg} = {fp / max(neg, 1):.3f}  "
                  f"recall {tp}/{pos} = {tp / max(pos, 1):.3f}")


if __name__ == "__main__":
    main()
