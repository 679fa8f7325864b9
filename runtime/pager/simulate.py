"""The pager without models: the same Pager and policy code on a recorded trace.

A frame is (fired, warmth). The simulator runs a real Pager whose loader returns
a token instead of a session and prefetches inline, then per frame calls
observe(fired, warmth) and use(name) for each fired expert, as the daemon does.
An inline prefetch completes within its frame: it models loads that finish
before the next frame, which the benchmark's measured page-in time supports.
"""
from __future__ import annotations

from .pager import ExpertRefused, Pager
from .policies import Policy


def _token_loader(name: str) -> str:
    return name


def simulate(frames: list[tuple[list[str], dict[str, float]]], footprints: dict[str, int],
             budget_bytes: int, policy: Policy, pinned=()) -> dict:
    """Pager metrics (hit_rate, prefetch_recall, ...) of `policy` on `frames`.

    Also checks on every step that resident footprints stay within budget_bytes.
    """
    pager = Pager(budget_bytes, _token_loader, footprints, policy, pinned=pinned,
                  prefetch="inline", trim_after_evict=False)
    for fired, warmth in frames:
        pager.observe(fired, warmth)
        for name in fired:
            try:
                with pager.use(name):
                    pass
            except ExpertRefused:
                pass
            assert pager.resident_bytes <= budget_bytes, "pager exceeded its budget"
    return pager._metrics.as_dict()


def demand_trace(frames) -> list[str]:
    """The request sequence a frame trace makes: every fired expert, frame by frame."""
    return [name for fired, _ in frames for name in fired]
