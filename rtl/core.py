"""The neuron core: LIF update loop, synaptic event pipeline and fan-out (chip.md §3, §4, §7).

``Core`` is the composition of three components and the memories they share
(every arrow is a registered pipeline stage; memories have synchronous read ports)::

    ┌─ EventPipeline (rtl/core_event.py) ───────────────────────┐
    │ i_event ─► AX ─► walker ─► S1 ─► S2 ─────────────────────┼─► acc[parity + d]
    │          (axon table) (synapse mem) (read-add-write,       │   (events for t+d;
    │                                                            │    acc[~parity], d = 1)
    │                                      forwarded)            │
    └────────────────────────────────────────────────────────────┘
    ┌─ UpdatePipeline (rtl/core_update.py) ────────────────────────┐
    │ start ─► U0 ─► U1 ─► U2 ─► U3 ─► U4 ─► U5 ───────────────────┼─ o_spike ─┐
    │         state  profile mul  T(),u  v,sat  write               │           │
    │         fanptr clear  (DSP)        spike  back                │           │
    │         acc[parity]  decay factors (Core's registers)         │           │
    └───────────────────────────────────────────────────────────────┘           │
    ┌─ FanoutUnit (rtl/core_fanout.py) ─────────────────────────────┐           │
    │ o_flit ◄─ RD ◄─ walker ◄─ SQ (spike queue, 2) ◄───────────────┼───────────┘
    │ (flit     (fan-out  (fan-out list,                            │
    │ register)  mem)      one item per cycle)                      │
    └───────────────────────────────────────────────────────────────┘

``Core`` itself holds what the components share: every memory (state, profile, axon,
synapse, fan-out pointer, fan-out, and the D + 1 accumulator banks), the decay-factor
registers, the tick state (``running``, ``done``, ``parity``), the configuration
write port and the read-back port. Events and the update loop run concurrently:
they touch disjoint memories (axon, synapse and acc[parity + d] vs. state, fan-out
pointer, profile, acc[parity] and fan-out), so they never compete for a port. The
D + 1 accumulator banks (D = max_delay; two without delays) are 1R1W memories of N
words; the tick's bank (``parity``, t mod (D + 1)) steers each one's
ports to the event pipeline or to the update loop. docs/timing.md gives the exact
cycle counts; sim/core.py::CoreModel is the cycle-exact twin, composed of the
components' twins of the same names (sim/core_event.py, sim/core_update.py,
sim/core_fanout.py).
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Array, Assert, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikemesh.config import DECAY_SHIFT, DU_BITS, DV_BITS, KIND_HOST_OUT, flit_layout
from spikemesh.counters import HW_TILE_REGISTERS
from spikemesh.layouts import (
    Region,
    config_addr_bits,
    config_data_bits,
    config_index_bits,
    config_layout,
    read_layout,
    region_layouts,
)

from .core_event import EventPipeline
from .core_fanout import FanoutUnit
from .core_learn import LearningUnit, connect_learning, learning_memories, learning_readback
from .core_ports import SINGLE_PORT_MEMORIES, check_component, single_port
from .core_update import UpdatePipeline
from .counters import counter_bank, counter_members, counter_regs

__all__ = ["Core"]

_ROUND = (1 << DECAY_SHIFT) - 1
# the core's activity counters, READ_COUNTER indexes 0..5 (docs/counters.md)
CORE_COUNTERS = ("neuron_updates", "spikes", "flits_injected", "host_flits", "events", "sops")
assert [n for n, _ in HW_TILE_REGISTERS[: len(CORE_COUNTERS)]] == list(CORE_COUNTERS)


class Core(wiring.Component):
    """One neuron core of the mesh.

    Parameters
    ----------
    chip : ChipConfig
        Sizes of the core (``chip.core``) and of the mesh (flit widths).
    x, y : int
        This core's tile; HOST_OUT flits carry it as the source address.

    Members
    -------
    i_event : In(stream.Signature(unsigned(axon_bits)))
        Incoming axon ids (events for tick t + 1). ``ready`` is Moore.
    o_flit : Out(stream.Signature(Flit))
        SPIKE and HOST_OUT flits; ``valid`` and ``payload`` are registers.
    i_config : In(stream.Signature(ConfigWrite))
        Whole-word writes into any memory (``spikemesh.layouts``). ``ready``
        is high, and one write per cycle is taken, while the core is neither
        running an update loop nor holding an event (``~running & idle``).
    i_read : In(stream.Signature(unsigned(neuron_bits)))
        Neuron index to read back; ready while no update loop runs and no
        read-back result waits.
    o_read : Out(stream.Signature(StateRead))
        (u, v) of the requested neuron, valid the cycle after ``i_read``'s transfer.
    start : In(1)
        One-cycle pulse that starts tick t's update loop; only while ``done & idle``
        and no read-back answer waits (docs/core.md's contract, asserted).
    parity : In(bank_bits)
        The tick's accumulator bank t mod (D + 1) (D = ``max_delay``; t & 1 without
        delays), sampled with ``start``: the update loop reads and clears acc[parity];
        an event over a row of delay d goes to acc[(parity + d) mod (D + 1)] (acc[parity ^
        1] without delays) from the next cycle on.
    learn_only : In(1)
        Only on a learning core, sampled with ``start``: that start runs the pending
        learning phase (the last loop's STDP and trace commit) and no update loop; the
        bank (``parity``) is kept, ``done`` rises two cycles after the phase's end (two
        cycles after ``start`` when nothing is pending). The host link's LEARN_FLUSH.
    done : Out(1)
        High from reset and from the cycle after the loop of the last
        ``start`` has updated every neuron and sent every flit (o_flit empty).
    idle : Out(1)
        No event is inside the event pipeline (every accepted event has been
        accumulated). Depends on registers only.
    cnt_index, cnt_clear, cnt_value, cnt_wrapped
        Only with ``chip.counter_bits``: the activity counters of ``CORE_COUNTERS``
        (READ_COUNTER indexes 0..5, docs/counters.md, rtl/counters.py); ``counters``: the
        registers.

    Raises
    ------
    TypeError, ValueError
        On a bad ``chip`` or tile coordinate.
    """

    def __init__(self, chip, *, x, y):
        check_component(self, chip, (x, y))
        self.chip, self.x, self.y = chip, x, y
        c = chip.core
        super().__init__(
            {
                "i_event": In(stream.Signature(unsigned(c.axon_bits))),
                "o_flit": Out(stream.Signature(flit_layout(chip).struct())),
                "i_config": In(stream.Signature(config_layout(chip).struct())),
                "i_read": In(stream.Signature(unsigned(c.neuron_bits))),
                "o_read": Out(stream.Signature(read_layout().struct())),
                "start": In(1),
                "parity": In(c.bank_bits),
                "done": Out(1),
                "idle": Out(1),
                **counter_members(chip),
                **(
                    {  # read-back of the learned state (rtl/core_learn.py)
                        "learn_only": In(1),
                        "i_lread": In(stream.Signature(unsigned(config_addr_bits(chip)))),
                        "o_lread": Out(stream.Signature(unsigned(config_data_bits(chip)))),
                    }
                    if c.learning
                    else {}
                ),
            }
        )
        self.counters = counter_regs(chip, CORE_COUNTERS)

    def elaborate(self, platform):
        m = Module()
        chip = self.chip
        mem = self._memories(m)
        ev = m.submodules.event_pipeline = EventPipeline(chip)
        up = m.submodules.update_pipeline = UpdatePipeline(chip)
        fo = m.submodules.fanout_unit = FanoutUnit(chip, x=self.x, y=self.y)

        # ---- tick state: shared by every block -------------------------------------------
        running = Signal()
        done = Signal(init=1)
        # the tick's bank: update uses acc[parity], events acc[parity + d] (acc[~parity])
        parity = Signal(chip.core.bank_bits)
        begin = Signal()
        learn = chip.core.learning
        if learn:  # the learning of tick t runs on the start of t + 1, before its loop
            lu = m.submodules.learning_unit = LearningUnit(chip)
            learning, pending = Signal(), Signal()  # learning phase; a loop not yet learnt
            lonly = Signal()  # this start only learns (learn_only): no update loop
            m.d.comb += [
                begin.eq(self.start & ~running),
                lu.start.eq(begin & pending),
                up.start.eq((begin & ~pending & ~self.learn_only) | (lu.finish & ~lonly)),
                up.running.eq(running & ~learning),
                ev.hold.eq(learning),
                self.done.eq(done),
                self.idle.eq(ev.idle),
            ]
            with m.If(lu.start):
                m.d.sync += [learning.eq(1), pending.eq(0)]
            with m.Elif(lu.finish):
                m.d.sync += learning.eq(0)
            with m.If(up.start):
                m.d.sync += pending.eq(1)
            with m.If(begin):
                m.d.sync += lonly.eq(self.learn_only)
            end = running & ~learning & (lonly | (up.drained & fo.idle))
            new_parity = Mux(self.learn_only, parity, self.parity)  # no tick: bank kept
        else:
            m.d.comb += [
                begin.eq(self.start & ~running),
                up.start.eq(begin),
                up.running.eq(running),
                self.done.eq(done),
                self.idle.eq(ev.idle),
            ]
            end = running & up.drained & fo.idle
            new_parity = self.parity
        with m.If(begin):
            m.d.sync += [running.eq(1), done.eq(0), parity.eq(new_parity)]
        with m.Elif(end):
            m.d.sync += [running.eq(0), done.eq(1)]

        # ---- the components' streams and their own memories ------------------------------
        wiring.connect(m, wiring.flipped(self.i_event), ev.i_event)
        wiring.connect(m, up.o_spike, fo.i_spike)
        wiring.connect(m, fo.o_flit, wiring.flipped(self.o_flit))
        wiring.connect(m, ev.axon_rp, mem.axon_rp)
        if not learn:
            wiring.connect(m, ev.syn_rp, mem.syn_rp)
        wiring.connect(m, up.fanptr_rp, mem.fanptr_rp)
        wiring.connect(m, up.profile_rp, mem.profile_rp)
        wiring.connect(m, fo.fanout_rp, mem.fanout_rp)

        cfg = self._config_writes(m, mem, running=running, ev_idle=ev.idle)
        if learn:
            lm = learning_memories(m, chip, region_layouts(chip), self.memories)
            lr = learning_readback(m, chip, self, lm, mem, running=running, ev_idle=ev.idle)
            connect_learning(m, chip, mem=mem, lm=lm, ev=ev, up=up, lu=lu, cfg=cfg,
                             learning=learning, lr=lr)  # fmt: skip
        # Decay factors of the neuron's profile, selected in U1 (see _decay_factors).
        prof_fu_sel = Signal(signed(DU_BITS + 1))
        prof_fv_sel = Signal(signed(DV_BITS + 2))
        m.d.comb += [up.fu.eq(prof_fu_sel), up.fv.eq(prof_fv_sel)]
        self._decay_factors(
            m,
            index=mem.state_rp.data.profile,
            fu=prof_fu_sel,
            fv=prof_fv_sel,
            we=cfg.we[Region.PROFILE],
            w_index=cfg.index,
            w_data=cfg.data,
        )
        self._state_ports(m, mem, up, cfg, running=running)
        if chip.core.delay_bits:
            self._accumulator_banks(m, mem, ev, up, cfg, parity=parity)
        else:
            self._accumulators(m, mem, ev, up, cfg, ev_buf=~parity)
        self._check_contract(m, done=done, idle=ev.idle, read_waiting=self.o_read.valid)
        if chip.counter_bits:
            flit = self.o_flit.valid & self.o_flit.ready
            incs = [
                up.state_wp.en,  # U5 writes a neuron back
                up.o_spiked,
                flit,
                flit & (self.o_flit.payload.kind == KIND_HOST_OUT),
                self.i_event.valid & self.i_event.ready,
                ev.acc_wp.en,  # S2 accumulates a synapse
            ]
            counter_bank(m, self, self.counters, incs, base=0)
        return m

    def _memories(self, m):
        """Every memory of the core, a direct submodule under its own name (the direct
        image load writes them by these names, ``firmware/rtl_memories.py``); returns
        their ports.

        Every read port is non-transparent. Config writes happen only while nothing
        reads (i_config.ready = ~running & idle), the update loop reads each address
        once per tick and writes it back 1..3 cycles later, and the one real
        read-after-write hazard (consecutive synapses hitting the same accumulator) is
        resolved by the explicit forwarding register in the event pipeline's stage S2,
        which is cheaper on ECP5 block RAM than the soft bypass a transparent port would
        infer.
        """
        layouts = region_layouts(self.chip)
        ports = SimpleNamespace()

        self.memories = {}  # name -> Memory, for testbenches (no effect on the design)

        def memory(name, region, depth=None):
            lay, full = layouts[region]
            mem = Memory(shape=lay.struct(), depth=depth or full, init=[])
            m.submodules[name] = self.memories[name] = mem
            if self.chip.core.single_port and SINGLE_PORT_MEMORIES.get(region) == name:
                # one address (rtl/core_ports.py): the same accesses, in the same cycles
                return single_port(m, name, mem, shape=lay.struct())
            # (ports made in the return statement: their Verilog names are the default core's)
            return mem.read_port(), mem.write_port()

        # State: U0 reads neuron i, U5 writes neuron i back five or more cycles later
        # and never reads it again this tick -> no read-during-write.
        ports.state_rp, ports.state_wp = memory("state_mem", Region.NEURON)
        # Profile, axon, synapse, fan-out pointer and fan-out tables are only written by
        # the config path, which is locked out while they are read.
        ports.profile_rp, ports.profile_wp = memory("profile_mem", Region.PROFILE)
        ports.axon_rp, ports.axon_wp = memory("axon_mem", Region.AXON)
        ports.syn_rp, ports.syn_wp = memory("synapse_mem", Region.SYNAPSE)
        ports.fanptr_rp, ports.fanptr_wp = memory("fanptr_mem", Region.FANPTR)
        ports.fanout_rp, ports.fanout_wp = memory("fanout_mem", Region.FANOUT)
        # Accumulators: the update side reads i in U0 and clears it in U1 (never
        # re-read); the event side's same-cycle read-during-write is resolved by the S2
        # forwarding register, so the port need not be transparent, and a
        # non-transparent port keeps the BRAM's native read-before-write mode.
        c = self.chip.core
        acc = [memory(f"acc{b}_mem", Region.ACC, c.neurons) for b in range(c.acc_banks)]
        ports.acc_rp = [rp for rp, _ in acc]
        ports.acc_wp = [wp for _, wp in acc]
        return ports

    def _config_writes(self, m, mem, *, running, ev_idle):
        """The i_config port: whole-word writes, one per cycle, while ``~running & idle``.

        Drives the write ports only the config path uses; returns the decoded write
        (``we[region]``, ``index``, ``data``) for the shared ones.
        """
        cfg = self.i_config
        ib = config_index_bits(self.chip)
        we = Signal()
        region = cfg.payload.addr[ib:]
        dec = SimpleNamespace(
            index=cfg.payload.addr[:ib],
            data=cfg.payload.data,
            we={r: we & (region == r) for r in Region},
        )
        m.d.comb += [
            cfg.ready.eq(~running & ev_idle),  # Moore: registers only
            we.eq(cfg.valid & cfg.ready),
        ]
        for region_, wp in (
            (Region.PROFILE, mem.profile_wp),
            (Region.AXON, mem.axon_wp),
            # a learning core's synapses are also written back by STDP (connect_learning)
            *(() if self.chip.core.learning else ((Region.SYNAPSE, mem.syn_wp),)),
            (Region.FANPTR, mem.fanptr_wp),
            (Region.FANOUT, mem.fanout_wp),
        ):
            m.d.comb += [
                wp.addr.eq(dec.index),
                wp.data.eq(dec.data),
                wp.en.eq(dec.we[region_]),
            ]
        return dec

    def _state_ports(self, m, mem, up, cfg, *, running):
        """The state memory's ports: the update loop's, the config path's and read-back's.

        Read-back shares the state read port with U0; it is only accepted while no loop
        runs, and the result is the read port's own output register (held because
        nothing else reads until the next start). The config path writes while no loop
        runs; otherwise U5 writes back.
        """
        rq, ro = self.i_read, self.o_read
        ro_valid = Signal()
        rq_take = Signal()
        rp, wp = mem.state_rp, mem.state_wp
        m.d.comb += [
            rq.ready.eq(~running & ~ro_valid),
            rq_take.eq(rq.valid & rq.ready),
            rp.addr.eq(Mux(running, up.state_rp.addr, rq.payload)),
            rp.en.eq(Mux(running, up.state_rp.en, rq_take)),
            up.state_rp.data.eq(rp.data),
            ro.valid.eq(ro_valid),
            ro.payload.u.eq(rp.data.u),
            ro.payload.v.eq(rp.data.v),
        ]
        m.d.sync += ro_valid.eq(rq_take | (ro_valid & ~ro.ready))
        with m.If(cfg.we[Region.NEURON]):
            m.d.comb += [wp.addr.eq(cfg.index), wp.data.eq(cfg.data), wp.en.eq(1)]
        with m.Else():
            m.d.comb += [
                wp.addr.eq(up.state_wp.addr),
                wp.data.eq(up.state_wp.data),
                wp.en.eq(up.state_wp.en),
            ]

    def _accumulators(self, m, mem, ev, up, cfg, *, ev_buf):
        """Steer the two accumulator buffers of a core without delays (``max_delay`` = 1;
        :meth:`_accumulator_banks` otherwise): the event pipeline owns acc[~parity], the
        update loop acc[parity] (read in U0, cleared in U1, so a buffer is all zero again
        when the events of the next-but-one tick start to land in it); a config write
        (index bit ``neuron_bits`` picks the buffer) takes a write port over."""
        nb = self.chip.core.neuron_bits
        m.d.comb += [
            ev.acc_rp.data.eq(Mux(ev_buf, mem.acc_rp[1].data, mem.acc_rp[0].data)),
            up.acc_rp.data.eq(Mux(ev_buf, mem.acc_rp[0].data, mem.acc_rp[1].data)),
        ]
        for b, (rp, wp) in enumerate(zip(mem.acc_rp, mem.acc_wp, strict=True)):
            is_ev = ev_buf == b
            m.d.comb += [
                rp.addr.eq(Mux(is_ev, ev.acc_rp.addr, up.acc_rp.addr)),
                rp.en.eq(Mux(is_ev, ev.acc_rp.en, up.acc_rp.en)),
            ]
            with m.If(cfg.we[Region.ACC] & (cfg.index[nb] == b)):
                m.d.comb += [wp.addr.eq(cfg.index), wp.data.eq(cfg.data), wp.en.eq(1)]
            with m.Elif(is_ev):
                m.d.comb += [
                    wp.addr.eq(ev.acc_wp.addr),
                    wp.data.eq(ev.acc_wp.data),
                    wp.en.eq(ev.acc_wp.en),
                ]
            with m.Else():
                m.d.comb += [
                    wp.addr.eq(up.acc_wp.addr),
                    wp.data.eq(up.acc_wp.data),
                    wp.en.eq(up.acc_wp.en),
                ]

    def _accumulator_banks(self, m, mem, ev, up, cfg, *, parity):
        """Steer the D + 1 accumulator banks of a core with delays (``max_delay`` D > 1):
        the update loop owns acc[parity] (read in U0, cleared in U1); the event pipeline's
        S1 reads and S2 writes bank (parity + d) mod (D + 1) of their synapse's row, never
        acc[parity] (1 <= d <= D); the read data it gets is that of S2's bank, which S1 read
        in the cycle before. A config write (index bits ``neuron_bits`` up pick the bank)
        takes a write port over. D + 1 is a power of two: the sums wrap by truncation."""
        c = self.chip.core
        nb, bb = c.neuron_bits, c.bank_bits
        rbank, wbank = Signal(bb), Signal(bb)
        m.d.comb += [
            rbank.eq(parity + 1 + ev.acc_rp_delay),
            wbank.eq(parity + 1 + ev.acc_wp_delay),
        ]
        datas = Array(rp.data.as_value() for rp in mem.acc_rp)
        m.d.comb += [ev.acc_rp.data.eq(datas[wbank]), up.acc_rp.data.eq(datas[parity])]
        for b, (rp, wp) in enumerate(zip(mem.acc_rp, mem.acc_wp, strict=True)):
            is_up = parity == b
            m.d.comb += [
                rp.addr.eq(Mux(is_up, up.acc_rp.addr, ev.acc_rp.addr)),
                rp.en.eq(Mux(is_up, up.acc_rp.en, ev.acc_rp.en & (rbank == b))),
            ]
            with m.If(cfg.we[Region.ACC] & (cfg.index[nb : nb + bb] == b)):
                m.d.comb += [wp.addr.eq(cfg.index), wp.data.eq(cfg.data), wp.en.eq(1)]
            with m.Elif(is_up):
                m.d.comb += [
                    wp.addr.eq(up.acc_wp.addr),
                    wp.data.eq(up.acc_wp.data),
                    wp.en.eq(up.acc_wp.en),
                ]
            with m.Else():
                m.d.comb += [
                    wp.addr.eq(ev.acc_wp.addr),
                    wp.data.eq(ev.acc_wp.data),
                    wp.en.eq(ev.acc_wp.en & (wbank == b)),
                ]

    def _decay_factors(self, m, *, index, fu, fv, we, w_index, w_data):
        """The decay factors 4096 - (du + 1) and 4096 - dv of every profile, in registers.

        They are computed once, when a profile word is written (``we``, ``w_index``,
        ``w_data``), so the products' operands are registers with no subtract in front of
        the DSP, and are selected combinationally by the neuron's profile ``index`` in U1,
        a cycle before the profile memory's word is out. Reset-less, like a memory; the
        initial values are those of an all-zero profile word (du = dv = 0). Both the
        select and the write keep the index bits the profile memory keeps.

        They are signed, one bit wider than their values (the sign bit is always 0): the
        high half of a split product is then signed x signed with no constant operand
        bit, which would keep yosys from packing the operand's register into the SB_MAC16.
        """
        c = self.chip.core
        pb = (c.profiles - 1).bit_length()  # profile index bits the memory decodes
        regs_fu = [
            Signal(signed(DU_BITS + 1), init=_ROUND, reset_less=True, name=f"prof{k}_fu")
            for k in range(c.profiles)
        ]
        regs_fv = [
            Signal(signed(DV_BITS + 2), init=1 << DECAY_SHIFT, reset_less=True, name=f"prof{k}_fv")
            for k in range(c.profiles)
        ]
        if pb:
            m.d.comb += [fu.eq(Array(regs_fu)[index[:pb]]), fv.eq(Array(regs_fv)[index[:pb]])]
        else:
            m.d.comb += [fu.eq(regs_fu[0]), fv.eq(regs_fv[0])]
        word = Signal(region_layouts(self.chip)[Region.PROFILE][0].struct())
        m.d.comb += word.eq(w_data)
        for k in range(c.profiles):
            with m.If(we & ((w_index[:pb] == k) if pb else 1)):
                m.d.sync += [
                    regs_fu[k].eq(_ROUND - word.du),
                    regs_fv[k].eq((1 << DECAY_SHIFT) - word.dv),
                ]

    def _check_contract(self, m, *, done, idle, read_waiting):
        """The environment's side of the contract (docs/core.md), as simulation checks.

        Amaranth's simulator raises AssertionError with the message, Verilator built with
        ``--assert`` stops on it; the FPGA flow removes the checks (``chformal -remove``).
        Sync-domain checks: they sample the inputs at the clock edge, as the core does.
        """
        where = f"Core ({self.x}, {self.y})"
        with m.If(self.start):
            m.d.sync += [
                Assert(
                    done,
                    f"{where}: start pulsed while the update loop of the previous start is "
                    "still running (done = 0); pulse start only while done & idle",
                ),
                Assert(
                    idle,
                    f"{where}: start pulsed while an accepted event is still inside the event "
                    "pipeline (idle = 0): it could land in the accumulator buffer the new "
                    "tick reads",
                ),
                Assert(
                    ~read_waiting,
                    f"{where}: start pulsed while a read-back answer waits on o_read "
                    "(o_read.valid = 1); take it first",
                ),
            ]
