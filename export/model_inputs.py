"""The inputs a model is test-run and measured on before it enters a box (`export add`).

    plan = plan_inputs(model_path, model_inputs(proto), input_shapes={"audio": (1, 16000)},
                       sample_inputs=Path("samples.npz"))
    plan.shapes            # {"audio": [1, 16000], "state": [2, 1, 64]}: what every figure is measured at

Each input's feed comes from one of three places: an array of the sample
inputs file (`--sample-inputs FILE.npz`, keyed by input name), a shape given
by name (`--input-shape NAME=dims`, random values), or else generated (random
values of its declared shape, each dynamic dim set to GENERATED_DIM). A
published model's dynamic dims often carry meaning (a fixed audio window, a
state tensor, a width that must be a multiple of 32): then the generated feed
fails the test run, and `run_failure` says which inputs were generated, at
which shapes, and the flag that gives the right ones. The same feeds serve the
test run, the optimised-vs-source check and the footprint, load time and
latency measurement; their shapes are the manifest entry's `measured_shapes`.

Nothing here allocates a feed from a model's declared shapes: an untrusted
model's inputs are made in the memory-limited child that test-runs it
(model_check._trial, through `random_inputs`).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from spikebox.runtime.box import BoxError
from spikebox.runtime.box_report import shapes_text

GENERATED_DIM = 2          # a dynamic dim of a generated feed (not 1: a broadcast would hide it)
GENERATED = "generated"
BY_SHAPE = "--input-shape"
BY_SAMPLE = "--sample-inputs"


class InputShapeError(ValueError, argparse.ArgumentTypeError):
    """A bad --input-shape; argparse prints its message as it is."""


@dataclass(frozen=True)
class InputShape:
    """One --input-shape: `audio=1,16000` (an ONNX model's input, by name) or `1,3,96,96`
    (a PyTorch factory's next input, in forward()'s order: it has no names yet)."""

    name: str | None
    dims: tuple[int, ...]

    def __str__(self) -> str:
        dims = ",".join(map(str, self.dims))
        return f"{self.name}={dims}" if self.name else dims


def parse_input_shape(text: str) -> InputShape:
    """`audio=1,16000` or `1,3,96,96` (`1x3x96x96` too); for argparse's `type=`."""
    name, sep, dims_text = text.rpartition("=")
    name = name.strip() if sep else None
    if sep and not name:
        raise InputShapeError(f"--input-shape {text!r}: name the input before '=', e.g. "
                              f"audio=1,16000")
    example = f"{name}=1,16000" if name else "1,3,96,96 or NAME=1,16000"
    try:
        dims = tuple(int(d) for d in dims_text.replace("x", ",").split(","))
    except ValueError:
        raise InputShapeError(f"--input-shape {text!r}: give positive integers, e.g. "
                              f"{example}") from None
    if not dims or any(d <= 0 for d in dims):
        raise InputShapeError(f"--input-shape {text!r}: give positive integers, e.g. {example}")
    return InputShape(name, dims)


@dataclass(frozen=True)
class ModelInput:
    """A graph input as the model declares it."""

    name: str
    dims: tuple[int | str | None, ...] | None   # a dynamic dim: its symbol, or None; None: no shape
    dtype: np.dtype | None                      # None: not a tensor spikebox can feed

    def shown(self) -> str:
        dims = "no declared shape" if self.dims is None else \
            "[" + ", ".join(str(d) if isinstance(d, int) else repr(d or "?") for d in self.dims) + "]"
        return f"{self.name} {dims}"


def model_inputs(proto: onnx.ModelProto) -> list[ModelInput]:
    """The inputs a caller feeds (initialisers listed as inputs are not among them)."""
    inits = {i.name for i in proto.graph.initializer}
    out = []
    for value in proto.graph.input:
        if value.name in inits:
            continue
        tensor = value.type.tensor_type if value.type.HasField("tensor_type") else None
        try:
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type)) if tensor else None
        except (KeyError, TypeError, ValueError):
            dtype = None
        dims = None
        if tensor is not None and tensor.HasField("shape"):
            dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                         for d in tensor.shape.dim)
        out.append(ModelInput(value.name, dims, dtype))
    return out


def fits(shape, dtype, dims, want_dtype) -> bool:
    """An array of `shape` and `dtype` can feed an input declared as `dims` (an int > 0 is
    fixed, anything else dynamic) of `want_dtype`."""
    return np.dtype(dtype) == np.dtype(want_dtype) and len(shape) == len(dims) and all(
        not (isinstance(d, int) and d > 0) or d == n for d, n in zip(dims, shape))


@dataclass(frozen=True)
class InputPlan:
    """Where each input's feed comes from, and its shape."""

    shapes: dict[str, list[int]]           # input name -> the shape fed and measured at
    origins: dict[str, str]                # input name -> GENERATED, BY_SHAPE or BY_SAMPLE
    inputs: list[ModelInput]
    sample_inputs: Path | None             # the arrays of BY_SAMPLE inputs

    def generated(self) -> dict[str, list[int]]:
        """name -> shape of the inputs to make with random values (the others are samples)."""
        return {n: s for n, s in self.shapes.items() if self.origins[n] != BY_SAMPLE}

    def describe(self) -> str:
        """Each input, its shape and where it came from; generated ones say which dynamic
        dims were set: `state [2, 2, 2] (generated: 'batch', 'hidden' set to 2)`."""
        parts = []
        for spec in self.inputs:
            shape = self.shapes[spec.name]
            how = self.origins[spec.name]
            if how == GENERATED:
                free = [repr(d or "?") for d in spec.dims if not isinstance(d, int)]
                how = (f"generated: {', '.join(free)} set to {GENERATED_DIM}" if free
                       else "generated: random values")
            parts.append(f"{shapes_text({spec.name: shape})} ({how})")
        return ", ".join(parts)

    def run_failure(self, model: Path, error: str) -> str:
        """Why the test run on these feeds failed, and the flag that fixes it."""
        made = [s for s in self.inputs if self.origins[s.name] == GENERATED]
        if not made:
            return (f"{model}: its test run failed on the inputs given: {self.describe()} "
                    f"(onnxruntime: {error}); check them against what the model takes")
        dynamic = [s for s in made if any(not isinstance(d, int) for d in s.dims)]
        first = (dynamic or made)[0]
        example = (f"--input-shape {first.name}="
                   + ",".join(str(d) if isinstance(d, int) else "N" for d in first.dims))
        if dynamic:
            fix = (f"its dynamic dims may carry meaning (a window length, a state size, a "
                   f"multiple of 32): give the shape each input takes, e.g. {example} (N: the "
                   f"size it needs; repeat the flag per input), or real inputs")
        else:
            fix = "random values may not be what it takes: give real inputs"
        return (f"{model}: its test run failed on generated inputs: {self.describe()} "
                f"(onnxruntime: {error}). The model may be fine; {fix} with --sample-inputs "
                f"FILE.npz (one array per input, keyed by name)")


def plan_inputs(model: Path, inputs: list[ModelInput],
                input_shapes: dict[str, tuple[int, ...]] | list[tuple[int, ...]] | None = None,
                sample_inputs: Path | None = None) -> InputPlan:
    """Each input's feed shape and origin; BoxError naming the flag, the input and the fix
    for a shape or sample that cannot be this model's."""
    names = [i.name for i in inputs]
    listing = "; its inputs: " + ", ".join(i.shown() for i in inputs)
    if isinstance(input_shapes, list):
        given = ", ".join(",".join(map(str, s)) for s in input_shapes)
        raise BoxError(f"--input-shape {given}: {model} is an ONNX model, whose inputs have "
                       f"names: give NAME=dims, e.g. --input-shape {names[0] if names else 'x'}="
                       f"{','.join(map(str, input_shapes[0]))}{listing}")
    input_shapes = dict(input_shapes or {})
    samples = _read_samples(Path(sample_inputs), inputs, listing) if sample_inputs else {}
    unknown = [n for n in input_shapes if n not in names]
    if unknown:
        raise BoxError(f"--input-shape {InputShape(unknown[0], tuple(input_shapes[unknown[0]]))}: "
                       f"{model} has no input '{unknown[0]}'{listing}")
    both = [n for n in input_shapes if n in samples]
    if both:
        raise BoxError(f"input '{both[0]}' is given twice, by --input-shape and in "
                       f"{sample_inputs}; give it one way")
    shapes, origins = {}, {}
    for spec in inputs:
        if spec.dtype is None:
            raise BoxError(f"{model}: input '{spec.name}' is not a tensor of a numeric type; "
                           f"spikebox feeds tensors of numbers only")
        if spec.name in samples:
            shapes[spec.name], origins[spec.name] = list(samples[spec.name]), BY_SAMPLE
        elif spec.name in input_shapes:
            shapes[spec.name] = _checked_shape(spec, input_shapes[spec.name], listing)
            origins[spec.name] = BY_SHAPE
        elif spec.dims is None:
            raise BoxError(f"{model}: input '{spec.name}' declares no shape to generate a test "
                           f"input of; give it: --input-shape {spec.name}=dims, or "
                           f"--sample-inputs FILE.npz")
        else:
            shapes[spec.name] = [d if isinstance(d, int) and d > 0 else GENERATED_DIM
                                 for d in spec.dims]
            origins[spec.name] = GENERATED
    return InputPlan(shapes, origins, inputs, Path(sample_inputs) if sample_inputs else None)


def _checked_shape(spec: ModelInput, dims: tuple[int, ...], listing: str) -> list[int]:
    flag = f"--input-shape {InputShape(spec.name, tuple(dims))}"
    if any(not isinstance(d, int) or d <= 0 for d in dims):
        raise BoxError(f"{flag}: give positive integers")
    if spec.dims is None:
        return list(dims)
    if len(dims) != len(spec.dims):
        raise BoxError(f"{flag}: input '{spec.name}' has {len(spec.dims)} dims "
                       f"({spec.shown()}), not {len(dims)}")
    for i, (want, got) in enumerate(zip(spec.dims, dims)):
        if isinstance(want, int) and want > 0 and want != got:
            raise BoxError(f"{flag}: dim {i} of input '{spec.name}' is fixed at {want} in the "
                           f"model ({spec.shown()}); give {want} there")
    return list(dims)


def _read_samples(path: Path, inputs: list[ModelInput], listing: str) -> dict[str, tuple]:
    """name -> shape of each array of the sample inputs file, checked against the model."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: (z[k].shape, z[k].dtype) for k in z.files}
    except Exception as e:  # OSError, zipfile's and numpy's own
        raise BoxError(f"--sample-inputs {path}: not a readable .npz ({type(e).__name__}: "
                       f"{e}); save it with numpy.savez(path, NAME=array, ...)") from None
    by_name = {i.name: i for i in inputs}
    unknown = sorted(set(arrays) - set(by_name))
    if unknown:
        raise BoxError(f"--sample-inputs {path}: holds '{unknown[0]}', which is no input of the "
                       f"model; key each array by input name{listing}")
    for name, (shape, dtype) in arrays.items():
        spec = by_name[name]
        dims = spec.dims if spec.dims is not None else (None,) * len(shape)
        if spec.dtype is None or not fits(shape, dtype, dims, spec.dtype):
            takes = spec.dtype.name if spec.dtype is not None else "no numeric type"
            raise BoxError(f"--sample-inputs {path}: '{name}' is {np.dtype(dtype).name} "
                           f"{list(shape)}, the model takes {takes} {spec.shown()}")
    return {name: shape for name, (shape, _) in arrays.items()}
