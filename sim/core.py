"""CoreModel: the transaction-level twin of ``rtl/core.py::Core``.

Two modes over the same memories (loaded from a :class:`CoreImage` or through
configuration writes, exactly like the RTL):

- functional: :meth:`CoreModel.tick` runs one whole tick (update loop with the
  vectorised definition :func:`spikemesh.neuron.lif_update`, then the events of
  the tick into the other accumulator buffer) and returns spikes, flits and
  the new state;
- timed: :meth:`CoreModel.outputs` / :meth:`CoreModel.clock` step one clock
  cycle. ``CoreModel`` is composed like ``Core``: the twins of its components,
  :class:`~spikemesh.sim.core_event.EventPipeline`,
  :class:`~spikemesh.sim.core_update.UpdatePipeline` and
  :class:`~spikemesh.sim.core_fanout.FanoutUnit` (same names, same ports, same
  registers), around the memories, their synchronous read ports' data registers, the
  decay-factor registers, the tick state, the configuration write port and the
  read-back port, which ``CoreModel`` keeps as ``Core`` does. The boundary signals are
  equal to the RTL's cycle for cycle (checked by tests/rtl/test_core.py and tb/core;
  each component is checked against its twin by tests/rtl/test_core_components.py).
  :meth:`CoreModel.run_tick` drives a whole tick with the testbench protocol of
  docs/timing.md and counts its cycles.

A chip-level model steps many ``CoreModel`` in lockstep with router models:
call ``outputs()`` on every block, compute every block's inputs from them
(the core's outputs are all Moore, so the order does not matter), then
``clock()`` every block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikemesh.config import KIND_HOST_OUT, KIND_SPIKE, ChipConfig, flit_layout
from spikemesh.coreimage import CoreImage
from spikemesh.errors import SpikemeshError
from spikemesh.layouts import Region, config_index_bits, decode_config_write
from spikemesh.neuron import lif_update

from .core_event import EventPipeline
from .core_fanout import FanoutUnit
from .core_learn import CoreLearning
from .core_update import UpdatePipeline, lif_scalar
from .core_words import (
    WORDS,
    AxonWord,
    FanoutWord,
    FanPtrWord,
    NeuronWord,
    ProfileWord,
    SynapseWord,
)

__all__ = ["CoreContractError", "CoreModel", "CoreOutputs", "lif_scalar"]


class CoreContractError(SpikemeshError, RuntimeError):
    """The core's environment broke its contract (docs/core.md), e.g. ``start`` while busy.

    The RTL checks the same rules with Amaranth ``Assert``s (rtl/core.py).
    """


@dataclass
class CoreOutputs:
    """The core's boundary outputs in the current cycle (all Moore: functions of registers).

    ``event_ready`` = i_event.ready, ``flit_valid``/``flit`` = o_flit.valid/payload,
    ``config_ready`` = i_config.ready, ``read_ready`` = i_read.ready,
    ``read_valid``/``read_u``/``read_v`` = o_read.valid/payload, ``done``, ``idle``.
    """

    event_ready: int
    flit_valid: int
    flit: int  # packed flit_layout(chip) word (held when not valid)
    config_ready: int
    read_ready: int
    read_valid: int
    read_u: int
    read_v: int
    done: int
    idle: int
    # a learning core's read-back of the learned state (i_lread.ready, o_lread.valid/payload)
    lread_ready: int = 0
    lread_valid: int = 0
    lread_data: int = 0


class CoreModel(CoreLearning):
    """Functional and cycle-level model of one core.

    Parameters
    ----------
    chip : ChipConfig
    x, y : int
        Tile coordinates (source address of HOST_OUT flits).
    image : CoreImage, optional
        Loaded directly (equivalent to ``core_config_writes``); without it the
        memories are all zero, as the RTL's after reset.

    Members
    -------
    state_mem, profile_mem, axon_mem, synapse_mem, fanptr_mem, fanout_mem : list
        The memories of ``Core`` under its names, lists of ``sim/core_words.py`` words.
    acc_mem : list of lists
        acc0_mem .. acc{D}_mem, the D + 1 accumulator banks (ints; D = ``max_delay``, so
        acc0_mem and acc1_mem without delays); ``acc`` is the same list.
    event_pipeline, update_pipeline, fanout_unit
        The components' twins (timed mode).
    counts : list of int (6)
        The activity counters (docs/counters.md; READ_COUNTER indexes 0..5:
        neuron_updates, spikes, flits_injected, host_flits, events, sops), counted by
        :meth:`clock` since the last clear without wrapping; the RTL's registers
        (``chip.counter_bits`` > 0) hold them modulo 2**counter_bits.
    cnt_wrapped, cnt_value : int
        The RTL's sticky wrap flag and registered selected counter (``cnt_index``).
    """

    def __init__(self, chip: ChipConfig, *, x: int, y: int, image: CoreImage | None = None):
        if not isinstance(chip, ChipConfig):
            raise TypeError(f"Chip configuration must be a ChipConfig, not {chip!r}")
        for what, val, size in (("x", x, chip.width), ("y", y, chip.height)):
            if isinstance(val, bool) or not isinstance(val, int) or not 0 <= val < size:
                raise ValueError(
                    f"Tile {what} coordinate must be an integer between 0 and "
                    f"{size - 1}, not {val!r}"
                )
        self.chip, self.x, self.y = chip, x, y
        c = chip.core
        self.n = c.neurons
        fl = flit_layout(chip)
        self._fo = {f.name: fl.offsets[f.name] for f in fl.fields}
        self._dx_mask = (1 << fl["dest_x"].width) - 1
        self._ib = config_index_bits(chip)
        self._acc_mask = (1 << c.acc_bits) - 1
        self._acc_half = 1 << (c.acc_bits - 1)
        self.tick_no = 0
        self.banks = c.acc_banks
        n, a = c.neurons, c.axons
        self.state_mem = [NeuronWord(0, 0, 0, 0)] * n
        self.profile_mem = [ProfileWord(0, 0, 0, 0, 0, 0)] * c.profiles
        self.axon_mem = [AxonWord(0, 0, 0)] * a
        self.synapse_mem = [SynapseWord(0, 0)] * c.synapses
        self.fanptr_mem = [FanPtrWord(0, 0, 0)] * n
        self.fanout_mem = [FanoutWord(0, 0, 0)] * c.fanout
        self.acc_mem = [[0] * n for _ in range(self.banks)]
        # The decay factors 4095 - du and 4096 - dv of each profile (rtl/core.py keeps
        # them in registers beside the profile memory, written with the profile).
        self.prof_fu = [4095] * c.profiles
        self.prof_fv = [4096] * c.profiles
        self.event_pipeline = EventPipeline(chip)
        self.update_pipeline = UpdatePipeline(chip)
        self.fanout_unit = FanoutUnit(chip, x=x, y=y)
        self._learn_init(chip)  # a learning core's memories and unit (sim/core_learn.py)
        # a count equal to this has wrapped its counter_bits register (never without them)
        self._cnt_limit = 1 << chip.counter_bits if chip.counter_bits else -1
        self.reset()
        if image is not None:
            self.load(image)

    @property
    def acc(self):
        """The accumulator banks (acc0_mem, acc1_mem, ...) as lists of ints."""
        return self.acc_mem

    # --- loading ------------------------------------------------------------------
    def load(self, image: CoreImage):
        """Write every memory from ``image`` (what core_config_writes does through i_config)."""
        image.check(self.chip)
        p = [ProfileWord(*(int(v) for v in row)) for row in image.profiles.tolist()]
        self.profile_mem = p + self.profile_mem[len(p) :]
        for k, w in enumerate(p):
            self._decay_factors(k, w)
        self.axon_mem = [
            AxonWord(int(b) if ln else 0, int(ln), int(e), int(d) - 1)
            for b, ln, e, d in zip(
                image.axon_base, image.axon_len, image.axon_exp, image.axon_delay, strict=True
            )
        ]
        syn = [
            SynapseWord(int(t), int(w))
            for t, w in zip(image.syn_target, image.syn_weight, strict=True)
        ]
        self.synapse_mem = syn + self.synapse_mem[len(syn) :]
        fan = [
            FanoutWord(int(x), int(y), int(ax))
            for x, y, ax in zip(image.fan_x, image.fan_y, image.fan_axon, strict=True)
        ]
        self.fanout_mem = fan + self.fanout_mem[len(fan) :]
        self.fanptr_mem = [
            FanPtrWord(int(b) if ln else 0, int(ln), int(bool(h)))
            for b, ln, h in zip(image.fan_base, image.fan_len, image.host_out, strict=True)
        ]
        self.state_mem = [
            NeuronWord(int(u), int(v), 0, int(p))
            for u, v, p in zip(image.u0, image.v0, image.profile_idx, strict=True)
        ]
        self.acc_mem = [[0] * self.n for _ in range(self.banks)]

    def _decay_factors(self, k, prm):
        self.prof_fu[k] = 4095 - prm.du
        self.prof_fv[k] = 4096 - prm.dv

    def config_write(self, addr: int, data: int):
        """One configuration write, decoded as the RTL decodes it."""
        dec = decode_config_write(self.chip, addr, data)
        if dec is None:
            return
        region, i, f = dec
        if region == Region.ACC:
            self.acc_mem[i >> (self.n.bit_length() - 1)][i & (self.n - 1)] = f["a"]
            return
        w = WORDS[region](**f)
        if self.learn and self._learn_config(region, i, w):
            return
        if region == Region.NEURON:
            self.state_mem[i] = w
        elif region == Region.PROFILE:
            self.profile_mem[i] = w
            self._decay_factors(i, w)
        elif region == Region.AXON:
            self.axon_mem[i] = w
        elif region == Region.SYNAPSE:
            self.synapse_mem[i] = w
        elif region == Region.FANPTR:
            self.fanptr_mem[i] = w
        else:
            self.fanout_mem[i] = w

    # --- state views ------------------------------------------------------------------
    def state(self):
        """(u, v, ref) as int64 arrays."""
        s = self.state_mem
        return (
            np.array([w.u for w in s], dtype=np.int64),
            np.array([w.v for w in s], dtype=np.int64),
            np.array([w.ref for w in s], dtype=np.int64),
        )

    def spike_flit(self, x, y, axon) -> int:
        return self.fanout_unit.spike_flit(x, y, axon)

    def host_flit(self, neuron) -> int:
        return self.fanout_unit.host_flit(neuron)

    def _wrap_acc(self, x):
        return ((x + self._acc_half) & self._acc_mask) - self._acc_half

    # --- functional mode ------------------------------------------------------------------
    def tick(self, events=(), *, loopback=False):
        """One whole tick t = ``tick_no``: update every neuron with bank t mod (D + 1), then
        add ``events`` (axon ids arriving during tick t) into bank (t + d) mod (D + 1) of each
        row's delay d (t & 1 and ~t & 1 without delays). With ``loopback``, the SPIKE flits
        addressed to this tile are events too.

        Returns
        -------
        spikes : bool ndarray [N]
        flits : list of packed flits, in the order the RTL sends them
            (neuron order; per neuron its fan-out list, then HOST_OUT)
        """
        if self.learn:
            raise SpikemeshError(
                "CoreModel.tick (functional mode) does not learn: run a learning core in "
                "timed mode (clock / run_tick)"
            )
        p = self.tick_no % self.banks
        u, v, ref = self.state()
        a = np.array(self.acc_mem[p], dtype=np.int64)
        params = np.array([self.profile_mem[w.profile] for w in self.state_mem], dtype=np.int64)
        u, v, ref, spk = lif_update(u, v, ref, a, params)
        self.state_mem = [
            NeuronWord(*row)
            for row in zip(
                u.tolist(),
                v.tolist(),
                ref.tolist(),
                [w.profile for w in self.state_mem],
                strict=True,
            )
        ]
        self.acc_mem[p] = [0] * self.n
        flits, own = [], []
        for i in np.flatnonzero(spk).tolist():
            fp = self.fanptr_mem[i]
            for f in self.fanout_mem[fp.base : fp.base + fp.len]:
                flits.append(self.spike_flit(f.x, f.y, f.axon))
                if loopback and (f.x, f.y) == (self.x, self.y):
                    own.append(f.axon)
            if fp.host_out:
                flits.append(self.host_flit(i))
        for ax in [*events, *own]:
            row = self.axon_mem[ax]
            acc = self.acc_mem[(p + row.delay + 1) % self.banks]
            for s in self.synapse_mem[row.base : row.base + row.len]:
                acc[s.target] = self._wrap_acc(acc[s.target] + (s.weight << row.exp))
        self.tick_no += 1
        return spk, flits

    # --- timed mode ------------------------------------------------------------------------
    def reset(self):
        """Registers to their reset values (memories keep their content, like the RTL)."""
        self.running, self.done, self.parity = 0, 1, 0
        self.counter_clear()
        self.cnt_value = 0
        self.ro_valid = 0
        self.event_pipeline.reset()
        self.update_pipeline.reset()
        self.fanout_unit.reset()
        # the synchronous read ports' data registers (``Core``'s ``<port>.data``)
        self.state_rp_data = NeuronWord(0, 0, 0, 0)
        self.profile_rp_data = ProfileWord(0, 0, 0, 0, 0, 0)
        self.axon_rp_data = AxonWord(0, 0, 0, 0)
        self.syn_rp_data = SynapseWord(0, 0)
        self.fanptr_rp_data = FanPtrWord(0, 0, 0)
        self.fanout_rp_data = FanoutWord(0, 0, 0)
        self.acc_rp_data = [0] * self.banks
        self._learn_reset()

    # ---- activity counters (docs/counters.md) ----
    def counter_clear(self):
        """RESET's registered clear: every counter and the wrap flag to 0."""
        self.counts = [0] * 6
        self.cnt_wrapped = 0

    def counter_select(self, index: int):
        """``cnt_value`` loads counter ``index`` (0 for another block's): before increments."""
        mask = (1 << self.chip.counter_bits) - 1
        self.cnt_value = self.counts[index] & mask if 0 <= index < 6 else 0

    def _count(self, k):
        self.counts[k] += 1
        if self.counts[k] == self._cnt_limit:
            self.cnt_wrapped = 1

    def outputs(self) -> CoreOutputs:
        ev, fo = self.event_pipeline, self.fanout_unit
        return CoreOutputs(
            event_ready=int(ev.i_event__ready and not (self.learn and self.learning)),
            flit_valid=fo.o_flit__valid,
            flit=fo.o_flit__payload,
            config_ready=int(not self.running and ev.idle),
            read_ready=int(not self.running and not self.ro_valid),
            read_valid=self.ro_valid,
            read_u=self.state_rp_data.u,
            read_v=self.state_rp_data.v,
            done=self.done,
            idle=ev.idle,
            **(
                {
                    "lread_ready": self._lread_ready(self.running, ev.idle),
                    "lread_valid": self.lr_valid,
                    "lread_data": self.lr_data,
                }
                if self.learn
                else {}
            ),
        )

    def clock(
        self,
        *,
        event_valid=0,
        event=0,
        flit_ready=0,
        start=0,
        parity=0,
        config_valid=0,
        config_addr=0,
        config_data=0,
        read_valid=0,
        read_index=0,
        read_ready=0,
        cnt_index=None,
        cnt_clear=0,
        lread_valid=0,
        lread_addr=0,
        lread_ready=0,
        learn_only=0,
    ):
        """Advance one clock edge with these input values (held during the cycle).

        ``event_valid``/``event`` = i_event.valid/payload, ``flit_ready`` = o_flit.ready,
        ``start``, ``parity``, ``config_*`` = i_config, ``read_valid``/``read_index`` =
        i_read, ``read_ready`` = o_read.ready, ``cnt_index`` / ``cnt_clear`` = the counter
        selection (None: not tracked) and clear, ``lread_*`` = i_lread / o_lread.ready and
        ``learn_only`` (learning cores). Returns True when an event was accepted
        in this cycle (``event_valid & event_ready``).

        Raises
        ------
        CoreContractError
            ``start`` while the core is not ``done & idle`` or a read-back answer waits
            (rule 1 of docs/core.md's contract; the RTL asserts the same). No state changes.
        """
        ev, up, fo = self.event_pipeline, self.update_pipeline, self.fanout_unit
        running, ev_idle = self.running, ev.idle
        if cnt_index is not None:
            self.counter_select(cnt_index)
        if start:
            self._check_start(ev_idle)
        begin = start and not running
        if self.learn:  # the learning of the last tick first (sim/core_learn.py)
            up_start = self._learn_comb(ev, begin, learn_only)
            up_running = running and not self.learning
            lr_take = lread_valid and self._lread_ready(running, ev_idle)
            lr_word = self._lread_word() if self.lr_pend else 0
        else:
            up_start, up_running = begin, running
        # The update loop uses bank ``parity`` (t mod (D + 1)); an event over a row of delay
        # d bank (parity + d) mod (D + 1): S1 reads and S2 writes their row's bank.
        par = self.parity
        ev_rbank = (par + 1 + ev.acc_rp_delay) % self.banks
        ev_buf = (par + 1 + ev.acc_wp_delay) % self.banks

        # ---- the components' combinational outputs (the fan-out unit's i_spike.ready,
        # which can stall the update loop, is a register) ----
        ev.i_event__valid, ev.i_event__payload = event_valid, event
        ev.axon_rp__data, ev.syn_rp__data = self.axon_rp_data, self.syn_rp_data
        ev.acc_rp__data = self.acc_rp_data[ev_buf]
        ev.comb()
        fo.o_flit__ready, fo.fanout_rp__data = flit_ready, self.fanout_rp_data
        fo.comb()
        up.start, up.running = up_start, up_running
        s = up.state_rp__data = self.state_rp_data
        up.fanptr_rp__data, up.profile_rp__data = self.fanptr_rp_data, self.profile_rp_data
        up.acc_rp__data = self.acc_rp_data[par]
        k = s.profile & (len(self.prof_fu) - 1)  # the index bits the registers decode
        up.fu, up.fv = self.prof_fu[k], self.prof_fv[k]
        up.o_spike__ready = fo.i_spike__ready
        up.comb()
        fo.i_spike__valid, fo.i_spike__payload = up.o_spike__valid, up.o_spike__payload
        self._count_activity(ev, up, fo, flit_ready)

        # ---- read ports (sample memories before this edge's writes: non-transparent) ----
        rq_take = read_valid and not running and not self.ro_valid
        self._read_ports(up, rq_take, read_index, running, ev_rbank, par)
        if self.learn and lr_take:  # a read-back (never with the ports' other users)
            self._lread_ports(lread_addr)

        # ---- memory writes: the config path has priority (it writes only while
        # ~running & idle, when nothing else writes) ----
        cfg_region = -1
        if config_valid and not running and ev_idle:
            self.config_write(config_addr, config_data)
            cfg_region = config_addr >> self._ib
        if self.learn:
            self._learn_writes(ev, up, cfg_region)
        if up.state_wp__en and cfg_region != Region.NEURON:
            self.state_mem[up.state_wp__addr] = up.state_wp__data
        cfg_acc = -1  # the accumulator bank a config write takes over (index bits >= N)
        if cfg_region == Region.ACC:
            index = config_addr & ((1 << self._ib) - 1)
            cfg_acc = (index >> (self.n.bit_length() - 1)) & (self.banks - 1)
        if ev.acc_wp__en and cfg_acc != ev_buf:
            self.acc_mem[ev_buf][ev.acc_wp__addr] = ev.acc_wp__data
        if up.acc_wp__en and cfg_acc != par:
            self.acc_mem[par][up.acc_wp__addr] = up.acc_wp__data  # U1 clears

        # ---- registers ----
        lonly = self.learn and self.lonly  # a learn_only start: no loop to wait for
        if begin:
            keep = self.learn and learn_only  # no tick: the bank is kept
            self.running, self.done = 1, 0
            self.parity = self.parity if keep else parity & (self.banks - 1)
        elif running and (lonly or (up.drained and fo.idle)) and not (self.learn and self.learning):
            self.running, self.done = 0, 1
        if self.learn:
            self._learn_clock(up_start, begin, learn_only)
            self._lread_clock(lr_take, lread_addr, lread_ready, lr_word)
        self.ro_valid = int(rq_take or (self.ro_valid and not read_ready))
        ev.clock()
        up.clock()
        fo.clock()
        if cnt_clear:
            self.counter_clear()
        return bool(ev.ev_take)

    def _count_activity(self, ev, up, fo, flit_ready):
        """This cycle's increments of the activity counters (rtl/core.py's ``incs``)."""
        if up.state_wp__en:
            self._count(0)  # neuron_updates: U5 writes back
            if up.o_spiked:
                self._count(1)  # spikes
        if fo.o_flit__valid and flit_ready:
            self._count(2)  # flits_injected
            if (fo.o_flit__payload >> self._fo["kind"]) & 1 == KIND_HOST_OUT:
                self._count(3)  # host_flits
        if ev.ev_take:
            self._count(4)  # events
        if ev.acc_wp__en:
            self._count(5)  # sops: S2 accumulates

    def _read_ports(self, up, rq_take, read_index, running, ev_bank, par):
        """Every read port's data register at this edge (a port keeps its word while its
        enable is low); ``ev_bank`` is the bank S1 reads, ``par`` the update loop's."""
        ev, fo = self.event_pipeline, self.fanout_unit
        if ev.axon_rp__en:
            self.axon_rp_data = self.axon_mem[ev.axon_rp__addr]
        if self.learn:
            self._learn_read_ports(ev)  # the synapse memory's port too
        elif ev.syn_rp__en:
            self.syn_rp_data = self.synapse_mem[ev.syn_rp__addr]
        if ev.acc_rp__en:
            self.acc_rp_data[ev_bank] = self.acc_mem[ev_bank][ev.acc_rp__addr]
        if up.acc_rp__en:
            self.acc_rp_data[par] = self.acc_mem[par][up.acc_rp__addr]
        # The state read port is the update loop's while it runs, read-back's otherwise.
        if running:
            if up.state_rp__en:
                self.state_rp_data = self.state_mem[up.state_rp__addr]
        elif rq_take:
            self.state_rp_data = self.state_mem[read_index]
        if up.fanptr_rp__en:
            self.fanptr_rp_data = self.fanptr_mem[up.fanptr_rp__addr]
        if up.profile_rp__en:
            self.profile_rp_data = self.profile_mem[
                up.profile_rp__addr & (len(self.profile_mem) - 1)
            ]
        if fo.fanout_rp__en:
            self.fanout_rp_data = self.fanout_mem[fo.fanout_rp__addr]

    def _check_start(self, ev_idle):
        """Rule 1 of the core's contract (docs/core.md); the RTL asserts the same."""
        where = f"Core ({self.x}, {self.y})"
        if not self.done:
            raise CoreContractError(
                f"{where}: start pulsed while the update loop of the previous start is "
                "still running (done = 0); pulse start only while done & idle"
            )
        if not ev_idle:
            raise CoreContractError(
                f"{where}: start pulsed while an accepted event is still inside the event "
                "pipeline (idle = 0): it could land in the accumulator buffer the new "
                "tick reads"
            )
        if self.ro_valid:
            raise CoreContractError(
                f"{where}: start pulsed while a read-back answer waits on o_read "
                "(o_read.valid = 1); take it first"
            )

    def run_tick(self, events=(), *, flit_ready=None, loopback=False):
        """Run tick ``tick_no`` in timed mode with the testbench protocol of docs/timing.md.

        Cycle 0 pulses ``start`` (parity = tick_no mod (D + 1), the tick's bank; tick_no & 1
        without delays); the events are offered on
        i_event from cycle 0 on, back to back, in order; ``flit_ready(cycle)``
        gives o_flit.ready (always 1 by default). With ``loopback``, SPIKE flits
        addressed to this tile are appended to the event queue (a one-tile
        mesh). The tick ends at the first cycle c > 0 that starts with
        done & idle and no event left to offer; c is the tick's cycle count.

        Returns (cycles, flits).
        """
        queue = list(events)
        k = cyc = 0
        flits = []
        parity = self.tick_no % self.banks
        own = (self.x, self.y)
        fo = self._fo
        while True:
            o = self.outputs()
            if cyc and o.done and o.idle and k == len(queue):
                break
            fr = 1 if flit_ready is None else int(flit_ready(cyc))
            if o.flit_valid and fr:
                flits.append(o.flit)
                if loopback:
                    f = o.flit
                    if ((f >> fo["kind"]) & 1) == KIND_SPIKE:
                        x = (f >> fo["dest_x"]) & self._dx_mask
                        y = (f >> fo["dest_y"]) & ((1 << self.chip.y_bits) - 1)
                        if (x, y) == own:
                            queue.append(
                                (f >> fo["payload"]) & ((1 << self.chip.core.axon_bits) - 1)
                            )
            ev_valid = k < len(queue)
            if self.clock(
                event_valid=ev_valid,
                event=queue[k] if ev_valid else 0,
                flit_ready=fr,
                start=int(cyc == 0),
                parity=parity,
            ):
                k += 1
            cyc += 1
        self.tick_no += 1
        return cyc, flits
