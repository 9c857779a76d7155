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

from .fast import _compact_flags, _update_all


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


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _deliver_learn(ids, indptr, post, weight, wexp, lp, dep, wlo, d_post, acc, dly, ring, t):
    """Deliver the rows of ``ids`` (events of tick t) and depress their plastic synapses.

    An event adds the weight as it stood before this tick's learning, then the synapse is
    written back depressed: ``w = max(w - dep[prof, D_post[post]], w_min)``.
    """
    ev = 0
    n = acc.size // ring
    for j in range(ids.size):
        p = ids[j]
        lo, hi = indptr[p], indptr[p + 1]
        for q in range(lo, hi):
            tgt = post[q]
            w = np.int32(weight[q])
            slot = 0 if ring == 1 else ((t + dly[q]) % ring) * n
            acc[slot + tgt] += w << wexp[q]
            f = lp[q]
            if f:
                weight[q] = max(w - dep[f, d_post[tgt]], wlo[f])
        ev += hi - lo
    return ev


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _potentiate(ids, rev_ptr, rev_syn, rev_pre, weight, lp, pot, whi, d_pre):
    """Walk the plastic incoming synapses of the neurons ``ids`` that fired:
    ``w = min(w + pot[prof, D_pre[pre]], w_max)``."""
    for j in range(ids.size):
        i = ids[j]
        for r in range(rev_ptr[i], rev_ptr[i + 1]):
            q = rev_syn[r]
            f = lp[q]
            weight[q] = min(np.int32(weight[q]) + pot[f, d_pre[rev_pre[r]]], whi[f])


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
            spk, indptr, post, weight, wexp, lp, dep, wlo, d_post, acc, dly, ring, ta
        )
        ev += _deliver_learn(
            ins, indptr, post, weight, wexp, lp, dep, wlo, d_post, acc, dly, ring, ta
        )
        _potentiate(spk, rev_ptr, rev_syn, rev_pre, weight, lp, pot, whi, d_pre)
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
        order = dk[np.argsort(post[dk], kind="stable")]
        rev_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(post[order], minlength=n), out=rev_ptr[1:])
        self.net = net
        self.state = (
            *_tables(profiles),
            rev_ptr,
            pos[order].astype(np.int64),
            pre[order].astype(np.int64),
            np.zeros(n + s, dtype=np.uint8),  # x_pre
            np.zeros(n, dtype=np.uint8),  # x_post
            pa.pre_inc.astype(np.int32),
            pa.pre_decay.astype(np.int32),
            pa.post_inc.astype(np.int32),
            pa.post_decay.astype(np.int32),
        )

    def extra(self):
        """The learned weights and traces for ``Result.extra`` (as the golden run gives)."""
        from spikemesh.plasticity import learned_extra

        return learned_extra(self.net, self.weight[self.pos], self.state[7], self.state[8])
