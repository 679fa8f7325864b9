"""What the pager tells its callers: a refusal (raised) and a residency change (called back)."""
from __future__ import annotations

from dataclasses import dataclass


class ExpertRefused(RuntimeError):
    """`name` cannot be made resident now; `reason` says why and what to do."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"expert {name!r} refused: {reason}")
        self.name, self.reason = name, reason


@dataclass(frozen=True)
class ResidencyChange:
    """An expert became resident or left: what `Pager.on_residency` callbacks are given."""
    t_s: float                  # the pager's clock (monotonic seconds)
    expert: str
    resident: bool              # True: paged in; False: evicted (shelved or released)
    why: str                    # paged in: "pinned", "demand" (a use() asked for it) or
                                # "prefetch"; evicted: "evicted"
    for_expert: str | None = None   # evicted: the expert whose page-in needed the room
    pagein_ms: float | None = None  # paged in: how long the load took
