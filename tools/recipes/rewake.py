"""A new demo box from an old one's experts, with a new activator: each expert's own ONNX file
added again, with the example frames the recipes pick today; models and held-out figures kept.

    .venv/bin/python tools/recipes/rewake.py --from models/demo.box --box build/demo.box

What `make experts` does for the activator, without retraining the experts (minutes instead of
most of an hour on 2 shared cores): a new box (today's encoder), then for each expert of the
old one, in its order, `spikebox export add` of its source model with its preprocessing, role,
output meanings and metrics from its manifest entry, its priority and drive contract as its
recipe says today (the manifest's for an expert no recipe makes), and the cue frames of its
skill (common.py) as --examples; an expert the camera never woke gets no units again.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import cv2

from common import EXAMPLES, FULL_TRAIN, KEEP_EXAMPLES, SMOKE_TRAIN, _examples, render
from spikebox.runtime.box import Box
from spikebox.runtime.sim.layout import DEMO_EXPERT_OF_SKILL, SKILLS
from spikebox.runtime.sim.truth import cue_skill

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    p.add_argument("--from", dest="old", type=Path, required=True, help="the box to take from")
    p.add_argument("--box", type=Path, required=True, help="the new box (must not exist)")
    p.add_argument("--smoke", action="store_true", help="CI: one drive, 12 examples a skill")
    p.add_argument("--closed-loop", type=Path, action="append", default=[], metavar="DIR",
                   help="a recording of a run on the sim (spikebox run --report DIR: its "
                        "recording/); its frames, labelled by what the view calls for, give half "
                        "of each skill's examples and of the background (repeatable)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    box = Box.open(args.old)
    skill_of = {e: s for s, e in DEMO_EXPERT_OF_SKILL.items()}
    order = list(box.manifest.experts)
    logger.info("rendering the training drives ...")
    frames = render(SMOKE_TRAIN if args.smoke else FULL_TRAIN, set(SKILLS) | {None})
    looped = [f for d in args.closed_loop for f in recorded_frames(d)]
    n = 12 if args.smoke else EXAMPLES
    cli = [sys.executable, "-m", "spikebox", "export"]
    subprocess.run(cli + ["init", str(args.box), "--name", box.manifest.name], check=True)
    work = Path(tempfile.mkdtemp(prefix="spikebox-rewake-"))
    try:
        background = _mixed([f for f in frames if cue_skill(f[2]) is None],
                            [f for f in looped if cue_skill(f[2]) is None], n, work / "background")
        for name in order:
            entry = box.manifest.experts[name]
            model = work / f"{name}.onnx"
            shutil.copyfile(box.path / entry.files.source, model)
            pre = entry.preprocessing
            priority, drive = entry.priority, box.manifest.to_json()["experts"][name].get("drive")
            recipe = _recipe(name)
            if recipe is not None:
                priority, drive = recipe.priority, recipe.drive
            add = cli + ["add", str(args.box), name, str(model),
                         "--role", entry.role, "--priority", str(priority),
                         "--image-size", "{}x{}".format(*pre["size"]),
                         "--colour", pre["colour"], "--scale", repr(pre["scale"])]
            if entry.camera_woken:
                skill = skill_of[name]
                examples = _mixed([f for f in frames if cue_skill(f[2]) == skill] or
                                  [f for f in frames if f[2].skill == skill],
                                  [f for f in looped if cue_skill(f[2]) == skill], n, work / name)
                add += ["--examples", str(examples), "--background", str(background),
                        "--keep-examples", str(KEEP_EXAMPLES)]
            if drive is not None:
                add += ["--drive", json.dumps(drive)]
            for out in entry.outputs:
                if out.meaning:
                    add += ["--output", f"{out.name}={out.meaning}"]
            for metric, value in (entry.metrics or {}).items():
                add += ["--metric", f"{metric}={value!r}"]
            logger.info("%s: re-adding (%s) ...", name, "with its cue frames"
                        if entry.camera_woken else "no units: the camera never wakes it")
            subprocess.run(add, check=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def recorded_frames(folder: Path) -> list:
    """(run id, image, truth) of each frame of a sim run's recording that kept its image; truth
    as attributes (what cue_skill reads), from frames.jsonl's GroundTruth.to_json()."""
    folder = folder / "recording" if (folder / "recording").is_dir() else folder
    out = []
    with open(folder / "frames.jsonl") as rows:
        for line in rows:
            row = json.loads(line)
            if row.get("file") and row.get("truth"):
                image = cv2.imread(str(folder / row["file"]))
                if image is not None:
                    out.append((folder.name, image, _attrs(row["truth"])))
    if not out:
        raise SystemExit(f"{folder}: no frames with an image and the sim's truth; record a run "
                         "with `spikebox run --source sim:COURSE:SEED --report DIR`")
    logger.info("%s: %d closed-loop frames", folder, len(out))
    return out


def _attrs(value):
    if isinstance(value, dict):
        return SimpleNamespace(**{k: _attrs(v) for k, v in value.items()})
    return value


def _mixed(drives: list, looped: list, n: int, folder: Path) -> Path:
    """n example frames: half from the closed-loop frames when there are any, else all drives."""
    if not looped:
        return _examples(drives, n, folder)
    _examples(drives, n - n // 2, folder / "drives")
    _examples(looped, n // 2, folder / "looped")
    for k, path in enumerate(sorted(folder.glob("*/*.png"))):
        path.rename(folder / f"{k:05d}.png")
    for part in ("drives", "looped"):
        (folder / part).rmdir()
    return folder


def _recipe(name: str):
    """The RECIPE of tools/recipes/NAME.py, or None for an expert no recipe here makes."""
    import importlib.util
    path = Path(__file__).resolve().parent / f"{name}.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"spikebox_recipe_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.RECIPE


if __name__ == "__main__":
    main()
