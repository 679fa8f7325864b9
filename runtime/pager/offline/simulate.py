"""The pager without models: the same Pager and policy code on a recorded trace.

A frame is (fired, warmth). The simulator runs a real Pager whose loader returns
a token instead of a session and prefetches inline, then per frame calls
observe(fired, warmth) and use(name) for each fired expert, as the daemon does.
An inline prefetch completes within its frame: it models loads that finish
before the next frame, which the benchmark's measured page-in time supports.
"""
from __future__ import annotations

from ..config import PagerConfig
from ..pager import ExpertRefused, Pager
from ..policies import Policy


class _TokenLoader:
    """Returns a token for a session; with `shell_bytes`, shelving leaves that much behind."""

    def __init__(self, footprints: dict[str, int], shell_bytes: dict[str, int] | None):
        self.footprints, self.shell_bytes = footprints, shell_bytes

    def load(self, name: str) -> str:
        return name

    def shelve(self, name: str, session) -> int | None:
        if self.shell_bytes is None:
            return None
        return self.footprints[name] - self.shell_bytes[name]

    def unshelve(self, name: str, session) -> None:
        pass


def simulate(frames: list[tuple[list[str], dict[str, float]]], footprints: dict[str, int],
             budget_bytes: int, policy: Policy, pinned=(), shell_bytes: dict[str, int] | None = None
             ) -> dict:
    """Pager metrics (hit_rate, prefetch_recall, ...) of `policy` on `frames`.

    shell_bytes: name -> what a shell of it holds (None: no shells). Also checks
    on every step that resident experts plus shells stay within budget_bytes.
    """
    config = PagerConfig(budget_bytes, pinned=tuple(pinned), prefetch="inline",
                         trim_after_evict=False)
    pager = Pager(config, _TokenLoader(footprints, shell_bytes), footprints, policy=policy,
                  shell_footprints=shell_bytes)
    for fired, warmth in frames:
        serve_frame(pager, fired, warmth)
        assert pager.held_bytes <= budget_bytes, "pager exceeded its budget"
    return pager._metrics.as_dict()


def serve_frame(pager: Pager, fired: list[str], warmth: dict[str, float]) -> None:
    """One frame's demand, as the daemon makes it: observe, then page in every fired expert.
    A refused expert is counted and logged by the pager; the frame goes on."""
    pager.observe(fired, warmth)
    for name in fired:
        try:
            with pager.use(name):
                pass
        except ExpertRefused:
            pass


def demand_trace(frames) -> list[str]:
    """The request sequence a frame trace makes: every fired expert, frame by frame."""
    return [name for fired, _ in frames for name in fired]
