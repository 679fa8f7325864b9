"""`spikebox export set`: how an expert drives the robot (its priority, its drive contract),
changed in the box without touching its model, its files or anyone's activator units.

    set_expert("mybox", "dock", priority=40)                              # above the avoider
    set_expert("mybox", "exit_find", drive=read_drive_spec('{"seek": {...}}'))
    set_expert("mybox", "logger", drive=None)                             # run, never driven by

Arbitration is tuned on the robot, in the robot's terms: which skill outranks which, how far
a seek coasts. Re-exporting the model for that would retrain its units (and change routing).
The new contract is checked against the outputs the manifest declares before anything is
written; the manifest is rewritten atomically, and a signed box is left unsigned until its
owner signs it again (as after add and remove).
"""
from __future__ import annotations

import copy
import dataclasses
import os

from spikebox.runtime.arbiter import DriveContract
from spikebox.runtime.box import Box, BoxError, ExpertEntry

from .box_commit import _commit
from .drive_spec import check_drive_fits

KEEP = object()          # set_expert's default: leave this field as it is


def set_expert(path: str | os.PathLike, name: str, *, priority: int | None = None,
               drive: DriveContract | None | object = KEEP) -> ExpertEntry:
    """The expert's entry as committed; BoxError naming the box, the expert and the fix."""
    box = Box.open(path)
    if name not in box.experts:
        raise BoxError(f"{box.path}: has no expert '{name}' (it has: "
                       f"{', '.join(box.experts) or 'none'})")
    if priority is None and drive is KEEP:
        raise BoxError(f"{box.path}: nothing to set for '{name}': give --priority, --drive "
                       f"or --no-drive")
    entry = box.experts[name]
    changes = {}
    if priority is not None:
        changes["priority"] = int(priority)
    if drive is not KEEP:
        check_drive_fits(drive, entry.outputs, f"{box.path}: expert '{name}'")
        changes["drive"] = drive
    manifest = copy.deepcopy(box.manifest)
    manifest.experts[name] = dataclasses.replace(entry, **changes)
    _commit(box.path, manifest)
    return Box.open(box.path).experts[name]
