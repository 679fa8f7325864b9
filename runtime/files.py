"""Files the robot loads from a box: written atomically, read with errors that name them.

An interrupted export must never leave a half-written file, and a file that
cannot be read must say which one and what to do (STYLE.md: writes are atomic).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def atomic_write(path: str | os.PathLike, data: bytes, *, durable: bool = True) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`.
    durable=False skips the fsync: the file is still whole or absent after a killed
    process (not after a power cut), at a fraction of the cost (a recording's frames)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)      # the rename itself survives a power cut
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a folder's entries (files created, renamed, removed in it) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_files(paths) -> None:
    """fsync each file and each folder holding one: a robot loses power often, and a
    manifest committed before its files are on the disk would name bytes that are not."""
    folders = set()
    for p in map(Path, paths):
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        folders.add(p.parent)
    for folder in sorted(folders):
        fsync_dir(folder)


def read_json(path: str | os.PathLike, fix: str, error: type[Exception] = ValueError):
    """Parse a JSON file, or raise `error` naming the file and `fix`."""
    path = Path(path)
    return parse_json(read_bytes(path, fix, error), path, fix, error)


def read_bytes(path: str | os.PathLike, fix: str, error: type[Exception] = ValueError) -> bytes:
    """A file's bytes, or `error` naming the file and `fix`. A box's manifest is read once,
    so that the bytes whose signature is checked are the bytes parsed."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: missing; {fix}") from None
    except OSError as exc:
        raise error(f"{path}: not readable JSON ({exc}); {fix}") from None


def parse_json(data: bytes, path: str | os.PathLike, fix: str,
               error: type[Exception] = ValueError):
    """`data`, the bytes of the JSON file `path`, parsed; or `error` naming the file and `fix`."""
    try:
        return json.loads(data.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: not readable JSON ({exc}); {fix}") from None


def read_jsonl(path: str | os.PathLike, error: type[Exception] = ValueError) -> tuple[list, bool]:
    """The rows of a JSON-lines file an appending writer may have been cut off in, and whether
    its last line was cut short (a killed writer's only damage: then it is left out). A bad
    line anywhere else raises `error` naming the file and the line."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    rows, cut = [], False
    for k, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if k != len(lines) - 1:
                raise error(f"{path}:{k + 1}: not a JSON line ({exc})") from None
            cut = True
    return rows, cut
