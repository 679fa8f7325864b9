"""The daemon: the stages of stages.py opened from one RunConfig, three loops, one orderly stop.

    summary = Daemon(RunConfig()).run()       # the demo: sim world, bundled box, virtual MCU
    daemon = Daemon(config); threading.Thread(target=daemon.run).start(); daemon.stop("test")

`run()` opens the box (hashes checked, signature if trusted keys are set), its
activator and encoder, times them to set the run's pace (pace.py), opens the
source and the link and the pager over the box's experts, then runs the vision and experts loops in threads and the control loop in
the calling thread until the run ends: its seconds or control cycles are done, a
finite source ends, the sim course is completed, a stage fails, or `stop()` is
called (the CLI calls it on SIGINT/SIGTERM). Then, in this order: the motors to
zero (confirmed by the MCU's telemetry), the loops stop, and the stages close in
data-path order. One process with threads: Lava forces `fork` (DESIGN.md).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from spikebox.firmware_bridge import Link
from spikebox.firmware_bridge.link_types import percentile
from spikebox.runtime.activator import make_activator
from spikebox.runtime.arbiter.near import RangeGuard
from spikebox.runtime.arbiter.stall import StallGuard
from spikebox.runtime.arbiter.stuck import StuckGuard
from spikebox.runtime.box import Box
from spikebox.runtime.experts.box_loader import BoxLoader
from spikebox.runtime.pager import Pager
from spikebox.runtime.ratekeeper import Ratekeeper
from spikebox.runtime.source import SourceError, open_source

from .config import VIRTUAL_MCU, RunConfig
from .control import ControlLoop
from .experts_loop import ExpertsLoop, Results
from .pace import Pace, TooSlowToDrive, measure_vision
from .refusals import DaemonError, check_always_awake, check_budget
from .stages import STAGES, StageClock
from .stall_watch import StallWatch
from .status import StatusBoard
from .verdicts import Verdicts
from .vision import VisionLoop

logger = logging.getLogger(__name__)

DEMO_BOX = Path(__file__).resolve().parents[2] / "models" / "demo.box"
JOIN_TIMEOUT_S = 2.0
STALL_DEFAULT_MS = 200.0   # the MCU's watchdog, when its HELLO_ACK did not say (the reference's)
DEMO_SECONDS = 120.0       # `spikebox run` on the sim with no --seconds/--frames ends after this
# The demo (the sim, no --config) looks round where no expert speaks (its way-on finder then
# finds the next door); a robot's default stands still.
DEMO_OVERRIDES = {"arbiter.idle": "search"}
# Run on every frame in the demo (when the box has them): the obstacle avoider, which speaks
# only near something, so nothing in any zone is driven into; and the way-on finder, which has
# no units (no zone of its own) and leads wherever nobody else speaks.
DEMO_ALWAYS_AWAKE = ("obstacle_avoid", "exit_find")


def demo_overrides(box_path: str | Path | None) -> dict:
    """DEMO_OVERRIDES, and the DEMO_ALWAYS_AWAKE experts the box has, always awake."""
    box = Box.open(box_path or default_box())
    always = [n for n in DEMO_ALWAYS_AWAKE if n in box.experts]
    return {**DEMO_OVERRIDES, **({"activator.always_awake": always} if always else {})}


def default_box() -> Path:
    if not (DEMO_BOX / "manifest.json").exists():
        raise DaemonError(f"no box given and the bundled demo box is missing ({DEMO_BOX}); "
                          "give one with --box DIR, or rebuild it with `make experts`")
    return DEMO_BOX


class Daemon:
    def __init__(self, config: RunConfig, *, source=None, arbiter_factory=None, status=None,
                 observers=(), loader_factory=BoxLoader, clock=time.monotonic):
        """source: an opened Source to read instead of opening config.source (its owner
        closes it; tests read the sim world after the run).
        arbiter_factory(box, config) -> an arbiter (default: runtime.arbiter's).
        loader_factory(box) -> the pager's expert loader (default: BoxLoader; the e2e bench
        passes one that drops each expert's files from the page cache before a page-in).
        status(line): called with the status line every rates.status_period_s (None: quiet).
        observers: objects told what happens, each method optional and called in the loop's
        own thread (keep them quick; queue slow work): start(daemon) once all is open,
        seen(Seen) per frame through the activator, command(Command) per control cycle,
        stopped(daemon) after the motors are at zero and the loops have stopped."""
        self.observers = tuple(observers)
        self._loader_factory = loader_factory
        self._given_source = source
        self.config = config                   # as given; the run's pace may adapt it (_pace)
        self.pace: Pace | None = None
        self.clock = clock
        self._arbiter_factory = arbiter_factory
        self._status = status
        self._stop = threading.Event()
        self.stop_reason: str | None = None
        self.failure: BaseException | None = None
        self.ended_by: str | None = None
        self.parts: dict = {}                  # the opened stages, for status, report, tests
        self._answered_frame: int | None = None
        self.started_s: float | None = None

    # -- the outside's side --------------------------------------------------------------
    def stop(self, reason: str = "stop") -> None:
        """End the run (thread- and signal-safe): motors to zero, then the stages."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop.set()

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> dict:
        cfg = self.config
        with ExitStack() as closing:
            box = Box.open(cfg.box or default_box(), trusted_keys=cfg.trusted_keys)
            network, encoder = box.load_activator()
            if cfg.encoder is not None and cfg.encoder != box.manifest.encoder:
                raise DaemonError(f"[encoder] in the run config differs from the one {box.path}'s "
                                  "activator was trained on; leave [encoder] out to use the box's")
            always = check_always_awake(cfg.activator.always_awake, box)
            # Always awake means always resident: pinned, after any the config pins itself.
            pager_config = dataclasses.replace(
                cfg.pager, pinned=tuple(dict.fromkeys(cfg.pager.pinned + always)))
            loader = self._loader_factory(box)
            check_budget(pager_config, loader.footprints(), box.path)   # before anything moves
            activator = make_activator(network, backend=cfg.activator.backend)
            closing.callback(activator.close)
            cfg = self._pace(encoder, activator)     # the frame rate the source is opened at
            source = self._given_source
            if source is None:
                source = self._open_source()
                closing.callback(source.close)
            # The link last, after the slow set-up (Lava builds its runtime in seconds): from
            # its handshake on, the MCU's watchdog wants the control loop's heartbeats.
            link = self._open_link(source, closing)
            pager = Pager(pager_config, loader, loader.footprints(),
                          shell_footprints=loader.shell_footprints(), clock=self.clock)
            closing.callback(pager.close)
            arbiter = (self._arbiter_factory or _default_arbiter)(box, cfg)
            self._loop(box, source, encoder, activator, pager, link, arbiter)
        return self.summary()

    def _pace(self, encoder, activator) -> RunConfig:
        """Measure the vision chain and adapt the run's rates to it (pace.py); the config the
        run then uses, which becomes self.config."""
        cfg = self.config
        cost = measure_vision(encoder, activator, cfg.source.frame_size_px, cfg.activator.backend)
        try:
            self.pace = Pace.for_cost(cfg, cost)
        except TooSlowToDrive as e:
            raise DaemonError(str(e)) from None
        keeps_up = self.pace.sustainable_hz >= self.pace.configured_hz
        (logger.info if keeps_up else logger.warning)("%s", self.pace.describe())
        self.config = self.pace.apply(cfg)
        return self.config

    def _open_source(self):
        cfg = self.config
        w, h = cfg.source.frame_size_px
        try:
            return open_source(cfg.source.capture, width_px=w, height_px=h, fps=cfg.rates.frame_hz)
        except SourceError as e:
            raise DaemonError(str(e)) from None

    def _open_link(self, source, closing: ExitStack) -> Link:
        link_config = self.config.link
        if link_config.url == VIRTUAL_MCU:
            url = getattr(source, "serial_url", None)
            if url is None:                   # a camera or clip: the firmware alone, on a pty
                from spikebox.firmware_bridge.virtual_mcu import VirtualMcu
                mcu = VirtualMcu().start()
                closing.callback(mcu.close)
                url = mcu.url
            link_config = dataclasses.replace(link_config, url=url)
        link = Link(link_config)
        link.connect()                        # HandshakeTimeout / ProtocolMismatch name the fix
        closing.callback(link.close)
        return link

    def _loop(self, box, source, encoder, activator, pager, link, arbiter) -> None:
        cfg = self.config
        stages = StageClock(STAGES, cfg, deadline_ms=self.pace.deadlines_ms(
            {s.name: s.deadline_share for s in STAGES}))
        max_age = float(cfg.source.max_frame_age_ms)
        always = tuple(cfg.activator.always_awake)
        verdicts = Verdicts(cfg.activator.quiet_runs, cfg.activator.quiet_sleep_ms / 1000.0,
                            never=always)
        vision = VisionLoop(source, encoder, activator, pager, stages, max_frame_age_ms=max_age,
                            awake_hold_s=cfg.activator.awake_hold_ms / 1000.0,
                            always_awake=always, verdicts=verdicts, clock=self.clock)
        results = Results()
        experts = ExpertsLoop(box.experts, pager, vision.seen, results, stages,
                              max_frame_age_ms=max_age, verdicts=verdicts, clock=self.clock)
        control = ControlLoop(link, arbiter, results, vision.seen, stages,
                              frame_max_age_ms=max_age,
                              telemetry_max_age_ms=cfg.arbiter.telemetry_max_age_ms,
                              stall=StallGuard(cfg.arbiter), near=RangeGuard(cfg.arbiter),
                              stuck=StuckGuard(cfg.arbiter, ways_back=_ways_back(arbiter)),
                              clock=self.clock)
        self.started_s = self.clock()
        truth_of = getattr(source, "truth", None)
        board = StatusBoard(started_s=self.started_s, clock=self.clock, vision=vision,
                            experts=experts, control=control, pager=pager, link=link,
                            stage_clock=stages, truth_of=truth_of)
        # Half the MCU's watchdog: the host says where its loop was held before the MCU acts.
        mcu = link.mcu
        watch = StallWatch(threading.get_ident(), clock=self.clock, silent_ms=(
            mcu.watchdog_ms if mcu is not None and mcu.watchdog_ms else STALL_DEFAULT_MS) / 2)
        control.on_command.append(lambda command: watch.beat())
        self.parts = dict(box=box, source=source, vision=vision, experts=experts,
                          control=control, pager=pager, link=link, stages=stages, board=board,
                          arbiter=arbiter, results=results, verdicts=verdicts, stall_watch=watch)
        for o in self.observers:
            if hasattr(o, "seen"):
                vision.on_seen.append(o.seen)
            if hasattr(o, "command"):
                control.on_command.append(o.command)
            if hasattr(o, "start"):
                o.start(self)
        threads = [self._thread("vision", lambda: self._vision_loop(vision, source)),
                   self._thread("experts", lambda: self._experts_loop(experts))]
        watch.start()
        try:
            self._control_loop(control, board, source)
        finally:
            watch.stop()               # stopping sends no cycles: not a stall
            # Motors first, whatever ended the run (a signal, a failure, the clock).
            control.stop_motors()
            self._stop.set()
            for t in threads:
                t.join(JOIN_TIMEOUT_S)
                if t.is_alive():
                    logger.error("the %s loop did not stop within %.0f s", t.name, JOIN_TIMEOUT_S)
            watch.join(JOIN_TIMEOUT_S)
            pager.stop_paging()         # what the observers see at the end is the pager's last word
            for o in self.observers:
                if hasattr(o, "stopped"):
                    try:
                        o.stopped(self)
                    except Exception:
                        logger.exception("observer %r failed at the end of the run", o)

    def _thread(self, name: str, body) -> threading.Thread:
        def guarded():
            try:
                body()
            except BaseException as e:        # a failed stage ends the run, motors first
                logger.exception("the %s loop failed; stopping the robot", name)
                self.failure = self.failure or e
                self.stop(f"{name} failed: {e}")
        t = threading.Thread(target=guarded, name=f"spikebox-{name}", daemon=True)
        t.start()
        return t

    def _vision_loop(self, vision: VisionLoop, source) -> None:
        rk = Ratekeeper(self.config.rates.frame_hz, clock=self.clock)
        while not self._stop.is_set():
            vision.cycle()
            if getattr(source, "ended", False):
                self.ended_by = self.ended_by or "source ended"
                self.stop("source ended")
            rk.keep_time()

    def _experts_loop(self, experts: ExpertsLoop) -> None:
        while not self._stop.is_set():
            experts.cycle(timeout_s=0.05)

    def _control_loop(self, control: ControlLoop, board: StatusBoard, source) -> None:
        cfg = self.config
        rk = Ratekeeper(cfg.rates.control_hz, clock=self.clock)
        self.control_rk = rk
        next_status = self.started_s + cfg.rates.status_period_s
        results = self.parts["results"]
        while not self._stop.is_set():
            control.cycle()
            now = self.clock()
            if cfg.seconds is not None and now - self.started_s >= cfg.seconds:
                self.ended_by = self.ended_by or f"{cfg.seconds:g} s done"
                break
            if cfg.frames is not None and rk.frame >= cfg.frames:
                self.ended_by = self.ended_by or f"{cfg.frames} cycles done"
                break
            if self._course_completed(source):
                self.ended_by = self.ended_by or "course completed"
                break
            if self._status is not None and now >= next_status:
                next_status += cfg.rates.status_period_s
                self._status(board.line())
            self._answer_until_next_tick(control, results, rk)
            rk.keep_time()
        if self.stop_reason and not self.ended_by:
            self.ended_by = self.stop_reason

    def _answer_until_next_tick(self, control: ControlLoop, results: Results,
                                rk: Ratekeeper) -> None:
        """Until the next control tick, answer each frame's first new expert result at once
        (an extra DRIVE: setpoints are latest-value-wins) instead of letting it wait for the
        tick: up to a control period less latency from camera to wheels."""
        version = results.version
        while not self._stop.is_set():
            remaining = rk.remaining_s()
            if remaining <= 0 or not results.wait_newer(version, remaining):
                return
            version = results.version
            newest = max((r.frame_id for r in results.snapshot().values()), default=None)
            if newest is not None and newest != self._answered_frame:
                self._answered_frame = newest
                control.cycle()

    def _course_completed(self, source) -> bool:
        """The sim only: the robot stands docked in the course's last zone."""
        truth_of, seen = getattr(source, "truth", None), self.parts["vision"].seen.get()
        if truth_of is None or seen is None:
            return False
        from spikebox.runtime.sim.truth import docked
        truth = truth_of(seen.capture.frame_id)
        return (truth is not None and truth.zone == len(source.world.course.zones) - 1
                and truth.zone_kind == "dock" and docked(truth))

    def summary(self) -> dict:
        p = self.parts
        if not p:
            return {}
        control, experts, vision = p["control"], p["experts"], p["vision"]
        lat = sorted(c.latency_ms for c in control.commands if c.latency_ms is not None)
        elapsed = max(self.clock() - self.started_s, 1e-9)
        return {
            "ended_by": self.ended_by,
            "failure": None if self.failure is None else repr(self.failure),
            "seconds": elapsed,
            "frames": vision.frames,
            "fps": vision.frames / elapsed,
            "control_cycles": control.cycles,
            "drives_not_sent": control.not_sent,
            "control_stalls": p["stall_watch"].stalls,      # silences of half the MCU's watchdog
            "control_gap_ms_max": p["stall_watch"].worst_ms,
            "latency_ms_p50": percentile(lat, 50),
            "latency_ms_p99": percentile(lat, 99),
            "stalled_frames": experts.stalled_frames,
            "unready_frames": experts.unready_frames,
            "unready": dict(experts.unready),
            "pace": self.pace.as_dict(),
            "expert_runs": experts.runs,
            "page_ins": p["pager"].page_ins,
            "refused": dict(experts.refused),
            "slept": dict(p["verdicts"].slept),
            "woken_into_full_budget": dict(p["verdicts"].forced),
            "motors_confirmed_zero": control.motors_confirmed_zero,
            "guards": control.guard_counts(),
            "stages": p["stages"].as_dict(),
            "pager": {k: v for k, v in p["pager"].metrics().items()
                      if isinstance(v, (int, float, str, list))},
            "link": {k: v for k, v in p["link"].stats().items() if k != "reconnect_ms"},
            "source": {**p["source"].stats(), "losses": vision.losses,
                       "reopen_attempts": vision.reopen_attempts},
        }


def _ways_back(arbiter):
    """runtime.arbiter's Arbiter remembers the doors it passed (the stuck guard does not drive
    out back through them); an arbiter of the caller's own (arbiter_factory) need not."""
    from spikebox.runtime.arbiter import Arbiter
    return arbiter.ways_back if isinstance(arbiter, Arbiter) else None


def _default_arbiter(box, config: RunConfig):
    from spikebox.runtime.arbiter import Arbiter
    return Arbiter(box.experts, config.arbiter, config.link.max_wheel_mm_s)


def run_until_signalled(daemon: Daemon) -> dict:
    """`daemon.run()` with SIGINT and SIGTERM ending it the orderly way (motors to zero first,
    then the stages). A second signal while it stops exits at once: the MCU's watchdog stops
    the wheels when the heartbeats end. The previous handlers are restored afterwards."""
    import os
    import signal

    signals = (signal.SIGINT, signal.SIGTERM)

    def handler(signum, frame):
        if daemon.stop_reason is not None:
            os.write(2, b"spikebox: second signal; exiting now (the MCU's watchdog stops the "
                        b"wheels)\n")
            os._exit(128 + signum)
        daemon.stop(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        return daemon.run()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
