"""The functional TLM's numba kernels (sim/fast.py is their API, :class:`FastSim`).

- building the CSR form: :func:`_csr_count`, :func:`_csr_row_exp`, :func:`_csr_fill`;
- the LIF update of every neuron of a tick (chip.md §3), with and without refractory
  periods, and the compaction of its spike flags into a list of ids;
- the delivery of the spiking rows into the accumulators (chip.md §4), with software
  prefetch of the rows ahead;
- :func:`_run_ticks`, the tick loop over both.

All kernels are compiled once per dtype combination and cached on disk (cache=True), so a
run costs no JIT time after the first one on a machine (sim/_compile_lock.py: one process
compiles, the others wait and load).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

from spikemesh.config import ACC_SHIFT, DECAY_SHIFT, STATE_BITS
from spikemesh.neuron import SAT_MAX


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
