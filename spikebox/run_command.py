"""`spikebox run`: the run config from defaults, --config and flags, then the daemon with its
observers (recorder and report, live view), its status line and its summary.

    spikebox run                       # the demo: the sim, the bundled box, a virtual MCU
    spikebox run --config robot.toml --report runs/today --view

The daemon itself is runtime/daemon/; this module is only the command's side of it (what is
printed, which exit status). Heavy imports happen inside run(), so `spikebox --help` stays fast.
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Callable

BAD_CONFIG = 2  # exit status when the run config is refused (argparse's for a bad command line)

# `spikebox run` flag -> the run config key it sets; a flag given wins over the config file.
RUN_FLAGS = {"box": "box", "source": "source.capture", "serial": "link.url",
             "budget_mb": "pager.budget_bytes", "seconds": "seconds", "frames": "frames",
             "report": "report_dir", "view": "view"}


def run(args: argparse.Namespace) -> int:
    """`spikebox run` with its parsed flags; the process's exit status."""
    from spikebox.runtime.daemon import ConfigError, RunConfig
    try:
        config = RunConfig.from_toml(args.config) if args.config else RunConfig()
        config = config.with_overrides(run_overrides(args))
    except ConfigError as e:
        print(f"spikebox run: {e}", file=sys.stderr)
        return BAD_CONFIG
    if args.print_config:
        print(config.to_toml(), end="")
        return 0
    from spikebox.firmware_bridge import BridgeError
    from spikebox.runtime.box import BoxError
    from spikebox.runtime.daemon.refusals import ConfigRefused, DaemonError
    from spikebox.runtime.daemon.run import (DEMO_SECONDS, Daemon, demo_overrides,
                                             run_until_signalled)
    if config.source.capture.startswith("sim") and not args.config:
        # The demo: it rolls on where no expert speaks (a real robot's default is to stand
        # still), runs the box's way-on finder on every frame, and ends on its own.
        try:
            demo = demo_overrides(config.box)
        except (DaemonError, BoxError) as e:
            print(f"spikebox run: {e}", file=sys.stderr)
            return 1
        config = config.with_overrides(
            {**demo, **({"seconds": DEMO_SECONDS} if config.seconds is None
                        and config.frames is None and args.seconds is None else {})})
    recorder = None
    if config.report_dir:
        from spikebox.runtime.daemon.record import RecordError, Recorder
        try:     # refuses a non-empty DIR/recording now, before anything moves
            recorder = Recorder(Path(config.report_dir) / "recording")
        except RecordError as e:
            print(f"spikebox run: {e}", file=sys.stderr)
            return BAD_CONFIG
    status = _status_printer()
    observers = [recorder] if recorder else []
    if config.view:
        from spikebox.runtime.daemon.view import LiveView
        port = config.view_port

        def serving(url: str) -> None:
            hint = (f" (from another machine: ssh -L {port}:127.0.0.1:{port} ROBOT, then open "
                    "it)") if port else ""
            print(f"spikebox run: live view on {url}{hint}", file=sys.stderr)
        observers.append(LiveView(port, on_serving=serving))
    daemon = Daemon(config, status=status, observers=observers)
    print(f"spikebox run: box {config.box or 'models/demo.box (bundled)'}, source "
          f"{config.source.capture}, link {config.link.url}; "
          + (f"{config.seconds:g} s" if config.seconds else
             f"{config.frames} cycles" if config.frames else "until Ctrl-C"), file=sys.stderr)
    try:
        summary = run_until_signalled(daemon)
    except ConfigRefused as e:
        print(f"\nspikebox run: {e}", file=sys.stderr)
        return BAD_CONFIG
    except (DaemonError, BoxError, BridgeError) as e:
        print(f"\nspikebox run: {e}", file=sys.stderr)
        return 1
    finally:
        if recorder is not None and recorder.started:      # a failed run's report too
            from spikebox.runtime.daemon.report import write_report
            write_report(recorder.folder, config.report_dir)
    status(None)
    print(_run_summary(summary), file=sys.stderr)
    if recorder is not None:
        print(f"spikebox run: report in {Path(config.report_dir)} (report.json and plots; "
              f"the run's recording in {recorder.folder})", file=sys.stderr)
    if summary.get("failure"):
        return 1
    if daemon.stop_reason in ("SIGTERM",):
        return 128 + signal.SIGTERM
    if daemon.stop_reason in ("SIGINT",):
        return 130
    return 0


def _status_printer() -> Callable[[str | None], None]:
    """Status lines: rewritten in place on a terminal, one per period otherwise.
    Called with None at the end, to finish the line."""
    tty = sys.stderr.isatty()

    def show(line: str | None) -> None:
        if line is None:
            if tty:
                sys.stderr.write("\n")
            return
        sys.stderr.write(("\r\033[K" + line) if tty else line + "\n")
        sys.stderr.flush()
    return show


def _run_summary(s: dict) -> str:
    def ms(v):
        return "-" if v is None else f"{v:.1f} ms"
    missed = {k: v["missed_deadlines"] for k, v in s["stages"].items() if v["missed_deadlines"]}
    return (f"done ({s['ended_by']}): {s['frames']} frames at {s['fps']:.1f} fps, "
            f"{s['control_cycles']} commands; latency capture->DRIVE p50 {ms(s['latency_ms_p50'])} "
            f"p99 {ms(s['latency_ms_p99'])}; {s['expert_runs']} expert runs, {s['page_ins']} "
            f"page-ins, {s['unready_frames']} frames an expert was still being paged in "
            f"(answered without it); missed deadlines "
            f"{missed or 'none'}; "
            + (f"control loop held {s['control_stalls']} times (longest gap "
               f"{s['control_gap_ms_max']:.0f} ms; the log says where); " if s["control_stalls"]
               else "")
            + "motors "
            + ("confirmed at zero by the MCU" if s["motors_confirmed_zero"] else
               "NOT confirmed at zero (the MCU's watchdog stops them)"))


def run_overrides(args: argparse.Namespace) -> dict:
    """The run config keys the flags given set (RUN_FLAGS)."""
    overrides = {}
    for flag, key in RUN_FLAGS.items():
        value = getattr(args, flag)
        if value is None or value is False:
            continue
        if flag == "seconds" and value == 0:     # --seconds 0: until Ctrl-C
            value = None
        overrides[key] = round(value * 1_000_000) if flag == "budget_mb" else value
        if flag in ("seconds", "frames"):        # one way to stop: the flag's replaces the file's
            overrides[RUN_FLAGS["frames" if flag == "seconds" else "seconds"]] = None
    return overrides
