"""Cycle-exact twin of rtl/hostlink.py::HostLink (see docs/hostlink.md).

``comb(inp)`` returns this cycle's outputs for the given inputs; ``clock(inp)``
advances one cycle. Inputs and outputs are plain dicts of ints, named after
the RTL ports (``cmd_valid``, ``cmd`` = dict of command fields, ``rsp_ready``,
``cfg_ready``, ``read_ready``, ``inject_ready``, ``read_valid``, ``read_u``,
``read_v``, ``host_valid``, ``host_payload``, ``all_done``, ``flits_in``,
``flits_out``, ``misroute``; with ``counter_bits``: ``counter_value`` (the chip's registered
value of the addressed tile's selected counter) and ``counter_wrapped`` (the chip's
registered OR of the tiles' wrap flags), both 0 when absent; on a learning chip
``lread_ready`` (the addressed core's i_lread.ready), ``lread_valid`` / ``lread_data`` (a
core's o_lread), absent = 0). Outputs add ``learn_only`` (with ``start``: LEARN_FLUSH),
``lread_valid`` (READ_LEARNED's request to the command's tile) and ``lread_in_ready``.
"""

from __future__ import annotations

import collections

from spikemesh.config import ChipConfig
from spikemesh.counters import HW_TILE_COUNT, hw_index
from spikemesh.hostlink import (
    RSP_B_BITS,
    START_SETTLE,
    Cmd,
    CommandCheck,
    ErrorFlag,
    Rsp,
    StatusReg,
)
from spikemesh.noc import ContractError

MASK32 = (1 << 32) - 1
_CYCLES = hw_index("cycles")
MASK24 = (1 << 24) - 1


class SyncFIFOBufferedModel:
    """Cycle-exact twin of ``amaranth.lib.fifo.SyncFIFOBuffered`` (depth >= 2), the FIFO of
    the chip's command and response streams (rtl/chip.py, docs/hostlink.md).

    ``depth - 1`` entries sit in a memory, one in the output register. ``w_rdy`` is "the
    memory is not full" and ``r_rdy`` "the output register is full": both come from
    registers, so neither ready nor valid depends on the other side in the same cycle. An
    entry written in cycle c reaches the output register at the end of cycle c + 1 and is
    offered from cycle c + 2 (the memory's read port is synchronous and not transparent).
    """

    def __init__(self, depth: int):
        if not isinstance(depth, int) or depth < 2:
            raise ValueError(f"SyncFIFOBufferedModel depth must be an integer >= 2, not {depth!r}")
        self.depth = depth
        self.inner = collections.deque()
        self.out = None  # the output register's entry, or None

    @property
    def w_rdy(self) -> int:
        return int(len(self.inner) != self.depth - 1)

    @property
    def r_rdy(self) -> int:
        return int(self.out is not None)

    @property
    def level(self) -> int:
        return len(self.inner) + self.r_rdy

    def clock(self, w_en, w_data, r_en) -> None:
        """One cycle: write ``w_data`` if ``w_en`` and not full; the output register is
        taken if ``r_en`` (and full) and refilled from the memory when empty or taken."""
        write = w_en and len(self.inner) != self.depth - 1
        taken = self.out is not None and r_en
        if self.inner and (self.out is None or r_en):
            self.out = self.inner.popleft()
        elif taken:
            self.out = None
        if write:
            self.inner.append(w_data)


class HostLinkModel:
    def __init__(self, chip: ChipConfig):
        self.chip = chip
        self.check = CommandCheck(chip)
        # the command register (dict, with "ok" = CommandCheck.ok registered beside the word,
        # as in the RTL) or None when empty
        self.cmd = None
        self.tick = 0
        self.ticks_left = 0
        self.running = False
        self.host_done = False
        self.first = 0  # cycles all_done is still ignored after a start (START_SETTLE)
        self.cycles = 0
        self.last_cycles = 0
        self.errors = 0
        self.host_in = 0
        self.host_out = 0
        self.td = None  # (tick, cycles) of a pending TICK_DONE
        self.status = None  # (index, value) of a pending STATUS
        self.state = None  # (u, v) of a pending STATE
        self.spike = None  # (src, tick) of a pending SPIKE
        self.learned = None  # the word of a pending LEARNED (READ_LEARNED's answer)
        self.flushing = False  # the running barrier is LEARN_FLUSH's, not a tick's
        self.rsp = None  # (op, a, b) in the response register
        self.read_outstanding = False
        # READ_COUNTER (docs/counters.md): the selection registers (tile_x, tile_y, index),
        # the stage valids of cycles c + 1 .. c + 3, the COUNTER slot's value (None: empty),
        # the host link's own registers, the s1 copy of one of them, RESET's clear pulse
        bits = chip.counter_bits
        self.cnt_mask = (1 << bits) - 1
        self.cnt_sel = (0, 0, 0)
        self.cnt_stages = [0, 0, 0]
        self.cnt_slot = None
        self.cnt_own = 0
        self.host_injected = 0
        self.cycles_total = 0
        self.cnt_clear = 0
        self._slot_in = None

    @property
    def counter_busy(self) -> bool:
        """A READ_COUNTER is in the pipeline or its slot: the next one waits."""
        return any(self.cnt_stages) or self.cnt_slot is not None

    # --- combinational view of this cycle ---
    def comb(self, inp) -> dict:
        c = self.cmd
        out = dict(
            cfg_valid=0, inject_valid=0, read_valid=0, cmd_done=0, bad_cmd=0, start=0, effect=None
        )
        out["learn_only"] = out["lread_valid"] = 0
        if c is not None:
            op = c["op"]
            accepting = self.running and not self.host_done
            no_tick = not self.running and self.ticks_left == 0
            owed = self.running and not self.host_done  # END_TICK still to come
            if not c["ok"]:  # an unknown opcode or an argument outside its limit: dropped
                out.update(cmd_done=1, bad_cmd=1)
            elif op == Cmd.CONFIG_WRITE:
                if owed:
                    out.update(cmd_done=1, bad_cmd=1)
                elif not self.running:
                    out.update(cfg_valid=1, cmd_done=inp["cfg_ready"])
            elif op == Cmd.INPUT:
                if no_tick:
                    out.update(cmd_done=1, bad_cmd=1)
                elif accepting:
                    out.update(inject_valid=1, cmd_done=inp["inject_ready"])
            elif op == Cmd.END_TICK:
                if no_tick:
                    out.update(cmd_done=1, bad_cmd=1)
                elif accepting:
                    out.update(cmd_done=1, effect="end_tick")
            elif op == Cmd.RUN:
                if owed:
                    out.update(cmd_done=1, bad_cmd=1)
                elif not self.running and self.ticks_left == 0 and self.td is None:
                    out.update(cmd_done=1, effect="run")
            elif op == Cmd.READ_STATE:
                if owed:
                    out.update(cmd_done=1, bad_cmd=1)
                elif not self.running and not self.read_outstanding:
                    out.update(read_valid=1, cmd_done=inp["read_ready"])
            elif op == Cmd.READ_STATUS:
                if self.status is None:
                    out.update(cmd_done=1, effect="status")
            elif op == Cmd.RESET:
                if owed:
                    out.update(cmd_done=1, bad_cmd=1)
                elif not self.running:
                    out.update(cmd_done=1, effect="reset")
            elif op == Cmd.READ_COUNTER:  # any time (only ok with counters)
                if not self.counter_busy:
                    out.update(cmd_done=1, effect="counter")
            elif op == Cmd.LEARN_FLUSH:  # only ok on a learning chip
                if owed:
                    out.update(cmd_done=1, bad_cmd=1)
                elif no_tick and not self.read_outstanding:
                    out.update(cmd_done=1, effect="flush", start=1, learn_only=1)
            elif op == Cmd.READ_LEARNED:
                if owed:
                    out.update(cmd_done=1, bad_cmd=1)
                elif not self.running and not self.read_outstanding:
                    out.update(lread_valid=1, cmd_done=inp.get("lread_ready", 0))
            else:  # NOP
                out.update(cmd_done=1)
        between_ops = (Cmd.RESET, Cmd.CONFIG_WRITE, Cmd.READ_STATE)
        if self.check.learning:
            between_ops += (Cmd.READ_LEARNED,)
        between = c is not None and c["op"] in between_ops
        if (
            not self.running
            and self.ticks_left
            and self.td is None
            and not between
            and not self.read_outstanding
        ):
            out["start"] = 1
        out["cmd_ready"] = int(c is None or out["cmd_done"])
        free = self.rsp is None or inp["rsp_ready"]
        out["free"] = free
        out["host_ready"] = int(self.spike is None or free)
        out["read_in_ready"] = int(self.state is None or (free and self.spike is None))
        out["lread_in_ready"] = int(
            self.learned is None or (free and self.spike is None and self.state is None)
        )
        out["rsp_valid"] = int(self.rsp is not None)
        out["rsp"] = self.rsp
        out["parity"] = self.tick & (self.chip.core.acc_banks - 1)  # the tick's acc bank
        return out

    def _status_value(self, index, inp):
        return {
            StatusReg.TICK: self.tick,
            StatusReg.LAST_CYCLES: self.last_cycles,
            StatusReg.FLITS_IN: inp["flits_in"],
            StatusReg.FLITS_OUT: inp["flits_out"],
            StatusReg.ERRORS: self.errors,
            StatusReg.HOST_IN: self.host_in,
            StatusReg.HOST_OUT: self.host_out,
        }[index]

    def _counters(self, inp, o, c, eff) -> bool:
        """The READ_COUNTER pipeline and host_injected, at the clock edge (the value for
        the slot goes to ``_slot_in``: the response register sees the slot as it was);
        returns True when host_injected wraps."""
        self._slot_in = None
        if not self.cnt_mask:
            return False
        s1, s2, s3 = self.cnt_stages
        index = self.cnt_sel[2]
        if s3:  # the slot latches the chip's value, or the host link's own (clock() sets it)
            own = index >= HW_TILE_COUNT
            self._slot_in = self.cnt_own if own else inp.get("counter_value", 0)
        if s1:  # the register's content at the start of c + 1
            self.cnt_own = self.cycles_total if index == _CYCLES else self.host_injected
        self.cnt_stages = [int(eff == "counter"), s1, s2]
        if eff == "counter":
            self.cnt_sel = (c["tile_x"], c["tile_y"], c["arg"])
        if o["inject_valid"] and inp["inject_ready"]:
            wrap = self.host_injected == self.cnt_mask
            self.host_injected = (self.host_injected + 1) & self.cnt_mask
            return wrap
        return False

    # --- one clock edge ---
    def clock(self, inp) -> dict:
        """Advance one cycle; returns the outputs of the cycle that just ended."""
        o = self.comb(inp)
        c = self.cmd
        eff = o["effect"]
        # next-state values, computed from the current state only
        cmd_next = self.cmd
        if inp["cmd_valid"] and o["cmd_ready"]:
            k = inp["cmd"]
            cmd_next = dict(k)
            cmd_next["ok"] = self.check.ok(k["op"], k["tile_x"], k["tile_y"], k["arg"], k["data"])
        elif o["cmd_done"]:
            cmd_next = None
        cnt_wrap = self._counters(inp, o, c, eff)
        if o["inject_valid"] and inp["inject_ready"]:
            self.host_in = (self.host_in + 1) & MASK32
        host_done = self.host_done
        ticks_left = self.ticks_left
        status = self.status
        if eff == "end_tick":
            host_done = True
        elif eff == "run":
            ticks_left = c["arg"]
        elif eff == "status":
            status = (c["arg"], self._status_value(c["arg"], inp))
        tick, last_cycles, running, cycles, first, td = (
            self.tick,
            self.last_cycles,
            self.running,
            self.cycles,
            self.first,
            self.td,
        )
        if eff == "reset":
            tick, ticks_left, last_cycles = 0, 0, 0
            self.host_in = 0
        watchdog = 0
        flushing = self.flushing
        if not self.running:
            if eff == "flush":  # LEARN_FLUSH: a barrier with no tick and no END_TICK owed
                running, cycles, host_done, first, flushing = True, 1, True, START_SETTLE, True
            elif o["start"]:
                running, ticks_left, cycles, host_done, first = (
                    True,
                    self.ticks_left - 1,
                    1,
                    False,
                    START_SETTLE,
                )
        else:
            first = max(self.first - 1, 0)
            if self.first == 0 and inp["all_done"] and self.flushing:
                running, flushing = False, False  # no tick, no TICK_DONE
            elif self.first == 0 and inp["all_done"] and self.host_done:
                # The barrier's flit conservation, as asserted by the RTL.
                if not inp["misroute"] and inp["flits_in"] != inp["flits_out"]:
                    raise ContractError(
                        f"tick {self.tick} ended with flits_in {inp['flits_in']} != flits_out "
                        f"{inp['flits_out']} and no misroute: a flit was lost or created"
                    )
                running = False
                tick = (self.tick + 1) & MASK32
                last_cycles = self.cycles
                td = (self.tick, self.cycles)
                if self.cnt_mask:  # the cycles counter adds the tick's count
                    total = self.cycles_total + self.cycles
                    cnt_wrap |= total > self.cnt_mask
                    self.cycles_total = total & self.cnt_mask
            else:
                cycles = (self.cycles + 1) & MASK32
                watchdog = int(self.cycles == self.chip.watchdog_cycles)
        # response register and its sources
        rsp = self.rsp
        spike, state = self.spike, self.state
        if self.rsp is not None and inp["rsp_ready"]:
            rsp = None
        if o["free"]:
            if self.spike is not None:
                rsp, spike = (Rsp.SPIKE, self.spike[1], self.spike[0]), None
            elif self.state is not None:
                u, v = self.state
                rsp, state = (Rsp.STATE, 0, (u & MASK24) | ((v & MASK24) << 24)), None
            elif self.learned is not None:
                rsp, self.learned = (Rsp.LEARNED, 0, self.learned), None
            elif self.status is not None:
                rsp, status = (Rsp.STATUS, self.status[0], self.status[1]), None
            elif self.cnt_slot is not None:
                rsp, self.cnt_slot = (Rsp.COUNTER, self.cnt_sel[2], self.cnt_slot), None
            elif self.td is not None:
                rsp, td = (Rsp.TICK_DONE, self.td[0], self.td[1]), None
        errors = self.errors
        if o["bad_cmd"] or watchdog or inp["misroute"]:
            errors |= watchdog | (int(bool(inp["misroute"])) << 1) | (o["bad_cmd"] << 2)
        if cnt_wrap or (inp.get("counter_wrapped", 0) and not self.cnt_clear):
            errors |= ErrorFlag.COUNTER_WRAP
        if self.cnt_clear:  # RESET's clear pulse: the host link's counters (after increments)
            self.host_injected = self.cycles_total = 0
        self.cnt_clear = int(eff == "reset")
        if self._slot_in is not None:
            self.cnt_slot = self._slot_in
        host_out = self.host_out
        if inp["host_valid"] and o["host_ready"]:
            spike = (inp["host_payload"], self.tick)
            host_out = (host_out + 1) & MASK32
        if o["read_valid"] and inp["read_ready"]:
            self.read_outstanding = True
        if inp["read_valid"] and o["read_in_ready"]:
            state = (inp["read_u"], inp["read_v"])
            self.read_outstanding = False
        if o["lread_valid"] and inp.get("lread_ready", 0):
            self.read_outstanding = True
        if inp.get("lread_valid", 0) and o["lread_in_ready"]:
            self.learned = inp["lread_data"] & ((1 << RSP_B_BITS) - 1)
            self.read_outstanding = False
        self.flushing = flushing
        if eff == "reset":
            errors, host_out = 0, 0
        (
            self.cmd,
            self.host_done,
            self.ticks_left,
            self.status,
            self.tick,
            self.last_cycles,
            self.running,
            self.cycles,
            self.first,
            self.td,
            self.rsp,
            self.spike,
            self.state,
            self.errors,
            self.host_out,
        ) = (
            cmd_next,
            host_done,
            ticks_left,
            status,
            tick,
            last_cycles,
            running,
            cycles,
            first,
            td,
            rsp,
            spike,
            state,
            errors,
            host_out,
        )
        return o
