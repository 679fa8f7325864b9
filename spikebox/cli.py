"""The `spikebox` command: run, export, inspect, sim, bench.

    spikebox run                       # the demo: the sim world, the bundled box, a virtual MCU
    spikebox run --serial /dev/ttyUSB0 --seconds 10
    spikebox run --config robot.toml --print-config    # the effective run config, as TOML
    spikebox bench bridge --json

Each subcommand imports its stage only when called, so `spikebox --help` is
instant and the robot side never imports the export side: even the `export`
subcommand's arguments are added (from spikebox.export) only when it is parsed.
"""
from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import os
import signal
import sys
import threading
from typing import Callable

from spikebox import __version__

# The bundled demo box: the repo's models/ (beside the spikebox package's source tree).
DEMO_BOX = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "models", "demo.box")


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)

from spikebox.run_command import BAD_CONFIG, RUN_FLAGS  # noqa: F401  (BAD_CONFIG: tests, scripts)


def _cmd_run(args: argparse.Namespace) -> int:
    from spikebox.run_command import run
    return run(args)


def _sets(flag: str) -> str:
    """The run config key a flag sets, as its help shows it."""
    return f"[{RUN_FLAGS[flag]}]"


def _cmd_export(args: argparse.Namespace) -> int:
    from spikebox.export import commands
    return commands.run(args)


def _cmd_inspect(args: argparse.Namespace) -> int:
    from spikebox.runtime.box_report import inspect_box
    return inspect_box(args.box)


def _cmd_sim(args: argparse.Namespace) -> int:
    if not (args.record or args.sheet):
        print("spikebox sim: give --record DIR --seconds S, or --sheet FILE.png (or both)",
              file=sys.stderr)
        return 2
    if args.record and not args.seconds:
        print("spikebox sim: --record needs --seconds S", file=sys.stderr)
        return 2
    from spikebox.runtime.sim.commands import run_sim_command
    return run_sim_command(record=args.record, seconds=args.seconds, sheet=args.sheet,
                           seed=args.seed, course=args.course, size=args.size, fps=args.fps,
                           randomize=args.randomize)


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.target == "bridge":
        from spikebox.runtime.bench.bridge import format_table, run_bridge_bench
        result = run_bridge_bench(drives=args.drives, fault_rate=args.fault_rate,
                                  trials=args.trials, progress=not args.json)
    elif args.target == "activator":
        from spikebox.runtime.bench.activator import format_table, run_activator_bench
        result = run_activator_bench(frames=args.activator_frames)
    elif args.target == "pager" and args.box:
        from spikebox.runtime.bench.pager import format_box_table as format_table, run_box_bench
        result = run_box_bench(args.box, progress=not args.json)
    elif args.target == "pager":
        from spikebox.export.box_tune import tune_box
        from spikebox.export.bench_box import write_bench_box, write_mix_sources   # built here
        from spikebox.export.testmodels import write_bench_sources
        from spikebox.runtime.bench.pager import format_table, run_pager_bench
        result = run_pager_bench(write_bench_sources, progress=not args.json,
                                 build_box=write_bench_box, tune_box=tune_box,
                                 write_mix=write_mix_sources)
    elif args.target == "faults":
        from spikebox.export.model_check import check_model   # export's, passed in
        from spikebox.export.tamper import run_tamper_suite
        from spikebox.export.testmodels import memory_bomb
        from spikebox.runtime.bench.faults import format_table, run_faults_bench
        result = run_faults_bench(estop_sequences=args.estop_sequences,
                                  fuzz_inputs=args.fuzz_inputs, lava_cycles=args.lava_cycles,
                                  progress=not args.json, check_model=check_model,
                                  memory_bomb=memory_bomb, run_tamper_suite=run_tamper_suite)
    elif args.target == "sim":
        from spikebox.runtime.bench.sim import format_table, run_sim_bench
        result = run_sim_bench()
    elif args.target == "routing":
        from spikebox.runtime.bench.routing import format_table, run_routing_bench
        result = run_routing_bench(args.box or DEMO_BOX,
                                   progress=(lambda s: None) if args.json else _progress)
    else:                                     # "e2e" (argparse allows no other)
        from spikebox.runtime.bench.e2e import format_table, run_e2e_bench
        result = run_e2e_bench(args.box or DEMO_BOX, seconds=args.e2e_seconds,
                               progress=(lambda s: None) if args.json else _progress)
    print(json.dumps(result, sort_keys=True) if args.json else format_table(result))
    return 0 if result["targets_met"] else 1


class _Parser(argparse.ArgumentParser):
    """A subcommand's parser whose arguments may be added when it is first parsed (`late`)."""

    def __init__(self, *args, late: Callable[[argparse.ArgumentParser], None] | None = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self._late = late

    def parse_known_args(self, args=None, namespace=None):
        if self._late is not None:
            late, self._late = self._late, None
            late(self)
        return super().parse_known_args(args, namespace)


def _export_arguments(exp: argparse.ArgumentParser) -> None:
    from spikebox.export.commands import add_arguments
    add_arguments(exp, argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="spikebox", formatter_class=fmt,
        description="example:  spikebox run\n\n"
                    "A spiking activator watches the camera and pages small ONNX expert\n"
                    "models into a RAM budget; their outputs drive the robot over serial.")
    p.add_argument("--version", action="version", version=f"spikebox {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = p.add_subparsers(dest="command", metavar="{run,export,inspect,sim,bench}", required=True,
                           parser_class=_Parser)

    run = sub.add_parser(
        "run", formatter_class=fmt, help="run the robot daemon (no arguments: the demo)",
        description="example:  spikebox run --config tools/spikebox.toml --seconds 10\n\n"
                    "Runs the robot daemon: frames from the source through the encoder and\n"
                    "the activator, the awake experts paged into the RAM budget and run, the\n"
                    "arbiter's setpoint sent over the serial link at rates.control_hz, with a\n"
                    "status line once a second. With no arguments it is the demo: the sim\n"
                    "world, the bundled box, the reference firmware on a pseudo-terminal,\n"
                    "120 s. Ctrl-C or SIGTERM stops the motors first, then the stages.\n"
                    "An encoder and activator too slow for rates.frame_hz on this machine\n"
                    "(Lava's CPU simulation: tools/lava-demo.toml) slow the frame rate and\n"
                    "the robot to match, and the run says so (rates.adapt).\n"
                    "The run config (TOML, annotated in tools/spikebox.toml) is the defaults,\n"
                    "then --config FILE, then the flags, each of which sets the key named in\n"
                    "its help.")
    run.add_argument("--config", metavar="FILE",
                     help="TOML run config; the flags override its keys")
    run.add_argument("--print-config", action="store_true",
                     help="print the effective run config as TOML and exit")
    run.add_argument("--box", metavar="DIR",
                     help=f"box of experts {_sets('box')} (default: the bundled demo box)")
    run.add_argument("--source", metavar="sim|INDEX|FILE|PIPELINE",
                     help=f"camera index, video file, folder of frames, GStreamer pipeline, or "
                          f"sim[:COURSE[:SEED]] {_sets('source')} (default: sim)")
    run.add_argument("--serial", metavar="URL|virtual",
                     help="serial port URL (/dev/ttyUSB0, a pty path, spy://...) or 'virtual' "
                          f"for the reference firmware on a pseudo-terminal {_sets('serial')} "
                          "(default: virtual)")
    run.add_argument("--budget-mb", metavar="N", type=float,
                     help=f"expert RAM budget, MB of 10^6 bytes {_sets('budget_mb')} "
                          "(default: a quarter of what the box's experts need resident)")
    stop = run.add_mutually_exclusive_group()
    stop.add_argument("--seconds", metavar="S", type=float,
                      help=f"stop after S seconds {_sets('seconds')}; 0: run until Ctrl-C "
                           "(default: the sim demo stops after 120 s or at the course's end, "
                           "a camera runs until Ctrl-C)")
    stop.add_argument("--frames", metavar="N", type=int,
                      help=f"stop after N control cycles {_sets('frames')}")
    run.add_argument("--report", metavar="DIR",
                     help=f"record the run into DIR/recording and write a report there: "
                          f"report.json and plots {_sets('report')}")
    run.add_argument("--view", action="store_true",
                     help=f"serve a live page on 127.0.0.1:view_port (the camera with the spike "
                          f"raster, resident experts and the command sent; status as JSON) "
                          f"{_sets('view')}")
    run.set_defaults(func=_cmd_run)

    exp = sub.add_parser(
        "export", formatter_class=fmt, help="make, grow and check boxes of experts",
        description="example:  spikebox export add mybox line_follow line.onnx --examples frames/line\n\n"
                    "A box is a folder: manifest.json, each expert's ONNX model and the\n"
                    "optimised file the pager loads, the activator's units, example frames.\n"
                    "Every change is committed atomically: an interrupted export leaves the\n"
                    "box as it was.",
        late=_export_arguments)        # spikebox.export is imported only to parse `export ...`
    exp.set_defaults(func=_cmd_export)

    ins = sub.add_parser(
        "inspect", formatter_class=fmt, help="show what a box holds",
        description="example:  spikebox inspect mybox\n\n"
                    "Experts, files, sizes, measured footprint, load time and latency,\n"
                    "what wakes each expert (its activator units, or not the camera: then\n"
                    "activator.always_awake runs it); nothing is loaded or changed.")
    ins.add_argument("box", metavar="BOX")
    ins.set_defaults(func=_cmd_inspect)

    sim = sub.add_parser(
        "sim", formatter_class=fmt, help="the demo world: record drives, draw every zone",
        description="example:  spikebox sim --record runs/tour0 --seconds 60 --seed 0\n"
                    "          spikebox sim --sheet sheet.png\n\n"
                    "The demo world (runtime/sim/): a course of zones (line track, signs,\n"
                    "ball, obstacles, dock, open floor) the robot drives through, moved by the\n"
                    "reference firmware core. --record: a scripted autopilot drives the course\n"
                    "on the world's virtual clock (as fast as it renders); DIR gets one PNG a\n"
                    "frame, truth.jsonl (one ground-truth record a frame: zone, skill, what a\n"
                    "perfect expert would answer) and meta.json. --sheet: one labelled frame\n"
                    "of every zone, in the fixed look and under domain randomisation.")
    sim.add_argument("--record", metavar="DIR", help="record a drive into DIR (new or empty)")
    sim.add_argument("--seconds", type=float, metavar="S", help="how long to record, world time")
    sim.add_argument("--sheet", metavar="FILE.png", help="draw the contact sheet of every zone")
    sim.add_argument("--seed", type=int, default=0, help="course and look seed (default 0)")
    sim.add_argument("--course", default="tour", metavar="NAME",
                     help="the course to record (default tour; a wrong name lists them); "
                          "the sheet always shows tour, which has every zone")
    sim.add_argument("--size", default="160x120", metavar="WxH",
                     help="camera image size, up to 640x480 (default 160x120)")
    sim.add_argument("--fps", type=float, default=20.0, help="frames per second of world time "
                     "(--record; default 20)")
    sim.add_argument("--randomize", action="store_true",
                     help="domain randomisation (--record): lighting, floor, noise, blur, jitter")
    sim.set_defaults(func=_cmd_sim)

    bench = sub.add_parser(
        "bench", formatter_class=fmt,
        help="measure a stage (bridge, activator, pager, faults, sim, routing, e2e)",
        description="example:  spikebox bench activator --json\n\n"
                    "bridge: over a pty to the virtual MCU, measures DRIVE→TELEMETRY round\n"
                    "trips, fault tolerance, the watchdog stop and reconnect time.\n"
                    "activator: encodes 160x120 frames of the demo world (the autopilot\n"
                    "driving the tour course) and runs the same spikes\n"
                    "through the numpy and Lava backends (16 experts x 4 units): time per\n"
                    "frame, speedup, bit-exactness, synaptic ops, Loihi energy estimate.\n"
                    "Prints a table, or one JSON object with --json; exit status 1 if a\n"
                    "target is missed.\n"
                    "pager: naive load vs page-in (from a session shell, and as a new\n"
                    "session) on 2-20 MB convnets built at run time, then LRU, activator-\n"
                    "aware and Belady hit rates at a quarter of the box (shells included),\n"
                    "and RSS over 500 page-in/evict cycles; then steady latency of paged\n"
                    "against naive sessions on a box of such models, portable and tuned for\n"
                    "this CPU (export tune), a cold page-in and the cost of verifying it.\n"
                    "pager --box DIR: those last on your own box's experts, at its shapes.\n"
                    "faults: e-stop interleavings from 3 threads over a lossy line to the\n"
                    "firmware core, the receive path fuzzed under ASan/UBSan, Lava\n"
                    "activators opened and closed (threads, /dev/shm left behind), an\n"
                    "oversized model, box tampering.\n"
                    "sim: the demo world's frames per second at 160x120 and 640x480, rendering\n"
                    "only, on one core.\n"
                    "routing: held-out drives of the demo world through the box's encoder and\n"
                    "activator: top-1 expert against the zone's skill, zone entries woken\n"
                    "within 2 frames, false wakes per minute of open floor, Loihi energy,\n"
                    "growth (each expert masked out), box size.\n"
                    "e2e: the daemon drives the demo course (real time, same seed) with every\n"
                    "expert resident, LRU at a quarter of the box, the activator's pager, and\n"
                    "that with a cold page cache: fps, capture->DRIVE latency, stalls,\n"
                    "routing, course completed, collisions, RSS, page-ins, prefetch.")
    bench.add_argument("target", choices=["bridge", "activator", "pager", "faults", "sim",
                                          "routing", "e2e"])
    bench.add_argument("--box", metavar="DIR", help="the box to measure (routing, e2e; default: "
                       "the bundled demo box, models/demo.box; pager: your box's experts)")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--drives", type=int, default=2000, help="DRIVE round trips (bridge)")
    bench.add_argument("--fault-rate", type=float, default=0.01,
                       help="per-byte fault probability for the fault run (bridge)")
    bench.add_argument("--trials", type=int, default=5,
                       help="watchdog and reconnect trials (bridge)")
    # Not --frames: in `run` that counts control cycles; here it is camera frames of a scene.
    bench.add_argument("--activator-frames", type=int, default=30, metavar="N",
                       help="frames of a moving scene through both backends (activator)")
    bench.add_argument("--estop-sequences", type=int, default=10_000, metavar="N",
                       help="e-stop interleavings (faults)")
    bench.add_argument("--fuzz-inputs", type=int, default=1_000_000, metavar="N",
                       help="receive-path fuzz inputs (faults)")
    bench.add_argument("--lava-cycles", type=int, default=20, metavar="N",
                       help="Lava activators opened and closed (faults)")
    bench.add_argument("--e2e-seconds", type=float, default=150.0, metavar="S",
                       help="longest a mode drives the course, in real time (e2e)")
    bench.set_defaults(func=_cmd_bench)
    return p


class Terminated(BaseException):
    """SIGTERM (systemd stop, kill): unwinds like Ctrl-C, so every `with` closes."""


_terminated = threading.Event()
STOP_GRACE_S = 10.0     # after SIGTERM, how long a clean unwind may take before a hard exit


def stop_on_sigterm(grace_s: float = STOP_GRACE_S) -> None:
    """Make SIGTERM raise Terminated in the main thread instead of ending the process
    on the spot, which left Lava's workers and the virtual MCU running and their
    shared memory behind. A second SIGTERM while unwinding ends it at once.

    Python swallows an exception raised where it cannot propagate (a logging lock's
    release, a __del__): then the command runs on. So SIGTERM also arms a timer that
    ends the process after `grace_s` (its Lava workers follow their parent, and
    their segments are unlinked), and main() reports 143 even if the command
    finished meanwhile."""
    def hard_exit():
        print(f"spikebox: still running {grace_s:g} s after SIGTERM; exiting. Where each "
              f"thread was (please report it):", file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        os._exit(128 + signal.SIGTERM)

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _terminated.set()
        timer = threading.Timer(grace_s, hard_exit)
        timer.daemon = True
        timer.start()
        raise Terminated()
    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop_on_sigterm()
    try:
        status = args.func(args)
    except KeyboardInterrupt:
        return 130
    except Terminated:
        status = None
    if _terminated.is_set():
        print("spikebox: terminated; stopped cleanly", file=sys.stderr)
        return 128 + signal.SIGTERM
    return status


if __name__ == "__main__":
    sys.exit(main())
