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
"""

from __future__ import annotations

import time

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

from spikemesh.config import (
    ACC_SHIFT,
    DECAY_SHIFT,
    DELAY_RANGE,
    PROFILE_RANGES,
    STATE_BITS,
    VTH_SHIFT,
)
from spikemesh.errors import NetworkError
from spikemesh.golden import Result
from spikemesh.network import Network, Population
from spikemesh.neuron import DECAY_ONE, SAT_MAX

from . import _compile_lock

__all__ = ["FastSim", "run_fast"]

_STATE_HALF = 1 << (STATE_BITS - 1)
_PARAM_NAMES = ("du", "dv", "vth", "bias_mant", "bias_exp", "refractory", "reset")


# --- kernels --------------------------------------------------------------------------------
# All kernels are compiled once per dtype combination and cached on disk (cache=True), so a
# run costs no JIT time after the first one on a machine.


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _csr_count(pre_idx, pre_base, counts):
    """counts[pre_base + i + 1] += 1 for every synapse (prefix-summed into indptr later)."""
    for k in range(pre_idx.size):
        counts[pre_idx[k] + pre_base + 1] += 1


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _csr_row_exp(pre_idx, pre_base, exp, row_exp):
    """Give the rows of one projection its exponent; return False if a row already has another."""
    ok = True
    for k in range(pre_idx.size):
        p = pre_idx[k] + pre_base
        if row_exp[p] < 0:
            row_exp[p] = exp
        elif row_exp[p] != exp:
            ok = False
    return ok


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _csr_fill(
    pre_idx, post_idx, weight, shift, pre_base, post_base, fill, post_out, w_out, d, d_out
):
    """Scatter one projection's synapses into their rows (a stable counting sort by pre id),
    with the projection's delay ``d`` into ``d_out`` unless that is empty.

    A row keeps the synapses in declaration order; the order does not matter to the result,
    because the accumulators add modulo 2^acc_bits, but a fixed order keeps runs reproducible.
    """
    for k in range(pre_idx.size):
        p = pre_idx[k] + pre_base
        j = fill[p]
        fill[p] = j + 1
        post_out[j] = post_idx[k] + post_base
        w_out[j] = weight[k] << shift
        if d_out.size:
            d_out[j] = d


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _shr12(x):
    """T(x) of chip.md §3: the 12-bit product shift, rounding toward zero.

    Branch-free so that the update loop vectorises: adding 2^12 - 1 to a negative x before
    the arithmetic shift turns its rounding toward minus infinity into rounding toward zero.
    """
    return (x + ((x >> 63) & ((1 << DECAY_SHIFT) - 1))) >> DECAY_SHIFT


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _sext(x, bits):
    """x reduced to ``bits``-bit two's complement (modular), for int64 x and bits <= 32."""
    return (x << (64 - bits)) >> (64 - bits)


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _update_plain(fu, fv, bias, thr, sub, acc_bits, u, v, acc, flag):
    """chip.md §3 for a run of neurons without refractoriness; flag[i] = 1 where i spiked.

    ``sub`` is the run's reset mode: 0 = zero (v <- 0 after a spike), 1 = subtract
    (v <- v - thr).

    Branch-free (selects, min/max) so that LLVM vectorises it: this loop, not event
    delivery, dominated the first profile. The caller passes views and the index starts
    at 0, so LLVM can prove it non-negative and drop numba's negative-index wraparound,
    which would otherwise block vectorisation.
    """
    for i in range(u.size):
        a = _sext(np.int64(acc[i]), acc_bits)  # the input sum modulo 2^acc_bits (chip.md §4)
        acc[i] = 0
        # u wraps to 24 bits: true modular arithmetic, never saturation.
        un = _sext(_shr12(np.int64(u[i]) * fu) + (a << ACC_SHIFT), STATE_BITS)
        vn = _shr12(np.int64(v[i]) * fv) + un + bias
        vn = min(max(vn, -SAT_MAX), SAT_MAX)  # v saturates symmetrically
        f = vn > thr  # strictly greater
        r = vn - thr if sub else 0  # after a spike: 1..SAT_MAX - thr, or 0
        u[i] = un
        v[i] = r if f else vn
        flag[i] = f


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _update_refractory(fu, fv, bias, thr, sub, refr, acc_bits, u, v, ref, acc, flag):
    """chip.md §3 for a run of neurons with a refractory period ``refr`` > 0."""
    for i in range(u.size):
        a = _sext(np.int64(acc[i]), acc_bits)
        acc[i] = 0
        un = _sext(_shr12(np.int64(u[i]) * fu) + (a << ACC_SHIFT), STATE_BITS)
        u[i] = un
        if ref[i] > 0:  # held at 0, no spike; u still integrates
            ref[i] -= 1
            v[i] = 0
            flag[i] = 0
            continue
        vn = _shr12(np.int64(v[i]) * fv) + un + bias
        vn = min(max(vn, -SAT_MAX), SAT_MAX)
        if vn > thr:
            vn = vn - thr if sub else 0
            ref[i] = refr
            flag[i] = 1
        else:
            flag[i] = 0
        v[i] = vn


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _update_all(seg, u, v, ref, acc, acc_bits, sl, flag):
    """Update every neuron once, in index order, with the input in accumulator slot ``sl``
    (the offset of the tick's slot in ``acc``); flag[i] = 1 where neuron i spiked."""
    for s in range(seg.shape[0]):
        lo, hi = seg[s, 0] + sl, seg[s, 1] + sl
        fu, fv, bias, thr, refr = seg[s, 2], seg[s, 3], seg[s, 4], seg[s, 5], seg[s, 6]
        sub = seg[s, 7]
        if refr == 0:
            _update_plain(
                fu,
                fv,
                bias,
                thr,
                sub,
                acc_bits,
                u[lo - sl : hi - sl],
                v[lo - sl : hi - sl],
                acc[lo:hi],
                flag[lo - sl : hi - sl],
            )
        else:
            _update_refractory(
                fu,
                fv,
                bias,
                thr,
                sub,
                refr,
                acc_bits,
                u[lo - sl : hi - sl],
                v[lo - sl : hi - sl],
                ref[lo - sl : hi - sl],
                acc[lo:hi],
                flag[lo - sl : hi - sl],
            )


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _compact_flags(words, spk_buf, k):
    """Append the ids of set spike flags to spk_buf from k on; return the new end.

    8 flags (one uint64) at a time: most words are zero at chip-like rates, and each set
    byte holds exactly bit 0.
    """
    for wi in range(words.size):
        w = words[wi]
        while w != 0:
            spk_buf[k] = wi * 8 + (np.int64(trailing_zeros(w)) >> 3)
            k += 1
            w &= w - np.uint64(1)
    return k


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Hint the cache to fetch ``arr[idx]`` (LLVM's prefetch: read, high locality, data)."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [i8p, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


_PREFETCH_ROWS = 8  # how many spiking rows ahead of the one being delivered to prefetch


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _deliver(ids, indptr, post, weight, row_exp, acc, dly, ring, t):
    """Add the rows of presynaptic ``ids``, emitted at tick ``t``, into ``acc``; return the
    number of events.

    ``acc`` is a ring of ``ring`` slots of N accumulators, slot ``T % ring`` the input of
    tick T; a synapse of delay ``dly[q]`` adds to slot ``(t + dly[q]) % ring``. Without
    delays (``ring`` = 1, ``dly`` empty) there is one slot and the loop below is today's.

    A row is taken as a view indexed from 0 so that LLVM drops numba's negative-index
    wraparound: an event is then two narrow loads, a shift and a read-modify-write add,
    unrolled by 8. Rows start at random places in synapse memory, so the rows
    ``_PREFETCH_ROWS`` ahead are prefetched, every cache line of their targets and the ends
    of their weights: once the synapses outgrow L2 (N = 65,536: 12.8 MB) this cuts the
    time an event takes by a third, and by a fifth at N = 1M (320 MB, DRAM). The int32
    adds wrap modulo 2^32 and commute, so nothing here can change the result.
    """
    last = post.size - 1
    if last < 0:  # no synapses at all; also keeps the prefetch addresses below in bounds
        return 0
    ev = 0
    m = ids.size
    # Prefetch every 64-byte line of a row's targets only when synapse memory is far larger
    # than L2; when it mostly fits, the first and last lines are enough (and cheaper).
    line = 64 // post.itemsize if post.nbytes > (4 << 20) else post.size + 1
    for j in range(-_PREFETCH_ROWS, m):
        if j + _PREFETCH_ROWS < m:
            pn = ids[j + _PREFETCH_ROWS]
            lo, hi = indptr[pn], indptr[pn + 1]
            q = lo
            while q < hi:  # every cache line of the row's targets
                _prefetch(post, q)
                q += line
            first, end = min(lo, last), min(max(hi - 1, lo), last)
            _prefetch(post, end)
            _prefetch(weight, first)
            _prefetch(weight, end)
        if j < 0:
            continue
        p = ids[j]
        lo, hi, e = indptr[p], indptr[p + 1], row_exp[p]
        ps = post[lo:hi]
        ws = weight[lo:hi]
        if ring == 1:
            for q in range(ps.size):
                acc[ps[q]] += np.int32(ws[q]) << e
        else:
            n = acc.size // ring
            ds = dly[lo:hi]
            for q in range(ps.size):
                acc[((t + ds[q]) % ring) * n + ps[q]] += np.int32(ws[q]) << e
        ev += hi - lo
    return ev


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _deliver_ids(ids, indptr, post, weight, row_exp, acc, dly, ring, t):
    """:func:`_deliver` callable from Python (FastSim.deliver)."""
    return _deliver(ids, indptr, post, weight, row_exp, acc, dly, ring, t)


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _run_ticks(
    t0,
    t1,
    indptr,
    post,
    weight,
    row_exp,
    seg,
    u,
    v,
    ref,
    acc,
    acc_bits,
    dly,
    ring,
    tbase,
    in_ptr,
    in_ids,
    spk_buf,
    spk_ptr,
    rec,
    u_tr,
    v_tr,
    events,
):
    """Run ticks t0..t1-1; return the first tick not run (early when spk_buf is nearly full).

    seg : int64 [n_seg, 8]
        Runs of neurons sharing one parameter set: start, end, u decay factor 4096-(du+1),
        v decay factor 4096-dv, bias_mant << bias_exp, threshold vth << 6, refractory,
        reset (0 = zero, 1 = subtract).
    acc : int32 [ring * N]
        The accumulated input of the next ``ring`` ticks, slot ``T % ring`` for tick T
        (``tbase + t`` is the absolute tick of the call's tick t). It is stored as int32,
        i.e. modulo 2^32; as 2^acc_bits divides 2^32, reducing that to acc_bits at update
        time gives exactly the sum modulo 2^acc_bits, whatever the order and number of events.
    dly : uint8 [nnz] or empty
        The delay of every synapse (1..ring); empty when ``ring`` is 1 (every delay 1).
    in_ptr, in_ids
        Input events: the presynaptic ids (N + source id) stamped tick t are
        in_ids[in_ptr[t]:in_ptr[t + 1]].
    spk_buf, spk_ptr
        Output: the neurons that fired at tick t are spk_buf[spk_ptr[t]:spk_ptr[t + 1]].
    events : int64 [1]
        Running count of delivered synaptic events (SOPs).
    """
    n = u.size
    flag = np.zeros((n + 7) // 8 * 8, dtype=np.uint8)  # padded to whole uint64 words
    words = flag.view(np.uint64)
    ev = events[0]
    for t in range(t0, t1):
        k = spk_ptr[t]
        if k + n > spk_buf.size:
            events[0] = ev
            return t
        # (a) update every neuron once, in index order, with the input accumulated for t.
        _update_all(seg, u, v, ref, acc, acc_bits, ((tbase + t) % ring) * n, flag)
        k = _compact_flags(words, spk_buf, k)
        spk_ptr[t + 1] = k
        for r in range(rec.size):
            u_tr[t, r] = u[rec[r]]
            v_tr[t, r] = v[rec[r]]
        # (b) events emitted at t (neuron spikes, inputs stamped t) are integrated at t + d.
        ta = tbase + t
        ev += _deliver(spk_buf[spk_ptr[t] : k], indptr, post, weight, row_exp, acc, dly, ring, ta)
        ev += _deliver(
            in_ids[in_ptr[t] : in_ptr[t + 1]], indptr, post, weight, row_exp, acc, dly, ring, ta
        )
    events[0] = ev
    return t1


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
