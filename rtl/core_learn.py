"""The learning unit of a learning core: STDP potentiation and the trace commit pass
(docs/learning.md "Hardware plan"; twin ``sim/core_learn.py::LearningUnit``).

The learning of tick t runs when ``Core`` gets the ``start`` of tick t + 1 (the first
moment a core knows that every event of tick t has arrived), before that tick's update
loop; the event pipeline holds ``i_event`` meanwhile. Two passes::

    neuron pass, i = 0 .. N - 1:     N0 ─► N1 (post trace, fired bit, reverse row of i;
                                              D_post) ─► N2 (commit the post trace)
      a fired neuron's reverse row:  R ─► P1 (entry: synapse, axon) ─► P2 (synapse word,
                                              pre trace: D_pre) ─► P3 (dw) ─► P4 (write)
    axon pass, a = 0 .. A - 1:       A0 ─► A1 (pre trace, fired bit: D_pre) ─► A2 (commit,
                                              clear fired)

One step per stage (the decay product; the amplitude product and its shift; the add and
clamp), so no path holds two multipliers in series.
N0 issues neuron ``n_idx`` while no reverse row is walked (or in the cycle the walker
issues a row's last entry); a neuron that fired with a non-empty row stops the issue
while the walker issues its entries, one per cycle. The axon pass starts the cycle after
the neuron pass has issued its last entry's P1 (which reads the pre traces the axon pass
rewrites); ``finish`` is high in the cycle after the last A2. ``finish`` comes
N + A + 5 + (entries walked) + (1 if neuron N - 1 walked a row) cycles after ``start``,
which is how much later the tick's ``done`` comes (tests/rtl/test_core_learn.py).
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikemesh.layouts import Region, config_index_bits, lprofile_layout
from spikemesh.plasticity import TRACE_BITS

from .core_ports import bit_read_port, bit_write_port, check_component, read_port, write_port
from .learn_math import amplitude, decayed, potentiate, saturate

__all__ = ["LearningUnit", "connect_learning", "learning_memories", "learning_readback"]

IDLE, NEURON, AXON = 0, 1, 2
# the fired bit of a PRETRACE / POSTTRACE config word (spikemesh.layouts.trace_layout)
TRACE_FIRED_BIT = TRACE_BITS


class LearningUnit(wiring.Component):
    """Potentiation over the reverse rows of the neurons that fired, then the trace commit.

    Members
    -------
    start : In(1)
        One-cycle pulse: learn the tick just ended.
    finish : Out(1)
        High in the last cycle of the learning (``Core`` starts the update loop in it).
    post_rp, post_wp, post_fired_rp, revptr_rp, rev_rp, syn_rp, syn_wp, pre_rp, pre_wp,
    pre_fired_rp, pre_fired_wp : the memory ports it uses (``Core`` steers the shared ones).
    lpa_sel / lpa : the profile of the trace being committed (post in N1, pre in A1).
    lpb_sel / lpb : the profile of the synapse in P2.
    """

    def __init__(self, chip):
        check_component(self, chip)
        self.chip = chip
        c = chip.core
        prof = lprofile_layout().struct()
        super().__init__(
            {
                "start": In(1),
                "finish": Out(1),
                "post_rp": read_port(chip, Region.POSTTRACE),
                "post_wp": write_port(chip, Region.POSTTRACE),
                "post_fired_rp": bit_read_port(c.neuron_bits),
                "revptr_rp": read_port(chip, Region.REVPTR),
                "rev_rp": read_port(chip, Region.REVERSE),
                "syn_rp": read_port(chip, Region.SYNAPSE),
                "syn_wp": write_port(chip, Region.SYNAPSE),
                "pre_rp": read_port(chip, Region.PRETRACE),
                "pre_wp": write_port(chip, Region.PRETRACE),
                "pre_fired_rp": bit_read_port(c.axon_bits),
                "pre_fired_wp": bit_write_port(c.axon_bits),
                "lpa_sel": Out(c.lprofile_bits),
                "lpa": In(prof),
                "lpb_sel": Out(c.lprofile_bits),
                "lpb": In(prof),
            }
        )

    def elaborate(self, platform):
        m = Module()
        c = self.chip.core
        phase = Signal(range(3))
        n_idx = Signal(range(c.neurons + 1))
        n1_valid = Signal()
        n1_idx = Signal(c.neuron_bits)
        r_cnt = Signal(range(c.reverse_depth + 1))
        r_addr = Signal(c.reverse_addr_bits)
        p1_valid = Signal()
        p2_valid = Signal()
        p2_addr = Signal(c.synapse_addr_bits)
        a_idx = Signal(range(c.axons + 1))
        a1_valid = Signal()
        a1_idx = Signal(c.axon_bits)
        # the second stage of each computation (one multiplier per stage)
        n2_valid, a2_valid, p3_valid = Signal(), Signal(), Signal()
        n2_idx, a2_idx = Signal(c.neuron_bits), Signal(c.axon_bits)
        names = ("n2_d", "n2_inc", "a2_d", "a2_inc", "p3_d")
        n2_d, n2_inc, a2_d, a2_inc, p3_d = (Signal(7, name=n) for n in names)
        n2_lprof, a2_lprof = Signal(c.lprofile_bits), Signal(c.lprofile_bits)
        p3_addr = Signal(c.synapse_addr_bits)
        p3_syn = Signal.like(self.syn_rp.data)
        p4_valid, p4_addr = Signal(), Signal(c.synapse_addr_bits)
        p4_syn, p4_dw, p4_wmax = (
            Signal.like(self.syn_rp.data),
            Signal(14),
            Signal.like(self.lpb.w_max),
        )
        p3_ap, p3_sh, p3_wmax = (Signal.like(self.lpb.a_plus), Signal.like(self.lpb.a_plus_shift),
                                 Signal.like(self.lpb.w_max))  # fmt: skip

        post, ptr = self.post_rp.data, self.revptr_rp.data
        walk = Signal()  # N1 holds a neuron that fired and has a reverse row
        n_issue = Signal()
        r_issue = Signal()
        n_end = Signal()
        a_issue = Signal()
        m.d.comb += [
            walk.eq(n1_valid & self.post_fired_rp.data & (ptr.len != 0)),
            r_issue.eq(r_cnt != 0),
            n_issue.eq((phase == NEURON) & (n_idx != c.neurons) & ~walk & (r_cnt <= 1)),
            n_end.eq((phase == NEURON) & (n_idx == c.neurons) & ~n1_valid & ~r_issue & ~p1_valid),
            a_issue.eq((phase == AXON) & (a_idx != c.axons)),
            self.finish.eq((phase == AXON) & (a_idx == c.axons) & ~a1_valid & ~a2_valid),
        ]
        # N0 / A0: issue the reads
        for port in (self.post_rp, self.post_fired_rp, self.revptr_rp):
            m.d.comb += [port.addr.eq(n_idx), port.en.eq(n_issue)]
        m.d.sync += [n1_valid.eq(n_issue), n1_idx.eq(n_idx), a1_valid.eq(a_issue), a1_idx.eq(a_idx)]
        with m.If(self.start):
            m.d.sync += [phase.eq(NEURON), n_idx.eq(0)]
        with m.Elif(n_end):
            m.d.sync += [phase.eq(AXON), a_idx.eq(0)]
        with m.Elif(self.finish):
            m.d.sync += phase.eq(IDLE)
        with m.If(n_issue):
            m.d.sync += n_idx.eq(n_idx + 1)
        with m.If(a_issue):
            m.d.sync += a_idx.eq(a_idx + 1)

        # N1: commit the post trace; a fired neuron's row goes to the walker
        with m.If(walk):
            m.d.sync += [r_addr.eq(ptr.base), r_cnt.eq(ptr.len)]
        with m.Elif(r_issue):
            m.d.sync += [r_addr.eq(r_addr + 1), r_cnt.eq(r_cnt - 1)]
        lpa = self.lpa
        m.d.sync += [
            n2_valid.eq(n1_valid),
            n2_idx.eq(n1_idx),
            n2_d.eq(decayed(post.x, lpa.post_decay)),
            n2_inc.eq(Mux(self.post_fired_rp.data, lpa.post_inc, 0)),
            n2_lprof.eq(post.lprofile),
        ]
        m.d.comb += [
            self.rev_rp.addr.eq(r_addr),
            self.rev_rp.en.eq(r_issue),
            # N2: the committed post trace
            self.post_wp.addr.eq(n2_idx),
            self.post_wp.data.x.eq(saturate(n2_d + n2_inc)),
            self.post_wp.data.fired.eq(0),
            self.post_wp.data.lprofile.eq(n2_lprof),
            self.post_wp.en.eq(n2_valid),
        ]
        # P1: the entry's synapse word and its axon's pre trace; P2: potentiate
        rev = self.rev_rp.data
        m.d.sync += [p1_valid.eq(r_issue), p2_valid.eq(p1_valid), p2_addr.eq(rev.synapse)]
        syn, pre = self.syn_rp.data, self.pre_rp.data
        lpb = self.lpb
        m.d.sync += [
            p3_valid.eq(p2_valid & syn.plastic),
            p3_addr.eq(p2_addr),
            p3_syn.eq(syn),
            p3_d.eq(decayed(pre.x, lpb.pre_decay)),
            p3_ap.eq(lpb.a_plus),
            p3_sh.eq(lpb.a_plus_shift),
            p3_wmax.eq(lpb.w_max),
            # P3: dw = (a_plus * D_pre) >> shift
            p4_valid.eq(p3_valid),
            p4_addr.eq(p3_addr),
            p4_syn.eq(p3_syn),
            p4_dw.eq(amplitude(p3_ap, p3_d, p3_sh)),
            p4_wmax.eq(p3_wmax),
            a2_valid.eq(a1_valid),
            a2_idx.eq(a1_idx),
            a2_d.eq(decayed(pre.x, lpa.pre_decay)),
            a2_inc.eq(Mux(self.pre_fired_rp.data, lpa.pre_inc, 0)),
            a2_lprof.eq(pre.lprofile),
        ]
        m.d.comb += [
            self.syn_rp.addr.eq(rev.synapse),
            self.syn_rp.en.eq(p1_valid),
            self.pre_rp.addr.eq(Mux(phase == AXON, a_idx, rev.axon)),
            self.pre_rp.en.eq(p1_valid | a_issue),
            self.pre_fired_rp.addr.eq(a_idx),
            self.pre_fired_rp.en.eq(a_issue),
            self.lpb_sel.eq(syn.lprofile),
            # P4: the potentiated weight
            self.syn_wp.addr.eq(p4_addr),
            self.syn_wp.data.target.eq(p4_syn.target),
            self.syn_wp.data.weight.eq(potentiate(m, p4_syn.weight, p4_dw, p4_wmax)),
            self.syn_wp.data.plastic.eq(p4_syn.plastic),
            self.syn_wp.data.lprofile.eq(p4_syn.lprofile),
            self.syn_wp.en.eq(p4_valid),
            # A2: the committed pre trace; the fired bit cleared
            self.lpa_sel.eq(Mux(phase == AXON, pre.lprofile, post.lprofile)),
            self.pre_wp.addr.eq(a2_idx),
            self.pre_wp.data.x.eq(saturate(a2_d + a2_inc)),
            self.pre_wp.data.fired.eq(0),
            self.pre_wp.data.lprofile.eq(a2_lprof),
            self.pre_wp.en.eq(a2_valid),
            self.pre_fired_wp.addr.eq(a2_idx),
            self.pre_fired_wp.data.eq(0),
            self.pre_fired_wp.en.eq(a2_valid),
        ]
        return m


def learning_memories(m, chip, layouts, memories):
    """A learning core's own memories (submodules of ``Core`` under these names, also
    recorded in ``memories``) and the learning-profile registers; returns their ports."""
    c = chip.core
    ports = SimpleNamespace()

    def memory(name, shape, depth):
        mem = Memory(shape=shape, depth=depth, init=[])
        m.submodules[name] = memories[name] = mem
        return mem.read_port(), mem.write_port()

    for name, region in (
        ("pre", Region.PRETRACE),
        ("post", Region.POSTTRACE),
        ("revptr", Region.REVPTR),
        ("rev", Region.REVERSE),
    ):
        lay, depth = layouts[region]
        rp, wp = memory(f"{name}_mem", lay.struct(), depth)
        setattr(ports, f"{name}_rp", rp)
        setattr(ports, f"{name}_wp", wp)
    ports.pre_fired_rp, ports.pre_fired_wp = memory("pre_fired_mem", unsigned(1), c.axons)
    ports.post_fired_rp, ports.post_fired_wp = memory("post_fired_mem", unsigned(1), c.neurons)
    # learning profiles: registers, selected combinationally (reset-less, like a memory)
    ports.lprof = [
        Signal(lprofile_layout().struct(), reset_less=True, name=f"lprof{k}")
        for k in range(c.learning_profiles)
    ]
    return ports


def learning_readback(m, chip, core, lm, mem, *, running, ev_idle):
    """``i_lread`` / ``o_lread``: read back a SYNAPSE, PRETRACE or POSTTRACE word (the trace
    words with their fired bit) by its configuration address, while no loop runs and no
    event is inside (``ready`` = ~running & idle & nothing in flight, Moore). The request's
    read is issued in its transfer cycle, the word registered in the next, offered from
    the one after (held until taken): one word per 3 cycles. Other regions answer 0."""
    ib = config_index_bits(chip)
    rq, ro = core.i_lread, core.o_lread
    lr = SimpleNamespace(take=Signal(), index=rq.payload[:ib], region=rq.payload[ib:])
    pend, valid = Signal(), Signal()
    region = Signal(len(lr.region))
    data = Signal(len(ro.payload))
    m.d.comb += [
        rq.ready.eq(~running & ev_idle & ~pend & ~valid),
        lr.take.eq(rq.valid & rq.ready),
        ro.valid.eq(valid),
        ro.payload.eq(data),
    ]
    m.d.sync += pend.eq(lr.take)
    with m.If(lr.take):
        m.d.sync += region.eq(lr.region)

    def trace(word, fired):
        return Cat(word.x, fired, word.lprofile)

    with m.If(pend):
        m.d.sync += valid.eq(1)
        with m.Switch(region):
            with m.Case(Region.SYNAPSE):
                m.d.sync += data.eq(mem.syn_rp.data.as_value())
            with m.Case(Region.PRETRACE):
                m.d.sync += data.eq(trace(lm.pre_rp.data, lm.pre_fired_rp.data))
            with m.Case(Region.POSTTRACE):
                m.d.sync += data.eq(trace(lm.post_rp.data, lm.post_fired_rp.data))
            with m.Default():
                m.d.sync += data.eq(0)
    with m.Elif(valid & ro.ready):
        m.d.sync += valid.eq(0)
    return lr


def connect_learning(m, chip, *, mem, lm, ev, up, lu, cfg, learning, lr):
    """Steer the ports a learning core's components share: the synapse memory (event
    pipeline outside the learning phase, learning unit in it, config writes first), the
    post traces (read by S1 and N0), the fired bits (set by events and U5, cleared by the
    axon pass), and the learning-profile registers (written by config, selected by the
    event pipeline's S2 and the learning unit)."""
    c = chip.core
    # the learning unit's in its phase; else the event pipeline's or a read-back's (only
    # while no loop runs and the event pipeline is idle)
    for port, a, b, region in (
        (mem.syn_rp, lu.syn_rp, ev.syn_rp, Region.SYNAPSE),
        (lm.post_rp, lu.post_rp, ev.post_rp, Region.POSTTRACE),
    ):
        hit = lr.take & (lr.region == region)
        m.d.comb += [
            port.addr.eq(Mux(learning, a.addr, Mux(hit, lr.index, b.addr))),
            port.en.eq(Mux(learning, a.en, b.en | hit)),
            a.data.eq(port.data),
            b.data.eq(port.data),
        ]
    for name, region in (
        ("pre_rp", Region.PRETRACE),
        ("pre_fired_rp", Region.PRETRACE),
        ("post_fired_rp", Region.POSTTRACE),
    ):
        port, a = getattr(lm, name), getattr(lu, name)
        hit = lr.take & (lr.region == region)
        m.d.comb += [
            port.addr.eq(Mux(hit, lr.index, a.addr)),
            port.en.eq(a.en | hit),
            a.data.eq(port.data),
        ]
    for name in ("revptr_rp", "rev_rp"):
        wiring.connect(m, getattr(lu, name), getattr(lm, name))

    def write(wp, region, others, *, fired=False):
        """Config first, then the first of ``others`` ((condition, port) pairs) that holds."""
        with m.If(cfg.we[region]):
            data = cfg.data[TRACE_FIRED_BIT] if fired else cfg.data
            m.d.comb += [wp.addr.eq(cfg.index), wp.data.eq(data), wp.en.eq(1)]
        for k, (cond, src) in enumerate(others):
            with m.Elif(cond) if k < len(others) - 1 else m.Else():
                m.d.comb += [wp.addr.eq(src.addr), wp.data.eq(src.data), wp.en.eq(src.en)]

    write(mem.syn_wp, Region.SYNAPSE, [(learning, lu.syn_wp), (1, ev.syn_wp)])
    write(lm.post_wp, Region.POSTTRACE, [(1, lu.post_wp)])
    write(lm.pre_wp, Region.PRETRACE, [(1, lu.pre_wp)])
    write(lm.pre_fired_wp, Region.PRETRACE, [(learning, lu.pre_fired_wp), (1, ev.pre_fired_wp)],
          fired=True)  # fmt: skip
    with m.If(cfg.we[Region.POSTTRACE]):
        m.d.comb += [
            lm.post_fired_wp.addr.eq(cfg.index),
            lm.post_fired_wp.data.eq(cfg.data[TRACE_FIRED_BIT]),
            lm.post_fired_wp.en.eq(1),
        ]
    with m.Else():  # U5 writes every neuron back once a tick: its spike is the fired bit
        m.d.comb += [
            lm.post_fired_wp.addr.eq(up.state_wp.addr),
            lm.post_fired_wp.data.eq(up.o_spiked),
            lm.post_fired_wp.en.eq(up.state_wp.en),
        ]
    for name, region in (("revptr_wp", Region.REVPTR), ("rev_wp", Region.REVERSE)):
        wp = getattr(lm, name)
        m.d.comb += [wp.addr.eq(cfg.index), wp.data.eq(cfg.data), wp.en.eq(cfg.we[region])]
    pb = (c.learning_profiles - 1).bit_length()
    regs = Array(r.as_value() for r in lm.lprof)
    for sel, out in ((ev.lp_sel, ev.lp), (lu.lpa_sel, lu.lpa), (lu.lpb_sel, lu.lpb)):
        m.d.comb += out.eq(regs[sel[:pb]] if pb else lm.lprof[0])
    for k, reg in enumerate(lm.lprof):
        with m.If(cfg.we[Region.LPROFILE] & ((cfg.index[:pb] == k) if pb else 1)):
            m.d.sync += reg.eq(cfg.data)
