"""The functional TLM's learning kernels: trace-based STDP (docs/learning.md), bit-exact with
:func:`spikemesh.plasticity.stdp_tick` as the golden reference runs it.

The fast model keeps what the chip keeps (docs/learning.md "Hardware plan"):

- per synapse, in CSR order: the 8-bit weight mantissa (mutable), its exponent, and a
  learning-profile index (0 = not plastic);
- a reverse index per neuron: the CSR positions and presynaptic ids of its plastic incoming
  synapses, walked on the neuron's spikes for potentiation;
- a 7-bit stored trace per presynaptic id and per neuron.

``dA[p, d] = (a * d) >> shift`` is tabulated per profile for the 128 trace values, so a
learning step is one table load, one add and one clamp, as in the chip's learning stage.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from spikemesh.plasticity import DECAY_BITS, TRACE_MAX, plastic_arrays

from .fast import _compact_flags, _prefetch, _update_all

_PF_ROWS = 4  # how many spiking neurons ahead to prefetch reverse-index rows for
_PF_W = 2  # and the weights those rows point at


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _csr_pos(pre_idx, pre_base, fill, pos, k0):
    """pos[k0 + k] = the CSR position of synapse k of one projection (the order of
    sim.fast._csr_fill: a stable counting sort by presynaptic id)."""
    for k in range(pre_idx.size):
        p = pre_idx[k] + pre_base
        pos[k0 + k] = fill[p]
        fill[p] += 1


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _read_traces(x, decay, d):
    """D = (X * decay) >> 8 for every trace: the values every read of this tick sees."""
    for i in range(x.size):
        d[i] = (np.int32(x[i]) * decay[i]) >> DECAY_BITS


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _commit_traces(d, inc, fired, x):
    """X = min(D + inc * fired, 127): the stored traces at the end of the tick."""
    for i in range(x.size):
        x[i] = min(d[i] + inc[i] * fired[i], TRACE_MAX)


MIXED = 255  # row_kind of a row whose synapses do not all share one profile and exponent


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _deliver_learn(ids, indptr, post, weight, wexp, lp, rows, dep, wlo, d_post, acc, dly, ring, t):
    """Deliver the rows of ``ids`` (events of tick t) and depress their plastic synapses.

    An event adds the weight as it stood before this tick's learning, then the synapse is
    written back depressed: ``w = max(w - dep[prof, D_post[post]], w_min)``.

    ``rows = (row_kind, row_e)``: per presynaptic id, 0 (no plastic synapse) or the one
    profile of all its synapses, or MIXED; and its exponent when the row has one (else -1).
    Uniform rows (all of the workloads') take the two short loops; any other row takes the
    per-synapse one. All three compute the same thing.
    """
    row_kind, row_e = rows
    ev = 0
    n = acc.size // ring
    for j in range(ids.size):
        p = ids[j]
        lo, hi = indptr[p], indptr[p + 1]
        k, e = row_kind[p], row_e[p]
        ev += hi - lo
        if ring == 1 and e >= 0 and k != MIXED:
            ps = post[lo:hi]
            ws = weight[lo:hi]
            if k == 0:
                for q in range(ps.size):
                    acc[ps[q]] += np.int32(ws[q]) << e
            else:
                dk = dep[k]
                w_lo = wlo[k]
                for q in range(ps.size):
                    tgt = ps[q]
                    w = np.int32(ws[q])
                    acc[tgt] += w << e
                    ws[q] = max(w - dk[d_post[tgt]], w_lo)
            continue
        for q in range(lo, hi):
            tgt = post[q]
            w = np.int32(weight[q])
            slot = 0 if ring == 1 else ((t + dly[q]) % ring) * n
            acc[slot + tgt] += w << wexp[q]
            f = lp[q]
            if f:
                weight[q] = max(w - dep[f, d_post[tgt]], wlo[f])
    return ev


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _potentiate(ids, rev, weight, lp, pot, whi, d_pre):
    """Walk the plastic incoming synapses of the neurons ``ids`` that fired:
    ``w = min(w + pot[prof, D_pre[pre]], w_max)``.

    ``rev = (rev_ptr, rev_syn, rev_pre, rev_kind)``: a neuron's row lists the CSR positions
    (ascending) and presynaptic ids of its plastic incoming synapses; rev_kind is their one
    profile, or MIXED (then each synapse's own is looked up).
    """
    rev_ptr, rev_syn, rev_pre, rev_kind = rev
    last = rev_syn.size - 1
    if last < 0:
        return
    step = 64 // rev_syn.itemsize
    for j in range(ids.size):
        if j + _PF_ROWS < ids.size:  # the rows of a neuron a few spikes ahead, line by line
            nx = ids[j + _PF_ROWS]
            a, b = rev_ptr[nx], min(rev_ptr[nx + 1], last)
            while a <= b:
                _prefetch(rev_syn, a)
                _prefetch(rev_pre, a)
                a += step
        if j + _PF_W < ids.size:  # then the weights of a nearer one (its row has arrived)
            nx = ids[j + _PF_W]
            for r in range(rev_ptr[nx], rev_ptr[nx + 1]):
                _prefetch(weight, rev_syn[r])
        i = ids[j]
        lo, hi = rev_ptr[i], rev_ptr[i + 1]
        syn = rev_syn[lo:hi]
        pre = rev_pre[lo:hi]
        k = rev_kind[i]
        if k != MIXED:
            pk = pot[k]
            w_hi = whi[k]
            for r in range(syn.size):
                q = syn[r]
                weight[q] = min(np.int32(weight[q]) + pk[d_pre[pre[r]]], w_hi)
            continue
        for r in range(syn.size):
            q = syn[r]
            f = lp[q]
            weight[q] = min(np.int32(weight[q]) + pot[f, d_pre[pre[r]]], whi[f])


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _run_ticks_learn(
    t0,
    t1,
    indptr,
    post,
    weight,
    wexp,
    lp,
    seg,
    u,
    v,
    ref,
    acc,
    acc_bits,
    dly,
    ring,
    tr,
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
    """sim.fast._run_ticks with STDP: after each tick's update, deliver with depression,
    then potentiate along the reverse index, then commit the traces (docs/learning.md).

    ``tr`` is the learning state tuple built by :class:`Learning` (tables, traces, reverse
    index, scratch).
    """
    dep, pot, wlo, whi, rev_ptr, rev_syn, rev_pre = tr[0], tr[1], tr[2], tr[3], tr[4], tr[5], tr[6]
    rows = (tr[13], tr[14])
    rev = (rev_ptr, rev_syn, rev_pre, tr[15])
    x_pre, x_post, pre_inc, pre_dec, post_inc, post_dec = (
        tr[7],
        tr[8],
        tr[9],
        tr[10],
        tr[11],
        tr[12],
    )
    n = u.size
    flag = np.zeros((n + 7) // 8 * 8, dtype=np.uint8)
    words = flag.view(np.uint64)
    fired = np.zeros(x_pre.size, dtype=np.int32)  # per presynaptic id: fired at t
    d_pre = np.zeros(x_pre.size, dtype=np.int32)
    d_post = np.zeros(n, dtype=np.int32)
    ev = events[0]
    for t in range(t0, t1):
        k = spk_ptr[t]
        if k + n > spk_buf.size:
            events[0] = ev
            return t
        _update_all(seg, u, v, ref, acc, acc_bits, ((tbase + t) % ring) * n, flag)
        k = _compact_flags(words, spk_buf, k)
        spk_ptr[t + 1] = k
        for r in range(rec.size):
            u_tr[t, r] = u[rec[r]]
            v_tr[t, r] = v[rec[r]]
        _read_traces(x_pre, pre_dec, d_pre)
        _read_traces(x_post, post_dec, d_post)
        ta = tbase + t
        spk = spk_buf[spk_ptr[t] : k]
        ins = in_ids[in_ptr[t] : in_ptr[t + 1]]
        ev += _deliver_learn(
            spk, indptr, post, weight, wexp, lp, rows, dep, wlo, d_post, acc, dly, ring, ta
        )
        ev += _deliver_learn(
            ins, indptr, post, weight, wexp, lp, rows, dep, wlo, d_post, acc, dly, ring, ta
        )
        _potentiate(spk, rev, weight, lp, pot, whi, d_pre)
        for j in range(spk.size):
            fired[spk[j]] = 1
        for j in range(ins.size):
            fired[ins[j]] = 1
        _commit_traces(d_pre, pre_inc, fired, x_pre)
        _commit_traces(d_post, post_inc, fired[:n], x_post)
        for j in range(spk.size):
            fired[spk[j]] = 0
        for j in range(ins.size):
            fired[ins[j]] = 0
    events[0] = ev
    return t1


def _tables(profiles):
    """Per-profile dw tables and bounds; row 0 (not plastic) is never read."""
    n_prof = len(profiles) + 1
    d = np.arange(TRACE_MAX + 1, dtype=np.int32)
    dep = np.zeros((n_prof, TRACE_MAX + 1), dtype=np.int32)
    pot = np.zeros((n_prof, TRACE_MAX + 1), dtype=np.int32)
    wlo = np.zeros(n_prof, dtype=np.int32)
    whi = np.zeros(n_prof, dtype=np.int32)
    for f, lp in enumerate(profiles, start=1):
        pot[f] = (lp.a_plus * d) >> lp.a_plus_shift
        dep[f] = (lp.a_minus * d) >> lp.a_minus_shift
        wlo[f], whi[f] = lp.w_min, lp.w_max
    return dep, pot, wlo, whi


class Learning:
    """The STDP state of a :class:`~spikemesh.sim.fast.FastSim` built from a plastic network.

    Members
    -------
    weight : int8 [nnz]
        Weight mantissas in CSR order (learned in place).
    wexp : uint8 [nnz]
        Each synapse's weight exponent.
    lp : uint8 [nnz]
        Learning-profile index + 1 per synapse (0 = not plastic).
    pos : int64 [M]
        CSR position of each synapse in declaration order (to report weights).
    """

    def __init__(self, net, indptr):
        n, s, m = net.num_neurons, net.num_sources, net.num_synapses
        fill = np.asarray(indptr[:-1], dtype=np.int64).copy()
        pos = np.empty(m, dtype=np.int64)
        k = 0
        for proj in net.projections:
            _csr_pos(proj.pre_idx, net.pre_base(proj), fill, pos, k)
            k += len(proj)
        self.pos = pos
        pre, post, w, e = net.synapse_arrays()
        self.weight = np.empty(m, dtype=np.int8)
        self.weight[pos] = w
        self.wexp = np.empty(m, dtype=np.uint8)
        self.wexp[pos] = e
        profiles = [p.plasticity for p in net.projections if p.plasticity is not None]
        self.lp = np.zeros(m, dtype=np.uint8)
        k, f = 0, 0
        for proj in net.projections:
            if proj.plasticity is not None:
                f += 1
                self.lp[pos[k : k + len(proj)]] = f
            k += len(proj)
        pa = plastic_arrays(net)
        # Reverse index: plastic synapses grouped by target neuron (declaration order inside).
        dk = np.flatnonzero(pa.plastic)
        order = dk[np.lexsort((pos[dk], post[dk]))]  # by target, then by CSR position
        rev_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(post[order], minlength=n), out=rev_ptr[1:])
        self.net = net
        self.state = (
            *_tables(profiles),
            rev_ptr,
            pos[order].astype(np.int64 if m >= 1 << 31 else np.int32),
            pre[order].astype(np.int32),
            np.zeros(n + s, dtype=np.uint8),  # x_pre
            np.zeros(n, dtype=np.uint8),  # x_post
            pa.pre_inc.astype(np.int32),
            pa.pre_decay.astype(np.int32),
            pa.post_inc.astype(np.int32),
            pa.post_decay.astype(np.int32),
            *self._rows(np.asarray(indptr, dtype=np.int64), n + s),
            self._rev_kind(rev_ptr, order, pos),
        )

    def _rev_kind(self, rev_ptr, order, pos):
        """Per neuron, the one profile of its plastic incoming synapses (0 when none), or
        MIXED."""
        n = rev_ptr.size - 1
        f = self.lp[pos[order]]
        lens = np.diff(rev_ptr)
        kind = np.zeros(n, dtype=np.uint8)
        if f.size == 0:
            return kind
        nid = np.repeat(np.arange(n), lens)
        same = np.ones(n, dtype=bool)
        np.logical_and.at(same, nid, f == f[rev_ptr[nid]])
        nz = np.flatnonzero(lens)
        kind[nz] = np.where(same[nz], f[rev_ptr[nz]], MIXED)
        return kind

    def _rows(self, indptr, ids):
        """(row_kind uint8, row_e int8) per presynaptic id, see _deliver_learn."""
        kind = np.zeros(ids, dtype=np.uint8)
        row_e = np.full(ids, -1, dtype=np.int8)
        lens = np.diff(indptr)
        nz = np.flatnonzero(lens)
        first = indptr[nz]
        rid = np.repeat(np.arange(ids), lens)  # the row of every CSR position
        lp_same = np.ones(ids, dtype=bool)
        e_same = np.ones(ids, dtype=bool)
        np.logical_and.at(lp_same, rid, self.lp == self.lp[indptr[rid]])
        np.logical_and.at(e_same, rid, self.wexp == self.wexp[indptr[rid]])
        kind[nz] = np.where(lp_same[nz], self.lp[first], MIXED)
        row_e[nz] = np.where(e_same[nz], self.wexp[first], -1)
        row_e[lens == 0] = 0
        return kind, row_e

    def extra(self):
        """The learned weights and traces for ``Result.extra`` (as the golden run gives)."""
        from spikemesh.plasticity import learned_extra

        return learned_extra(self.net, self.weight[self.pos], self.state[7], self.state[8])
