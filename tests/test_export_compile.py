"""`spikebox export compile BOX` on the activator's part of a box."""
import dataclasses
import json

import cv2
import pytest

from scenes import run
from spikebox.cli import main
from spikebox.export.box_edit import _commit, _rehash, init_box
from spikebox.runtime.bench.activator import random_network
from spikebox.runtime.box import Box, ExpertEntry, ExpertFiles
from spikebox.runtime.encoder import Encoder, EncoderConfig

NAMES = ("line", "ball")


@pytest.fixture
def box(tmp_path):
    """A box with an activator of random units and example frames, committed by hand."""
    cfg = EncoderConfig(timesteps=8)
    enc = Encoder(cfg)
    net = random_network(n_inputs=enc.n_inputs, experts=2, units=3, timesteps=8, seed=2)
    net = dataclasses.replace(net, experts=[dataclasses.replace(u, name=n)
                                            for u, n in zip(net.experts, NAMES)])
    init_box(tmp_path, encoder=cfg)
    manifest = Box.open(tmp_path).manifest
    (tmp_path / "activator-1").mkdir()
    net.save(tmp_path / "activator-1")
    manifest.activator = "activator-1"
    for i, name in enumerate(NAMES):
        folder = tmp_path / "examples" / name
        folder.mkdir(parents=True)
        for k, frame in enumerate(run(name, 4, seed=i)):
            cv2.imwrite(str(folder / f"{k:04d}.png"), frame)
        manifest.examples[name] = f"examples/{name}"
        source = f"experts/{name}/model.onnx"          # never loaded by compile: any bytes
        (tmp_path / source).parent.mkdir(parents=True)
        (tmp_path / source).write_bytes(b"an expert")
        manifest.experts[name] = ExpertEntry(
            name=name, version=1, role="skill", priority=0,
            files=ExpertFiles(source=source, optimized=source), inputs=(), outputs=(),
            footprint_bytes=1, load_ms=0.0, latency_ms=0.0, onnxruntime_version="-",
            max_abs_diff_vs_source=0.0, activator_units=3, woken_by="activator", added_at="-")
    _rehash(tmp_path, manifest)
    _commit(tmp_path, manifest)
    return tmp_path


def test_compile_checks_numpy_against_lava(box, capsys):
    assert main(["export", "compile", str(box)]) == 0
    out = capsys.readouterr()
    assert "checked bit-exact against numpy on 8 example frames (6 units" in out.out
    assert "encoded 4 example frames of 'line'" in out.err


def test_tampered_network_is_refused(box, capsys):
    npz = box / "activator-1" / "activator.npz"
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    assert main(["export", "compile", str(box)]) == 1
    err = capsys.readouterr().err
    assert "refused" in err and "activator.npz" in err


def test_missing_or_broken_examples_are_named(box, capsys):
    for p in (box / "examples" / "ball").glob("*.png"):
        p.unlink()
    assert main(["export", "compile", str(box)]) == 1
    assert "examples/ball: no example frames" in capsys.readouterr().err
    (box / "examples" / "ball" / "0000.png").write_bytes(b"not a png")
    assert main(["export", "compile", str(box)]) == 1
    assert "0000.png: not a readable image" in capsys.readouterr().err


def test_units_for_an_expert_the_manifest_does_not_have_are_refused(box, capsys):
    """The network holds units for exactly the experts the camera wakes: one the manifest
    lost (or says is woken by name) is a box that would page in what it does not hold."""
    path = box / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["experts"]["ball"]
    path.write_text(json.dumps(manifest))
    assert main(["export", "compile", str(box)]) == 1
    err = capsys.readouterr().err
    assert "has units for ['ball', 'line']" in err and "woken by the camera are ['line']" in err


def test_encoder_config_that_does_not_fit_the_network_is_refused(box, capsys):
    """The encoder config is stored once, in the manifest (issue #8)."""
    path = box / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["encoder"]["timesteps"] = 16
    path.write_text(json.dumps(manifest))
    assert main(["export", "compile", str(box)]) == 1
    assert "re-export the box" in capsys.readouterr().err
    manifest["encoder"]["schema_version"] = 99
    path.write_text(json.dumps(manifest))
    assert main(["export", "compile", str(box)]) == 1
    assert "encoder.schema_version is 99" in capsys.readouterr().err


def test_a_box_without_an_activator_is_named(tmp_path, capsys):
    init_box(tmp_path / "empty")
    assert main(["export", "compile", str(tmp_path / "empty")]) == 1
    assert "has no activator yet" in capsys.readouterr().err
    assert main(["export", "compile", str(tmp_path / "nothing")]) == 1
    assert "is not a box" in capsys.readouterr().err


def test_sigterm_stops_export_compile_cleanly(tmp_path):
    """SIGTERM while `export compile` runs Lava: the command stops (exit 143, said so),
    and none of its Lava workers outlives it. (Before: still running after 40 s, with
    17 processes.)"""
    import os
    import signal
    import subprocess
    import sys
    import time

    from spikebox.export.tamper import build_suite_box
    box = build_suite_box(tmp_path / "work")
    proc = subprocess.Popen([sys.executable, "-m", "spikebox", "export", "compile", str(box)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def children():
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)],
                             capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]
    deadline = time.monotonic() + 60
    while len(children()) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    kids = children()
    assert kids, "Lava never started"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "terminated" in err

    def alive(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    deadline = time.monotonic() + 10
    while any(alive(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [k for k in kids if alive(k)]
    for k in left:
        os.kill(k, signal.SIGKILL)
    assert not left, f"{len(left)} Lava workers outlived `export compile`"
