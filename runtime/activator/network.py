"""The activator's network: which LIF units wake which expert, and their synapses.

This is the data the export side trains and calibrates and the robot loads:
per expert, a block of units with Dense weights from every input channel and
the LIF parameters that Lava's bit-accurate models take. Both backends
(numpy, lava) run exactly this description.

Weights are held once, one byte a synapse (PackedWeights): the effective 8-bit
weights Lava's Dense uses are int8 codes with a shift and an offset per expert. In
a network, every expert's codes are views into one (n_inputs, n_units) matrix, the
layout the frame kernel reads (kernel.py): nothing else holds a copy.

On disk (one folder, written atomically, no pickle):
    activator.json   schema_version, n_inputs, timesteps, per-expert scalars (code
                     offset and shift among them), the npz array names of each expert,
                     sha256 of the npz
    activator.npz    the int8 weight codes and the bias arrays (schema 1: int16 weights,
                     still read)
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..files import atomic_write, read_json
from .fixed_point import effective_weights
from .packed import (CODE_DTYPE, WEIGHT_MAX, WEIGHT_MIN, Packed, PackedWeights,  # noqa: F401
                     check_packed)

SCHEMA_VERSION = 2
READ_VERSIONS = (1, 2)         # 1: weights stored as int16, as given to Lava
JSON_NAME = "activator.json"
NPZ_NAME = "activator.npz"

# Ranges of Lava's fixed-point LIF / Dense (lava-nc 0.10, PyLifModelBitAcc,
# PyDenseModelBitAcc). Weights: Dense clips to 8 bits by sign mode
# (mixed [-256, 255]); we refuse anything outside instead of clipping silently
# (WEIGHT_MIN, WEIGHT_MAX: packed.py's).
VTH_MAX = 2**17 - 1            # unsigned 17 bit
DECAY_MAX = 4095               # du, dv: unsigned 12 bit
BIAS_MANT_MIN, BIAS_MANT_MAX = -(2**12), 2**12 - 1   # signed 13 bit
# Loihi's bias_exp is 3-bit unsigned (0..7); Lava also right-shifts for a
# negative exponent, and beyond -12 a 13-bit mantissa is shifted away.
BIAS_EXP_MIN, BIAS_EXP_MAX = -12, 7
# Lava does not bound weight_exp. We keep |weight_exp| <= 16 so the int64
# accumulation can never overflow (256 * n_inputs << 16 < 2**63 for any
# n_inputs < 2**39). Real chips accept less (Loihi 1's NxSDK: -8..7), so a
# network meant for a board should stay in that range.
WEIGHT_EXP_MIN, WEIGHT_EXP_MAX = -16, 16

WEIGHT_DTYPE = np.int16         # schema 1's weights on disk; what `np.asarray(units.weights)` gives
BIAS_DTYPE = np.int16


class ActivatorFileError(ValueError):
    """A saved activator cannot be read; the message names the file and the fix."""


def _int_scalar(value, what: str, lo: int, hi: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{what} must be an int in [{lo}, {hi}], got {value!r} ({type(value).__name__})")
    if not lo <= int(value) <= hi:
        raise ValueError(f"{what} must be in [{lo}, {hi}], got {int(value)}")
    return int(value)


def _int_array(value, what: str, shape: tuple[int, ...], lo: int, hi: int, dtype) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what} must be an integer array, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"{what} must have shape {shape}, got {arr.shape}")
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(f"{what} values must be in [{lo}, {hi}], got [{arr.min()}, {arr.max()}]")
    out = arr.astype(dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class ExpertUnits:
    """The units that wake one expert: one Lava Dense + one LIF process.

    vth, du, dv, weight_exp and num_weight_bits are shared by the units (on
    Loihi they belong to the neuron group); bias is per unit. Arrays are
    copied, stored as int16 and made read-only.
    """
    name: str                  # the expert these units wake
    weights: np.ndarray        # int (units, n_inputs), as given to Lava's Dense(weights=...);
                               # held as the PackedWeights of the weights Lava's Dense keeps
                               # of them (fixed_point.effective_weights): np.asarray() them
    weight_exp: int = 0        # Dense weight_exp: activation << exp (>> -exp if negative)
    num_weight_bits: int = 8   # Dense weight precision, 1..8
    vth: int = 1000            # LIF threshold (17-bit unsigned); spike when v > vth << 6
    du: int = 4095             # current decay (12 bit); 4095 → u forgets everything each step
    dv: int = 0                # voltage decay (12 bit); 0 → v integrates without leak
    bias_mant: np.ndarray | None = None   # (units,) int, 13-bit signed; None → zeros
    bias_exp: np.ndarray | None = None    # (units,) int; None → zeros

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"expert name must be a non-empty string, got {self.name!r}")
        packed = self.weights if isinstance(self.weights, PackedWeights) else None
        w = packed.codes if packed is not None else np.asarray(self.weights)
        if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] < 1:
            raise ValueError(f"expert {self.name!r}: weights must be 2-D (units, n_inputs) with "
                             f"at least one unit and one input, got shape {w.shape}")
        units = w.shape[0]
        where = f"expert {self.name!r}"
        set_ = object.__setattr__
        set_(self, "weight_exp", _int_scalar(self.weight_exp, f"{where}: weight_exp",
                                             WEIGHT_EXP_MIN, WEIGHT_EXP_MAX))
        set_(self, "num_weight_bits", _int_scalar(self.num_weight_bits, f"{where}: num_weight_bits", 1, 8))
        if packed is None:
            w = _int_array(w, f"{where}: weights", w.shape, WEIGHT_MIN, WEIGHT_MAX, np.int32)
            set_(self, "weights", PackedWeights.pack(effective_weights(w, self.num_weight_bits)))
        else:
            check_packed(packed, self.num_weight_bits, where)
        set_(self, "vth", _int_scalar(self.vth, f"{where}: vth", 0, VTH_MAX))
        set_(self, "du", _int_scalar(self.du, f"{where}: du", 0, DECAY_MAX))
        set_(self, "dv", _int_scalar(self.dv, f"{where}: dv", 0, DECAY_MAX))
        mant = np.zeros(units, BIAS_DTYPE) if self.bias_mant is None else self.bias_mant
        bexp = np.zeros(units, BIAS_DTYPE) if self.bias_exp is None else self.bias_exp
        set_(self, "bias_mant", _int_array(mant, f"{where}: bias_mant", (units,),
                                           BIAS_MANT_MIN, BIAS_MANT_MAX, BIAS_DTYPE))
        set_(self, "bias_exp", _int_array(bexp, f"{where}: bias_exp", (units,),
                                          BIAS_EXP_MIN, BIAS_EXP_MAX, BIAS_DTYPE))

    @property
    def n_units(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_inputs(self) -> int:
        return int(self.weights.shape[1])

    def __eq__(self, other):
        if not isinstance(other, ExpertUnits):
            return NotImplemented
        return (self.name, self.weight_exp, self.num_weight_bits, self.vth, self.du, self.dv) == \
            (other.name, other.weight_exp, other.num_weight_bits, other.vth, other.du, other.dv) \
            and all(np.array_equal(getattr(self, a), getattr(other, a))
                    for a in ("weights", "bias_mant", "bias_exp"))


@dataclass(eq=False)
class ActivatorNetwork:
    """All experts' units over one input of n_inputs channels, T timesteps per frame."""
    n_inputs: int
    timesteps: int             # T per frame
    experts: list[ExpertUnits] = field(default_factory=list)

    def __post_init__(self):
        self.n_inputs = _int_scalar(self.n_inputs, "n_inputs", 1, 2**31 - 1)
        self.timesteps = _int_scalar(self.timesteps, "timesteps (T per frame)", 1, 2**31 - 1)
        self.experts = list(self.experts)
        seen = set()
        for i, e in enumerate(self.experts):
            if not isinstance(e, ExpertUnits):
                raise ValueError(f"experts[{i}] must be an ExpertUnits, got {type(e).__name__}")
            if e.n_inputs != self.n_inputs:
                raise ValueError(f"expert {e.name!r} has weights for {e.n_inputs} inputs, "
                                 f"the network has n_inputs={self.n_inputs}")
            if e.name in seen:
                raise ValueError(f"duplicate expert name {e.name!r}: each expert owns one block of units")
            seen.add(e.name)

    # -- the weights, held once -----------------------------------------------
    def packed(self) -> Packed:
        """Every expert's weight codes as one (n_inputs, n_units) int8 matrix (built on first
        use, again if `experts` changed); each expert's codes then become views into it, so
        the network holds one byte a synapse, once."""
        key = tuple(id(e) for e in self.experts)
        cached = self.__dict__.get("_packed")
        if cached is not None and cached[0] == key:
            return cached[1]
        n_units = self.n_units
        codes = np.empty((self.n_inputs, n_units), CODE_DTYPE)
        offset = np.empty(n_units, np.int32)
        shift = np.empty(n_units, np.int32)
        start = 0
        for e in self.experts:
            cols = slice(start, start + e.n_units)
            codes[:, cols] = e.weights.codes.T
            offset[cols], shift[cols] = e.weights.offset, e.weights.shift
            start += e.n_units
        for arr in (codes, offset, shift):
            arr.setflags(write=False)
        start = 0
        for e in self.experts:      # the same values: an expert shared with another network
            view = codes[:, start:start + e.n_units].T      # keeps them, whichever packed last
            object.__setattr__(e, "weights", PackedWeights(view, e.weights.offset, e.weights.shift))
            start += e.n_units
        packed = Packed(codes, offset, shift)
        self.__dict__["_packed"] = (key, packed)
        return packed

    # -- helpers -----------------------------------------------------------
    @property
    def n_units(self) -> int:
        return sum(e.n_units for e in self.experts)

    @property
    def expert_names(self) -> list[str]:
        return [e.name for e in self.experts]

    @property
    def unit_expert(self) -> np.ndarray:
        """(n_units,) index into `experts` of the expert each unit wakes."""
        return np.repeat(np.arange(len(self.experts)), [e.n_units for e in self.experts])

    def expert_slice(self, name: str) -> slice:
        """The units of expert `name` in the concatenated unit order."""
        start = 0
        for e in self.experts:
            if e.name == name:
                return slice(start, start + e.n_units)
            start += e.n_units
        raise KeyError(f"no expert named {name!r}; the network has {self.expert_names}")

    def with_expert(self, units: ExpertUnits) -> "ActivatorNetwork":
        """A new network with `units` appended; the other experts are untouched."""
        if units.name in self.expert_names:
            raise ValueError(f"expert {units.name!r} already exists; use replace_expert() to retrain it")
        return ActivatorNetwork(self.n_inputs, self.timesteps, [*self.experts, units])

    def replace_expert(self, units: ExpertUnits) -> "ActivatorNetwork":
        """A new network with the expert of the same name replaced in place."""
        if units.name not in self.expert_names:
            raise KeyError(f"no expert named {units.name!r}; use with_expert() to add it")
        return ActivatorNetwork(self.n_inputs, self.timesteps,
                                [units if e.name == units.name else e for e in self.experts])

    def without_expert(self, name: str) -> "ActivatorNetwork":
        if name not in self.expert_names:
            raise KeyError(f"no expert named {name!r}; the network has {self.expert_names}")
        return ActivatorNetwork(self.n_inputs, self.timesteps, [e for e in self.experts if e.name != name])

    def __eq__(self, other):
        if not isinstance(other, ActivatorNetwork):
            return NotImplemented
        return (self.n_inputs, self.timesteps) == (other.n_inputs, other.timesteps) \
            and self.experts == other.experts

    # -- files -------------------------------------------------------------
    def save(self, directory) -> Path:
        """Write activator.json + activator.npz into `directory` (created if needed)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays, experts = {}, []
        for i, e in enumerate(self.experts):
            names = {a: f"expert{i}_{a}" for a in ("weight_codes", "bias_mant", "bias_exp")}
            arrays[names["weight_codes"]] = np.ascontiguousarray(e.weights.codes)
            arrays[names["bias_mant"]], arrays[names["bias_exp"]] = e.bias_mant, e.bias_exp
            experts.append({"name": e.name, "units": e.n_units, "weight_exp": e.weight_exp,
                            "num_weight_bits": e.num_weight_bits, "vth": e.vth, "du": e.du,
                            "dv": e.dv, "weight_code_offset": e.weights.offset,
                            "weight_code_shift": e.weights.shift, "arrays": names})
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        npz_bytes = buf.getvalue()
        meta = {"schema_version": SCHEMA_VERSION, "n_inputs": self.n_inputs,
                "timesteps": self.timesteps, "arrays_file": NPZ_NAME,
                "arrays_sha256": hashlib.sha256(npz_bytes).hexdigest(), "experts": experts}
        # npz first: a crash between the two renames leaves a json whose sha256
        # no longer matches, which load() refuses loudly instead of mixing versions.
        atomic_write(directory / NPZ_NAME, npz_bytes)
        atomic_write(directory / JSON_NAME, (json.dumps(meta, indent=2) + "\n").encode())
        return directory

    @classmethod
    def load(cls, directory) -> "ActivatorNetwork":
        directory = Path(directory)
        jpath, npath = directory / JSON_NAME, directory / NPZ_NAME
        fix = "re-export the activator (spikebox export compile BOX) or restore the box from its source"
        meta = read_json(jpath, fix, ActivatorFileError)
        version = meta.get("schema_version") if isinstance(meta, dict) else None
        if version not in READ_VERSIONS or isinstance(version, bool):
            raise ActivatorFileError(
                f"{jpath}: schema_version {version!r} is not one this spikebox reads "
                f"(it reads {', '.join(map(str, READ_VERSIONS))}); use the spikebox version "
                f"that wrote it, or {fix}")
        try:
            npz_bytes = npath.read_bytes()
        except FileNotFoundError:
            raise ActivatorFileError(f"{npath}: missing (named by {jpath.name}); {fix}") from None
        if hashlib.sha256(npz_bytes).hexdigest() != meta.get("arrays_sha256"):
            raise ActivatorFileError(
                f"{npath}: sha256 does not match the one recorded in {jpath.name} "
                f"(file changed, truncated or half-written); {fix}")
        try:
            with np.load(io.BytesIO(npz_bytes), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ActivatorFileError(f"{npath}: not a readable npz ({exc}); {fix}") from None
        try:
            experts = []
            weights = ("weights", WEIGHT_DTYPE) if version == 1 else ("weight_codes", CODE_DTYPE)
            for e in meta["experts"]:
                got = {}
                for a, dtype in (weights, ("bias_mant", BIAS_DTYPE), ("bias_exp", BIAS_DTYPE)):
                    key = e["arrays"][a]
                    if key not in arrays:
                        raise ActivatorFileError(
                            f"{npath}: array {key!r} of expert {e['name']!r} missing; {fix}")
                    arr = arrays[key]
                    want = (e["units"], meta["n_inputs"]) if a == weights[0] else (e["units"],)
                    if arr.dtype != dtype or arr.shape != want:
                        raise ActivatorFileError(
                            f"{npath}: array {key!r} is {arr.dtype}{arr.shape}, expected "
                            f"{np.dtype(dtype)}{want}; {fix}")
                    got[a] = arr
                if version > 1:
                    offset, shift = e["weight_code_offset"], e["weight_code_shift"]
                    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (offset, shift)):
                        raise ValueError(f"expert {e['name']!r}: weight code offset and shift "
                                         f"must be integers, got {offset!r}, {shift!r}")
                    got["weights"] = PackedWeights(got.pop("weight_codes"), offset, shift)
                experts.append(ExpertUnits(name=e["name"], weight_exp=e["weight_exp"],
                                           num_weight_bits=e["num_weight_bits"], vth=e["vth"],
                                           du=e["du"], dv=e["dv"], **got))
            return cls(meta["n_inputs"], meta["timesteps"], experts)
        except ActivatorFileError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ActivatorFileError(f"{jpath}: invalid activator description ({exc!r}); {fix}") from None
