"""`spikebox export check BOX [--trusted-key PUB ...]`: is this box whole and usable, as the
robot will load it? With trusted keys it refuses what a robot given them refuses (Box.open).
Without, an unsigned box passes, but a signature that does not match its manifest is refused
all the same: it is a box damaged or changed after signing, whatever a robot trusts."""
from __future__ import annotations

import time
from typing import Callable, Iterator, Sequence

import numpy as np

from spikebox.runtime.box import Box, BoxError
from spikebox.runtime.box_signature import SignatureState, TrustedKey
from spikebox.runtime.experts.cpu_target import cpu_key, this_cpu
from spikebox.runtime.experts.session import load_session, warm_up, zero_inputs
from spikebox.runtime.experts.box_loader import refuse_foreign_external_data
from spikebox.runtime.experts.paged import weights_file
from spikebox.runtime.experts.shell import WeightPages
from spikebox.runtime.manifest import RUN_UNWOKEN


def _shell_round_trip(name: str, path, session, feeds, expected) -> str:
    """Evict `session` to a shell and page it back in, as the pager does; same outputs?"""
    weights = weights_file(path)
    if not weights.exists():
        return "no mmapped weights: the pager releases it on eviction"
    pages = WeightPages(weights)
    dropped = pages.drop()
    if dropped is None:
        return "not shelvable here (see the log): the pager releases it on eviction"
    pages.populate()
    got = session.run(None, feeds)
    for out, a, b in zip(session.get_outputs(), expected, got):
        if not np.allclose(a, b, rtol=1e-5, atol=1e-6):
            raise BoxError(f"{path}: expert '{name}' output '{out.name}' changed after its "
                           f"weights were paged out and back in; report it with the model")
    return f"shell round trip ok ({dropped / 2**20:.1f} MB of weights paged out and back)"


def check_box(path, progress: Callable[[str], None] = lambda s: None,
              trusted_keys: Sequence[TrustedKey] | None = None) -> Iterator[str]:
    """Yields one line per check passed; raises BoxError at the first failure."""
    box = Box.open(path, trusted_keys=trusted_keys)
    yield f"manifest: schema {box.manifest.schema_version}, {len(box.experts)} experts"
    signature = box.signature
    if signature.state in (SignatureState.MISMATCH, SignatureState.DAMAGED):
        raise BoxError(signature.problem())
    yield (f"signature: {signature.summary()}"
           + (", a trusted key" if trusted_keys else "")
           + (" (a robot given trusted_keys refuses it)"
              if signature.state is SignatureState.UNSIGNED else ""))
    t0 = time.perf_counter()
    nbytes = box.verify()
    yield (f"sha256: {len(box.manifest.files)} files, {nbytes / 2**20:.1f} MB verified in "
           f"{(time.perf_counter() - t0) * 1000:.0f} ms")
    here = cpu_key(this_cpu())
    for name, entry in box.experts.items():
        # The portable file, and the one tuned for this CPU where there is one (what a robot
        # of this CPU loads); files tuned for other CPUs are hashed above, not run here.
        mine = entry.files.for_cpu(here)
        for rel, which in [(entry.files.optimized, "")] + ([(mine.graph, " (tuned for this CPU)")]
                                                             if mine else []):
            path = box.file(rel)
            refuse_foreign_external_data(path, name)
            progress(f"loading {name}{which} ...")
            try:
                session = load_session(path)
                feeds = zero_inputs(session, shapes=entry.measured_shapes)   # as the pager's loader
                expected = warm_up(session, feeds=feeds)
            except Exception as e:  # onnxruntime raises several unrelated types
                raise BoxError(f"{path}: expert '{name}' does not load or run ({e}); "
                               f"export it again") from None
            yield (f"expert {name}{which}: loads and runs; "
                   f"{_shell_round_trip(name, path, session, feeds, expected)}")
        others = len(entry.files.tuned) - (mine is not None)
        if others:
            yield f"expert {name}: {others} file(s) tuned for other CPUs: hashed, not run here"
    leftovers = box.unlisted()
    if leftovers:
        shown = ", ".join(leftovers[:5]) + (f" and {len(leftovers) - 5} more" if len(leftovers) > 5
                                            else "")
        raise BoxError(f"{box.path}: holds what its manifest does not list: {shown}. They are "
                       f"never loaded: leftovers of an interrupted export (the next export add "
                       f"or remove sweeps them) or files slipped in; remove them")
    yield "files: nothing on disk the manifest does not list"
    by_name = [n for n in box.experts if n not in box.woken_by_camera]
    pinned = (f"; {len(by_name)} not woken by the camera: {', '.join(by_name)} (each: "
              f"{RUN_UNWOKEN})") if by_name else ""
    if box.woken_by_camera:
        network, _ = box.load_activator()      # refuses units for other experts, or none
        yield f"activator: {network.n_units} units for {len(network.experts)} experts{pinned}"
    elif box.activator_dir is not None:
        raise BoxError(f"{box.activator_dir}: an activator, but no expert of the box is woken "
                       f"by the camera; export again")
    else:
        yield f"activator: none{pinned}"
