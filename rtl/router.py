"""The 5-port AER mesh router (chip.md §5, §6; micro-architecture in docs/noc.md).

Per input port a FIFO of ``chip.router.fifo_depth`` flits; per output port a
round-robin arbiter and an output register. X-then-Y dimension-ordered routing
on the flit's signed ``dest_x`` and ``dest_y``. The port numbering, the route
decision and the round-robin rule are shared with the twins in
:mod:`spikemesh.noc` (see :func:`~spikemesh.noc.route_steps` for the host's
column-0 rule). North is y + 1, so (0, 0) is
the south-west corner and the host (x = -1, y = 0) lies off its West port.

Cycle by cycle (docs/noc.md): a flit accepted on an input in cycle t is
written into that input's FIFO at the end of t; in t + 1 it is the FIFO's head,
its output port is computed from (dest_x, dest_y), the output's arbiter grants
one requesting input, and the winner is loaded into the output register at the
end of t + 1; from t + 2 it is offered downstream. One hop costs 2 cycles at
zero load, and every output moves one flit per cycle while its receiver is
ready.

Boundary rule: every stream crossing this block is Moore. ``o[p].valid`` and
``o[p].payload`` are registers; ``i[p].ready`` is "FIFO not full", a function
of state only. (An output register reloads in the cycle it is drained, which
makes its load enable depend on ``o[p].ready``; that is internal and keeps
full throughput without a combinational path from ``valid`` to ``ready``.)
The cycle-exact twin is :class:`spikemesh.sim.router.RouterModel`.

On a faulty chip (``routing``, docs/noc.md "Faults") the route compute is a look-up in
the router's route table instead: a memory of 3-bit ports indexed by the head's raw
``{dest_x, dest_y}`` bits, read asynchronously (LUT RAM), so the port is known in the same
cycle as from the comparators and the timing is unchanged.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from spikemesh.rtl.contracts import at_most_one, fifo_reads_when_ready, mark_unused, stream_holds

from spikemesh.config import ChipConfig, flit_layout
from spikemesh.counters import HW_TILE_REGISTERS
from spikemesh.noc import (  # noqa: F401 (Port, route and rr_grant re-exported)
    N_PORTS,
    Port,
    RouteTables,
    check_chip_xy,
    route,
    route_steps,
    rr_grant,
)

from .counters import counter_bank, counter_members, counter_regs

COUNTER_BITS = 32
# READ_COUNTER index of the router's first activity counter (forwarded L; docs/counters.md)
FORWARDED_INDEX = HW_TILE_REGISTERS.index(("forwarded", 0))


def route_write_layout(chip: ChipConfig) -> data.StructLayout:
    """A route-table write into one router: entry ``index`` (a destination code,
    spikemesh.noc.dest_code) gets output ``port``."""
    lay = flit_layout(chip)
    return data.StructLayout(
        {"index": lay["dest_y"].width + lay["dest_x"].width, "port": range(N_PORTS)}
    )


class Router(wiring.Component):
    """One 5-port mesh router.

    Parameters
    ----------
    chip : ChipConfig
        Supplies the flit layout (``flit_layout(chip)``) and ``router.fifo_depth``.
    x, y : int
        This router's tile coordinates, ``0 <= x < chip.width``, ``0 <= y < chip.height``.
    routing : RouteTables, optional
        Route tables around faults (spikemesh/faultroute.py): this router's row is the
        initial content of its ``route_table`` memory, which ``i_route`` rewrites. None
        (default): XY comparators, the fault-free router, unchanged (no ``i_route``).

    Members
    -------
    i : In(stream.Signature(flit)).array(5)
        Input ports, indexed by :class:`Port`. ``ready`` = that input FIFO is not full.
    o : Out(stream.Signature(flit)).array(5)
        Output ports, indexed by :class:`Port`; ``valid``/``payload`` are registers.
    flits_in, flits_out : Out(32)
        Flits accepted on all inputs / sent on all outputs since reset (wrap at 2**32).
    idle : Out(1)
        No flit buffered in any FIFO or output register (a function of state only).
    i_route : In(stream.Signature(route_write_layout(chip)))
        Only with ``routing``: route-table writes, one per cycle, always ready.
    cnt_index, cnt_clear, cnt_value, cnt_wrapped
        Only with ``chip.counter_bits``: the activity counters (docs/counters.md)
        ``forwarded`` (o[p] valid & ready) and ``router_blocked`` (i[p] valid & ~ready) per
        port, READ_COUNTER indexes 6..15 (rtl/counters.py). ``counters``: the registers.

    Raises
    ------
    TypeError
        ``chip`` is not a ChipConfig.
    ValueError
        ``x`` or ``y`` is outside the mesh.
    """

    def __init__(self, chip: ChipConfig, *, x: int, y: int, routing: RouteTables | None = None):
        try:
            check_chip_xy(chip, x, y)
            if routing is not None and (
                not isinstance(routing, RouteTables)
                or (routing.width, routing.height) != (chip.width, chip.height)
            ):
                raise TypeError(
                    f"Router routing must be RouteTables for the {chip.width} x {chip.height} "
                    f"mesh, not {routing!r}"
                )
        except (TypeError, ValueError):
            mark_unused(self)
            raise
        self.routing = routing
        self.chip = chip
        self.x = x
        self.y = y
        self.flit = flit_layout(chip).struct()
        sig = stream.Signature(self.flit)
        members = {
            "i": In(sig).array(N_PORTS),
            "o": Out(sig).array(N_PORTS),
            "flits_in": Out(COUNTER_BITS),
            "flits_out": Out(COUNTER_BITS),
            "idle": Out(1),
        }
        if routing is not None:
            members["i_route"] = In(stream.Signature(route_write_layout(chip)))
        members.update(counter_members(chip))
        super().__init__(members)
        # forwarded L..W, then router_blocked L..W (spikemesh.counters.HW_TILE_REGISTERS)
        self.counters = counter_regs(
            chip, [f"{k}_{p.name.lower()}" for k in ("forwarded", "blocked") for p in Port]
        )

    def elaborate(self, platform):
        m = Module()
        depth = self.chip.router.fifo_depth

        # --- input FIFOs: ready is "not full" (state only), the head is visible the
        # cycle after the write (SyncFIFO reads through an asynchronous port).
        fifos = []
        heads = []
        for p in Port:
            fifo = SyncFIFO(width=self.flit.size, depth=depth)
            m.submodules[f"fifo_{p.name.lower()}"] = fifo
            m.d.comb += [
                fifo.w_data.eq(self.i[p].payload),
                fifo.w_en.eq(self.i[p].valid),
                self.i[p].ready.eq(fifo.w_rdy),
            ]
            fifos.append(fifo)
            heads.append(self.flit(fifo.r_data))

        # --- route compute on each head: one-hot request vector per input
        req = [Signal(N_PORTS, name=f"req_{p.name.lower()}") for p in Port]
        if self.routing is not None:
            self._route_by_table(m, fifos, req)
        else:
            self._route_xy(m, fifos, heads, req)

        self._arbitrate(m, platform, fifos, heads, req)
        return m

    def _route_by_table(self, m, fifos, req):
        """Route table look-up: one asynchronous read port per input (a LUT RAM), indexed
        by the head's adjacent ``{dest_x, dest_y}`` bits (spikemesh.noc.dest_code)."""
        lay = flit_layout(self.chip)
        lo = lay.offsets["dest_y"]
        bits = lay["dest_y"].width + lay["dest_x"].width
        assert lay.offsets["dest_x"] == lo + lay["dest_y"].width
        row = self.routing.table[self.y * self.chip.width + self.x]
        m.submodules.route_table = table = Memory(
            shape=3, depth=1 << bits, init=[int(v) for v in row]
        )
        # Configuration writes (always taken; the new entry routes from the next cycle on:
        # the comb read ports see the memory after the clock edge that writes it).
        wp = table.write_port()
        m.d.comb += [
            self.i_route.ready.eq(1),
            wp.addr.eq(self.i_route.payload.index),
            wp.data.eq(self.i_route.payload.port),
            wp.en.eq(self.i_route.valid),
        ]
        for q in Port:
            # comb read: the port must be known in the cycle the flit is the FIFO's head,
            # exactly as the XY comparators give it
            rp = table.read_port(domain="comb")
            m.d.comb += rp.addr.eq(fifos[q].r_data[lo : lo + bits])
            with m.If(fifos[q].r_rdy):
                m.d.comb += req[q].eq(Const(1, N_PORTS) << rp.data)

    def _route_xy(self, m, fifos, heads, req):
        """XY comparators: the steps of spikemesh.noc.route_steps on each head."""
        # The steps of spikemesh.noc.route_steps, in order: the first that holds picks
        # the port (the twin's look-up tables come from the same list via noc.route).
        own = {"dest_x": self.x, "dest_y": self.y}
        for q in Port:
            h = heads[q]
            conds = []
            for step in route_steps(self.x):
                field, coord = h[step.field], own[step.field]
                conds.append((field > coord if step.above else field < coord, step.port))
            with m.If(fifos[q].r_rdy):
                for n, (cond, port) in enumerate(conds):
                    with (m.If if n == 0 else m.Elif)(cond):
                        m.d.comb += req[q].eq(1 << port)
                with m.Else():
                    m.d.comb += req[q].eq(1 << Port.LOCAL)

    def _arbitrate(self, m, platform, fifos, heads, req):
        """Per output: round-robin arbiter, output register; contracts; counters, idle."""
        # --- per output: round-robin arbiter + output register
        # The rule is spikemesh.noc.rr_grant (the twin's grant table is built from it);
        # here it is a bit trick, checked against rr_grant for every (last, requests)
        # by tests/rtl/test_router.py. The winner is the first requester after ``last``
        # (cyclically): among the requesters above ``last`` the lowest, else the lowest
        # overall. Isolating the lowest set bit (x & -x) keeps this a few gates wide
        # instead of a 5 x 5 case tree.
        width = self.flit.size
        grants = []
        for p in Port:
            out = self.o[p]
            name = p.name.lower()
            requests = Signal(N_PORTS, name=f"requests_{name}")
            m.d.comb += requests.eq(Cat(req[q][p] for q in Port))
            last = Signal(range(N_PORTS), name=f"last_{name}", init=N_PORTS - 1)
            above = Signal(N_PORTS, name=f"above_{name}")  # inputs after ``last``
            # A plain expression, not a Switch: Amaranth emits a Switch as `always @*`,
            # which Icarus runs only when ``last`` changes; from reset it never had,
            # so ``above`` stayed X and nothing was ever granted.
            m.d.comb += above.eq(~((Const(2, N_PORTS + 1) << last) - 1))
            pick = Signal(N_PORTS, name=f"pick_{name}")
            m.d.comb += pick.eq(Mux((requests & above).any(), requests & above, requests))
            grant = Signal(N_PORTS, name=f"grant_{name}")  # one-hot, or 0
            # The register may load when empty or when drained in this very cycle.
            free = Signal(name=f"free_{name}")
            m.d.comb += [
                free.eq(~out.valid | out.ready),
                grant.eq(Mux(free, pick & (~pick + 1), 0)),
            ]
            grants.append(grant)
            with m.If(out.valid & out.ready):
                m.d.sync += out.valid.eq(0)
            with m.If(grant.any()):
                payload = 0
                for q in Port:
                    payload = payload | (heads[q].as_value() & grant[q].replicate(width))
                index = Cat(
                    *(Cat(grant[q] for q in Port if q >> bit & 1).any() for bit in range(len(last)))
                )
                m.d.sync += [out.payload.eq(payload), out.valid.eq(1), last.eq(index)]
        for q in Port:
            m.d.comb += fifos[q].r_en.eq(Cat(g[q] for g in grants).any())

        # --- contracts (simulation and Verilog only, rtl/contracts.py)
        where = f"router ({self.x}, {self.y})"
        for p in Port:
            name = p.name.lower()
            at_most_one(
                m,
                platform,
                grants[p],
                f"{where} {name} output: grant {{:05b}} not one-hot",
                grants[p],
            )
            at_most_one(
                m,
                platform,
                Cat(g[p] for g in grants),
                f"{where} {name} input: granted by more than one output",
            )
            fifo_reads_when_ready(m, platform, fifos[p], f"{where} {name} input")
            stream_holds(m, platform, self.i[p], f"router_{self.x}_{self.y}_{name}_input")

        # --- counters and idle
        n_in = sum(self.i[p].valid & self.i[p].ready for p in Port)
        n_out = sum(self.o[p].valid & self.o[p].ready for p in Port)
        m.d.sync += [
            self.flits_in.eq(self.flits_in + n_in),
            self.flits_out.eq(self.flits_out + n_out),
        ]
        busy = 0
        for p in Port:
            busy = busy | fifos[p].r_rdy | self.o[p].valid
        m.d.comb += self.idle.eq(~busy)
        if self.chip.counter_bits:
            incs = [self.o[p].valid & self.o[p].ready for p in Port]
            incs += [self.i[p].valid & ~self.i[p].ready for p in Port]
            counter_bank(m, self, self.counters, incs, base=FORWARDED_INDEX)
