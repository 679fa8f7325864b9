"""Replay a run's recording through the pager offline: what paging would have done on the same
frames with other pager options, and the most recall any prefetcher could reach on them.

    .venv/bin/spikebox run --seconds 150 --report runs/today
    .venv/bin/python tools/pager_replay.py runs/today/recording
    .venv/bin/python tools/pager_replay.py runs/today/recording --set prefetch_confidence=0.5 --json

Each frame of the recording (frames.jsonl: fired, awake, asleep, warmth) goes to a real `Pager`
with the run's own config, budget and pinned experts, and the box's footprints and shells, as the
daemon's loops feed it (runtime/daemon/vision.py, experts_loop.py): `observe` with what the
vision loop tells it is in use (`--told awake`, the daemon's rule; `--told fired`, the rule
before session 17: this frame's spikes only), the sleepers that wake on the frame as `wanted`,
then a `use` of each awake expert whose turn it is (experts_loop.take_turns, the daemon's
rule: those that fit by priority, the rest in turn, one page-in a frame while taking turns).
Loads are tokens, and prefetches complete within their frame (prefetch "inline"), so a
replay is exact and repeatable; the live run's background thread differs a little (the live
figures are printed beside). A sleeper's waking is read from the recording: it fired while
asleep and was awake on the next frame.

Each replayed miss is also told by what the expert was on the frame before (`misses_by_kind`):
`started` (not awake: a start, warned of or not), `woken` (asleep: its sleep ran out while its
units fired) or `turns` (awake: another awake expert held its room, the two taking turns).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from pathlib import Path

from spikebox.runtime.bench.e2e import recall_bound
from spikebox.runtime.box import Box, BoxError
from spikebox.runtime.config_fields import ConfigError
from spikebox.runtime.daemon import RunConfig
from spikebox.runtime.daemon.experts_loop import take_turns
from spikebox.runtime.daemon.record import RecordError, read_recording
from spikebox.runtime.daemon.vision import told_in_use
from spikebox.runtime.experts.box_loader import BoxLoader
from spikebox.runtime.pager import ExpertRefused, Pager
from spikebox.runtime.pager.offline.simulate import _TokenLoader

KEYS = ("requests", "misses", "prefetches_issued", "prefetches_used", "prefetch_recall",
        "prefetch_precision", "pageins")


def replay(folder, told: str = "awake", options: dict | None = None, box_path=None) -> dict:
    recording = read_recording(folder)
    meta, names = recording.meta, recording.experts
    config = RunConfig.from_dict(meta["config"])
    if options:
        config = config.with_overrides({f"pager.{k}": v for k, v in options.items()})
    box = Box.open(box_path or meta["box"]["path"])
    loader = BoxLoader(box)
    footprints = loader.footprints()
    shells = loader.shell_footprints() if config.pager.shells else None
    always = tuple(config.activator.always_awake)
    pinned = tuple(dict.fromkeys(config.pager.pinned + always))
    budget = meta["budget_bytes"]
    pager = Pager(dataclasses.replace(config.pager, budget_bytes=budget, pinned=pinned,
                                      prefetch="inline", trim_after_evict=False),
                  _TokenLoader(footprints, shells), footprints, shell_footprints=shells)
    priority = {n: e.priority for n, e in box.experts.items()}
    last_ran: dict[str, int] = {}
    frames = recording.frames
    kinds: Counter = Counter()
    for k, f in enumerate(frames):
        asleep = set(f.asleep)
        after = set(frames[k + 1].asleep) if k + 1 < len(frames) else asleep
        waking = [n for n in f.fired if n in asleep and n not in after]
        warmth = {n: 0.0 if n in asleep and n not in waking else w
                  for n, w in zip(names, f.warmth)}
        in_use = (told_in_use(f.awake, always) if told == "awake"
                  else [n for n in f.fired if n not in asleep])
        pager.observe(in_use, warmth, wanted=waking)
        awake = sorted((n for n in f.awake if n in footprints), key=lambda n: (-priority[n], n))
        chosen, all_fit = take_turns(awake, footprints, pager.pinned, budget, last_ran, k)
        resident, asked = pager.resident(), False
        for name in sorted(chosen, key=lambda n: n not in resident):
            if name not in resident:
                if asked and not all_fit:       # taking turns: one page-in a frame
                    continue
                asked = True
            try:
                with pager.use(name):
                    last_ran[name] = k
            except ExpertRefused:
                continue
            if name not in resident:
                before = frames[k - 1] if k else None
                kinds["woken" if before and name in before.asleep else
                      "turns" if before and name in before.awake else "started"] += 1
    replayed = pager.metrics()
    replayed["pageins"] = replayed["pageins"] - len(pinned)
    awake = [(list(f.awake), {}) for f in frames]
    live = meta.get("summary", {}).get("pager", {})
    return {"recording": str(folder), "frames": len(frames), "told": told,
            "options": options or {}, "budget_bytes": budget,
            "replayed": {k: replayed[k] for k in KEYS},
            "live": {k: live.get(k) for k in KEYS if k != "pageins"},
            "misses_by_kind": {k: kinds[k] for k in ("started", "woken", "turns")},
            "prefetch_recall_bound": recall_bound(awake, footprints, budget, pinned, replayed)}


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recording",
                   help="a recording folder (spikebox run --report DIR: DIR/recording)")
    p.add_argument("--told", choices=("awake", "fired"), default="awake",
                   help="what the pager is told is in use (default awake: the daemon's rule)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a pager option of the run config, e.g. prefetch_confidence=0.5")
    p.add_argument("--box", help="the box, if it moved since the run (default: meta.json's)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = p.parse_args(argv)
    options = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--set {item!r}: want KEY=VALUE, e.g. prefetch_confidence=0.5")
        options[key] = _value(value)
    try:
        out = replay(Path(args.recording), args.told, options, args.box)
    except (ConfigError, RecordError, BoxError) as e:
        print(f"pager_replay: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"{out['recording']}: {out['frames']} frames, told {out['told']}, "
          f"options {out['options'] or 'the run config'}")
    for k in KEYS:
        live = out["live"].get(k)
        value = out["replayed"][k]
        if isinstance(value, float):
            print(f"  {k:20} {value:>10.3f}   live {'-' if live is None else f'{live:.3f}'}")
        else:
            print(f"  {k:20} {value:>10}   live {'-' if live is None else live}")
    kinds = ", ".join(f"{k} {v}" for k, v in out["misses_by_kind"].items())
    print(f"  misses by kind       {kinds}")
    bound = out["prefetch_recall_bound"]
    print(f"  prefetch_recall_bound {'-' if bound is None else f'{bound:.3f}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
