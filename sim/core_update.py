"""UpdatePipeline: the twin of ``rtl/core_update.py::UpdatePipeline`` (U0 -> ... -> U5).

Ports are attributes named as the RTL component's ports are in Verilog, registers
carry the RTL's signal names; per cycle: set the inputs, :meth:`comb`, :meth:`clock`.
The Moore outputs (``o_spike__valid``, ``o_spike__payload``, ``state_wp__addr``,
``state_wp__data``, ``drained``) are functions of the registers and always current.

A stage's registers are one named tuple (:class:`U2` .. :class:`U5`): the RTL's
``u3_idx`` is ``self.u3.idx``, and ``u3_valid`` is ``self.u3 is not None`` (the twin
does not keep the values an invalid stage holds; nothing observes them). The RTL splits
each product operand into halves for the DSPs and adds the halves back inside T()
(exact, see ``rtl/core_update.py::_split_shr_toward_zero``); the twin keeps the whole
products.
"""

from __future__ import annotations

from typing import NamedTuple

from spikemesh.config import ACC_SHIFT, DECAY_SHIFT, STATE_BITS, VTH_SHIFT, ChipConfig

from .core_words import FanPtrWord, NeuronWord, ProfileWord, Spike

__all__ = ["U2", "U3", "U4", "U5", "UpdatePipeline", "lif_scalar", "lif_u", "lif_v"]

_SAT = (1 << (STATE_BITS - 1)) - 1
_U_MASK = (1 << STATE_BITS) - 1
_U_HALF = 1 << (STATE_BITS - 1)


def _t12(x):
    """T(x): x >> 12 rounding toward zero (chip.md §3)."""
    return x >> DECAY_SHIFT if x >= 0 else -((-x) >> DECAY_SHIFT)


def lif_u(pu, pv, a, bias_mant, bias_exp):
    """U3: the new u = wrap24(T(pu) + (a << 6)) and T(pv) + bias, from the decay
    products pu = u * (4095 - du) and pv = v * (4096 - dv)."""
    u = ((_t12(pu) + (a << ACC_SHIFT) + _U_HALF) & _U_MASK) - _U_HALF  # wrap24
    return u, _t12(pv) + (bias_mant << bias_exp)


def lif_v(u, tvb, ref, vth, refractory, reset=0):
    """U4: v (saturated), the refractory counter and the spike, from U3's u and tvb.

    ``reset`` 0 (zero) leaves v = 0 after a spike, 1 (subtract) v - (vth << 6)."""
    if ref:
        return 0, ref - 1, False
    v = tvb + u
    v = _SAT if v > _SAT else (-_SAT if v < -_SAT else v)  # sat24
    thr = vth << VTH_SHIFT
    if v > thr:  # strictly greater
        return (v - thr if reset else 0), refractory, True
    return v, 0, False


def lif_scalar(u, v, ref, a, prm):
    """chip.md §3 for one neuron on Python ints, as the update pipeline's U2..U4 compute it.

    ``prm`` is a profile (du, dv, vth, bias_mant, bias_exp, refractory[, reset]; without
    the reset column, zero). Returns (u, v, ref, spike).
    """
    du, dv, vth, bias_mant, bias_exp, refractory = prm[:6]
    reset = prm[6] if len(prm) > 6 else 0
    u, tvb = lif_u(u * (4095 - du), v * (4096 - dv), a, bias_mant, bias_exp)
    v, ref, spike = lif_v(u, tvb, ref, vth, refractory, reset)
    return u, v, ref, spike


class U2(NamedTuple):
    """The RTL's u2_* registers (u, v whole: the RTL holds each as two halves)."""

    idx: int
    u: int
    v: int
    fu: int
    fv: int
    ref: int
    prof: int
    a: int
    fp: FanPtrWord


class U3(NamedTuple):
    """The RTL's u3_* registers (``pu``, ``pv``: the products u3_pu_hi/lo, u3_pv_hi/lo)."""

    idx: int
    pu: int
    pv: int
    ref: int
    prof: int
    a: int
    fp: FanPtrWord
    prm: ProfileWord


class U4(NamedTuple):
    """The RTL's u4_* registers."""

    idx: int
    u: int
    tvb: int
    ref: int
    prof: int
    vth: int
    refractory: int
    reset: int
    fp: FanPtrWord


class U5(NamedTuple):
    """The RTL's u5_* registers (``state``: u5_u, u5_v, u5_ref, u5_prof as the word
    U5 writes back)."""

    idx: int
    state: NeuronWord
    fo: bool  # spiked and has something to send
    fp: FanPtrWord
    spike: bool = False  # spiked (the RTL's u5_spk, built for the activity counters)


class UpdatePipeline:
    """Cycle-exact twin of the update pipeline of one core.

    Inputs: ``start``, ``running``, ``state_rp__data`` (:class:`NeuronWord`),
    ``fanptr_rp__data`` (:class:`FanPtrWord`), ``profile_rp__data``
    (:class:`ProfileWord`), ``acc_rp__data`` (int), ``fu``, ``fv``, ``o_spike__ready``.
    Outputs: ``o_spike__valid``, ``o_spike__payload`` (:class:`Spike`),
    ``state_wp__addr``, ``state_wp__data``, ``drained`` (Moore); the read ports'
    ``addr``/``en``, ``acc_wp__*``, ``state_wp__en`` (after :meth:`comb`).
    """

    def __init__(self, chip: ChipConfig):
        self._n = chip.core.neurons
        self.start = self.running = 0
        self.state_rp__data = NeuronWord(0, 0, 0, 0)
        self.fanptr_rp__data = FanPtrWord(0, 0, 0)
        self.profile_rp__data = ProfileWord(0, 0, 0, 0, 0, 0)
        self.acc_rp__data = 0
        self.fu, self.fv = 4095, 4096
        self.o_spike__ready = 0
        self.o_spike__payload = Spike(0, FanPtrWord(0, 0, 0))
        self.state_wp__addr, self.state_wp__data = 0, NeuronWord(0, 0, 0, 0)
        self.acc_wp__data = 0  # U1 clears what it has read
        self.reset()
        self.comb()

    def reset(self):
        """Registers to their reset values."""
        self.u_idx = 0  # the neuron U0 issues next
        self.u1_valid = self.u1_idx = 0
        self.u2 = self.u3 = self.u4 = self.u5 = None
        self._moore()

    def _moore(self):
        u5 = self.u5
        self.o_spike__valid = int(u5 is not None and u5.fo)
        if u5 is not None:
            if u5.fo:
                self.o_spike__payload = Spike(u5.idx, u5.fp)
            self.state_wp__addr, self.state_wp__data = u5.idx, u5.state
        self.drained = int(
            self.u_idx == self._n
            and not self.u1_valid
            and self.u2 is None
            and self.u3 is None
            and self.u4 is None
            and u5 is None
        )

    def comb(self):
        """The outputs of this cycle that depend on the inputs."""
        if self.drained and not self.running:  # no loop: every enable is low
            self.adv, self.u0_issue = True, 0
            self.state_rp__en = self.fanptr_rp__en = self.acc_rp__en = 0
            self.profile_rp__en = self.acc_wp__en = self.state_wp__en = self.o_spiked = 0
            self.state_rp__addr = self.fanptr_rp__addr = self.acc_rp__addr = self.u_idx
            self.profile_rp__addr = self.state_rp__data.profile
            self.acc_wp__addr = self.u1_idx
            return
        # The only stall: U5 holds a spike for the fan-out unit and its queue is full.
        self.adv = adv = not (self.o_spike__valid and not self.o_spike__ready)
        self.u0_issue = u0_issue = int(self.running and self.u_idx != self._n and adv)
        self.state_rp__addr = self.fanptr_rp__addr = self.acc_rp__addr = self.u_idx
        self.state_rp__en = self.fanptr_rp__en = self.acc_rp__en = u0_issue
        self.profile_rp__addr = self.state_rp__data.profile
        self.profile_rp__en = self.acc_wp__en = int(self.u1_valid and adv)
        self.acc_wp__addr = self.u1_idx
        self.state_wp__en = int(self.u5 is not None and adv)
        # U5 writes back a neuron that spiked (the ``spikes`` counter; RTL o_spiked)
        self.o_spiked = int(self.state_wp__en and self.u5.spike)

    def clock(self):
        """The clock edge (after :meth:`comb` with this cycle's inputs)."""
        if self.drained and not self.running:
            if self.start:
                self.u_idx = 0
                self._moore()
            return
        if self.adv:
            u4 = self.u4
            if u4 is not None:  # U4: v, saturation, threshold, refractory
                v, ref, spike = lif_v(u4.u, u4.tvb, u4.ref, u4.vth, u4.refractory, u4.reset)
                fp = u4.fp
                self.u5 = U5(
                    u4.idx,
                    NeuronWord(u4.u, v, ref, u4.prof),
                    spike and (fp.len != 0 or fp.host_out),
                    fp,
                    bool(spike),
                )
            else:
                self.u5 = None
            u3 = self.u3
            if u3 is not None:  # U3: T() of the products, u, T(v-product) + bias
                prm = u3.prm
                u, tvb = lif_u(u3.pu, u3.pv, u3.a, prm.bias_mant, prm.bias_exp)
                self.u4 = U4(
                    u3.idx, u, tvb, u3.ref, u3.prof, prm.vth, prm.refractory, prm.reset, u3.fp
                )
            else:
                self.u4 = None
            u2 = self.u2
            if u2 is not None:  # U2: the decay products (DSPs)
                self.u3 = U3(
                    u2.idx,
                    u2.u * u2.fu,
                    u2.v * u2.fv,
                    u2.ref,
                    u2.prof,
                    u2.a,
                    u2.fp,
                    self.profile_rp__data,
                )
            else:
                self.u3 = None
            if self.u1_valid:  # U1: state, fan-out pointer and a are on the read ports
                s = self.state_rp__data
                self.u2 = U2(
                    self.u1_idx,
                    s.u,
                    s.v,
                    self.fu,
                    self.fv,
                    s.ref,
                    s.profile,
                    self.acc_rp__data,
                    self.fanptr_rp__data,
                )
            else:
                self.u2 = None
            self.u1_valid, self.u1_idx = self.u0_issue, self.u_idx
        if self.start:
            self.u_idx = 0
        elif self.adv:
            self.u_idx += self.u0_issue
        self._moore()
