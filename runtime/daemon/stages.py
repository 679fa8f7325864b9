"""The daemon's stages, in one table, in data-path order (DESIGN.md "Data flow" 1-7).

    for stage in STAGES: print(stage.name, stage.loop, stage.rate_key, stage.deadline_share)
    clock = StageClock(STAGES, RunConfig())     # per-stage timings, lag and missed deadlines

After openpilot's system/manager/process_config.py: every stage with the loop
(thread) that runs it, the run-config key of that loop's rate, the key of the
staleness limit of what it reads, and its deadline as a share of its loop's period.
Three loops, so a slow stage never holds up a faster one:

- vision (rates.frame_hz): source -> encoder -> activator -> pager.observe. The
  activator sees every frame it can, whatever the experts are doing.
- experts (as fast as vision publishes): pager.use -> onnxruntime. It never waits
  for a page-in: an expert not resident yet skips the frame (counted, `unready`)
  while the pager's own thread pages it in.
- control (rates.control_hz): arbiter -> bridge. It answers every cycle with a
  command, from fresh results or a safe one, and keeps the MCU's watchdog fed.

A call that runs past its deadline is counted against its stage (`missed`); a
frame or result older than its limit is rejected and counted (`stale`), never used.
"""
from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

import numpy as np

VISION, EXPERTS, CONTROL = "vision", "experts", "control"


@dataclass(frozen=True)
class Stage:
    name: str
    loop: str                     # VISION, EXPERTS or CONTROL: the thread that runs it
    rate_key: str                 # run-config key of its loop's rate, Hz
    max_age_key: str | None       # run-config key of the age limit of what it reads, ms
    deadline_share: float         # of its loop's period: a call longer than that is missed
    does: str


STAGES: tuple[Stage, ...] = (
    Stage("source", VISION, "rates.frame_hz", "source.max_frame_age_ms", 0.25,
          "the newest frame, with its id and capture time"),
    Stage("encoder", VISION, "rates.frame_hz", None, 0.25,
          "frame -> spikes (event channels and cues)"),
    Stage("activator", VISION, "rates.frame_hz", None, 0.25,
          "spikes -> which experts fire, how warm the others are"),
    Stage("pager", EXPERTS, "rates.frame_hz", None, 1.0,
          "the fired experts resident within the budget (paged in behind, never waited for)"),
    Stage("experts", EXPERTS, "rates.frame_hz", "source.max_frame_age_ms", 1.0,
          "the resident fired experts run on the frame they fired on"),
    Stage("arbiter", CONTROL, "rates.control_hz", "arbiter.result_max_age_ms", 0.2,
          "expert outputs -> one drive setpoint, safety first"),
    Stage("bridge", CONTROL, "rates.control_hz", "arbiter.telemetry_max_age_ms", 0.3,
          "the setpoint and a heartbeat over the serial link"),
)
STAGE_NAMES = tuple(s.name for s in STAGES)
LATENCY_WINDOW = 4096             # samples kept per stage for percentiles


def config_value(config, key: str):
    """`config`'s value at a dotted run-config key ("rates.frame_hz")."""
    value = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


@dataclass
class StageStats:
    calls: int = 0
    missed: int = 0               # calls longer than the stage's deadline
    stale: int = 0                # inputs rejected as older than the stage's age limit
    errors: int = 0
    unready: int = 0              # pager: experts due on a frame but not resident yet
    worst_ms: float = 0.0


class StageClock:
    """Per-stage call counts, missed deadlines, stale inputs and latency percentiles.
    Thread-safe: each loop records its own stages; the status line reads all."""

    def __init__(self, stages: tuple[Stage, ...], config, deadline_ms: dict | None = None):
        """deadline_ms: stage name -> its deadline, where measured (pace.py), not a share."""
        self.deadline_ms = {s.name: 1000.0 * s.deadline_share / config_value(config, s.rate_key)
                            for s in stages}
        self.deadline_ms.update(deadline_ms or {})
        self.stats = {s.name: StageStats() for s in stages}
        self._ms = {s.name: collections.deque(maxlen=LATENCY_WINDOW) for s in stages}
        self._lock = threading.Lock()

    def record(self, stage: str, ms: float) -> None:
        with self._lock:
            s = self.stats[stage]
            s.calls += 1
            s.worst_ms = max(s.worst_ms, ms)
            if ms > self.deadline_ms[stage]:
                s.missed += 1
            self._ms[stage].append(ms)

    def count(self, stage: str, what: str) -> None:
        """One stale input or error against `stage`."""
        with self._lock:
            s = self.stats[stage]
            setattr(s, what, getattr(s, what) + 1)

    def percentile_ms(self, stage: str, q: float) -> float | None:
        with self._lock:
            ms = list(self._ms[stage])
        return float(np.percentile(ms, q)) if ms else None

    def as_dict(self) -> dict:
        out = {}
        for name, s in self.stats.items():
            out[name] = {"calls": s.calls, "missed_deadlines": s.missed, "stale": s.stale,
                         "errors": s.errors, "unready": s.unready, "deadline_ms": round(self.deadline_ms[name], 3),
                         "p50_ms": self.percentile_ms(name, 50),
                         "p99_ms": self.percentile_ms(name, 99), "worst_ms": s.worst_ms}
        return out
