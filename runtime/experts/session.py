"""The one ONNX session factory: how an expert is written for paging, loaded, described and warmed.

Data path: pager → **experts** → arbiter. The pager calls `load_session` on the
file `write_paged` produced (export reaches it through
`spikebox.export.optimize.optimize_for_target`); the same two functions agree
on the format, so they live together.

    from spikebox.runtime.experts.session import load_session, input_specs, warm_up
    session = load_session("box/experts/line.paged.onnx")   # ~2 ms, flat in model size
    warm_up(session)

The paged format (chosen by runtime/experts/bench.py, figures in the module
docstring there): the graph already optimised by onnxruntime and saved as
ONNX with every initialiser >= 16 KiB in an external `.data` file. onnxruntime
mmaps that file (private, copy-on-write, never written), so loading does not
copy weights, the pages are file-backed (the kernel can drop them and fault
them back in), and load time barely grows with model size. Optimisation at
load is off for it (already done), and so is weight pre-packing (it copies
every weight into private memory and doubled load time, for no run-time
gain measured here). Because the weights stay file-backed, an evicted expert
can keep its built session as a shell and give only its weight pages back
(shell.py): the pager's page-in of an expert it has loaded before.

Never imports spikebox.export or torch.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import onnxruntime as ort

from .paged import PAGED_SUFFIX, commit_paged, is_paged_file, weights_file

# Smaller tensors stay inline. onnxruntime opens and maps each external tensor on its own
# (open/mmap/close per tensor, each at least a page): at 16 KiB rather than 1 KiB a new
# session of a 2-20 MB convnet loaded 8-11 % faster and its shell kept ~70 kB more.
_EXTERNAL_MIN_BYTES = 16 * 1024

_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}

_DTYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int16)": np.int16,
    "tensor(uint16)": np.uint16, "tensor(int32)": np.int32, "tensor(uint32)": np.uint32,
    "tensor(int64)": np.int64, "tensor(uint64)": np.uint64, "tensor(bool)": np.bool_,
}


class ExpertLoadError(ValueError):
    """A model file onnxruntime cannot load or run; the message names the file."""


@dataclass
class SessionConfig:
    """How the pager opens an expert. Defaults are the measured fast path (bench.py)."""

    # CPU everywhere; a robot with CUDA/TensorRT lists those first.
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    # 0 = onnxruntime's default (one per physical core). Thread-pool creation
    # measured ~0.1 ms of a page-in; intra_op_threads=1 did not load faster and
    # ran 20 MB convnets 1.5x slower on 2 cores.
    intra_op_threads: int = 0
    # Experts' graphs run sequentially; an inter-op pool would be idle threads.
    inter_op_threads: int = 1
    # None = by file: "disable" for a paged file (already optimised at export),
    # "all" for a plain .onnx. Optimising at load is most of a naive load's cost.
    optimization_level: str | None = None
    # Pre-packing copies weights out of the mmapped file into private memory:
    # +0.5..2 ms per load and anonymous RSS, same run latency measured here.
    disable_prepacking: bool = True
    # The arena keeps freed activation memory for the session's lifetime and is
    # why RSS grows over many create/destroy cycles (onnxruntime #18749, #17451);
    # experts are small, so plain malloc is enough. Memory patterns need the arena.
    cpu_mem_arena: bool = False
    # Extra onnxruntime session config entries (key → value), for experiments.
    extra_config: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.intra_op_threads < 0 or self.inter_op_threads < 0:
            raise ValueError("thread counts must be >= 0 (0 = onnxruntime's default)")
        if self.optimization_level is not None and self.optimization_level not in _LEVELS:
            raise ValueError(f"optimization_level must be one of {sorted(_LEVELS)} or None, "
                             f"not {self.optimization_level!r}")
        if not self.providers:
            raise ValueError("providers must name at least one execution provider")


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: dynamic dims are their symbolic name (str) or None."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: str                       # numpy dtype name, e.g. "float32"


def session_options(config: SessionConfig, path: str | os.PathLike) -> ort.SessionOptions:
    """The SessionOptions `load_session` uses for `path` under `config`."""
    options = ort.SessionOptions()
    level = config.optimization_level or ("disable" if is_paged_file(path) else "all")
    options.graph_optimization_level = _LEVELS[level]
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = config.inter_op_threads
    options.enable_cpu_mem_arena = config.cpu_mem_arena
    options.enable_mem_pattern = config.cpu_mem_arena
    options.log_severity_level = 3                  # errors reach us as exceptions
    if config.disable_prepacking:
        options.add_session_config_entry("session.disable_prepacking", "1")
    for key, value in config.extra_config.items():
        options.add_session_config_entry(key, value)
    return options


def load_session(path: str | os.PathLike, config: SessionConfig | None = None) -> ort.InferenceSession:
    """Open an expert: the fast path for a paged file; a plain .onnx works too (slower)."""
    config = config or SessionConfig()
    path = Path(path)
    if not path.is_file():
        raise ExpertLoadError(f"{path}: no such model file")
    try:
        return ort.InferenceSession(str(path), session_options(config, path),
                                    providers=list(config.providers))
    except Exception as exc:       # onnxruntime raises several pybind types; all mean "cannot load"
        raise ExpertLoadError(f"{path}: onnxruntime {ort.__version__} cannot load this model "
                              f"({_first_line(exc)}); re-export it or check its opset and ops") from None


def _specs(args) -> list[TensorSpec]:
    return [TensorSpec(a.name, tuple(d if isinstance(d, (int, str)) else None for d in a.shape),
                       np.dtype(_DTYPES.get(a.type, np.float32)).name) for a in args]


def input_specs(session: ort.InferenceSession) -> list[TensorSpec]:
    """Names, shapes (dynamic dims as str/None) and dtypes of the graph's inputs."""
    return _specs(session.get_inputs())


def output_specs(session: ort.InferenceSession) -> list[TensorSpec]:
    """Names, shapes (dynamic dims as str/None) and dtypes of the graph's outputs."""
    return _specs(session.get_outputs())


def zero_inputs(session: ort.InferenceSession, dynamic: int = 1,
                shapes: Mapping[str, Sequence[int]] | None = None) -> dict[str, np.ndarray]:
    """Zeros of every input: of its shape in `shapes` (an expert's measured_shapes, which a
    model whose dynamic dims carry meaning needs), else of its declared shape, each dynamic
    dim set to `dynamic`."""
    shapes = shapes or {}
    return {s.name: np.zeros(list(shapes[s.name]) if s.name in shapes else
                             [d if isinstance(d, int) else dynamic for d in s.shape], s.dtype)
            for s in input_specs(session)}


def warm_up(session: ort.InferenceSession, path: str | os.PathLike | None = None,
            feeds: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
    """One run on `feeds` (default: zeros, dynamic dims → 1): faults the weights in, sizes
    the buffers.

    A model that loads but cannot run raises ExpertLoadError naming `path`.
    """
    try:
        return session.run(None, feeds if feeds is not None else zero_inputs(session))
    except Exception as exc:
        where = path if path is not None else "expert"
        raise ExpertLoadError(f"{where}: onnxruntime {ort.__version__} loads this model but cannot "
                              f"run it ({_first_line(exc)}); check its input shapes and ops") from None


def write_paged(src: str | os.PathLike, out_dir: str | os.PathLike, *, level: str = "extended",
                name: str | None = None) -> Path:
    """Write `src` in the paged format into `out_dir`, atomically; return the graph file's path.

    level: onnxruntime's optimisation level baked into the file. "extended"
    (default) is portable across CPUs; "all" adds the NCHWc layout, which
    onnxruntime marks hardware-specific: use it only when writing on the
    robot itself (or an identical CPU). Both files are written in a temporary
    folder beside them and renamed into place, the weights first, so an
    interrupted write leaves the previous pair or nothing (paged.commit_paged).
    """
    src, out_dir = Path(src), Path(out_dir)
    if level not in ("basic", "extended", "all"):
        raise ValueError(f"level must be 'basic', 'extended' or 'all', not {level!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    graph_name = (name or src.name.removesuffix(".onnx")) + PAGED_SUFFIX
    data_name = weights_file(graph_name).name
    tmp = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{graph_name}."))
    try:
        options = ort.SessionOptions()
        options.graph_optimization_level = _LEVELS[level]
        options.log_severity_level = 3
        options.optimized_model_filepath = str(tmp / graph_name)
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_file_name", data_name)
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_min_size_in_bytes", str(_EXTERNAL_MIN_BYTES))
        try:
            ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ExpertLoadError(f"{src}: onnxruntime {ort.__version__} cannot load this model "
                                  f"({_first_line(exc)}); check that it is a complete ONNX file "
                                  f"of an opset onnxruntime runs") from None
        return commit_paged(tmp / graph_name, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
