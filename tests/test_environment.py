"""The robot environment is the one the design card promises, and torch stays out of it."""
import ast
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_python_and_numpy_are_the_robot_versions():
    assert sys.version_info[:2] == (3, 10), "the robot side is Python 3.10 (JetPack 6, lava-nc)"
    assert int(np.__version__.split(".")[0]) < 2, "lava-nc 0.10 needs numpy < 2"


def test_onnx_and_onnxruntime_run_a_model():
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])],
                                                "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)],
                              # onnx 1.23 writes IR 14 by default; onnxruntime 1.23 reads <= 11
                              ir_version=10)
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"x": np.array([[-1, 2, -3], [4, -5, 6]], np.float32)})[0]
    assert out.tolist() == [[0, 2, 0], [4, 0, 6]]


def test_opencv_and_pyserial_work():
    import cv2
    import serial
    img = np.zeros((120, 160, 3), np.uint8)
    cv2.line(img, (0, 60), (159, 60), (255, 255, 255), 3)
    assert cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[60].min() == 255
    port = serial.serial_for_url("loop://", timeout=0.1)
    port.write(b"\x01\x02\x00")
    assert port.read(3) == b"\x01\x02\x00"


def test_lava_runs_a_lif_neuron_in_fixed_point():
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.lif.process import LIF
    # No input, no voltage decay (dv=0): v grows by bias_mant each step, below vth << 6.
    lif = LIF(shape=(1,), du=4095, dv=0, bias_mant=10, vth=10)
    try:
        lif.run(condition=RunSteps(num_steps=3), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        v = int(lif.v.get()[0])
    finally:
        lif.stop()
    assert v == 30


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            names.add(("." * node.level) + mod)
    return names


def _absolute(path: Path, name: str) -> str:
    """An import as spikebox.* (relative ones resolved against the file's package)."""
    if not name.startswith("."):
        return name
    level = len(name) - len(name.lstrip("."))
    folder = path.parent.relative_to(ROOT).parts
    package = ["spikebox"] + list(folder if folder[0] != "spikebox" else folder[1:])
    base = package[:len(package) - level + 1]
    rest = name.lstrip(".")
    return ".".join(base + ([rest] if rest else []))


def test_import_directions_follow_the_design():
    """firmware_bridge is a leaf; runtime never imports export or torch; a stage never
    imports the benchmarks; experts and pager are no circle; the package never imports
    tools/ (DESIGN.md)."""
    for path in (ROOT / "firmware_bridge").rglob("*.py"):
        bad = {n for n in _imports(path) if n.startswith(("spikebox", "..")) or "torch" in n}
        assert not bad, f"{path} imports {bad}: firmware_bridge must stay a leaf"
    for path in (ROOT / "runtime").rglob("*.py"):
        names = {_absolute(path, n) for n in _imports(path)}
        bad = {n for n in names if n.startswith("spikebox.export") or "torch" in n.split(".")}
        assert not bad, f"{path} imports {bad}: the robot side never imports export or torch"
        if "bench" not in path.relative_to(ROOT).parts:
            bad = {n for n in names if n.startswith("spikebox.runtime.bench")}
            assert not bad, f"{path} imports {bad}: stages never import the benchmarks"
    for path in (ROOT / "runtime" / "experts").rglob("*.py"):     # the pager uses experts' loaders
        bad = {n for n in _imports(path) if "pager" in n.split(".")}
        assert not bad, f"{path} imports {bad}: experts never import the pager (no circle)"
    for folder in ("firmware_bridge", "runtime", "export", "spikebox"):
        for path in (ROOT / folder).rglob("*.py"):
            bad = {n for n in _imports(path) if n.split(".")[0] == "tools"}
            assert not bad, f"{path} imports {bad}: the package never imports tools/"


def test_absolute_resolves_relative_imports():
    assert _absolute(ROOT / "runtime/bench/pager.py", "..pager.pager") == "spikebox.runtime.pager.pager"
    assert _absolute(ROOT / "runtime/bench/pager.py", ".targets") == "spikebox.runtime.bench.targets"
    assert _absolute(ROOT / "runtime/pager/offline/simulate.py", "....export") == \
        "spikebox.export"
    assert _absolute(ROOT / "spikebox/cli.py", ".bridge_demo") == "spikebox.bridge_demo"


def test_no_torch_in_the_robot_process():
    code = ("import sys, pkgutil, importlib, spikebox, spikebox.cli\n"
            "for pkg in ('spikebox.firmware_bridge', 'spikebox.runtime', 'spikebox.export'):\n"
            "    p = importlib.import_module(pkg)\n"
            "    for m in pkgutil.walk_packages(p.__path__, pkg + '.'):\n"
            "        importlib.import_module(m.name)\n"
            "spikebox.cli.build_parser()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_robot_side_never_loads_export():
    """Every module of firmware_bridge and runtime, and the CLI's entry, imported in a fresh
    process: spikebox.export is not among sys.modules afterwards."""
    code = ("import sys, pkgutil, importlib, spikebox.cli\n"
            "for pkg in ('spikebox.firmware_bridge', 'spikebox.runtime'):\n"
            "    p = importlib.import_module(pkg)\n"
            "    for m in pkgutil.walk_packages(p.__path__, pkg + '.'):\n"
            "        importlib.import_module(m.name)\n"
            "print(sorted(m for m in sys.modules if m.startswith('spikebox.export')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_cli_imports_the_export_side_only_for_export():
    """Building the parser, and `spikebox inspect`, import neither spikebox.export nor torch;
    parsing `spikebox export ...` is what brings the export side in."""
    code = ("import sys, spikebox.cli\n"
            "def loaded():\n"
            "    return sorted(m for m in sys.modules\n"
            "                  if m.split('.')[0] == 'torch' or m.startswith('spikebox.export'))\n"
            "parser = spikebox.cli.build_parser()\n"
            "parser.parse_args(['inspect', 'mybox'])\n"
            "assert spikebox.cli.main(['inspect', 'no-such-box']) == 1\n"
            "print(loaded())\n"
            "parser.parse_args(['export', 'check', 'mybox'])\n"
            "print('spikebox.export.commands' in loaded())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "True"], out.stdout + out.stderr
