"""The chip's transaction-level model, functional mode: runs a compiled ChipImage.

It follows the image's tables exactly as the hardware does — a spike walks
its neuron's fan-out list to (tile, axon) entries, each axon walks its synapse
row on the destination core — but does a whole tick at once, vectorised, with
no notion of cycles. The timed mode (cycle-level, composed of CoreModel and
MeshModel twins) lives beside it.
"""

from __future__ import annotations

import time

import numpy as np

from spikemesh.golden import Result
from spikemesh.neuron import lif_update, wrap


def _expand(base, length):
    """Concatenate the index ranges base[i] .. base[i] + length[i] - 1; also return the owner i."""
    length = np.asarray(length, dtype=np.int64)
    total = int(length.sum())
    owner = np.repeat(np.arange(length.size, dtype=np.int64), length)
    if total == 0:
        return np.zeros(0, dtype=np.int64), owner
    starts = np.asarray(base, dtype=np.int64)[owner]
    first = np.cumsum(length) - length
    return starts + (np.arange(total, dtype=np.int64) - first[owner]), owner


def image_synapses(image):
    """Flatten an image into slot-level synapses by walking its tables.

    Returns
    -------
    pre, post, wv : int64 arrays
        ``pre`` is a chip slot (tile * neurons + index) or ``n_slots + source``;
        ``post`` a chip slot; ``wv`` = weight << axon exponent.
    """
    chip = image.chip
    n = chip.core.neurons
    n_slots = chip.tiles * n
    # (owner, dest tile, axon) for every fan-out entry and every host input entry
    owners, dtiles, axons = [], [], []
    for t, core in enumerate(image.cores):
        k, i = _expand(core.fan_base, core.fan_len)
        owners.append(t * n + i)
        dtiles.append(core.fan_y[k] * chip.width + core.fan_x[k])
        axons.append(core.fan_axon[k])
    k, s = _expand(image.src_ptr[:-1], np.diff(image.src_ptr))
    owners.append(n_slots + s)
    dtiles.append(image.src_y[k] * chip.width + image.src_x[k])
    axons.append(image.src_axon[k])
    owner = np.concatenate(owners)
    dtile = np.concatenate(dtiles)
    axon = np.concatenate(axons)
    pres, posts, wvs = [], [], []
    for t, core in enumerate(image.cores):
        sel = dtile == t
        if not sel.any():
            continue
        a = axon[sel]
        syn, ev = _expand(core.axon_base[a], core.axon_len[a])
        pres.append(owner[sel][ev])
        posts.append(t * n + core.syn_target[syn])
        wvs.append(core.syn_weight[syn] << core.axon_exp[a][ev])
    if not pres:
        z = np.zeros(0, dtype=np.int64)
        return z, z.copy(), z.copy()
    return np.concatenate(pres), np.concatenate(posts), np.concatenate(wvs)


def image_neurons(image):
    """Per-slot parameters [n_slots, 6], u0, v0 from the cores' profile tables."""
    params = np.concatenate([c.profiles[c.profile_idx] for c in image.cores]).astype(np.int64)
    u0 = np.concatenate([c.u0 for c in image.cores]).astype(np.int64)
    v0 = np.concatenate([c.v0 for c in image.cores]).astype(np.int64)
    return params, u0, v0


class ChipModel:
    """Functional chip model over a ChipImage (``backend="tlm"`` results)."""

    def __init__(self, image):
        image.check()
        self.image = image
        self.chip = image.chip
        self.params, self.u0, self.v0 = image_neurons(image)
        self.pre, self.post, self.wv = image_synapses(image)

    def run(self, ticks: int, inputs: np.ndarray) -> Result:
        """Run ``ticks`` ticks with the input raster ``inputs`` (bool [ticks, S])."""
        t0 = time.perf_counter()
        img = self.image
        inputs = np.asarray(inputs, dtype=bool)
        if inputs.shape != (ticks, img.num_sources):
            raise ValueError(
                f"inputs must have shape ({ticks}, {img.num_sources}), not {inputs.shape}"
            )
        n_slots = self.params.shape[0]
        slot = img.neuron_slot
        rec = slot[img.recorded]
        u, v = self.u0.copy(), self.v0.copy()
        ref = np.zeros(n_slots, dtype=np.int64)
        a = np.zeros(n_slots, dtype=np.int64)
        spikes = np.zeros((ticks, slot.size), dtype=bool)
        u_tr = np.zeros((ticks, rec.size), dtype=np.int32)
        v_tr = np.zeros((ticks, rec.size), dtype=np.int32)
        acc_bits = self.chip.core.acc_bits
        for t in range(ticks):
            u, v, ref, spk = lif_update(u, v, ref, a, self.params)
            spikes[t] = spk[slot]
            u_tr[t], v_tr[t] = u[rec], v[rec]
            hit = np.concatenate([spk, inputs[t]])[self.pre]
            a = np.zeros(n_slots, dtype=np.int64)
            np.add.at(a, self.post[hit], self.wv[hit])
            a = wrap(a, acc_bits)
        return Result(
            spikes=spikes,
            inputs=inputs,
            recorded=img.recorded,
            u=u_tr,
            v=v_tr,
            final_u=u[slot].astype(np.int32),
            final_v=v[slot].astype(np.int32),
            backend="tlm",
            wall_time=time.perf_counter() - t0,
        )
