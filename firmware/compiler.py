"""The network compiler: Network + ChipConfig -> ChipImage.

Placement is simple and deterministic: neurons in declaration order fill
tiles in row-major order (x fastest), ``neurons_per_core`` at a time
(default: as many as a core holds). docs/compiler.md says how it could be
improved (locality-aware placement to cut hops and axons).

Axons: every (presynaptic element, destination tile, weight exponent) group
with at least one synapse becomes one axon of the destination core, whose
synapse row holds that group's synapses. A neuron's fan-out list holds one
entry per such group; a spike source's list is kept host-side, since the host
injects input events as flits.

Everything is vectorised so that a million-neuron network compiles in
seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.coreimage import CoreImage
from spikemesh.errors import CompileError
from spikemesh.network import Network

from .image import ChipImage


@dataclass
class Utilization:
    """Per-core use of each resource (arrays indexed by tile = y * width + x)."""

    chip: ChipConfig
    neurons: np.ndarray
    axons: np.ndarray
    synapses: np.ndarray
    fanout: np.ndarray
    profiles: np.ndarray
    compile_time: float = 0.0

    RESOURCES = ("neurons", "axons", "synapses", "fanout", "profiles")

    def capacity(self, name) -> int:
        return getattr(self.chip.core, name)

    def report(self, max_rows: int = 32) -> str:
        """A text table: one row per used core (the busiest first when there are many), then totals."""
        c = self.chip
        head = f"{'core':>9} " + " ".join(f"{r:>17}" for r in self.RESOURCES)
        lines = [head]
        used = np.flatnonzero(self.neurons + self.axons)
        if used.size > max_rows:
            load = np.max(
                [getattr(self, r)[used] / self.capacity(r) for r in self.RESOURCES], axis=0
            )
            used = used[np.argsort(-load, kind="stable")[:max_rows]]
            lines[0] += (
                f"   ({max_rows} busiest of {np.count_nonzero(self.neurons + self.axons)} used cores)"
            )
        for t in used:
            cells = []
            for r in self.RESOURCES:
                v, cap = int(getattr(self, r)[t]), self.capacity(r)
                cells.append(f"{v:>7,}/{cap:<6,}{100 * v / cap:3.0f}%")
            lines.append(f"{f'({t % c.width},{t // c.width})':>9} " + " ".join(cells))
        tot = []
        for r in self.RESOURCES:
            v, cap = int(getattr(self, r).sum()), self.capacity(r) * c.tiles
            tot.append(f"{v:>9,}/{cap:<7,}")
        lines.append(f"{'total':>9} " + " ".join(f"{x:>17}" for x in tot))
        return "\n".join(lines)


def _tile_name(chip, t):
    return f"core ({int(t) % chip.width},{int(t) // chip.width})"


def _check_capacity(chip, counts, cap, what, unit):
    over = np.flatnonzero(counts > cap)
    if over.size:
        t = over[np.argmax(counts[over])]
        more = f" (and {over.size - 1} other core(s))" if over.size > 1 else ""
        raise CompileError(
            f"{_tile_name(chip, t)} needs {int(counts[t]):,} {unit}, the core holds {cap:,}{more}; "
            f"use a larger {what} or spread the network (neurons_per_core)"
        )


def compile_network(
    net: Network, chip: ChipConfig, *, neurons_per_core: int | None = None, host_outputs="all"
) -> tuple[ChipImage, Utilization]:
    """Compile ``net`` for ``chip``.

    Parameters
    ----------
    neurons_per_core : int, optional
        Place at most this many neurons on a core (default: the core's size).
    host_outputs : "all", "recorded", "none" or list of population names
        Which neurons send HOST_OUT flits to the host when they spike. The
        host sees the full spike raster only with "all".

    Raises
    ------
    CompileError
        When anything does not fit; the message says what, where and by how much.
    """
    t0 = time.perf_counter()
    core = chip.core
    n_net, n_src = net.num_neurons, net.num_sources
    npc = core.neurons if neurons_per_core is None else int(neurons_per_core)
    if not 1 <= npc <= core.neurons:
        raise CompileError(f"neurons_per_core must be between 1 and {core.neurons:,}, not {npc:,}")
    capacity = chip.tiles * npc
    if n_net > capacity:
        raise CompileError(
            f"the network has {n_net:,} neurons, the chip holds {capacity:,} "
            f"({chip.width} x {chip.height} cores x {npc:,} neurons); {n_net - capacity:,} do not fit"
        )

    # --- placement ---
    gid = np.arange(n_net, dtype=np.int64)
    tile_of = gid // npc
    idx_of = gid % npc
    slot_of = tile_of * core.neurons + idx_of  # chip-global neuron slot
    n_tiles = chip.tiles

    # --- synapses grouped into axons ---
    pre, post, w, e = net.synapse_arrays()
    ptile = tile_of[post]
    # accumulator worst case per target: every presynaptic element fires at once
    wv = (w << e).astype(np.float64)
    pos = np.bincount(post, weights=np.maximum(wv, 0), minlength=n_net)
    neg = np.bincount(post, weights=np.minimum(wv, 0), minlength=n_net)
    lo, hi = core.acc_range
    bad = np.flatnonzero((pos > hi) | (neg < lo))
    if bad.size:
        n = int(bad[0])
        pop = next(p for p in net.populations if p.offset <= n < p.offset + p.size)
        raise CompileError(
            f"neuron {n:,} ({pop.name}[{n - pop.offset}]) can receive a summed input of "
            f"{int(neg[n]):,}..{int(pos[n]):,} in one tick; the {core.acc_bits}-bit accumulator holds "
            f"{lo:,}..{hi:,} (raise core.acc_bits or reduce weights)"
        )
    # One int64 key orders synapses by (dest tile, pre, exponent, target): a
    # group of equal (tile, pre, exp) is one axon row, rows sorted by target.
    pre_bits = max(1, int(n_net + n_src).bit_length())
    nb = core.neuron_bits
    key = (((ptile << pre_bits) | pre) << 3 | e) << nb | idx_of[post]
    order = np.argsort(key, kind="stable")
    key_s = key[order]
    gkey = key_s >> nb
    new_group = np.ones(order.size, dtype=bool)
    new_group[1:] = gkey[1:] != gkey[:-1]
    gstart = np.flatnonzero(new_group)
    g_tile = ptile[order][gstart]
    g_pre = pre[order][gstart]
    g_exp = e[order][gstart]
    g_len = np.diff(np.append(gstart, order.size))
    # axon id = rank of the group within its destination tile
    t_first = np.searchsorted(g_tile, np.arange(n_tiles), side="left")
    g_axon = np.arange(g_tile.size) - t_first[g_tile]
    axons_per_tile = np.bincount(g_tile, minlength=n_tiles)
    syn_per_tile = np.bincount(ptile, minlength=n_tiles)
    _check_capacity(chip, axons_per_tile, core.axons, "core.axons", "axons")
    _check_capacity(chip, syn_per_tile, core.synapses, "core.synapses", "synapses")
    # synapse memory address of each group's row, within its tile
    s_first = np.searchsorted(ptile[order], np.arange(n_tiles), side="left")
    g_base = gstart - s_first[g_tile]

    # --- fan-out lists (groups whose presynaptic element is a neuron) ---
    is_n = g_pre < n_net
    f_idx = np.flatnonzero(is_n)
    src_tile = tile_of[g_pre[f_idx]]
    # order entries by (source tile, source neuron, dest tile, exp): stable on pre
    f_order = f_idx[np.lexsort((g_exp[f_idx], g_tile[f_idx], g_pre[f_idx], src_tile))]
    f_src_tile = tile_of[g_pre[f_order]]
    fan_per_tile = np.bincount(f_src_tile, minlength=n_tiles)
    _check_capacity(chip, fan_per_tile, core.fanout, "core.fanout", "fan-out entries")
    fan_first = np.searchsorted(f_src_tile, np.arange(n_tiles), side="left")
    fan_len_n = np.bincount(g_pre[f_order], minlength=n_net) if n_net else np.zeros(0, np.int64)
    fan_start_n = np.zeros(n_net, dtype=np.int64)
    if f_order.size:
        first_entry = np.searchsorted(g_pre[f_order], np.arange(n_net), side="left")
        fan_start_n = first_entry - fan_first[tile_of]

    # --- host outputs ---
    host_out = np.zeros(n_net, dtype=bool)
    if host_outputs == "all":
        host_out[:] = True
    elif host_outputs == "recorded":
        host_out[net.recorded()] = True
    elif host_outputs in ("none", None):
        pass
    else:
        for name in host_outputs:
            try:
                p = net[name]
            except KeyError:
                raise CompileError(
                    f"host_outputs names {name!r}, which is not a population"
                ) from None
            host_out[p.offset : p.offset + p.size] = True

    # --- per-core images ---
    params = net.neuron_params()
    u0, v0 = net.initial_state()
    syn_target_all = key_s & ((1 << nb) - 1)
    syn_weight_all = w[order]
    cores = []
    for t in range(n_tiles):
        img = CoreImage.empty(core)
        nsl = slice(int(t * npc), int(min((t + 1) * npc, n_net)))
        cnt = max(0, nsl.stop - nsl.start)
        if cnt:
            uniq, inv = np.unique(params[nsl], axis=0, return_inverse=True)
            if uniq.shape[0] > core.profiles:
                raise CompileError(
                    f"{_tile_name(chip, t)} needs {uniq.shape[0]} neuron profiles, the core holds "
                    f"{core.profiles}; raise core.profiles or place fewer populations per core"
                )
            img.profiles = uniq.astype(np.int64)
            img.profile_idx[:cnt] = inv.reshape(-1)
            img.u0[:cnt], img.v0[:cnt] = u0[nsl], v0[nsl]
            img.fan_base[:cnt] = fan_start_n[nsl]
            img.fan_len[:cnt] = fan_len_n[nsl]
            img.host_out[:cnt] = host_out[nsl]
        gs = slice(int(t_first[t]), int(t_first[t] + axons_per_tile[t]))
        na = gs.stop - gs.start
        img.axon_base[:na] = g_base[gs]
        img.axon_len[:na] = g_len[gs]
        img.axon_exp[:na] = g_exp[gs]
        ss = slice(int(s_first[t]), int(s_first[t] + syn_per_tile[t]))
        img.syn_target = syn_target_all[ss].astype(np.int64)
        img.syn_weight = syn_weight_all[ss].astype(np.int64)
        fs = f_order[int(fan_first[t]) : int(fan_first[t] + fan_per_tile[t])]
        img.fan_x = (g_tile[fs] % chip.width).astype(np.int64)
        img.fan_y = (g_tile[fs] // chip.width).astype(np.int64)
        img.fan_axon = g_axon[fs].astype(np.int64)
        cores.append(img)

    # --- host-side input table: source id -> (x, y, axon) entries ---
    s_idx = np.flatnonzero(~is_n)
    s_idx = s_idx[np.lexsort((g_exp[s_idx], g_tile[s_idx], g_pre[s_idx]))]
    src_of = g_pre[s_idx] - n_net
    src_ptr = np.zeros(n_src + 1, dtype=np.int64)
    np.cumsum(np.bincount(src_of, minlength=n_src), out=src_ptr[1:])
    image = ChipImage(
        chip=chip,
        cores=cores,
        neuron_slot=slot_of,
        src_ptr=src_ptr,
        src_x=(g_tile[s_idx] % chip.width).astype(np.int64),
        src_y=(g_tile[s_idx] // chip.width).astype(np.int64),
        src_axon=g_axon[s_idx].astype(np.int64),
        recorded=net.recorded(),
        population_names=[p.name for p in net.populations],
        population_offsets=np.array([p.offset for p in net.populations] + [n_net], dtype=np.int64),
        network_name=net.name,
    )
    profiles = np.array(
        [c.profiles.shape[0] if i * npc < n_net else 0 for i, c in enumerate(cores)]
    )
    util = Utilization(
        chip=chip,
        neurons=np.bincount(tile_of, minlength=n_tiles),
        axons=axons_per_tile,
        synapses=syn_per_tile,
        fanout=fan_per_tile,
        profiles=profiles,
        compile_time=time.perf_counter() - t0,
    )
    return image, util


def _pow2_at_least(n, lo):
    return max(lo, 1 << max(0, int(n - 1).bit_length()))


def auto_chip(net: Network, *, acc_bits: int = 24, core_neurons: int | None = None) -> ChipConfig:
    """The smallest chip of the usual shape that holds ``net``.

    Small networks get a 2 x 2 mesh with just enough neurons per core; large
    ones 1,024-neuron cores on a near-square mesh. Memory depths are the next
    powers of two of what the busiest core needs (found by compiling once
    with the largest depths).
    """
    n = max(1, net.num_neurons)
    if core_neurons is None:
        core_neurons = min(1024, _pow2_at_least(-(-n // 4), 16))
    tiles = -(-n // core_neurons)
    width = max(2, int(np.ceil(np.sqrt(tiles))))
    height = max(2, -(-tiles // width))
    if width > 64 or height > 64:
        raise CompileError(
            f"the network has {n:,} neurons; the largest chip (64 x 64 cores x "
            f"1,024 neurons) holds {64 * 64 * 1024:,}"
        )
    big = CoreConfig(
        neurons=core_neurons,
        axons=65536,
        synapses=1 << 20,
        fanout=1 << 20,
        profiles=16,
        acc_bits=acc_bits,
    )
    _, util = compile_network(net, ChipConfig(width=width, height=height, core=big))
    core = CoreConfig(
        neurons=core_neurons,
        axons=_pow2_at_least(int(util.axons.max()), 16),
        synapses=_pow2_at_least(int(util.synapses.max()), 16),
        fanout=_pow2_at_least(int(util.fanout.max()), 16),
        profiles=_pow2_at_least(int(util.profiles.max()), 1),
        acc_bits=acc_bits,
    )
    return ChipConfig(width=width, height=height, core=core)
