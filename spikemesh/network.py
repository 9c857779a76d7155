"""Network description: what a user writes (Python API; the YAML form is in netfile.py).

A :class:`Network` holds populations of LIF neurons (chip.md §3), spike
sources, and projections (sparse synapse lists with one weight exponent each).
It knows nothing about a chip: the golden reference runs it directly, and the
firmware compiler maps it onto cores.

Numbering, used by every model and output file:

- neurons are numbered 0..N-1 across populations in declaration order;
- sources are numbered 0..S-1 across spike sources in declaration order;
- a presynaptic id is a neuron id (0..N-1) or N + a source id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import (
    DELAY_RANGE,
    PARAM_RANGES,
    RESET_MODES,
    STATE_RANGE,
    WEIGHT_EXP_RANGE,
    WEIGHT_RANGE,
)
from .connectivity import connection_pairs
from .errors import NetworkError
from .netcheck import I64_MAX, as_int, check_in, check_name, int_array, memory_error, param
from .plasticity import LearningProfile, check_shared_traces


@dataclass(frozen=True, kw_only=True)
class NeuronParams:
    """One LIF parameter set (chip.md §3); a population shares one.

    Parameters
    ----------
    du : int
        Current decay, 0..4095 (effective decay du + 1).
    dv : int
        Voltage decay, 0..4095.
    vth : int
        Threshold mantissa, 0..131071 (threshold vth << 6).
    bias_mant : int
        Bias mantissa, -4096..4095.
    bias_exp : int
        Bias exponent, 0..7.
    refractory : int
        Ticks v is held at 0 after a spike, 0..15 (0 = off).
    reset : str
        What a spike does to v: ``zero`` (v <- 0) or ``subtract`` (v <- v - (vth << 6));
        docs/semantics.md.
    """

    du: int = 0
    dv: int = 0
    vth: int = 100
    bias_mant: int = 0
    bias_exp: int = 0
    refractory: int = 0
    reset: str = "zero"

    def __post_init__(self):
        for key, (lo, hi) in PARAM_RANGES.items():
            with param(key):
                check_in(getattr(self, key), lo, hi, f"neuron parameter {key}")
        if not isinstance(self.reset, str) or self.reset not in RESET_MODES:
            err = NetworkError(
                f"neuron parameter reset must be one of {', '.join(RESET_MODES)}, "
                f"not {self.reset!r}"
            )
            err.key = "reset"
            raise err

    def as_tuple(self):
        """The six numeric parameters du, dv, vth, bias_mant, bias_exp, refractory (not the
        reset mode: :meth:`profile_row` is what a model runs)."""
        return (self.du, self.dv, self.vth, self.bias_mant, self.bias_exp, self.refractory)

    def profile_row(self):
        """The profile row every model runs: :meth:`as_tuple` and the reset mode's code
        (0 = zero, 1 = subtract), in the order of ``coreimage.PROFILE_COLUMNS``."""
        return (*self.as_tuple(), RESET_MODES.index(self.reset))


class Population:
    """A group of neurons with one parameter set.

    Members
    -------
    name, size, params : NeuronParams
    u0, v0 : ndarray of int64, initial state (24-bit signed)
    record : bool
        Whether u and v traces are kept for this population.
    offset : int
        Global id of its first neuron (set when added to a network).
    """

    def __init__(self, name, size, params, *, u0=0, v0=0, record=False):
        check_name(name, "Population")
        self.name = name
        with param("size"):
            self.size = check_in(size, 1, 1 << 24, f"population {name!r} size")
        self.params = params
        lo, hi = STATE_RANGE
        with param("u0"):
            self.u0 = int_array(u0, self.size, lo, hi, f"population {name!r} u0")
        with param("v0"):
            self.v0 = int_array(v0, self.size, lo, hi, f"population {name!r} v0")
        with param("record"):
            if not isinstance(record, (bool, np.bool_)):
                raise NetworkError(
                    f"population {name!r} record must be true or false, not {record!r}"
                )
        self.record = bool(record)
        self.offset = 0

    def __repr__(self):
        return f"Population({self.name!r}, {self.size})"


class SpikeSource:
    """External input spikes.

    Exactly one of:

    - ``spikes``: explicit events, a list of ``(tick, index)`` pairs or a
      mapping ``tick -> [indices]``;
    - ``bernoulli=p``: each index fires independently with probability p per tick;
    - ``poisson=rate``: a Poisson process of ``rate`` expected spikes per tick,
      seen at tick resolution (fires when the count in a tick is at least one).

    The random kinds need a ``seed``. ``raster(T)`` of a longer run always
    starts with ``raster`` of a shorter one.
    """

    def __init__(self, name, size, *, spikes=None, bernoulli=None, poisson=None, seed=None):
        check_name(name, "Spike source")
        self.name = name
        with param("size"):
            self.size = check_in(size, 1, 1 << 24, f"source {name!r} size")
        given = [
            k
            for k, v in (("spikes", spikes), ("bernoulli", bernoulli), ("poisson", poisson))
            if v is not None
        ]
        if len(given) != 1:
            raise NetworkError(
                f"source {name!r} needs exactly one of spikes, bernoulli, poisson; "
                f"got {given or 'none'}"
            )
        self.kind = given[0]
        with param("seed"):
            self.seed = None if seed is None else as_int(seed, f"source {name!r} seed")
            if self.seed is not None and self.seed < 0:
                raise NetworkError(f"source {name!r} seed must be >= 0, not {self.seed}")
        self.offset = 0
        if self.kind == "spikes":
            with param("spikes"):
                self.events = self._parse_events(spikes)
            return
        with param(self.kind):
            p = bernoulli if self.kind == "bernoulli" else poisson
            if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
                raise NetworkError(f"source {name!r} {self.kind} must be a number, not {p!r}")
            p = float(p)
            if self.kind == "bernoulli" and not 0.0 <= p <= 1.0:
                raise NetworkError(
                    f"source {name!r} bernoulli probability must be within 0..1, not {p}"
                )
            if self.kind == "poisson" and not 0.0 <= p <= 1e3:
                raise NetworkError(
                    f"source {name!r} poisson rate must be within 0..1000 per tick, not {p}"
                )
        if self.seed is None:
            raise NetworkError(f"source {name!r}: a {self.kind} source needs a seed")
        self.rate = p

    def _parse_events(self, spikes):
        name = self.name
        pairs = []
        if isinstance(spikes, dict):
            for t, idx in spikes.items():
                t = as_int(t, f"source {name!r} spikes tick")
                idx = [idx] if isinstance(idx, (int, np.integer)) else idx
                if not isinstance(idx, (list, tuple, np.ndarray)):
                    raise NetworkError(
                        f"source {name!r} spikes[{t}] must be an index or a list of indices, "
                        f"not {idx!r}"
                    )
                for i in idx:
                    pairs.append((t, i))
        else:
            arr = np.asarray(spikes, dtype=object)
            if arr.size and (arr.ndim != 2 or arr.shape[1] != 2):
                raise NetworkError(
                    f"source {name!r} spikes must be (tick, index) pairs "
                    "or a tick -> indices mapping"
                )
            pairs = [tuple(p) for p in arr.tolist()] if arr.size else []
        ev = np.zeros((len(pairs), 2), dtype=np.int64)
        for k, (t, i) in enumerate(pairs):
            t = as_int(t, f"source {name!r} spikes[{k}] tick")
            i = as_int(i, f"source {name!r} spikes[{k}] index")
            if t < 0:
                raise NetworkError(f"source {name!r} spikes[{k}]: tick must be >= 0, not {t}")
            if not 0 <= i < self.size:
                raise NetworkError(
                    f"source {name!r} spikes[{k}]: index {i} is outside 0..{self.size - 1}"
                )
            ev[k] = (t, i)
        return ev

    def raster(self, ticks: int) -> np.ndarray:
        """Boolean array [ticks, size]: which inputs fire at each tick."""
        if self.kind == "spikes":
            r = np.zeros((ticks, self.size), dtype=bool)
            ev = self.events[self.events[:, 0] < ticks]
            r[ev[:, 0], ev[:, 1]] = True
            return r
        rng = np.random.default_rng(self.seed)
        if self.kind == "bernoulli":
            return rng.random((ticks, self.size)) < self.rate
        return rng.poisson(self.rate, (ticks, self.size)) > 0

    def __repr__(self):
        return f"SpikeSource({self.name!r}, {self.size}, {self.kind})"


class Projection:
    """Synapses from one population or source to one population.

    Members
    -------
    pre, post : str
        Names of the presynaptic population/source and the postsynaptic population.
    pre_idx, post_idx : ndarray of int32
        Local indices of each synapse's ends.
    weight : ndarray of int8
        8-bit signed weights.
    weight_exp : int
        The event adds ``weight << weight_exp`` (0..7).
    delay : int
        Synaptic delay in ticks, 1..15: a spike of tick t is integrated by the targets'
        update of tick t + delay (docs/semantics.md "Time"); a chip runs delays up to its
        ``CoreConfig.max_delay``.
    plasticity : LearningProfile or None
        The projection's STDP profile when its weights learn (docs/learning.md).

    The arrays are stored compactly (9 bytes per synapse, not 24), which is
    what lets a million-neuron network with 64 million synapses be built,
    compiled and simulated in a few GB; arithmetic on them should widen first
    (:meth:`Network.synapse_arrays` returns int64).
    """

    def __init__(self, pre, post, pre_idx, post_idx, weight, weight_exp, delay=1, plasticity=None):
        self.pre, self.post = pre, post
        self.delay = delay
        self.plasticity = plasticity
        self.pre_idx = np.asarray(pre_idx, dtype=np.int32)
        self.post_idx = np.asarray(post_idx, dtype=np.int32)
        self.weight = np.asarray(weight, dtype=np.int8)  # range checked by the caller
        self.weight_exp = weight_exp

    def __len__(self):
        return int(self.pre_idx.size)

    def __repr__(self):
        return (
            f"Projection({self.pre!r} -> {self.post!r}, {len(self)} synapses, "
            f"exp {self.weight_exp}"
            + (f", delay {self.delay}" if self.delay != 1 else "")
            + (", plastic)" if self.plasticity is not None else ")")
        )


class Network:
    """A spiking network: populations, spike sources and projections."""

    def __init__(self, name="network"):
        with param("name"):
            check_name(name, "Network")
        self.name = name
        self.populations: list[Population] = []
        self.sources: list[SpikeSource] = []
        self.projections: list[Projection] = []
        self._names = {}

    # --- building ---
    def _claim(self, name, what):
        with param("name"):
            check_name(name, what)
            if name in self._names:
                raise NetworkError(f"name {name!r} is already used by a {self._names[name]}")

    @memory_error(lambda name, size=None, *a: f"population {name!r} of {size!r} neurons")
    def population(
        self,
        name,
        size,
        *,
        du=0,
        dv=0,
        vth=100,
        bias_mant=0,
        bias_exp=0,
        refractory=0,
        reset="zero",
        u0=0,
        v0=0,
        record=False,
    ) -> Population:
        """Add a population of ``size`` LIF neurons sharing one parameter set."""
        self._claim(name, "Population")
        try:
            params = NeuronParams(
                du=du,
                dv=dv,
                vth=vth,
                bias_mant=bias_mant,
                bias_exp=bias_exp,
                refractory=refractory,
                reset=reset,
            )
        except NetworkError as e:
            with param(getattr(e, "key", None)):
                raise NetworkError(f"population {name!r}: {e}") from None
        pop = Population(name, size, params, u0=u0, v0=v0, record=record)
        pop.offset = self.num_neurons
        self.populations.append(pop)
        self._names[name] = "population"
        return pop

    @memory_error(lambda name, size=None, *a: f"source {name!r} of {size!r} channels")
    def source(
        self, name, size, *, spikes=None, bernoulli=None, poisson=None, seed=None
    ) -> SpikeSource:
        """Add a spike source (see :class:`SpikeSource`)."""
        self._claim(name, "Spike source")
        src = SpikeSource(
            name, size, spikes=spikes, bernoulli=bernoulli, poisson=poisson, seed=seed
        )
        src.offset = self.num_sources
        self.sources.append(src)
        self._names[name] = "source"
        return src

    @memory_error(
        lambda pre, post, *a: (
            f"projection {getattr(pre, 'name', pre)!r} -> {getattr(post, 'name', post)!r}"
        )
    )
    def connect(
        self,
        pre,
        post,
        *,
        connectivity="all_to_all",
        weight=0,
        weight_exp=0,
        delay=1,
        seed=None,
        pairs=None,
        fanout=None,
        p=None,
        allow_self=False,
        plasticity=None,
    ) -> Projection:
        """Add a projection.

        Parameters
        ----------
        pre, post : str or Population/SpikeSource
        connectivity : str
            ``explicit`` (``pairs`` = list of (i, j) or (i, j, w)), ``one_to_one``,
            ``all_to_all``, ``fixed_fanout`` (``fanout`` distinct targets per
            presynaptic element) or ``fixed_probability`` (each pair with
            probability ``p``). The random kinds need ``seed``.
        weight : int, list of int, or {uniform: [lo, hi], seed: S}
            8-bit signed weights (-128..127); one per synapse when a list.
        weight_exp : int
            0..7; the event adds ``weight << weight_exp``.
        delay : int
            1..15 ticks: a spike of tick t reaches the targets' update of tick t + delay
            (docs/semantics.md); the chip's ``CoreConfig.max_delay`` bounds it at compile time.
        allow_self : bool
            For a population onto itself, whether i -> i synapses are made
            (``all_to_all`` and the random kinds; explicit pairs are taken as given).
        plasticity : dict or LearningProfile, optional
            Make the weights learn by trace-based STDP (docs/learning.md): a mapping of
            ``spikemesh.plasticity.PLASTICITY_KEYS``. Errors name ``plasticity.<key>``.
        """
        pre_name = getattr(pre, "name", pre)
        post_name = getattr(post, "name", post)
        where = f"projection {pre_name!r} -> {post_name!r}"
        with param("pre"):
            pre_obj = self._lookup(pre_name, where, ("population", "source"))
        with param("post"):
            post_obj = self._lookup(post_name, where, ("population",))
        n_pre, n_post = pre_obj.size, post_obj.size
        with param("weight_exp"):
            exp = check_in(weight_exp, *WEIGHT_EXP_RANGE, f"{where} weight_exp")
        with param("delay"):
            dly = check_in(delay, *DELAY_RANGE, f"{where} delay")
        with param("seed"):
            if seed is not None and as_int(seed, f"{where} seed") < 0:
                raise NetworkError(f"{where} seed must be >= 0, not {seed}")
        with param("allow_self"):
            if not isinstance(allow_self, (bool, np.bool_)):
                raise NetworkError(f"{where} allow_self must be true or false, not {allow_self!r}")
        pi, po, explicit_w = connection_pairs(
            connectivity,
            n_pre,
            n_post,
            where,
            self_proj=pre_obj is post_obj,
            allow_self=allow_self,
            seed=seed,
            pairs=pairs,
            fanout=fanout,
            p=p,
        )
        with param("pairs" if explicit_w is not None else "weight"):
            if explicit_w is not None:
                w = int_array(explicit_w, pi.size, *WEIGHT_RANGE, f"{where} pair weight")
            else:
                w = int_array(weight, pi.size, *WEIGHT_RANGE, f"{where} weight", seed=seed)
        lp = None
        if plasticity is not None:
            with param("plasticity"):
                try:
                    lp = LearningProfile.from_spec(plasticity)
                except NetworkError as e:
                    err = NetworkError(f"{where}: {e}")
                    err.key = ("plasticity", e.key) if getattr(e, "key", None) else "plasticity"
                    raise err from None
        proj = Projection(pre_name, post_name, pi, po, w, exp, dly, lp)
        if lp is not None:
            try:
                check_shared_traces(self, proj, where)
            except NetworkError as e:
                err = NetworkError(str(e))
                err.key = ("plasticity", e.key)
                raise err from None
        self.projections.append(proj)
        return proj

    def _lookup(self, name, where, kinds):
        if not isinstance(name, str):
            raise NetworkError(
                f"{where}: expected the name of a {' or '.join(kinds)}, not {name!r}"
            )
        kind = self._names.get(name)
        if kind is None:
            raise NetworkError(f"{where}: no population or source named {name!r}")
        if kind not in kinds:
            raise NetworkError(f"{where}: {name!r} is a {kind}; expected a {' or '.join(kinds)}")
        return self[name]

    @classmethod
    def from_nir(cls, source, *, dt=None, flavor="spec", strict=True, reset=None, inputs=None):
        """Import a NIR graph or ``.nir`` file (spikemesh/nir_io.py, docs/nir.md).

        The quantization report is kept as ``network.nir_report`` (``.format()`` prints it).
        """
        from .nir_io import import_nir

        net, _ = import_nir(source, dt=dt, flavor=flavor, strict=strict, reset=reset, inputs=inputs)
        return net

    # --- lookup and flat views used by every model ---
    def __getitem__(self, name):
        for x in self.populations + self.sources:
            if x.name == name:
                return x
        raise KeyError(name)

    @property
    def num_neurons(self) -> int:
        return sum(p.size for p in self.populations)

    @property
    def num_sources(self) -> int:
        return sum(s.size for s in self.sources)

    @property
    def num_synapses(self) -> int:
        return sum(len(p) for p in self.projections)

    def pre_base(self, proj: Projection) -> int:
        """Presynaptic id of the projection's element 0 (neurons 0..N-1, sources N + id)."""
        obj = self[proj.pre]
        return obj.offset if isinstance(obj, Population) else self.num_neurons + obj.offset

    def pre_global(self, proj: Projection) -> np.ndarray:
        """Presynaptic ids of a projection's synapses (neurons 0..N-1, sources N + id), int64."""
        return proj.pre_idx.astype(np.int64) + self.pre_base(proj)

    def post_global(self, proj: Projection) -> np.ndarray:
        return proj.post_idx.astype(np.int64) + self[proj.post].offset

    def synapse_arrays(self, *, compact=False):
        """All synapses as flat arrays (pre id, post id, weight, weight_exp), declaration order.

        int64 by default (for arithmetic); ``compact=True`` gives int32 ids, int8 weights
        and uint8 exponents (for the compiler at a million neurons).
        """
        if compact:
            m = self.num_synapses
            pre, post = np.empty(m, np.int32), np.empty(m, np.int32)
            w, e = np.empty(m, np.int8), np.empty(m, np.uint8)
            k = 0
            for p in self.projections:
                n = len(p)
                np.add(p.pre_idx, self.pre_base(p), out=pre[k : k + n], dtype=np.int32)
                np.add(p.post_idx, self[p.post].offset, out=post[k : k + n], dtype=np.int32)
                w[k : k + n] = p.weight
                e[k : k + n] = p.weight_exp
                k += n
            return pre, post, w, e
        if not self.projections:
            z = np.zeros(0, dtype=np.int64)
            return z, z.copy(), z.copy(), z.copy()
        pre = np.concatenate([self.pre_global(p) for p in self.projections])
        post = np.concatenate([self.post_global(p) for p in self.projections])
        w = np.concatenate([p.weight for p in self.projections]).astype(np.int64)
        e = np.concatenate(
            [np.full(len(p), p.weight_exp, dtype=np.int64) for p in self.projections]
        )
        return pre, post, w, e

    def synapse_delays(self, *, compact=False) -> np.ndarray:
        """The delay of every synapse (1..15), in the order of :meth:`synapse_arrays`;
        int64, or uint8 with ``compact=True``."""
        dt = np.uint8 if compact else np.int64
        if not self.projections:
            return np.zeros(0, dtype=dt)
        return np.concatenate([np.full(len(p), p.delay, dtype=dt) for p in self.projections])

    @property
    def plastic(self) -> bool:
        """Whether any projection learns (docs/learning.md)."""
        return any(p.plasticity is not None for p in self.projections)

    @property
    def max_delay(self) -> int:
        """The longest delay of any projection (1 without projections)."""
        return max((p.delay for p in self.projections), default=1)

    def neuron_params(self) -> np.ndarray:
        """[N, 7] int64 profile rows: du, dv, vth, bias_mant, bias_exp, refractory, reset
        (0 = zero, 1 = subtract) per neuron."""
        if not self.populations:
            return np.zeros((0, 7), dtype=np.int64)
        return np.concatenate(
            [
                np.tile(np.array(p.params.profile_row(), dtype=np.int64), (p.size, 1))
                for p in self.populations
            ]
        )

    def initial_state(self):
        """(u0, v0) for all neurons, int64."""
        if not self.populations:
            z = np.zeros(0, dtype=np.int64)
            return z, z.copy()
        return (
            np.concatenate([p.u0 for p in self.populations]),
            np.concatenate([p.v0 for p in self.populations]),
        )

    def input_raster(self, ticks: int) -> np.ndarray:
        """Boolean [ticks, S]: every source's spikes, sources in declaration order.

        Raises NetworkError when ``ticks`` is not a count or the raster (ticks x S bytes,
        and the neurons' as many again in every model) cannot be allocated.
        """
        ticks = check_in(ticks, 0, I64_MAX, "ticks")
        if not self.sources:
            return np.zeros((ticks, 0), dtype=bool)
        try:
            return np.concatenate([s.raster(ticks) for s in self.sources], axis=1)
        except (MemoryError, ValueError) as e:  # numpy: "array is too big", or no memory
            raise NetworkError(
                f"{ticks:,} ticks of {self.num_sources:,} inputs take "
                f"{ticks * self.num_sources:,} bytes, more than this machine can allocate "
                f"({e}); run fewer ticks"
            ) from None

    def recorded(self) -> np.ndarray:
        """Global ids of the neurons whose u/v traces are recorded."""
        ids = [np.arange(p.offset, p.offset + p.size) for p in self.populations if p.record]
        return np.concatenate(ids).astype(np.int64) if ids else np.zeros(0, dtype=np.int64)

    def __repr__(self):
        return (
            f"Network({self.name!r}: {len(self.populations)} populations, "
            f"{self.num_neurons} neurons, {self.num_sources} inputs, {self.num_synapses} synapses)"
        )
