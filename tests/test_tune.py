"""`spikebox export tune`: paged files optimised for this CPU, chosen by the loader only where
the CPU matches; and a page-in verifies exactly the files it loads."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnx
import pytest

from spikebox.cli import main
from spikebox.export.box_tune import tune_box
from spikebox.export.testmodels import mobile_convnet, mlp
from spikebox.runtime.box import Box, BoxError
from spikebox.runtime.experts.box_loader import BoxLoader
from spikebox.runtime.experts.cpu_target import cpu_key, this_cpu
from spikebox.runtime.experts.session import load_session, zero_inputs


@pytest.fixture(scope="module")
def tuned_box(tmp_path_factory):
    """A box of a depthwise convnet (which the "all" level lays out for the CPU) and an MLP,
    neither woken by the camera, tuned here."""
    d = tmp_path_factory.mktemp("tune")
    onnx.save(mobile_convnet(1.0, image=96), str(d / "conv.onnx"))
    onnx.save(mlp(), str(d / "mlp.onnx"))
    box = d / "skills.box"
    assert main(["export", "init", str(box)]) == 0
    for name in ("conv", "mlp"):
        assert main(["export", "add", str(box), name, str(d / f"{name}.onnx")]) == 0
    before = Box.open(box)
    reports = {r.name: r for r in tune_box(box)}
    return box, before, reports


def test_tune_records_a_file_for_this_cpu_that_the_loader_uses(tuned_box):
    box_path, before, reports = tuned_box
    box = Box.open(box_path)
    box.verify()                                    # every new byte is hashed
    key = cpu_key(this_cpu())
    loader = BoxLoader(box)
    for name, r in reports.items():
        entry = box.experts[name]
        assert r.portable_ms > 0 and r.tuned_ms > 0
        if not r.kept:                              # slower here: nothing recorded
            assert entry.files.tuned == () and loader.graph_rel(name) == entry.files.optimized
            continue
        tuned = entry.files.for_cpu(key)
        assert tuned.cpu == this_cpu() and tuned.latency_ms <= 1.05 * tuned.portable_latency_ms
        assert loader.graph_rel(name) == tuned.graph != entry.files.optimized
        assert loader.footprints()[name] == tuned.footprint_bytes
        # the same answers as the portable file, within the layout change's float reordering
        feeds = {k: np.random.default_rng(0).standard_normal(v.shape).astype(v.dtype)
                 for k, v in zero_inputs(load_session(box.file(entry.files.optimized))).items()}
        a = load_session(box.file(entry.files.optimized)).run(None, feeds)
        b = loader.load(name).run(None, feeds)
        assert all(np.allclose(x, y, rtol=1e-3, atol=1e-4) for x, y in zip(a, b))
    assert reports["conv"].kept, "the depthwise convnet is what the CPU layout is for"
    # nothing else of the box changed: same experts, same portable files and their hashes
    for name, entry in before.experts.items():
        rel = entry.files.optimized
        assert box.manifest.files[rel] == before.manifest.files[rel]


def test_a_file_tuned_for_another_cpu_is_never_loaded_here(tuned_box, tmp_path):
    import shutil
    box_path, _, reports = tuned_box
    copy = tmp_path / "other-cpu.box"
    shutil.copytree(box_path, copy)
    data = json.loads((copy / "manifest.json").read_text())
    for entry in data["experts"].values():
        for t in entry["files"]["tuned"]:
            t["cpu"]["isa"] = "some other vector unit"
            t["cpu_key"] = cpu_key(t["cpu"])
    (copy / "manifest.json").write_text(json.dumps(data))
    box = Box.open(copy)
    loader = BoxLoader(box)
    for name, entry in box.experts.items():
        assert loader.graph_rel(name) == entry.files.optimized
        assert loader.footprints()[name] == entry.footprint_bytes
    assert main(["export", "check", str(copy)]) == 0    # hashed, not run


def test_page_in_verifies_what_it_loads_and_only_that(tuned_box, tmp_path):
    import shutil
    box_path, _, _ = tuned_box
    copy = tmp_path / "b.box"
    shutil.copytree(box_path, copy)
    box = Box.open(copy)
    loader = BoxLoader(box)
    name = "conv"
    files = loader.expert_files(name)
    assert loader.graph_rel(name) in files and all(".paged.onnx" in f for f in files)
    assert box.experts[name].files.source not in files     # the robot never reads the source
    loader.load(name)
    assert loader.verify_bytes_total == sum(box.file(f).stat().st_size for f in files)
    # a changed source model is not what a page-in reads, but `export check` refuses the box
    src = box.file(box.experts[name].files.source)
    src.write_bytes(src.read_bytes() + b"\0")
    BoxLoader(Box.open(copy)).load(name)
    assert main(["export", "check", str(copy)]) == 1
    # a changed weights file of the file it loads is refused at page-in
    weights = box.file(files[-1])
    raw = bytearray(weights.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    weights.write_bytes(bytes(raw))
    with pytest.raises(BoxError, match="sha256"):
        BoxLoader(Box.open(copy)).load(name)


def test_manifest_refuses_a_tuned_file_it_does_not_hash(tuned_box, tmp_path):
    import shutil
    box_path, _, reports = tuned_box
    copy = tmp_path / "c.box"
    shutil.copytree(box_path, copy)
    data = json.loads((copy / "manifest.json").read_text())
    entry = data["experts"]["conv"]
    entry["files"]["tuned"][0]["graph"] = "experts/elsewhere.paged.onnx"
    (copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BoxError, match="tuned.*graph.*hashes"):
        Box.open(copy)


def test_retuning_replaces_this_cpus_file_and_keeps_others(tuned_box, tmp_path):
    import shutil
    box_path, _, _ = tuned_box
    copy = tmp_path / "d.box"
    shutil.copytree(box_path, copy)
    box = Box.open(copy)
    entry = box.experts["conv"]
    foreign = dataclasses.replace(entry.files.tuned[0], cpu_key="aarch64-000000000000",
                                  cpu={"machine": "aarch64", "onnxruntime": "1.23.2", "isa": "asimd"},
                                  graph=entry.files.optimized)
    data = json.loads((copy / "manifest.json").read_text())
    data["experts"]["conv"]["files"]["tuned"].append(dataclasses.asdict(foreign))
    (copy / "manifest.json").write_text(json.dumps(data))
    tune_box(copy)
    keys = [t.cpu_key for t in Box.open(copy).experts["conv"].files.tuned]
    assert sorted(keys) == sorted(["aarch64-000000000000", cpu_key(this_cpu())]) or \
        keys == ["aarch64-000000000000"]          # slower this time: only the other CPU's
    Box.open(copy).verify()


def test_bench_pager_box_reports_what_the_pager_loads(tuned_box):
    """`spikebox bench pager --box`: the issue's keys, measured on the box's own experts."""
    import subprocess
    import sys
    box_path, _, reports = tuned_box
    out = subprocess.run([sys.executable, "-m", "spikebox", "bench", "pager", "--box",
                          str(box_path), "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode in (0, 1), out.stderr
    r = json.loads(out.stdout)
    assert set(r["pagein_cold_ms"]) == {"conv", "mlp"} and r["verify_ms_per_mb"] > 0
    assert r["steady_latency_ratio_max"] == max(e["steady_latency_ratio"] for e in r["experts"].values())
    for name, e in r["experts"].items():
        assert e["file"] == ("tuned" if reports[name].kept else "portable")
        assert e["paged_ms"] > 0 and e["naive_ms"] > 0 and e["pagein_cold_ms"] > 0
        assert e["shapes"] == {k: list(v) for k, v in Box.open(box_path).experts[name].measured_shapes.items()}


def test_a_tuned_file_recorded_with_prepacking_opens_so_and_still_shelves(tuned_box, tmp_path):
    """Pre-packing (chosen by tune where it closes the gap to a naive session) copies weights
    out of the mapped file; the shell must still give the file's pages back and run the same."""
    import shutil
    box_path, _, reports = tuned_box
    copy = tmp_path / "e.box"
    shutil.copytree(box_path, copy)
    data = json.loads((copy / "manifest.json").read_text())
    tuned = data["experts"]["conv"]["files"]["tuned"]
    assert tuned, "conv was tuned (see the first test)"
    tuned[0]["prepack"] = True
    for t in data["experts"]["mlp"]["files"]["tuned"]:
        t["prepack"] = False
    (copy / "manifest.json").write_text(json.dumps(data))
    loader = BoxLoader(Box.open(copy))
    assert loader.session_config("conv").disable_prepacking is False
    assert loader.session_config("mlp") is None or loader.session_config("mlp").disable_prepacking
    session = loader.load("conv")
    feeds = {k: np.random.default_rng(1).standard_normal(v.shape).astype(v.dtype)
             for k, v in zero_inputs(session).items()}
    before = session.run(None, feeds)
    dropped = loader.shelve("conv", session)
    assert dropped is not None and dropped > 0
    loader.unshelve("conv", session)
    assert all(np.array_equal(a, b) for a, b in zip(before, session.run(None, feeds)))


def test_inspect_says_which_cpu_each_expert_is_tuned_for(tuned_box, capsys):
    box_path, _, reports = tuned_box
    assert main(["inspect", str(box_path)]) == 0
    out = capsys.readouterr().out
    kept = [n for n, r in reports.items() if r.kept]
    assert out.count(f"tuned      {cpu_key(this_cpu())}") == len(kept)
    assert ("this CPU: loaded here" in out) == bool(kept)


def test_steady_ratio_cancels_which_session_runs_second(monkeypatch):
    """On a fake clock: the paged session costs 1.10 ms and the naive one 1.00 ms, but the
    second of any two back-to-back runs is 20 % faster (warm inputs and caches). The bench's
    ratio must be the sessions' own 1.10, whichever order the runs come in."""
    from spikebox.runtime.bench import steady

    clock = {"t": 0.0, "last": None}

    class Fake:
        def __init__(self, ms):
            self.ms = ms

        def run(self, _outputs, _feeds):
            warm = 0.8 if clock["last"] is not None and clock["last"] is not self else 1.0
            clock["t"] += self.ms * warm / 1e3
            clock["last"] = self

    monkeypatch.setattr(steady.time, "perf_counter", lambda: clock["t"])
    paged_ms, naive_ms, ratio = steady._paired_rounds(Fake(1.10), Fake(1.00), {})
    assert ratio == pytest.approx(1.10, rel=1e-9)
    assert paged_ms > 0 and naive_ms > 0
