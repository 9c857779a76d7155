"""Random core images and the one-core Network equivalent to them (shared by tb/ and tests/).

The scenario is one core at tile ``TILE`` of a 2 x 2 chip. Its fan-out lists
point at random tiles; SPIKE flits addressed to its own tile are fed back to
its i_event in the same tick (a one-tile mesh), so recurrent synapses are
exercised. :func:`image_network` builds the Network the golden reference
runs for such an image:

- one population per contiguous block of neurons sharing a profile
  (the generator draws ``profile_idx`` in such blocks, in index order, so
  network neuron ids equal core neuron indices);
- one spike source ``axon`` of size ``axons``: source a = an input event on axon a;
- for every synapse k of axon a's row: a projection entry source a -> neuron
  ``syn_target[k]`` with weight ``syn_weight[k]``, exponent ``axon_exp[a]`` and delay
  ``axon_delay[a]``;
- for every own-tile fan-out entry (neuron i -> axon b): neuron i -> every
  synapse of row b, likewise.
"""

from __future__ import annotations

import numpy as np

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.coreimage import CoreImage
from spikemesh.network import Network

TILE = (1, 0)


def scenario_chip(core: CoreConfig) -> ChipConfig:
    return ChipConfig(width=2, height=2, core=core)


def random_image(
    chip: ChipConfig,
    rng: np.random.Generator,
    *,
    max_row=None,
    max_exp=3,
    fan_max=3,
    own_p=0.4,
    host_p=0.3,
    hazard_p=0.3,
    blocky=False,
) -> CoreImage:
    """A random, valid CoreImage for ``chip.core``.

    Rows are drawn with runs of equal targets (``hazard_p``) so that consecutive
    synapses hit the same accumulator; rows may overlap. ``blocky`` gives each
    block of 16 synapses one weight sign, so that sums grow large enough to wrap
    narrow accumulators.
    """
    c = chip.core
    n, a = c.neurons, c.axons
    max_row = max_row or min(16, c.synapses // 4)
    p = int(rng.integers(1, c.profiles + 1))
    prof = np.zeros((p, 7), dtype=np.int64)  # reset (column 6): zero
    prof[:, 0] = rng.integers(0, 4096, p)
    prof[:, 1] = rng.integers(0, 4096, p)
    prof[:, 2] = rng.integers(0, 3000, p)
    prof[:, 3] = rng.integers(-200, 400, p)
    prof[:, 4] = rng.integers(0, 8, p)
    prof[:, 5] = rng.integers(0, 4, p)
    if p > 1:
        prof[rng.integers(0, p), 5] = 0
    # contiguous profile blocks in index order
    cuts = np.sort(rng.choice(np.arange(1, n), size=p - 1, replace=False)) if p > 1 else []
    profile_idx = np.zeros(n, dtype=np.int64)
    for k, cut in enumerate(cuts):
        profile_idx[cut:] = k + 1
    u0 = rng.integers(-(1 << 20), 1 << 20, n)
    v0 = rng.integers(-(1 << 16), 1 << 18, n)
    # synapses: S entries, random targets with hazard runs
    s = int(rng.integers(c.synapses // 2, c.synapses + 1))
    tgt = rng.integers(0, n, s)
    for k in range(1, s):
        if rng.random() < hazard_p:
            tgt[k] = tgt[k - 1]
    w = rng.integers(-128, 128, s)
    if blocky:
        w = np.abs(w).clip(0, 127) * rng.choice([-1, 1], s // 16 + 1)[np.arange(s) // 16]
    axon_len = rng.integers(0, max_row + 1, a)
    axon_len[rng.random(a) < 0.1] = 0
    axon_len = np.minimum(axon_len, s)
    axon_base = np.array([int(rng.integers(0, s - ln + 1)) if ln else 0 for ln in axon_len])
    axon_exp = rng.integers(0, max_exp + 1, a)
    # fan-out
    fan_len = rng.integers(0, fan_max + 1, n)
    total = int(fan_len.sum())
    if total > c.fanout:
        fan_len = np.minimum(fan_len, c.fanout // n)
        total = int(fan_len.sum())
    fan_base = np.concatenate([[0], np.cumsum(fan_len)[:-1]]).astype(np.int64)
    fan_base[fan_len == 0] = 0
    own = rng.random(total) < own_p
    fan_x = np.where(own, TILE[0], rng.integers(0, chip.width, total))
    fan_y = np.where(own, TILE[1], rng.integers(0, chip.height, total))
    fan_axon = rng.integers(0, a, total)
    host_out = rng.random(n) < host_p
    # drawn last, and only with delays, so the images of a D = 1 core are the same as before
    axon_delay = rng.integers(1, c.max_delay + 1, a) if c.max_delay > 1 else None
    img = CoreImage(
        profiles=prof,
        profile_idx=profile_idx,
        u0=u0,
        v0=v0,
        axon_base=axon_base,
        axon_len=axon_len,
        axon_exp=axon_exp,
        syn_target=tgt,
        syn_weight=w,
        fan_base=fan_base,
        fan_len=fan_len,
        fan_x=fan_x,
        fan_y=fan_y,
        fan_axon=fan_axon,
        host_out=host_out,
        axon_delay=axon_delay,
    )
    img.check(chip)
    return img


def image_network(chip: ChipConfig, img: CoreImage) -> Network:
    """The one-core Network equivalent to ``img`` (see the module docstring)."""
    n = chip.core.neurons
    net = Network("core")
    blocks = []  # (name, start, stop)
    start = 0
    for i in range(1, n + 1):
        if i == n or img.profile_idx[i] != img.profile_idx[start]:
            prm = img.profiles[img.profile_idx[start]]
            name = f"p{len(blocks)}"
            net.population(
                name,
                i - start,
                du=int(prm[0]),
                dv=int(prm[1]),
                vth=int(prm[2]),
                bias_mant=int(prm[3]),
                bias_exp=int(prm[4]),
                refractory=int(prm[5]),
                u0=img.u0[start:i],
                v0=img.v0[start:i],
                record=True,
            )
            blocks.append((name, start, i))
            start = i
    net.source("axon", chip.core.axons, spikes=[])
    starts = np.array([b[1] for b in blocks])

    def where(i):
        k = int(np.searchsorted(starts, i, side="right") - 1)
        return blocks[k][0], i - blocks[k][1]

    groups = {}  # (pre name, post name, exp, delay) -> list of (i, j, w)

    def add_row(pre_name, pre_i, ax):
        e, d = int(img.axon_exp[ax]), int(img.axon_delay[ax])
        b = int(img.axon_base[ax])
        for k in range(b, b + int(img.axon_len[ax])):
            post, j = where(int(img.syn_target[k]))
            groups.setdefault((pre_name, post, e, d), []).append((pre_i, j, int(img.syn_weight[k])))

    for ax in range(chip.core.axons):
        add_row("axon", ax, ax)
    for i in range(n):
        b = int(img.fan_base[i])
        for k in range(b, b + int(img.fan_len[i])):
            if (int(img.fan_x[k]), int(img.fan_y[k])) == TILE:
                pre, pi = where(i)
                add_row(pre, pi, int(img.fan_axon[k]))
    for (pre, post, e, d), pairs in sorted(groups.items()):
        net.connect(pre, post, connectivity="explicit", pairs=pairs, weight_exp=e, delay=d)
    return net


def random_inputs(rng: np.random.Generator, ticks: int, axons: int, rate: float) -> np.ndarray:
    """Bool [ticks, axons]: host input events per tick."""
    return rng.random((ticks, axons)) < rate
