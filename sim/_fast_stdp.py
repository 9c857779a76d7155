"""The functional TLM's learning state: trace-based STDP (docs/learning.md), bit-exact with
:func:`spikemesh.plasticity.stdp_tick` as the golden reference runs it. The tick kernel that
uses it is sim/_fast_defer.py.

Per synapse, in CSR order: the 8-bit weight mantissa (learned in place), its exponent and a
learning-profile index (0 = not plastic); per presynaptic id, whether its row is fixed, of one
profile and exponent, or mixed; per neuron, the 7-bit post trace. ``dA[p, d] = (a * d) >>
shift`` is tabulated per profile for the 128 trace values, so a learning step is one table
load, one add and one clamp, as in the chip's learning stage.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from spikemesh.plasticity import PROFILE_COLUMNS, TRACE_MAX, plastic_arrays


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _csr_pos(pre_idx, pre_base, fill, pos, k0):
    """pos[k0 + k] = the CSR position of synapse k of one projection (the order of
    sim._fast_kernels._csr_fill: a stable counting sort by presynaptic id)."""
    for k in range(pre_idx.size):
        p = pre_idx[k] + pre_base
        pos[k0 + k] = fill[p]
        fill[p] += 1


MIXED = 255  # row_kind of a row whose synapses do not all share one profile and exponent


def _tables(profiles):
    """Per-profile dw tables and bounds from rows of PROFILE_COLUMNS; row 0 (not plastic) is
    never read."""
    n_prof = len(profiles) + 1
    d = np.arange(TRACE_MAX + 1, dtype=np.int32)
    dep = np.zeros((n_prof, TRACE_MAX + 1), dtype=np.int32)
    pot = np.zeros((n_prof, TRACE_MAX + 1), dtype=np.int32)
    wlo = np.zeros(n_prof, dtype=np.int32)
    whi = np.zeros(n_prof, dtype=np.int32)
    for f, row in enumerate(profiles, start=1):
        lp = dict(zip(PROFILE_COLUMNS, (int(x) for x in row), strict=True))
        pot[f] = (lp["a_plus"] * d) >> lp["a_plus_shift"]
        dep[f] = (lp["a_minus"] * d) >> lp["a_minus_shift"]
        wlo[f], whi[f] = lp["w_min"], lp["w_max"]
    return dep, pot, wlo, whi


class Learning:
    """The STDP state of a :class:`~spikemesh.sim.fast.FastSim` with plastic synapses.

    Members
    -------
    weight : int8 [nnz]
        Weight mantissas in CSR order (learned in place).
    wexp : uint8 [nnz]
        Each synapse's weight exponent.
    lp : uint8 [nnz]
        Learning-profile index + 1 per synapse (0 = not plastic).
    pos : int64 [M]
        CSR position of each synapse in the order it was given (to report weights).
    row_kind, row_e : per presynaptic id
        0 (no plastic synapse), the one profile of all its synapses, or MIXED; and the row's
        exponent when it has one (else -1).
    dep, pot, wlo, whi
        dw tables [P + 1, 128] and bounds [P + 1] per profile (row 0 unused).
    x_post : uint8 [N]
        Stored post traces; pre traces live in the kernel's state (sim/_fast_defer.py).
    """

    def __init__(self, indptr, pos, pre, post, w, e, syn_prof, profiles, traces):
        """From flat synapse arrays (any order; ``pos[k]`` is synapse k's CSR position).

        ``syn_prof[k]`` is 0 (fixed) or 1 + an index into ``profiles`` (int [P, 10] rows of
        ``plasticity.PROFILE_COLUMNS``); ``traces`` = (pre_inc, pre_decay) per presynaptic id
        and (post_inc, post_decay) per neuron.
        """
        pre_inc, pre_decay, post_inc, post_decay = traces
        m = pos.size
        self.pos = pos
        self.weight = np.empty(m, dtype=np.int8)
        self.weight[pos] = w
        self.wexp = np.empty(m, dtype=np.uint8)
        self.wexp[pos] = e
        self.lp = np.zeros(m, dtype=np.uint8)
        self.lp[pos] = syn_prof
        table = np.asarray(profiles, dtype=np.int64).reshape(-1, len(PROFILE_COLUMNS))
        self.dep, self.pot, self.wlo, self.whi = _tables(table)
        self.pre_inc = np.asarray(pre_inc, dtype=np.int32)
        self.pre_decay = np.asarray(pre_decay, dtype=np.int32)
        self.post_inc = np.asarray(post_inc, dtype=np.uint8)
        self.post_decay = np.asarray(post_decay, dtype=np.uint8)
        self.x_post = np.zeros(self.post_inc.size, dtype=np.uint8)
        self.row_kind, self.row_e = self._rows(np.asarray(indptr, dtype=np.int64), pre_inc.size)
        self.net = None
        self.kernel = None  # the sim/_fast_defer.py state, made by FastSim on its first run

    @classmethod
    def from_network(cls, net, indptr):
        """The learning state of ``net`` over the CSR rows ``indptr`` of FastSim.from_network."""
        fill = np.asarray(indptr[:-1], dtype=np.int64).copy()
        pos = np.empty(net.num_synapses, dtype=np.int64)
        k = 0
        for proj in net.projections:
            _csr_pos(proj.pre_idx, net.pre_base(proj), fill, pos, k)
            k += len(proj)
        pre, post, w, e = net.synapse_arrays()
        profiles = [p.plasticity.row() for p in net.projections if p.plasticity is not None]
        ids, f = [], 0
        for proj in net.projections:
            f += proj.plasticity is not None
            ids.append(f if proj.plasticity is not None else 0)
        syn_prof = np.repeat(np.array(ids, dtype=np.uint8), [len(p) for p in net.projections])
        pa = plastic_arrays(net)
        traces = (pa.pre_inc, pa.pre_decay, pa.post_inc, pa.post_decay)
        self = cls(indptr, pos, pre, post, w, e, syn_prof, profiles, traces)
        self.net = net
        return self

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

        if self.net is None:  # built from an image: the image model reports its memories
            return {}
        return learned_extra(self.net, self.weight[self.pos], self.pre_trace(), self.x_post)

    def pre_trace(self):
        """The stored pre trace of every presynaptic id after the last tick run."""
        if self.kernel is None:
            return np.zeros(self.pre_inc.size, dtype=np.uint8)
        return self.kernel.pre_trace()
