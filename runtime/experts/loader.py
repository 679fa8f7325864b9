"""The loader contract: what the pager asks of whatever opens its experts, and the shared part
of the two loaders that keep it (session_loader.py for plain paths, box_loader.py for a box).

Data path: pager → **experts**. The pager calls `load(name)` to page an expert in
anew; on eviction `shelve(name, session)` to keep the built session as a shell
and give its weight pages back (shell.py), and `unshelve(name, session)` to
page a shell in. A loader that cannot shelve an expert says so by returning
None from `shelve`; the pager then releases the session.
"""
from __future__ import annotations

import weakref
from pathlib import Path
from typing import Mapping, Protocol, Sequence

import onnxruntime as ort

from .paged import weights_file
from .session import SessionConfig, load_session, warm_up, zero_inputs
from .shell import WeightPages


class ExpertLoader(Protocol):
    def load(self, name: str) -> ort.InferenceSession:
        """A warmed-up session of `name`; raises if it cannot be had (the pager refuses it)."""

    def shelve(self, name: str, session) -> int | None:
        """Keep `session` built and give its weight pages back: the bytes given back, or None
        (it cannot be shelved: the pager releases it instead)."""

    def unshelve(self, name: str, session) -> None:
        """Make a shelved `session` ready to run again; raises if it may not be (the pager
        then loads `name` anew)."""


class PagedFileLoader(ExpertLoader):
    """An ExpertLoader of paged files (session.py's format): each load is the session
    factory's load_session plus one warm-up run, so footprints include first-run
    allocations. Subclasses say where an expert's graph is (`graph_path`) and may say the
    shapes to warm it up at (`warm_up_shapes`)."""

    def __init__(self, config: SessionConfig | None = None):
        self.config = config
        # The weight pages of each live session, found once (reading /proc/self/maps costs ms).
        self._pages: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def graph_path(self, name: str) -> Path:
        raise NotImplementedError

    def warm_up_shapes(self, name: str) -> Mapping[str, Sequence[int]] | None:
        """The input shapes `name` is warmed up at (None: declared, each dynamic dim 1)."""
        return None

    def session_config(self, name: str) -> SessionConfig | None:
        """The session options `name` is opened with (None: the factory's defaults)."""
        return self.config

    def load(self, name: str) -> ort.InferenceSession:
        path = self.graph_path(name)
        session = load_session(path, self.session_config(name))
        warm_up(session, path, zero_inputs(session, shapes=self.warm_up_shapes(name)))
        return session

    def shelve(self, name: str, session) -> int | None:
        pages = self._weight_pages(name, session)
        return pages.drop() if pages is not None else None

    def unshelve(self, name: str, session) -> None:
        pages = self._weight_pages(name, session)
        if pages is not None:
            pages.populate()

    def _weight_pages(self, name: str, session) -> WeightPages | None:
        pages = self._pages.get(session)
        if pages is None:
            try:
                pages = WeightPages(weights_file(self.graph_path(name)))
            except OSError:                   # no weights file (a plain .onnx): nothing to drop
                return None
            self._pages[session] = pages
        return pages
