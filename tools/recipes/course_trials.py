"""Does a box's whole chain get round a course? Closed-loop trials in the sim, in lockstep.

    cd tools/recipes && ../../.venv-train/bin/python course_trials.py ../../models/demo.box --trials 4 --each --jobs 2

Each trial is `spikebox run --source sim:COURSE:SEED`'s decision chain (runtime/daemon/), on the
sim's own clock at the run config's frame rate (30 a second), as fast as the machine goes
instead of in real time. Per frame: the world's render (the sim source's world: the config's
frame size, the fixed look); the box's encoder and numpy activator (bit-exact with Lava); the
awake set as the vision loop makes it (vision.AwakeHold: fired within
activator.awake_hold_ms, the always-awake, less those verdicts.Verdicts put to sleep); every
awake expert, through the daemon's own loader (BoxLoader: the paged files the pager loads),
on the manifest's preprocessing, its outputs told to the verdicts as the experts loop does;
then --control-per-frame control cycles, the frame's milliseconds split between them, each
as control.ControlLoop.cycle: the pose by Odometry from the MCU's telemetry and its range
reading, the arbiter, the stuck, range and stall guards in that order, a DRIVE and a
HEARTBEAT into the reference firmware core, which moves the robot. The config is the demo's
(RunConfig with run.demo_overrides). A trial ends when the course is completed (the daemon's
test: docked in the course's last zone) or after --seconds.

Where it differs from the daemon, on purpose: no pager (every expert resident: no budget, no
page-in, nobody unready) and no pace (the config's rates: the demo keeps them); each frame's
experts answer it at once (the daemon's extra answering cycle, here the first of the frame's);
and the telemetry read is the TELEMETRY the firmware core answers each DRIVE with (written
before its rx returns, decoded by the bridge's own FrameDecoder), at most one control period
old, where the daemon also gets the core's periodic ones (sim_mcu.InProcessHost reads nothing
back, and a pty Link would put thread timing into a lockstep run).

Per trial: completed, seconds to complete, the zones visited in order (kinds, as the run
report's sim.zones_visited), the furthest zone reached, the zone at the end, the distance
driven, collisions, frames and control cycles, the arbiter's reasons, what the guards did, its
seek rules' counts (arbiter.counts.seeks) and the experts the verdicts put to sleep.
Per box: completed (of trials), the median seconds to complete, collisions summed.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from spikebox.firmware_bridge.framing import FrameDecoder, encode_frame
from spikebox.firmware_bridge.link import wheel_setpoint
from spikebox.firmware_bridge.protocol import PROTOCOL_VERSION, SCHEMA_HASH
from spikebox.firmware_bridge.telemetry import Telemetry
from spikebox.runtime.activator import make_activator
from spikebox.runtime.arbiter import Arbiter, ExpertResult
from spikebox.runtime.arbiter.near import RangeGuard
from spikebox.runtime.arbiter.odometry import Odometry
from spikebox.runtime.arbiter.stall import StallGuard
from spikebox.runtime.arbiter.stuck import StuckGuard
from spikebox.runtime.box import Box
from spikebox.runtime.daemon import RunConfig
from spikebox.runtime.daemon.experts_loop import frame_fed
from spikebox.runtime.daemon.refusals import check_always_awake
from spikebox.runtime.daemon.run import demo_overrides
from spikebox.runtime.daemon.verdicts import Verdicts
from spikebox.runtime.daemon.vision import AwakeHold
from spikebox.runtime.experts.box_loader import BoxLoader
from spikebox.runtime.experts.preprocess import frame_to_tensor
from spikebox.runtime.sim import SimWorld, WorldConfig
from spikebox.runtime.sim.truth import docked

SEED0 = 2001     # --trials N: seeds from here (tours no recipe trains or holds out on)


class _Wire:
    """The host's end on the sim's firmware core, in process and on the world's clock: the
    frames a Link writes (DRIVE clipped and rounded as Link.send_drive does), straight into
    the core, and the TELEMETRY it answers a DRIVE with, kept as Link keeps its latest."""

    def __init__(self, mcu, max_wheel_mm_s: float):
        self.mcu, self.max_wheel_mm_s = mcu, float(max_wheel_mm_s)
        self.decoder, self.seq, self.telemetry = FrameDecoder(), 0, None

    def send(self, name: str, fields: dict) -> None:
        self.seq = (self.seq + 1) & 0xFFFF
        with self.mcu.lock:
            reply = self.mcu.core.rx(b"\x00" + encode_frame(name, self.seq, fields))
        for frame in self.decoder.feed(reply):
            if frame.name == "TELEMETRY":
                self.telemetry = Telemetry.from_fields(frame.fields(), self.mcu.now_ms / 1000.0)

    def latest_telemetry(self, now_s: float, max_age_ms: float) -> Telemetry | None:
        t = self.telemetry
        return None if t is None or (now_s - t.received_at) * 1000.0 > max_age_ms else t

    def drive(self, left_mm_s: float, right_mm_s: float) -> tuple[int, int]:
        sent = tuple(wheel_setpoint(v, self.max_wheel_mm_s) for v in (left_mm_s, right_mm_s))
        self.send("DRIVE", {"left_mm_s": sent[0], "right_mm_s": sent[1]})
        self.send("HEARTBEAT", {"uptime_ms": self.mcu.now_ms & 0xFFFFFFFF, "state": 0})
        return sent


@functools.lru_cache(maxsize=None)
def _opened(box_path: str):
    """(box, demo config, sessions of the experts a frame feeds): once per process."""
    box = Box.open(box_path)
    config = RunConfig().with_overrides(demo_overrides(box.path))      # the demo's, as run
    check_always_awake(config.activator.always_awake, box)
    loader = BoxLoader(box)
    sessions = {name: loader.load(name) for name, e in box.experts.items() if frame_fed(e)}
    return box, config, sessions


def trial(box_path: str, course: str, seed: int, seconds: float, per_frame: int,
          trace_s: float = 0.0) -> dict:
    """One run of the box's chain on course `course` of `seed`: its figures. trace_s: every
    that many seconds a line to stderr: time, zone, pose, the decision, the awake experts."""
    box, cfg, sessions = _opened(box_path)
    network, encoder = box.load_activator()            # fresh: the encoder has a memory
    activator = make_activator(network, backend="numpy")
    always = tuple(cfg.activator.always_awake)
    hold = AwakeHold(network.expert_names, cfg.activator.awake_hold_ms / 1000.0, always)
    verdicts = Verdicts(cfg.activator.quiet_runs, cfg.activator.quiet_sleep_ms / 1000.0,
                        never=always)
    arbiter = Arbiter(box.experts, cfg.arbiter, cfg.link.max_wheel_mm_s)
    stuck = StuckGuard(cfg.arbiter, ways_back=arbiter.ways_back)
    near, stall = RangeGuard(cfg.arbiter), StallGuard(cfg.arbiter)
    odometry, results, last_sent = Odometry(), {}, None
    w, h = cfg.source.frame_size_px
    world = SimWorld(WorldConfig(course=course, width_px=w, height_px=h), seed=seed)
    wire = _Wire(world.mcu, cfg.link.max_wheel_mm_s)
    fps, zones, furthest, took, zone = cfg.rates.frame_hz, [], 0, None, None
    last_zone = len(world.course.zones) - 1
    frames, distance_mm, at, entered = 0, 0.0, world.pose()[:2], []
    try:
        wire.send("HELLO", {"proto_version": PROTOCOL_VERSION, "schema_hash": SCHEMA_HASH})
        for k in range(int(seconds * fps)):
            t = world.t_ms / 1000.0                  # the capture's time, the loops' clock
            image, zone = world.render(k), world.zone()     # truth()'s zone, at its pose
            frames += 1
            here = world.pose()[:2]
            distance_mm, at = distance_mm + math.dist(at, here), here
            if not zones or zones[-1] != zone.kind:
                zones.append(zone.kind)
                entered.append(round(t, 1))
            furthest = max(furthest, zone.index)
            # Daemon._course_completed's test, on the newest frame; the whole truth (costly: its
            # obstacle part plans paths) only where it can be true.
            if zone.index == last_zone and zone.kind == "dock" and docked(world.truth()):
                took = t
                break
            fired = activator.step(encoder.encode(image))
            awake = hold.step(t, fired.expert_spikes, verdicts.asleep(t))   # all resident
            for name in awake:
                entry = box.experts[name]
                if name not in sessions:                # the daemon skips it too
                    continue
                spec = entry.inputs[0]
                arrays = sessions[name].run(
                    None, {spec.name: frame_to_tensor(image, entry.preprocessing, spec)})
                outputs = {o.name: np.asarray(a) for o, a in zip(entry.outputs, arrays)}
                results[name] = ExpertResult(outputs, k, t)
                verdicts.ran(name, entry, outputs, t)
            frame_ms = round((k + 1) * 1000 / fps) - round(k * 1000 / fps)
            cuts = [round(j * frame_ms / per_frame) for j in range(per_frame + 1)]
            for a, b in zip(cuts, cuts[1:]):           # ControlLoop.cycle, on the sim's clock
                now = world.t_ms / 1000.0
                tel = wire.latest_telemetry(now, cfg.arbiter.telemetry_max_age_ms)
                pose = odometry.update(tel)
                range_mm = None if tel is None else tel.range_mm
                decision = arbiter.decide(now, results, awake, pose, range_mm)
                decision = stuck.step(now, decision, pose, range_mm)
                decision = near.step(now, decision, range_mm)
                decision = stall.step(now, last_sent, None if tel is None else
                                      (tel.left_mm_s, tel.right_mm_s)) or decision
                last_sent = wire.drive(decision.left_mm_s, decision.right_mm_s)
                if trace_s and a == 0 and k % round(trace_s * fps) == 0:
                    x, y, heading = world.pose()
                    print(f"{t:6.1f} z{zone.index} ({x:5.0f},{y:5.0f}) h{math.degrees(heading):5.0f}"
                          f" {decision.reason:9s} {decision.expert or '-':14s} "
                          f"{decision.left_mm_s:5.0f},{decision.right_mm_s:5.0f}  awake "
                          f"{','.join(awake)}  passed {_passed(arbiter)}", file=sys.stderr,
                          flush=True)
                world.advance(b - a)
        return {"seed": seed, "completed": took is not None, "seconds": took,
                "zones_visited": zones, "entered_s": entered, "furthest_zone": furthest,
                "zone_at_end": None if zone is None else [zone.index, zone.kind],
                "distance_mm": round(distance_mm), "collisions": world.collisions,
                "frames": frames, "cycles": arbiter.counts.cycles,
                "reasons": dict(arbiter.counts.reasons.most_common()),
                "guards": {"stuck_escapes": stuck.escapes, "range_turns": near.turns,
                           "range_sidesteps": near.sidesteps,
                           "range_boxed_in": near.boxed_in, "stall_back_offs": stall.stalls},
                "seeks": arbiter.counts.seeks, "routed_round": arbiter.counts.routed_round,
                "slept": dict(verdicts.slept)}
    finally:
        activator.close()
        world.close()


def _passed(arbiter: Arbiter) -> str:
    """The targets the seek rules remember passed (odometry mm: from where, where), for --trace."""
    return " ".join(f"{name}:({p.start[0]:.0f},{p.start[1]:.0f})->({p.point[0]:.0f},{p.point[1]:.0f})"
                    for name, passed in arbiter.passed().items() for p in passed)


def _line(r: dict) -> str:
    done = f"completed in {r['seconds']:.1f} s" if r["completed"] else "not completed"
    return (f"  seed {r['seed']}: {done}  zones {'>'.join(r['zones_visited'])}  "
            f"at {r['entered_s']}  furthest {r['furthest_zone']}  end {r['zone_at_end']}  {r['distance_mm']} mm  "
            f"collisions {r['collisions']}  reasons {r['reasons']}  guards {r['guards']}  seeks {r['seeks']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("boxes", nargs="+", help="boxes to drive round the course")
    p.add_argument("--course", default="tour", help="the sim's course (default tour)")
    p.add_argument("--seeds", type=int, nargs="+", help="the courses' seeds (default: --trials)")
    p.add_argument("--trials", type=int, default=4, help=f"seeds from {SEED0} (default 4)")
    p.add_argument("--seconds", type=float, default=150.0, help="a trial's limit (default 150)")
    p.add_argument("--control-per-frame", type=int, default=2,
                   help="control cycles a frame (default 2; the daemon runs ~2.7)")
    p.add_argument("--jobs", type=int, default=1, help="trials at once, in processes (default 1)")
    p.add_argument("--each", action="store_true", help="a line for every trial too")
    p.add_argument("--trace", type=float, default=0.0, metavar="S",
                   help="every S seconds of each trial a line to stderr: zone, pose, decision")
    p.add_argument("--json", action="store_true", help="one JSON object per box (and trial)")
    args = p.parse_args()
    if args.control_per_frame < 1 or args.jobs < 1:
        raise SystemExit("--control-per-frame and --jobs: 1 or more")
    seeds = args.seeds or list(range(SEED0, SEED0 + args.trials))
    # Processes, not threads: render, encoder and activator are numpy under the GIL.
    pool = ProcessPoolExecutor(args.jobs) if args.jobs > 1 else None
    run = pool.map if pool is not None else map
    try:
        for path in args.boxes:
            runs = []
            for r in run(trial, *zip(*[(str(path), args.course, s, args.seconds,
                                        args.control_per_frame, args.trace) for s in seeds])):
                runs.append(r)
                if args.each:
                    print(json.dumps(r) if args.json else _line(r), flush=True)
            times = [r["seconds"] for r in runs if r["completed"]]
            figures = {"box": str(path), "course": args.course, "trials": len(runs),
                       "completed": len(times),
                       "median_s": statistics.median(times) if times else None,
                       "collisions": sum(r["collisions"] for r in runs),
                       "frames": sum(r["frames"] for r in runs),
                       "cycles": sum(r["cycles"] for r in runs),
                       "reasons": dict(sum((Counter(r["reasons"]) for r in runs),
                                           Counter()).most_common())}
            if args.json:
                print(json.dumps(figures), flush=True)
                continue
            median = "n/a" if figures["median_s"] is None else f"{figures['median_s']:.1f} s"
            print(f"{path}: completed {len(times)}/{len(runs)}  median {median}  collisions "
                  f"{figures['collisions']}  reasons {figures['reasons']}", flush=True)
    finally:
        if pool is not None:
            pool.shutdown()


if __name__ == "__main__":
    main()
