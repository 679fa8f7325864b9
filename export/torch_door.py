"""PyTorch's front door into export: a model in PyTorch becomes an ONNX file.

`spikebox export add BOX NAME MODEL` takes an .onnx file from any framework;
this module lets MODEL also be a PyTorch model, turned into ONNX by
`torch.onnx.export` before the ordinary ONNX checks run on it:

    spikebox export add mybox steer nets.py:make_steer --weights steer.pt \\
        --input-shape 1,3,96,96 --examples frames/line
    spikebox export add mybox steer steer.pt2 --examples frames/line

`nets.py:make_steer` is a Python file and a zero-argument callable in it that
returns an `nn.Module`; `--weights` is its `state_dict` saved with
`torch.save`. A `.pt2` file is an ExportedProgram saved with
`torch.export.save` (it carries its weights and example inputs).

torch is imported only when such a model is converted, so the rest of export
(and everything on the robot) runs without it. Off-device only.
"""
from __future__ import annotations

import importlib.util
import logging
import sys
import uuid
import warnings
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

OPSET = 18        # the torch.export-based exporter's own target; onnxruntime 1.23 runs <= 23
MAX_IR_VERSION = 10   # onnxruntime 1.23 reads <= 11; stay one below, as torch 2.13 writes 10
RTOL, ATOL = 1e-3, 1e-4   # fp32 torch vs onnxruntime: same maths, other kernels and op order

HOW_TO_GET_TORCH = (
    "PyTorch is not installed in this Python ({python}). Either run the export from the "
    "training environment, which has it: `make train-env`, then "
    "`.venv-train/bin/spikebox export add ...` with the same arguments; or export the "
    "model to ONNX yourself with `torch.onnx.export(model, example_inputs, 'model.onnx')` "
    "and pass the .onnx file")


class TorchDoorError(ValueError):
    """A PyTorch model that cannot be turned into ONNX; the message names the file and the fix."""


def is_torch_spec(model_arg: str) -> bool:
    """True for `path/to/file.py:factory_name` and for `*.pt2`; never imports torch."""
    model_arg = str(model_arg)
    if model_arg.lower().endswith(".pt2"):
        return True
    path, sep, factory = model_arg.rpartition(":")
    return bool(sep) and path.lower().endswith(".py") and factory.isidentifier()


def torch_to_onnx(model_arg: str, out_path: Path, *, weights: Path | None = None,
                  input_shapes: list[tuple[int, ...]] | None = None) -> Path:
    """Convert a PyTorch model spec to a self-contained ONNX file at `out_path`, verified.

    The written model is run by onnxruntime on the same input as the module and
    its outputs must match torch's within RTOL/ATOL; a mismatch is refused.
    """
    if not is_torch_spec(model_arg):
        raise TorchDoorError(f"{model_arg}: not a PyTorch model; give FILE.py:FACTORY or FILE.pt2")
    try:
        import torch
    except ImportError:
        raise TorchDoorError(f"{model_arg}: "
                             + HOW_TO_GET_TORCH.format(python=sys.executable)) from None

    out_path = Path(out_path)
    if str(model_arg).lower().endswith(".pt2"):
        model, example = _load_exported_program(torch, Path(model_arg), weights, input_shapes)
    else:
        model, example = _load_factory(torch, model_arg, weights, input_shapes)

    _export(torch, model, example, out_path, model_arg)
    _check_written(out_path, model_arg)
    _verify(torch, model, example, out_path, model_arg)
    return out_path


# --- the two forms -----------------------------------------------------------------------------

def _load_factory(torch, spec: str, weights: Path | None,
                  input_shapes: list[tuple[int, ...]] | None):
    file_text, _, factory_name = spec.rpartition(":")
    file = Path(file_text)
    if not input_shapes:
        raise TorchDoorError(f"{spec}: a module factory needs its input shapes: add "
                             f"--input-shape 1,3,96,96 (one per input, in forward()'s order)")
    if not file.is_file():
        raise TorchDoorError(f"{file}: no such Python file (from {spec})")
    # A unique module name: two factories from files of the same name must not collide.
    mod_spec = importlib.util.spec_from_file_location(f"_spikebox_factory_{uuid.uuid4().hex}", file)
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except Exception as e:
        raise TorchDoorError(f"{file}: importing it failed ({type(e).__name__}: {e}); "
                             f"fix the file so `python {file}` imports cleanly") from None
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise TorchDoorError(f"{file}: has no callable '{factory_name}'; name a zero-argument "
                             f"function or class in it that returns an nn.Module")
    try:
        model = factory()
    except Exception as e:
        raise TorchDoorError(f"{spec}: calling {factory_name}() failed ({type(e).__name__}: "
                             f"{e}); the factory must take no arguments and return an "
                             f"nn.Module") from None
    if not isinstance(model, torch.nn.Module):
        raise TorchDoorError(f"{spec}: {factory_name}() returned {type(model).__name__}, "
                             f"not a torch.nn.Module")
    if weights is not None:
        _load_weights(torch, model, Path(weights), spec)
    else:
        logger.warning("%s: no --weights given; exporting the factory's initial weights", spec)
    model.eval()
    return model, _example_inputs(torch, input_shapes)


def _load_weights(torch, model, weights: Path, spec: str) -> None:
    if not weights.is_file():
        raise TorchDoorError(f"{weights}: no such weights file (for {spec})")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as e:
        raise TorchDoorError(f"{weights}: torch.load(weights_only=True) cannot read it "
                             f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); save the "
                             f"weights with torch.save(model.state_dict(), path)") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TorchDoorError(f"{weights}: is not a state_dict (a dict of tensors); save it with "
                             f"torch.save(model.state_dict(), path)")
    missing, unexpected = _key_mismatch(model.state_dict().keys(), state.keys())
    if missing or unexpected:
        raise TorchDoorError(f"{weights}: does not fit {spec}: missing keys {missing[:10]}, "
                             f"unexpected keys {unexpected[:10]}; save the state_dict of the "
                             f"same architecture the factory builds")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:     # same keys, other shapes
        raise TorchDoorError(f"{weights}: does not fit {spec}: "
                             f"{' '.join(str(e).split())[:500]}") from None


def _key_mismatch(expected, given) -> tuple[list[str], list[str]]:
    expected, given = set(expected), set(given)
    return sorted(expected - given), sorted(given - expected)


def _load_exported_program(torch, file: Path, weights: Path | None,
                           input_shapes: list[tuple[int, ...]] | None):
    if not file.is_file():
        raise TorchDoorError(f"{file}: no such file")
    if weights is not None:
        raise TorchDoorError(f"{file}: an exported program carries its own weights; "
                             f"drop --weights")
    try:
        program = torch.export.load(file)
    except Exception as e:
        raise TorchDoorError(f"{file}: torch.export.load cannot read it ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:200]}); save it with "
                             f"torch.export.save(torch.export.export(model, args), path)") from None
    if input_shapes:
        example = _example_inputs(torch, input_shapes)
    else:
        args, kwargs = program.example_inputs or ((), {})
        if kwargs or not args or not all(isinstance(a, torch.Tensor) for a in args):
            raise TorchDoorError(f"{file}: carries no tensor example inputs to test the "
                                 f"export with; add --input-shape (one per input)")
        example = tuple(a.detach().clone() for a in args)
    return program, example


def _example_inputs(torch, shapes: list[tuple[int, ...]]) -> tuple:
    gen = torch.Generator().manual_seed(0)   # random, not zeros: zeros hide a wrong weight
    return tuple(torch.randn(*s, generator=gen, dtype=torch.float32) for s in shapes)


# --- export and its checks ---------------------------------------------------------------------

def _export(torch, model, example: tuple, out_path: Path, spec: str) -> None:
    # dynamo=True: torch 2.13's default and its maintained exporter (the TorchScript one is
    # deprecated and cannot take an ExportedProgram at all). It needs onnxscript.
    if importlib.util.find_spec("onnxscript") is None:
        raise TorchDoorError(f"{spec}: torch.onnx.export needs the onnxscript package; "
                             f"install the pinned one: pip install -r requirements/train.txt "
                             f"(or `make train-env`)")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Quiet the exporter's noise that is not about this model (torchvision ops it skips,
    # torch's own deprecations); real failures still raise.
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    try:
        registration.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(model, example, str(out_path), dynamo=True, opset_version=OPSET,
                              external_data=False, verbose=False)
    except Exception as e:
        raise TorchDoorError(f"{spec}: torch.onnx.export failed ({type(e).__name__}: "
                             f"{str(e).strip().splitlines()[0][:300]}); if torch.export cannot "
                             f"trace the model, export it to ONNX yourself and pass the .onnx"
                             ) from None
    finally:
        registration.setLevel(level)


def _check_written(out_path: Path, spec: str) -> None:
    import onnx
    proto = onnx.load(str(out_path))
    if proto.ir_version > MAX_IR_VERSION:
        # onnx >= 1.20 stamps its newest IR; the robot's onnxruntime 1.23 refuses above 11.
        proto.ir_version = MAX_IR_VERSION
        onnx.save(proto, str(out_path))
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as e:
        raise TorchDoorError(f"{spec}: the exported ONNX fails onnx.checker "
                             f"({str(e).splitlines()[0][:300]})") from None


def _verify(torch, model, example: tuple, out_path: Path, spec: str) -> None:
    import numpy as np
    import onnxruntime as ort

    with torch.no_grad():
        runnable = model.module() if isinstance(model, torch.export.ExportedProgram) else model
        expected = [t.detach().cpu().numpy() for t in _tensors(torch, runnable(*example))]
    session = ort.InferenceSession(str(out_path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    if len(names) != len(example):
        raise TorchDoorError(f"{spec}: the ONNX model has {len(names)} inputs {names}, the module "
                             f"took {len(example)}; give one --input-shape per tensor input")
    got = session.run(None, {n: t.numpy() for n, t in zip(names, example)})
    if len(got) != len(expected):
        raise TorchDoorError(f"{spec}: the ONNX model has {len(got)} outputs, the module "
                             f"returned {len(expected)}")
    for i, (e, g) in enumerate(zip(expected, got)):
        if e.shape != g.shape or not np.allclose(g, e, rtol=RTOL, atol=ATOL):
            worst = float(np.max(np.abs(g - e))) if e.shape == g.shape else float("nan")
            raise TorchDoorError(f"{spec}: output {i} of the ONNX export differs from torch's "
                                 f"(shape {g.shape} vs {e.shape}, max |diff| {worst:.3g} > "
                                 f"atol {ATOL} + rtol {RTOL}); export it yourself and check")
    logger.info("%s: ONNX export matches torch on %d outputs", spec, len(expected))


def _tensors(torch, out: Any) -> list:
    """The tensors of a module's output in order (tensor, tuple/list, dict), as ONNX lists them."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(torch, o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _tensors(torch, o)]
    raise TorchDoorError(f"the module returned {type(out).__name__}; return tensors "
                         f"(a tensor, a tuple/list or a dict of them)")
