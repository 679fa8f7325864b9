"""The pager's loader for a box: verify an expert's files, then load its paged file.

    loader = BoxLoader(Box.open(path))
    pager = Pager(PagerConfig(budget_bytes), loader, loader.footprints())

sha256 of the files an expert loads from (its paged graph and the weights beside
it: never its source model, which the robot does not read) is checked before its
first load (measured here: about 1.1 GB/s, 18 ms for a 20 MB expert: more than the
page-in itself, so it is not repeated on every page-in; `verify_ms_total` and
`verify_bytes_total` keep the running cost). After that, each page-in
compares the files' size and mtime with what was hashed, a stat() costing
microseconds, and hashes again only if they changed. A mismatch raises
BoxError, which the pager logs once, counts, and refuses the expert for; the
other experts go on. The same check runs before a page-in from a shell
(shell.py), whose weights are read back from the file.

Where the box holds a file tuned for this CPU (`spikebox export tune`,
cpu_target.py), that is the one loaded, budgeted and verified.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from spikebox.runtime.box import Box, BoxError

from .cpu_target import cpu_key, this_cpu
from .loader import PagedFileLoader
from .paged import foreign_external_data, weights_file
from .session import SessionConfig

logger = logging.getLogger(__name__)


def refuse_foreign_external_data(graph_path: Path, name: str) -> None:
    """A paged graph may name only its own weights file beside it: a hashed graph naming
    another (an absolute path, '..') is a box built to make onnxruntime read outside it."""
    foreign = foreign_external_data(graph_path)
    if foreign:
        raise BoxError(f"{graph_path}: expert '{name}' names external data {foreign[0]!r}, not "
                       f"its own weights file beside it; a box is a closed world: export the "
                       f"expert again")


class BoxLoader(PagedFileLoader):
    def __init__(self, box: Box, config: SessionConfig | None = None):
        super().__init__(config)
        self.box = box
        self._stamps: dict[str, dict[str, tuple[int, int]]] = {}   # name → rel → (size, mtime_ns)
        self.verify_ms_total = 0.0
        self.verify_bytes_total = 0
        key = cpu_key(this_cpu())
        self.tuned = {name: t for name, e in box.experts.items()
                      if (t := e.files.for_cpu(key)) is not None}     # what this CPU loads

    def footprints(self) -> dict[str, int]:
        return {name: (self.tuned[name].footprint_bytes if name in self.tuned else e.footprint_bytes)
                for name, e in self.box.experts.items()}

    def shell_footprints(self) -> dict[str, int]:
        """name -> bytes a shell of it keeps, measured at export (boxes from before shells: none)."""
        out = {}
        for name, e in self.box.experts.items():
            kept = self.tuned[name].shell_bytes if name in self.tuned else e.shell_bytes
            if kept is not None:
                out[name] = kept
        return out

    def warm_up_shapes(self, name: str) -> dict[str, tuple[int, ...]] | None:
        """The shapes export measured it at: a model whose dynamic dims carry meaning (an
        audio window, a multiple of 32) runs at no other."""
        entry = self.box.experts.get(name)
        return entry.measured_shapes if entry is not None else None

    def graph_rel(self, name: str) -> str:
        entry = self.box.experts.get(name)
        if entry is None:
            raise BoxError(f"{self.box.path}: no expert '{name}'")
        return self.tuned[name].graph if name in self.tuned else entry.files.optimized

    def expert_files(self, name: str) -> list[str]:
        """What a load of `name` reads: its paged graph and, if it has one, the weights file
        beside it (both hashed by the manifest, which Box.open checked)."""
        graph = self.graph_rel(name)
        weights = (Path(graph).parent / weights_file(Path(graph).name)).as_posix()
        return [graph] + ([weights] if weights in self.box.manifest.files else [])

    def _stamp(self, rel: str) -> tuple[int, int]:
        st = os.stat(self.box.file(rel))
        return st.st_size, st.st_mtime_ns

    def verify(self, name: str) -> None:
        files = self.expert_files(name)
        known = self._stamps.get(name)
        try:
            if known is not None and all(self._stamp(rel) == known[rel] for rel in files):
                return
        except OSError:
            pass                                  # missing now: verify() below says so
        import time
        t0 = time.perf_counter()
        self.verify_bytes_total += self.box.verify(only=files)
        refuse_foreign_external_data(self.graph_path(name), name)
        self.verify_ms_total += (time.perf_counter() - t0) * 1000
        self._stamps[name] = {rel: self._stamp(rel) for rel in files}

    def graph_path(self, name: str) -> Path:
        return self.box.file(self.graph_rel(name))

    def session_config(self, name: str) -> SessionConfig | None:
        tuned = self.tuned.get(name)
        if tuned is None or not (tuned.prepack or tuned.arena):
            return self.config
        return dataclasses.replace(self.config or SessionConfig(), disable_prepacking=not tuned.prepack,
                                   cpu_mem_arena=tuned.arena)

    def load(self, name: str):
        self.verify(name)
        return super().load(name)

    def unshelve(self, name: str, session) -> None:
        """A shell reads its weights from the file again: the same checks as a load first."""
        self.verify(name)
        super().unshelve(name, session)
