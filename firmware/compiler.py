"""The network compiler: Network + ChipConfig -> ChipImage.

Placement is simple and deterministic: neurons in declaration order fill
tiles in row-major order (x fastest), ``neurons_per_core`` at a time
(default: as many as a core holds). docs/compiler.md says how it could be
improved (locality-aware placement to cut hops and axons).

Axons: every (presynaptic element, destination tile, delay, weight exponent) group
with at least one synapse becomes one axon of the destination core, whose
synapse row holds that group's synapses (in network order). A neuron's fan-out list holds one
entry per such group; a spike source's list is kept host-side, since the host
injects input events as flits.

The heavy work is O(synapses) numba passes (firmware/_kernels.py) over
compact arrays, so a million-neuron network with 64 million synapses compiles
in seconds and a few GB.

The passes work on *tiles* numbered 0..n_tiles-1 and know nothing of a mesh's shape:
:func:`build_tables` places the neurons and fills every tile's tables,
:func:`slot_tables` and :func:`core_images` cut them into per-core images. A chip numbers
its tiles row-major; a multi-chip system (firmware/system.py) numbers them chip by chip
and runs the very same passes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from spikemesh.config import MAX_DELAYS, ChipConfig, CoreConfig
from spikemesh.coreimage import NPROF, CoreImage
from spikemesh.errors import CompileError
from spikemesh.faultroute import fault_routing
from spikemesh.faults import FaultMap
from spikemesh.network import Network

from . import _kernels as K
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
        """A text table: one row per used core (busiest first if there are many), then totals."""
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
                f"   ({max_rows} busiest of "
                f"{np.count_nonzero(self.neurons + self.axons)} used cores)"
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


def _check_capacity(tile_name, counts, cap, what, unit):
    over = np.flatnonzero(counts > cap)
    if over.size:
        t = over[np.argmax(counts[over])]
        more = f" (and {over.size - 1} other core(s))" if over.size > 1 else ""
        raise CompileError(
            f"{tile_name(t)} needs {int(counts[t]):,} {unit}, the core holds {cap:,}{more}; "
            f"use a larger {what} or spread the network (neurons_per_core)"
        )


def _profiles(net: Network):
    """Distinct parameter sets of the populations: (table [P, 7], id of each population).

    The columns are PROFILE_COLUMNS (the reset mode last, so tables without subtract-reset
    profiles sort exactly as before reset modes existed)."""
    if not net.populations:
        return np.zeros((0, NPROF), dtype=np.int64), np.zeros(0, dtype=np.int64)
    rows = np.array([p.params.profile_row() for p in net.populations], dtype=np.int64)
    table, inv = np.unique(rows, axis=0, return_inverse=True)
    return table, inv.reshape(-1)


def check_neurons_per_core(core: CoreConfig, n_tiles: int, n_net: int, npc, where: str) -> int:
    """Check ``neurons_per_core`` (default: a full core) and that ``n_net`` neurons fit.

    ``where`` describes the tiles for the message, e.g. ``"2 x 2 cores"``.
    """
    npc = core.neurons if npc is None else int(npc)
    if not 1 <= npc <= core.neurons:
        raise CompileError(f"neurons_per_core must be between 1 and {core.neurons:,}, not {npc:,}")
    capacity = n_tiles * npc
    if n_net > capacity:
        raise CompileError(
            f"the network has {n_net:,} neurons, the chip holds {capacity:,} "
            f"({where} x {npc:,} neurons); {n_net - capacity:,} do not fit"
        )
    return npc


@dataclass(eq=False)
class Tables:
    """Every tile's tables, flat and tile-major, as :func:`build_tables` fills them.

    Members
    -------
    npc : int
        Neurons placed per tile; neuron ``g`` sits on tile ``g // npc``, index ``g % npc``.
    tile_of, slot_of : int [N]
        Tile and slot (tile * core.neurons + index) of every network neuron.
    fan_ptr, fan_cnt : int [N + S + 1], [N + S]
        Fan-out entries of presynaptic element ``p`` are ``fan_ptr[p]:fan_ptr[p + 1]``, in
        (destination tile, exponent) order.
    fan_tile, fan_axon : int32
        Destination tile and axon of every fan-out entry.
    syn_start : int [n_tiles + 1]
        Tile t's synapses are ``syn_target/syn_weight[syn_start[t]:syn_start[t + 1]]``.
    axon_base, axon_len, axon_exp, axon_delay : [n_tiles * core.axons]
    axons_per_tile, syn_per_tile, fan_per_tile : int [n_tiles]
    """

    npc: int
    tile_of: np.ndarray
    slot_of: np.ndarray
    fan_ptr: np.ndarray
    fan_cnt: np.ndarray
    fan_tile: np.ndarray
    fan_axon: np.ndarray
    syn_start: np.ndarray
    syn_target: np.ndarray
    syn_weight: np.ndarray
    axon_base: np.ndarray
    axon_len: np.ndarray
    axon_exp: np.ndarray
    axon_delay: np.ndarray
    axons_per_tile: np.ndarray
    syn_per_tile: np.ndarray
    fan_per_tile: np.ndarray


def _check_accumulators(net, core, post, w, e):
    """Reject a network whose worst-case summed input of one tick does not fit the accumulator:
    every presynaptic element can fire in the same tick."""
    pos, neg = K.acc_bounds(post, w, e, net.num_neurons)
    lo, hi = core.acc_range
    bad = np.flatnonzero((pos > hi) | (neg < lo))
    if bad.size:
        n = int(bad[0])
        pop = next(p for p in net.populations if p.offset <= n < p.offset + p.size)
        raise CompileError(
            f"neuron {n:,} ({pop.name}[{n - pop.offset}]) can receive a summed input of "
            f"{int(neg[n]):,}..{int(pos[n]):,} in one tick; the {core.acc_bits}-bit accumulator "
            f"holds {lo:,}..{hi:,} (raise core.acc_bits or reduce weights)"
        )


def _check_delays(net, core):
    """Refuse a projection whose delay the chip cannot hold (more than core.max_delay)."""
    for p in net.projections:
        if p.delay > core.max_delay:
            raise CompileError(
                f"projection {p.pre!r} -> {p.post!r} has a delay of {p.delay} ticks; the chip's "
                f"longest delay is {core.max_delay} (core.max_delay; one of 1, 3, 7, 15)"
            )


def build_tables(net: Network, core: CoreConfig, n_tiles: int, npc: int, tile_name) -> Tables:
    """Place ``net`` on ``n_tiles`` tiles, ``npc`` neurons each in order, and fill every tile's
    axon, synapse and fan-out tables. ``tile_name(t)`` names tile t in error messages.

    Raises
    ------
    CompileError
        When a tile's axons, synapses or fan-out entries, or an accumulator, do not fit.
    """
    n_net, n_src = net.num_neurons, net.num_sources
    n_axons, n_pre = core.axons, n_net + n_src

    # --- placement: neurons in order fill tiles, npc at a time ---
    gid = np.arange(n_net, dtype=np.int64)
    tile_of = gid // npc
    slot_of = tile_of * core.neurons + gid % npc

    pre, post, w, e = net.synapse_arrays(compact=True)
    _check_accumulators(net, core, post, w, e)
    _check_delays(net, core)
    # The group key of a synapse: its delay and its exponent, (delay - 1) << 3 | exponent.
    key = e
    if net.max_delay > 1:
        key = (net.synapse_delays(compact=True) - 1) << 3 | e
    del e

    # --- synapses sorted by (dest tile, pre, key): each run is one axon's row ---
    perm = np.arange(pre.size, dtype=np.int32 if pre.size < 2**31 else np.int64)
    if pre.size and key.min() != key.max():
        perm = K.counting_sort(perm, key, 1, 8 * core.max_delay)
    perm = K.counting_sort(perm, pre, 1, max(1, n_pre))
    perm = K.counting_sort(perm, post, npc, n_tiles)
    axons_per_tile, fan_cnt = K.count_groups(perm, pre, post, key, npc, n_tiles, max(1, n_pre))
    syn_per_tile = (
        np.bincount(post // npc, minlength=n_tiles)
        if post.size
        else np.zeros(n_tiles, dtype=np.int64)
    )
    fan_per_tile = np.bincount(tile_of, weights=fan_cnt[:n_net], minlength=n_tiles).astype(np.int64)
    _check_capacity(tile_name, axons_per_tile, core.axons, "core.axons", "axons")
    _check_capacity(tile_name, syn_per_tile, core.synapses, "core.synapses", "synapses")
    _check_capacity(tile_name, fan_per_tile, core.fanout, "core.fanout", "fan-out entries")

    syn_start = np.zeros(n_tiles + 1, dtype=np.int64)
    np.cumsum(syn_per_tile, out=syn_start[1:])
    fan_ptr = np.zeros(n_pre + 1, dtype=np.int64)
    np.cumsum(fan_cnt[:n_pre], out=fan_ptr[1:])
    t = Tables(
        npc=npc,
        tile_of=tile_of,
        slot_of=slot_of,
        fan_ptr=fan_ptr,
        fan_cnt=fan_cnt,
        fan_tile=np.empty(int(fan_ptr[-1]), dtype=np.int32),
        fan_axon=np.empty(int(fan_ptr[-1]), dtype=np.int32),
        syn_start=syn_start,
        syn_target=np.empty(pre.size, dtype=np.uint16),
        syn_weight=np.empty(pre.size, dtype=np.int8),
        axon_base=np.zeros(n_tiles * n_axons, dtype=np.int32),
        axon_len=np.zeros(n_tiles * n_axons, dtype=np.int32),
        axon_exp=np.zeros(n_tiles * n_axons, dtype=np.uint8),
        axon_delay=np.ones(n_tiles * n_axons, dtype=np.uint8),
        axons_per_tile=axons_per_tile,
        syn_per_tile=syn_per_tile,
        fan_per_tile=fan_per_tile,
    )
    K.fill_tables(
        perm,
        pre,
        post,
        w,
        key,
        npc,
        n_axons,
        syn_start,
        fan_ptr,
        t.syn_target,
        t.syn_weight,
        t.axon_base,
        t.axon_len,
        t.axon_exp,
        t.axon_delay,
        t.fan_tile,
        t.fan_axon,
    )
    return t


def host_output_mask(net: Network, host_outputs) -> np.ndarray:
    """Which neurons send HOST_OUT flits: "all", "recorded", "none" or population names."""
    host_out = np.zeros(net.num_neurons, dtype=bool)
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
    return host_out


def slot_tables(net: Network, core: CoreConfig, t: Tables, n_tiles: int, host_out) -> dict:
    """Per-slot neuron tables over ``n_tiles * core.neurons`` slots (u0, v0, fan-out pointers
    relative to each core's fan-out memory, host-output flags), cut per core by
    :func:`core_images`."""
    n_net, n = net.num_neurons, core.neurons
    n_slots = n_tiles * n
    s = {
        "profile_idx": np.zeros(n_slots, dtype=np.uint8),
        "u0": np.zeros(n_slots, dtype=np.int32),
        "v0": np.zeros(n_slots, dtype=np.int32),
        "fan_base": np.zeros(n_slots, dtype=np.int32),
        "fan_len": np.zeros(n_slots, dtype=np.int32),
        "host_out": np.zeros(n_slots, dtype=bool),
    }
    u0, v0 = net.initial_state()
    s["u0"][t.slot_of], s["v0"][t.slot_of] = u0, v0
    del u0, v0
    core_fan_first = t.fan_ptr[np.minimum(np.arange(n_tiles) * t.npc, n_net)]
    s["fan_base"][t.slot_of] = t.fan_ptr[:n_net] - core_fan_first[t.tile_of]
    s["fan_len"][t.slot_of] = t.fan_cnt[:n_net]
    s["host_out"][t.slot_of] = host_out
    return s


def core_images(net, core, t: Tables, slots: dict, tiles, fan_x, fan_y, tile_name):
    """The CoreImage of every tile in ``tiles`` (views of the flat tables) and the number of
    profiles each uses. ``fan_x``/``fan_y`` are the destination coordinates of every fan-out
    entry, as the tiles' routers see them."""
    n_net, n, npc, n_axons = net.num_neurons, core.neurons, t.npc, core.axons
    prof_table, pop_prof = _profiles(net)
    sizes = np.array([p.size for p in net.populations], dtype=np.int64)
    neuron_prof = np.repeat(pop_prof, sizes) if sizes.size else np.zeros(0, dtype=np.int64)
    cores, profiles_used = [], np.zeros(len(tiles), dtype=np.int64)
    for k, tile in enumerate(tiles):
        lo_n, hi_n = min(tile * npc, n_net), min((tile + 1) * npc, n_net)
        sl = slice(tile * n, (tile + 1) * n)
        if hi_n > lo_n:
            used, local = np.unique(neuron_prof[lo_n:hi_n], return_inverse=True)
            if used.size > core.profiles:
                raise CompileError(
                    f"{tile_name(tile)} needs {used.size} neuron profiles, the core holds "
                    f"{core.profiles}; raise core.profiles or place fewer populations per core"
                )
            profiles = prof_table[used]
            slots["profile_idx"][tile * n : tile * n + hi_n - lo_n] = local.reshape(-1)
            profiles_used[k] = used.size
        else:
            profiles = CoreImage.empty_profiles()
        f0, f1 = int(t.fan_ptr[lo_n]), int(t.fan_ptr[hi_n])
        asl = slice(tile * n_axons, (tile + 1) * n_axons)
        ssl = slice(int(t.syn_start[tile]), int(t.syn_start[tile + 1]))
        cores.append(
            CoreImage(
                profiles=profiles,
                axon_base=t.axon_base[asl],
                axon_len=t.axon_len[asl],
                axon_exp=t.axon_exp[asl],
                axon_delay=t.axon_delay[asl],
                syn_target=t.syn_target[ssl],
                syn_weight=t.syn_weight[ssl],
                fan_x=fan_x[f0:f1],
                fan_y=fan_y[f0:f1],
                fan_axon=t.fan_axon[f0:f1],
                **{k: v[sl] for k, v in slots.items()},
            )
        )
    return cores, profiles_used


def population_info(net: Network):
    """(names, offsets [P + 1]) of the populations, for mapping results back."""
    names = [p.name for p in net.populations]
    offsets = np.array([p.offset for p in net.populations] + [net.num_neurons], dtype=np.int64)
    return names, offsets


def compile_network(
    net: Network,
    chip: ChipConfig,
    *,
    neurons_per_core: int | None = None,
    host_outputs="all",
    faults: FaultMap | None = None,
) -> tuple[ChipImage, Utilization]:
    """Compile ``net`` for ``chip``.

    Parameters
    ----------
    neurons_per_core : int, optional
        Place at most this many neurons on a core (default: the core's size).
    host_outputs : "all", "recorded", "none" or list of population names
        Which neurons send HOST_OUT flits to the host when they spike. The
        host sees the full spike raster only with "all".
    faults : FaultMap, optional
        Dead links, routers and cores (spikemesh/faults.py). Neurons are placed on live
        cores only (in row-major order, skipping dead ones), and with dead links or routers
        the image carries route tables around them (docs/noc.md, "Faults"). Without a map
        (or with an empty one) the image is exactly the fault-free one (XY routing).

    Raises
    ------
    CompileError
        When anything does not fit, or the faults cut tiles off (named); the message says
        what, where and by how much.
    """
    t0 = time.perf_counter()
    if net.plastic:
        names = [f"{p.pre!r} -> {p.post!r}" for p in net.projections if p.plasticity is not None]
        raise CompileError(
            f"the network has plastic projections ({', '.join(names[:3])}); chip images carry "
            "no learning profiles yet, so plasticity runs on golden and -b tlm only so far "
            "(docs/learning.md)"
        )
    core, n_net = chip.core, net.num_neurons
    routing = None
    if faults is not None:
        if not isinstance(faults, FaultMap):
            raise TypeError(f"faults must be a FaultMap, not {faults!r}")
        faults.check_chip(chip)
        if faults.empty:
            faults = None
        elif faults.channels:
            routing = fault_routing(chip, faults)
    live = np.arange(chip.tiles) if faults is None else np.array(faults.live_tiles())
    n_tiles = live.size  # placement works on the live tiles, numbered 0..n_tiles - 1
    where = f"{chip.width} x {chip.height} cores"
    if faults is not None:
        where = f"{n_tiles} live of {where}"
    npc = check_neurons_per_core(core, n_tiles, n_net, neurons_per_core, where)
    host_out = host_output_mask(net, host_outputs)
    tile_name = lambda t: _tile_name(chip, live[t])
    t = build_tables(net, core, n_tiles, npc, tile_name)
    phys_tile = live[t.fan_tile] if faults is not None else t.fan_tile
    fan_x = (phys_tile % chip.width).astype(np.uint8)
    fan_y = (phys_tile // chip.width).astype(np.uint8)
    slots = slot_tables(net, core, t, n_tiles, host_out)
    cores, profiles_used = core_images(net, core, t, slots, range(n_tiles), fan_x, fan_y, tile_name)
    if faults is not None:
        return _faulty_image(
            net, chip, t, cores, profiles_used, live, fan_x, fan_y, faults, routing, t0
        )

    image = ChipImage(
        chip=chip, cores=cores, neuron_slot=t.slot_of, **_host_side(net, t, fan_x, fan_y)
    )
    # The per-core tables are views of these; the image walk uses them without copying.
    image.set_flat_tables(
        axon_base=t.axon_base,
        axon_len=t.axon_len,
        axon_exp=t.axon_exp,
        axon_delay=t.axon_delay,
        syn_target=t.syn_target,
        syn_weight=t.syn_weight,
        syn_off=t.syn_start[:-1],
    )
    util = Utilization(
        chip=chip,
        neurons=np.bincount(t.tile_of, minlength=n_tiles),
        axons=t.axons_per_tile,
        synapses=t.syn_per_tile,
        fanout=t.fan_per_tile,
        profiles=profiles_used,
        compile_time=time.perf_counter() - t0,
    )
    return image, util


def _host_side(net, t, fan_x, fan_y) -> dict:
    """The image's host-side fields: the input table (source s -> (x, y, axon) entries, the
    fan-out entries after the network's neurons') and the names of what is recorded."""
    n_net = net.num_neurons
    s0 = int(t.fan_ptr[n_net])
    names, offsets = population_info(net)
    return dict(
        src_ptr=t.fan_ptr[n_net:] - s0,
        src_x=fan_x[s0:].astype(np.int64),
        src_y=fan_y[s0:].astype(np.int64),
        src_axon=t.fan_axon[s0:].astype(np.int64),
        recorded=net.recorded(),
        population_names=names,
        population_offsets=offsets,
        network_name=net.name,
    )


def _faulty_image(net, chip, t, cores, profiles_used, live, fan_x, fan_y, faults, routing, t0):
    """The image of a network placed on the live tiles ``live`` (tables built on live
    tile numbers 0..len(live) - 1, moved to their physical tiles here)."""
    core, n_net = chip.core, net.num_neurons
    phys = [CoreImage.empty(core) for _ in range(chip.tiles)]
    for v, img in enumerate(cores):
        phys[live[v]] = img
    tile_of = live[t.tile_of]
    image = ChipImage(
        chip=chip,
        cores=phys,
        neuron_slot=tile_of * core.neurons + np.arange(n_net) % t.npc,
        **_host_side(net, t, fan_x, fan_y),
        faults=faults,
        routing=routing,
    )

    def scatter(a):
        out = np.zeros(chip.tiles, dtype=np.int64)
        out[live] = a
        return out

    util = Utilization(
        chip=chip,
        neurons=np.bincount(tile_of, minlength=chip.tiles),
        axons=scatter(t.axons_per_tile),
        synapses=scatter(t.syn_per_tile),
        fanout=scatter(t.fan_per_tile),
        profiles=scatter(profiles_used),
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
    with the largest depths); ``max_delay`` is the smallest of 1, 3, 7, 15 that holds the
    network's longest delay.
    """
    n = max(1, net.num_neurons)
    max_delay = next(d for d in MAX_DELAYS if d >= net.max_delay)
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
        max_delay=max_delay,
    )
    _, util = compile_network(net, ChipConfig(width=width, height=height, core=big))
    core = CoreConfig(
        neurons=core_neurons,
        axons=_pow2_at_least(int(util.axons.max()), 16),
        synapses=_pow2_at_least(int(util.synapses.max()), 16),
        fanout=_pow2_at_least(int(util.fanout.max()), 16),
        profiles=_pow2_at_least(int(util.profiles.max()), 1),
        acc_bits=acc_bits,
        max_delay=max_delay,
    )
    return ChipConfig(width=width, height=height, core=core)
