"""numba kernels of the compiler and the image walk: O(synapses), compact dtypes.

A million-neuron network has 64 million synapses; numpy's int64 sorts and
temporaries would need tens of GB and minutes. These kernels use stable
counting sorts (LSD radix on exponent, presynaptic id, destination tile) and
write the chip's tables straight from two scans of the sorted order.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def counting_sort(perm, key, div, nkeys):
    """Stable sort of ``perm`` by ``key[perm[i]] // div`` (keys 0..nkeys-1); returns a new perm."""
    counts = np.zeros(nkeys + 1, dtype=np.int64)
    for i in range(perm.size):
        counts[key[perm[i]] // div + 1] += 1
    for k in range(nkeys):
        counts[k + 1] += counts[k]
    out = np.empty_like(perm)
    for i in range(perm.size):
        k = key[perm[i]] // div
        out[counts[k]] = perm[i]
        counts[k] += 1
    return out


@njit(cache=True)
def acc_bounds(post, w, e, n):
    """Per target neuron: the sums of positive and of negative ``w << e`` (worst case per tick)."""
    pos = np.zeros(n, dtype=np.int64)
    neg = np.zeros(n, dtype=np.int64)
    for i in range(post.size):
        v = np.int64(w[i]) << np.int64(e[i])
        if v > 0:
            pos[post[i]] += v
        else:
            neg[post[i]] += v
    return pos, neg


@njit(cache=True)
def count_groups(perm, pre, post, e, npc, n_tiles, n_pre):
    """Scan synapses sorted by (tile, pre, exp): axons per tile, fan-out entries per pre."""
    axons = np.zeros(n_tiles, dtype=np.int64)
    fan = np.zeros(n_pre, dtype=np.int64)
    pt, pp, pe = -1, -1, -1
    for i in range(perm.size):
        s = perm[i]
        t = post[s] // npc
        p = pre[s]
        x = e[s]
        if t != pt or p != pp or x != pe:
            axons[t] += 1
            fan[p] += 1
            pt, pp, pe = t, p, x
    return axons, fan


@njit(cache=True)
def fill_tables(
    perm,
    pre,
    post,
    w,
    e,
    npc,
    n_axons,
    syn_start,
    fan_ptr,
    syn_target,
    syn_weight,
    axon_base,
    axon_len,
    axon_exp,
    axon_delay,
    fan_tile,
    fan_axon,
):
    """Second scan: synapse memory (per tile, in sorted order), axon tables, fan-out entries.

    ``e`` is the group key of each synapse: ``(delay - 1) << 3 | weight exponent``.
    ``axon_*`` are [n_tiles * n_axons]; ``fan_*`` are indexed by ``fan_ptr[pre]`` onwards,
    filled in scan order, which puts each element's entries in (tile, delay, exp) order.
    """
    n_tiles = syn_start.size - 1
    next_axon = np.zeros(n_tiles, dtype=np.int64)
    fan_pos = fan_ptr[:-1].copy()
    pt, pp, pe = -1, -1, -1
    cur = -1
    for i in range(perm.size):
        s = perm[i]
        t = post[s] // npc
        p = pre[s]
        x = e[s]
        syn_target[i] = post[s] - t * npc
        syn_weight[i] = w[s]
        if t != pt or p != pp or x != pe:
            a = next_axon[t]
            next_axon[t] += 1
            cur = t * n_axons + a
            axon_base[cur] = i - syn_start[t]
            axon_len[cur] = 0
            axon_exp[cur] = x & 7
            axon_delay[cur] = (x >> 3) + 1
            fan_tile[fan_pos[p]] = t
            fan_axon[fan_pos[p]] = a
            fan_pos[p] += 1
            pt, pp, pe = t, p, x
        axon_len[cur] += 1


@njit(cache=True)
def walk_count(
    n, width, tile, fan_base, fan_len, fan_x, fan_y, fan_axon, axon_len_all, n_axons, counts, row
):
    """Synapses reached by each neuron of one core (fan-out -> axon rows); into counts[row + i]."""
    for i in range(n):
        c = 0
        for k in range(fan_base[i], fan_base[i] + fan_len[i]):
            dt = fan_y[k] * width + fan_x[k]
            c += axon_len_all[dt * n_axons + fan_axon[k]]
        counts[row + i] = c


@njit(cache=True)
def walk_fill(
    n,
    width,
    fan_base,
    fan_len,
    fan_x,
    fan_y,
    fan_axon,
    axon_base_all,
    axon_len_all,
    axon_exp_all,
    axon_delay_all,
    n_axons,
    syn_off,
    syn_target_all,
    syn_weight_all,
    neurons,
    indptr,
    row,
    post_out,
    w_out,
    d_out,
):
    """Write the CSR rows of one core's neurons: post slot, ``w << exp`` and (unless ``d_out``
    is empty) the axon's delay of every synapse."""
    for i in range(n):
        j = indptr[row + i]
        for k in range(fan_base[i], fan_base[i] + fan_len[i]):
            dt = fan_y[k] * width + fan_x[k]
            a = dt * n_axons + fan_axon[k]
            base = syn_off[dt] + axon_base_all[a]
            sh = axon_exp_all[a]
            d = axon_delay_all[a] if d_out.size else 1
            for q in range(base, base + axon_len_all[a]):
                post_out[j] = dt * neurons + syn_target_all[q]
                w_out[j] = np.int16(syn_weight_all[q]) << sh
                if d_out.size:
                    d_out[j] = d
                j += 1
