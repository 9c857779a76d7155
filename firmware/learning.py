"""The compiler's learning pass: a plastic network's learning profiles, per-core profile
tables, per-axon and per-neuron profile indices and the reverse index (docs/learning.md
"In the image"), as :class:`~spikemesh.coreimage.CoreLearning` tables.

The placement pass (compiler.build_tables) already groups synapses so that one axon row
learns by one profile or not at all; this pass reads those rows.
"""

from __future__ import annotations

import numpy as np

from spikemesh.coreimage import CoreLearning
from spikemesh.errors import CompileError
from spikemesh.layouts import reverse_tables
from spikemesh.plasticity import LEARN_PROFILES, PROFILE_COLUMNS


def learn_ids(net):
    """(per-synapse profile id uint8, in ``synapse_arrays`` order: 0 = fixed, k = the k-th
    distinct profile; the list of distinct profiles). Empty list for a fixed network."""
    table, ids = [], []
    for p in net.projections:
        lp = p.plasticity
        if lp is None:
            ids.append(0)
            continue
        if lp not in table:
            table.append(lp)
        ids.append(table.index(lp) + 1)
    if len(table) > LEARN_PROFILES:
        raise CompileError(
            f"the network has {len(table)} distinct learning profiles, a core holds "
            f"{LEARN_PROFILES}; share profiles between projections"
        )
    if not table:
        return np.zeros(0, dtype=np.uint8), []
    sizes = [len(p) for p in net.projections]
    return np.repeat(np.array(ids, dtype=np.uint8), sizes), table


def learning_tables(core, t, cores, tile_name) -> list[CoreLearning]:
    """The CoreLearning of every tile of the compiler's Tables ``t`` (cores: their images)."""
    n, n_axons = core.neurons, core.axons
    table = np.array([lp.row() for lp in t.learn_table], dtype=np.int64)
    out = []
    for tile, img in enumerate(cores):
        lo, hi = int(t.syn_start[tile]), int(t.syn_start[tile + 1])
        g_syn = t.syn_learn[lo:hi].astype(np.int64)  # profile id of each synapse address
        base = np.asarray(img.axon_base, dtype=np.int64)
        length = np.asarray(img.axon_len, dtype=np.int64)
        rows = np.flatnonzero(length > 0)
        g_axon = np.zeros(n_axons, dtype=np.int64)
        g_axon[rows] = g_syn[base[rows]]  # a row's synapses share one profile
        target = np.asarray(img.syn_target, dtype=np.int64)
        plastic = np.flatnonzero(g_syn > 0)
        g_post = np.zeros(n, dtype=np.int64)
        g_post[target[plastic]] = g_syn[plastic]  # one post trace per neuron (checked)
        used = np.unique(np.concatenate([g_axon[g_axon > 0], g_post[g_post > 0]]))
        if used.size > LEARN_PROFILES:
            raise CompileError(
                f"{tile_name(tile)} needs {used.size} learning profiles, a core holds "
                f"{LEARN_PROFILES}"
            )
        local = np.zeros(len(t.learn_table) + 1, dtype=np.int64)
        local[used] = np.arange(1, used.size + 1)
        # the learning core's own builder (one definition; its row order is the core's)
        rev_base, rev_len, rev_syn, rev_axon = reverse_tables(
            base, length, target, g_syn > 0, neurons=n
        )
        out.append(
            CoreLearning(
                learn_profiles=table[used - 1].reshape(-1, len(PROFILE_COLUMNS)),
                axon_learn=local[g_axon].astype(np.uint8),
                post_learn=local[g_post].astype(np.uint8),
                rev_base=rev_base.astype(np.int32),
                rev_len=rev_len.astype(np.int32),
                rev_syn=rev_syn.astype(np.int32),
                rev_axon=rev_axon.astype(np.int32),
            )
        )
    return out
