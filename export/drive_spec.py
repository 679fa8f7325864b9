"""`spikebox export add ... --drive SPEC`: an expert's drive contract, read and checked before
the box is touched.

    drive = read_drive_spec('{"steer": {"output": "steer", "steering": 0}}')   # or a file
    check_drive_fits(drive, outputs_of_onnx(Path("line.onnx")), "line.onnx")   # BoxError

The contract's words are the robot's (runtime/arbiter/contract.py, read by the
manifest's own rules), so what export accepts is what the robot reads. Its
keys, behaviour and values are checked as the flag is read; its columns
against the model's declared outputs before anything is written (a PyTorch
model has none until it is converted: then after its test run, and the staged
files go again).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import onnx

from spikebox.runtime.arbiter import DriveContract
from spikebox.runtime.box import BoxError, OutputEntry
from spikebox.runtime.schema import FieldError, read_as

EXAMPLE = '{"steer": {"output": "steer", "steering": 0}}'
SEE = "the drive contracts are described in README.md (Drive contracts)"


def read_drive_spec(spec: str) -> DriveContract:
    """A contract from inline JSON (it starts with '{') or a JSON file; ValueError naming the
    flag, the key and what it wants."""
    where, text = "", spec
    if not spec.lstrip().startswith("{"):
        where = f" {spec}"
        try:
            text = Path(spec).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"--drive{where}: cannot read it ({e}); "
                             f"give a JSON file, or inline JSON such as {EXAMPLE}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"--drive{where}: not JSON ({e}); give JSON such as {EXAMPLE}") from None
    try:
        return read_as(DriveContract, data, "drive")
    except FieldError as e:
        raise ValueError(f"--drive{where}: {e.describe()}; {SEE}") from None


def outputs_of_onnx(model: Path) -> list[OutputEntry] | None:
    """The graph's outputs as declared (dynamic dims by name), or None where the file does not
    say (not ONNX, no shapes): its test run then tells."""
    try:
        graph = onnx.load(str(model), load_external_data=False).graph
    except Exception:   # noqa: BLE001 -- check_model words what is wrong with the file
        return None
    outs = []
    for value in graph.output:
        tensor = value.type.tensor_type
        if not (value.type.HasField("tensor_type") and tensor.HasField("shape")):
            return None
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                     for d in tensor.shape.dim)
        outs.append(OutputEntry(name=value.name, shape=dims, dtype=""))
    return outs


def check_drive_fits(drive: DriveContract | None, outputs: Sequence[OutputEntry] | None,
                     model) -> None:
    """BoxError unless the contract's output and columns fit `outputs` (None: unknown yet)."""
    if drive is None or outputs is None:
        return
    try:
        drive.check_outputs(outputs)
    except FieldError as e:
        shown = ", ".join(f"{o.name} {list(o.shape)}" for o in outputs)
        raise BoxError(f"{model}: its drive contract does not fit its outputs ({shown}): "
                       f"{e.under('drive').describe()}; fix --drive") from None
