"""The learning core's twins (docs/learning.md "Hardware plan"): the twin of
``rtl/core_learn.py::LearningUnit``, the rule's scalar arithmetic the twins share, and
``CoreLearning``, the part of ``CoreModel`` that keeps a learning core's memories and
steers their ports as ``rtl/core_learn.py::connect_learning`` does.

Protocol as for the other twins: set the inputs, :meth:`LearningUnit.comb`, then
:meth:`LearningUnit.clock`.
"""

from __future__ import annotations

from spikemesh.layouts import Region, config_index_bits, region_layouts
from spikemesh.plasticity import TRACE_MAX, decay_trace

from .core_words import (
    LearnProfileWord,
    PostTraceWord,
    PreTraceWord,
    ReverseWord,
    RevPtrWord,
    SynapseWord,
)

__all__ = ["CoreLearning", "LearningUnit", "amplitude", "commit", "depress", "potentiate"]

IDLE, NEURON, AXON = 0, 1, 2


def amplitude(a, d, shift) -> int:
    """dw = (a * D) >> shift, D decayed (spikemesh.plasticity)."""
    return (a * d) >> shift


def depress(w, dw, w_min) -> int:
    """max(w - dw, w_min)."""
    return max(w - dw, w_min)


def potentiate(w, dw, w_max) -> int:
    """min(w + dw, w_max)."""
    return min(w + dw, w_max)


def commit(d, inc) -> int:
    """X = min(D + inc, 127), D decayed, inc the increment if the element fired (else 0)."""
    return min(d + inc, TRACE_MAX)


class LearningUnit:
    """Cycle-exact twin of ``rtl/core_learn.py::LearningUnit`` (same registers).

    Inputs: ``start``, the read ports' data (``post_rp__data``, ``post_fired_rp__data``,
    ``revptr_rp__data``, ``rev_rp__data``, ``syn_rp__data``, ``pre_rp__data``,
    ``pre_fired_rp__data``) and ``lprof``, the learning-profile registers (the RTL's
    ``lpa``/``lpb`` are ``lprof[lpa_sel]``/``lprof[lpb_sel]``). Outputs: ``finish``
    (Moore); every port's ``addr``/``en``/``data`` (after :meth:`comb`).
    """

    def __init__(self, chip):
        c = chip.core
        self._n, self._a, self._r = c.neurons, c.axons, c.reverse_depth
        self._pmask = (1 << (c.learning_profiles - 1).bit_length()) - 1
        self.start = 0
        self.lprof = [LearnProfileWord(*[0] * 10)] * c.learning_profiles
        self.post_rp__data = PostTraceWord(0, 0, 0)
        self.pre_rp__data = PreTraceWord(0, 0, 0)
        self.post_fired_rp__data = self.pre_fired_rp__data = 0
        self.revptr_rp__data = RevPtrWord(0, 0)
        self.rev_rp__data = ReverseWord(0, 0)
        self.syn_rp__data = SynapseWord(0, 0)
        self.reset()

    def reset(self):
        self.phase = IDLE
        self.n_idx = self.n1_valid = self.n1_idx = 0
        self.r_cnt = self.r_addr = 0
        self.p1_valid = self.p2_valid = self.p2_addr = 0
        self.a_idx = self.a1_valid = self.a1_idx = 0
        # the second stage of each computation (N2, P3, A2)
        self.n2_valid = self.n2_idx = self.n2_d = self.n2_inc = self.n2_lprof = 0
        self.a2_valid = self.a2_idx = self.a2_d = self.a2_inc = self.a2_lprof = 0
        self.p3_valid = self.p3_addr = self.p3_d = self.p3_ap = self.p3_sh = self.p3_wmax = 0
        self.p3_syn = self.p4_syn = SynapseWord(0, 0)
        self.p4_valid = self.p4_addr = self.p4_dw = self.p4_wmax = 0
        self._moore()

    def _moore(self):
        self.finish = int(
            self.phase == AXON and self.a_idx == self._a and not self.a1_valid and not self.a2_valid
        )

    def comb(self):
        """The outputs of this cycle."""
        post, ptr = self.post_rp__data, self.revptr_rp__data
        self.walk = int(self.n1_valid and self.post_fired_rp__data and ptr.len != 0)
        self.r_issue = int(self.r_cnt != 0)
        self.n_issue = int(
            self.phase == NEURON and self.n_idx != self._n and not self.walk and self.r_cnt <= 1
        )
        self.n_end = int(
            self.phase == NEURON
            and self.n_idx == self._n
            and not self.n1_valid
            and not self.r_issue
            and not self.p1_valid
        )
        self.a_issue = int(self.phase == AXON and self.a_idx != self._a)
        # N0 / A0
        self.post_rp__addr = self.post_fired_rp__addr = self.revptr_rp__addr = self.n_idx
        self.post_rp__en = self.post_fired_rp__en = self.revptr_rp__en = self.n_issue
        # N1 / A1 decay with profile lpa; N2: the committed post trace
        self.lpa_sel = (self.pre_rp__data if self.phase == AXON else post).lprofile
        self.lpa = self.lprof[self.lpa_sel & self._pmask]
        self.rev_rp__addr, self.rev_rp__en = self.r_addr, self.r_issue
        self.post_wp__addr, self.post_wp__en = self.n2_idx, self.n2_valid
        self.post_wp__data = PostTraceWord(commit(self.n2_d, self.n2_inc), 0, self.n2_lprof)
        # P1 / P2
        rev, syn = self.rev_rp__data, self.syn_rp__data
        self.syn_rp__addr, self.syn_rp__en = rev.synapse, self.p1_valid
        self.pre_rp__addr = self.a_idx if self.phase == AXON else rev.axon
        self.pre_rp__en = int(self.p1_valid or self.a_issue)
        self.pre_fired_rp__addr, self.pre_fired_rp__en = self.a_idx, self.a_issue
        self.lpb_sel = syn.lprofile
        self.lpb = self.lprof[self.lpb_sel & self._pmask]
        # P4: the potentiated weight
        p4 = self.p4_syn
        self.syn_wp__addr, self.syn_wp__en = self.p4_addr, self.p4_valid
        w = potentiate(p4.weight, self.p4_dw, self.p4_wmax)
        self.syn_wp__data = SynapseWord(p4.target, w, p4.plastic, p4.lprofile)
        # A2: the committed pre trace, the fired bit cleared
        self.pre_wp__addr = self.pre_fired_wp__addr = self.a2_idx
        self.pre_wp__data = PreTraceWord(commit(self.a2_d, self.a2_inc), 0, self.a2_lprof)
        self.pre_wp__en = self.pre_fired_wp__en = self.a2_valid
        self.pre_fired_wp__data = 0

    def clock(self):
        """The clock edge (after :meth:`comb`)."""
        rev, ptr = self.rev_rp__data, self.revptr_rp__data
        n_issue, a_issue, r_issue = self.n_issue, self.a_issue, self.r_issue
        post, pre, syn, lpa, lpb = (
            self.post_rp__data,
            self.pre_rp__data,
            self.syn_rp__data,
            self.lpa,
            self.lpb,
        )
        self.n2_valid, self.n2_idx, self.n2_lprof = self.n1_valid, self.n1_idx, post.lprofile
        self.n2_d = decay_trace(post.x, lpa.post_decay)
        self.n2_inc = lpa.post_inc if self.post_fired_rp__data else 0
        self.a2_valid, self.a2_idx, self.a2_lprof = self.a1_valid, self.a1_idx, pre.lprofile
        self.a2_d = decay_trace(pre.x, lpa.pre_decay)
        self.a2_inc = lpa.pre_inc if self.pre_fired_rp__data else 0
        self.p4_valid, self.p4_addr, self.p4_syn = self.p3_valid, self.p3_addr, self.p3_syn
        self.p4_dw, self.p4_wmax = amplitude(self.p3_ap, self.p3_d, self.p3_sh), self.p3_wmax
        self.p3_valid = int(self.p2_valid and syn.plastic)
        self.p3_addr, self.p3_syn, self.p3_d = self.p2_addr, syn, decay_trace(pre.x, lpb.pre_decay)
        self.p3_ap, self.p3_sh, self.p3_wmax = lpb.a_plus, lpb.a_plus_shift, lpb.w_max
        self.p2_valid, self.p2_addr = self.p1_valid, rev.synapse
        self.p1_valid = r_issue
        if self.walk:
            self.r_addr, self.r_cnt = ptr.base, ptr.len
        elif r_issue:
            self.r_addr, self.r_cnt = (self.r_addr + 1) % self._r, self.r_cnt - 1
        self.n1_valid, self.n1_idx = n_issue, self.n_idx % self._n
        self.a1_valid, self.a1_idx = a_issue, self.a_idx % self._a
        if self.start:
            self.phase, self.n_idx = NEURON, 0
        elif self.n_end:
            self.phase, self.a_idx = AXON, 0
        elif self.finish:
            self.phase = IDLE
        if n_issue:
            self.n_idx += 1
        if a_issue:
            self.a_idx += 1
        self._moore()


class CoreLearning:
    """A learning core's part of ``CoreModel``: its memories (names of ``Core``'s), the
    learning-profile registers, the learning unit's twin, the ``learning`` / ``pending``
    registers and the steering of the shared ports (``rtl/core_learn.py``)."""

    def _learn_init(self, chip):
        c = chip.core
        self.learn = c.learning
        if not self.learn:
            return
        n, a = c.neurons, c.axons
        self._lp_mask = (1 << (c.learning_profiles - 1).bit_length()) - 1
        self.lprof = [LearnProfileWord(*[0] * 10)] * c.learning_profiles
        self.pre_mem = [PreTraceWord(0, 0, 0)] * a
        self.pre_fired_mem = [0] * a
        self.post_mem = [PostTraceWord(0, 0, 0)] * n
        self.post_fired_mem = [0] * n
        self.revptr_mem = [RevPtrWord(0, 0)] * n
        self.rev_mem = [ReverseWord(0, 0)] * c.reverse_depth
        self.learning_unit = LearningUnit(chip)
        self.learning_unit.lprof = self.lprof
        self._lr_ib = config_index_bits(chip)
        self._lr_lay = region_layouts(chip)

    def _learn_reset(self):
        if not self.learn:
            return
        self.learning = self.pending = self.lonly = 0
        self.learning_unit.reset()
        self.post_rp_data, self.pre_rp_data = PostTraceWord(0, 0, 0), PreTraceWord(0, 0, 0)
        self.post_fired_rp_data = self.pre_fired_rp_data = 0
        self.revptr_rp_data, self.rev_rp_data = RevPtrWord(0, 0), ReverseWord(0, 0)
        self.lr_pend = self.lr_valid = self.lr_region = self.lr_data = 0

    # ---- read-back of the learned state (i_lread / o_lread, rtl/core_learn.py) ----
    def _lread_ready(self, running, ev_idle):
        return int(not running and ev_idle and not self.lr_pend and not self.lr_valid)

    def _lread_word(self):
        """The word o_lread will offer, from the read ports' data of this cycle."""
        r = self.lr_region
        if r == Region.SYNAPSE:
            return self._lr_lay[r][0].pack(**self.syn_rp_data._asdict())
        if r in (Region.PRETRACE, Region.POSTTRACE):
            w, f = (
                (self.pre_rp_data, self.pre_fired_rp_data)
                if r == Region.PRETRACE
                else (self.post_rp_data, self.post_fired_rp_data)
            )
            return self._lr_lay[r][0].pack(x=w.x, fired=f, lprofile=w.lprofile)
        return 0

    def _lread_ports(self, addr):
        """The read a taken read-back request issues (before this edge's writes)."""
        region = addr >> self._lr_ib
        if region not in (Region.SYNAPSE, Region.PRETRACE, Region.POSTTRACE):
            return
        i = (addr & ((1 << self._lr_ib) - 1)) & (self._lr_lay[region][1] - 1)
        if region == Region.SYNAPSE:
            self.syn_rp_data = self.synapse_mem[i]
        elif region == Region.PRETRACE:
            self.pre_rp_data, self.pre_fired_rp_data = self.pre_mem[i], self.pre_fired_mem[i]
        else:
            self.post_rp_data, self.post_fired_rp_data = self.post_mem[i], self.post_fired_mem[i]

    def _lread_clock(self, take, addr, ready, word):
        if self.lr_pend:
            self.lr_valid, self.lr_data = 1, word
        elif self.lr_valid and ready:
            self.lr_valid = 0
        if take:
            self.lr_region = addr >> self._lr_ib
        self.lr_pend = int(take)

    def _learn_config(self, region, i, w) -> bool:
        """A configuration write into a learning region (True if it was one)."""
        if region == Region.LPROFILE:
            self.lprof[i] = w
        elif region == Region.PRETRACE:
            self.pre_mem[i], self.pre_fired_mem[i] = w, w.fired
        elif region == Region.POSTTRACE:
            self.post_mem[i], self.post_fired_mem[i] = w, w.fired
        elif region == Region.REVPTR:
            self.revptr_mem[i] = w
        elif region == Region.REVERSE:
            self.rev_mem[i] = w
        else:
            return False
        return True

    def learn_flush(self):
        """Timed mode: one ``start`` with ``learn_only`` (the pending learning phase, no
        update loop, no tick), clocked until ``done & idle``; returns its cycles."""
        cyc = 0
        while True:
            o = self.outputs()
            if cyc and o.done and o.idle:
                return cyc
            self.clock(start=int(cyc == 0), learn_only=1, flit_ready=1)
            cyc += 1

    def _learn_comb(self, ev, begin, learn_only):
        """Inputs and combinational outputs of the event pipeline's depression and of the
        learning unit; returns up.start (none for a ``learn_only`` start)."""
        lu = self.learning_unit
        ev.hold = self.learning
        ev.post_rp__data = self.post_rp_data
        ev.lp = self.lprof[ev.s2_lprof & self._lp_mask]
        lu.start = int(begin and self.pending)
        lu.post_rp__data, lu.pre_rp__data = self.post_rp_data, self.pre_rp_data
        lu.post_fired_rp__data = self.post_fired_rp_data
        lu.pre_fired_rp__data = self.pre_fired_rp_data
        lu.revptr_rp__data, lu.rev_rp__data = self.revptr_rp_data, self.rev_rp_data
        lu.syn_rp__data = self.syn_rp_data
        lu.comb()
        return int(
            (begin and not self.pending and not learn_only) or (lu.finish and not self.lonly)
        )

    def _learn_read_ports(self, ev):
        """The read ports of a learning core (before this edge's writes)."""
        lu = self.learning_unit
        src = lu if self.learning else ev
        if src.syn_rp__en:
            self.syn_rp_data = self.synapse_mem[src.syn_rp__addr]
        if src.post_rp__en:
            self.post_rp_data = self.post_mem[src.post_rp__addr]
        if lu.pre_rp__en:
            self.pre_rp_data = self.pre_mem[lu.pre_rp__addr]
        if lu.pre_fired_rp__en:
            self.pre_fired_rp_data = self.pre_fired_mem[lu.pre_fired_rp__addr]
        if lu.post_fired_rp__en:
            self.post_fired_rp_data = self.post_fired_mem[lu.post_fired_rp__addr]
        if lu.revptr_rp__en:
            self.revptr_rp_data = self.revptr_mem[lu.revptr_rp__addr]
        if lu.rev_rp__en:
            self.rev_rp_data = self.rev_mem[lu.rev_rp__addr]

    def _learn_writes(self, ev, up, cfg_region):
        """The writes of this edge that the config path did not take."""
        lu = self.learning_unit
        if cfg_region != Region.SYNAPSE:
            src = lu if self.learning else ev
            if src.syn_wp__en:
                self.synapse_mem[src.syn_wp__addr] = src.syn_wp__data
        if cfg_region != Region.POSTTRACE:
            if lu.post_wp__en:
                self.post_mem[lu.post_wp__addr] = lu.post_wp__data
            if up.state_wp__en:  # U5 writes every neuron once a tick: its spike is fired
                self.post_fired_mem[up.state_wp__addr] = int(bool(up.o_spiked))
        if cfg_region != Region.PRETRACE:
            if lu.pre_wp__en:
                self.pre_mem[lu.pre_wp__addr] = lu.pre_wp__data
            src = lu if self.learning else ev
            if src.pre_fired_wp__en:
                self.pre_fired_mem[src.pre_fired_wp__addr] = src.pre_fired_wp__data

    def _learn_clock(self, up_start, begin, learn_only):
        """The learning / pending / learn-only registers at this edge, then the unit's."""
        lu = self.learning_unit
        if begin:
            self.lonly = int(bool(learn_only))
        if lu.start:
            self.learning, self.pending = 1, 0
        elif lu.finish:
            self.learning = 0
        if up_start:
            self.pending = 1
        lu.clock()
