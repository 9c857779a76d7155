"""The functional TLM of a plastic chip image: what the chip's learning tables say, run on
the fast kernel (docs/learning.md "In the image").

It walks the image the way the chip does (fan-out -> axon -> synapse row), taking each
synapse's learning profile from its axon's ``axon_learn``, each neuron's post trace from
``post_learn`` and each presynaptic element's trace from the axons it reaches, and runs
:mod:`sim._fast_stdp` on the result. The learned weights come back as every core's final
synapse memory, as a chip would hold them.
"""

from __future__ import annotations

import time

import numpy as np

from spikemesh.golden import Result
from spikemesh.plasticity import PROFILE_COLUMNS

from ._fast_stdp import Learning
from .chip import image_neurons, result_in_network_order
from .fast import FastSim

_PRE_INC, _PRE_DECAY = PROFILE_COLUMNS.index("pre_inc"), PROFILE_COLUMNS.index("pre_decay")
_POST_INC, _POST_DECAY = PROFILE_COLUMNS.index("post_inc"), PROFILE_COLUMNS.index("post_decay")


def _expand(base, length):
    length = np.asarray(length, dtype=np.int64)
    owner = np.repeat(np.arange(length.size, dtype=np.int64), length)
    first = np.cumsum(length) - length
    return np.asarray(base, dtype=np.int64)[owner] + (np.arange(owner.size) - first[owner]), owner


def _walk(image):
    """Per synapse event path: (pre, post slot, weight, exponent, delay, global profile id,
    tile, synapse address), and the global profile table."""
    chip = image.chip
    n = chip.core.neurons
    n_slots = chip.tiles * n
    rows, gid = [], []  # global profile table; per tile, local index -> global id
    for lt in image.learning:
        ids = [0]
        for r in np.asarray(lt.learn_profiles, dtype=np.int64).tolist():
            if r not in rows:
                rows.append(r)
            ids.append(rows.index(r) + 1)
        gid.append(np.array(ids, dtype=np.int64))
    owners, dtiles, axons = [], [], []
    for t, core in enumerate(image.cores):
        k, i = _expand(core.fan_base, core.fan_len)
        owners.append(t * n + i)
        dtiles.append(np.asarray(core.fan_y)[k] * chip.width + np.asarray(core.fan_x)[k])
        axons.append(np.asarray(core.fan_axon)[k])
    k, s = _expand(image.src_ptr[:-1], np.diff(image.src_ptr))
    owners.append(n_slots + s)
    dtiles.append(image.src_y[k] * chip.width + image.src_x[k])
    axons.append(image.src_axon[k])
    owner, dtile, axon = (np.concatenate(x).astype(np.int64) for x in (owners, dtiles, axons))
    cols = [[] for _ in range(8)]
    for t, (core, lt) in enumerate(zip(image.cores, image.learning, strict=True)):
        sel = dtile == t
        a = axon[sel]
        syn, ev = _expand(np.asarray(core.axon_base)[a], np.asarray(core.axon_len)[a])
        for col, val in zip(
            cols,
            (
                owner[sel][ev],
                t * n + np.asarray(core.syn_target, dtype=np.int64)[syn],
                np.asarray(core.syn_weight, dtype=np.int64)[syn],
                np.asarray(core.axon_exp, dtype=np.int64)[a][ev],
                np.asarray(core.axon_delay, dtype=np.int64)[a][ev],
                gid[t][np.asarray(lt.axon_learn, dtype=np.int64)[a][ev]],
                np.full(syn.size, t, dtype=np.int64),
                syn,
            ),
            strict=True,
        ):
            col.append(val)
    return [np.concatenate(c) for c in cols], np.array(rows, dtype=np.int64)


class PlasticImageModel:
    """Run a plastic :class:`~spikemesh.firmware.image.ChipImage` on the fast kernel."""

    def __init__(self, image):
        t0 = time.perf_counter()
        image.check()
        if image.learning is None:
            raise ValueError("the image has no learning tables (not a plastic network)")
        self.image = image
        chip = image.chip
        n = chip.core.neurons
        n_slots, n_src = chip.tiles * n, image.num_sources
        (pre, post, w, e, dly, prof, tile, addr), table = _walk(image)
        self.tile, self.addr = tile, addr
        # Trace parameters: a presynaptic element's from its plastic axons (one trace per
        # element, docs/learning.md), a neuron's from its core's post_learn.
        pre_inc = np.zeros(n_slots + n_src, dtype=np.int64)
        pre_dec = np.zeros_like(pre_inc)
        pl = prof > 0
        if table.size:
            pre_inc[pre[pl]] = table[prof[pl] - 1, _PRE_INC]
            pre_dec[pre[pl]] = table[prof[pl] - 1, _PRE_DECAY]
        post_inc = np.zeros(n_slots, dtype=np.int64)
        post_dec = np.zeros_like(post_inc)
        for t, lt in enumerate(image.learning):
            loc = np.asarray(lt.post_learn, dtype=np.int64)
            prof_t = np.asarray(lt.learn_profiles, dtype=np.int64)
            has = np.flatnonzero(loc)
            post_inc[t * n + has] = prof_t[loc[has] - 1, _POST_INC]
            post_dec[t * n + has] = prof_t[loc[has] - 1, _POST_DECAY]
        order = np.argsort(pre, kind="stable")
        pos = np.empty(pre.size, dtype=np.int64)
        pos[order] = np.arange(pre.size)
        indptr = np.zeros(n_slots + n_src + 1, dtype=np.int64)
        np.cumsum(np.bincount(pre, minlength=n_slots + n_src), out=indptr[1:])
        params, u0, v0 = image_neurons(image)
        self.sim = FastSim(
            indptr=indptr,
            post=post[order].astype(np.uint16 if n_slots <= 1 << 16 else np.uint32),
            weight=(w << e)[order].astype(np.int16),
            **{
                k: params[:, i]
                for i, k in enumerate(
                    ("du", "dv", "vth", "bias_mant", "bias_exp", "refractory", "reset")
                )
            },
            u0=u0,
            v0=v0,
            num_sources=n_src,
            acc_bits=chip.core.acc_bits,
            recorded=image.neuron_slot[image.recorded],
            delay=dly[order] if np.any(dly != 1) else None,
        )
        traces = (pre_inc, pre_dec, post_inc, post_dec)
        self.sim.learning = Learning(indptr, pos, pre, post, w, e, prof, table, traces)
        self.sim._warm_learning()
        self.setup_time = time.perf_counter() - t0

    def run(self, ticks: int, inputs) -> Result:
        """Run ``ticks`` ticks; ``extra`` holds ``syn_weight`` (every core's final synapse
        memory) and the final traces per network neuron/source (``pre_trace``, ``post_trace``)."""
        img, sim = self.image, self.sim
        t0 = time.perf_counter()
        r = sim.run(ticks, np.asarray(inputs, dtype=bool))
        slot = img.neuron_slot
        lr = sim.learning
        w = lr.weight[lr.pos]
        mem = [np.array(c.syn_weight, dtype=np.int8) for c in img.cores]
        for t in range(len(mem)):
            sel = self.tile == t
            mem[t][self.addr[sel]] = w[sel]
        n_slots = img.chip.tiles * img.chip.core.neurons
        x_pre, x_post = lr.pre_trace(), lr.x_post
        extra = dict(r.extra)
        extra.update(
            syn_weight=mem,
            pre_trace=np.concatenate([x_pre[slot], x_pre[n_slots:]]),
            post_trace=x_post[slot],
        )
        return result_in_network_order(img, r, r.inputs, t0, extra)
