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
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def read_json(path: str | os.PathLike, fix: str, error: type[Exception] = ValueError):
    """Parse a JSON file, or raise `error` naming the file and `fix`."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{path}: missing; {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: not readable JSON ({exc}); {fix}") from None
