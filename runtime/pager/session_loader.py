"""The pager's loader for plain model paths (benchmarks, tests): one session per name.

    loader = SessionLoader({"line": Path("line.paged.onnx")})
    pager = Pager(PagerConfig(budget_bytes), loader, footprints)

Each load is the session factory's load_session (CPU arena off, no
pre-packing) plus one warm-up run, so footprints include first-run
allocations. A robot loads from a box instead (runtime/experts/box_loader.py).
"""
from __future__ import annotations

from pathlib import Path

from spikebox.runtime.experts.session import load_session, warm_up
from spikebox.runtime.experts.shell import ShellSupport


class SessionLoader(ShellSupport):
    """loader(name) -> a warmed-up session of paths[name], from the one session factory.

    Paged files can be shelved (runtime/experts/shell.py); a plain .onnx cannot.
    """

    def __init__(self, paths: dict[str, Path], config=None):
        self.paths = dict(paths)
        self.config = config
        self.loads = 0

    def __call__(self, name: str):
        session = load_session(self.paths[name], self.config)
        warm_up(session, self.paths[name])
        self.loads += 1
        return session

    def graph_path(self, name: str) -> Path:
        return self.paths[name]
