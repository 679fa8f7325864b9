"""The run's pace: the frame rate the vision chain can keep on this machine, measured at start.

    cost = measure_vision(encoder, activator, config.source.frame_size_px)
    pace = Pace.for_cost(config, cost)       # before any loop starts, before the source opens
    config = pace.apply(config)              # the same config when the chain keeps up

The vision loop (source -> encoder -> activator) runs at rates.frame_hz, and every
age limit downstream assumes it does. When the encoder and activator together cannot
keep that rate here - Lava's CPU simulation of the activator (~90 ms a frame on a
2-core machine), or the numpy backend on a small robot CPU - every frame would reach
the experts and the arbiter already stale and the robot would stand blind. DESIGN.md
asks instead that "the frame rate falls to what the CPU simulation gives (the loop
says so and adapts its rates)". So, when `rates.adapt` is on (the default):

- the frame rate falls to what the measured chain sustains with HEADROOM;
- everything counted in frames stays the same number of frames: the frame and result
  age limits and the awake hold stretch by the slowdown;
- camera-driven speeds (cruise, turn rate, idle cruise) fall by the same factor, so
  the robot drives no farther per frame, and on a view no older in millimetres,
  than the configured rates allow. The range guard and the stall guard read the MCU's
  telemetry, not the camera: their limits do not change.

A chain slower than MIN_FRAME_HZ cannot steer a robot: the run is refused before
anything moves, naming the setting. With `rates.adapt = false` the configured rates
are kept and the run says the frames will be stale.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time

import numpy as np

from .stages import config_value

logger = logging.getLogger(__name__)

HEADROOM = 2.0           # vision period over the chain's cost measured alone: in the run it
                         # shares the cores with the experts and control loops and the source
                         # (measured on 2 cores: Lava's activator 32 ms a frame alone, 58 ms in
                         # the demo)
MIN_FRAME_HZ = 2.0       # slower than this the camera cannot steer the robot: refused
MEASURE_FRAMES = 6       # timed frames (after one untimed: Lava's first run starts its runtime)
# Keys whose meaning is "this many frames' worth of time", stretched by the slowdown ...
_STRETCHED = ("source.max_frame_age_ms", "arbiter.result_max_age_ms", "activator.awake_hold_ms")
# ... and camera-driven speeds, scaled down by it.
_SCALED = ("arbiter.cruise_mm_s", "arbiter.turn_rad_s", "arbiter.idle_speed_mm_s")


class TooSlowToDrive(RuntimeError):
    """The vision chain cannot reach MIN_FRAME_HZ on this machine (the message says what to do)."""


@dataclasses.dataclass(frozen=True)
class VisionCost:
    """Median ms a frame of each vision stage, measured on this machine."""
    encoder_ms: float
    activator_ms: float
    backend: str

    @property
    def total_ms(self) -> float:
        return self.encoder_ms + self.activator_ms


def measure_vision(encoder, activator, frame_size_px: tuple[int, int], backend: str, *,
                   frames: int = MEASURE_FRAMES, clock=time.monotonic) -> VisionCost:
    """Time encoder.encode and activator.step on a textured frame of the source's size, then
    reset both, so the run starts from the same state as without the measurement (replay
    gives the same spikes)."""
    w, h = frame_size_px
    image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    enc_ms, act_ms = [], []
    for i in range(frames + 1):
        t0 = clock()
        spikes = encoder.encode(image if i % 2 else image[::-1].copy())   # events each frame
        t1 = clock()
        activator.step(spikes)
        t2 = clock()
        if i:                          # the first frame: set-up costs, not the pace
            enc_ms.append((t1 - t0) * 1e3)
            act_ms.append((t2 - t1) * 1e3)
    encoder.reset()
    activator.reset()
    return VisionCost(float(np.median(enc_ms)), float(np.median(act_ms)), backend)


@dataclasses.dataclass(frozen=True)
class Pace:
    cost: VisionCost
    configured_hz: float
    frame_hz: float            # what the run uses
    adapted: bool              # the config was changed to frame_hz

    @property
    def slowdown(self) -> float:
        """configured frame rate / the rate the run uses (1.0: the chain keeps up)."""
        return self.configured_hz / self.frame_hz

    @property
    def sustainable_hz(self) -> float:
        return 1000.0 / (self.cost.total_ms * HEADROOM)

    @classmethod
    def for_cost(cls, config, cost: VisionCost) -> Pace:
        """The pace of a run of `config` on a chain of this cost; TooSlowToDrive below
        MIN_FRAME_HZ (adapting or not: a robot that sees twice a second must not drive)."""
        configured = float(config.rates.frame_hz)
        pace = cls(cost, configured, configured, False)
        sustainable = pace.sustainable_hz
        if sustainable < MIN_FRAME_HZ:
            raise TooSlowToDrive(
                f"the vision chain takes {cost.total_ms:.0f} ms a frame here (encoder "
                f"{cost.encoder_ms:.0f} ms, {cost.backend} activator {cost.activator_ms:.0f} ms): "
                f"{sustainable:.1f} frames/s, below the {MIN_FRAME_HZ:g} a robot can be steered by; "
                "use activator.backend = \"numpy\", a smaller source.frame_size_px, or faster hardware")
        if sustainable >= configured or not config.rates.adapt:
            return pace
        # Whole tenths of a hertz, rounded down: the period never falls below the cost.
        return cls(cost, configured, math.floor(sustainable * 10) / 10, True)

    def apply(self, config):
        """`config` at this pace: the same object when nothing changes."""
        if not self.adapted:
            return config
        k = self.slowdown
        overrides = {"rates.frame_hz": self.frame_hz}
        for key in _STRETCHED:
            overrides[key] = int(math.ceil(config_value(config, key) * k))
        for key in _SCALED:
            overrides[key] = config_value(config, key) / k
        return config.with_overrides(overrides)

    def deadlines_ms(self, shares: dict[str, float]) -> dict[str, float]:
        """When adapted, the encoder's and activator's deadlines: their share of the new period,
        or their measured cost with HEADROOM if more (the rate was set from those costs, so only
        a call past that is late); none otherwise. shares: stage -> its share of the period."""
        if not self.adapted:
            return {}
        period_ms = 1000.0 / self.frame_hz
        return {stage: max(shares[stage] * period_ms, ms * HEADROOM)
                for stage, ms in (("encoder", self.cost.encoder_ms),
                                  ("activator", self.cost.activator_ms))}

    def describe(self) -> str:
        c = self.cost
        head = (f"the vision chain takes {c.total_ms:.0f} ms a frame here (encoder "
                f"{c.encoder_ms:.1f} ms, {c.backend} activator {c.activator_ms:.1f} ms)")
        if not self.adapted:
            if self.sustainable_hz >= self.configured_hz:
                return head + f": it keeps rates.frame_hz = {self.configured_hz:g}"
            return (head + f": {self.sustainable_hz:.1f} frames/s, below rates.frame_hz = "
                    f"{self.configured_hz:g}, and rates.adapt = false: frames will reach the "
                    "experts and the arbiter stale and the robot will stop as blind")
        k = self.slowdown
        return (head + f": frames at {self.frame_hz:g} Hz instead of {self.configured_hz:g}; "
                f"frame and result age limits and the awake hold x{k:.2f}, camera-driven speeds "
                f"/{k:.2f} (the same distance a frame); rates.adapt = false keeps the configured rates")

    def as_dict(self) -> dict:
        return {"adapted": self.adapted, "configured_frame_hz": self.configured_hz,
                "frame_hz": self.frame_hz, "slowdown": self.slowdown,
                "encoder_ms": self.cost.encoder_ms, "activator_ms": self.cost.activator_ms,
                "backend": self.cost.backend}

