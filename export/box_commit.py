"""How a change to a box reaches the disk: the commit every `spikebox export` change ends in.

    _rehash(box, manifest)     # the manifest lists every staged file, with its sha256
    _commit(box, manifest)     # the robot's checks, then one atomic replace of manifest.json
    _sweep(box, manifest)      # then what it does not list is removed

Shared by add and remove (box_edit.py), set (box_set.py) and tune (box_tune.py): each
stages its new files beside the current ones under new names and commits them here.
A commit removes the box's signature first (a changed box is unsigned), and files the
old manifest named are swept only after it, so an interrupted change leaves the box as
it was, or unsigned (plus unreferenced leftovers that the next change sweeps away). A
box is a closed world: _refuse_links, called before a change touches anything, refuses
a box with a symlink in it.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from spikebox.runtime.box import MANIFEST, SIGNATURE, Box, BoxError, Manifest, sha256_file
from spikebox.runtime.files import atomic_write, fsync_dir, fsync_files


def _commit(path: Path, manifest: Manifest) -> None:
    data = manifest.to_json()
    Manifest.from_json(data, path / MANIFEST)       # the robot's checks, before it is written
    fsync_files(path / rel for rel in manifest.files)   # what it names is on the disk first
    # A changed box is unsigned until its owner signs it again. The signature goes first, and
    # durably: a crash between the two steps leaves the old manifest unsigned, never a new
    # manifest beside an old signature.
    if os.path.lexists(path / SIGNATURE):
        (path / SIGNATURE).unlink()
        fsync_dir(path)
    atomic_write(path / MANIFEST, (json.dumps(data, indent=1) + "\n").encode())


def _refuse_links(box: Path, manifest: Manifest) -> list[str]:
    """BoxError if any path in the box is or passes through a symlink; else the unlisted
    paths. Called before a change touches anything."""
    unlisted = Box(box, manifest).unlisted()
    links = [rel for rel in unlisted if (box / rel).is_symlink()]
    links += [rel for rel in manifest.files
              if any(p.is_symlink() for p in [box / rel, *(box / rel).parents][:-len(box.parts)])]
    if links:
        raise BoxError(f"{box}: {links[0]} is a symlink{' (and more)' if len(links) > 1 else ''}; "
                       f"a box is a closed world: replace it with the file or folder itself")
    return unlisted


def _sweep(box: Path, manifest: Manifest) -> None:
    """Remove what the manifest does not list: leftovers of an interrupted or replaced
    export. A box is a closed world: a symlink anywhere in it is refused, untouched (a
    symlinked folder used to be followed, and folders outside the box deleted)."""
    for rel in _refuse_links(box, manifest):
        p = box / rel
        if p.is_dir():
            shutil.rmtree(p)           # a real folder inside the box (no link on its way)
        else:
            p.unlink(missing_ok=True)


def _rehash(bp: Path, manifest: Manifest) -> None:
    """sha256 of every file under the directories the manifest names."""
    roots = [Path(rel).parent for e in manifest.experts.values()
             for rel in (e.files.source, e.files.optimized)]
    roots += [Path(rel) for rel in manifest.examples.values()]
    if manifest.activator:
        roots.append(Path(manifest.activator))
    files = {}
    for root in sorted(set(roots)):
        for p in sorted((bp / root).rglob("*")):
            if p.is_file():
                rel = p.relative_to(bp).as_posix()
                files[rel] = manifest.files.get(rel) or sha256_file(p)
    manifest.files = files

