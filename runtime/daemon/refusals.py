"""What makes a run refuse to start, before anything moves: each error names the key and the fix.

    check_budget(config.pager, loader.footprints(), box.path)   # ConfigRefused, or a warning
    check_always_awake(config.activator.always_awake, box)

Used by run.py before it opens the source and the link.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

from spikebox.runtime.box import Box
from spikebox.runtime.pager import PagerConfig

logger = logging.getLogger(__name__)


class DaemonError(RuntimeError):
    """The run could not start (the message names the part and the fix)."""


class ConfigRefused(DaemonError):
    """The run config cannot work with this box (the message names the key and the fix)."""


def check_always_awake(names: tuple[str, ...], box: Box) -> tuple[str, ...]:
    """The always-awake experts, each one the box has (else ConfigRefused naming the key)."""
    unknown = [n for n in names if n not in box.experts]
    if unknown:
        raise ConfigRefused(f"activator.always_awake = {list(names)}: {box.path} has no expert "
                            f"{unknown[0]!r}; name some of {sorted(box.experts)}")
    asleep = [n for n in box.experts if not box.experts[n].camera_woken and n not in names]
    if asleep:
        logger.warning("%s: the camera never wakes %s (no units); it runs only if named in "
                       "activator.always_awake", box.path, ", ".join(asleep))
    return tuple(names)


def check_budget(pager: PagerConfig, footprints: dict[str, int], box_path: Path) -> None:
    """ConfigRefused, naming the key and the fix, for a [pager] that cannot work with this box:
    a budget no expert fits in, pinned experts the box lacks or the budget cannot hold.
    Experts bigger than a budget others fit in are only warned of: they never run."""
    if pager.budget_bytes is None or not footprints:     # the default fits the largest
        return
    budget = pager.budget_bytes
    unknown = [n for n in pager.pinned if n not in footprints]
    if unknown:
        raise ConfigRefused(f"pager.pinned = {list(pager.pinned)}: {box_path} has no expert "
                          f"{unknown[0]!r}; pin some of {sorted(footprints)}")
    smallest = min(footprints, key=footprints.get)
    need = max(footprints.values())
    fix = (f"give at least {need:,} B (--budget-mb {math.ceil(need / 1e6)}) so every expert "
           "can be paged in, or leave it out for a quarter of the box")
    if budget < footprints[smallest]:
        raise ConfigRefused(f"pager.budget_bytes = {budget:,}: smaller than every expert in "
                          f"{box_path} (the smallest, {smallest}, needs {footprints[smallest]:,} B "
                          f"resident); {fix}")
    pinned = sum(footprints[n] for n in pager.pinned)
    if pinned > budget:
        raise ConfigRefused(f"pager.pinned = {list(pager.pinned)}: together they need {pinned:,} B "
                          f"resident, more than pager.budget_bytes = {budget:,}; raise the "
                          "budget or pin fewer")
    room = budget - pinned
    too_big = sorted(n for n, b in footprints.items() if n not in pager.pinned and b > room)
    if too_big:
        logger.warning("pager.budget_bytes = %s: %s never fit beside the pinned experts (they "
                       "are skipped when woken); %s", f"{budget:,}", ", ".join(too_big), fix)
