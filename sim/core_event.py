"""EventPipeline: the twin of ``rtl/core_event.py::EventPipeline`` (AX -> walker -> S1 -> S2).

Its ports are attributes named as the RTL component's ports are named in Verilog
(``i_event__valid``, ``axon_rp__addr``, ...), its registers carry the RTL's signal
names. Protocol, per clock cycle: set the inputs, :meth:`comb` (the outputs that depend
on inputs), then :meth:`clock` (the edge). The Moore outputs (``i_event__ready``,
``idle``) are functions of the registers and always current.
"""

from __future__ import annotations

from spikemesh.config import ChipConfig
from spikemesh.plasticity import decay_trace

from .core_learn import amplitude, depress
from .core_words import AxonWord, LearnProfileWord, PostTraceWord, SynapseWord

__all__ = ["EventPipeline"]


class EventPipeline:
    """Cycle-exact twin of the event pipeline of one core.

    Inputs: ``i_event__valid``, ``i_event__payload`` (axon id), ``axon_rp__data``
    (:class:`AxonWord`), ``syn_rp__data`` (:class:`SynapseWord`), ``acc_rp__data`` (int).
    Outputs: ``i_event__ready``, ``idle`` (Moore); ``axon_rp__addr``/``__en``,
    ``syn_rp__addr``/``__en``, ``acc_rp__addr``/``__en``, ``acc_wp__addr``/``__data``/``__en``
    (after :meth:`comb`). On a core with delays (``max_delay`` > 1) also ``acc_rp_delay``
    and ``acc_wp_delay`` (registers): the delay field (d - 1) of the row of the synapse in
    S1 and in S2, from which the core picks the bank, (parity + d) mod (D + 1); the
    ``acc_rp__data`` it gives is the word of S2's bank.

    On a learning core (STDP depression, docs/learning.md): inputs ``hold`` (the core's
    learning phase: no event is taken, AX keeps its row; ``i_event__ready`` here is without
    it, ``CoreModel.outputs()`` adds it), ``post_rp__data`` (:class:`PostTraceWord`)
    and ``lp`` (the learning profile ``lp_sel`` selects); outputs ``pre_fired_wp__*``,
    ``post_rp__*``, ``syn_wp__*``.
    """

    def __init__(self, chip: ChipConfig):
        c = chip.core
        self.learn = c.learning
        self.hold = 0
        self.post_rp__data = PostTraceWord(0, 0, 0)
        self.lp = LearnProfileWord(*[0] * 10)
        self.syn_wp__en = self.post_rp__en = self.pre_fired_wp__en = 0
        self._n_syn = c.synapses
        self._acc_mask = (1 << c.acc_bits) - 1
        self._acc_half = 1 << (c.acc_bits - 1)
        self.i_event__valid = 0
        self.i_event__payload = 0
        self.axon_rp__data = AxonWord(0, 0, 0)
        self.syn_rp__data = SynapseWord(0, 0)
        self.acc_rp__data = 0
        # outputs whose value only counts while their port's en is high
        self.syn_rp__addr = self.acc_rp__addr = self.acc_wp__addr = self.acc_wp__data = 0
        self.reset()
        self.comb()

    def reset(self):
        """Registers to their reset values."""
        self.ax_valid = 0  # axon table word of the oldest accepted event is on axon_rp__data
        self.w_cnt = 0  # synapses of the current row still to issue
        self.w_addr = 0
        self.w_exp = 0
        self.w_delay = 0
        self.s1_valid = 0
        self.s1_exp = 0
        self.s1_delay = 0
        self.s2_valid = 0
        self.s2_target = 0
        self.s2_wv = 0
        self.s2_delay = 0
        self.fwd_valid = 0
        self.fwd_target = 0
        self.fwd_acc = 0
        self.fwd_delay = 0
        self.s1_addr = self.s2_addr = self.s2_w = self.s2_plastic = self.s2_lprof = 0
        self.ax_idx = 0
        # S3, a learning core's depression write-back (D_post decayed in S2)
        self.s3_valid = self.s3_addr = self.s3_target = self.s3_w = self.s3_lprof = 0
        self.s3_d = self.s3_am = self.s3_sh = self.s3_wmin = 0
        self.s4_valid = self.s4_addr = self.s4_target = self.s4_w = self.s4_lprof = 0
        self.s4_dw = self.s4_wmin = 0
        self._moore()

    def _moore(self):
        self.acc_rp_delay, self.acc_wp_delay = self.s1_delay, self.s2_delay
        # without the learning core's hold, which CoreModel.outputs() adds (a register of
        # the core that changes at the same edge)
        self.i_event__ready = int(not self.ax_valid or self.w_cnt <= 1)
        self.idle = int(
            not self.ax_valid
            and self.w_cnt == 0
            and not self.s1_valid
            and not self.s2_valid
            and not self.s3_valid
            and not self.s4_valid
        )

    def comb(self):
        """The outputs of this cycle that depend on the inputs."""
        self.ev_take = self.i_event__valid and self.i_event__ready and not self.hold
        self.axon_rp__addr = self.i_event__payload
        self.axon_rp__en = int(self.ev_take)
        # the walker takes AX's row (a learning core's AX waits through the learning phase)
        self.ax_load = self.ax_valid and self.w_cnt <= 1 and not self.hold
        if self.learn:  # the row's axon's fired bit is set as the walker takes it
            self.pre_fired_wp__addr, self.pre_fired_wp__data = self.ax_idx, 1
            self.pre_fired_wp__en = int(self.ax_load)
        if self.idle:  # nothing inside: every enable below is low
            self.syn_rp__en = self.acc_rp__en = self.acc_wp__en = 0
            self.syn_wp__en = self.post_rp__en = 0
            return
        self.syn_rp__addr = self.w_addr
        self.syn_rp__en = int(self.w_cnt != 0)
        self.acc_rp__addr = self.syn_rp__data.target
        self.acc_rp__en = self.s1_valid
        # S2: forward the previous cycle's write when the targets (and the delays, so the
        # banks) match (the read port returned the value before that write).
        if self.fwd_valid and self.fwd_target == self.s2_target and self.fwd_delay == self.s2_delay:
            old = self.fwd_acc
        else:
            old = self.acc_rp__data
        # modular: wraps at acc_bits (chip.md §4)
        self.acc_wp__data = ((old + self.s2_wv + self._acc_half) & self._acc_mask) - self._acc_half
        self.acc_wp__addr = self.s2_target
        self.acc_wp__en = self.s2_valid
        if self.learn:  # S1 reads the target's post trace; S2 writes the depressed weight
            self.post_rp__addr, self.post_rp__en = self.syn_rp__data.target, self.s1_valid
            self.lp_sel = self.s2_lprof
            self.syn_wp__addr, self.syn_wp__en = self.s4_addr, self.s4_valid
            w = depress(self.s4_w, self.s4_dw, self.s4_wmin)
            self.syn_wp__data = SynapseWord(self.s4_target, w, 1, self.s4_lprof)

    def clock(self):
        """The clock edge (after :meth:`comb` with this cycle's inputs)."""
        if self.idle:  # S2 is empty, so is the forwarding register after this edge
            self.fwd_valid = 0
            if self.ev_take:
                self.ax_idx = self.i_event__payload
                self.ax_valid = 1
                self._moore()
            return
        self.fwd_valid, self.fwd_target, self.fwd_acc, self.fwd_delay = (
            self.s2_valid,
            self.s2_target,
            self.acc_wp__data,
            self.s2_delay,
        )
        syn = self.syn_rp__data
        if self.learn:
            lp = self.lp  # the profile of S2's synapse (lp_sel = s2_lprof)
            self.s4_valid, self.s4_addr, self.s4_target = (
                self.s3_valid,
                self.s3_addr,
                self.s3_target,
            )
            self.s4_w, self.s4_lprof, self.s4_wmin = self.s3_w, self.s3_lprof, self.s3_wmin
            self.s4_dw = amplitude(self.s3_am, self.s3_d, self.s3_sh)
            self.s3_valid, self.s3_addr, self.s3_target = (
                self.s2_plastic,
                self.s2_addr,
                self.s2_target,
            )
            self.s3_w, self.s3_lprof = self.s2_w, self.s2_lprof
            self.s3_d = decay_trace(self.post_rp__data.x, lp.post_decay)
            self.s3_am, self.s3_sh, self.s3_wmin = lp.a_minus, lp.a_minus_shift, lp.w_min
            self.s2_addr, self.s2_w, self.s2_lprof = self.s1_addr, syn.weight, syn.lprofile
            self.s2_plastic = int(self.s1_valid and syn.plastic)
            self.s1_addr = self.w_addr
        self.s2_valid, self.s2_target = self.s1_valid, syn.target
        self.s2_wv = syn.weight << self.s1_exp  # the event adds w << e (chip.md §4)
        self.s2_delay = self.s1_delay
        w_cnt = self.w_cnt
        w_issue = w_cnt != 0
        self.s1_valid, self.s1_exp, self.s1_delay = int(w_issue), self.w_exp, self.w_delay
        ax_load = self.ax_load
        if self.ev_take:
            self.ax_idx = self.i_event__payload
        self.ax_valid = int(self.ev_take or (self.ax_valid and not ax_load))
        if ax_load:
            ax = self.axon_rp__data
            self.w_addr, self.w_cnt, self.w_exp = ax.base, ax.len, ax.exp
            self.w_delay = ax.delay
        elif w_issue:
            self.w_addr = (self.w_addr + 1) % self._n_syn
            self.w_cnt = w_cnt - 1
        self._moore()
