"""PyTorch's door into export (export/torch_door.py), run in the training env (.venv-train).

The robot env never collects this folder (tests/conftest.py): it has no torch.
Each model is converted, then run by torch and by onnxruntime on the same input;
outputs must agree within torch_door's RTOL=1e-3, ATOL=1e-4 (fp32 both sides).
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from spikebox.export.torch_door import (ATOL, MAX_IR_VERSION, RTOL, TorchDoorError,  # noqa: E402
                                        is_torch_spec, torch_to_onnx)

NETS = textwrap.dedent('''
    import torch
    from torch import nn

    class Steer(nn.Module):          # conv + linear on a camera image
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, stride=2)
            self.bn = nn.BatchNorm2d(8)
            self.head = nn.Linear(8, 2)

        def forward(self, image):
            x = torch.relu(self.bn(self.conv(image)))
            return torch.tanh(self.head(x.mean(dim=(2, 3))))

    class Fuse(nn.Module):           # two inputs, two outputs: image + telemetry tensor
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.mlp = nn.Linear(6, 4)
            self.out = nn.Linear(8, 3)

        def forward(self, depth, telemetry):
            a = self.conv(depth).amax(dim=(2, 3))
            b = torch.relu(self.mlp(telemetry))
            logits = self.out(torch.cat([a, b], dim=1))
            return logits, torch.softmax(logits, dim=1)

    def make_steer():
        return Steer()

    def make_fuse():
        return Fuse()
''')


@pytest.fixture
def nets(tmp_path) -> Path:
    path = tmp_path / "nets.py"
    path.write_text(NETS)
    return path


def _trained(factory, seed: int):
    """A module with non-default weights (and BatchNorm statistics), as training leaves it."""
    torch.manual_seed(seed)
    model = factory()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn_like(b) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand_like(b) + 0.5)
    return model.eval()


def _load_nets(path: Path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("nets_for_test", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _ort_run(onnx_path: Path, *inputs: torch.Tensor) -> list[np.ndarray]:
    s = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return s.run(None, {i.name: t.numpy() for i, t in zip(s.get_inputs(), inputs)})


def _assert_written_ok(path: Path) -> None:
    proto = onnx.load(str(path))
    assert proto.ir_version <= MAX_IR_VERSION
    onnx.checker.check_model(proto, full_check=True)


def test_factory_with_weights_matches_torch(nets, tmp_path):
    model = _trained(_load_nets(nets).make_steer, seed=1)
    weights = tmp_path / "steer.pt"
    torch.save(model.state_dict(), weights)

    out = torch_to_onnx(f"{nets}:make_steer", tmp_path / "steer.onnx", weights=weights,
                        input_shapes=[(1, 3, 32, 40)])

    _assert_written_ok(out)
    x = torch.rand(1, 3, 32, 40)                   # another input than the export's own check
    with torch.no_grad():
        expected = model(x).numpy()
    (got,) = _ort_run(out, x)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    # The weights were really loaded: a fresh factory's output differs.
    with torch.no_grad():
        assert not np.allclose(_load_nets(nets).make_steer().eval()(x).numpy(), got, atol=1e-3)


def test_two_input_two_output_module(nets, tmp_path):
    model = _trained(_load_nets(nets).make_fuse, seed=2)
    weights = tmp_path / "fuse.pt"
    torch.save(model.state_dict(), weights)

    out = torch_to_onnx(f"{nets}:make_fuse", tmp_path / "fuse.onnx", weights=weights,
                        input_shapes=[(2, 1, 12, 12), (2, 6)])

    _assert_written_ok(out)
    s = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in s.get_inputs()] == ["depth", "telemetry"]
    assert len(s.get_outputs()) == 2
    depth, telemetry = torch.randn(2, 1, 12, 12), torch.randn(2, 6)
    with torch.no_grad():
        expected = [t.numpy() for t in model(depth, telemetry)]
    for got, exp in zip(_ort_run(out, depth, telemetry), expected):
        np.testing.assert_allclose(got, exp, rtol=RTOL, atol=ATOL)


def test_exported_program_pt2(nets, tmp_path):
    model = _trained(_load_nets(nets).make_steer, seed=3)
    program = torch.export.export(model, (torch.randn(1, 3, 24, 24),))
    pt2 = tmp_path / "steer.pt2"
    torch.export.save(program, pt2)

    out = torch_to_onnx(str(pt2), tmp_path / "steer.onnx", weights=None, input_shapes=None)

    _assert_written_ok(out)
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        expected = model(x).numpy()
    (got,) = _ort_run(out, x)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def test_weights_with_missing_keys_are_refused_by_name(nets, tmp_path):
    state = _load_nets(nets).make_steer().state_dict()
    del state["head.weight"]
    state["extra.bias"] = torch.zeros(2)
    weights = tmp_path / "partial.pt"
    torch.save(state, weights)

    with pytest.raises(TorchDoorError) as e:
        torch_to_onnx(f"{nets}:make_steer", tmp_path / "x.onnx", weights=weights,
                      input_shapes=[(1, 3, 32, 32)])
    msg = str(e.value)
    assert str(weights) in msg and "head.weight" in msg and "extra.bias" in msg
    assert not (tmp_path / "x.onnx").exists()


def test_weights_of_other_shapes_are_refused(nets, tmp_path):
    state = _load_nets(nets).make_steer().state_dict()
    state["head.weight"] = torch.zeros(5, 8)
    weights = tmp_path / "wide.pt"
    torch.save(state, weights)
    with pytest.raises(TorchDoorError, match="head.weight"):
        torch_to_onnx(f"{nets}:make_steer", tmp_path / "x.onnx", weights=weights,
                      input_shapes=[(1, 3, 32, 32)])


def test_factory_without_input_shape_says_how(nets, tmp_path):
    with pytest.raises(TorchDoorError, match=r"--input-shape 1,3,96,96"):
        torch_to_onnx(f"{nets}:make_steer", tmp_path / "x.onnx", weights=None, input_shapes=None)


def test_bad_specs_name_the_file(nets, tmp_path):
    with pytest.raises(TorchDoorError, match="no callable 'make_nothing'"):
        torch_to_onnx(f"{nets}:make_nothing", tmp_path / "x.onnx", input_shapes=[(1, 3)])
    with pytest.raises(TorchDoorError, match="no such Python file"):
        torch_to_onnx(f"{tmp_path}/gone.py:f", tmp_path / "x.onnx", input_shapes=[(1, 3)])
    junk = tmp_path / "junk.pt2"
    junk.write_bytes(b"not a zip")
    with pytest.raises(TorchDoorError, match="torch.export.load cannot read it"):
        torch_to_onnx(str(junk), tmp_path / "x.onnx")
    assert is_torch_spec(f"{nets}:make_steer") and is_torch_spec(str(junk))


def test_export_add_cli_takes_a_factory(nets, tmp_path):
    """The whole door: `spikebox export add BOX NAME nets.py:make_steer --weights ...`."""
    import subprocess
    import sys

    import cv2
    from spikebox.export.box_edit import AddOptions
    if "weights" not in AddOptions.__dataclass_fields__:
        pytest.skip("export add is not wired to torch_door yet")
    torch.save(_trained(_load_nets(nets).make_steer, seed=4).state_dict(), tmp_path / "w.pt")
    rng = np.random.default_rng(0)
    for d, colour in (("ex", (0, 0, 200)), ("bg", (0, 200, 0))):
        (tmp_path / d).mkdir()
        for i in range(8):
            frame = np.clip(np.array(colour) + rng.integers(0, 55, (96, 128, 3)), 0, 255)
            cv2.imwrite(str(tmp_path / d / f"{i:03d}.png"), frame.astype(np.uint8))
    cli = [sys.executable, "-m", "spikebox", "export"]
    box = tmp_path / "box"
    subprocess.run(cli + ["init", str(box)], check=True, capture_output=True)
    r = subprocess.run(cli + ["add", str(box), "steer", f"{nets}:make_steer",
                              "--weights", str(tmp_path / "w.pt"), "--input-shape", "1,3,64,64",
                              "--examples", str(tmp_path / "ex"),
                              "--background", str(tmp_path / "bg")],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    assert "added 'steer'" in r.stdout
    (source,) = box.glob("experts/steer-*/model.onnx")
    assert onnx.load(str(source)).ir_version <= MAX_IR_VERSION
