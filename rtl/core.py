"""The neuron core: LIF update loop, synaptic event pipeline and fan-out (chip.md §3, §4, §7).

Block diagram (every arrow is a registered pipeline stage; memories have
synchronous read ports)::

    i_event ─► AX ─► walker ─► S1 ─► S2 ──► acc[~parity]   (events for tick t+1)
                (axon table) (synapse mem) (read-add-write, forwarded)

    start ─► U0 ─► U1 ─► U2 ─► U3 ─► U4 ─► U5 ─► SQ ─► walker ─► RD ─► o_flit
            state  profile mul  T(),u  v,sat  write  spike  (fan-out  (flit
            fanptr clear  (DSP)        spike  back   queue   mem)     register)
            acc[parity]  decay factors
                         (registers)

Events and the update loop run concurrently: they touch disjoint memories
(axon, synapse and acc[~parity] vs. state, fan-out pointer, profile,
acc[parity] and fan-out), so they never compete for a port. The two
accumulator buffers are two 1R1W memories; the tick parity steers each one's
ports to the event pipeline or to the update loop. docs/timing.md gives the
exact cycle counts; sim/core.py::CoreModel is the cycle-exact twin.
"""

from __future__ import annotations

from amaranth.hdl import Array, Assert, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikemesh.config import (
    ACC_SHIFT,
    DECAY_SHIFT,
    DU_BITS,
    DV_BITS,
    KIND_HOST_OUT,
    KIND_SPIKE,
    STATE_BITS,
    VTH_SHIFT,
    WEIGHT_BITS,
    WEIGHT_EXP_BITS,
    ChipConfig,
    flit_layout,
    host_source_layout,
)
from spikemesh.layouts import (
    Region,
    acc_layout,
    config_index_bits,
    config_layout,
    read_layout,
    region_layouts,
)

from .contracts import mark_unused

__all__ = ["Core"]

_SAT = (1 << (STATE_BITS - 1)) - 1
_ROUND = (1 << DECAY_SHIFT) - 1
_LO_BITS = 16  # the unsigned low half of a split product operand (one 16 x 16 DSP each)


def _check_coord(what, value, size):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
        raise ValueError(
            f"Tile {what} coordinate must be an integer between 0 and {size - 1}, not {value!r}"
        )


def _split_shr_toward_zero(m, name, hi, lo):
    """T(x) of chip.md §3 (x >> 12 rounding toward zero) of x = hi * 2^16 + lo.

    ``hi`` and ``lo`` are the products of the operand's signed high and unsigned
    low half with the same factor f >= 0, so lo >= 0 and x < 0 exactly when
    hi < 0. Adding 4095 to a negative x before the arithmetic shift turns floor
    into ceiling, which is sign(x) * (|x| >> 12) without an absolute value; and
    as 2^16 is a multiple of 2^12, (hi * 2^16 + lo + r) >> 12 is
    hi * 2^4 + ((lo + r) >> 12), so the rounding add is only as wide as ``lo``.
    """
    t = Signal(signed(len(hi) + _LO_BITS - DECAY_SHIFT + 1), name=name)
    low = (lo + Mux(hi < 0, _ROUND, 0)) >> DECAY_SHIFT
    m.d.comb += t.eq((hi << (_LO_BITS - DECAY_SHIFT)) + low)
    return t


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
    parity : In(1)
        t & 1, sampled with ``start``: the update loop reads and clears
        acc[parity]; events go to acc[parity ^ 1] from the next cycle on.
    done : Out(1)
        High from reset and from the cycle after the loop of the last
        ``start`` has updated every neuron and sent every flit (o_flit empty).
    idle : Out(1)
        No event is inside the event pipeline (every accepted event has been
        accumulated). Depends on registers only.

    Raises
    ------
    TypeError, ValueError
        On a bad ``chip`` or tile coordinate.
    """

    def __init__(self, chip, *, x, y):
        try:
            if not isinstance(chip, ChipConfig):
                raise TypeError(f"Chip configuration must be a ChipConfig, not {chip!r}")
            _check_coord("x", x, chip.width)
            _check_coord("y", y, chip.height)
        except (TypeError, ValueError):
            # A refused constructor is not an unused design (Amaranth would warn at GC,
            # which pytest's warnings-as-errors turns into a failure of a later test).
            mark_unused(self)  # not built: no "created but never used" warning
            raise
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
                "parity": In(1),
                "done": Out(1),
                "idle": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        chip, c = self.chip, self.chip.core
        n = c.neurons
        layouts = region_layouts(chip)

        # Every read port below is non-transparent. Config writes happen only
        # while nothing reads (i_config.ready = ~running & idle), the update
        # loop reads each address once per tick and writes it back 1..3 cycles
        # later, and the one real read-after-write hazard (consecutive
        # synapses hitting the same accumulator) is resolved by the explicit
        # forwarding register in stage S2, which is cheaper on ECP5 block RAM
        # than the soft bypass a transparent port would infer.
        def memory(name, region):
            lay, depth = layouts[region]
            mem = Memory(shape=lay.struct(), depth=depth, init=[])
            m.submodules[name] = mem
            return mem

        state_mem = memory("state_mem", Region.NEURON)
        prof_mem = memory("profile_mem", Region.PROFILE)
        axon_mem = memory("axon_mem", Region.AXON)
        syn_mem = memory("synapse_mem", Region.SYNAPSE)
        fanptr_mem = memory("fanptr_mem", Region.FANPTR)
        fanout_mem = memory("fanout_mem", Region.FANOUT)
        acc_mem = []
        for b in range(2):
            mem = Memory(shape=acc_layout(c).struct(), depth=n, init=[])
            m.submodules[f"acc{b}_mem"] = mem
            acc_mem.append(mem)

        # State: U0 reads neuron i, U5 writes neuron i back five or more cycles
        # later and never reads it again this tick -> no read-during-write.
        state_rp, state_wp = state_mem.read_port(), state_mem.write_port()
        # Profile, axon, synapse, fan-out pointer and fan-out tables are only
        # written by the config path, which is locked out while they are read.
        prof_rp, prof_wp = prof_mem.read_port(), prof_mem.write_port()
        axon_rp, axon_wp = axon_mem.read_port(), axon_mem.write_port()
        syn_rp, syn_wp = syn_mem.read_port(), syn_mem.write_port()
        fanptr_rp, fanptr_wp = fanptr_mem.read_port(), fanptr_mem.write_port()
        fanout_rp, fanout_wp = fanout_mem.read_port(), fanout_mem.write_port()
        # Accumulators: the update side reads i in U0 and clears it in U1 (never
        # re-read); the event side's same-cycle read-during-write is resolved by
        # the S2 forwarding register, so the port need not be transparent, and a
        # non-transparent port keeps the BRAM's native read-before-write mode.
        acc_rp = [mem.read_port() for mem in acc_mem]
        acc_wp = [mem.write_port() for mem in acc_mem]

        # Decay factors of the neuron's profile, selected in U1 (see _decay_factors).
        prof_fu_sel = Signal(signed(DU_BITS + 1))
        prof_fv_sel = Signal(signed(DV_BITS + 2))

        # ---- state registers shared by several blocks -----------------------
        running = Signal()
        done = Signal(init=1)
        parity = Signal()  # tick parity: update uses acc[parity], events acc[~parity]
        ev_buf = Signal()
        m.d.comb += ev_buf.eq(~parity)

        # ---- event pipeline: AX -> walker -> S1 -> S2 ------------------------
        ev = self.i_event
        ax_valid = Signal()  # axon table word of the oldest accepted event is on axon_rp.data
        w_cnt = Signal(range(c.synapses + 1))  # synapses of the current row still to issue
        w_addr = Signal(c.synapse_addr_bits)
        w_exp = Signal(WEIGHT_EXP_BITS)
        s1_valid = Signal()
        s1_exp = Signal(WEIGHT_EXP_BITS)
        s2_valid = Signal()
        s2_target = Signal(c.neuron_bits)
        s2_wv = Signal(signed(WEIGHT_BITS + (1 << WEIGHT_EXP_BITS) - 1))
        fwd_valid = Signal()
        fwd_target = Signal(c.neuron_bits)
        fwd_acc = Signal(signed(c.acc_bits))

        w_free = Signal()  # the walker can take a new row at the end of this cycle
        ax_load = Signal()
        w_issue = Signal()
        ev_take = Signal()
        ev_idle = Signal()
        m.d.comb += [
            w_free.eq(w_cnt <= 1),
            ax_load.eq(ax_valid & w_free),
            w_issue.eq(w_cnt != 0),
            # Moore: a function of ax_valid and w_cnt only.
            ev.ready.eq(~ax_valid | w_free),
            ev_take.eq(ev.valid & ev.ready),
            ev_idle.eq(~ax_valid & (w_cnt == 0) & ~s1_valid & ~s2_valid),
            self.idle.eq(ev_idle),
            # The axon word is held on the read port (en low) until the walker takes it.
            axon_rp.addr.eq(ev.payload),
            axon_rp.en.eq(ev_take),
            syn_rp.addr.eq(w_addr),
            syn_rp.en.eq(w_issue),
        ]
        m.d.sync += ax_valid.eq(ev_take | (ax_valid & ~ax_load))
        with m.If(ax_load):
            m.d.sync += [
                w_addr.eq(axon_rp.data.base),
                w_cnt.eq(axon_rp.data.len),
                w_exp.eq(axon_rp.data.exp),
            ]
        with m.Elif(w_issue):
            m.d.sync += [w_addr.eq(w_addr + 1), w_cnt.eq(w_cnt - 1)]
        m.d.sync += [s1_valid.eq(w_issue), s1_exp.eq(w_exp)]

        # S1: synapse word on syn_rp.data; read the target's accumulator.
        s1_target = syn_rp.data.target
        m.d.sync += [
            s2_valid.eq(s1_valid),
            s2_target.eq(s1_target),
            s2_wv.eq(syn_rp.data.weight << s1_exp),  # the event adds w << e (chip.md §4)
        ]

        # S2: read-add-write. The accumulator read of this synapse was issued in
        # the same cycle as the previous synapse's write; a non-transparent port
        # returned the value before that write, so forward it when the targets match.
        ev_acc_rdata = Signal(signed(c.acc_bits))
        ev_acc_old = Signal(signed(c.acc_bits))
        ev_acc_new = Signal(signed(c.acc_bits))  # modular: wraps at acc_bits (chip.md §4)
        m.d.comb += [
            ev_acc_rdata.eq(Mux(ev_buf, acc_rp[1].data.a, acc_rp[0].data.a)),
            ev_acc_old.eq(Mux(fwd_valid & (fwd_target == s2_target), fwd_acc, ev_acc_rdata)),
            ev_acc_new.eq(ev_acc_old + s2_wv),
        ]
        m.d.sync += [fwd_valid.eq(s2_valid), fwd_target.eq(s2_target), fwd_acc.eq(ev_acc_new)]

        # ---- update loop: U0 -> U1 -> U2 -> U3 -> U4 -> U5 --------------------------------
        u_idx = Signal(range(n + 1))
        adv = Signal()  # the update pipeline advances (not stalled by the fan-out)
        u0_issue = Signal()
        u1_valid = Signal()
        u1_idx = Signal(c.neuron_bits)
        u2_valid = Signal()
        u2_idx = Signal(c.neuron_bits)
        # The products' operands: the DSP blocks' own input registers (see U2 below).
        u2_ulo = Signal(_LO_BITS, reset_less=True)
        u2_uhi = Signal(signed(STATE_BITS - _LO_BITS), reset_less=True)
        u2_vlo = Signal(_LO_BITS, reset_less=True)
        u2_vhi = Signal(signed(STATE_BITS - _LO_BITS), reset_less=True)
        u2_fu = Signal(signed(DU_BITS + 1), reset_less=True)
        u2_fv = Signal(signed(DV_BITS + 2), reset_less=True)
        u2_ref = Signal(4)
        u2_prof = Signal(c.profile_bits)
        u2_a = Signal(signed(c.acc_bits))
        u2_fp = Signal(layouts[Region.FANPTR][0].struct())
        u3_valid = Signal()
        u3_idx = Signal(c.neuron_bits)
        # The products as two halves each (the DSP blocks' output registers).
        u3_pu_lo = Signal((u2_ulo * u2_fu[:-1]).shape(), reset_less=True)
        u3_pu_hi = Signal((u2_uhi * u2_fu).shape(), reset_less=True)
        u3_pv_lo = Signal((u2_vlo * u2_fv[:-1]).shape(), reset_less=True)
        u3_pv_hi = Signal((u2_vhi * u2_fv).shape(), reset_less=True)
        u3_ref = Signal(4)
        u3_prof = Signal(c.profile_bits)
        u3_a = Signal(signed(c.acc_bits))
        u3_fp = Signal(layouts[Region.FANPTR][0].struct())
        u3_prm = Signal(layouts[Region.PROFILE][0].struct())

        up_acc_rdata = Signal(signed(c.acc_bits))
        m.d.comb += [
            u0_issue.eq(running & (u_idx != n) & adv),
            fanptr_rp.addr.eq(u_idx),
            fanptr_rp.en.eq(u0_issue),
            up_acc_rdata.eq(Mux(parity, acc_rp[1].data.a, acc_rp[0].data.a)),
        ]
        with m.If(adv):
            m.d.sync += [u1_valid.eq(u0_issue), u1_idx.eq(u_idx), u_idx.eq(u_idx + u0_issue)]
            # U1: state, fan-out pointer and input a are on the read ports.
            m.d.sync += [
                u2_valid.eq(u1_valid),
                u2_idx.eq(u1_idx),
                u2_ulo.eq(state_rp.data.u[:_LO_BITS]),
                u2_uhi.eq(state_rp.data.u[_LO_BITS:]),
                u2_vlo.eq(state_rp.data.v[:_LO_BITS]),
                u2_vhi.eq(state_rp.data.v[_LO_BITS:]),
                u2_fu.eq(prof_fu_sel),
                u2_fv.eq(prof_fv_sel),
                u2_ref.eq(state_rp.data.ref),
                u2_prof.eq(state_rp.data.profile),
                u2_a.eq(up_acc_rdata),
                u2_fp.eq(fanptr_rp.data),
            ]
        m.d.comb += [prof_rp.addr.eq(state_rp.data.profile), prof_rp.en.eq(u1_valid & adv)]

        # U2: decay products. Effective decays are du + 1 and dv (chip.md §3). Each
        # 24-bit operand is split into an unsigned low half and a signed high half, so
        # every product is one 16 x 16 DSP (SB_MAC16, MULT18X18D) with its inputs and
        # its output in registers: on the iCE40 yosys packs u2_* and u3_p*_* into the
        # SB_MAC16's own registers and nextpnr checks every path into and out of it.
        prm2 = prof_rp.data
        with m.If(adv):
            m.d.sync += [
                u3_valid.eq(u2_valid),
                u3_idx.eq(u2_idx),
                u3_pu_lo.eq(u2_ulo * u2_fu[:-1]),
                u3_pu_hi.eq(u2_uhi * u2_fu),
                u3_pv_lo.eq(u2_vlo * u2_fv[:-1]),
                u3_pv_hi.eq(u2_vhi * u2_fv),
                u3_ref.eq(u2_ref),
                u3_prof.eq(u2_prof),
                u3_a.eq(u2_a),
                u3_fp.eq(u2_fp),
                u3_prm.eq(prm2),
            ]

        # U3: T() of the products, the new u, and T(v-product) + bias.
        fp_shape = layouts[Region.FANPTR][0].struct()
        tu = _split_shr_toward_zero(m, "tu", u3_pu_hi, u3_pu_lo)
        tv = _split_shr_toward_zero(m, "tv", u3_pv_hi, u3_pv_lo)
        u4_valid = Signal()
        u4_idx = Signal(c.neuron_bits)
        u4_u = Signal(signed(STATE_BITS))  # wrap24: the assignment truncates (modular u)
        u4_tvb = Signal(signed(STATE_BITS + 2))  # T(v * (4096 - dv)) + bias; |T(..)| <= |v|
        u4_ref = Signal(4)
        u4_prof = Signal(c.profile_bits)
        u4_vth = Signal(17)
        u4_refractory = Signal(4)
        u4_fp = Signal(fp_shape)
        with m.If(adv):
            m.d.sync += [
                u4_valid.eq(u3_valid),
                u4_idx.eq(u3_idx),
                u4_u.eq(tu + (u3_a << ACC_SHIFT)),  # the input enters u as a << 6
                # bias = bias_mant << bias_exp, added here so U4 has a 2-input add
                u4_tvb.eq(tv + (u3_prm.bias_mant << u3_prm.bias_exp)),
                u4_ref.eq(u3_ref),
                u4_prof.eq(u3_prof),
                u4_vth.eq(u3_prm.vth),
                u4_refractory.eq(u3_prm.refractory),
                u4_fp.eq(u3_fp),
            ]

        # U4: v, saturation, threshold, refractory; the result is registered in U5.
        v_sum = Signal(signed(STATE_BITS + 3))
        v_sat = Signal(signed(STATE_BITS))
        in_ref = Signal()
        spike = Signal()
        m.d.comb += [
            v_sum.eq(u4_tvb + u4_u),
            # sat24: symmetric saturation at +-(2^23 - 1)
            v_sat.eq(Mux(v_sum > _SAT, _SAT, Mux(v_sum < -_SAT, -_SAT, v_sum))),
            in_ref.eq(u4_ref != 0),
            spike.eq(~in_ref & (v_sat > (u4_vth << VTH_SHIFT))),  # strictly greater
        ]
        u5_valid = Signal()
        u5_idx = Signal(c.neuron_bits)
        u5_u = Signal(signed(STATE_BITS))
        u5_v = Signal(signed(STATE_BITS))
        u5_ref = Signal(4)
        u5_prof = Signal(c.profile_bits)
        u5_fo = Signal()  # spiked and has something to send
        u5_fp = Signal(fp_shape)
        with m.If(adv):
            m.d.sync += [
                u5_valid.eq(u4_valid),
                u5_idx.eq(u4_idx),
                u5_u.eq(u4_u),
                u5_v.eq(Mux(in_ref | spike, 0, v_sat)),
                u5_ref.eq(Mux(in_ref, u4_ref - 1, Mux(spike, u4_refractory, 0))),
                u5_prof.eq(u4_prof),
                u5_fo.eq(u4_valid & spike & ((u4_fp.len != 0) | u4_fp.host_out)),
                u5_fp.eq(u4_fp),
            ]

        # U5: write-back (below) and the push of a spike into the 2-entry spike
        # queue. The loop stalls only when U5 holds a spike and the queue is full,
        # a function of registers: the long LIF datapath and o_flit.ready never
        # reach the stall, which fans out to every stage enable.
        sq_count = Signal(range(3))
        sq0_idx = Signal(c.neuron_bits)
        sq0_fp = Signal(fp_shape)
        sq1_idx = Signal(c.neuron_bits)
        sq1_fp = Signal(fp_shape)
        sq_push = Signal()
        m.d.comb += [
            adv.eq(~(u5_valid & u5_fo & (sq_count == 2))),
            sq_push.eq(u5_valid & u5_fo & adv),
        ]

        # ---- fan-out: spike queue -> walker -> RD -> o_flit -----------------------
        fo_cnt = Signal(range(c.fanout + 1))  # SPIKE entries still to issue
        fo_host = Signal()  # a HOST_OUT flit is still to issue (after the entries)
        fo_addr = Signal(c.fanout_addr_bits)
        fo_neuron = Signal(c.neuron_bits)
        rd_valid = Signal()
        rd_host = Signal()
        rd_neuron = Signal(c.neuron_bits)
        o_valid = Signal()
        o_payload = Signal(flit_layout(chip).struct())

        o_load = Signal()
        rd_free = Signal()
        fo_issue = Signal()
        fo_last = Signal()
        fo_take = Signal()
        m.d.comb += [
            self.o_flit.valid.eq(o_valid),
            self.o_flit.payload.eq(o_payload),
            o_load.eq(~o_valid | self.o_flit.ready),
            rd_free.eq(~rd_valid | o_load),
            fo_issue.eq(((fo_cnt != 0) | fo_host) & rd_free),
            fo_last.eq(Mux(fo_cnt == 0, fo_host, (fo_cnt == 1) & ~fo_host)),
            # Take the queue head in the cycle the current list issues its last item.
            fo_take.eq((sq_count != 0) & (((fo_cnt == 0) & ~fo_host) | (fo_issue & fo_last))),
            fanout_rp.addr.eq(fo_addr),
            fanout_rp.en.eq(fo_issue & (fo_cnt != 0)),
        ]
        with m.If(fo_take):
            m.d.sync += [
                fo_cnt.eq(sq0_fp.len),
                fo_host.eq(sq0_fp.host_out),
                fo_addr.eq(sq0_fp.base),
                fo_neuron.eq(sq0_idx),
            ]
        with m.Elif(fo_issue):
            with m.If(fo_cnt != 0):
                m.d.sync += [fo_cnt.eq(fo_cnt - 1), fo_addr.eq(fo_addr + 1)]
            with m.Else():
                m.d.sync += fo_host.eq(0)
        m.d.sync += rd_valid.eq(fo_issue | (rd_valid & ~o_load))
        with m.If(fo_issue):
            m.d.sync += [rd_host.eq(fo_cnt == 0), rd_neuron.eq(fo_neuron)]

        # The spike queue (push only when not full, so push & pop happen with one entry).
        with m.If(fo_take & sq_push):
            m.d.sync += [sq0_idx.eq(u5_idx), sq0_fp.eq(u5_fp)]
        with m.Elif(fo_take):
            m.d.sync += [sq0_idx.eq(sq1_idx), sq0_fp.eq(sq1_fp), sq_count.eq(sq_count - 1)]
        with m.Elif(sq_push):
            m.d.sync += sq_count.eq(sq_count + 1)
            with m.If(sq_count == 0):
                m.d.sync += [sq0_idx.eq(u5_idx), sq0_fp.eq(u5_fp)]
            with m.Else():
                m.d.sync += [sq1_idx.eq(u5_idx), sq1_fp.eq(u5_fp)]

        host_src = Signal(host_source_layout(chip).struct())
        m.d.comb += [host_src.neuron.eq(rd_neuron), host_src.x.eq(self.x), host_src.y.eq(self.y)]
        with m.If(o_load):
            m.d.sync += o_valid.eq(rd_valid)
            with m.If(rd_valid & rd_host):
                m.d.sync += [
                    o_payload.kind.eq(KIND_HOST_OUT),
                    o_payload.dest_x.eq(-1),
                    o_payload.dest_y.eq(0),
                    o_payload.payload.eq(host_src),
                ]
            with m.Elif(rd_valid):
                m.d.sync += [
                    o_payload.kind.eq(KIND_SPIKE),
                    o_payload.dest_x.eq(fanout_rp.data.x),
                    o_payload.dest_y.eq(fanout_rp.data.y),
                    o_payload.payload.eq(fanout_rp.data.axon),
                ]

        # ---- tick control --------------------------------------------------------
        drained = Signal()
        m.d.comb += [
            drained.eq(
                (u_idx == n)
                & ~u1_valid
                & ~u2_valid
                & ~u3_valid
                & ~u4_valid
                & ~u5_valid
                & (sq_count == 0)
                & (fo_cnt == 0)
                & ~fo_host
                & ~rd_valid
                & ~o_valid
            ),
            self.done.eq(done),
        ]
        with m.If(self.start & ~running):
            m.d.sync += [running.eq(1), done.eq(0), u_idx.eq(0), parity.eq(self.parity)]
        with m.Elif(running & drained):
            m.d.sync += [running.eq(0), done.eq(1)]

        # ---- configuration writes and read-back ------------------------------------
        cfg = self.i_config
        ib = config_index_bits(chip)
        cfg_we = Signal()
        cfg_region = cfg.payload.addr[ib:]
        cfg_index = cfg.payload.addr[:ib]
        m.d.comb += [
            cfg.ready.eq(~running & ev_idle),  # Moore: registers only
            cfg_we.eq(cfg.valid & cfg.ready),
        ]
        for region, wp in (
            (Region.PROFILE, prof_wp),
            (Region.AXON, axon_wp),
            (Region.SYNAPSE, syn_wp),
            (Region.FANPTR, fanptr_wp),
            (Region.FANOUT, fanout_wp),
        ):
            m.d.comb += [
                wp.addr.eq(cfg_index),
                wp.data.eq(cfg.payload.data),
                wp.en.eq(cfg_we & (cfg_region == region)),
            ]

        self._decay_factors(
            m,
            index=state_rp.data.profile,
            fu=prof_fu_sel,
            fv=prof_fv_sel,
            we=cfg_we & (cfg_region == Region.PROFILE),
            w_index=cfg_index,
            w_data=cfg.payload.data,
        )

        # State memory: the config path (never concurrent with a loop) or U5's write-back.
        with m.If(cfg_we & (cfg_region == Region.NEURON)):
            m.d.comb += [
                state_wp.addr.eq(cfg_index),
                state_wp.data.eq(cfg.payload.data),
                state_wp.en.eq(1),
            ]
        with m.Else():
            m.d.comb += [
                state_wp.addr.eq(u5_idx),
                state_wp.data.u.eq(u5_u),
                state_wp.data.v.eq(u5_v),
                state_wp.data.ref.eq(u5_ref),
                state_wp.data.profile.eq(u5_prof),
                state_wp.en.eq(u5_valid & adv),
            ]

        # Accumulator buffers: the event pipeline owns acc[~parity], the update
        # loop acc[parity] (read in U0, cleared in U1, so a buffer is all zero
        # again when the events of the next-but-one tick start to land in it).
        for b in range(2):
            is_ev = ev_buf == b
            m.d.comb += [
                acc_rp[b].addr.eq(Mux(is_ev, s1_target, u_idx)),
                acc_rp[b].en.eq(Mux(is_ev, s1_valid, u0_issue)),
            ]
            with m.If(cfg_we & (cfg_region == Region.ACC) & (cfg_index[c.neuron_bits] == b)):
                m.d.comb += [
                    acc_wp[b].addr.eq(cfg_index),
                    acc_wp[b].data.eq(cfg.payload.data),
                    acc_wp[b].en.eq(1),
                ]
            with m.Elif(is_ev):
                m.d.comb += [
                    acc_wp[b].addr.eq(s2_target),
                    acc_wp[b].data.a.eq(ev_acc_new),
                    acc_wp[b].en.eq(s2_valid),
                ]
            with m.Else():
                m.d.comb += [
                    acc_wp[b].addr.eq(u1_idx),
                    acc_wp[b].data.a.eq(0),
                    acc_wp[b].en.eq(u1_valid & adv),
                ]

        # Read-back shares the state read port with U0; it is only accepted
        # while no loop runs, and the result is the read port's own output
        # register (held because nothing else reads until the next start).
        rq = self.i_read
        ro_valid = Signal()
        rq_take = Signal()
        m.d.comb += [
            rq.ready.eq(~running & ~ro_valid),
            rq_take.eq(rq.valid & rq.ready),
            state_rp.addr.eq(Mux(running, u_idx, rq.payload)),
            state_rp.en.eq(Mux(running, u0_issue, rq_take)),
            self.o_read.valid.eq(ro_valid),
            self.o_read.payload.u.eq(state_rp.data.u),
            self.o_read.payload.v.eq(state_rp.data.v),
        ]
        m.d.sync += ro_valid.eq(rq_take | (ro_valid & ~self.o_read.ready))

        self._check_contract(m, done=done, idle=ev_idle, read_waiting=ro_valid)
        return m

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
