"""CoreModel: the transaction-level twin of ``rtl/core.py::Core``.

Two modes over the same memories (loaded from a :class:`CoreImage` or through
configuration writes, exactly like the RTL):

- functional: :meth:`CoreModel.tick` runs one whole tick (update loop with the
  vectorised definition :func:`spikemesh.neuron.lif_update`, then the events of
  the tick into the other accumulator buffer) and returns spikes, flits and
  the new state;
- timed: :meth:`CoreModel.outputs` / :meth:`CoreModel.clock` step one clock
  cycle. Every register and every synchronous read port of the RTL is a
  Python int here, so the boundary signals are equal to the RTL's cycle for
  cycle (checked by tb/core). :meth:`CoreModel.run_tick` drives a whole tick
  with the testbench protocol of docs/timing.md and counts its cycles.

A chip-level model steps many ``CoreModel`` in lockstep with router models:
call ``outputs()`` on every block, compute every block's inputs from them
(the core's outputs are all Moore, so the order does not matter), then
``clock()`` every block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikemesh.config import (
    KIND_HOST_OUT,
    KIND_SPIKE,
    STATE_BITS,
    VTH_SHIFT,
    ChipConfig,
    flit_layout,
    host_source_layout,
)
from spikemesh.coreimage import CoreImage
from spikemesh.errors import SpikemeshError
from spikemesh.layouts import Region, config_index_bits, decode_config_write
from spikemesh.neuron import lif_update

_SAT = (1 << (STATE_BITS - 1)) - 1
_U_MASK = (1 << STATE_BITS) - 1
_U_HALF = 1 << (STATE_BITS - 1)


def _t12(x):
    """T(x): x >> 12 rounding toward zero (chip.md §3)."""
    return x >> 12 if x >= 0 else -((-x) >> 12)


def lif_scalar(u, v, ref, a, prm):
    """chip.md §3 for one neuron on Python ints, as the RTL's U2..U4 stages compute it.

    Returns (u, v, ref, spike).
    """
    du, dv, vth, bias_mant, bias_exp, refractory = prm
    u = ((_t12(u * (4095 - du)) + (a << 6) + _U_HALF) & _U_MASK) - _U_HALF  # wrap24
    if ref:
        return u, 0, ref - 1, False
    v = _t12(v * (4096 - dv)) + u + (bias_mant << bias_exp)
    v = _SAT if v > _SAT else (-_SAT if v < -_SAT else v)  # sat24
    if v > (vth << VTH_SHIFT):
        return u, 0, refractory, True
    return u, v, 0, False


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


class CoreModel:
    """Functional and cycle-level model of one core.

    Parameters
    ----------
    chip : ChipConfig
    x, y : int
        Tile coordinates (source address of HOST_OUT flits).
    image : CoreImage, optional
        Loaded directly (equivalent to ``core_config_writes``); without it the
        memories are all zero, as the RTL's after reset.
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
        hs = host_source_layout(chip)
        self._host_base = (x << hs.offsets["x"]) | (y << hs.offsets["y"])
        self._host_flit_base = (KIND_HOST_OUT << self._fo["kind"]) | (
            (-1 & self._dx_mask) << self._fo["dest_x"]
        )
        self._ib = config_index_bits(chip)
        self._acc_bits = c.acc_bits
        self._acc_mask = (1 << c.acc_bits) - 1
        self._acc_half = 1 << (c.acc_bits - 1)
        self.tick_no = 0
        # memories (logical values; the RTL's words hold the same fields)
        n, a = c.neurons, c.axons
        self.st_u, self.st_v, self.st_ref, self.st_prof = [0] * n, [0] * n, [0] * n, [0] * n
        self.prof = [(0, 0, 0, 0, 0, 0)] * c.profiles
        self.ax_base, self.ax_len, self.ax_exp = [0] * a, [0] * a, [0] * a
        self.syn_t, self.syn_w = [0] * c.synapses, [0] * c.synapses
        self.fp_base, self.fp_len, self.fp_host = [0] * n, [0] * n, [0] * n
        self.fo_x, self.fo_y, self.fo_axon = [0] * c.fanout, [0] * c.fanout, [0] * c.fanout
        self.acc = [[0] * n, [0] * n]
        self.reset()
        if image is not None:
            self.load(image)

    # --- loading ------------------------------------------------------------------
    def load(self, image: CoreImage):
        """Write every memory from ``image`` (what core_config_writes does through i_config)."""
        image.check(self.chip)
        c = self.chip.core
        p = image.profiles.tolist()
        self.prof = [tuple(int(v) for v in row) for row in p] + self.prof[len(p) :]
        self.ax_base = [
            int(b) if ln else 0 for b, ln in zip(image.axon_base, image.axon_len, strict=True)
        ]
        self.ax_len = [int(v) for v in image.axon_len]
        self.ax_exp = [int(v) for v in image.axon_exp]
        s = image.syn_target.size
        self.syn_t = [int(v) for v in image.syn_target] + self.syn_t[s:]
        self.syn_w = [int(v) for v in image.syn_weight] + self.syn_w[s:]
        f = image.fan_x.size
        self.fo_x = [int(v) for v in image.fan_x] + self.fo_x[f:]
        self.fo_y = [int(v) for v in image.fan_y] + self.fo_y[f:]
        self.fo_axon = [int(v) for v in image.fan_axon] + self.fo_axon[f:]
        self.fp_base = [
            int(b) if ln else 0 for b, ln in zip(image.fan_base, image.fan_len, strict=True)
        ]
        self.fp_len = [int(v) for v in image.fan_len]
        self.fp_host = [int(bool(v)) for v in image.host_out]
        self.st_u = [int(v) for v in image.u0]
        self.st_v = [int(v) for v in image.v0]
        self.st_ref = [0] * c.neurons
        self.st_prof = [int(v) for v in image.profile_idx]
        self.acc = [[0] * c.neurons, [0] * c.neurons]

    def config_write(self, addr: int, data: int):
        """One configuration write, decoded as the RTL decodes it."""
        dec = decode_config_write(self.chip, addr, data)
        if dec is None:
            return
        region, i, f = dec
        if region == Region.NEURON:
            self.st_u[i], self.st_v[i], self.st_ref[i], self.st_prof[i] = (
                f["u"],
                f["v"],
                f["ref"],
                f["profile"],
            )
        elif region == Region.PROFILE:
            self.prof[i] = (
                f["du"],
                f["dv"],
                f["vth"],
                f["bias_mant"],
                f["bias_exp"],
                f["refractory"],
            )
        elif region == Region.AXON:
            self.ax_base[i], self.ax_len[i], self.ax_exp[i] = f["base"], f["len"], f["exp"]
        elif region == Region.SYNAPSE:
            self.syn_t[i], self.syn_w[i] = f["target"], f["weight"]
        elif region == Region.FANPTR:
            self.fp_base[i], self.fp_len[i], self.fp_host[i] = f["base"], f["len"], f["host_out"]
        elif region == Region.FANOUT:
            self.fo_x[i], self.fo_y[i], self.fo_axon[i] = f["x"], f["y"], f["axon"]
        else:  # ACC
            self.acc[i >> (self.n.bit_length() - 1)][i & (self.n - 1)] = f["a"]

    # --- state views ------------------------------------------------------------------
    def state(self):
        """(u, v, ref) as int64 arrays."""
        return (
            np.array(self.st_u, dtype=np.int64),
            np.array(self.st_v, dtype=np.int64),
            np.array(self.st_ref, dtype=np.int64),
        )

    def spike_flit(self, x, y, axon) -> int:
        fo = self._fo
        return (
            (KIND_SPIKE << fo["kind"])
            | (x << fo["dest_x"])
            | (y << fo["dest_y"])
            | (axon << fo["payload"])
        )

    def host_flit(self, neuron) -> int:
        return self._host_flit_base | ((self._host_base | neuron) << self._fo["payload"])

    def _wrap_acc(self, x):
        return ((x + self._acc_half) & self._acc_mask) - self._acc_half

    # --- functional mode ------------------------------------------------------------------
    def tick(self, events=(), *, loopback=False):
        """One whole tick t = ``tick_no``: update every neuron with acc[t & 1], then add
        ``events`` (axon ids arriving during tick t) into acc[~t & 1]. With
        ``loopback``, the SPIKE flits addressed to this tile are events too.

        Returns
        -------
        spikes : bool ndarray [N]
        flits : list of packed flits, in the order the RTL sends them
            (neuron order; per neuron its fan-out list, then HOST_OUT)
        """
        p = self.tick_no & 1
        u, v, ref = self.state()
        a = np.array(self.acc[p], dtype=np.int64)
        params = np.array([self.prof[k] for k in self.st_prof], dtype=np.int64)
        u, v, ref, spk = lif_update(u, v, ref, a, params)
        self.st_u, self.st_v, self.st_ref = u.tolist(), v.tolist(), ref.tolist()
        self.acc[p] = [0] * self.n
        flits = []
        for i in np.flatnonzero(spk).tolist():
            b = self.fp_base[i]
            for k in range(b, b + self.fp_len[i]):
                flits.append(self.spike_flit(self.fo_x[k], self.fo_y[k], self.fo_axon[k]))
            if self.fp_host[i]:
                flits.append(self.host_flit(i))
        acc = self.acc[1 - p]
        events = list(events)
        if loopback:
            for i in np.flatnonzero(spk).tolist():
                b = self.fp_base[i]
                for k in range(b, b + self.fp_len[i]):
                    if (self.fo_x[k], self.fo_y[k]) == (self.x, self.y):
                        events.append(self.fo_axon[k])
        for ax in events:
            e, b = self.ax_exp[ax], self.ax_base[ax]
            for k in range(b, b + self.ax_len[ax]):
                t = self.syn_t[k]
                acc[t] = self._wrap_acc(acc[t] + (self.syn_w[k] << e))
        self.tick_no += 1
        return spk, flits

    # --- timed mode ------------------------------------------------------------------------
    def reset(self):
        """Registers to their reset values (memories keep their content, like the RTL)."""
        c = self.chip.core
        self.running, self.done, self.parity = 0, 1, 0
        self.ax_valid, self.w_cnt, self.w_addr, self.w_exp = 0, 0, 0, 0
        self.s1_valid, self.s1_exp = 0, 0
        self.s2_valid, self.s2_target, self.s2_wv = 0, 0, 0
        self.fwd_valid, self.fwd_target, self.fwd_acc = 0, 0, 0
        self.u_idx = 0
        self.u1_valid = self.u1_idx = 0
        self.u2 = None  # (idx, u, v, ref, prof, a, fp) or None
        self.u3 = None  # (idx, u, v, ref, prof, a, fp, prm) or None
        self.u4 = None  # same as u3 (U3/U4 split the LIF arithmetic; the model does it at once)
        self.u5 = None  # (idx, u, v, ref, prof, needs fan-out, fp) or None
        self.sq = []  # spike queue, at most 2 entries of (idx, fp)
        self.fo_cnt = self.fo_host = self.fo_addr = self.fo_neuron = 0
        self.rd_valid = self.rd_host = self.rd_neuron = 0
        self.o_valid, self.o_flit = 0, 0
        self.ro_valid = 0
        # synchronous read port output registers
        self.r_axon = (0, 0, 0)
        self.r_syn = (0, 0)
        self.r_acc = [0, 0]
        self.r_state = (0, 0, 0, 0)
        self.r_fanptr = (0, 0, 0)
        self.r_prof = (0, 0, 0, 0, 0, 0)
        self.r_fanout = (0, 0, 0)
        self._n_fanout = c.fanout
        self._n_syn = c.synapses

    def outputs(self) -> CoreOutputs:
        ev_idle = not self.ax_valid and self.w_cnt == 0 and not self.s1_valid and not self.s2_valid
        return CoreOutputs(
            event_ready=int(not self.ax_valid or self.w_cnt <= 1),
            flit_valid=self.o_valid,
            flit=self.o_flit,
            config_ready=int(not self.running and ev_idle),
            read_ready=int(not self.running and not self.ro_valid),
            read_valid=self.ro_valid,
            read_u=self.r_state[0],
            read_v=self.r_state[1],
            done=self.done,
            idle=int(ev_idle),
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
    ):
        """Advance one clock edge with these input values (held during the cycle).

        ``event_valid``/``event`` = i_event.valid/payload, ``flit_ready`` = o_flit.ready,
        ``start``, ``parity``, ``config_*`` = i_config, ``read_valid``/``read_index`` =
        i_read, ``read_ready`` = o_read.ready. Returns True when an event was accepted
        in this cycle (``event_valid & event_ready``).

        Raises
        ------
        CoreContractError
            ``start`` while the core is not ``done & idle`` or a read-back answer waits
            (rule 1 of docs/core.md's contract; the RTL asserts the same). No state changes.
        """
        n = self.n
        # ---- combinational part (current registers + inputs) ----
        ax_valid, w_cnt = self.ax_valid, self.w_cnt
        w_free = w_cnt <= 1
        ax_load = ax_valid and w_free
        w_issue = w_cnt != 0
        ev_take = event_valid and (not ax_valid or w_free)
        ev_idle = not ax_valid and w_cnt == 0 and not self.s1_valid and not self.s2_valid
        if start:
            self._check_start(ev_idle)
        ev_buf = 1 - self.parity
        if self.s2_valid:
            old = (
                self.fwd_acc
                if self.fwd_valid and self.fwd_target == self.s2_target
                else self.r_acc[ev_buf]
            )
            ev_acc_new = self._wrap_acc(old + self.s2_wv)
        o_load = not self.o_valid or flit_ready
        rd_free = not self.rd_valid or o_load
        fo_cnt, fo_host = self.fo_cnt, self.fo_host
        fo_issue = (fo_cnt != 0 or fo_host) and rd_free
        fo_last = fo_host if fo_cnt == 0 else (fo_cnt == 1 and not fo_host)
        sq = self.sq
        fo_take = bool(sq) and ((fo_cnt == 0 and not fo_host) or (fo_issue and fo_last))
        u5 = self.u5
        adv = not (u5 is not None and u5[5] and len(sq) == 2)
        sq_push = u5 is not None and u5[5] and adv
        running = self.running
        u0_issue = running and self.u_idx != n and adv
        cfg_we = config_valid and not running and ev_idle
        rq_take = read_valid and not running and not self.ro_valid
        drained = (
            self.u_idx == n
            and not self.u1_valid
            and self.u2 is None
            and self.u3 is None
            and self.u4 is None
            and u5 is None
            and not sq
            and fo_cnt == 0
            and not fo_host
            and not self.rd_valid
            and not self.o_valid
        )

        # ---- read ports (sample memories before this edge's writes: non-transparent) ----
        new_r_axon = (
            (self.ax_base[event], self.ax_len[event], self.ax_exp[event])
            if ev_take
            else self.r_axon
        )
        new_r_syn = (self.syn_t[self.w_addr], self.syn_w[self.w_addr]) if w_issue else self.r_syn
        s1_target = self.r_syn[0]
        new_r_acc = list(self.r_acc)
        if self.s1_valid:
            new_r_acc[ev_buf] = self.acc[ev_buf][s1_target]
        if u0_issue:
            new_r_acc[self.parity] = self.acc[self.parity][self.u_idx]
        if running:
            if u0_issue:
                i = self.u_idx
                new_r_state = (self.st_u[i], self.st_v[i], self.st_ref[i], self.st_prof[i])
            else:
                new_r_state = self.r_state
        elif rq_take:
            i = read_index
            new_r_state = (self.st_u[i], self.st_v[i], self.st_ref[i], self.st_prof[i])
        else:
            new_r_state = self.r_state
        if u0_issue:
            i = self.u_idx
            new_r_fanptr = (self.fp_base[i], self.fp_len[i], self.fp_host[i])
        else:
            new_r_fanptr = self.r_fanptr
        new_r_prof = self.prof[self.r_state[3]] if (self.u1_valid and adv) else self.r_prof
        if fo_issue and fo_cnt != 0:
            k = self.fo_addr
            new_r_fanout = (self.fo_x[k], self.fo_y[k], self.fo_axon[k])
        else:
            new_r_fanout = self.r_fanout

        # ---- memory writes ----
        if cfg_we:
            self.config_write(config_addr, config_data)
            cfg_region = config_addr >> self._ib
        else:
            cfg_region = -1
        if u5 is not None and adv and cfg_region != Region.NEURON:
            i = u5[0]
            self.st_u[i], self.st_v[i], self.st_ref[i], self.st_prof[i] = u5[1:5]
        if cfg_region != Region.ACC:
            if self.s2_valid:
                self.acc[ev_buf][self.s2_target] = ev_acc_new
            if self.u1_valid and adv:
                self.acc[self.parity][self.u1_idx] = 0

        # ---- registers ----
        # fan-out and o_flit (use current-cycle values before updating them)
        if o_load:
            if self.rd_valid:
                if self.rd_host:
                    self.o_flit = self.host_flit(self.rd_neuron)
                else:
                    self.o_flit = self.spike_flit(*self.r_fanout)
            self.o_valid = self.rd_valid
        self.rd_valid = int(fo_issue or (self.rd_valid and not o_load))
        if fo_issue:
            self.rd_host = int(fo_cnt == 0)
            self.rd_neuron = self.fo_neuron
        if fo_take:
            idx, fp = sq.pop(0)
            self.fo_cnt, self.fo_host, self.fo_addr, self.fo_neuron = fp[1], fp[2], fp[0], idx
        elif fo_issue:
            if fo_cnt:
                self.fo_cnt = fo_cnt - 1
                self.fo_addr = (self.fo_addr + 1) % self._n_fanout
            else:
                self.fo_host = 0

        if sq_push:
            sq.append((u5[0], u5[6]))

        # update pipeline
        if adv:
            u4 = self.u4
            if u4 is not None:
                idx, uu, vv, rr, pp, aa, fpp, prm = u4
                uu, vv, rr, spk = lif_scalar(uu, vv, rr, aa, prm)
                self.u5 = (idx, uu, vv, rr, pp, spk and (fpp[1] != 0 or fpp[2]), fpp)
            else:
                self.u5 = None
            self.u4 = self.u3
            if self.u2 is not None:
                idx, uu, vv, rr, pp, aa, fpp = self.u2
                self.u3 = (idx, uu, vv, rr, pp, aa, fpp, self.r_prof)
            else:
                self.u3 = None
            if self.u1_valid:
                s = self.r_state
                self.u2 = (
                    self.u1_idx,
                    s[0],
                    s[1],
                    s[2],
                    s[3],
                    self.r_acc[self.parity],
                    self.r_fanptr,
                )
            else:
                self.u2 = None
            self.u1_valid = int(u0_issue)
            self.u1_idx = self.u_idx
            self.u_idx += int(u0_issue)
        if start and not running:
            self.running, self.done, self.u_idx, self.parity = 1, 0, 0, parity & 1
        elif running and drained:
            self.running, self.done = 0, 1

        # event pipeline
        if self.s2_valid:
            self.fwd_valid, self.fwd_target, self.fwd_acc = 1, self.s2_target, ev_acc_new
        else:
            self.fwd_valid = 0
        self.s2_valid, self.s2_target = self.s1_valid, s1_target
        self.s2_wv = self.r_syn[1] << self.s1_exp
        self.s1_valid, self.s1_exp = int(w_issue), self.w_exp
        self.ax_valid = int(ev_take or (ax_valid and not ax_load))
        if ax_load:
            self.w_addr, self.w_cnt, self.w_exp = self.r_axon
        elif w_issue:
            self.w_addr = (self.w_addr + 1) % self._n_syn
            self.w_cnt = w_cnt - 1

        self.ro_valid = int(rq_take or (self.ro_valid and not read_ready))
        self.r_axon, self.r_syn, self.r_acc = new_r_axon, new_r_syn, new_r_acc
        self.r_state, self.r_fanptr, self.r_prof = new_r_state, new_r_fanptr, new_r_prof
        self.r_fanout = new_r_fanout
        return bool(ev_take)

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

        Cycle 0 pulses ``start`` (parity = tick_no & 1); the events are offered on
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
        parity = self.tick_no & 1
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
