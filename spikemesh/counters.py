"""Activity counters: what the chip does in every tick, counted as the hardware counts it.

docs/counters.md is the specification; :data:`COUNTERS` is its table in code (names, block,
width, timing-free or not), so the RTL, the models and the docs share one list.

The timing-free counters follow from the compiled image and the spikes alone, because every
event of tick t (spikes emitted in t, host inputs stamped t, their flits, their synaptic
operations) completes inside tick t (chip.md §2), and every flit follows a fixed XY route:

- :func:`counters_from_image` walks the image's tables exactly as the hardware does: a spike
  walks its neuron's fan-out list to (tile, axon) entries, one flit each, plus a HOST_OUT flit
  for an output neuron; each flit follows the route of docs/noc.md from its source tile to its
  destination; each axon event walks its synapse row (one SOP per synapse). Host inputs walk
  the host-side input table and enter the mesh at (0, 0)'s West input.
- :func:`counters_from_network` derives the same fan-out from the network itself (every
  (presynaptic element, destination tile, weight exponent) group is one flit and one axon
  event; its synapses are its SOPs), with only the placement and the host outputs taken from
  the image. Golden results get their counters this way.

Both end in one vectorised pass over the fired (tick, element) pairs: the route of every
(source tile, destination) pair is added to the per-port counts with difference arrays along
the row (X phase) and the column (Y phase), so a 4,096-neuron, 1,000-tick run takes well under
a second. The timing-dependent counters (cycles per tick, router input blocked cycles) come from
the timed models when they provide them (``Result.cycles``, ``Result.extra["router_blocked"]``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from .config import ChipConfig
from .errors import SpikemeshError

# Router ports in the order of ``rtl.router.Port`` (LOCAL, NORTH, EAST, SOUTH, WEST).
PORTS = ("L", "N", "E", "S", "W")
LOCAL, NORTH, EAST, SOUTH, WEST = range(5)

# Width of every cumulative hardware counter. Each increments at most once per clock cycle
# (one SOP, one neuron, one flit per port, one blocked cycle per input per cycle), so it
# cannot wrap within 2**40 cycles: 12.2 hours at the boards' 25 MHz clock, 4.3 hours at the
# best measured Fmax (71.6 MHz, docs/boards.md). docs/counters.md gives the tick bounds.
COUNTER_BITS = 40


class CounterError(SpikemeshError, ValueError):
    """Counters asked of a result that does not belong to the image, or compared wrongly."""


@dataclass(frozen=True)
class CounterSpec:
    """One counter of docs/counters.md."""

    name: str
    block: str  # "core", "router", "host link" or "chip"
    shape: str  # per tick: "[T, tiles]", "[T, tiles, 5]" or "[T]"
    timing_free: bool
    increments: str
    bits: int = COUNTER_BITS


_CORE, _PORT = "[T, tiles]", "[T, tiles, 5]"
COUNTERS = tuple(
    CounterSpec(*row)
    for row in (
        ("neuron_updates", "core", _CORE, True,
         "once per neuron slot per tick: the update loop writes a neuron's state back (U5); "
         "all `core.neurons` slots, placed or not"),
        ("spikes", "core", _CORE, True,
         "once per neuron whose update spikes (U5 with spike), whatever its fan-out"),
        ("flits_injected", "core", _CORE, True,
         "once per flit the core hands to its router (o_flit valid & ready): one per fan-out "
         "entry of a spiking neuron, plus one HOST_OUT flit if it is an output neuron"),
        ("host_flits", "core", _CORE, True, "once per HOST_OUT flit among flits_injected"),
        ("events", "core", _CORE, True,
         "once per axon event the core accepts (i_event valid & ready) = flits ejected to it"),
        ("sops", "core", _CORE, True,
         "once per synapse accumulated (S2 writes acc): the length of each event's axon row"),
        ("forwarded", "router", _PORT, True,
         "once per flit leaving the router by output port L, N, E, S or W (o[p] valid & "
         "ready); N/E/S/W are the flit-hops of the link leaving that port"),
        ("host_injected", "host link", "[T]", True,
         "once per input flit the host link injects into (0, 0)'s West input (INPUT command)"),
        ("cycles", "chip", "[T]", False,
         "once per clock cycle while a tick runs (from the tick's start to its TICK_DONE)"),
        ("router_blocked", "router", _PORT, False,
         "once per cycle in which router input q is offered a flit it cannot take "
         "(i[q] valid & ~ready): backpressure, input ports L, N, E, S, W"),
    )
)  # fmt: skip
# --- The hardware's registers (ChipConfig.counter_bits > 0), read with READ_COUNTER ---
# One index per register (the host link's READ_COUNTER ``arg``, docs/hostlink.md): indices
# 0..15 name a register of the addressed tile, 16 and 17 the chip's own (any tile inside the
# mesh reads them). Cumulative since RESET; per-tick values are differences of readings.
HW_TILE_REGISTERS = (
    ("neuron_updates", None),
    ("spikes", None),
    ("flits_injected", None),
    ("host_flits", None),
    ("events", None),
    ("sops", None),
    *(("forwarded", p) for p in range(len(PORTS))),
    *(("router_blocked", p) for p in range(len(PORTS))),
)
# "cycles": the sum of the TICK_DONE cycle counts of every tick ended since RESET
HW_CHIP_REGISTERS = (("host_injected", None), ("cycles", None))
HW_REGISTERS = HW_TILE_REGISTERS + HW_CHIP_REGISTERS
HW_TILE_COUNT = len(HW_TILE_REGISTERS)  # 16
HW_INDEXES = len(HW_REGISTERS)  # 18: READ_COUNTER's arg is below this


def hw_index(name: str, port: int | None = None) -> int:
    """READ_COUNTER index of counter ``name`` (``port`` 0..4 for the router's ones)."""
    try:
        return HW_REGISTERS.index((name, port))
    except ValueError:
        raise CounterError(f"no hardware counter {name!r} with port {port!r}") from None


SPECS = {s.name: s for s in COUNTERS}
TIMING_FREE = tuple(s.name for s in COUNTERS if s.timing_free)
TIMING_DEPENDENT = tuple(s.name for s in COUNTERS if not s.timing_free)


@dataclass(eq=False)
class Counters:
    """Per-tick activity counters of one run (numpy int64 arrays, tick-major).

    Members
    -------
    chip : ChipConfig
    neuron_updates, spikes, flits_injected, host_flits, events, sops : int64 [T, tiles]
        Per core (tile = y * width + x).
    forwarded : int64 [T, tiles, 5]
        Per router output port, in :data:`PORTS` order.
    host_injected : int64 [T]
    cycles : int64 [T] or None
        Timing-dependent: cycles per tick (timed models and RTL only).
    router_blocked : int64 [T, tiles, 5] or None
        Timing-dependent: per router input port (timed models and RTL, once they count it).
    source : str
        "image" or "network": which walk produced the timing-free counters.
    """

    chip: ChipConfig
    neuron_updates: np.ndarray
    spikes: np.ndarray
    flits_injected: np.ndarray
    host_flits: np.ndarray
    events: np.ndarray
    sops: np.ndarray
    forwarded: np.ndarray
    host_injected: np.ndarray
    cycles: np.ndarray | None = None
    router_blocked: np.ndarray | None = None
    source: str = "image"
    extra: dict = field(default_factory=dict)

    @property
    def ticks(self) -> int:
        return int(self.sops.shape[0])

    @property
    def tiles(self) -> int:
        return int(self.sops.shape[1])

    @property
    def flits_ejected(self) -> np.ndarray:
        """[T, tiles] flits each router delivers to its core (= its Local output)."""
        return self.forwarded[:, :, LOCAL]

    @property
    def host_received(self) -> np.ndarray:
        """[T] flits the host link receives (router (0, 0)'s West output)."""
        return self.forwarded[:, 0, WEST]

    @property
    def hops_ew(self) -> np.ndarray:
        """[T] flit-hops over East-West links (the host link's West hop included)."""
        return self.forwarded[:, :, EAST].sum(axis=1) + self.forwarded[:, :, WEST].sum(axis=1)

    @property
    def hops_ns(self) -> np.ndarray:
        """[T] flit-hops over North-South links."""
        return self.forwarded[:, :, NORTH].sum(axis=1) + self.forwarded[:, :, SOUTH].sum(axis=1)

    @property
    def flit_hops(self) -> np.ndarray:
        """[T] flit-hops over every link (router outputs N, E, S, W)."""
        return self.hops_ew + self.hops_ns

    def link_loads(self) -> np.ndarray:
        """int64 [tiles, 5]: flits per router output port over the whole run."""
        return self.forwarded.sum(axis=0)

    def per_tick(self, name: str) -> np.ndarray:
        """[T] chip-wide total of a per-core or per-port counter (or a [T] one as is)."""
        arr = getattr(self, name)
        if arr is None:
            raise CounterError(f"{name} is timing-dependent and this run has none")
        return arr.reshape(arr.shape[0], -1).sum(axis=1) if arr.ndim > 1 else arr

    def totals(self) -> dict:
        """Chip-wide totals over the run (ints; None for a missing timing-dependent counter)."""
        out = {}
        for spec in COUNTERS:
            arr = getattr(self, spec.name)
            out[spec.name] = None if arr is None else int(arr.sum())
        out["flits_ejected"] = int(self.flits_ejected.sum())
        out["flit_hops"] = int(self.flit_hops.sum())
        out["hops_ew"] = int(self.hops_ew.sum())
        out["hops_ns"] = int(self.hops_ns.sum())
        return out

    def to_dict(self, *, per_tick: bool = True) -> dict:
        """JSON-serialisable form: totals, per core and per router port totals, per-tick sums."""
        c = self.chip
        tiles = [(t % c.width, t // c.width) for t in range(self.tiles)]
        per_core = {
            name: getattr(self, name).sum(axis=0).tolist()
            for name in ("neuron_updates", "spikes", "flits_injected", "host_flits", "events")
        }
        per_core["sops"] = self.sops.sum(axis=0).tolist()
        out = {
            "source": self.source,
            "ticks": self.ticks,
            "tiles": [list(t) for t in tiles],
            "ports": list(PORTS),
            "totals": self.totals(),
            "per_core": per_core,
            "forwarded": self.link_loads().tolist(),
            "router_blocked": (
                None if self.router_blocked is None else self.router_blocked.sum(axis=0).tolist()
            ),
            "counter_bits": COUNTER_BITS,
        }
        if per_tick:
            out["per_tick"] = {
                name: self.per_tick(name).tolist()
                for name in (
                    "spikes",
                    "flits_injected",
                    "events",
                    "sops",
                    "host_injected",
                )
            }
            out["per_tick"]["flit_hops"] = self.flit_hops.tolist()
            out["per_tick"]["cycles"] = None if self.cycles is None else self.cycles.tolist()
        return out

    def diff(self, other: Counters, *, timing: bool = False) -> list[str]:
        """Human-readable differences (empty when equal), first differing tick and tile first.

        The timing-free counters are always compared; with ``timing=True`` also the
        timing-dependent ones that both sides have.
        """
        names = TIMING_FREE + (TIMING_DEPENDENT if timing else ())
        out = []
        for name in names:
            a, b = getattr(self, name), getattr(other, name)
            if a is None or b is None:
                continue
            if a.shape != b.shape:
                out.append(f"{name}: shape {a.shape} vs {b.shape}")
                continue
            bad = np.argwhere(a != b)
            if bad.size:
                first = tuple(int(i) for i in bad[0])
                where = f"tick {first[0]}"
                if len(first) > 1:
                    t = first[1]
                    where += f", tile ({t % self.chip.width},{t // self.chip.width})"
                if len(first) > 2:
                    where += f", port {PORTS[first[2]]}"
                out.append(
                    f"{name} differs in {len(bad)} place(s); first at {where}: "
                    f"{int(a[first])} vs {int(b[first])}"
                )
        return out


# --- the fan-out of every element, as (destination, flits, SOPs) pairs --------------------


@dataclass
class FanoutTable:
    """What one firing of each element (neuron slot or input source) puts on the chip.

    Elements are chip slots ``0 .. tiles * N - 1`` then sources ``tiles * N + s``. Element e's
    pairs ``ptr[e] .. ptr[e + 1] - 1`` give a destination (a tile, or ``tiles`` for the host),
    the flits it sends there, and the SOPs those flits cause there.
    """

    chip: ChipConfig
    src_tile: np.ndarray  # [E] tile of the element, -1 for an input source (the host)
    ptr: np.ndarray  # [E + 1]
    dest: np.ndarray  # [P]
    flits: np.ndarray  # [P]
    sops: np.ndarray  # [P]
    host_out: np.ndarray  # [tiles * N] bool

    @property
    def elem_flits(self) -> np.ndarray:
        """[E] flits one firing of each element sends (fan-out entries + HOST_OUT)."""
        n_elem = self.ptr.size - 1
        owner = np.repeat(np.arange(n_elem, dtype=np.int64), np.diff(self.ptr))
        return np.bincount(owner, weights=self.flits, minlength=n_elem).astype(np.int64)


def _expand(base, length):
    """Indices base[i] .. base[i] + length[i] - 1 for every i, and the owner i of each."""
    length = np.asarray(length, dtype=np.int64)
    owner = np.repeat(np.arange(length.size, dtype=np.int64), length)
    if owner.size == 0:
        return np.zeros(0, dtype=np.int64), owner
    first = np.cumsum(length) - length
    idx = np.asarray(base, dtype=np.int64)[owner] + np.arange(owner.size) - first[owner]
    return idx, owner


def _pairs(chip, n_elem, elem, dest, sops, src_tile, host_out):
    """Aggregate (element, destination, SOPs) entries into a FanoutTable (one row per pair)."""
    k = chip.tiles + 1
    key = elem.astype(np.int64) * k + dest.astype(np.int64)
    uniq, inv = np.unique(key, return_inverse=True)
    inv = inv.reshape(-1)
    flits = np.bincount(inv, minlength=uniq.size).astype(np.int64)
    sop = np.bincount(inv, weights=sops, minlength=uniq.size).astype(np.int64)
    ptr = np.zeros(n_elem + 1, dtype=np.int64)
    np.cumsum(np.bincount(uniq // k, minlength=n_elem), out=ptr[1:])
    return FanoutTable(chip, src_tile, ptr, uniq % k, flits, sop, host_out)


def _element_tiles(chip, n_sources):
    n = chip.core.neurons
    return np.concatenate(
        [np.arange(chip.tiles * n, dtype=np.int64) // n, np.full(n_sources, -1, dtype=np.int64)]
    )


def _host_entries(chip, host_out):
    """(element, dest = host, sops = 0) entries of the output neurons' HOST_OUT flits."""
    slots = np.flatnonzero(host_out)
    return slots, np.full(slots.size, chip.tiles, dtype=np.int64), np.zeros(slots.size)


def fanout_from_image(image) -> FanoutTable:
    """Walk the image's fan-out lists and input table to (tile, axon), and each axon's row."""
    chip = image.chip
    n, width, a = chip.core.neurons, chip.width, chip.core.axons
    axon_len = np.concatenate([np.asarray(c.axon_len, dtype=np.int64) for c in image.cores])
    host_out = np.concatenate([np.asarray(c.host_out, dtype=bool) for c in image.cores])
    elems, dests, sops = [], [], []
    for t, core in enumerate(image.cores):
        k, i = _expand(core.fan_base, core.fan_len)
        d = np.asarray(core.fan_y, dtype=np.int64)[k] * width + np.asarray(core.fan_x)[k]
        elems.append(t * n + i)
        dests.append(d)
        sops.append(axon_len[d * a + np.asarray(core.fan_axon, dtype=np.int64)[k]])
    k, s = _expand(image.src_ptr[:-1], np.diff(image.src_ptr))
    d = np.asarray(image.src_y, dtype=np.int64)[k] * width + np.asarray(image.src_x)[k]
    elems.append(chip.tiles * n + s)
    dests.append(d)
    sops.append(axon_len[d * a + np.asarray(image.src_axon, dtype=np.int64)[k]])
    he, hd, hs = _host_entries(chip, host_out)
    elems.append(he)
    dests.append(hd)
    sops.append(hs)
    n_elem = chip.tiles * n + image.num_sources
    return _pairs(
        chip,
        n_elem,
        np.concatenate(elems),
        np.concatenate(dests),
        np.concatenate(sops).astype(np.float64),
        _element_tiles(chip, image.num_sources),
        host_out,
    )


def fanout_from_network(net, image) -> FanoutTable:
    """The same table from the network's synapses, with the image's placement and host outputs.

    Every (presynaptic element, destination tile, weight exponent) group with at least one
    synapse is one axon: one flit and one event per firing, its synapses its SOPs
    (docs/compiler.md). Nothing but ``neuron_slot`` and ``host_out`` is read from the image.
    """
    chip = image.chip
    n = chip.core.neurons
    if net.num_neurons != image.num_neurons or net.num_sources != image.num_sources:
        raise CounterError(
            f"the network has {net.num_neurons:,} neurons and {net.num_sources:,} sources, "
            f"the image {image.num_neurons:,} and {image.num_sources:,}: not its image"
        )
    pre, post, _w, e = net.synapse_arrays()
    slot = np.asarray(image.neuron_slot, dtype=np.int64)
    n_net = net.num_neurons
    # presynaptic element: a neuron's chip slot, or tiles * N + source
    pre_elem = np.where(pre < n_net, slot[np.minimum(pre, max(n_net - 1, 0))], 0)
    pre_elem = np.where(pre < n_net, pre_elem, chip.tiles * n + (pre - n_net))
    dest = slot[post] // n if post.size else np.zeros(0, dtype=np.int64)
    group = (pre_elem * (chip.tiles + 1) + dest) * 8 + e
    uniq, count = np.unique(group, return_counts=True)
    g_elem = uniq // 8 // (chip.tiles + 1)
    g_dest = uniq // 8 % (chip.tiles + 1)
    host_out = np.concatenate([np.asarray(c.host_out, dtype=bool) for c in image.cores])
    he, hd, hs = _host_entries(chip, host_out)
    return _pairs(
        chip,
        chip.tiles * n + net.num_sources,
        np.concatenate([g_elem, he]),
        np.concatenate([g_dest, hd]),
        np.concatenate([count.astype(np.float64), hs]),
        _element_tiles(chip, net.num_sources),
        host_out,
    )


# --- one pass over the fired (tick, element) pairs ------------------------------------------

# Backends whose spike raster comes back over the host link: only output neurons are seen.
HOST_LINK_BACKENDS = ("tlm-timed", "tlm-cycle", "rtl")

# Items (fired element x destination) handled per chunk of ticks: bounds the temporaries.
_CHUNK_ITEMS = 4_000_000


def _route_counts(chip, ticks, t, src, dst, f):
    """int64 [ticks, tiles, 5]: forwarded flits per router output port for flows
    (tick t, source tile src (-1 = host), destination dst (tiles = host), flits f).

    XY routing (docs/noc.md): along the source row to the destination column (E or W), along
    that column to the destination row (N or S), then out of LOCAL. A host-bound flit routes
    to (0, 0) and leaves by WEST; a host input enters (0, 0)'s West input, so it routes as if
    it came from tile (0, 0). Each phase is an interval on a row or column: +f at its first
    router, -f after its last, then a cumulative sum.
    """
    w, h, k = chip.width, chip.height, chip.tiles
    out = np.zeros((ticks, k, 5), dtype=np.int64)
    host = dst == k
    s = np.where(src < 0, 0, src)
    d = np.where(host, 0, dst)
    sx, sy, dx, dy = s % w, s // w, d % w, d // w

    def interval(mask, line, lo, hi, n_line, n_pos):
        """Sum over flows of f on positions lo..hi-1 of line ``line`` -> [ticks, n_line, n_pos]."""
        size = ticks * n_line * (n_pos + 1)
        base = (t[mask] * n_line + line[mask]) * (n_pos + 1)
        fm = f[mask]
        acc = np.bincount(base + lo[mask], weights=fm, minlength=size)
        acc -= np.bincount(base + hi[mask], weights=fm, minlength=size)
        return np.cumsum(acc.reshape(ticks, n_line, n_pos + 1), axis=2)[:, :, :n_pos]

    # X phase on row sy: routers sx..dx-1 forward EAST, routers dx+1..sx forward WEST.
    east = interval(dx > sx, sy, sx, dx, h, w)  # [ticks, row y, column x]
    west = interval(dx < sx, sy, dx + 1, sx + 1, h, w)
    # Y phase on column dx: routers sy..dy-1 forward NORTH, routers dy+1..sy forward SOUTH.
    north = interval(dy > sy, dx, sy, dy, w, h)  # [ticks, column x, row y]
    south = interval(dy < sy, dx, dy + 1, sy + 1, w, h)
    out[:, :, EAST] = np.rint(east).astype(np.int64).reshape(ticks, k)
    out[:, :, WEST] = np.rint(west).astype(np.int64).reshape(ticks, k)
    out[:, :, NORTH] = np.rint(north).astype(np.int64).transpose(0, 2, 1).reshape(ticks, k)
    out[:, :, SOUTH] = np.rint(south).astype(np.int64).transpose(0, 2, 1).reshape(ticks, k)
    loc = np.bincount(t[~host] * k + dst[~host], weights=f[~host], minlength=ticks * k)
    out[:, :, LOCAL] = np.rint(loc).astype(np.int64).reshape(ticks, k)
    out[:, 0, WEST] += np.rint(np.bincount(t[host], weights=f[host], minlength=ticks)).astype(
        np.int64
    )
    return out


def count(table: FanoutTable, ticks: int, ft: np.ndarray, fe: np.ndarray) -> Counters:
    """Counters of a run from a fan-out table and its fired elements.

    Parameters
    ----------
    ticks : int
    ft, fe : int arrays
        Every firing: the tick (sorted ascending) and the element (a chip slot, or
        ``tiles * N + source`` for an input).
    """
    chip = table.chip
    k, n = chip.tiles, chip.core.neurons
    ft, fe = np.asarray(ft, dtype=np.int64), np.asarray(fe, dtype=np.int64)
    is_slot = fe < k * n
    tile = np.where(is_slot, fe // n, 0)
    elem_flits = table.elem_flits
    host_out = np.concatenate([table.host_out, np.zeros(table.ptr.size - 1 - k * n, bool)])

    def per_core(mask, weights=None):
        w = None if weights is None else weights[mask]
        return (
            np.bincount(ft[mask] * k + tile[mask], weights=w, minlength=ticks * k)
            .astype(np.int64)
            .reshape(ticks, k)
        )

    spikes = per_core(is_slot)
    flits_injected = per_core(is_slot, elem_flits[fe])
    host_flits = per_core(is_slot, host_out[fe].astype(np.int64))
    host_injected = np.bincount(
        ft[~is_slot], weights=elem_flits[fe[~is_slot]], minlength=ticks
    ).astype(np.int64)

    events = np.zeros((ticks, k), dtype=np.int64)
    sops = np.zeros((ticks, k), dtype=np.int64)
    forwarded = np.zeros((ticks, k, 5), dtype=np.int64)
    n_pairs = np.diff(table.ptr)[fe]
    # chunks of whole ticks, each with at most about _CHUNK_ITEMS (element, destination) items
    per_tick = np.concatenate([[0], np.cumsum(np.bincount(ft, weights=n_pairs, minlength=ticks))])
    bounds = [0]
    while bounds[-1] < ticks:
        b = int(np.searchsorted(per_tick, per_tick[bounds[-1]] + _CHUNK_ITEMS, side="right")) - 1
        bounds.append(min(ticks, max(b, bounds[-1] + 1)))
    for t0, t1 in itertools.pairwise(bounds):
        lo, hi = np.searchsorted(ft, [t0, t1])
        p, owner = _expand(table.ptr[fe[lo:hi]], n_pairs[lo:hi])
        if p.size == 0:
            continue
        t = ft[lo:hi][owner] - t0
        dst = table.dest[p]
        f = table.flits[p].astype(np.float64)
        src = table.src_tile[fe[lo:hi][owner]]
        span = t1 - t0
        core = dst < k
        idx = t[core] * k + dst[core]
        events[t0:t1] = np.bincount(idx, weights=f[core], minlength=span * k).reshape(span, k)
        sops[t0:t1] = np.bincount(
            idx, weights=table.sops[p][core].astype(np.float64), minlength=span * k
        ).reshape(span, k)
        # Many items share a (tick, source, destination): route each such flow once.
        k1 = k + 1
        if span * k1 * k1 <= _CHUNK_ITEMS:
            key = (t * k1 + src + 1) * k1 + dst
            flows = np.bincount(key, weights=f, minlength=span * k1 * k1)
            key = np.flatnonzero(flows)
            t, src, dst, f = key // (k1 * k1), key // k1 % k1 - 1, key % k1, flows[key]
        forwarded[t0:t1] = _route_counts(chip, span, t, src, dst, f)
    return Counters(
        chip=chip,
        neuron_updates=np.full((ticks, k), n, dtype=np.int64),
        spikes=spikes,
        flits_injected=flits_injected,
        host_flits=host_flits,
        events=events,
        sops=sops,
        forwarded=forwarded,
        host_injected=host_injected,
    )


def _fired(image, result):
    """(ticks, tick of every firing (sorted), element of every firing) of a result."""
    spikes = np.asarray(result.spikes, dtype=bool)
    inputs = np.asarray(result.inputs, dtype=bool)
    ticks = spikes.shape[0] if spikes.ndim == 2 else -1
    if spikes.shape != (ticks, image.num_neurons) or inputs.shape != (ticks, image.num_sources):
        raise CounterError(
            f"the result has spikes {spikes.shape} and inputs {inputs.shape}; the image needs "
            f"(T, {image.num_neurons:,}) and (T, {image.num_sources:,}): not a run of its network"
        )
    slot = np.asarray(image.neuron_slot, dtype=np.int64)
    if getattr(result, "backend", "") in HOST_LINK_BACKENDS:
        host_out = np.concatenate([np.asarray(c.host_out, dtype=bool) for c in image.cores])
        if not host_out[slot].all():
            raise CounterError(
                f"a {result.backend} run reports only the output neurons' spikes "
                f"({int(host_out[slot].sum()):,} of {slot.size:,}); compile with "
                "host_outputs='all' to count from its raster"
            )
    st, sn = np.nonzero(spikes)
    it, src = np.nonzero(inputs)
    ft = np.concatenate([st, it])
    fe = np.concatenate([slot[sn], image.chip.neurons + src])
    order = np.argsort(ft, kind="stable")
    return ticks, ft[order], fe[order]


def _timing(counters, result):
    """Attach the timing-dependent counters a timed result carries."""
    ticks, k = counters.ticks, counters.tiles
    cycles = getattr(result, "cycles", None)
    if cycles is not None:
        cycles = np.asarray(cycles, dtype=np.int64)
        if cycles.shape != (ticks,):
            raise CounterError(f"result.cycles has shape {cycles.shape}, expected ({ticks},)")
        counters.cycles = cycles
    blocked = (getattr(result, "extra", None) or {}).get("router_blocked")
    if blocked is not None:
        blocked = np.asarray(blocked, dtype=np.int64)
        if blocked.shape != (ticks, k, 5):
            raise CounterError(
                f"result.extra['router_blocked'] has shape {blocked.shape}, "
                f"expected ({ticks}, {k}, 5)"
            )
        counters.router_blocked = blocked
    return counters


def counters_from_image(image, result) -> Counters:
    """Counters of ``result`` (a run of the image's network) by walking the image's tables."""
    from .counters_hw import idle_spikes

    c = count(fanout_from_image(image), *_fired(image, result))
    c.spikes += idle_spikes(image, c.ticks)
    c.source = "image"
    return _timing(c, result)


def counters_from_network(net, image, result) -> Counters:
    """Counters of ``result`` from the network's own synapses (placement from the image)."""
    from .counters_hw import idle_spikes

    table = fanout_from_network(net, image)
    c = count(table, *_fired(image, result))
    c.spikes += idle_spikes(image, c.ticks)
    c.source = "network"
    return _timing(c, result)


# --- docs/counters.md's generated table -------------------------------------------------------

DOC_BEGIN, DOC_END = "<!-- BEGIN counters -->\n", "<!-- END counters -->"


def counters_markdown() -> str:
    """The counter table of docs/counters.md, from :data:`COUNTERS`."""
    rows = [
        "| counter | block | per tick | timing | width | increments |",
        "|---|---|---|---|---|---|",
    ]
    for s in COUNTERS:
        kind = "timing-free" if s.timing_free else "**timing-dependent**"
        rows.append(f"| `{s.name}` | {s.block} | {s.shape} | {kind} | {s.bits} | {s.increments} |")
    return "\n".join(rows) + "\n"


def update_doc(path) -> None:
    """Rewrite the generated table between the markers of ``path``."""
    from pathlib import Path

    p = Path(path)
    text = p.read_text()
    a, b = text.index(DOC_BEGIN) + len(DOC_BEGIN), text.index(DOC_END)
    p.write_text(text[:a] + counters_markdown() + text[b:])


if __name__ == "__main__":  # python -m spikemesh.counters: refresh docs/counters.md
    update_doc(__file__.rsplit("/", 2)[0] + "/docs/counters.md")
