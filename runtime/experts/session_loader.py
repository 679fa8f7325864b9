"""The pager's loader for plain model paths (benchmarks, tests): one session per name.

    loader = SessionLoader({"line": Path("line.paged.onnx")})
    pager = Pager(PagerConfig(budget_bytes), loader, footprints)

Paged files can be shelved (shell.py); a plain .onnx cannot. A robot loads
from a box instead (box_loader.py); both keep the ExpertLoader contract (loader.py).
"""
from __future__ import annotations

from pathlib import Path

from .loader import PagedFileLoader
from .session import SessionConfig


class SessionLoader(PagedFileLoader):
    """loader.load(name) -> a warmed-up session of paths[name], from the one session factory."""

    def __init__(self, paths: dict[str, Path], config: SessionConfig | None = None):
        super().__init__(config)
        self.paths = dict(paths)
        self.loads = 0

    def graph_path(self, name: str) -> Path:
        return self.paths[name]

    def load(self, name: str):
        session = super().load(name)
        self.loads += 1
        return session
