"""Encoder: one camera frame → spikes for the activator (data path step 2).

source ─► **encoder** ─► activator. A BGR uint8 frame of any size becomes a
`(timesteps, n_inputs)` bool array: one row per activator timestep, one column
per input channel. Two channel groups, in this order (each group row-major over
its grid, index = row * grid_width + column, so `spikes[:, sl].reshape(T, h, w)`
gives the picture back):

1. Event channel (`event_on`, `event_off`), an event camera emulated as v2e
   does: per event-grid cell, `log(I + log_eps)` (I = mean grey level, 0..255)
   against a per-cell reference. k = floor(|log I − ref| / event_threshold)
   events, capped at `timesteps`, on ON (brighter) or OFF (darker), spread
   evenly over the T timesteps; the reference then moves k·threshold toward the
   new value, so a slow change keeps speaking over frames and a still scene goes
   quiet. The reference stays the first log I plus a whole number of thresholds,
   so a cell back at an earlier brightness has undone exactly the events it
   caused. The first frame after `reset()` only sets the references.
2. Static channel (`static_b`, `static_g`, `static_r`, `edges`), so a still
   scene speaks too: per static-grid cell, the mean B, G, R (/255) and the edge
   energy (Scharr gradient magnitude of grey, pooled, / `edge_scale`, clipped
   to 1 — a fixed normaliser, so a dark frame stays quieter than a bright one).
   Each value x in [0, 1] is rate-coded deterministically at r = x·static_max_rate
   spikes per timestep: a spike at t when floor((t+1)·r + φ) > floor(t·r + φ),
   where the phase φ ∈ [0, 1) is drawn once per channel from `seed`. A channel
   then spikes floor(T·r + φ) times — round-ish(x·T·max_rate), monotone in x —
   and channels of equal value do not all fire on the same timestep.

Frames are uint8, (h, w, 3) BGR or (h, w) grey (read as B = G = R). A frame
smaller than the largest grid pooled into (the event grid, and the edge grid of
2× the static grid) is refused, not upsampled: cells would repeat pixels and the
input count would claim detail the camera never saw. Large frames are first
halved (exact 2×2 INTER_AREA means, cheap) while still ≥ 4× that grid, then
INTER_AREA-pooled to the grid; the result differs from one direct INTER_AREA by
sub-grey-level border weighting only, and costs a fraction of it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

import cv2
import numpy as np

from .config_fields import ConfigError, check_positive, check_size
from .schema import check_fields

GROUPS = ("event_on", "event_off", "static_b", "static_g", "static_r", "edges")
# static_features = "cues": colour that only speaks where the scene is coloured, and local
# contrast, instead of plain B, G, R (which every grey floor drives at half rate).
HUES = ("red", "yellow", "green", "cyan", "blue", "magenta")     # centres 0, 60, ... 300 degrees
CUE_GROUPS = ("event_on", "event_off", *(f"hue_{h}" for h in HUES), "dark", "light", "edges")
STATIC_FEATURES = ("bgr", "cues")


@dataclass
class EncoderConfig:
    timesteps: int = 16                       # activator timesteps per frame (T)
    event_grid: tuple[int, int] = (48, 36)    # (width, height) cells of the event channel
    event_threshold: float = 0.15             # log-intensity step per event (v2e-like contrast threshold)
    log_eps: float = 8.0                      # grey levels added before the log: caps the gain in the
                                              # dark so sensor noise stays below one step (v2e's lin-log region)
    static_grid: tuple[int, int] = (24, 18)   # (width, height) cells of colour and edge energy
    static_max_rate: float = 0.5              # spikes per timestep at value 1.0; < 1 so events stand out
    edge_scale: float = 64.0                  # grey levels per edge-grid pixel of mean gradient read as 1.0:
                                              # a straight step of contrast C across a cell reads ≈ C / 128
    seed: int = 0                             # sets only the rate code's per-channel phases
    static_features: str = "bgr"              # "bgr": mean B, G, R + edges (boxes made before
                                              # "cues"); "cues": 6 hue maps of saturated colour,
                                              # darker / lighter than the surround, edges

    def __post_init__(self):
        check_fields(self, ConfigError)
        if self.timesteps < 1:
            raise ConfigError("timesteps", self.timesteps, "must be >= 1")
        check_size(self, "event_grid")
        check_size(self, "static_grid")
        check_positive(self, "event_threshold", "log_eps", "edge_scale")
        if not 0 < self.static_max_rate <= 1:
            raise ConfigError("static_max_rate", self.static_max_rate,
                              "must be in (0, 1] spikes per timestep")
        if self.seed < 0:
            raise ConfigError("seed", self.seed, "must be >= 0")
        if self.static_features not in STATIC_FEATURES:
            raise ConfigError("static_features", self.static_features,
                              f"must be one of {', '.join(STATIC_FEATURES)}")

    @property
    def groups(self) -> tuple[str, ...]:
        """The channel groups, in output order."""
        return GROUPS if self.static_features == "bgr" else CUE_GROUPS

    @property
    def min_frame_size(self) -> tuple[int, int]:
        """(width, height) of the smallest frame this encoder reads: the largest grid it pools
        into (the event grid, and the edge grid of 2x the static grid); it never upsamples."""
        (ew, eh), (sw, sh) = self.event_grid, self.static_grid
        return max(ew, 2 * sw), max(eh, 2 * sh)




# Saturated colour: a pixel counts from saturation 0.25 (full at 0.75) and value 0.3 up, so
# the grey floor, walls and shadows stay silent whatever the lighting's tint.
_SAT_FROM, _SAT_SPAN, _VALUE_FULL = 0.25, 0.5, 0.3
_CONTRAST_FULL = 40.0          # grey levels darker (lighter) than the surround that read as 1.0
# Each hue map's weight by hue (whole degrees): cos^2 of the distance to its centre, zero past
# 90 degrees, so a hue between two centres drives both, and none is left out.
_HUE_WEIGHTS = np.stack([np.clip(np.cos(np.radians(np.arange(361) - 60.0 * k)), 0, 1) ** 2
                         for k in range(len(HUES))], axis=1).astype(np.float32)
_HUE_WEIGHTS[:, 0] = np.maximum(_HUE_WEIGHTS[:, 0],
                                np.clip(np.cos(np.radians(np.arange(361) - 360.0)), 0, 1) ** 2)


def _cue_maps(base: np.ndarray) -> np.ndarray:
    """(h, w, 8) float32 in [0, 1]: 6 hue maps of saturated colour, then darker and lighter
    than the surround (a box mean a fifth of the frame wide), per pixel of `base` (float32
    0..255, BGR or grey). A grey frame has no colour: its hue maps are zero."""
    h, w = base.shape[:2]
    out = np.zeros((h, w, len(HUES) + 2), np.float32)
    if base.ndim == 3:
        hsv = cv2.cvtColor(base * np.float32(1 / 255), cv2.COLOR_BGR2HSV)   # H 0..360, S, V 0..1
        colourful = np.clip((hsv[..., 1] - _SAT_FROM) / _SAT_SPAN, 0, 1)
        colourful *= np.clip(hsv[..., 2] / _VALUE_FULL, 0, 1)
        out[..., :len(HUES)] = _HUE_WEIGHTS[hsv[..., 0].astype(np.intp)] * colourful[..., None]
        grey = cv2.cvtColor(base, cv2.COLOR_BGR2GRAY)
    else:
        grey = base
    k = max(3, (w // 5) | 1)
    surround = cv2.blur(grey, (k, k), borderType=cv2.BORDER_REFLECT)
    out[..., -2] = np.clip((surround - grey) / _CONTRAST_FULL, 0, 1)
    out[..., -1] = np.clip((grey - surround) / _CONTRAST_FULL, 0, 1)
    return out


def _even_spread_table(timesteps: int) -> np.ndarray:
    """(T, T+1) bool: column k has k spikes, the i-th at floor((i + 0.5)·T / k)."""
    table = np.zeros((timesteps, timesteps + 1), dtype=bool)
    for k in range(1, timesteps + 1):
        table[((np.arange(k) + 0.5) * timesteps / k).astype(np.intp), k] = True
    return table


class Encoder:
    """Frame → (T, n_inputs) bool spikes; keeps the event channel's references between frames."""

    def __init__(self, config: EncoderConfig | None = None):
        # A private copy: changing the caller's config later must not reshape a live encoder.
        self.config = config = replace(config) if config is not None else EncoderConfig()
        T = config.timesteps
        (ew, eh), (sw, sh) = config.event_grid, config.static_grid
        self._edge_grid = (2 * sw, 2 * sh)     # gradients on a grid tied to the static grid, not
                                               # to the frame size: the same scene reads the same
        self._min_size = config.min_frame_size
        n_event, n_static = ew * eh, sw * sh
        groups = config.groups
        n_maps = len(groups) - 2                  # static maps: all but event_on, event_off
        sizes = (n_event, n_event, *(n_static,) * n_maps)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        self._slices = {g: slice(int(a), int(b)) for g, a, b in zip(groups, bounds[:-1], bounds[1:])}
        self._grids = {g: (config.event_grid if g.startswith("event") else config.static_grid)
                       for g in groups}
        self._n_inputs = int(bounds[-1])
        self._spread = _even_spread_table(T)
        self._inv_threshold = np.float32(1.0 / config.event_threshold)
        self._log_eps = np.float32(config.log_eps)
        self._t_column = np.arange(T + 1, dtype=np.float64)[:, None]
        self._static_rate = np.empty(n_maps * n_static, dtype=np.float64)
        self._phase = np.random.default_rng(config.seed).random(n_maps * n_static)
        # Per event cell, float32: reference = _reference_log + _reference_steps * threshold.
        self._reference_log: np.ndarray | None = None     # None after reset
        self._reference_steps: np.ndarray | None = None   # whole numbers

    @property
    def n_inputs(self) -> int:
        return self._n_inputs

    @property
    def channel_slices(self) -> dict[str, slice]:
        """Column range of each group, in output order; together they partition [0, n_inputs)."""
        return dict(self._slices)

    @property
    def channel_grids(self) -> dict[str, tuple[int, int]]:
        """(width, height) of the grid behind each group."""
        return dict(self._grids)

    def reset(self) -> None:
        """Forget the event references: the next frame only sets them and emits no events."""
        self._reference_log = self._reference_steps = None

    def encode(self, frame: np.ndarray) -> np.ndarray:
        """One frame → (timesteps, n_inputs) bool spikes; updates the event references."""
        frame = self._check_frame(frame)
        cfg = self.config
        min_w, min_h = self._min_size
        base = frame
        while base.shape[1] >= 4 * min_w and base.shape[0] >= 4 * min_h:
            h2, w2 = base.shape[0] // 2, base.shape[1] // 2
            base = cv2.resize(base[:2 * h2, :2 * w2], (w2, h2), interpolation=cv2.INTER_AREA)
        base = base.astype(np.float32)
        colour_event = cv2.resize(base, cfg.event_grid, interpolation=cv2.INTER_AREA)
        grey_event = colour_event if colour_event.ndim == 2 else \
            cv2.cvtColor(colour_event, cv2.COLOR_BGR2GRAY)

        return np.concatenate([self._encode_events(grey_event),
                               self._encode_static(base, colour_event, grey_event)], axis=1)

    def encode_sequence(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        """(len, T, n_inputs): `encode` on each frame in turn, continuing from the current
        references (call `reset()` first for a fresh start)."""
        encoded = [self.encode(f) for f in frames]
        if not encoded:
            return np.zeros((0, self.config.timesteps, self._n_inputs), dtype=bool)
        return np.stack(encoded)

    # -- the two channel groups ------------------------------------------------------------

    def _encode_events(self, grey_event: np.ndarray) -> np.ndarray:
        """(T, 2·cells) ON then OFF spikes; moves the references."""
        log_i = np.log(grey_event + self._log_eps).ravel()
        if self._reference_log is None:
            self._reference_log = log_i
            self._reference_steps = np.zeros_like(log_i)
            return np.zeros((self.config.timesteps, 2 * log_i.size), dtype=bool)
        # The reference is the first frame's log I plus a whole number of thresholds, so a
        # cell that returns to an earlier brightness undoes exactly the events it caused
        # (a float reference would drift: 3 * 0.15 / 0.15 floors to 2 in float32).
        delta_steps = (log_i - self._reference_log) * self._inv_threshold - self._reference_steps
        k = np.minimum(np.floor(np.abs(delta_steps)), self.config.timesteps)
        self._reference_steps += np.copysign(k, delta_steps)
        k = k.astype(np.intp)
        brighter = delta_steps > 0
        # One gather for both polarities: column k of the table holds k evenly spread spikes.
        return np.take(self._spread, np.concatenate([np.where(brighter, k, 0),
                                                     np.where(brighter, 0, k)]), axis=1)

    def _encode_static(self, base, colour_event, grey_event) -> np.ndarray:
        """(T, 4·cells) B, G, R, edge spikes, rate-coded."""
        cfg = self.config
        (sw, sh), (ew, eh) = cfg.static_grid, cfg.event_grid
        n = sw * sh
        rate = self._static_rate
        if cfg.static_features == "cues":
            maps = _cue_maps(base)                               # (h, w, 8) in [0, 1]
            pooled = np.concatenate([cv2.resize(np.ascontiguousarray(maps[..., i:i + 4]),  # <= 4
                                                cfg.static_grid, interpolation=cv2.INTER_AREA)
                                     for i in range(0, maps.shape[2], 4)], axis=2)  # channels
            rate[:-n] = pooled.reshape(n, -1).T.ravel()           # cell-major → one block per map
            rate[:-n] *= cfg.static_max_rate
        else:
            # Pool from the small event-grid image when it is fine enough (cheap), else the frame.
            source = colour_event if (ew >= sw and eh >= sh) else base
            colour = cv2.resize(source, cfg.static_grid, interpolation=cv2.INTER_AREA)
            if colour.ndim == 2:
                rate[:n] = rate[n:2 * n] = rate[2 * n:3 * n] = colour.ravel()
            else:
                rate[:3 * n] = colour.reshape(n, 3).T.ravel()   # cell-major BGR → B block, G, R
            rate[:3 * n] *= cfg.static_max_rate / 255.0
        np.minimum(rate[:-n], cfg.static_max_rate, out=rate[:-n])   # float pooling may pass 1

        if (ew, eh) == self._edge_grid:
            grey_edge = grey_event
        else:
            grey_base = base if base.ndim == 2 else cv2.cvtColor(base, cv2.COLOR_BGR2GRAY)
            grey_edge = cv2.resize(grey_base, self._edge_grid, interpolation=cv2.INTER_AREA)
        # Scharr / 32: a ramp of s grey levels per pixel reads s.
        gx = cv2.Scharr(grey_edge, cv2.CV_32F, 1, 0, scale=1 / 32)
        gy = cv2.Scharr(grey_edge, cv2.CV_32F, 0, 1, scale=1 / 32)
        energy = cv2.resize(cv2.magnitude(gx, gy), cfg.static_grid, interpolation=cv2.INTER_AREA)
        rate[-n:] = np.minimum(energy.ravel() / cfg.edge_scale, 1.0) * cfg.static_max_rate

        counts = np.floor(self._t_column * rate + self._phase)   # (T+1, 4n) spikes so far
        return counts[1:] > counts[:-1]

    def _check_frame(self, frame) -> np.ndarray:
        expected = "a uint8 numpy array of shape (height, width, 3) BGR or (height, width) grey"
        if not isinstance(frame, np.ndarray):
            raise ValueError(f"frame must be {expected}; got {type(frame).__name__}")
        if frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] != 3):
            hint = ""
            if frame.ndim == 3 and frame.shape[2] == 4:
                hint = " (BGRA? drop alpha with cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR))"
            elif frame.ndim == 3 and frame.shape[2] == 1:
                hint = " (single-channel? pass frame[..., 0])"
            raise ValueError(f"frame must be {expected}; got shape {frame.shape}{hint}")
        if frame.dtype != np.uint8:
            raise ValueError(f"frame must be {expected}; got dtype {frame.dtype} "
                             f"(convert 0..255 values with frame.astype(np.uint8))")
        h, w = frame.shape[:2]
        if h == 0 or w == 0:
            raise ValueError(f"frame must be {expected}; got an empty frame of shape {frame.shape}")
        min_w, min_h = self._min_size
        if w < min_w or h < min_h:
            raise ValueError(f"frame of {w}x{h} pixels is smaller than the {min_w}x{min_h} grid the "
                             f"encoder pools into (event_grid {self.config.event_grid}, edges at 2x "
                             f"static_grid {self.config.static_grid}); frames are not upsampled, "
                             f"use a larger frame or smaller grids")
        return np.ascontiguousarray(frame)
