"""The W x H 2D mesh network-on-chip (chip.md §1, §5, §6; docs/noc.md).

Router (x, y) sits at tile (x, y); its East port links to (x + 1, y) West and
its North port to (x, y + 1) South (North is y + 1). Each tile's Local port is
exposed as ``i_local[y][x]`` / ``o_local[y][x]``; the host link is (0, 0)'s
West port, exposed as ``i_host`` / ``o_host``.

Edge ports that lead nowhere are tied off: their inputs never offer a flit, and
their outputs are always ready, so a flit routed off an edge (a destination
outside the mesh, or a host-bound flit whose dest_y is not 0) is consumed
there. It does not vanish silently: it is counted in ``dropped`` and sets the
sticky ``misroute`` flag. Consuming it rather than holding it keeps the rest of
the network running, so the error can be read out.

Every boundary stream is Moore (see :mod:`spikemesh.rtl.router`). The
cycle-exact twin is :class:`spikemesh.sim.mesh.MeshModel`.

On a faulty chip (``routing``, docs/noc.md "Faults") every router routes by its route
table, and a disabled link (``routing.link_off``) is tied off like an edge: its sender's
output is always ready and counted in ``dropped`` (the compiler never routes there), its
receiver's input never offers a flit.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from spikemesh.rtl.contracts import check, mark_unused
from spikemesh.rtl.counters import INDEX_BITS
from spikemesh.rtl.router import COUNTER_BITS, Port, Router, route_write_layout

from spikemesh.config import ChipConfig, flit_layout
from spikemesh.noc import N_PORTS


def mesh_route_write_layout(chip: ChipConfig) -> data.StructLayout:
    """A routing configuration write into the mesh: with ``link`` = 0, route-table entry
    ``index`` of router ``tile`` (y * width + x) gets output port ``data``; with ``link`` =
    1, router ``tile``'s disabled outputs become ``data`` (bit p: output p)."""
    return data.StructLayout(
        {
            "tile": range(max(2, chip.tiles)),
            "link": 1,
            "index": route_write_layout(chip)["index"].shape,
            "data": N_PORTS,
        }
    )


def tree_sum(values):
    """Sum of Amaranth values as a balanced adder tree (a popcount for 1-bit values)."""
    values = list(values)
    if not values:
        return 0
    while len(values) > 1:
        pairs = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        if len(values) % 2:
            pairs.append(values[-1])
        values = pairs
    return values[0]


class Mesh(wiring.Component):
    """W x H routers with the host link at (0, 0) West.

    Parameters
    ----------
    chip : ChipConfig
        ``width`` x ``height`` routers; flit layout and FIFO depth as for :class:`Router`.
    routing : RouteTables, optional
        Route tables and disabled links of a faulty chip (spikemesh/faultroute.py): the
        initial contents of the routers' tables and of the ``link_off`` registers, both
        rewritable through ``i_route``. None: XY and plain links (no ``i_route``).

    Members
    -------
    i_local : In(stream.Signature(flit)).array(height, width)
        ``i_local[y][x]``: flits from the core at (x, y) into its router.
    o_local : Out(stream.Signature(flit)).array(height, width)
        ``o_local[y][x]``: flits for the core at (x, y).
    i_host, o_host : In / Out(stream.Signature(flit))
        The host link: router (0, 0)'s West input / output.
    flits_in : Out(32)
        Flits accepted from the cores and the host since reset.
    flits_out : Out(32)
        Flits delivered to the cores and the host since reset.
    dropped : Out(32)
        Flits routed off an edge of the mesh (consumed there).
    misroute : Out(1)
        Sticky: ``dropped`` has been non-zero since reset.
    idle : Out(1)
        No flit is buffered anywhere in the mesh (a function of state only). When
        idle, ``flits_in == flits_out + dropped`` (modulo 2**32).
    i_route : In(stream.Signature(mesh_route_write_layout(chip)))
        Only with ``routing``: routing configuration writes, one per cycle, always ready
        (write them while the mesh is idle).
    cnt_index, cnt_clear : In
        Only with ``chip.counter_bits``: to every router (rtl/counters.py).
    cnt_value : Out(counter_bits).array(height, width)
        Every router's registered selected counter (docs/counters.md).
    cnt_wrapped : Out(1)
        The OR of the routers' sticky wrap flags (registers; the chip registers it).

    Raises
    ------
    TypeError
        ``chip`` is not a ChipConfig.
    """

    def __init__(self, chip: ChipConfig, *, routing=None):
        if not isinstance(chip, ChipConfig):
            mark_unused(self)
            raise TypeError(f"Mesh needs a ChipConfig, not {chip!r}")
        self.chip = chip
        self.routing = routing
        self.flit = flit_layout(chip).struct()
        sig = stream.Signature(self.flit)
        members = {
            "i_local": In(sig).array(chip.height, chip.width),
            "o_local": Out(sig).array(chip.height, chip.width),
            "i_host": In(sig),
            "o_host": Out(sig),
            "flits_in": Out(COUNTER_BITS),
            "flits_out": Out(COUNTER_BITS),
            "dropped": Out(COUNTER_BITS),
            "misroute": Out(1),
            "idle": Out(1),
        }
        if routing is not None:
            members["i_route"] = In(stream.Signature(mesh_route_write_layout(chip)))
        if chip.counter_bits:
            members["cnt_index"] = In(INDEX_BITS)
            members["cnt_clear"] = In(1)
            members["cnt_value"] = Out(chip.counter_bits).array(chip.height, chip.width)
            members["cnt_wrapped"] = Out(1)
        super().__init__(members)
        # Built here so tests can reach a router's counters: self.routers[y][x].
        self.routers = [
            [Router(chip, x=x, y=y, routing=routing) for x in range(chip.width)]
            for y in range(chip.height)
        ]

    def _route_config(self, m):
        """``i_route`` decoding: table writes to the routers, ``link_off`` registers (their
        reset values from ``routing``). Returns the registers, one per router."""
        cfg = self.i_route
        m.d.comb += cfg.ready.eq(1)
        off = []
        for k in range(self.chip.tiles):
            r = self.routers[k // self.chip.width][k % self.chip.width]
            sel = cfg.valid & (cfg.payload.tile == k)
            m.d.comb += [
                r.i_route.valid.eq(sel & ~cfg.payload.link),
                r.i_route.payload.index.eq(cfg.payload.index),
                r.i_route.payload.port.eq(cfg.payload.data),
            ]
            reg = Signal(N_PORTS, name=f"link_off_{k}", init=int(self.routing.link_off[k]))
            with m.If(sel & cfg.payload.link):
                m.d.sync += reg.eq(cfg.payload.data)
            off.append(reg)
        return off

    def elaborate(self, platform):
        m = Module()
        w, h = self.chip.width, self.chip.height
        rs = self.routers
        edge_out = []
        off = None if self.routing is None else self._route_config(m)

        def link(src, p, x, y, dst, q):
            """Router ``src`` at (x, y) output p -> ``dst`` input q; on a faulty chip through
            the ``link_off`` register: a disabled link is tied off like an edge."""
            if off is None:
                wiring.connect(m, src.o[p], dst.i[q])
                return
            dead = off[y * w + x][p]
            m.d.comb += [
                dst.i[q].payload.eq(src.o[p].payload),
                dst.i[q].valid.eq(src.o[p].valid & ~dead),
                src.o[p].ready.eq(dst.i[q].ready | dead),
            ]
            edge_out.append(src.o[p].valid & dead)

        for y in range(h):
            for x in range(w):
                r = rs[y][x]
                m.submodules[f"router_{x}_{y}"] = r
                wiring.connect(m, wiring.flipped(self.i_local[y][x]), r.i[Port.LOCAL])
                wiring.connect(m, r.o[Port.LOCAL], wiring.flipped(self.o_local[y][x]))
                if x + 1 < w:
                    link(r, Port.EAST, x, y, rs[y][x + 1], Port.WEST)
                    link(rs[y][x + 1], Port.WEST, x + 1, y, r, Port.EAST)
                if y + 1 < h:
                    link(r, Port.NORTH, x, y, rs[y + 1][x], Port.SOUTH)
                    link(rs[y + 1][x], Port.SOUTH, x, y + 1, r, Port.NORTH)
        wiring.connect(m, wiring.flipped(self.i_host), rs[0][0].i[Port.WEST])
        wiring.connect(m, rs[0][0].o[Port.WEST], wiring.flipped(self.o_host))

        # Tie-offs: edge inputs idle, edge outputs always ready (and counted as drops).
        for y in range(h):
            for x in range(w):
                r = rs[y][x]
                edges = []
                if x == w - 1:
                    edges.append(Port.EAST)
                if x == 0 and y != 0:
                    edges.append(Port.WEST)
                if y == h - 1:
                    edges.append(Port.NORTH)
                if y == 0:
                    edges.append(Port.SOUTH)
                for p in edges:
                    m.d.comb += [r.i[p].valid.eq(0), r.o[p].ready.eq(1)]
                    edge_out.append(r.o[p].valid)

        boundary_in = [self.i_local[y][x] for y in range(h) for x in range(w)] + [self.i_host]
        boundary_out = [self.o_local[y][x] for y in range(h) for x in range(w)] + [self.o_host]
        n_in = tree_sum(s.valid & s.ready for s in boundary_in)
        n_out = tree_sum(s.valid & s.ready for s in boundary_out)
        n_drop = tree_sum(edge_out)
        m.d.sync += [
            self.flits_in.eq(self.flits_in + n_in),
            self.flits_out.eq(self.flits_out + n_out),
            self.dropped.eq(self.dropped + n_drop),
        ]
        if edge_out:
            with m.If(n_drop != 0):
                m.d.sync += self.misroute.eq(1)
        idle = 1
        for row in rs:
            for r in row:
                idle = idle & r.idle
        m.d.comb += self.idle.eq(idle)
        if self.chip.counter_bits:
            wrapped = 0
            for y in range(h):
                for x in range(w):
                    r = rs[y][x]
                    m.d.comb += [
                        r.cnt_index.eq(self.cnt_index),
                        r.cnt_clear.eq(self.cnt_clear),
                        self.cnt_value[y][x].eq(r.cnt_value),
                    ]
                    wrapped = wrapped | r.cnt_wrapped
            m.d.comb += self.cnt_wrapped.eq(wrapped)

        # Flit conservation (rtl/contracts.py): with nothing buffered, every flit that
        # came in went out or was dropped at an edge. The counters hold the transfers of
        # earlier cycles, and an idle mesh sends nothing in this one, so the sum is exact.
        balance = (self.flits_in - self.flits_out - self.dropped)[:COUNTER_BITS]
        check(
            m,
            platform,
            ~self.idle | (balance == 0),
            "mesh idle but flits_in {} != flits_out {} + dropped {}",
            self.flits_in,
            self.flits_out,
            self.dropped,
        )
        return m
