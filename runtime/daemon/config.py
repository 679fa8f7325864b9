"""The run config: one object that says how the robot daemon runs, read from TOML.

    config = RunConfig.from_toml("robot.toml")                  # a missing table: its defaults
    config = config.with_overrides({"pager.budget_bytes": 64_000_000})
    print(config.to_toml())                        # what `spikebox run --print-config` shows

One table per stage, in data-path order: [source] → [encoder] → [activator] →
[pager] → [arbiter] → [link], and the loop's [rates]. Each is the stage's own
dataclass where the stage has one (EncoderConfig, PagerConfig,
firmware_bridge's LinkConfig) and is checked by it. The tables are read by
the manifest's reader (runtime/schema.py): a bad value raises ConfigError
naming its TOML key path and the value (`pager.budget_bytes = 0: must be >
0`), an unknown key is refused with the keys its table knows, so a typo
never passes silently. The command line overrides keys, never the
other way round; errors never name a flag.
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:                                            # the robot's Python 3.10 (JetPack 6)
    import tomli as tomllib

from spikebox.firmware_bridge import LinkConfig, LinkConfigError

from ..activator import BACKENDS
from ..arbiter.decide import IDLE_MODES, IDLE_STOP
from ..arbiter.kinematics import SteeringLimits
from ..config_fields import ConfigError, check_choice, check_positive, check_size, toml_value
from ..encoder import EncoderConfig
from ..pager.config import PagerConfig
from ..schema import check_fields, join, read_as

VIRTUAL_MCU = "virtual"   # link.url that starts the reference firmware on a pseudo-terminal


@dataclass
class SourceConfig:
    """Where frames come from."""
    capture: str = "sim"                         # "sim", a camera index ("0"), a video file or a
                                                 # GStreamer pipeline (it holds a '!')
    frame_size_px: tuple[int, int] = (160, 120)  # (width, height) asked of the camera or
                                                 # rendered by the sim
    max_frame_age_ms: int = 100                  # an older frame is stale: dropped and counted

    def __post_init__(self):
        check_fields(self, ConfigError)
        if not self.capture.strip():
            raise ConfigError("capture", self.capture,
                              'must name a source: "sim", a camera index, a file or a pipeline')
        check_size(self, "frame_size_px")
        check_positive(self, "max_frame_age_ms")


@dataclass
class ActivatorConfig:
    """Which backend runs the activator's LIF units (DESIGN.md, data path step 3)."""
    backend: str = "numpy"   # "numpy" (vectorised, bit-exact with Lava) or "lava" (Lava's
                             # Loihi2SimCfg fixed_pt on this CPU: frames as fast as it gives)
    awake_hold_ms: int = 500  # an expert stays awake this long after its units last fired, so
                              # a skill whose units flicker off for a frame keeps its expert
    always_awake: tuple[str, ...] = ()   # experts run on every frame whatever their units say
                                         # (a safety avoider, a way-on finder); kept resident
    quiet_runs: int = 3       # an awake expert whose drive contract finds nothing to act on in
                              # this many runs in a row sleeps (woken by mistake); 0: never
    quiet_sleep_ms: int = 1500   # ... for this long; then, its units firing, it is paged in in
    #                              the background and wakes once resident (or this long again)

    def __post_init__(self):
        check_fields(self, ConfigError)
        check_choice(self, "backend", BACKENDS)
        if self.awake_hold_ms < 0:
            raise ConfigError("awake_hold_ms", self.awake_hold_ms, "must be >= 0")
        if self.quiet_runs < 0:
            raise ConfigError("quiet_runs", self.quiet_runs, "must be >= 0 (0: an expert "
                              "woken by the activator runs while its units say so)")
        if not self.quiet_sleep_ms > 0:
            raise ConfigError("quiet_sleep_ms", self.quiet_sleep_ms, "must be > 0")
        twice = sorted({n for n in self.always_awake if self.always_awake.count(n) > 1})
        if twice:
            raise ConfigError("always_awake", self.always_awake,
                              f"names {twice[0]!r} more than once")


_DEMO_ROBOT = SteeringLimits()   # the demo robot's steering, as the sim's autopilot drives it


@dataclass
class ArbiterConfig:
    """What the arbiter trusts when it turns expert outputs into one drive command, and the
    robot's numbers it turns a steering into wheel speeds with (runtime/arbiter/).

    The wheel speed limit is link.max_wheel_mm_s, defined once: the arbiter plans
    within it and the link clips every setpoint to it. The defaults are the demo
    robot's (runtime/sim: the C robot's 150 mm wheelbase, the autopilot's steering)."""
    telemetry_max_age_ms: int = 200   # older telemetry is not acted on (nor shown as current)
    result_max_age_ms: int = 200      # an expert result older than this (its frame's capture
                                      # to the control cycle) is not acted on: the expert is
                                      # silent that cycle, counted, and the command is safe
    idle: str = IDLE_STOP             # no expert has anything to say: "stop" (stand still),
                                      # "cruise" (straight on at idle_speed_mm_s) or "search"
                                      # (look round; nothing seen, drive toward the most
                                      # room the range sensor read; runtime/arbiter/search.py)
    idle_speed_mm_s: float = 80.0     # idle = "cruise": both wheels at this; "search" drives at it
    wheelbase_mm: float = 150.0       # between the wheels' contact points
    cruise_mm_s: float = _DEMO_ROBOT.cruise_mm_s   # forward speed at steering 0, speed 1
    turn_rad_s: float = _DEMO_ROBOT.turn_rad_s     # turn rate at steering ±1
    slow_in_turns: float = _DEMO_ROBOT.slow_in_turns   # share of the speed given up at a
                                                       # full turn, 0 to 1
    full_turn_bearing_rad: float = 0.6   # a seeking expert's target this far off the heading
                                         # (or more) steers a full turn
    stall_after_ms: int = 1000        # forward asked for, the wheels (telemetry) not turning,
                                      # this long: a bump no camera saw; back off (0: never)
    back_off_ms: int = 1000           # the back-off: reversing on a curve this long ...
    back_off_mm_s: float = 80.0       # ... at about this speed
    stuck_after_ms: int = 15000       # turned half a revolution or more in this long and not
                                      # got 0.2 m anywhere: drive out toward the most room the
                                      # range sensor read meanwhile (0: never)
    range_stop_mm: float = 100.0      # the MCU's range sensor (telemetry range_mm) reads this
                                      # or less ahead: no forward motion, turn away (0: never)
    range_slow_mm: float = 350.0      # nearer than this, forward speed falls toward the stop
    range_release_mm: float = 200.0   # turning away goes on until the range reads more

    def __post_init__(self):
        check_fields(self, ConfigError)
        check_positive(self, "telemetry_max_age_ms", "result_max_age_ms", "idle_speed_mm_s",
                       "wheelbase_mm", "cruise_mm_s", "turn_rad_s", "full_turn_bearing_rad",
                       "back_off_ms", "back_off_mm_s")
        if self.stall_after_ms < 0:
            raise ConfigError("stall_after_ms", self.stall_after_ms, "must be >= 0 (0: never)")
        if self.stuck_after_ms < 0:
            raise ConfigError("stuck_after_ms", self.stuck_after_ms, "must be >= 0 (0: never)")
        check_choice(self, "idle", IDLE_MODES)
        if self.range_stop_mm < 0:
            raise ConfigError("range_stop_mm", self.range_stop_mm, "must be >= 0 (0: never)")
        if self.range_stop_mm > 0:
            if not self.range_slow_mm > self.range_stop_mm:
                raise ConfigError("range_slow_mm", self.range_slow_mm,
                                  f"must be more than range_stop_mm ({self.range_stop_mm})")
            if not self.range_release_mm >= self.range_stop_mm:
                raise ConfigError("range_release_mm", self.range_release_mm,
                                  f"must be at least range_stop_mm ({self.range_stop_mm})")
        if not 0.0 <= self.slow_in_turns <= 1.0:
            raise ConfigError("slow_in_turns", self.slow_in_turns, "must be from 0 to 1")

    @property
    def steering(self) -> SteeringLimits:
        return SteeringLimits(cruise_mm_s=self.cruise_mm_s, turn_rad_s=self.turn_rad_s,
                              slow_in_turns=self.slow_in_turns)


@dataclass
class RatesConfig:
    """How often the loop does what."""
    control_hz: float = 50.0       # drive setpoint and heartbeat to the MCU, per second
    frame_hz: float = 30.0         # frames from the source through encoder, activator, experts
    status_period_s: float = 1.0   # one status line this often
    adapt: bool = True             # measured at start, a vision chain (encoder + activator) that
                                   # cannot keep frame_hz slows it, with age limits stretched and
                                   # camera-driven speeds scaled to match (runtime/daemon/pace.py)

    def __post_init__(self):
        check_fields(self, ConfigError)
        check_positive(self, "control_hz", "frame_hz", "status_period_s")


# TOML table -> its dataclass, in data-path order.
SECTIONS = {"source": SourceConfig, "encoder": EncoderConfig, "activator": ActivatorConfig,
            "pager": PagerConfig, "arbiter": ArbiterConfig, "link": LinkConfig,
            "rates": RatesConfig}


@dataclass
class RunConfig:
    box: str | None = None           # box directory (none: the bundled demo box)
    seconds: float | None = None     # stop after this many seconds ...
    frames: int | None = None        # ... or this many control cycles (neither: until Ctrl-C)
    report_dir: str | None = None    # write a run report here
    view: bool = False               # serve the live view (camera, spikes, command) on localhost
    view_port: int = 8765            # its TCP port on 127.0.0.1 (0: any free port; the URL is
                                     # printed)
    trusted_keys: tuple[str, ...] = ()   # Ed25519 public keys (PEM files) of the owners whose
                                         # signed boxes this robot runs; none: any box whose
                                         # hashes check (runtime/box.py)
    source: SourceConfig = field(default_factory=SourceConfig)
    encoder: EncoderConfig | None = None   # none: the box's own (its activator was trained on
                                           # that encoder's spikes); set, it must equal the box's
    activator: ActivatorConfig = field(default_factory=ActivatorConfig)
    pager: PagerConfig = field(default_factory=PagerConfig)
    arbiter: ArbiterConfig = field(default_factory=ArbiterConfig)
    link: LinkConfig = field(default_factory=lambda: LinkConfig(url=VIRTUAL_MCU))
    rates: RatesConfig = field(default_factory=RatesConfig)

    def __post_init__(self):
        check_fields(self, ConfigError)
        for name in ("box", "report_dir"):
            if getattr(self, name) is not None and not getattr(self, name).strip():
                raise ConfigError(name, getattr(self, name), "must name a folder (or be left out)")
        for name in ("seconds", "frames"):
            if getattr(self, name) is not None:
                check_positive(self, name)
        if not 0 <= self.view_port <= 65535:
            raise ConfigError("view_port", self.view_port, "must be a TCP port, 0 to 65535 "
                              "(0: any free port)")
        for path in self.trusted_keys:
            if not path.strip():
                raise ConfigError("trusted_keys", self.trusted_keys,
                                  "must name public key files (PEM), none empty")
        if len(set(self.trusted_keys)) < len(self.trusted_keys):
            twice = next(p for p in self.trusted_keys if self.trusted_keys.count(p) > 1)
            raise ConfigError("trusted_keys", self.trusted_keys, f"names {twice!r} more than once")
        if self.seconds is not None and self.frames is not None:
            raise ConfigError("frames", self.frames,
                              f"cannot be set with seconds = {self.seconds}: give one of them")
        if self.encoder is not None:
            smallest = self.encoder.min_frame_size
            if any(s < m for s, m in zip(self.source.frame_size_px, smallest)):
                raise ConfigError("source.frame_size_px", self.source.frame_size_px,
                                  f"is smaller than the {smallest[0]}x{smallest[1]} the encoder "
                                  "reads (it never upsamples)")

    # -- TOML ------------------------------------------------------------------------------
    @classmethod
    def from_toml(cls, path: str | Path) -> RunConfig:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError("", None, f"cannot read it ({e.strerror})", file=str(path)) from None
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ConfigError("", None, f"not a TOML file: {e}", file=str(path)) from None
        try:
            return cls.from_dict(data)
        except ConfigError as e:
            raise e.in_file(path) from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """From TOML's tables: a missing key takes its default, an unknown key is refused."""
        try:
            return read_as(cls, data, "", ConfigError)
        except LinkConfigError as e:             # the bridge is a leaf: its own error type
            raise ConfigError(join("link", e.field), e.value, e.rule) from None

    def to_dict(self) -> dict[str, Any]:
        """TOML's view: tuples as lists, unset keys left out (TOML has no null)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None}

    def to_toml(self) -> str:
        """The config as a TOML file that from_toml reads back to an equal config."""
        data = self.to_dict()
        lines = [f"{key} = {toml_value(value)}" for key, value in data.items()
                 if key not in SECTIONS]                # top-level keys come before any table
        for name in SECTIONS:
            lines += [""] + ([f"[{name}]"] + [f"{key} = {toml_value(value)}"
                                              for key, value in data[name].items()]
                             if name in data else [f"# [{name}]: the box's own, from its manifest"])
        return "\n".join(lines).lstrip("\n") + "\n"

    def with_overrides(self, overrides: dict[str, Any]) -> RunConfig:
        """A copy with keys replaced, by TOML key path ("pager.budget_bytes"); None unsets one."""
        data = self.to_dict()
        for path, value in overrides.items():
            *tables, key = path.split(".")
            table = data
            for name in tables:
                table = table.setdefault(name, {})
                if not isinstance(table, dict):
                    raise ConfigError(path, value, f"{name} is not a table")
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
        return RunConfig.from_dict(data)


def _plain(value):
    if dataclasses.is_dataclass(value):       # unset keys left out, as at the top level
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items() if v is not None}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
