"""The PyTorch door as the robot env sees it: no torch here, so it says how to get it."""
import importlib.util
import sys

import pytest

from spikebox.export.torch_door import (TorchDoorError, is_torch_spec, parse_input_shape,
                                        torch_to_onnx)


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


def test_parse_input_shape():
    assert parse_input_shape("1,3,96,96") == (1, 3, 96, 96)
    for bad in ("", "1,a", "1,0,3"):
        with pytest.raises(ValueError, match="--input-shape"):
            parse_input_shape(bad)
