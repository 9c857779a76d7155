"""The neuron core's update pipeline: chip.md §3 for every neuron, one per cycle, in order.

::

    start ─► U0 ────────► U1 ──────────► U2 ──────► U3 ─────► U4 ──────► U5 ─► o_spike
             state_rp     profile_rp     decay      T() of    v, sat,    state_wp
             fanptr_rp    acc_wp (clear) products   both,     threshold, (write-back)
             acc_rp       fu, fv         (DSPs)     u         refractory

U0 issues neuron ``u_idx``'s reads; U1 has its state, fan-out pointer and input a on
the read ports, the decay factors ``fu``/``fv`` of its profile from ``Core``'s
registers, reads the profile and clears the accumulator; U2 forms the four
16 x 16 products; U3 applies T() and computes u; U4 computes v; U5 writes the state
back and offers a spike that has something to send on ``o_spike``. The only stall:
U5 holds such a spike and ``o_spike.ready`` (the fan-out unit's queue has room, a
register) is low; then U0..U5 hold, read enables low, so the synchronous read ports
keep their data. The twin is ``sim/core_update.py::UpdatePipeline``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from spikemesh.config import (
    ACC_SHIFT,
    DECAY_SHIFT,
    DU_BITS,
    DV_BITS,
    REFRACT_BITS,
    STATE_BITS,
    VTH_BITS,
    VTH_SHIFT,
)
from spikemesh.layouts import Region

from .core_ports import check_component, read_port, spike_layout, word, write_port

__all__ = ["UpdatePipeline"]

_SAT = (1 << (STATE_BITS - 1)) - 1
_ROUND = (1 << DECAY_SHIFT) - 1
LO_BITS = 16  # the unsigned low half of a split product operand (one 16 x 16 DSP each)


def _split_shr_toward_zero(m, name, hi, lo):
    """T(x) of chip.md §3 (x >> 12 rounding toward zero) of x = hi * 2^16 + lo.

    ``hi`` and ``lo`` are the products of the operand's signed high and unsigned
    low half with the same factor f >= 0, so lo >= 0 and x < 0 exactly when
    hi < 0. Adding 4095 to a negative x before the arithmetic shift turns floor
    into ceiling, which is sign(x) * (|x| >> 12) without an absolute value; and
    as 2^16 is a multiple of 2^12, (hi * 2^16 + lo + r) >> 12 is
    hi * 2^4 + ((lo + r) >> 12), so the rounding add is only as wide as ``lo``.
    """
    t = Signal(signed(len(hi) + LO_BITS - DECAY_SHIFT + 1), name=name)
    low = (lo + Mux(hi < 0, _ROUND, 0)) >> DECAY_SHIFT
    m.d.comb += t.eq((hi << (LO_BITS - DECAY_SHIFT)) + low)
    return t


class UpdatePipeline(wiring.Component):
    """The LIF update loop of one tick: U0 -> U1 -> U2 -> U3 -> U4 -> U5.

    Parameters
    ----------
    chip : ChipConfig

    Members
    -------
    start : In(1)
        The loop of a tick begins: U0 issues neuron 0 from the next cycle on
        (``Core`` pulses it with its own ``start`` while no loop runs).
    running : In(1)
        ``Core``'s tick state: U0 issues only while it is high.
    state_rp, fanptr_rp, profile_rp : read ports (state, fan-out pointer: U0; profile: U1).
    state_wp : write port of the state memory (U5's write-back).
    acc_rp, acc_wp : read (U0) and clear (U1) of the accumulator buffer of this tick.
    fu, fv : In(signed)
        The decay factors 4095 - du and 4096 - dv of the profile that ``state_rp.data``
        names, in the same cycle (``Core``'s registers beside the profile memory).
    o_spike : Out(stream.Signature(spike_layout(chip)))
        A spiking neuron with a fan-out list or the host_out flag, and its fan-out
        pointer word; ``valid`` and ``payload`` are U5's registers.
    drained : Out(1)
        Every neuron of the tick has left U5 (registers only).
    o_spiked : Out(1)
        Only with ``chip.counter_bits``: U5 writes back a neuron that spiked this cycle
        (the ``spikes`` activity counter, docs/counters.md), whatever its fan-out.
    """

    def __init__(self, chip):
        check_component(self, chip)
        self.chip = chip
        super().__init__(
            {
                "start": In(1),
                "running": In(1),
                "state_rp": read_port(chip, Region.NEURON),
                "state_wp": write_port(chip, Region.NEURON),
                "fanptr_rp": read_port(chip, Region.FANPTR),
                "profile_rp": read_port(chip, Region.PROFILE),
                "acc_rp": read_port(chip, Region.ACC),
                "acc_wp": write_port(chip, Region.ACC),
                "fu": In(signed(DU_BITS + 1)),
                "fv": In(signed(DV_BITS + 2)),
                "o_spike": Out(stream.Signature(spike_layout(chip))),
                "drained": Out(1),
                **({"o_spiked": Out(1)} if chip.counter_bits or chip.core.learning else {}),
            }
        )

    def elaborate(self, platform):
        m = Module()
        c = self.chip.core
        adv = Signal()  # the pipeline advances (not stalled by the fan-out)
        m.d.comb += adv.eq(~(self.o_spike.valid & ~self.o_spike.ready))
        u1, u2 = self._read_stages(m, adv)
        u3 = self._products(m, adv, u2)
        u4 = self._lif_u(m, adv, u3)
        u5_valid = self._lif_v(m, adv, u4)
        m.d.comb += self.drained.eq(
            (u1["u_idx"] == c.neurons)
            & ~u1["valid"]
            & ~u2["valid"]
            & ~u3["valid"]
            & ~u4["valid"]
            & ~u5_valid
        )
        return m

    def _read_stages(self, m, adv):
        """U0 issues the reads of neuron ``u_idx``; U1 registers their words."""
        c = self.chip.core
        state = self.state_rp.data
        u_idx = Signal(range(c.neurons + 1))
        u0_issue = Signal()
        u1_valid = Signal()
        u1_idx = Signal(c.neuron_bits)
        u2_valid = Signal()
        u2_idx = Signal(c.neuron_bits)
        # The products' operands: the DSP blocks' own input registers (see U2).
        u2_ulo = Signal(LO_BITS, reset_less=True)
        u2_uhi = Signal(signed(STATE_BITS - LO_BITS), reset_less=True)
        u2_vlo = Signal(LO_BITS, reset_less=True)
        u2_vhi = Signal(signed(STATE_BITS - LO_BITS), reset_less=True)
        u2_fu = Signal(signed(DU_BITS + 1), reset_less=True)
        u2_fv = Signal(signed(DV_BITS + 2), reset_less=True)
        u2_ref = Signal(REFRACT_BITS)
        u2_prof = Signal(c.profile_bits)
        u2_a = Signal(signed(c.acc_bits))
        u2_fp = Signal(word(self.chip, Region.FANPTR))
        m.d.comb += [
            u0_issue.eq(self.running & (u_idx != c.neurons) & adv),
            self.state_rp.addr.eq(u_idx),
            self.state_rp.en.eq(u0_issue),
            self.fanptr_rp.addr.eq(u_idx),
            self.fanptr_rp.en.eq(u0_issue),
            self.acc_rp.addr.eq(u_idx),
            self.acc_rp.en.eq(u0_issue),
            # U1 reads the profile and clears the accumulator it has just read (a
            # buffer is all zero again when the next-but-one tick's events land in it).
            self.profile_rp.addr.eq(state.profile),
            self.profile_rp.en.eq(u1_valid & adv),
            self.acc_wp.addr.eq(u1_idx),
            self.acc_wp.data.a.eq(0),
            self.acc_wp.en.eq(u1_valid & adv),
        ]
        with m.If(self.start):
            m.d.sync += u_idx.eq(0)
        with m.Elif(adv):
            m.d.sync += u_idx.eq(u_idx + u0_issue)
        with m.If(adv):
            m.d.sync += [
                u1_valid.eq(u0_issue),
                u1_idx.eq(u_idx),
                # U1: state, fan-out pointer and input a are on the read ports.
                u2_valid.eq(u1_valid),
                u2_idx.eq(u1_idx),
                u2_ulo.eq(state.u[:LO_BITS]),
                u2_uhi.eq(state.u[LO_BITS:]),
                u2_vlo.eq(state.v[:LO_BITS]),
                u2_vhi.eq(state.v[LO_BITS:]),
                u2_fu.eq(self.fu),
                u2_fv.eq(self.fv),
                u2_ref.eq(state.ref),
                u2_prof.eq(state.profile),
                u2_a.eq(self.acc_rp.data.a),
                u2_fp.eq(self.fanptr_rp.data),
            ]
        u1 = {"u_idx": u_idx, "valid": u1_valid}
        u2 = {
            "valid": u2_valid,
            "idx": u2_idx,
            "ulo": u2_ulo,
            "uhi": u2_uhi,
            "vlo": u2_vlo,
            "vhi": u2_vhi,
            "fu": u2_fu,
            "fv": u2_fv,
            "ref": u2_ref,
            "prof": u2_prof,
            "a": u2_a,
            "fp": u2_fp,
        }
        return u1, u2

    def _products(self, m, adv, u2):
        """U2: the decay products. Effective decays are du + 1 and dv (chip.md §3).

        Each 24-bit operand is split into an unsigned low half and a signed high half,
        so every product is one 16 x 16 DSP (SB_MAC16, MULT18X18D) with its inputs and
        its output in registers: on the iCE40 yosys packs u2_* and u3_p*_* into the
        SB_MAC16's own registers and nextpnr checks every path into and out of it.
        """
        c = self.chip.core
        u3_valid = Signal()
        u3_idx = Signal(c.neuron_bits)
        # The products as two halves each (the DSP blocks' output registers).
        u3_pu_lo = Signal((u2["ulo"] * u2["fu"][:-1]).shape(), reset_less=True)
        u3_pu_hi = Signal((u2["uhi"] * u2["fu"]).shape(), reset_less=True)
        u3_pv_lo = Signal((u2["vlo"] * u2["fv"][:-1]).shape(), reset_less=True)
        u3_pv_hi = Signal((u2["vhi"] * u2["fv"]).shape(), reset_less=True)
        u3_ref = Signal(REFRACT_BITS)
        u3_prof = Signal(c.profile_bits)
        u3_a = Signal(signed(c.acc_bits))
        u3_fp = Signal(word(self.chip, Region.FANPTR))
        u3_prm = Signal(word(self.chip, Region.PROFILE))
        with m.If(adv):
            m.d.sync += [
                u3_valid.eq(u2["valid"]),
                u3_idx.eq(u2["idx"]),
                u3_pu_lo.eq(u2["ulo"] * u2["fu"][:-1]),
                u3_pu_hi.eq(u2["uhi"] * u2["fu"]),
                u3_pv_lo.eq(u2["vlo"] * u2["fv"][:-1]),
                u3_pv_hi.eq(u2["vhi"] * u2["fv"]),
                u3_ref.eq(u2["ref"]),
                u3_prof.eq(u2["prof"]),
                u3_a.eq(u2["a"]),
                u3_fp.eq(u2["fp"]),
                u3_prm.eq(self.profile_rp.data),
            ]
        return {
            "valid": u3_valid,
            "idx": u3_idx,
            "pu_lo": u3_pu_lo,
            "pu_hi": u3_pu_hi,
            "pv_lo": u3_pv_lo,
            "pv_hi": u3_pv_hi,
            "ref": u3_ref,
            "prof": u3_prof,
            "a": u3_a,
            "fp": u3_fp,
            "prm": u3_prm,
        }

    def _lif_u(self, m, adv, u3):
        """U3: T() of the products, the new u, and T(v-product) + bias."""
        c = self.chip.core
        tu = _split_shr_toward_zero(m, "tu", u3["pu_hi"], u3["pu_lo"])
        tv = _split_shr_toward_zero(m, "tv", u3["pv_hi"], u3["pv_lo"])
        prm = u3["prm"]
        u4_valid = Signal()
        u4_idx = Signal(c.neuron_bits)
        u4_u = Signal(signed(STATE_BITS))  # wrap24: the assignment truncates (modular u)
        u4_tvb = Signal(signed(STATE_BITS + 2))  # T(v * (4096 - dv)) + bias; |T(..)| <= |v|
        u4_ref = Signal(REFRACT_BITS)
        u4_prof = Signal(c.profile_bits)
        u4_vth = Signal(VTH_BITS)
        u4_refractory = Signal(REFRACT_BITS)
        u4_reset = Signal()  # the profile's reset mode: 0 = zero, 1 = subtract
        u4_fp = Signal(word(self.chip, Region.FANPTR))
        with m.If(adv):
            m.d.sync += [
                u4_valid.eq(u3["valid"]),
                u4_idx.eq(u3["idx"]),
                u4_u.eq(tu + (u3["a"] << ACC_SHIFT)),  # the input enters u as a << 6
                # bias = bias_mant << bias_exp, added here so U4 has a 2-input add
                u4_tvb.eq(tv + (prm.bias_mant << prm.bias_exp)),
                u4_ref.eq(u3["ref"]),
                u4_prof.eq(u3["prof"]),
                u4_vth.eq(prm.vth),
                u4_refractory.eq(prm.refractory),
                u4_reset.eq(prm.reset),
                u4_fp.eq(u3["fp"]),
            ]
        return {
            "valid": u4_valid,
            "idx": u4_idx,
            "u": u4_u,
            "tvb": u4_tvb,
            "ref": u4_ref,
            "prof": u4_prof,
            "vth": u4_vth,
            "refractory": u4_refractory,
            "reset": u4_reset,
            "fp": u4_fp,
        }

    def _lif_v(self, m, adv, u4):
        """U4: v, saturation, threshold, refractory; U5 registers the result, writes the
        state back and offers the spike. Returns U5's valid."""
        c = self.chip.core
        v_sum = Signal(signed(STATE_BITS + 3))
        v_sat = Signal(signed(STATE_BITS))
        in_ref = Signal()
        spike = Signal()
        thr = Signal(VTH_BITS + VTH_SHIFT)
        v_sub = Signal(signed(STATE_BITS))  # v_sat - thr: 1..2^23 - 1 - thr after a spike
        m.d.comb += [
            thr.eq(u4["vth"] << VTH_SHIFT),
            v_sub.eq(v_sat - thr),
            v_sum.eq(u4["tvb"] + u4["u"]),
            # sat24: symmetric saturation at +-(2^23 - 1)
            v_sat.eq(Mux(v_sum > _SAT, _SAT, Mux(v_sum < -_SAT, -_SAT, v_sum))),
            in_ref.eq(u4["ref"] != 0),
            spike.eq(~in_ref & (v_sat > thr)),  # strictly greater
        ]
        fp = u4["fp"]
        u5_valid = Signal()
        u5_idx = Signal(c.neuron_bits)
        u5_u = Signal(signed(STATE_BITS))
        u5_v = Signal(signed(STATE_BITS))
        u5_ref = Signal(REFRACT_BITS)
        u5_prof = Signal(c.profile_bits)
        u5_fo = Signal()  # spiked and has something to send
        u5_fp = Signal(word(self.chip, Region.FANPTR))
        with m.If(adv):
            m.d.sync += [
                u5_valid.eq(u4["valid"]),
                u5_idx.eq(u4["idx"]),
                u5_u.eq(u4["u"]),
                # refractory: 0; spike: 0 (reset zero) or v_sat - thr (reset subtract)
                u5_v.eq(Mux(in_ref, 0, Mux(spike, Mux(u4["reset"], v_sub, 0), v_sat))),
                u5_ref.eq(Mux(in_ref, u4["ref"] - 1, Mux(spike, u4["refractory"], 0))),
                u5_prof.eq(u4["prof"]),
                u5_fo.eq(u4["valid"] & spike & ((fp.len != 0) | fp.host_out)),
                u5_fp.eq(fp),
            ]
        # The spike is offered from registers, so the long LIF datapath never reaches
        # the stall (adv), which fans out to every stage enable.
        m.d.comb += [
            self.state_wp.addr.eq(u5_idx),
            self.state_wp.data.u.eq(u5_u),
            self.state_wp.data.v.eq(u5_v),
            self.state_wp.data.ref.eq(u5_ref),
            self.state_wp.data.profile.eq(u5_prof),
            self.state_wp.en.eq(u5_valid & adv),
            self.o_spike.valid.eq(u5_valid & u5_fo),
            self.o_spike.payload.neuron.eq(u5_idx),
            self.o_spike.payload.fanptr.eq(u5_fp),
        ]
        if self.chip.counter_bits or self.chip.core.learning:
            u5_spk = Signal()  # spiked (the counter's register; u5_fo also needs a fan-out)
            with m.If(adv):
                m.d.sync += u5_spk.eq(spike)
            m.d.comb += self.o_spiked.eq(u5_valid & adv & u5_spk)
        return u5_valid
