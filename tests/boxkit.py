"""Helpers for tests that build boxes: model files, example frames, byte snapshots."""
from __future__ import annotations

import cv2
import onnx

from scenes import run


def write_frames(folder, frames):
    folder.mkdir(parents=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), f)
    return folder


def write_assets(d, models: dict, families, runs: int):
    """models: name → ModelProto saved as d/name.onnx; families: scene frames, `runs` runs of 6."""
    for name, model in models.items():
        onnx.save(model, str(d / f"{name}.onnx"))
    return {fam: write_frames(d / fam, [f for s in range(runs) for f in run(fam, 6, 40 + s)])
            for fam in families}


def snapshot(box):
    """Every file of a box and its bytes: equal snapshots mean an untouched box."""
    return {p.relative_to(box).as_posix(): p.read_bytes() for p in sorted(box.rglob("*"))
            if p.is_file()}


def old_demo_box(tmp_path, drop=("woken_by", "measured_shapes")):
    """A copy of the bundled demo box as a spikebox from before these manifest fields wrote it:
    the fields left out of every expert entry (the manifest is not itself hashed)."""
    import json
    import shutil
    from pathlib import Path
    copy = tmp_path / "old-demo.box"
    shutil.copytree(Path(__file__).resolve().parent.parent / "models" / "demo.box", copy)
    data = json.loads((copy / "manifest.json").read_text())
    for name, entry in list(data["experts"].items()):
        if entry.get("woken_by") == "name":        # then every expert had units: none such
            folder = str(Path(entry["files"]["source"]).parent)
            del data["experts"][name]
            data["files"] = {k: v for k, v in data["files"].items()
                             if not k.startswith(folder + "/")}
            shutil.rmtree(copy / folder)
    for entry in data["experts"].values():
        for key in drop:
            entry.pop(key, None)
    (copy / "manifest.json").write_text(json.dumps(data, indent=1))
    return copy
