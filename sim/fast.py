r"""The functional transaction-level model: chip.md §2-§4, event-driven and vectorised.

The fast path is untimed: it produces what the chip produces (spike raster,
u and v of chosen neurons, final state) bit for bit, but not how many cycles a
tick takes. It is event-driven: a tick updates every neuron once, then delivers
only the rows of the neurons and inputs that fired, into one modular
accumulator per neuron. Delivering after the whole update loop is what gives
chip.md's one-tick delay with a single accumulator buffer, where the chip needs
two (it overlaps delivery with the next update loop).

The model is a kernel over a flat compressed-sparse-row (CSR) form, which is
all it knows about a network:

- per presynaptic id ``p`` (neurons ``0..N-1``, then sources ``N..N+S-1``, the
  numbering of :mod:`spikemesh.network`), a row ``indptr[p]:indptr[p+1]`` of
  ``(post, weight)`` and one weight exponent ``row_exp[p]``: an event adds
  ``weight << row_exp[p]``, as a chip synapse group (one axon's row) does. Rows whose
  synapses came with different exponents are stored pre-shifted with ``row_exp = 0``;
- per neuron, the six LIF parameters and the initial ``u``, ``v``.

:meth:`FastSim.from_network` builds it from a :class:`~spikemesh.network.Network`;
a chip image can produce the same arrays over chip neuron slots and call the
constructor directly.

Narrow dtypes cut the bytes each event touches: ``post`` is ``uint16`` when
``N <= 65,536`` (``uint32`` otherwise) and ``weight`` is ``int8`` when every
weight fits (``int16`` otherwise), so an event reads 3 bytes of synapse memory
and read-modify-writes one 4-byte accumulator.

This module is the model's API (:class:`FastSim`, :func:`run_fast`); its numba kernels
are in ``sim/_fast_kernels.py``, the learning tick loop in ``sim/_fast_defer.py``.
"""

from __future__ import annotations

import time

import numpy as np

from spikemesh.config import DELAY_RANGE, PROFILE_RANGES, STATE_BITS, VTH_SHIFT
from spikemesh.errors import NetworkError
from spikemesh.golden import Result
from spikemesh.network import Network, Population
from spikemesh.neuron import DECAY_ONE

from . import _compile_lock
from ._fast_kernels import _csr_count, _csr_fill, _csr_row_exp, _deliver_ids, _run_ticks

__all__ = ["FastSim", "run_fast"]

_STATE_HALF = 1 << (STATE_BITS - 1)
_PARAM_NAMES = ("du", "dv", "vth", "bias_mant", "bias_exp", "refractory", "reset")


# --- the model ------------------------------------------------------------------------------


def _narrow_int(values, candidates):
    """The first dtype of ``candidates`` that holds every value."""
    lo = int(values.min()) if values.size else 0
    hi = int(values.max()) if values.size else 0
    for dt in candidates:
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dt)
    raise NetworkError(f"values {lo:,}..{hi:,} do not fit any of {candidates}")


def _per_neuron(value, n, name):
    arr = np.asarray(value, dtype=np.int64)
    if arr.ndim == 0:
        arr = np.full(n, int(arr), dtype=np.int64)
    if arr.shape != (n,):
        raise NetworkError(f"{name} must be a scalar or have {n:,} entries, not shape {arr.shape}")
    return arr


class FastSim:
    """The functional TLM over a flat CSR network.

    Parameters
    ----------
    indptr : int [N + S + 1]
        Row pointers per presynaptic id (neurons, then sources).
    post : int [nnz]
        Target neuron of each synapse.
    weight : int [nnz]
        Synaptic weights; one event adds ``weight << row_exp[pre]`` to the target's
        accumulator.
    row_exp : int [N + S], optional
        Weight exponent of each row, 0..7 (all 0 when omitted: weights pre-shifted).
    du, dv, vth, bias_mant, bias_exp, refractory : int or int [N]
        chip.md §3 parameters, one value or one per neuron.
    reset : int or int [N]
        Reset mode, 0 = zero (default), 1 = subtract (docs/semantics.md).
    u0, v0 : int or int [N]
        Initial state.
    num_sources : int
        S, the number of external inputs.
    acc_bits : int
        Accumulator width, 16..32 (chip.md §4, CoreConfig); the input sum wraps modulo
        2^acc_bits.
    recorded : int [R], optional
        Neurons whose u and v are traced every tick.
    delay : int [nnz], optional
        The synaptic delay of every synapse, 1..15 (all 1 when omitted): an event of tick t
        is integrated at tick t + delay (docs/semantics.md "Time").

    Members
    -------
    tick : int
        Ticks run so far; :meth:`run` continues from there.
    u, v : int32 [N]
        Current state.
    setup_time : float
        Seconds spent in :meth:`from_network` (or the constructor).
    """

    def __init__(
        self,
        *,
        indptr,
        post,
        weight,
        row_exp=None,
        du,
        dv,
        vth,
        bias_mant,
        bias_exp,
        refractory,
        reset=0,
        u0,
        v0,
        num_sources,
        acc_bits=24,
        recorded=None,
        delay=None,
    ):
        t_start = time.perf_counter()
        if (
            isinstance(acc_bits, bool)
            or not isinstance(acc_bits, (int, np.integer))
            or not (16 <= acc_bits <= 32)
        ):
            # The golden reference's check and message, so every backend refuses alike.
            raise NetworkError(f"acc_bits must be an integer between 16 and 32, not {acc_bits!r}")
        indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        self.num_neurons = n = int(indptr.size - 1 - num_sources) if indptr.size else 0
        self.num_sources = int(num_sources)
        params = {
            k: _per_neuron(val, n, k)
            for k, val in zip(
                _PARAM_NAMES, (du, dv, vth, bias_mant, bias_exp, refractory, reset), strict=True
            )
        }
        for key, (lo, hi) in PROFILE_RANGES.items():
            arr = params[key]
            if n and (arr.min() < lo or arr.max() > hi):
                raise NetworkError(f"neuron parameter {key} must be between {lo:,} and {hi:,}")
        post = np.asarray(post)
        weight = np.asarray(weight)
        if post.size != weight.size or post.size != int(indptr[-1]):
            raise NetworkError(
                f"CSR arrays disagree: indptr ends at {int(indptr[-1]):,}, "
                f"post has {post.size:,} entries, weight {weight.size:,}"
            )
        if post.size and (int(post.min()) < 0 or int(post.max()) >= n):
            raise NetworkError(f"post ids must be within 0..{n - 1:,}")
        pdt = np.dtype(np.uint16) if n <= 1 << 16 else np.dtype(np.uint32)
        self.indptr = indptr
        rows = indptr.size - 1
        row_exp = np.zeros(rows, np.int64) if row_exp is None else np.asarray(row_exp, np.int64)
        if row_exp.shape != (rows,) or (rows and (row_exp.min() < 0 or row_exp.max() > 7)):
            raise NetworkError(f"row_exp must have {rows:,} entries within 0..7")
        self.row_exp = row_exp.astype(np.uint8)
        self.post = post if post.dtype == pdt else post.astype(pdt)
        wdt = _narrow_int(weight, (np.int8, np.int16, np.int32))
        self.weight = weight if weight.dtype == wdt else weight.astype(wdt)
        self.acc_bits = int(acc_bits)
        self.params = params
        self.seg = self._segments(params)
        lo, hi = -_STATE_HALF, _STATE_HALF - 1
        self.u = _per_neuron(u0, n, "u0").astype(np.int32)
        self.v = _per_neuron(v0, n, "v0").astype(np.int32)
        for name, arr in (("u0", self.u), ("v0", self.v)):
            if n and (arr.min() < lo or arr.max() > hi):
                raise NetworkError(f"{name} must be between {lo:,} and {hi:,}")
        self.ref = np.zeros(n, dtype=np.int8)
        self.delay, self.ring = self._delays(delay, post.size)
        self.acc = np.zeros(self.ring * n, dtype=np.int32)
        self.recorded = (
            np.zeros(0, dtype=np.int64)
            if recorded is None
            else np.ascontiguousarray(recorded, dtype=np.int64)
        )
        self.tick = 0
        self.events = 0
        self._emit_tick = None  # the tick run_events' after_tick is called for
        self.learning = None  # a sim._fast_stdp.Learning when built from a plastic network
        self._warm()
        self.setup_time = time.perf_counter() - t_start

    @staticmethod
    def _delays(delay, nnz):
        """(per-synapse delays as uint8, ring slots): (empty, 1) when every delay is 1."""
        empty = np.zeros(0, dtype=np.uint8)
        if delay is None:
            return empty, 1
        delay = np.asarray(delay)
        if delay.shape != (nnz,):
            raise NetworkError(
                f"delay must have one entry per synapse ({nnz:,}), not {delay.shape}"
            )
        if nnz == 0:
            return empty, 1
        lo, hi = int(delay.min()), int(delay.max())
        if lo < DELAY_RANGE[0] or hi > DELAY_RANGE[1]:
            raise NetworkError(
                f"synaptic delays must be between {DELAY_RANGE[0]} and "
                f"{DELAY_RANGE[1]}, not {lo}..{hi}"
            )
        if hi == 1:
            return empty, 1
        return np.ascontiguousarray(delay, dtype=np.uint8), hi

    def _warm(self):
        """Run zero ticks: numba loads (or compiles) the kernel for these dtypes now, in setup."""
        z64 = np.zeros(1, dtype=np.int64)
        tr = np.zeros((0, self.recorded.size), dtype=np.int32)
        _compile_lock.call(
            _run_ticks,
            0,
            0,
            *self._kernel_state(),
            0,
            z64,
            z64[:0],
            np.zeros(0, dtype=np.int32),
            z64,
            self.recorded,
            tr,
            tr,
            z64.copy(),
        )

    def _kernel_state(self):
        """The network and state arguments of _run_ticks, in its order (warm-up and run)."""
        return (
            self.indptr,
            self.post,
            self.weight,
            self.row_exp,
            self.seg,
            self.u,
            self.v,
            self.ref,
            self.acc,
            self.acc_bits,
            self.delay,
            self.ring,
        )

    @staticmethod
    def _segments(params):
        """Runs of consecutive neurons sharing one parameter set, as the kernel's seg table."""
        table = np.stack([params[k] for k in _PARAM_NAMES], axis=1)
        n = table.shape[0]
        if n == 0:
            return np.zeros((0, 8), dtype=np.int64)
        change = np.flatnonzero((table[1:] != table[:-1]).any(axis=1)) + 1
        starts = np.concatenate([[0], change]).astype(np.int64)
        ends = np.concatenate([change, [n]]).astype(np.int64)
        du, dv, vth, bm, be, rf, rs = (table[starts, k] for k in range(7))
        return np.ascontiguousarray(
            np.stack(
                [
                    starts,
                    ends,
                    DECAY_ONE - (du + 1),  # effective current decay du + 1
                    DECAY_ONE - dv,
                    bm << be,
                    vth << VTH_SHIFT,
                    rf,
                    rs,
                ],
                axis=1,
            ).astype(np.int64)
        )

    @classmethod
    def from_network(cls, net: Network, *, acc_bits: int = 24) -> FastSim:
        """Build the CSR form of ``net`` (one pass per projection, no int64 temporaries)."""
        t_start = time.perf_counter()
        n, s = net.num_neurons, net.num_sources
        nnz = net.num_synapses
        counts = np.zeros(n + s + 1, dtype=np.int64)
        bases = []
        # One exponent per row, like the chip's synapse groups, keeps weights in 8 bits; a
        # row fed by projections with different exponents forces pre-shifted weights.
        row_exp = np.full(n + s, -1, dtype=np.int8)
        per_row = True
        for proj in net.projections:
            pre = net[proj.pre]
            pre_base = pre.offset if isinstance(pre, Population) else n + pre.offset
            bases.append((pre_base, net[proj.post].offset))
            _csr_count(proj.pre_idx, pre_base, counts)
            per_row &= _csr_row_exp(proj.pre_idx, pre_base, proj.weight_exp, row_exp)
        row_exp = np.maximum(row_exp, 0) if per_row else np.zeros(n + s, dtype=np.int8)
        wmin, wmax = 0, 0
        for proj in net.projections:
            if len(proj):
                sh = 0 if per_row else proj.weight_exp
                wmin = min(wmin, int(proj.weight.min()) << sh)
                wmax = max(wmax, int(proj.weight.max()) << sh)
        indptr = np.cumsum(counts)
        post = np.empty(nnz, dtype=np.uint16 if n <= 1 << 16 else np.uint32)
        weight = np.empty(
            nnz, dtype=_narrow_int(np.array([wmin, wmax]), (np.int8, np.int16, np.int32))
        )
        fill = indptr[:-1].copy()
        delay = np.empty(nnz if net.max_delay > 1 else 0, dtype=np.uint8)
        for proj, (pre_base, post_base) in zip(net.projections, bases, strict=True):
            _csr_fill(
                proj.pre_idx,
                proj.post_idx,
                proj.weight,
                0 if per_row else proj.weight_exp,
                pre_base,
                post_base,
                fill,
                post,
                weight,
                proj.delay,
                delay,
            )
        params = net.neuron_params()
        u0, v0 = net.initial_state()
        sim = cls(
            indptr=indptr,
            post=post,
            weight=weight,
            row_exp=row_exp,
            **{k: params[:, i] for i, k in enumerate(_PARAM_NAMES)},
            u0=u0,
            v0=v0,
            num_sources=s,
            acc_bits=acc_bits,
            recorded=net.recorded(),
            delay=delay if delay.size else None,
        )
        if net.plastic:  # docs/learning.md: the weights learn in place, in sim._fast_stdp
            from ._fast_stdp import Learning

            sim.learning = Learning.from_network(net, sim.indptr)
            sim._warm_learning()
        sim.setup_time = time.perf_counter() - t_start
        return sim

    def _warm_learning(self):
        """Run zero ticks of the learning kernel: numba loads (or compiles) it now, in setup."""
        z64 = np.zeros(1, dtype=np.int64)
        tr = np.zeros((0, self.recorded.size), dtype=np.int32)
        spk = np.zeros(self.num_neurons + 1, dtype=np.int32)
        self._step(0, 0, z64, z64[:0], spk, z64.copy(), tr, tr, z64.copy())

    def _step(self, t, t_end, in_ptr, in_ids, spk_buf, spk_ptr, u_tr, v_tr, ev):
        """One call of the tick kernel (the learning one for a plastic network)."""
        io = (self.tick, in_ptr, in_ids, spk_buf, spk_ptr, self.recorded, u_tr, v_tr, ev)
        if self.learning is None:
            return _compile_lock.call(_run_ticks, t, t_end, *self._kernel_state(), *io)
        from ._fast_defer import Deferred, run_ticks_defer

        lr = self.learning
        if lr.kernel is None:
            lr.kernel = Deferred(self, lr)
        k = lr.kernel
        t_new = _compile_lock.call(
            run_ticks_defer,
            t,
            t_end,
            k.net,
            k.st,
            self.seg,
            self.u,
            self.v,
            self.ref,
            self.acc_bits,
            lr.x_post,
            lr.post_inc,
            lr.post_decay,
            io[:6],
            u_tr,
            v_tr,
            ev,
        )
        k.last_tick = self.tick + t_new - 1
        return t_new

    # --- running ---
    def input_events(self, ticks, inputs=None):
        """Convert an input raster bool [ticks, S] to the kernel's (in_ptr, in_ids) form.

        The presynaptic ids stamped tick ``t`` are ``in_ids[in_ptr[t]:in_ptr[t + 1]]``
        (N + source id). Converting once, outside a timed run, keeps a raster scan of
        ticks x S booleans out of the simulate time.
        """
        ticks, n, s = int(ticks), self.num_neurons, self.num_sources
        in_ptr = np.zeros(ticks + 1, dtype=np.int64)
        if inputs is None:
            return in_ptr, np.zeros(0, dtype=np.int64)
        inputs = np.asarray(inputs, dtype=bool)
        if inputs.shape != (ticks, s):
            raise NetworkError(f"inputs must have shape ({ticks}, {s}), not {inputs.shape}")
        tt, ii = np.nonzero(inputs)
        np.cumsum(np.bincount(tt, minlength=ticks), out=in_ptr[1:])
        return in_ptr, ii.astype(np.int64) + n

    def run_events(self, ticks, inputs=None, *, progress=False, after_tick=None):
        """Run ``ticks`` ticks from the current state; return the spikes as events.

        Parameters
        ----------
        inputs : bool [ticks, S] or (in_ptr, in_ids), optional
            External input spikes stamped with each tick (none when omitted), as a raster
            or as already converted by :meth:`input_events`.
        progress : bool
            Show a progress bar with ticks/s and synaptic events/s.
        after_tick : callable, optional
            Called as ``after_tick(t, ids)`` after tick ``t`` (relative to this call) has
            delivered its own events and before tick ``t + 1`` updates, with the neurons that
            fired at ``t``. It may :meth:`deliver` more events for ``t + 1`` (a distributed
            run delivers the spikes other processes sent); the kernel then runs one tick
            per call.

        Returns
        -------
        spk_ptr : int64 [ticks + 1]
            The neurons that fired at tick ``t`` (relative to this call) are
            ``spk_ids[spk_ptr[t]:spk_ptr[t + 1]]``, in ascending order.
        spk_ids : int32
        u_tr, v_tr : int32 [ticks, R]
            Traces of the recorded neurons.
        """
        ticks = int(ticks)
        n = self.num_neurons
        in_ptr, in_ids = inputs if isinstance(inputs, tuple) else self.input_events(ticks, inputs)
        if in_ptr.shape != (ticks + 1,):
            raise NetworkError(f"input events are for {in_ptr.size - 1} ticks, not {ticks}")
        # Room for ~1/16 of all neuron-ticks to start with; the kernel stops early when a tick
        # might not fit, and the buffer grows.
        cap = n + max(1 << 16, min(ticks * n, (ticks * n) // 16))
        spk_buf = np.empty(cap, dtype=np.int32)
        spk_ptr = np.zeros(ticks + 1, dtype=np.int64)
        r = self.recorded.size
        u_tr = np.zeros((ticks, r), dtype=np.int32)
        v_tr = np.zeros((ticks, r), dtype=np.int32)
        ev = np.array([self.events], dtype=np.int64)
        bar = _Progress(ticks, self.events) if progress else None
        t = 0
        chunk = ticks if bar is None and after_tick is None else 1
        t_start = time.perf_counter()
        while t < ticks:
            t_end = min(ticks, t + chunk)
            t_new = self._step(t, t_end, in_ptr, in_ids, spk_buf, spk_ptr, u_tr, v_tr, ev)
            if t_new < t_end:  # spike buffer full: grow and go on
                spk_buf = np.concatenate([spk_buf, np.empty(spk_buf.size + n, dtype=np.int32)])
            if after_tick is not None:
                for tt in range(t, t_new):
                    self._emit_tick = self.tick + tt
                    after_tick(tt, spk_buf[spk_ptr[tt] : spk_ptr[tt + 1]])
            t = t_new
            if bar is not None:
                bar.update(t, int(ev[0]))
                # Aim for ~10 bar updates per second without slowing the kernel.
                el = time.perf_counter() - t_start
                if after_tick is None:
                    chunk = max(1, min(ticks, int(0.1 * t / el) if el > 0 else chunk * 2))
        if bar is not None:
            bar.close()
        self._emit_tick = None
        self.tick += ticks
        self.events = int(ev[0])
        return spk_ptr, spk_buf[: spk_ptr[-1]], u_tr, v_tr

    def deliver(self, ids) -> int:
        """Deliver the rows of presynaptic ``ids`` into the accumulators now, as events of the
        last tick run (in ``after_tick``: that tick): they are integrated ``delay`` ticks
        after it (the next update without delays). Returns the number of synaptic events
        (not added to :attr:`events`)."""
        if self.learning is not None:
            raise NetworkError(
                "a plastic network cannot take events from outside its run "
                "(distributed runs do not learn yet; docs/learning.md)"
            )
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        t = self.tick - 1 if self._emit_tick is None else self._emit_tick
        return int(
            _deliver_ids(
                ids,
                self.indptr,
                self.post,
                self.weight,
                self.row_exp,
                self.acc,
                self.delay,
                self.ring,
                t,
            )
        )

    def run(self, ticks, inputs=None, *, progress=False) -> Result:
        """Run ``ticks`` ticks; return a :class:`~spikemesh.golden.Result` (backend "tlm").

        ``extra`` holds ``events`` (synaptic events delivered), ``neuron_spikes``,
        ``input_spikes`` and ``setup_time``.
        """
        t_start = time.perf_counter()
        ev0 = self.events
        spk_ptr, spk_ids, u_tr, v_tr = self.run_events(ticks, inputs, progress=progress)
        wall = time.perf_counter() - t_start
        ticks = int(ticks)
        spikes = np.zeros((ticks, self.num_neurons), dtype=bool)
        spikes[np.repeat(np.arange(ticks), np.diff(spk_ptr)), spk_ids] = True
        inputs = (
            np.zeros((ticks, self.num_sources), dtype=bool)
            if inputs is None
            else np.asarray(inputs, dtype=bool)
        )
        extra = {
            "events": self.events - ev0,
            "neuron_spikes": int(spk_ids.size),
            "input_spikes": int(inputs.sum()),
            "setup_time": self.setup_time,
        }
        if self.learning is not None:
            extra.update(self.learning.extra())
        return Result(
            spikes=spikes,
            inputs=inputs,
            recorded=self.recorded.copy(),
            u=u_tr,
            v=v_tr,
            final_u=self.u.copy(),
            final_v=self.v.copy(),
            backend="tlm",
            wall_time=wall,
            extra=extra,
        )


class _Progress:
    """A rich progress bar: ticks done, ticks/s and synaptic events/s."""

    def __init__(self, ticks, events0):
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self._p = Progress(
            TextColumn("tlm"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} ticks"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            transient=True,
        )
        self._task = self._p.add_task("tlm", total=ticks, rate="")
        self._t0 = time.perf_counter()
        self._ev0 = events0
        self._p.start()

    def update(self, t, events):
        el = max(time.perf_counter() - self._t0, 1e-9)
        rate = f"{t / el:,.0f} ticks/s  {(events - self._ev0) / el / 1e6:,.0f} Mevents/s"
        self._p.update(self._task, completed=t, rate=rate)

    def close(self):
        self._p.stop()


def run_fast(
    net: Network, ticks: int, *, acc_bits: int = 24, inputs=None, progress: bool = False
) -> Result:
    """Run ``net`` for ``ticks`` ticks in the functional TLM; bit-exact with ``run_golden``.

    Parameters
    ----------
    acc_bits : int
        Accumulator width; the summed input wraps modulo 2^acc_bits (chip.md §4).
    inputs : bool [ticks, S], optional
        Input raster; by default ``net.input_raster(ticks)``.
    progress : bool
        Show a progress bar (ticks/s, Mevents/s).
    """
    sim = FastSim.from_network(net, acc_bits=acc_bits)
    inputs = net.input_raster(ticks) if inputs is None else np.asarray(inputs, dtype=bool)
    res = sim.run(ticks, inputs, progress=progress)
    res.wall_time += sim.setup_time
    return res
