"""`spikebox bench faults`: the fault suites, counted.

    spikebox bench faults --json

1. e-stop interleavings: sequences of estop/clear/drive calls from three host
   threads through the real `Link`, over a pty whose far end is the firmware
   core itself, on a line that drops, duplicates and delays frames (faults
   drawn per sequence). Every event at the MCU is judged by the e-stop rule
   (firmware_bridge/lossy_line.py, EstopJudge), and after each sequence: if
   the host believes the robot stopped, its wheels are at zero within 0.5 s
   (the MCU's watchdog is 0.2 s), even when every try of estop() was lost.
2. decoder fuzz: the MCU's receive path (decoder and core) under ASan/UBSan on
   mutations of the committed corpus (firmware/tests/fuzz_link.c).
3. Lava open/close: activators opened, stepped and closed; threads and
   /dev/shm segments left behind afterwards.
4. an oversized model (a 10 GB ConstantOfShape in a few hundred bytes)
   through export's model check, whose test run is memory-limited.
5. box tampering (export/tamper.py): every class of issue #9 §2 on copies of
   a real box, each through the robot's reader and `export check`, with a
   folder outside the box watched for anything changed or deleted.

A figure that cannot be measured is null, with the reason under
`not_measured` (the JSON keys are a contract; a guess never stands in).
"""
from __future__ import annotations

import os
import queue
import random
import re
import subprocess
import sys
import threading
import time

from spikebox.firmware_bridge import BridgeError, Link, LinkConfig
from spikebox.firmware_bridge.lossy_line import EstopJudge, LineFaults, LossyLine
from spikebox.firmware_bridge.virtual_mcu import FIRMWARE_DIR, ensure_binary

from .bridge import quiet_link_logs
from .targets import Target, render, stamp

TARGETS = (  # issue #9 §7
    Target("estop_sequences", ">=", 10_000),
    Target("estop_violations", "==", 0),
    Target("decoder_fuzz_inputs", ">=", 1_000_000),
    Target("decoder_crashes", "==", 0),
    Target("threads_leaked", "==", 0),
    Target("shm_segments_leaked", "==", 0),
    Target("oversized_model_refused", "==", True),
    Target("tamper_cases", ">=", 13),
    Target("tamper_accepted", "==", 0),
    Target("outside_paths_touched", "==", 0),
)

NOT_YET: dict[str, str] = {}    # keys of the issue not measured yet, and why


def _say(progress: bool, msg: str) -> None:
    if progress:
        print(msg, file=sys.stderr, flush=True)


class _Worker:
    """One host thread: runs the calls it is given, in order, and says how each ended."""

    def __init__(self, link: Link):
        self.link = link
        self.q: queue.Queue = queue.Queue()
        self.done: list[tuple[str, bool, str]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (op := self.q.get()) is not None:
            try:
                if op[0] == "estop":
                    self.link.estop()
                elif op[0] == "clear":
                    self.link.clear()
                else:
                    self.link.send_drive(op[1], op[2])
                    self.link.heartbeat()
                self.done.append((op[0], True, ""))
            except BridgeError as e:
                self.done.append((op[0], False, type(e).__name__))
            self.q.task_done()

    def stop(self) -> None:
        self.q.put(None)
        self.thread.join(timeout=10)


def estop_interleavings(sequences: int, *, ops: int = 6, seed: int = 0,
                        progress: bool = True) -> dict:
    rng = random.Random(seed)
    violations, unsafe_ends, checked_ends = [], 0, 0
    judge = EstopJudge()
    with LossyLine() as line, quiet_link_logs():
        link = Link(LinkConfig(url=line.url, ack_timeout_ms=5, max_retries=10,
                               hello_interval_ms=10, handshake_timeout_ms=5000,
                               link_timeout_ms=2000))
        link.connect()
        workers = [_Worker(link) for _ in range(3)]
        try:
            for n in range(sequences):
                line.faults = LineFaults(drop=rng.choice((0.0, 0.1, 0.3)),
                                         duplicate=rng.choice((0.0, 0.2)),
                                         delay=rng.choice((0.0, 0.3, 0.6)), max_delay_ms=5,
                                         seed=rng.randrange(2**31))
                for w in workers:
                    w.done.clear()
                for _ in range(ops):
                    kind = rng.choice(("estop", "clear", "drive", "drive"))
                    op = (kind, rng.randint(50, 400), rng.randint(-400, -50))
                    rng.choice(workers).q.put(op)
                for w in workers:
                    w.q.join()
                time.sleep(0.006)      # every delayed frame has landed
                violations += judge.feed(line.events_since(judge.events_seen))
                if link.estop_latched:
                    # The host believes the robot stopped: within the MCU's watchdog
                    # time the wheels are at zero, even if every try of estop() was lost
                    # (the host re-sends it, and its silence trips the watchdog).
                    checked_ends += 1
                    core, deadline = line.core, time.monotonic() + 0.5
                    while (core.left_mm_s, core.right_mm_s) != (0, 0) and \
                            time.monotonic() < deadline:
                        time.sleep(0.005)
                    if (core.left_mm_s, core.right_mm_s) != (0, 0):
                        unsafe_ends += 1
                if progress and (n + 1) % 1000 == 0:
                    _say(True, f"  {n + 1} / {sequences} sequences, "
                               f"{len(violations) + unsafe_ends} violations")
        finally:
            for w in workers:
                w.stop()
            link.close()
    return {"estop_sequences": sequences,
            "estop_violations": len(violations) + unsafe_ends,
            "estop_events_judged": judge.events_seen,
            "estop_latched_ends_checked": checked_ends,
            "estop_violation_examples": violations[:5]}


def decoder_fuzz(inputs: int, seed: int = 1) -> dict:
    binary = ensure_binary("fuzz_link")
    corpus = FIRMWARE_DIR / "tests" / "corpus"
    out = subprocess.run([str(binary), str(corpus), "--runs", str(inputs), "--seed", str(seed)],
                         capture_output=True, text=True)
    m = re.search(r"fuzz_link: (\d+) inputs", out.stdout)
    return {"decoder_fuzz_inputs": int(m.group(1)) if m else None,
            "decoder_crashes": 0 if out.returncode == 0 else 1,
            "decoder_crash_report": None if out.returncode == 0 else out.stderr[-2000:]}


def _shm_mapped_elsewhere(names: set) -> set:
    """The names among `names` that some other live process still maps."""
    mapped = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/maps") as f:
                maps = f.read()
        except OSError:
            continue
        mapped |= {n for n in names if f"/dev/shm/{n}" in maps}
    return mapped


def lava_open_close(cycles: int) -> dict:
    import numpy as np

    from spikebox.runtime.activator import ActivatorNetwork, ExpertUnits, make_activator
    net = ActivatorNetwork(16, 4, [ExpertUnits(n, np.ones((2, 16), int)) for n in "abc"])
    threads_before = {t.ident for t in threading.enumerate()}
    shm_before = set(os.listdir("/dev/shm"))
    for _ in range(cycles):
        with make_activator(net, "lava") as act:
            act.step(np.ones((4, 16), np.uint8))
    time.sleep(0.5)       # the stopper threads finish
    threads = [t for t in threading.enumerate() if t.ident not in threads_before]
    # /dev/shm is machine-wide: a new segment another live process maps is not ours.
    new = set(os.listdir("/dev/shm")) - shm_before
    return {"lava_open_close_cycles": cycles, "threads_leaked": len(threads),
            "shm_segments_leaked": len(new - _shm_mapped_elsewhere(new))}


def oversized_model(check_model, memory_bomb) -> dict:
    """A 10 GB ConstantOfShape in a few hundred bytes through export's model check
    (passed in: the robot side never imports export)."""
    import tempfile
    from pathlib import Path

    import onnx
    with tempfile.TemporaryDirectory(prefix="spikebox-bomb-") as d:
        onnx.save(memory_bomb(50_000), str(Path(d) / "bomb.onnx"))
        try:
            check_model(Path(d) / "bomb.onnx", Path(d) / "staged")
        except Exception as e:     # ModelTooBig: its peak is the child's, when it was stopped
            peak = getattr(e, "peak_rss_bytes", None)
            left = (Path(d) / "staged").exists()
            return {"oversized_model_refused": type(e).__name__ == "ModelTooBig" and not left,
                    "peak_rss_mb_oversized_model": round(peak / 2**20, 1) if peak else None,
                    "oversized_model_message": str(e)[:300]}
        return {"oversized_model_refused": False, "peak_rss_mb_oversized_model": None}


def run_faults_bench(*, estop_sequences: int = 10_000, fuzz_inputs: int = 1_000_000,
                     lava_cycles: int = 20, progress: bool = True, check_model=None,
                     memory_bomb=None, run_tamper_suite=None) -> dict:
    """check_model, memory_bomb, run_tamper_suite: export's (the CLI passes them in: the
    robot side never imports export)."""
    out: dict = {}
    _say(progress, f"e-stop: {estop_sequences} interleavings of estop/clear/drive from 3 "
                   "threads over a lossy line to the firmware core ...")
    t0 = time.monotonic()
    out.update(estop_interleavings(estop_sequences, progress=progress))
    out["estop_seconds"] = round(time.monotonic() - t0, 1)
    _say(progress, f"decoder fuzz: {fuzz_inputs} inputs under ASan/UBSan ...")
    out.update(decoder_fuzz(fuzz_inputs))
    _say(progress, f"Lava: {lava_cycles} activators opened, stepped and closed ...")
    out.update(lava_open_close(lava_cycles))
    _say(progress, "oversized model: a 10 GB ConstantOfShape through export's model check ...")
    out.update(oversized_model(check_model, memory_bomb))
    _say(progress, "box tampering: every class of issue #9 §2 on copies of a real box ...")
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory(prefix="spikebox-tamper-") as d:
        report = run_tamper_suite(Path(d))
    out.update(tamper_cases=len(report.cases), tamper_accepted=len(report.accepted),
               outside_paths_touched=len(report.outside_touched),
               tamper_classes=report.cases, tamper_accepted_cases=report.accepted)
    out.update({k: None for k in NOT_YET}, not_measured=dict(NOT_YET))
    return stamp(out, TARGETS)


def format_table(r: dict) -> str:
    rows = [
        ("e-stop interleavings", str(r["estop_sequences"]), "estop_sequences"),
        ("  violations (rule + latched ends)", str(r["estop_violations"]), "estop_violations"),
        ("  events judged at the MCU", str(r["estop_events_judged"]), None),
        ("decoder fuzz inputs (C, ASan/UBSan)", str(r["decoder_fuzz_inputs"]),
         "decoder_fuzz_inputs"),
        ("  crashes", str(r["decoder_crashes"]), "decoder_crashes"),
        ("Lava open/close cycles", str(r["lava_open_close_cycles"]), None),
        ("  threads leaked", str(r["threads_leaked"]), "threads_leaked"),
        ("  /dev/shm segments leaked", str(r["shm_segments_leaked"]), "shm_segments_leaked"),
        ("box tamper classes", str(r["tamper_cases"]), "tamper_cases"),
        ("  accepted (check passed, or the robot loaded it)", str(r["tamper_accepted"]),
         "tamper_accepted"),
        ("  files outside the box changed or deleted", str(r["outside_paths_touched"]),
         "outside_paths_touched"),
        ("oversized model refused (10 GB tensor)", str(r["oversized_model_refused"]),
         "oversized_model_refused"),
        ("  peak RSS of its test run", f"{r['peak_rss_mb_oversized_model']} MB", None),
    ] + [(f"{k} (not measured)", "null", None) for k in r["not_measured"]]
    return render("spikebox bench faults", rows, TARGETS, r)
