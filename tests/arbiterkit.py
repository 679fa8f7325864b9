"""Helpers for the arbiter's tests: real ExpertEntry objects read from manifest JSON (the demo
box's, with drive contracts, priorities and output shapes set), results, a fake clock."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np

from spikebox.runtime.arbiter import Arbiter, ExpertResult
from spikebox.runtime.arbiter.contract import SeekDrive, SteerDrive
from spikebox.runtime.arbiter.odometry import Pose
from spikebox.runtime.box import Manifest
from spikebox.runtime.daemon.config import ArbiterConfig

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "models" / "demo.box"
COLUMN_KEYS = {*SteerDrive.COLUMNS, *SeekDrive.COLUMNS}     # the keys that name a column


def contract_shape(drive: dict) -> list[int]:
    """The one-row output shape a drive contract reads: as many columns as it names."""
    behaviour = next(iter(drive.values()))
    if "names" in behaviour:
        return [1, len(behaviour["names"])]
    return [1, 1 + max(v for k, v in behaviour.items() if k in COLUMN_KEYS and v is not None)]


def facing(heading_rad: float | None, x_mm: float = 0.0, y_mm: float = 0.0) -> Pose | None:
    """A pose at (x_mm, y_mm) facing `heading_rad`; None stays None (no telemetry)."""
    return None if heading_rad is None else Pose(x_mm, y_mm, heading_rad)


def demo_manifest() -> dict:
    return json.loads((DEMO / "manifest.json").read_text())


def demo_contracts() -> dict:
    """README.md's contracts of the demo box's experts: name -> {"priority", "drive"}."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Drive contracts"):]
    return json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))


def experts(**specs: dict) -> dict:
    """name=dict(like="line_follow", drive={...} or None, priority=0, shape=[1, 1]) -> the
    ExpertEntry objects the manifest's reader makes of them (copies of the demo box's
    entries, so every file they name is hashed; outputs shaped as the drive reads them,
    unless `shape` says otherwise)."""
    data = demo_manifest()
    demo = data["experts"]
    data["experts"] = {}
    for name, spec in specs.items():
        entry = copy.deepcopy(demo[spec.get("like", name)])
        entry["name"] = name
        entry["priority"] = spec.get("priority", 0)
        drive = spec.get("drive")
        entry["outputs"][0]["shape"] = (spec["shape"] if "shape" in spec else
                                        entry["outputs"][0]["shape"] if drive is None else
                                        contract_shape(drive))
        entry.pop("drive", None)                  # the bundled box's own contract: replaced
        if spec.get("drive") is not None:
            entry["drive"] = spec["drive"]
        data["experts"][name] = entry
    return Manifest.from_json(data, DEMO / "manifest.json").experts


def demo_experts(**priorities: int) -> dict:
    """The five demo experts with README's contracts (and priorities, unless given)."""
    return experts(**{name: dict(drive=c["drive"], priority=priorities.get(name, c["priority"]))
                      for name, c in demo_contracts().items()})


def result(*values, t_s: float, frame_id: int = 1, output: str = "cat") -> ExpertResult:
    """One row of float32 outputs, captured at t_s."""
    return ExpertResult({output: np.array([values], np.float32)}, frame_id, t_s)


def arbiter(entries: dict, max_wheel_mm_s: float = 1500, **config) -> Arbiter:
    return Arbiter(entries, ArbiterConfig(**config), max_wheel_mm_s)
