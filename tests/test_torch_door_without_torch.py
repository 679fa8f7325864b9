"""The PyTorch door as the robot env sees it: no torch here, so it says how to get it."""
import importlib.util
import sys

import pytest

from spikebox.export.torch_door import TorchDoorError, is_torch_spec, torch_to_onnx


def test_robot_env_has_no_torch():
    assert importlib.util.find_spec("torch") is None


@pytest.mark.parametrize("spec", ["nets.py:make_steer", "a/b/nets.py:Steer", "steer.pt2",
                                  "/abs/path/STEER.PT2"])
def test_recognises_torch_forms(spec):
    assert is_torch_spec(spec)


@pytest.mark.parametrize("spec", ["steer.onnx", "nets.py", "nets.py:", "nets.py:1bad",
                                  "nets.txt:make", "pt2", "model.ort"])
def test_other_paths_are_not_torch(spec):
    assert not is_torch_spec(spec)


@pytest.mark.parametrize("spec", ["nets.py:make_steer", "steer.pt2"])
def test_without_torch_says_how_to_get_it(spec, tmp_path):
    with pytest.raises(TorchDoorError) as e:
        torch_to_onnx(spec, tmp_path / "m.onnx", weights=None, input_shapes=[(1, 3, 8, 8)])
    msg = str(e.value)
    assert spec in msg and sys.executable in msg
    assert "make train-env" in msg and ".venv-train/bin/spikebox export add" in msg
    assert "torch.onnx.export" in msg
    assert isinstance(e.value, ValueError)      # the export CLI reports ValueErrors as refusals
    assert "torch" not in sys.modules


def test_export_add_passes_unnamed_shapes_to_the_torch_door_and_refuses_named_ones(tmp_path,
                                                                                   capsys):
    """`--input-shape 1,3,96,96` (in order) is the PyTorch door's; `NAME=dims` is an ONNX
    model's, whose inputs have names: a factory's have none before export."""
    from spikebox.cli import main
    box = tmp_path / "box"
    assert main(["export", "init", str(box)]) == 0
    spec = f"{tmp_path}/nets.py:make_steer"
    assert main(["export", "add", str(box), "steer", spec, "--input-shape", "1,3,8,8"]) == 1
    assert "PyTorch is not installed" in capsys.readouterr().err     # it reached the door
    assert main(["export", "add", str(box), "steer", spec, "--input-shape", "image=1,3,8,8"]) == 1
    assert ("a PyTorch model's inputs have no names before it is exported: give --input-shape "
            "dims once per input, in forward()'s order") in capsys.readouterr().err
    assert "torch" not in sys.modules
