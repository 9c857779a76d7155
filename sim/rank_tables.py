"""One rank's tables in a distributed run (sim/distributed.py): its chips stacked into one
mesh, their fan-out entries split into those that stay and those other ranks need, and the
image walk (fan-out -> axon -> synapse row) that turns them into the kernel's CSR.

A rank's chips ``c0 .. c1 - 1`` are stacked into one mesh, chip ``c0 + j`` on rows
``j * height ..``, so that the walk kernels of firmware/_kernels.py, written for one chip,
address every tile of the rank with ``y * width + x``. A walk list is ``(rows, first row,
fan_base, fan_len, fan_x, fan_y, fan_axon)``, the arguments sim/chip.py::image_csr gives
those kernels per core.
"""

from __future__ import annotations

import numpy as np
from spikemesh.firmware import _kernels as K

from spikemesh.errors import ImageError

from .chip import _expand

__all__ = ["no_ghosts", "source_list", "split_entries", "stack_tables", "stacked_y", "walk"]


def no_ghosts():
    """Empty ghost tables: a rank alone receives no other rank's fan-out entries."""
    z = np.zeros(0, dtype=np.int64)
    return {
        "slot": z,
        "count": z,
        "x": np.zeros(0, np.uint8),
        "y": np.zeros(0, np.uint16),
        "axon": np.zeros(0, np.int32),
    }


def split_entries(img, ranges, rank_of_chip, rank, owned):
    """Cut this rank's chips' fan-out entries into walk lists for its own chips and, per
    other rank, the entries into that rank's chips (with the neurons' global slots).

    Chips are stacked into one mesh per rank (chip c0 + j at rows j * height ...), so an
    entry's y becomes ``y + height * (chip - c0 of the rank that owns it)``. An image this
    rank loaded itself (``owned``) gives up the tables it no longer needs as it goes.
    """
    s = img.system
    c0, c1 = ranges[rank]
    n_chip, h = s.chip.neurons, s.chip.height
    n_core = s.chip.core.neurons
    local, pairs = [], []
    remote = [{k: [] for k in ("slot", "count", "x", "y", "axon")} for _ in ranges]
    for j, c in enumerate(range(c0, c1)):
        ci, fc, f = img.chips[c], img.fan_chip[c], 0
        for t, core in enumerate(ci.cores):
            ent = fc[f : f + core.fan_x.size]
            f += core.fan_x.size
            row = j * n_chip + t * n_core
            ranks_e = rank_of_chip[ent]
            if ent.size == 0 or (ranks_e == rank).all():
                y = core.fan_y if (ent == c0).all() else stacked_y(core.fan_y, ent, h, c0)
                local.append(
                    (n_core, row, core.fan_base, core.fan_len, core.fan_x, y, core.fan_axon)
                )
                continue
            k, owner = _expand(core.fan_base, core.fan_len)
            rk = ranks_e[k]
            for r in np.unique(rk):
                m = rk == r
                kk, ow = k[m], owner[m]
                cnt = np.bincount(ow, minlength=n_core)
                y = stacked_y(core.fan_y[kk], ent[kk], h, ranges[r][0])
                if r == rank:
                    local.append(
                        (
                            n_core,
                            row,
                            np.cumsum(cnt) - cnt,
                            cnt,
                            core.fan_x[kk],
                            y,
                            core.fan_axon[kk],
                        )
                    )
                    continue
                nz = np.flatnonzero(cnt)
                out = remote[r]
                out["slot"].append(c0 * n_chip + row + nz)
                out["count"].append(cnt[nz])
                out["x"].append(core.fan_x[kk])
                out["y"].append(y)
                out["axon"].append(core.fan_axon[kk])
                pairs.append((row + nz, np.full(nz.size, r, dtype=np.int64)))
            if owned:  # copied out: an image this rank loaded gives up the core's tables
                core.fan_x = core.fan_y = core.fan_axon = None
        if owned:
            img.fan_chip[c] = None
    return local, remote, pairs


def stacked_y(y, chip, height, c0):
    """Row of an entry's tile in its rank's stacked mesh (chip c0 + j on rows j * height...)."""
    return (y + height * (chip.astype(np.int64) - c0)).astype(np.uint16)


def source_list(mine, c0, chips, height, row):
    """One walk list for the sources: each source's host entries into this rank's chips."""
    owners, xs, ys, axons = [], [], [], []
    s = mine[0].num_sources
    for ci, c in zip(mine, chips, strict=True):
        owners.append(np.repeat(np.arange(s), np.diff(ci.src_ptr)))
        xs.append(ci.src_x)
        ys.append(ci.src_y + height * (c - c0))
        axons.append(ci.src_axon)
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    cnt = np.bincount(owner, minlength=s)
    return (
        s,
        row,
        np.cumsum(cnt) - cnt,
        cnt,
        np.concatenate(xs)[order],
        np.concatenate(ys)[order],
        np.concatenate(axons)[order],
    )


def stack_tables(mine, core, owned):
    """The axon and synapse tables of this rank's chips as one flat set (chips stacked), the
    form the image walk reads. Images this rank loaded itself give up each core's tables as
    they are copied, so the copy never doubles them."""
    cores = [c for ci in mine for c in ci.cores]
    a = core.axons
    sizes = np.array([c.syn_target.size for c in cores], dtype=np.int64)
    flat = {
        "axon_base": np.empty(len(cores) * a, dtype=np.int32),
        "axon_len": np.empty(len(cores) * a, dtype=np.int32),
        "axon_exp": np.empty(len(cores) * a, dtype=np.uint8),
        "syn_target": np.empty(int(sizes.sum()), dtype=np.uint16),
        "syn_weight": np.empty(int(sizes.sum()), dtype=np.int8),
        "syn_off": np.cumsum(sizes) - sizes,
    }
    for t, c in enumerate(cores):
        if c.axon_delay is not None and np.any(c.axon_delay != 1):
            raise ImageError(
                "the distributed functional run has no synaptic delays yet: an image with "
                "delays above 1 runs on one process (backend tlm, tlm-timed, rtl)"
            )
        for name in ("axon_base", "axon_len", "axon_exp"):
            flat[name][t * a : (t + 1) * a] = getattr(c, name)
        o = flat["syn_off"][t]
        for name in ("syn_target", "syn_weight"):
            flat[name][o : o + sizes[t]] = getattr(c, name)
        if owned:
            c.axon_base = c.axon_len = c.axon_exp = c.syn_target = c.syn_weight = None
    return flat


def walk(lists, flat, width, n_axons, neurons, rows):
    """The image walk of sim/chip.py::image_csr over walk lists (rows, first row, fan-out
    tables): CSR rows of chip slots, ``w << axon exponent``."""
    counts = np.zeros(rows, dtype=np.int64)
    for m, row, fb, fl, fx, fy, fa in lists:
        if m:
            K.walk_count(m, width, 0, fb, fl, fx, fy, fa, flat["axon_len"], n_axons, counts, row)
    indptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    del counts
    n_slots = flat["axon_len"].size // n_axons * neurons
    post = np.empty(int(indptr[-1]), dtype=np.uint16 if n_slots <= 1 << 16 else np.uint32)
    weight = np.empty(int(indptr[-1]), dtype=np.int16)
    for m, row, fb, fl, fx, fy, fa in lists:
        if m:
            K.walk_fill(
                m,
                width,
                fb,
                fl,
                fx,
                fy,
                fa,
                flat["axon_base"],
                flat["axon_len"],
                flat["axon_exp"],
                flat["axon_exp"][:0],  # no delays: the distributed run refuses them (flat)
                n_axons,
                flat["syn_off"],
                flat["syn_target"],
                flat["syn_weight"],
                neurons,
                indptr,
                row,
                post,
                weight,
                weight[:0],
            )
    return indptr, post, weight
