"""The neuron core's event pipeline: axon ids in, ``w << e`` into the accumulators (chip.md §4).

::

    i_event ─► AX ─────► walker ─────► S1 ──────► S2 ───────► acc_wp
              axon_rp    syn_rp        acc_rp     add w << e,
              (axon      (one synapse  (target's  write,
              table)     per cycle)    acc read)  forwarded

AX holds the axon word of the oldest accepted event on ``axon_rp.data`` (its read
enable low) until the walker takes it; the walker issues one synapse address per
cycle; S1 reads the target's accumulator; S2 adds ``w << e`` and writes. No internal
stall. ``Core`` steers ``acc_rp``/``acc_wp`` to the bank of tick t + d, d the row's delay
(acc[~parity] without delays): on a core with delays the row's delay field travels with
its synapses through the walker, S1 and S2 and leaves as ``acc_rp_delay`` (S1's, the
bank read) and ``acc_wp_delay`` (S2's, the bank written and the bank whose read data
``acc_rp.data`` must carry). The twin is ``sim/core_event.py::EventPipeline``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from spikemesh.config import WEIGHT_BITS, WEIGHT_EXP_BITS
from spikemesh.layouts import Region, lprofile_layout

from .core_ports import bit_write_port, check_component, read_port, write_port
from .learn_math import amplitude, decayed, depress

__all__ = ["EventPipeline"]


class EventPipeline(wiring.Component):
    """Accumulates every synapse of each arriving axon's row, one synapse per cycle.

    Parameters
    ----------
    chip : ChipConfig

    Members
    -------
    i_event : In(stream.Signature(unsigned(axon_bits)))
        Axon ids. ``ready = ~ax_valid | (w_cnt <= 1)`` (Moore): the walker takes the
        waiting row in the cycle it issues the current row's last synapse.
    axon_rp, syn_rp : read ports of the axon table and the synapse memory.
    acc_rp, acc_wp : read and write port of the accumulator buffer events go to.
        The read of synapse k + 1 is issued in the cycle synapse k is written; the
        port is not transparent, so S2 forwards the previous cycle's write when the
        targets match (same-target runs cost nothing extra).
    idle : Out(1)
        No accepted event is inside the pipeline (registers only).
    acc_rp_delay, acc_wp_delay : Out(delay_bits), only on a core with delays
        The delay field (d - 1) of the synapse in S1 and in S2 (registers). The forwarding
        compares it too: consecutive synapses of one target in different banks do not
        forward.
    """

    def __init__(self, chip):
        check_component(self, chip)
        self.chip = chip
        members = {
            "i_event": In(stream.Signature(unsigned(chip.core.axon_bits))),
            "axon_rp": read_port(chip, Region.AXON),
            "syn_rp": read_port(chip, Region.SYNAPSE),
            "acc_rp": read_port(chip, Region.ACC),
            "acc_wp": write_port(chip, Region.ACC),
            "idle": Out(1),
        }
        if chip.core.delay_bits:
            members["acc_rp_delay"] = Out(chip.core.delay_bits)
            members["acc_wp_delay"] = Out(chip.core.delay_bits)
        if chip.core.learning:  # STDP depression (docs/learning.md "Hardware plan")
            members.update(
                hold=In(1),
                pre_fired_wp=bit_write_port(chip.core.axon_bits),
                post_rp=read_port(chip, Region.POSTTRACE),
                syn_wp=write_port(chip, Region.SYNAPSE),
                lp_sel=Out(chip.core.lprofile_bits),
                lp=In(lprofile_layout().struct()),
            )
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        c = self.chip.core
        ev = self.i_event
        ax_valid = Signal()  # axon table word of the oldest accepted event is on axon_rp.data
        w_cnt = Signal(range(c.synapses + 1))  # synapses of the current row still to issue
        w_addr = Signal(c.synapse_addr_bits)
        w_exp = Signal(WEIGHT_EXP_BITS)
        s1_valid = Signal()
        s1_exp = Signal(WEIGHT_EXP_BITS)
        s2_valid = Signal()
        # a learning core's depression stages (S3: dw, S4: write-back; else always 0)
        s3_valid, s4_valid = Signal(), Signal()
        s2_target = Signal(c.neuron_bits)
        s2_wv = Signal(signed(WEIGHT_BITS + (1 << WEIGHT_EXP_BITS) - 1))
        fwd_valid = Signal()
        fwd_target = Signal(c.neuron_bits)
        fwd_acc = Signal(signed(c.acc_bits))
        # the row's delay field through the stages (no signals at all without delays)
        db = c.delay_bits
        w_delay, s1_delay, s2_delay, fwd_delay = (
            Signal(db, name=n) for n in ("w_delay", "s1_delay", "s2_delay", "fwd_delay")
        )
        if db:
            m.d.comb += [self.acc_rp_delay.eq(s1_delay), self.acc_wp_delay.eq(s2_delay)]

        w_free = Signal()  # the walker can take a new row at the end of this cycle
        ax_load = Signal()
        w_issue = Signal()
        ev_take = Signal()
        m.d.comb += [
            w_free.eq(w_cnt <= 1),
            # a learning core's AX holds its event through the learning phase (hold)
            ax_load.eq(ax_valid & w_free & ~self.hold if c.learning else ax_valid & w_free),
            w_issue.eq(w_cnt != 0),
            # Moore: a function of ax_valid and w_cnt (and the core's learning register) only.
            ev.ready.eq((~ax_valid | w_free) & ~self.hold if c.learning else ~ax_valid | w_free),
            ev_take.eq(ev.valid & ev.ready),
            self.idle.eq(
                ~ax_valid & (w_cnt == 0) & ~s1_valid & ~s2_valid & ~s3_valid & ~s4_valid
                if c.learning
                else ~ax_valid & (w_cnt == 0) & ~s1_valid & ~s2_valid
            ),
            # The axon word is held on the read port (en low) until the walker takes it.
            self.axon_rp.addr.eq(ev.payload),
            self.axon_rp.en.eq(ev_take),
            self.syn_rp.addr.eq(w_addr),
            self.syn_rp.en.eq(w_issue),
        ]
        m.d.sync += ax_valid.eq(ev_take | (ax_valid & ~ax_load))
        with m.If(ax_load):
            m.d.sync += [
                w_addr.eq(self.axon_rp.data.base),
                w_cnt.eq(self.axon_rp.data.len),
                w_exp.eq(self.axon_rp.data.exp),
            ]
            if db:
                m.d.sync += w_delay.eq(self.axon_rp.data.delay)
        with m.Elif(w_issue):
            m.d.sync += [w_addr.eq(w_addr + 1), w_cnt.eq(w_cnt - 1)]
        m.d.sync += [s1_valid.eq(w_issue), s1_exp.eq(w_exp)]
        if db:
            m.d.sync += [s1_delay.eq(w_delay), s2_delay.eq(s1_delay), fwd_delay.eq(s2_delay)]

        # S1: synapse word on syn_rp.data; read the target's accumulator.
        m.d.comb += [self.acc_rp.addr.eq(self.syn_rp.data.target), self.acc_rp.en.eq(s1_valid)]
        m.d.sync += [
            s2_valid.eq(s1_valid),
            s2_target.eq(self.syn_rp.data.target),
            s2_wv.eq(self.syn_rp.data.weight << s1_exp),  # the event adds w << e (chip.md §4)
        ]

        # S2: read-add-write. The accumulator read of this synapse was issued in
        # the same cycle as the previous synapse's write; a non-transparent port
        # returned the value before that write, so forward it when the targets (and the
        # delays, so the banks) match.
        acc_old = Signal(signed(c.acc_bits))
        acc_new = Signal(signed(c.acc_bits))  # modular: wraps at acc_bits (chip.md §4)
        same = fwd_valid & (fwd_target == s2_target)
        if db:
            same &= fwd_delay == s2_delay
        m.d.comb += [
            acc_old.eq(Mux(same, fwd_acc, self.acc_rp.data.a)),
            acc_new.eq(acc_old + s2_wv),
            self.acc_wp.addr.eq(s2_target),
            self.acc_wp.data.a.eq(acc_new),
            self.acc_wp.en.eq(s2_valid),
        ]
        m.d.sync += [fwd_valid.eq(s2_valid), fwd_target.eq(s2_target), fwd_acc.eq(acc_new)]
        if c.learning:
            self._depression(
                m,
                s3_valid=s3_valid,
                s4_valid=s4_valid,
                w_addr=w_addr,
                s1_valid=s1_valid,
                s2_target=s2_target,
                ev_take=ev_take,
                ax_load=ax_load,
            )
        return m

    def _depression(self, m, *, s3_valid, s4_valid, w_addr, s1_valid, s2_target, ev_take, ax_load):
        """STDP depression on a learning core: S1 also reads the target's post trace, S2
        decays it (D_post), S3 computes ``dw = (a_minus * D_post) >> s`` and S4 writes the
        plastic synapse back with ``max(w - dw, w_min)`` (the accumulation in S2 used the
        weight read, the old one); ``idle`` waits for S4. An event sets its axon's
        fired bit when the walker takes its row (an event taken in the cycle of ``start``
        waits in AX through the learning phase, which clears the fired bits)."""
        c = self.chip.core
        syn = self.syn_rp.data
        s1_addr = Signal(c.synapse_addr_bits)
        s2_addr = Signal(c.synapse_addr_bits)
        s2_w = Signal(signed(WEIGHT_BITS))
        s2_plastic = Signal()
        s2_lprof = Signal(c.lprofile_bits)
        ax_idx = Signal(c.axon_bits)  # the axon of the event in AX
        with m.If(ev_take):
            m.d.sync += ax_idx.eq(self.i_event.payload)
        m.d.sync += [
            s1_addr.eq(w_addr),
            s2_addr.eq(s1_addr),
            s2_w.eq(syn.weight),
            s2_plastic.eq(s1_valid & syn.plastic),
            s2_lprof.eq(syn.lprofile),
        ]
        lp = self.lp
        s3_addr = Signal(c.synapse_addr_bits)
        s3_target = Signal(c.neuron_bits)
        s3_w = Signal(signed(WEIGHT_BITS))
        s3_lprof = Signal(c.lprofile_bits)
        s3_d = Signal(7)
        s3_am, s3_sh, s3_wmin = (Signal.like(lp.a_minus), Signal.like(lp.a_minus_shift),
                                 Signal.like(lp.w_min))  # fmt: skip
        m.d.sync += [
            s3_valid.eq(s2_plastic),
            s3_addr.eq(s2_addr),
            s3_target.eq(s2_target),
            s3_w.eq(s2_w),
            s3_lprof.eq(s2_lprof),
            s3_d.eq(decayed(self.post_rp.data.x, lp.post_decay)),
            s3_am.eq(lp.a_minus),
            s3_sh.eq(lp.a_minus_shift),
            s3_wmin.eq(lp.w_min),
        ]
        s4_addr = Signal(c.synapse_addr_bits)
        s4_target = Signal(c.neuron_bits)
        s4_w = Signal(signed(WEIGHT_BITS))
        s4_lprof = Signal(c.lprofile_bits)
        s4_dw = Signal(14)
        s4_wmin = Signal.like(lp.w_min)
        m.d.sync += [
            s4_valid.eq(s3_valid),
            s4_addr.eq(s3_addr),
            s4_target.eq(s3_target),
            s4_w.eq(s3_w),
            s4_lprof.eq(s3_lprof),
            s4_dw.eq(amplitude(s3_am, s3_d, s3_sh)),
            s4_wmin.eq(s3_wmin),
        ]
        m.d.comb += [
            self.pre_fired_wp.addr.eq(ax_idx),
            self.pre_fired_wp.data.eq(1),
            self.pre_fired_wp.en.eq(ax_load),
            self.post_rp.addr.eq(syn.target),
            self.post_rp.en.eq(s1_valid),
            self.lp_sel.eq(s2_lprof),
            self.syn_wp.addr.eq(s4_addr),
            self.syn_wp.data.target.eq(s4_target),
            self.syn_wp.data.weight.eq(depress(m, s4_w, s4_dw, s4_wmin)),
            self.syn_wp.data.plastic.eq(1),
            self.syn_wp.data.lprofile.eq(s4_lprof),
            self.syn_wp.en.eq(s4_valid),
        ]
