"""A faster learning kernel for the functional TLM: potentiation deferred to the next
presynaptic event (as SpiNNaker does), with results identical to docs/learning.md's rule.

Why it is exact. Between two events of presynaptic element p (ticks t1 < t2), a synapse
p -> j changes only by potentiations, one per spike of j, each ``min(w + dw, w_max)`` with
``dw >= 0``; a run of those equals one ``min(w + sum(dw), w_max)``. Each dw depends only on
``D_pre(s) = decay^(s - t1)(X_pre(t1))`` (p does not fire in between), which is 0 from
``s = t1 + 128`` on (a 7-bit trace strictly decreases to 0 within 127 decays). So the
kernel keeps, per neuron, a 128-tick spike-history bitmap, and, per presynaptic element,
its last event tick and trace; at p's next event it first adds the potentiations it owes
(ticks after those already applied, up to the tick before), then delivers, depresses, and
potentiates for a post spike in the same tick, in the rule's order. Elements silent for 127
ticks are brought up to date then (after that nothing more can come), and everything is
brought up to date at the end of a run call, so the weights read then are the rule's.

Per plastic event this costs one 16-byte history read of the target instead of the
reverse-index walk per post spike (sim/_fast_stdp.py), which it does not need at all.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from spikemesh.plasticity import DECAY_BITS, TRACE_MAX

from ._fast_kernels import _compact_flags, _update_all
from ._fast_stdp import MIXED

HISTORY = 128  # ticks of post-spike history: a trace is 0 after at most 127 decays
NEVER = -(1 << 40)  # t_last of an element that never fired
DONE = 1 << 62  # t_done of an element whose owed potentiations are all applied


def decay_powers(decays):
    """itab[i, x, k] = decay^k(x) for the i-th decay multiplier (k = 0..127), uint8."""
    out = np.zeros((len(decays), TRACE_MAX + 1, HISTORY), dtype=np.uint8)
    for i, d in enumerate(decays):
        x = np.arange(TRACE_MAX + 1, dtype=np.int64)
        for k in range(HISTORY):
            out[i, :, k] = x
            x = (x * int(d)) >> DECAY_BITS
    return out


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _bits(lo, hi):
    """uint64 with bits lo..hi-1 set (0 <= lo <= hi <= 64)."""
    n = hi - lo
    if n <= 0:
        return np.uint64(0)
    if n >= 64:
        return ~np.uint64(0)
    return ((np.uint64(1) << np.uint64(n)) - np.uint64(1)) << np.uint64(lo)


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _range_mask(lo, hi):
    """(low word, high word) of the 128-bit mask of positions lo..hi-1 (0 <= lo <= hi <= 128)."""
    return _bits(min(lo, 64), min(hi, 64)), _bits(max(lo, 64) - 64, max(hi, 64) - 64)


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _window(a, b):
    """History mask of the ticks a+1 .. b (1 <= b - a <= 127): positions (a+1)&127 onwards."""
    start = (a + 1) & (HISTORY - 1)
    end = start + (b - a)
    if end <= HISTORY:
        return _range_mask(start, end)
    m0, m1 = _range_mask(start, HISTORY)
    n0, n1 = _range_mask(0, end - HISTORY)
    return m0 | n0, m1 | n1


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _owed(h0, h1, b, t_last, pk, itab_x):
    """Sum of potentiations for the target's spikes in the masked history words, the
    newest tick of the window being b: dw = pk[decay^(s - t_last)(X)] for each spike s."""
    total = np.int32(0)
    for word in range(2):
        bits = h0 if word == 0 else h1
        while bits != 0:
            pos = np.int64(trailing_zeros(bits)) + 64 * word
            s = b - ((b - pos) & (HISTORY - 1))
            total += pk[itab_x[s - t_last]]
            bits &= bits - np.uint64(1)
    return total


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _catch_up(p, upto, lo, hi, post, weight, lp, pot, whi, hist, itab, pd, x_last, t_last, t_done):
    """Apply the potentiations row p owes for ticks t_done[p]+1 .. upto (capped at
    t_last + 127, after which its trace is 0); return the new t_done."""
    tl = t_last[p]
    if tl == NEVER:
        return DONE
    end = min(upto, tl + HISTORY - 1)
    a = t_done[p]
    if a < end:
        m0, m1 = _window(a, end)
        itab_x = itab[pd[p], x_last[p]]
        for q in range(lo, hi):
            f = lp[q]
            if f:
                tgt = post[q]
                h0 = hist[2 * tgt] & m0
                h1 = hist[2 * tgt + 1] & m1
                if h0 | h1:
                    owed = _owed(h0, h1, end, tl, pot[f], itab_x)
                    weight[q] = min(np.int32(weight[q]) + owed, whi[f])
    return DONE if end == tl + HISTORY - 1 else end


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _deliver_defer(ids, ta, net, st):
    """Deliver the rows of ``ids`` (events of tick ta) with the rule's learning."""
    indptr, post, weight, wexp, lp, row_kind, row_e, acc, dly, ring = net
    dep, pot, wlo, whi, hist, itab, pd, pre_inc, x_last, t_last, t_done, pstate, flag = st
    n = acc.size // ring
    ev = 0
    for j in range(ids.size):
        p = ids[j]
        lo, hi = indptr[p], indptr[p + 1]
        ev += hi - lo
        k, e = row_kind[p], row_e[p]
        if k == 0:  # no plastic synapse in the row: deliver only
            for q in range(lo, hi):
                slot = 0 if ring == 1 else ((ta + dly[q]) % ring) * n
                acc[slot + post[q]] += np.int32(weight[q]) << wexp[q]
            continue
        tl = t_last[p]
        dt = ta - tl
        d_now = np.int32(itab[pd[p], x_last[p], dt]) if dt < HISTORY else np.int32(0)
        if k != MIXED and e >= 0 and ring == 1:
            # The owed potentiations (ticks t_done+1 .. ta-1, within tl + 127) fused into the
            # delivery loop: one pass over the row.
            end = min(ta - 1, tl + HISTORY - 1)
            owe = tl != NEVER and t_done[p] < end
            m0, m1 = _window(t_done[p], end) if owe else (np.uint64(0), np.uint64(0))
            itab_x = itab[pd[p], x_last[p]]
            dk, pk, w_lo, w_hi = dep[k], pot[k], wlo[k], whi[k]
            up = pk[d_now]
            for q in range(lo, hi):
                tgt = post[q]
                w = np.int32(weight[q])
                if owe:
                    h0 = hist[2 * tgt] & m0
                    h1 = hist[2 * tgt + 1] & m1
                    if h0 | h1:
                        w = min(w + _owed(h0, h1, end, tl, pk, itab_x), w_hi)
                acc[tgt] += w << e
                ps = pstate[tgt]
                w = max(w - dk[ps & TRACE_MAX], w_lo)
                if ps >> 7:
                    w = min(w + up, w_hi)
                weight[q] = w
        else:
            t_done[p] = _catch_up(
                p,
                ta - 1,
                lo,
                hi,
                post,
                weight,
                lp,
                pot,
                whi,
                hist,
                itab,
                pd,
                x_last,
                t_last,
                t_done,
            )
            for q in range(lo, hi):
                tgt = post[q]
                w = np.int32(weight[q])
                slot = 0 if ring == 1 else ((ta + dly[q]) % ring) * n
                acc[slot + tgt] += w << wexp[q]
                f = lp[q]
                if f:
                    w = max(w - dep[f, pstate[tgt] & TRACE_MAX], wlo[f])
                    if flag[tgt]:
                        w = min(w + pot[f, d_now], whi[f])
                    weight[q] = w
        x_last[p] = min(d_now + pre_inc[p], TRACE_MAX)
        t_last[p] = ta
        t_done[p] = ta
    return ev


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _flush_row(p, upto, net, st):
    """Bring row p up to date through tick ``upto`` (a no-op for rows without plastic
    synapses or already done)."""
    indptr, post, weight, lp, row_kind = net[0], net[1], net[2], net[4], net[5]
    pot, whi, hist, itab, pd = st[1], st[3], st[4], st[5], st[6]
    x_last, t_last, t_done = st[8], st[9], st[10]
    if row_kind[p] == 0 or t_done[p] >= upto:
        return
    t_done[p] = _catch_up(
        p,
        upto,
        indptr[p],
        indptr[p + 1],
        post,
        weight,
        lp,
        pot,
        whi,
        hist,
        itab,
        pd,
        x_last,
        t_last,
        t_done,
    )


@nb.njit(cache=True, nogil=True, boundscheck=False)
def flush(upto, net, st, only_silent):
    """Bring rows up to date through tick ``upto``: all of them, or (``only_silent``) those
    whose element last fired at upto - 127 (their trace is 0 from then on).

    The ``only_silent`` scan looks at t_last alone first (one compare per element, rarely
    true): a row without plastic synapses keeps t_last = NEVER, so it never matches. The
    tick loop uses it only where it does not know the events of tick upto - 127.
    """
    t_last = st[9]
    silent = upto - (HISTORY - 1)
    for p in range(t_last.size):
        if only_silent and t_last[p] != silent:
            continue
        _flush_row(p, upto, net, st)


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _flush_silent(ids, upto, net, st):
    """flush(upto, only_silent) over the candidates ``ids``: the events of tick upto - 127
    (an element that fired since has a later t_last and is skipped)."""
    t_last = st[9]
    silent = upto - (HISTORY - 1)
    for j in range(ids.size):
        p = ids[j]
        if t_last[p] == silent:
            _flush_row(p, upto, net, st)


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _read_traces(x_post, pstate, post_dec):
    """pstate = D_post = (X_post * decay) >> 8 (flag bit clear): the post traces every read
    of the next tick sees."""
    for i in range(x_post.size):
        pstate[i] = (np.int32(x_post[i]) * np.int32(post_dec[i])) >> DECAY_BITS


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _end_tick(x_post, pstate, post_inc, post_dec):
    """Commit X_post = min(D + inc * fired, 127) for this tick and read D_post for the next
    (:func:`_read_traces`) in one branch-free pass over uint8 arrays, which LLVM vectorises.
    ``pstate`` holds D_post in bits 0..6 and the neuron's spike of this tick in bit 7."""
    for i in range(x_post.size):
        s = np.int32(pstate[i])
        x = min((s & TRACE_MAX) + np.int32(post_inc[i]) * (s >> 7), TRACE_MAX)
        x_post[i] = x
        pstate[i] = (x * np.int32(post_dec[i])) >> DECAY_BITS


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _clear_slot(hist, word, keep, ids, n):
    """Forget the history slot about to be reused: in the neurons ``ids`` that set it 128
    ticks ago, or, when those are not known (ids is None), in every neuron."""
    if ids is None:
        for i in range(n):
            hist[2 * i + word] &= keep
    else:
        for j in range(ids.size):
            hist[2 * ids[j] + word] &= keep


@nb.njit(cache=True, nogil=True, boundscheck=False)
def run_ticks_defer(
    t0, t1, net, st, seg, u, v, ref, acc_bits, x_post, post_inc, post_dec, io, u_tr, v_tr, events
):
    """sim._fast_kernels._run_ticks with deferred-potentiation STDP (module docstring).

    Per-tick work is kept proportional to the events where it can be: ``t`` counts ticks
    from the start of the caller's run (spk_buf holds every tick of it), so from t = 128 on
    the history slot a tick reuses is cleared in the neurons that set it (the spikes of
    t - 128) and the rows that may have gone silent are the events of t - 127; before that
    (state from an earlier run) every neuron / element is looked at.
    """
    tbase, in_ptr, in_ids, spk_buf, spk_ptr, rec = io
    acc, ring = net[7], net[9]
    hist, pstate, flag = st[4], st[11], st[12]
    n = u.size
    words = flag.view(np.uint64)
    ev = events[0]
    # Both steps only rewrite what they wrote, so an early return can run them again.
    _read_traces(x_post, pstate, post_dec)
    for t in range(t0, t1):
        k = spk_ptr[t]
        if k + n > spk_buf.size:
            events[0] = ev
            flush(tbase + t - 1, net, st, False)
            return t
        ta = tbase + t
        col = ta & (HISTORY - 1)
        word = col >> 6
        bit = np.uint64(1) << np.uint64(col & 63)
        if t >= HISTORY:
            _clear_slot(
                hist, word, ~bit, spk_buf[spk_ptr[t - HISTORY] : spk_ptr[t - HISTORY + 1]], n
            )
        else:
            _clear_slot(hist, word, ~bit, None, n)
        _update_all(seg, u, v, ref, acc, acc_bits, (ta % ring) * n, flag)
        k = _compact_flags(words, spk_buf, k)
        spk_ptr[t + 1] = k
        spk = spk_buf[spk_ptr[t] : k]
        for j in range(spk.size):
            hist[2 * spk[j] + word] |= bit
            pstate[spk[j]] |= 128
        for r in range(rec.size):
            u_tr[t, r] = u[rec[r]]
            v_tr[t, r] = v[rec[r]]
        ev += _deliver_defer(spk, ta, net, st)
        ev += _deliver_defer(in_ids[in_ptr[t] : in_ptr[t + 1]], ta, net, st)
        s = t - (HISTORY - 1)
        if s >= 0:
            _flush_silent(spk_buf[spk_ptr[s] : spk_ptr[s + 1]], ta, net, st)
            _flush_silent(in_ids[in_ptr[s] : in_ptr[s + 1]], ta, net, st)
        else:
            flush(ta, net, st, True)
        _end_tick(x_post, pstate, post_inc, post_dec)
    events[0] = ev
    flush(tbase + t1 - 1, net, st, False)
    return t1


class Deferred:
    """The kernel state of a :class:`~sim._fast_stdp.Learning` on one FastSim: per
    presynaptic id its last event tick, the trace stored then and how far its owed
    potentiations are applied; per neuron the spike history."""

    def __init__(self, sim, lr):
        n, ids = sim.num_neurons, lr.pre_inc.size
        decays = np.unique(lr.pre_decay)
        self.itab = decay_powers(decays.tolist())
        self.pd = np.searchsorted(decays, lr.pre_decay).astype(np.int32)
        self.x_last = np.zeros(ids, dtype=np.uint8)
        self.t_last = np.full(ids, NEVER, dtype=np.int64)
        self.t_done = np.full(ids, DONE, dtype=np.int64)
        self.hist = np.zeros(2 * n, dtype=np.uint64)
        self.flag = np.zeros((n + 7) // 8 * 8, dtype=np.uint8)
        self.pstate = np.zeros(n, dtype=np.uint8)
        self.last_tick = -1
        self.net = (
            sim.indptr,
            sim.post,
            lr.weight,
            lr.wexp,
            lr.lp,
            lr.row_kind,
            lr.row_e,
            sim.acc,
            sim.delay,
            sim.ring,
        )
        self.st = (
            lr.dep,
            lr.pot,
            lr.wlo,
            lr.whi,
            self.hist,
            self.itab,
            self.pd,
            lr.pre_inc,
            self.x_last,
            self.t_last,
            self.t_done,
            self.pstate,
            self.flag,
        )

    def pre_trace(self):
        """X_pre stored at the end of the last tick run, for every presynaptic id."""
        k = self.last_tick - self.t_last
        ok = (self.t_last != NEVER) & (k < HISTORY)
        out = np.zeros(self.t_last.size, dtype=np.uint8)
        out[ok] = self.itab[self.pd[ok], self.x_last[ok], k[ok]]
        return out
