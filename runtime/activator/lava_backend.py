"""The activator as real Lava processes (lava-nc 0.10, Loihi2SimCfg fixed_pt on CPU).

Graph, built once and kept running across frames:

    Injector(n_inputs) ──► Dense_g ──► LIF_g ──► Extractor_g      (one chain per group g)
       (fans out to every group's Dense)

A group is the experts that share what Lava holds per process: weight_exp,
num_weight_bits and sign mode (Dense), vth, du and dv (LIF); bias is per unit.
Its units become one Dense (PyDenseModelBitAcc) and one LIF (PyLifModelBitAcc),
so per-expert thresholds map onto Loihi neuron groups as they are, and a box of
a thousand experts that share their parameters is a handful of processes, not
three thousand (each Lava process is an OS process here).

Per frame: the T input vectors are queued into the Injector's channel
(buffer = T), `RunSteps(T, blocking=True)` runs exactly T timesteps, each
Injector step forwards one queued vector (FIFO, so frame k's timestep t is
what Dense receives at global step kT + t), T spike vectors are read back
from each Extractor, and u, v are read with `Var.get()`.

Why not a source RingBuffer whose `data` Var is set per frame: it aligns
correctly (it sends data[:, (time_step - 1) % T]), but Lava 0.10 sets a Var
one element per message; 4000 inputs x 16 steps took 1.3 s per frame here.

On a Loihi 2 board (Intel's lava-loihi installed, board access): the graph
stays the same; only the run config changes, `Loihi2HwCfg` from
`lava.magma.core.run_configs` instead of `Loihi2SimCfg(select_tag="fixed_pt")`:

    from lava.magma.core.run_configs import Loihi2HwCfg
    cfg = Loihi2HwCfg(exception_proc_model_map={Injector: PyLoihiInjectorModel,
                                                Extractor: PyLoihiExtractorModel})
    act = LavaActivator(network, run_cfg=cfg)

Dense and LIF then compile to neurocores; the Injector and Extractor stay
Python processes on the host. Not tried here (no board, no lava-loihi): check
that lava-loihi accepts host Injector/Extractor processes beside chip
processes; if it does not, its own host↔chip I/O processes replace those two
and nothing else changes. Hardware also bounds weight_exp more tightly than
Lava's simulator does (see network.py).

Hazards handled here (see DESIGN.md): never RunContinuous with a blocking
Injector (it hangs on pause/stop); importing Lava sets multiprocessing's start
method to 'fork' for the whole process, so this module is imported only when
the lava backend is asked for. close() stops the runtime in a helper thread
and, if that does not finish within stop_timeout_s, kills the Lava worker
processes and shuts their shared memory down itself: it never hangs.
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import multiprocessing.util
import os
import signal
import threading
import time
import weakref

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.magma.core.process.process import ProcessServer
from lava.magma.core.process.variable import VarServer
from lava.proc.dense.process import Dense
from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel
from lava.proc.io.injector import Injector, PyLoihiInjectorModel
from lava.proc.lif.process import LIF

from .fixed_point import sign_mode
from .interface import FrameAccounting, FrameResult, validate_frame
from .network import ActivatorNetwork

logger = logging.getLogger(__name__)

# At interpreter exit multiprocessing joins every live child, and Lava's
# workers wait for commands forever: an activator left open would hang the
# exit. atexit runs this before multiprocessing's handler (registered earlier).
_open_activators: "weakref.WeakSet[LavaActivator]" = weakref.WeakSet()


@atexit.register
def _close_open_activators() -> None:
    for act in list(_open_activators):
        act.close()


class _ParentWatch:
    """In every process multiprocessing forks from here (Lava's workers, its shared
    memory manager): exit as soon as the parent is gone, and leave Ctrl-C to it.

    A parent killed (SIGKILL, or SIGTERM's default action, or a crash) used to
    leave every Lava worker running for good, each holding the channel
    segments in /dev/shm; with the workers gone, multiprocessing's resource
    tracker unlinks the segments left behind. A thread polling getppid(), not
    PR_SET_PDEATHSIG: that fires when the forking *thread* ends."""
    period_s = 0.2

    def after_fork(self) -> None:
        parent = os.getppid()
        # Ctrl-C reaches the whole process group: only the parent acts on it
        # (closing the activator stops us); a worker interrupted mid-wait
        # only printed its own traceback, a dozen per run.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # And SIGTERM is the parent's to turn into a clean stop (spikebox.cli); here, the
        # parent's own `kill` of a worker that did not stop must just end it.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

        def watch():
            while os.getppid() == parent:
                time.sleep(self.period_s)
            os._exit(0)
        threading.Thread(target=watch, name="spikebox-parent-watch", daemon=True).start()


_PARENT_WATCH = _ParentWatch()
multiprocessing.util.register_after_fork(_PARENT_WATCH, _ParentWatch.after_fork)


@contextlib.contextmanager
def _lava_keeps_its_log_handlers_to_itself():
    """lava-nc 0.10 adds a stderr handler to the *root* logger for every Process it
    makes (and one to its compiler's logger per compile): the program's own
    logging then printed every error once per Lava process, and the handlers
    piled up with each activator. Take back whatever it added."""
    loggers = [logging.getLogger(), logging.getLogger("lava.magma.compiler.compiler")]
    before = [set(lg.handlers) for lg in loggers]
    try:
        yield
    finally:
        for lg, had in zip(loggers, before):
            for handler in [h for h in lg.handlers if h not in had]:
                lg.removeHandler(handler)


def sim_run_cfg() -> Loihi2SimCfg:
    """CPU simulation with the bit-accurate models; Injector/Extractor have no
    fixed_pt tag, so they are mapped explicitly."""
    return Loihi2SimCfg(select_tag="fixed_pt",
                        exception_proc_model_map={Injector: PyLoihiInjectorModel,
                                                  Extractor: PyLoihiExtractorModel})


class LavaActivator:
    def __init__(self, network: ActivatorNetwork, run_cfg=None, stop_timeout_s: float = 10.0):
        if not isinstance(network, ActivatorNetwork):
            raise TypeError(f"LavaActivator needs an ActivatorNetwork, got {type(network).__name__}")
        if not network.experts:
            raise ValueError("LavaActivator needs at least one expert; the network has none")
        self.network = network
        self.stop_timeout_s = float(stop_timeout_s)
        self._accounting = FrameAccounting(network)
        self._runtime = None
        self._closed = False
        with _lava_keeps_its_log_handlers_to_itself():
            self._build(network, run_cfg)
        self._runtime = self._injector.runtime
        _open_activators.add(self)

    def _build(self, network: ActivatorNetwork, run_cfg) -> None:
        T, n = network.timesteps, network.n_inputs
        self._injector = Injector(shape=(n,), buffer_size=T)
        self._lifs, self._denses, self._extractors = [], [], []
        groups = process_groups(network)
        starts = np.cumsum([0] + [e.n_units for e in network.experts])
        # unit order of the groups' outputs, concatenated -> the network's unit order
        self._unit_order = np.concatenate([np.arange(starts[i], starts[i + 1])
                                           for members in groups for i in members])
        for members in groups:
            experts = [network.experts[i] for i in members]
            e = experts[0]
            units = sum(x.n_units for x in experts)
            dense = Dense(weights=np.concatenate([np.asarray(x.weights, np.int32) for x in experts]),
                          weight_exp=e.weight_exp, num_weight_bits=e.num_weight_bits)
            lif = LIF(shape=(units,), du=e.du, dv=e.dv, vth=e.vth,
                      bias_mant=np.concatenate([x.bias_mant for x in experts]).astype(np.int32),
                      bias_exp=np.concatenate([x.bias_exp for x in experts]).astype(np.int32))
            extractor = Extractor(shape=(units,), buffer_size=T)
            dense.a_out.connect(lif.a_in)
            lif.s_out.connect(extractor.in_port)
            self._denses.append(dense)
            self._lifs.append(lif)
            self._extractors.append(extractor)
        self._injector.out_port.connect([d.s_in for d in self._denses])
        self._started = False       # Var.set needs a runtime that has run once
        try:
            self._injector.create_runtime(run_cfg=run_cfg or sim_run_cfg())
        except BaseException:
            # The runtime object exists before Runtime.initialize() starts the
            # workers: reclaim whatever it started.
            self._runtime = self._injector.runtime
            self.close(stop_timeout_s=INTERRUPTED_STOP_S)
            raise

    # -- frames --------------------------------------------------------------
    def step(self, spikes: np.ndarray) -> FrameResult:
        if self._closed:
            raise RuntimeError("LavaActivator is closed")
        net = self.network
        s = validate_frame(spikes, net.timesteps, net.n_inputs)
        frame = s.astype(np.float64)     # the Injector's channel carries float64
        try:
            for t in range(net.timesteps):
                self._injector.send(frame[t])
            self._injector.run(condition=RunSteps(num_steps=net.timesteps, blocking=True))
            self._started = True
            order = self._unit_order
            out = np.empty((net.timesteps, net.n_units))
            out[:, order] = np.concatenate(
                [np.stack([x.receive() for _ in range(net.timesteps)]) for x in self._extractors], axis=1)
            u = np.empty(net.n_units, np.int32)
            v = np.empty(net.n_units, np.int32)
            u[order] = np.concatenate([lif.u.get() for lif in self._lifs])
            v[order] = np.concatenate([lif.v.get() for lif in self._lifs])
        except Exception:
            logger.exception("Lava run failed; closing the Lava runtime")
            self.close()
            raise
        except BaseException:
            # Ctrl-C, SIGTERM, exit: stop quietly, the caller reports it. Interrupted inside a
            # run, Lava's runtime often never answers stop() (half of the SIGTERMs sent to
            # `export compile` waited the full stop timeout, past the CLI's 10 s grace): give
            # it a moment, then kill its processes.
            self.close(stop_timeout_s=min(self.stop_timeout_s, INTERRUPTED_STOP_S))
            raise
        return self._accounting.result(s, out.astype(np.bool_), u, v)

    def reset(self) -> None:
        """Zero u, v and each Dense's buffer."""
        if self._closed:
            raise RuntimeError("LavaActivator is closed")
        if not self._started:
            return      # nothing has run: everything is still at its initial zero
        for dense, lif in zip(self._denses, self._lifs):
            n = lif.u.shape
            lif.u.set(np.zeros(n))
            lif.v.set(np.zeros(n))
            dense.a_buff.set(np.zeros(n))

    # -- shutdown ------------------------------------------------------------
    def close(self, stop_timeout_s: float | None = None) -> None:
        """Stop the Lava runtime and free its processes and shared memory. Never hangs: after
        `stop_timeout_s` (default: the activator's) its processes are killed."""
        timeout = self.stop_timeout_s if stop_timeout_s is None else stop_timeout_s
        if self._closed:
            return
        self._closed = True
        _open_activators.discard(self)
        runtime = self._runtime
        if runtime is None:
            return
        stopper = threading.Thread(target=self._stop_quietly, args=(runtime,),
                                   name="lava-activator-stop", daemon=True)
        stopper.start()
        stopper.join(timeout)
        if stopper.is_alive():
            logger.warning("Lava runtime did not stop within %.1f s; killing its processes",
                           timeout)
            _force_stop(runtime)
        # The Injector's send port and each Extractor's receive port live in
        # this process, each with a listener thread that only a join() ends:
        # without this, three threads per open/close stay behind for good.
        _join_host_ports(self._injector, self._extractors)
        # Processes stop their runtime again when garbage-collected; detach them
        # so that never talks to a runtime that is gone.
        procs = [self._injector, *self._denses, *self._lifs, *self._extractors]
        for proc in procs:
            proc.runtime = None
        runtime._is_started = False
        self._runtime = None
        _forget(procs)

    @staticmethod
    def _stop_quietly(runtime) -> None:
        try:
            # A runtime that was initialised but never run ignores stop() and
            # then joins workers that still wait for a command; they do obey STOP.
            runtime._is_started = True
            runtime.stop()
        except Exception as exc:   # an interrupted run leaves services answering errors
            logger.warning("Lava runtime.stop() failed (%s); killing its processes", exc)
            _force_stop(runtime)

    def __enter__(self) -> "LavaActivator":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        interrupted = exc_type is not None and not issubclass(exc_type, Exception)
        self.close(stop_timeout_s=min(self.stop_timeout_s, INTERRUPTED_STOP_S) if interrupted
                   else None)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


INTERRUPTED_STOP_S = 2.0      # how long an interrupted runtime may take to stop before a kill


def process_groups(network: ActivatorNetwork) -> list[list[int]]:
    """Indices of the experts that can share one Dense and one LIF, in network order of their
    first member: equal weight_exp, num_weight_bits, vth, du, dv, and a sign mode that leaves
    every member's weights as they are in the joint matrix. An all-zero matrix is Lava's
    "excitatory" and fits in any group (zero stays zero); the others must match."""
    groups: dict[tuple, list[int]] = {}
    for i, e in enumerate(network.experts):
        w = e.weights
        lo, hi = ((w.codes.min() + w.offset) << w.shift, (w.codes.max() + w.offset) << w.shift)
        mode = None if lo == hi == 0 else sign_mode(np.array([lo, hi]))
        base = (e.weight_exp, e.num_weight_bits, e.vth, e.du, e.dv)
        key = (*base, mode)
        if mode is None:        # join a group of the same parameters, whatever its mode
            key = next((k for k in groups if k[:5] == base), key)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _forget(procs) -> None:
    """Drop closed processes and their Vars from Lava's registries.

    ProcessServer and VarServer append every Process and Var ever made to a
    list that nothing in lava-nc 0.10 reads (only their id counters are used),
    so each open/close kept its whole graph, weights included, for the life
    of the process. The id counters are left alone: ids stay unique."""
    ours_p = {id(p) for p in procs}
    ours_v = {id(v) for p in procs for v in p.vars}
    if ProcessServer.instance is not None and hasattr(ProcessServer.instance, "processes"):
        server = ProcessServer.instance
        server.processes = [p for p in server.processes if id(p) not in ours_p]
    if VarServer.instance is not None and hasattr(VarServer.instance, "vars"):
        server = VarServer.instance
        server.vars = [v for v in server.vars if id(v) not in ours_v]


def _join_host_ports(injector, extractors) -> None:
    ports = [getattr(injector.in_port, "external_pipe_csp_send_port", None)]
    ports += [getattr(x.out_port, "external_pipe_csp_recv_port", None) for x in extractors]
    for port in ports:
        if port is None:
            continue
        try:
            port.join()
            if port.thread is not None:
                port.thread.join(1.0)
        except Exception:
            logger.exception("could not join a Lava host port")


def _force_stop(runtime) -> None:
    """Kill the Lava worker processes (all started by this runtime) and release
    the shared memory manager, which unlinks every channel segment."""
    infra = getattr(runtime, "_messaging_infrastructure", None)
    if infra is None:
        return
    def alive(actor) -> bool:
        try:
            return actor.is_alive()
        except ValueError:      # already joined and closed by Lava
            return False

    # All at once, under one deadline: one worker after another (terminate, wait 1 s, kill,
    # wait 1 s) took over 10 s for a network's ~17 workers.
    for signal_them in ("terminate", "kill"):
        actors = [a for a in list(getattr(infra, "actors", [])) if alive(a)]
        for actor in actors:
            try:
                getattr(actor, signal_them)()
            except Exception:
                logger.exception("could not %s a Lava worker", signal_them)
        deadline = time.monotonic() + 1.0
        for actor in actors:
            try:
                # Lava's SystemProcess.join() takes no timeout; use the base class's.
                multiprocessing.Process.join(actor, max(0.0, deadline - time.monotonic()))
            except Exception:
                logger.exception("could not join a Lava worker")
    try:
        infra.smm.shutdown()
    except Exception:
        logger.exception("could not shut Lava's shared memory manager down")
