"""The whole chip: W x H tiles (core + router), the host link and the tick barrier.

Block diagram::

    host ──i_cmd──► cmd FIFO ──► HostLink ──o_inject──► Mesh (0,0).West   Core(x,y) ◄─o_local─┐
         ◄─o_rsp─── rsp FIFO ◄──          ◄─o_host───                     Core(x,y) ──i_local─► Mesh
                             ──o_cfg / o_read──► every core (tile-selected)
                             ──start, parity──► register ──► every core
                             ◄─ register ◄─ all_done = AND(core.done & core.idle) & mesh.idle

With ``router.route_tables`` (a faulty chip, docs/noc.md "Faults") the mesh's routers route
by tables (XY after reset) and a CONFIG_WRITE to the ROUTE region (7, spikemesh.layouts) is
decoded here into the mesh's ``i_route`` (router = the write's tile) instead of a core
memory; without it the chip is exactly the table-free one (same Verilog).

The two FIFOs (``ChipConfig.host_fifo_depth`` entries each,
amaranth.lib.fifo.SyncFIFOBuffered) end the host link's ready chains at the chip's
edge: ``i_cmd.ready`` and the host link's response ready are FIFO fill levels, so
neither the host link's command decode nor the mesh's West grant depends on the
host's ``o_rsp.ready`` or on the UART bridge in the same cycle (docs/hostlink.md).

All block boundaries are Moore (registered valid/payload, state-only ready),
so sim/chip.py's timed model composes the blocks' cycle-exact twins by the
same rule. ``all_done`` is an AND of registered signals, registered once more on
its way to the host link: a flit always sits in some register that one of them
covers (a router FIFO or output register, a core's event pipeline or output
register), including on the cycle it moves between blocks, so the barrier never
races a flit in flight; the host's last input flit is injected at least a cycle
before its END_TICK is taken, so the one-cycle-old AND still sees it.
"""

from __future__ import annotations

import functools
import operator

from amaranth import Array, Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from spikemesh.config import ChipConfig
from spikemesh.errors import ConfigError
from spikemesh.faults import start_tables
from spikemesh.hostlink import command_layout, response_layout
from spikemesh.layouts import (
    ROUTE_PORTS,
    ROUTE_REGION,
    config_data_bits,
    config_index_bits,
    region_layouts,
    route_entry_layout,
)

from .contracts import at_most_one, mark_unused
from .core import Core
from .hostlink import COUNTER_BITS, HostLink
from .mesh import Mesh

__all__ = ["Chip"]


def _any(values):
    return functools.reduce(operator.or_, values)


def _all(values):
    return functools.reduce(operator.and_, values)


RTL_MAX_SIDE = 16
RTL_MAX_CORE_BITS = 16 << 20  # 16 Mibit of memory per core


def core_memory_bits(chip: ChipConfig) -> int:
    """Bits of memory one core needs (every region's depth x word width)."""
    return sum(lay.width * depth for lay, depth in region_layouts(chip).values())


def check_buildable(chip: ChipConfig) -> None:
    """Raise ConfigError for a config the TLM runs but the RTL generator does not build.

    The TLM takes meshes up to 64 x 64 (a million neurons and more); the RTL
    is generated for meshes up to 16 x 16 (chip.md §1) and cores of at most
    16 Mibit of memory, beyond which neither Verilator nor any FPGA here copes.
    """
    if chip.width > RTL_MAX_SIDE or chip.height > RTL_MAX_SIDE:
        raise ConfigError(
            f"The RTL is generated for meshes up to {RTL_MAX_SIDE} x {RTL_MAX_SIDE}, not "
            f"{chip.width} x {chip.height}; the tlm and tlm-timed backends run this chip"
        )
    bits = core_memory_bits(chip)
    if bits > RTL_MAX_CORE_BITS:
        raise ConfigError(
            f"A core of this config needs {bits / (1 << 20):,.1f} Mibit of memory, the RTL "
            f"generator builds cores of at most {RTL_MAX_CORE_BITS >> 20} Mibit; reduce "
            f"core.synapses ({chip.core.synapses:,}) or core.fanout ({chip.core.fanout:,})"
        )


class HostFIFO(SyncFIFOBuffered):
    """The chip's host FIFOs: ``SyncFIFOBuffered``, whose storage stays in logic when it holds
    at most ``LOGIC_DEPTH`` words. A wide, shallow memory in block RAM wastes it: the
    command word alone spans seven of the iCE40's 16-bit-wide EBRs, and the iCEBreaker's
    chip runs out of them. Deeper FIFOs are left to the tools (block or distributed RAM).
    Behaviour and cycles are SyncFIFOBuffered's either way."""

    LOGIC_DEPTH = 4

    def elaborate(self, platform):
        m = super().elaborate(platform)
        if 1 < self.depth <= self.LOGIC_DEPTH:
            m.submodules.storage.attrs["ram_style"] = "logic"
        return m


class Chip(wiring.Component):
    """A spikemesh chip.

    Parameters
    ----------
    chip : ChipConfig

    Members
    -------
    i_cmd : In(stream.Signature(HostCommand))
        Host commands (spikemesh.hostlink).
    o_rsp : Out(stream.Signature(HostResponse))
        Responses: spikes, tick done, state, status.
    tick : Out(32)
        Current tick number.
    running : Out(1)
        A tick is running.
    errors : Out(8)
        Sticky error flags (spikemesh.hostlink.ErrorFlag).
    """

    def __init__(self, chip: ChipConfig):
        if not isinstance(chip, ChipConfig):
            mark_unused(self)
            raise TypeError(f"Chip needs a ChipConfig, not {chip!r}")
        try:
            check_buildable(chip)
        except ConfigError:
            mark_unused(self)
            raise
        self.chip = chip
        self.cmd_layout = command_layout(chip, config_data_bits(chip))
        self.rsp_layout = response_layout()
        super().__init__(
            {
                "i_cmd": In(stream.Signature(self.cmd_layout.struct())),
                "o_rsp": Out(stream.Signature(self.rsp_layout.struct())),
                "tick": Out(COUNTER_BITS),
                "running": Out(1),
                "errors": Out(8),
            }
        )

    def elaborate(self, platform):
        m = Module()
        chip = self.chip
        m.submodules.mesh = mesh = Mesh(chip, routing=self._start_tables())
        m.submodules.host = host = HostLink(chip)
        # the blocks of the last elaboration, for tests (e.g. their counter registers)
        self.blocks = {"mesh": mesh, "host": host}
        self._host_fifos(m, host)
        wiring.connect(m, host.o_inject, mesh.i_host)
        wiring.connect(m, mesh.o_host, host.i_host)
        m.d.comb += [
            self.tick.eq(host.tick),
            self.running.eq(host.running),
            self.errors.eq(host.errors),
            host.flits_in.eq(mesh.flits_in),
            host.flits_out.eq(mesh.flits_out),
            host.misroute.eq(mesh.misroute),
        ]

        # start and all_done are registered on their way (issue #18, finding 10): neither is a
        # combinational net across the whole mesh; the host link waits START_SETTLE cycles
        # after a start before it believes all_done again (docs/hostlink.md).
        start, parity, all_done = Signal(), Signal(chip.core.bank_bits), Signal()
        m.d.sync += [start.eq(host.start), parity.eq(host.parity)]
        done_all = []
        cfg_ready = []
        read_ready = []
        read_valid = []
        for y in range(chip.height):
            for x in range(chip.width):
                core = Core(chip, x=x, y=y)
                m.submodules[f"core_{x}_{y}"] = core
                self.blocks[f"core_{x}_{y}"] = core
                wiring.connect(m, core.o_flit, mesh.i_local[y][x])
                local = mesh.o_local[y][x]
                # Flits reaching a core are SPIKE flits (HOST_OUT ones are routed
                # to the host); the core only needs the axon id.
                m.d.comb += [
                    core.i_event.valid.eq(local.valid),
                    core.i_event.payload.eq(local.payload.payload[: chip.core.axon_bits]),
                    local.ready.eq(core.i_event.ready),
                ]
                cfg_sel = (host.o_cfg.payload.tile_x == x) & (host.o_cfg.payload.tile_y == y)
                rd_sel = (host.o_read.payload.tile_x == x) & (host.o_read.payload.tile_y == y)
                m.d.comb += [
                    core.i_config.valid.eq(host.o_cfg.valid & cfg_sel),
                    core.i_config.payload.addr.eq(host.o_cfg.payload.addr),
                    core.i_config.payload.data.eq(host.o_cfg.payload.data),
                    core.i_read.valid.eq(host.o_read.valid & rd_sel),
                    core.i_read.payload.eq(host.o_read.payload.neuron),
                    core.o_read.ready.eq(host.i_read.ready),
                    core.start.eq(start),
                    core.parity.eq(parity),
                ]
                cfg_ready.append(cfg_sel & core.i_config.ready)
                read_ready.append(rd_sel & core.i_read.ready)
                read_valid.append(core.o_read)
                done_all.append(core.done & core.idle)

        # Only one read is ever outstanding (HostLink), so at most one core
        # drives o_read at a time and an OR of the gated payloads is a mux
        # (checked in simulation, rtl/contracts.py).
        read_valids = Cat(o.valid for o in read_valid)
        at_most_one(
            m, platform, read_valids, "more than one core answers a read: {:b}", read_valids
        )
        n_u, n_v = len(host.i_read.payload.u), len(host.i_read.payload.v)
        m.d.comb += [
            host.i_read.valid.eq(_any(o.valid for o in read_valid)),
            host.i_read.payload.u.eq(
                _any(o.payload.u & o.valid.replicate(n_u) for o in read_valid)
            ),
            host.i_read.payload.v.eq(
                _any(o.payload.v & o.valid.replicate(n_v) for o in read_valid)
            ),
            host.o_cfg.ready.eq(_any(cfg_ready)),
            host.o_read.ready.eq(_any(read_ready)),
            host.all_done.eq(all_done),
        ]
        m.d.sync += all_done.eq(mesh.idle & _all(done_all))
        if chip.router.route_tables:
            self._route_writes(m, host, mesh)
        if chip.counter_bits:
            self._counters(m, host, mesh)
        if chip.core.learning:
            self._learning(m, host, platform)
        return m

    def _learning(self, m, host, platform):
        """A learning chip (docs/learning.md): LEARN_FLUSH's ``learn_only`` is registered
        beside ``start`` on its way to every core; READ_LEARNED goes to the addressed core's
        ``i_lread`` and its ``o_lread`` answer back to the host link, as READ_STATE does
        (one read outstanding: at most one core answers, so an OR of gated words is a mux)."""
        chip = self.chip
        learn_only = Signal()
        m.d.sync += learn_only.eq(host.learn_only)
        req, ready, answers = host.o_lread, [], []
        for y in range(chip.height):
            for x in range(chip.width):
                core = self.blocks[f"core_{x}_{y}"]
                sel = (req.payload.tile_x == x) & (req.payload.tile_y == y)
                m.d.comb += [
                    core.learn_only.eq(learn_only),
                    core.i_lread.valid.eq(req.valid & sel),
                    core.i_lread.payload.eq(req.payload.addr),
                    core.o_lread.ready.eq(host.i_lread.ready),
                ]
                ready.append(sel & core.i_lread.ready)
                answers.append(core.o_lread)
        valids = Cat(o.valid for o in answers)
        at_most_one(m, platform, valids, "more than one core answers a READ_LEARNED: {:b}", valids)
        n = len(host.i_lread.payload)
        m.d.comb += [
            req.ready.eq(_any(ready)),
            host.i_lread.valid.eq(_any(o.valid for o in answers)),
            host.i_lread.payload.eq(_any(o.payload & o.valid.replicate(n) for o in answers)),
        ]

    def _counters(self, m, host, mesh):
        """READ_COUNTER's path (docs/counters.md): the host link's selection and clear go to
        every core and router; each tile's registered value (its core's or its router's:
        the other one gives 0) is registered once more here for the addressed tile, and the
        tiles' wrap flags are OR-ed into one register (cleared with the counters)."""
        chip = self.chip
        values, wrapped = [], [mesh.cnt_wrapped]
        m.d.comb += [mesh.cnt_index.eq(host.cnt_index), mesh.cnt_clear.eq(host.cnt_clear)]
        for y in range(chip.height):
            for x in range(chip.width):
                core = self.blocks[f"core_{x}_{y}"]
                m.d.comb += [core.cnt_index.eq(host.cnt_index), core.cnt_clear.eq(host.cnt_clear)]
                values.append(core.cnt_value | mesh.cnt_value[y][x])
                wrapped.append(core.cnt_wrapped)
        value = Signal(chip.counter_bits, name="cnt_tile_value")
        wrap = Signal(name="cnt_wrap_any")
        tile = host.cnt_tile_y * chip.width + host.cnt_tile_x
        m.d.sync += [value.eq(Array(values)[tile]), wrap.eq(_any(wrapped))]
        with m.If(host.cnt_clear):
            m.d.sync += wrap.eq(0)
        m.d.comb += [host.cnt_value.eq(value), host.cnt_wrapped.eq(wrap)]

    def _start_tables(self):
        """With ``router.route_tables``: every router's table as XY and no link disabled (a
        chip with tables and no ROUTE writes routes and times as one without), else None."""
        return start_tables(self.chip)

    def _route_writes(self, m, host, mesh):
        """CONFIG_WRITEs to the ROUTE region (spikemesh.layouts) become ``mesh.i_route``
        writes, taken in the cycle the host link's write completes (the addressed core's
        ``i_config.ready``, which ignores region 7, so a ROUTE write takes the cycles of a
        core write; the mesh is idle, as between any two ticks)."""
        chip = self.chip
        cfg = host.o_cfg
        ib = config_index_bits(chip)
        entry = route_entry_layout(chip)
        is_route = cfg.payload.addr[ib:] == ROUTE_REGION
        w = mesh.i_route.payload
        m.d.comb += [
            mesh.i_route.valid.eq(cfg.valid & cfg.ready & is_route),
            w.tile.eq(cfg.payload.tile_y * chip.width + cfg.payload.tile_x),
            w.link.eq(cfg.payload.addr[0]),  # RouteIndex: TABLE 0, LINK_OFF 1
            w.index.eq(cfg.payload.data[entry.offsets["entry"] :][: entry["entry"].width]),
            w.data.eq(cfg.payload.data[:ROUTE_PORTS]),  # port (TABLE) or link_off bits
        ]

    def _host_fifos(self, m, host):
        """i_cmd -> command FIFO -> host link; host link -> response FIFO -> o_rsp. Both
        readies a FIFO drives are functions of its fill level (registers), its valid is its
        output register: the stream rules hold and the ready chains stop here."""
        depth = self.chip.host_fifo_depth
        m.submodules.cmd_fifo = cmd = HostFIFO(width=self.cmd_layout.width, depth=depth)
        m.submodules.rsp_fifo = rsp = HostFIFO(width=self.rsp_layout.width, depth=depth)
        m.d.comb += [
            cmd.w_en.eq(self.i_cmd.valid),
            cmd.w_data.eq(self.i_cmd.payload),
            self.i_cmd.ready.eq(cmd.w_rdy),
            host.i_cmd.valid.eq(cmd.r_rdy),
            host.i_cmd.payload.eq(cmd.r_data),
            cmd.r_en.eq(host.i_cmd.ready),
            rsp.w_en.eq(host.o_rsp.valid),
            rsp.w_data.eq(host.o_rsp.payload),
            host.o_rsp.ready.eq(rsp.w_rdy),
            self.o_rsp.valid.eq(rsp.r_rdy),
            self.o_rsp.payload.eq(rsp.r_data),
            rsp.r_en.eq(self.o_rsp.ready),
        ]
