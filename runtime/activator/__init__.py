"""Activator: encoder spikes in, which experts' units fired out (data path step 3).

    from spikebox.runtime.activator import ActivatorNetwork, make_activator
    with make_activator(ActivatorNetwork.load(box / "activator"), backend="numpy") as act:
        result = act.step(spikes)          # (T, n_inputs) 0/1 from the encoder
        result.fired, result.warmth        # → the pager

LIF units, a few per expert, behind 8-bit Dense synapses, with the fixed-point
semantics of Lava's bit-accurate models. Two backends, one interface, bit-exact
with each other: "numpy" (fast, vectorised) and "lava" (real Lava processes,
Loihi2SimCfg fixed_pt; the same graph runs on a Loihi 2 board).
"""
from .interface import Activator, FrameResult
from .network import ActivatorFileError, ActivatorNetwork, ExpertUnits
from .numpy_backend import NumpyActivator

BACKENDS = ("numpy", "lava")


def make_activator(network: ActivatorNetwork, backend: str = "numpy", **options) -> Activator:
    """The activator for `network` on `backend` ("numpy" or "lava").

    options go to the backend (lava: run_cfg, stop_timeout_s). Lava is imported
    only here, on demand: importing it sets multiprocessing's start method.
    """
    if backend == "numpy":
        return NumpyActivator(network, **options)
    if backend == "lava":
        from .lava_backend import LavaActivator
        return LavaActivator(network, **options)
    raise ValueError(f"unknown activator backend {backend!r}; expected one of {BACKENDS}")


__all__ = ["Activator", "ActivatorFileError", "ActivatorNetwork", "ExpertUnits", "FrameResult",
           "NumpyActivator", "make_activator", "BACKENDS"]
