"""The golden reference: chip.md §2-§4 on a network, in plain numpy.

Written for clarity, not speed. It defines what every other model must
produce, spike for spike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .errors import NetworkError
from .network import Network
from .neuron import lif_update, wrap
from .plasticity import commit_trace, decay_trace, learned_extra, plastic_arrays, stdp_tick

# Keys of a saved Result (docs/network-format.md); "cycles" only from timed backends,
# the population keys only when the network was given to save().
NPZ_KEYS = ("spikes", "inputs", "recorded", "u", "v", "final_u", "final_v", "backend")
# What a plastic run adds (docs/learning.md): weights_<k> per projection k, named by
# weight_labels ("k:pre->post"), and the final stored traces.
NPZ_LEARNING_KEYS = ("weight_labels", "weights_<k>", "pre_trace", "post_trace")


@dataclass
class Result:
    """What a run produces, whichever backend ran it.

    Members
    -------
    spikes : bool [T, N]
        Neuron spikes per tick, neurons in declaration order across populations.
    inputs : bool [T, S]
        The external input spikes that were applied.
    recorded : int [R]
        Global ids of the recorded neurons.
    u, v : int32 [T, R]
        State of the recorded neurons after each tick's update.
    final_u, final_v : int32 [N]
        State of every neuron after the last tick.
    cycles : int [T] or None
        Cycles per tick (timed backends only).
    """

    spikes: np.ndarray
    inputs: np.ndarray
    recorded: np.ndarray
    u: np.ndarray
    v: np.ndarray
    final_u: np.ndarray
    final_v: np.ndarray
    cycles: np.ndarray | None = None
    backend: str = "golden"
    wall_time: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def ticks(self) -> int:
        return int(self.spikes.shape[0])

    def save(self, path, network: Network | None = None):
        """Save as .npz (keys documented in docs/network-format.md)."""
        data = {
            "spikes": self.spikes,
            "inputs": self.inputs,
            "recorded": self.recorded,
            "u": self.u,
            "v": self.v,
            "final_u": self.final_u,
            "final_v": self.final_v,
            "backend": np.array(self.backend),
        }
        if self.cycles is not None:
            data["cycles"] = self.cycles
        if "weights" in self.extra:  # a plastic run: its learned weights and traces
            labels = self.extra["weight_labels"]
            data["weight_labels"] = np.array(labels)
            for k, wk in enumerate(self.extra["weights"]):
                data[f"weights_{k}"] = wk
            data["pre_trace"] = self.extra["pre_trace"]
            data["post_trace"] = self.extra["post_trace"]
        if network is not None:
            data["population_names"] = np.array([p.name for p in network.populations])
            data["population_offsets"] = np.array(
                [p.offset for p in network.populations] + [network.num_neurons]
            )
        # Through a file object: np.savez would append ".npz" to any other file name.
        with open(path, "wb") as f:
            np.savez_compressed(f, **data)

    @classmethod
    def load(cls, path) -> Result:
        """Read a file written by :meth:`save` (population keys go to ``extra``)."""
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
        extra = {k: data.pop(k) for k in ("population_names", "population_offsets") if k in data}
        if "weight_labels" in data:
            labels = data.pop("weight_labels")
            extra["weight_labels"] = [str(x) for x in labels]
            extra["weights"] = [data.pop(f"weights_{k}") for k in range(labels.size)]
            extra["pre_trace"] = data.pop("pre_trace")
            extra["post_trace"] = data.pop("post_trace")
        backend = str(data.pop("backend", "golden"))
        return cls(**data, backend=backend, extra=extra)

    @property
    def has_traces(self) -> bool:
        """Whether per-tick u/v traces of the recorded neurons are present.

        Backends that talk to the chip over its host link (tlm-timed, rtl)
        read back final state only; they leave the traces empty.
        """
        return self.u.shape == (self.ticks, self.recorded.size)

    def compared(self, other: Result, *, cycles=False) -> list[str]:
        """What :meth:`diff` compares between these two results, for reports."""
        what = [f"spikes of every tick ({self.ticks})", "final u and v"]
        if self.has_traces and other.has_traces and self.recorded.size:
            what.append(f"u/v traces of {self.recorded.size} recorded neurons")
        if "weights" in self.extra and "weights" in other.extra:
            what.append("every learned weight and trace")
        if cycles and self.cycles is not None and other.cycles is not None:
            what.append("cycles of every tick")
        return what

    def diff(self, other: Result, *, cycles=False) -> list[str]:
        """Human-readable differences (empty when equal); first differing tick first.

        Spikes and final state are always compared; u/v traces when both
        results have them; cycles per tick when asked and both have them.
        """
        out = []
        if self.spikes.shape != other.spikes.shape:
            return [f"spike rasters differ in shape: {self.spikes.shape} vs {other.spikes.shape}"]
        bad = np.flatnonzero((self.spikes != other.spikes).any(axis=1))
        if bad.size:
            t = int(bad[0])
            n = np.flatnonzero(self.spikes[t] != other.spikes[t])
            out.append(
                f"spikes differ at {bad.size} tick(s); first at tick {t}, neurons {n[:10].tolist()}"
            )
        keys = ["final_u", "final_v"]
        if self.has_traces and other.has_traces:
            keys = ["u", "v", *keys]
        for key in keys:
            a, b = getattr(self, key), getattr(other, key)
            if a.shape != b.shape or not np.array_equal(a, b):
                out.append(f"{key} differs")
        out += _learned_diff(self.extra, other.extra)
        if cycles and self.cycles is not None and other.cycles is not None:
            bad = np.flatnonzero(self.cycles != other.cycles)
            if bad.size:
                t = int(bad[0])
                out.append(
                    f"cycles differ at {bad.size} tick(s); first at tick {t}: "
                    f"{int(self.cycles[t])} vs {int(other.cycles[t])}"
                )
        return out


def _learned_diff(a: dict, b: dict) -> list[str]:
    """Differences in learned weights and traces (plastic runs; nothing when either lacks
    them)."""
    if "weights" not in a or "weights" not in b:
        return []
    out = []
    if len(a["weights"]) != len(b["weights"]):
        return [f"learned weights of {len(a['weights'])} vs {len(b['weights'])} projections"]
    for label, wa, wb in zip(a["weight_labels"], a["weights"], b["weights"], strict=True):
        if wa.shape != wb.shape or not np.array_equal(wa, wb):
            n = int(np.sum(wa != wb)) if wa.shape == wb.shape else -1
            out.append(f"learned weights of projection {label} differ ({n} synapses)")
    for key in ("pre_trace", "post_trace"):
        if not np.array_equal(a[key], b[key]):
            out.append(f"{key} differs")
    return out


def run_golden(
    net: Network, ticks: int, *, acc_bits: int = 24, inputs=None, on_tick=None
) -> Result:
    """Run ``net`` for ``ticks`` ticks.

    Parameters
    ----------
    acc_bits : int
        Accumulator width; the summed input wraps modulo 2^acc_bits (chip.md §4).
    inputs : bool [ticks, S], optional
        Input raster; by default ``net.input_raster(ticks)``.
    on_tick : callable, optional
        Called with the number of ticks done after each tick (progress bars).
    """
    t0 = time.perf_counter()
    if isinstance(ticks, bool) or not isinstance(ticks, (int, np.integer)) or ticks < 0:
        raise NetworkError(f"ticks must be a non-negative integer, not {ticks!r}")
    if isinstance(acc_bits, bool) or not isinstance(acc_bits, int) or not 16 <= acc_bits <= 32:
        raise NetworkError(f"acc_bits must be an integer between 16 and 32, not {acc_bits!r}")
    n = net.num_neurons
    params = net.neuron_params()
    u, v = net.initial_state()
    ref = np.zeros(n, dtype=np.int64)
    if inputs is None:
        inputs = net.input_raster(ticks)
    else:
        inputs = np.asarray(inputs)
        if inputs.shape != (ticks, net.num_sources) or inputs.dtype != bool:
            raise NetworkError(
                f"inputs must be a boolean array of shape ({ticks}, {net.num_sources}), "
                f"not {inputs.dtype} {inputs.shape}"
            )
    pre, post, w, e = net.synapse_arrays()
    dly = net.synapse_delays()
    wv = w << e  # what one event adds: w << weight exponent
    rec = net.recorded()
    learn = _Learning(net, w, pre, post) if net.plastic else None

    spikes = np.zeros((ticks, n), dtype=bool)
    u_tr = np.zeros((ticks, rec.size), dtype=np.int32)
    v_tr = np.zeros((ticks, rec.size), dtype=np.int32)
    # pending[t % ring] is the input accumulated for tick t, for the next ``ring`` ticks (a
    # delay d <= ring - 1 lands d ticks ahead). Nothing arrives at tick 0.
    ring = net.max_delay + 1
    pending = np.zeros((ring, n), dtype=np.int64)
    for t in range(ticks):
        a = wrap(pending[t % ring], acc_bits)  # modular, so the order of events never matters
        pending[t % ring] = 0
        u, v, ref, spk = lif_update(u, v, ref, a, params)
        spikes[t] = spk
        u_tr[t], v_tr[t] = u[rec], v[rec]
        if on_tick is not None:
            on_tick(t + 1)
        # Events emitted at tick t (neuron spikes and inputs stamped t) over a synapse of
        # delay d are integrated at tick t + d (docs/semantics.md "Time").
        fired = np.concatenate([spk, inputs[t]])
        hit = fired[pre]
        np.add.at(pending, ((t + dly[hit]) % ring, post[hit]), wv[hit])
        if learn is not None:  # after delivery: events carry the weights of before this tick
            learn.tick(fired, spk)
            wv = w << e
    extra = learn.extra(net) if learn is not None else {}
    return Result(
        spikes=spikes,
        inputs=inputs,
        recorded=rec,
        u=u_tr,
        v=v_tr,
        final_u=u.astype(np.int32),
        final_v=v.astype(np.int32),
        backend="golden",
        wall_time=time.perf_counter() - t0,
        extra=extra,
    )


class _Learning:
    """The STDP state of a golden run: traces per presynaptic id and per neuron, and the
    rule of :mod:`spikemesh.plasticity` applied to the synapse weights ``w`` in place."""

    def __init__(self, net, w, pre, post):
        self.pa = plastic_arrays(net)
        self.w, self.pre, self.post = w, pre, post
        self.x_pre = np.zeros(net.num_neurons + net.num_sources, dtype=np.int64)
        self.x_post = np.zeros(net.num_neurons, dtype=np.int64)

    def tick(self, fired, spk):
        pa = self.pa
        d_pre = decay_trace(self.x_pre, pa.pre_decay)  # what every read of this tick sees
        d_post = decay_trace(self.x_post, pa.post_decay)
        stdp_tick(self.w, self.pre, self.post, pa, d_pre, d_post, fired, spk)
        self.x_pre = commit_trace(d_pre, pa.pre_inc, fired)
        self.x_post = commit_trace(d_post, pa.post_inc, spk)

    def extra(self, net):
        return learned_extra(net, self.w, self.x_pre, self.x_post)
