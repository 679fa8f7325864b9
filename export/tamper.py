"""The trust rules tried as a hostile user would: tampered copies of a real box.

    report = tamper_suite(good_box, workdir)      # one copy per case, in workdir
    report.accepted == []  and  report.outside_touched == []

Each case copies a box exported for real, tampers with the copy, and then
asks the two gates: the robot's reader (Box.open, then BoxLoader.load for every
expert and load_activator, as the daemon will) and `spikebox export check`.
A case is *accepted* if the check passes, or if the robot loads the tampered
bytes. Meanwhile a folder outside the box, full of files the tampering points
at, is watched: anything in it changed or deleted is *touched*. Then export's
own cleanup is tried on the tampered copy (`export remove`), which must not
touch it either. Used by tests/test_tamper.py and `spikebox bench faults`.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import onnx

from spikebox.runtime.box import MANIFEST, Box, BoxError, sha256_file
from spikebox.runtime.experts.box_loader import BoxLoader

from .box_check import check_box
from .box_edit import remove_expert


@dataclass
class TamperReport:
    cases: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    outside_touched: list[str] = field(default_factory=list)
    refusals: dict[str, str] = field(default_factory=dict)     # case -> the first refusal


def _manifest(box: Path) -> dict:
    return json.loads((box / MANIFEST).read_text())


def _write(box: Path, data: dict) -> None:
    (box / MANIFEST).write_text(json.dumps(data, indent=1))


def _rehash(box: Path, data: dict) -> None:
    """What an attacker without the signing key can do: make the hashes match again."""
    data["files"] = {rel: sha256_file(box / rel) for rel in data["files"]}


def _an_expert(data: dict) -> tuple[str, dict]:
    name = sorted(data["experts"])[0]
    return name, data["experts"][name]


def _flip_byte(path: Path) -> None:
    b = bytearray(path.read_bytes())
    b[len(b) // 2] ^= 0x01
    path.write_bytes(bytes(b))


# ---- the cases: each tampers with `box`, given a folder `outside` it may point at ----

def _listed_file_changed(box: Path, outside: Path) -> None:
    _, e = _an_expert(_manifest(box))
    graph = box / e["files"]["optimized"]
    weights = graph.with_name(graph.name + ".data")
    _flip_byte(weights if weights.exists() else graph)


def _file_list_emptied(box: Path, outside: Path) -> None:
    data = _manifest(box)
    data["files"] = {}
    _write(box, data)


def _unlisted_file_added(box: Path, outside: Path) -> None:
    _, e = _an_expert(_manifest(box))
    (box / Path(e["files"]["optimized"]).parent / "extra.onnx").write_bytes(b"slipped in")


def _activator_outside(box: Path, outside: Path, absolute: bool) -> None:
    data = _manifest(box)
    act = box / data["activator"]
    copy = outside / "activator"
    shutil.copytree(act, copy)
    data["activator"] = str(copy) if absolute else f"../{outside.name}/activator"
    _write(box, data)


def _activator_file_changed(box: Path, outside: Path) -> None:
    data = _manifest(box)
    npz = sorted((box / data["activator"]).glob("*.npz"))[0]
    _flip_byte(npz)


def _external_data_outside(box: Path, outside: Path) -> None:
    """Re-point the graph's weights at a copy outside the box, and re-hash."""
    data = _manifest(box)
    _, e = _an_expert(data)
    graph = box / e["files"]["optimized"]
    weights = graph.with_name(graph.name + ".data")
    if not weights.exists():
        raise RuntimeError("the suite needs an expert with an external weights file")
    stolen = outside / "weights.data"
    shutil.copy2(weights, stolen)
    model = onnx.load(str(graph), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = str(stolen)
    graph.write_bytes(model.SerializeToString())
    _rehash(box, data)
    _write(box, data)


def _symlinked_expert_folder(box: Path, outside: Path) -> None:
    data = _manifest(box)
    _, e = _an_expert(data)
    folder = box / Path(e["files"]["optimized"]).parent
    target = outside / "expert"
    shutil.move(folder, target)
    folder.symlink_to(target)


def _symlinked_examples_folder(box: Path, outside: Path) -> None:
    target = outside / "examples"
    shutil.move(box / "examples", target)
    (target / "not-in-any-manifest").mkdir()
    (target / "not-in-any-manifest" / "keep.txt").write_text("outside the box")
    (box / "examples").symlink_to(target)


def _dotdot_source(box: Path, outside: Path) -> None:
    data = _manifest(box)
    name, e = _an_expert(data)
    (outside / "model.onnx").write_bytes((box / e["files"]["source"]).read_bytes())
    rel = f"../{outside.name}/model.onnx"
    e["files"]["source"] = rel
    data["files"][rel] = sha256_file(outside / "model.onnx")
    _write(box, data)


def _experts_as_a_list(box: Path, outside: Path) -> None:
    data = _manifest(box)
    data["experts"] = list(data["experts"].values())
    _write(box, data)


def _negative_footprint(box: Path, outside: Path) -> None:
    data = _manifest(box)
    _an_expert(data)[1]["footprint_bytes"] = -4096
    _write(box, data)


def _name_dotdot(box: Path, outside: Path) -> None:
    data = _manifest(box)
    name, e = _an_expert(data)
    data["experts"][".."] = dict(data["experts"].pop(name), name="..")
    _write(box, data)


CASES: dict[str, Callable[[Path, Path], None]] = {
    "listed_file_changed": _listed_file_changed,
    "file_list_emptied": _file_list_emptied,
    "unlisted_file_added": _unlisted_file_added,
    "activator_path_dotdot": lambda b, o: _activator_outside(b, o, absolute=False),
    "activator_path_absolute": lambda b, o: _activator_outside(b, o, absolute=True),
    "activator_file_changed": _activator_file_changed,
    "external_data_outside": _external_data_outside,
    "symlinked_expert_folder": _symlinked_expert_folder,
    "symlinked_examples_folder": _symlinked_examples_folder,
    "source_path_dotdot": _dotdot_source,
    "experts_as_a_list": _experts_as_a_list,
    "negative_footprint": _negative_footprint,
    "expert_name_dotdot": _name_dotdot,
}


# Tampering the robot's reader need not see: it never reads these files (check must).
ROBOT_NEVER_READS = {"unlisted_file_added", "symlinked_examples_folder"}


def _tree(folder: Path) -> dict[str, str]:
    """Every file below `folder` (not following links) and its content's digest."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _robot_loads(box_path: Path) -> None:
    """What the daemon does with a box: open it, load every expert, load the activator
    (a box whose experts the camera never wakes has none)."""
    box = Box.open(box_path)
    loader = BoxLoader(box)
    for name in box.experts:
        loader.load(name)
    if box.woken_by_camera:
        box.load_activator()


def tamper_suite(good_box: Path, workdir: Path) -> TamperReport:
    report = TamperReport()
    for case, tamper in CASES.items():
        root = workdir / case
        box, outside = root / "box", root / "outside"
        shutil.copytree(good_box, box)
        outside.mkdir()
        (outside / "sentinel.txt").write_text("nothing may change me")
        tamper(box, outside)
        before = _tree(outside)
        report.cases.append(case)
        refusals = []
        for gate in (lambda: list(check_box(box)), lambda: _robot_loads(box)):
            try:
                gate()
                refusals.append(None)
            except (BoxError, ValueError, OSError) as e:
                refusals.append(f"{type(e).__name__}: {e}")
        if refusals[0] is None or (refusals[1] is None and case not in ROBOT_NEVER_READS):
            report.accepted.append(case)        # check passed, or the robot loaded it
        report.refusals[case] = next((r for r in refusals if r), "")
        try:                                    # export's cleanup on the tampered copy
            remove_expert(box, sorted(_manifest(box).get("experts") or {"?": 0})[0])
        except (BoxError, ValueError, OSError, AttributeError, TypeError):
            pass
        if _tree(outside) != before:
            report.outside_touched.append(case)
    return report


def build_suite_box(workdir: Path) -> Path:
    """A small real box to tamper with: a convnet and an MLP, exported as a user would,
    their units trained on frames of the demo world (mirrored and colour-swapped for one)."""
    import cv2
    import numpy as np

    from spikebox.runtime.sim.autopilot import drive_frames

    from .box_edit import AddOptions, add_expert, init_box
    from .testmodels import mlp, mobile_convnet

    drive = drive_frames(12, (160, 120))          # a short drive through the demo world
    frames = {"line": drive,
              "ball": [np.ascontiguousarray(f[:, ::-1, ::-1]) for f in drive],
              "background": [np.full((120, 160, 3), 90 + 5 * i, np.uint8) for i in range(12)]}
    for fam, fs in frames.items():
        (workdir / fam).mkdir(parents=True)
        for i, f in enumerate(fs):
            cv2.imwrite(str(workdir / fam / f"{i:04d}.png"), f)
    onnx.save(mobile_convnet(1), str(workdir / "conv.onnx"))
    onnx.save(mlp(), str(workdir / "mlp.onnx"))
    box = workdir / "box"
    init_box(box)
    add_expert(box, "line", workdir / "conv.onnx",
               AddOptions(examples=workdir / "line", background=workdir / "background"))
    add_expert(box, "ball", workdir / "mlp.onnx", AddOptions(examples=workdir / "ball"))
    return box


def run_tamper_suite(workdir: Path) -> TamperReport:
    """build_suite_box, then tamper_suite on it (what `spikebox bench faults` runs)."""
    return tamper_suite(build_suite_box(workdir / "good"), workdir / "cases")
