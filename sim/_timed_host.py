"""Numba kernel of the host link and tick controller for the compiled timed model.

The readable specification is ``sim/hostlink.py::HostLinkModel`` (cycle-exact with
rtl/hostlink.py); :func:`host_comb` and :func:`host_clock` are its ``comb`` and ``clock``,
over an int64 state vector ``h`` (columns ``H_*``). Commands arrive packed as rows
(op, tile_x, tile_y, arg, data, ok), ``ok`` = ``CommandCheck.ok_array`` of the row, which
the RTL registers beside the command word.
"""

from __future__ import annotations

from spikemesh.counters import HW_TILE_COUNT
from spikemesh.hostlink import RSP_B_BITS, START_SETTLE, Cmd, ErrorFlag, Rsp, StatusReg

from ._timed_core import P_BANKS, P_CMASK, P_LEARN, P_W, P_WATCHDOG, inlined

MASK32 = (1 << 32) - 1
MASK24 = (1 << 24) - 1

(
    H_CMDV,  # command register: valid, op, tile_x, tile_y, arg, data, arguments ok
    H_OP,
    H_TX,
    H_TY,
    H_ARG,
    H_DATA,
    H_OK,
    H_TICK,
    H_TLEFT,
    H_RUNNING,
    H_HDONE,
    H_FIRST,
    H_CYC,
    H_LAST,
    H_ERR,
    H_HIN,
    H_HOUT,
    H_TDV,  # pending TICK_DONE (tick, cycles)
    H_TDT,
    H_TDC,
    H_STV,  # pending STATUS (index, value)
    H_STI,
    H_STX,
    H_SSV,  # pending STATE (u, v)
    H_SSU,
    H_SSW,
    H_SPV,  # pending SPIKE (source payload, tick)
    H_SPP,
    H_SPT,
    H_RSV,  # response register (op, a, b)
    H_RSOP,
    H_RSA,
    H_RSB,
    H_RDO,  # a read-back is outstanding
    H_CQ,  # command FIFO: oldest memory slot, entries in memory, output register full
    H_CQ_LEVEL,
    H_CQ_OV,
    H_RQ,  # response FIFO: the same
    H_RQ_LEVEL,
    H_RQ_OV,
    H_FIFO_DEPTH,  # ChipConfig.host_fifo_depth (a constant)
    H_CNP,  # READ_COUNTER pipeline: cycles until the value reaches the slot (3..1, 0 empty)
    H_CNI,  # its index and value (the register at the start of the cycle after cmd_done)
    H_CNX,
    H_CSV,  # pending COUNTER (index, value): the host link's COUNTER slot
    H_CSI,
    H_CSX,
    H_WOR,  # the chip's registered OR of the tiles' ``wrapped`` (into ERRORS next cycle)
    H_CLR,  # the registered counter clear pulse (the cycle after RESET)
    H_FLUSHING,  # the running barrier is LEARN_FLUSH's, not a tick's
    H_LNV,  # pending LEARNED (READ_LEARNED's word)
    H_LNB,
    H_DHI,  # the command register's data above bit 62 (a learning profile's 68-bit word)
    H_LEN,
) = range(54)

# comb outputs: indices into the int64 vector ``o``
(
    O_CFG,
    O_INJ,
    O_READ,
    O_START,
    O_PARITY,
    O_HOST_READY,
    O_READ_IN_READY,
    O_CMD_READY,
    O_LONLY,  # learn_only, with start: LEARN_FLUSH
    O_LREAD,  # READ_LEARNED's request to the command's tile (its i_lread.valid)
    O_LREAD_IN_READY,  # o_lread.ready of every core
    O_LEN,
) = range(12)

# inputs: indices into the int64 vector ``i``
(
    I_CMD_VALID,
    I_OP,
    I_TX,
    I_TY,
    I_ARG,
    I_DATA,
    I_OK,  # CommandCheck.ok of the offered command (column 5 of the command rows)
    I_CFG_READY,
    I_READ_READY,
    I_INJECT_READY,
    I_READ_VALID,
    I_READ_U,
    I_READ_V,
    I_HOST_VALID,
    I_HOST_PAYLOAD,
    I_ALL_DONE,
    I_FLITS_IN,
    I_FLITS_OUT,
    I_MISROUTE,
    I_LREAD_READY,  # the command tile's i_lread.ready
    I_LREAD_VALID,  # a core's o_lread (valid, word)
    I_LREAD_DATA,
    I_DHI,  # the offered command's data above bit 62 (column 6 of the command rows)
    I_LEN,
) = range(24)

_NONE, _END_TICK, _RUN, _STATUS, _RESET, _COUNTER, _FLUSH = range(7)
C_NOP, C_CONFIG, C_INPUT, C_END, C_RUN, C_READ, C_STATUS, C_RESET, C_COUNTER = (
    int(c) for c in Cmd if c <= Cmd.READ_COUNTER
)
C_FLUSH, C_LREAD = int(Cmd.LEARN_FLUSH), int(Cmd.READ_LEARNED)  # learning chips only
R_SPIKE, R_TICK_DONE, R_STATE, R_STATUS, R_COUNTER, R_LEARNED = (
    int(Rsp.SPIKE),
    int(Rsp.TICK_DONE),
    int(Rsp.STATE),
    int(Rsp.STATUS),
    int(Rsp.COUNTER),
    int(Rsp.LEARNED),
)
MASK_B = (1 << RSP_B_BITS) - 1
COUNTER_WRAP = int(ErrorFlag.COUNTER_WRAP)
TILE_REGS = HW_TILE_COUNT  # 16: indices 16 and 17 are the host link's own registers
S_TICK, S_LAST, S_FIN, S_FOUT, S_ERR, S_HIN, S_HOUT = (int(s) for s in StatusReg)


@inlined
def _status_value(h, index, i):
    if index == S_TICK:
        return h[H_TICK]
    if index == S_LAST:
        return h[H_LAST]
    if index == S_FIN:
        return i[I_FLITS_IN]
    if index == S_FOUT:
        return i[I_FLITS_OUT]
    if index == S_ERR:
        return h[H_ERR]
    if index == S_HIN:
        return h[H_HIN]
    if index == S_HOUT:
        return h[H_HOUT]
    return 0


@inlined
def host_comb(h, pm, i, o):
    """This cycle's outputs (``o``) from the state and the inputs; returns (cmd_done,
    bad_cmd, effect, free) for :func:`host_clock`."""
    cfg = inj = rd = done = bad = start = lonly = lread = 0
    eff = _NONE
    running = h[H_RUNNING] != 0
    if h[H_CMDV]:
        op = h[H_OP]
        accepting = running and h[H_HDONE] == 0
        no_tick = not running and h[H_TLEFT] == 0
        owed = accepting  # END_TICK still to come
        if h[H_OK] == 0:  # an unknown opcode or an argument outside its limit: dropped
            done = bad = 1
        elif op == C_CONFIG:
            if owed:
                done = bad = 1
            elif not running:
                cfg = 1
                done = i[I_CFG_READY]
        elif op == C_INPUT:
            if no_tick:
                done = bad = 1
            elif accepting:
                inj = 1
                done = i[I_INJECT_READY]
        elif op == C_END:
            if no_tick:
                done = bad = 1
            elif accepting:
                done = 1
                eff = _END_TICK
        elif op == C_RUN:
            if owed:
                done = bad = 1
            elif not running and h[H_TLEFT] == 0 and h[H_TDV] == 0:
                done = 1
                eff = _RUN
        elif op == C_READ:
            if owed:
                done = bad = 1
            elif not running and h[H_RDO] == 0:
                rd = 1
                done = i[I_READ_READY]
        elif op == C_STATUS:
            if h[H_STV] == 0:
                done = 1
                eff = _STATUS
        elif op == C_RESET:
            if owed:
                done = bad = 1
            elif not running:
                done = 1
                eff = _RESET
        elif op == C_COUNTER:  # never waits for the tick; one read in flight at a time
            if h[H_CNP] == 0 and h[H_CSV] == 0:
                done = 1
                eff = _COUNTER
        elif op == C_FLUSH:  # only ok on a learning chip: a barrier with learn_only
            if owed:
                done = bad = 1
            elif no_tick and h[H_RDO] == 0:
                done = start = lonly = 1
                eff = _FLUSH
        elif op == C_LREAD:
            if owed:
                done = bad = 1
            elif not running and h[H_RDO] == 0:
                lread = 1
                done = i[I_LREAD_READY]
        else:  # NOP
            done = 1
    op = h[H_OP]
    between = h[H_CMDV] != 0 and (
        op in (C_RESET, C_CONFIG, C_READ) or (op == C_LREAD and pm[P_LEARN] != 0)
    )
    if not running and h[H_TLEFT] != 0 and h[H_TDV] == 0 and not between and h[H_RDO] == 0:
        start = 1
    # rsp_ready is the response FIFO's w_rdy (its memory not full)
    free = 1 if (h[H_RSV] == 0 or h[H_RQ_LEVEL] != h[H_FIFO_DEPTH] - 1) else 0
    o[O_CFG] = cfg
    o[O_INJ] = inj
    o[O_READ] = rd
    o[O_START] = start
    o[O_PARITY] = h[H_TICK] & (pm[P_BANKS] - 1)  # the tick's accumulator bank
    o[O_HOST_READY] = 1 if (h[H_SPV] == 0 or free) else 0
    o[O_READ_IN_READY] = 1 if (h[H_SSV] == 0 or (free and h[H_SPV] == 0)) else 0
    o[O_CMD_READY] = 1 if (h[H_CMDV] == 0 or done) else 0
    o[O_LONLY] = lonly
    o[O_LREAD] = lread
    o[O_LREAD_IN_READY] = 1 if (h[H_LNV] == 0 or (free and h[H_SPV] == 0 and h[H_SSV] == 0)) else 0
    return done, bad, eff, free


@inlined
def _respond(h, free):
    """The response register's next value: when it is free (empty or taken by the response
    FIFO), refilled from the pending slots with fixed priority SPIKE > STATE > LEARNED >
    STATUS > COUNTER > TICK_DONE, or emptied; else held. Returns (valid, op, a, b, the H_* valid
    column of the slot it came from or -1)."""
    if free:
        if h[H_SPV]:
            return 1, R_SPIKE, h[H_SPT], h[H_SPP], H_SPV
        if h[H_SSV]:
            return 1, R_STATE, 0, (h[H_SSU] & MASK24) | ((h[H_SSW] & MASK24) << 24), H_SSV
        if h[H_LNV]:
            return 1, R_LEARNED, 0, h[H_LNB], H_LNV
        if h[H_STV]:
            return 1, R_STATUS, h[H_STI], h[H_STX], H_STV
        if h[H_CSV]:
            return 1, R_COUNTER, h[H_CSI], h[H_CSX], H_CSV
        if h[H_TDV]:
            return 1, R_TICK_DONE, h[H_TDT], h[H_TDC], H_TDV
        return 0, h[H_RSOP], h[H_RSA], h[H_RSB], -1
    return h[H_RSV], h[H_RSOP], h[H_RSA], h[H_RSB], -1


@inlined
def counter_value(hc, pm, tx, ty, index):
    """READ_COUNTER's register: ``index`` (< 16) of tile (tx, ty), or the host link's."""
    if index >= TILE_REGS:
        return hc[hc.shape[0] - 1, index - TILE_REGS]
    return hc[ty * pm[P_W] + tx, index]


@inlined
def counters_clock(h, hc, pm, o, i, eff, ended, wany, tx, ty, arg):
    """The end of a cycle for the hardware counters (docs/counters.md, cycle contract): the
    host link's host_injected and cycles count, the registered clear pulse of the cycle
    after a RESET zeroes every register, the READ_COUNTER pipeline moves on (its slot fills
    three cycles after cmd_done) and a READ_COUNTER done now samples its register as it
    will be at the start of the next cycle. ``wany``: whether a tile's ``wrapped`` was set
    at the start of this cycle (the chip's OR register takes it); ``tx``, ``ty``, ``arg``:
    the command register's fields in this cycle. Called after :func:`host_clock` (the
    ending tick's count is in H_LAST). Returns ERRORS bits to set now (a wrap of the host
    link's own counters)."""
    m = pm[P_CMASK]
    err = 0
    t = hc.shape[0] - 1
    if o[O_INJ] and i[I_INJECT_READY]:
        v = hc[t, 0] + 1
        if v > m:
            v &= m
            err = COUNTER_WRAP
        hc[t, 0] = v
    if ended:
        v = hc[t, 1] + h[H_LAST]
        if v > m:
            v &= m
            err = COUNTER_WRAP
        hc[t, 1] = v
    clear = h[H_CLR]
    if clear:
        hc[:, :] = 0
    h[H_CLR] = 1 if eff == _RESET else 0
    h[H_WOR] = 0 if clear else wany  # the chip's OR register clears with the counters
    if h[H_CNP] != 0:
        h[H_CNP] -= 1
        if h[H_CNP] == 0:
            h[H_CSV], h[H_CSI], h[H_CSX] = 1, h[H_CNI], h[H_CNX]
    if eff == _COUNTER:
        h[H_CNP] = 3
        h[H_CNI] = arg
        h[H_CNX] = counter_value(hc, pm, tx, ty, arg)
    return err


@inlined
def host_clock(h, pm, i, o, done, bad, eff, free):
    """Advance one cycle (HostLinkModel.clock); returns True when a TICK_DONE was queued."""
    cmd_taken = i[I_CMD_VALID] != 0 and o[O_CMD_READY] != 0
    c_arg = h[H_ARG]
    if o[O_INJ] and i[I_INJECT_READY]:
        h[H_HIN] = (h[H_HIN] + 1) & MASK32
    host_done = h[H_HDONE]
    ticks_left = h[H_TLEFT]
    stv, sti, stx = h[H_STV], h[H_STI], h[H_STX]
    if eff == _END_TICK:
        host_done = 1
    elif eff == _RUN:
        ticks_left = c_arg
    elif eff == _STATUS:
        stv, sti, stx = 1, c_arg, _status_value(h, c_arg, i)
    tick, last_cycles, running = h[H_TICK], h[H_LAST], h[H_RUNNING]
    cycles, first = h[H_CYC], h[H_FIRST]
    tdv, tdt, tdc = h[H_TDV], h[H_TDT], h[H_TDC]
    if eff == _RESET:
        tick, ticks_left, last_cycles = 0, 0, 0
        h[H_HIN] = 0
    watchdog = 0
    ended = False
    flushing = h[H_FLUSHING]
    if not h[H_RUNNING]:
        if eff == _FLUSH:  # LEARN_FLUSH: a barrier with no tick and no END_TICK owed
            running, cycles, host_done, first, flushing = 1, 1, 1, START_SETTLE, 1
        elif o[O_START]:
            running, ticks_left, cycles, host_done, first = 1, h[H_TLEFT] - 1, 1, 0, START_SETTLE
    else:
        first = h[H_FIRST] - 1 if h[H_FIRST] > 0 else 0
        if h[H_FIRST] == 0 and i[I_ALL_DONE] and flushing:
            running, flushing = 0, 0  # no tick, no TICK_DONE
        elif h[H_FIRST] == 0 and i[I_ALL_DONE] and h[H_HDONE]:
            running = 0
            tick = (h[H_TICK] + 1) & MASK32
            last_cycles = h[H_CYC]
            tdv, tdt, tdc = 1, h[H_TICK], h[H_CYC]
            ended = True
        else:
            cycles = (h[H_CYC] + 1) & MASK32
            watchdog = 1 if h[H_CYC] == pm[P_WATCHDOG] else 0
    rsv, rsop, rsa, rsb, sent = _respond(h, free)
    spv, ssv, lnv = h[H_SPV], h[H_SSV], h[H_LNV]
    if sent == H_SPV:
        spv = 0
    elif sent == H_SSV:
        ssv = 0
    elif sent == H_LNV:
        lnv = 0
    elif sent == H_STV:
        stv = 0
    elif sent == H_TDV:
        tdv = 0
    elif sent == H_CSV:
        h[H_CSV] = 0
    errors = h[H_ERR]
    mis = 1 if i[I_MISROUTE] else 0
    if bad or watchdog or mis:
        errors |= watchdog | (mis << 1) | (bad << 2)
    if h[H_WOR] and h[H_CLR] == 0:  # the chip's registered OR of the tiles' wrapped flags,
        errors |= COUNTER_WRAP  # masked in the cycle of RESET's clear pulse
    host_out = h[H_HOUT]
    if i[I_HOST_VALID] and o[O_HOST_READY]:
        spv, h[H_SPP], h[H_SPT] = 1, i[I_HOST_PAYLOAD], h[H_TICK]
        host_out = (host_out + 1) & MASK32
    if o[O_READ] and i[I_READ_READY]:
        h[H_RDO] = 1
    if i[I_READ_VALID] and o[O_READ_IN_READY]:
        ssv, h[H_SSU], h[H_SSW] = 1, i[I_READ_U], i[I_READ_V]
        h[H_RDO] = 0
    if o[O_LREAD] and i[I_LREAD_READY]:
        h[H_RDO] = 1
    if i[I_LREAD_VALID] and o[O_LREAD_IN_READY]:
        lnv, h[H_LNB] = 1, i[I_LREAD_DATA] & MASK_B
        h[H_RDO] = 0
    if eff == _RESET:
        errors, host_out = 0, 0
    if cmd_taken:
        h[H_CMDV] = 1
        h[H_OP] = i[I_OP]
        h[H_TX] = i[I_TX]
        h[H_TY] = i[I_TY]
        h[H_ARG] = i[I_ARG]
        h[H_DATA] = i[I_DATA]
        h[H_DHI] = i[I_DHI]
        h[H_OK] = i[I_OK]
    elif done:
        h[H_CMDV] = 0
    h[H_HDONE] = host_done
    h[H_TLEFT] = ticks_left
    h[H_STV], h[H_STI], h[H_STX] = stv, sti, stx
    h[H_TICK], h[H_LAST], h[H_RUNNING] = tick, last_cycles, running
    h[H_CYC], h[H_FIRST] = cycles, first
    h[H_TDV], h[H_TDT], h[H_TDC] = tdv, tdt, tdc
    h[H_RSV], h[H_RSOP], h[H_RSA], h[H_RSB] = rsv, rsop, rsa, rsb
    h[H_SPV], h[H_SSV], h[H_LNV], h[H_FLUSHING] = spv, ssv, lnv, flushing
    h[H_ERR], h[H_HOUT] = errors, host_out
    return ended


@inlined
def fifo_clock(h, q, base, write, r_en):
    """One cycle of the FIFO whose columns start at ``base`` (SyncFIFOBufferedModel in
    sim/hostlink.py): ``q`` holds its memory (rows 0 .. depth - 2, a ring from ``h[base]``)
    and its output register (row depth - 1). The output register is taken if ``r_en`` and
    refilled from the memory when empty or taken. Returns the memory row the caller must
    write the entry into when ``write`` is accepted (the memory is not full), else -1."""
    d1 = h[H_FIFO_DEPTH] - 1
    head, lvl, ov = h[base], h[base + 1], h[base + 2]
    slot = -1
    if write and lvl != d1:
        slot = (head + lvl) % d1
    if lvl != 0 and (ov == 0 or r_en):
        for k in range(q.shape[1]):
            q[d1, k] = q[head, k]
        head = (head + 1) % d1
        lvl -= 1
        ov = 1
    elif ov != 0 and r_en:
        ov = 0
    if slot >= 0:
        lvl += 1
    h[base], h[base + 1], h[base + 2] = head, lvl, ov
    return slot


@inlined
def host_quiet(h, pos, ncmd):
    """The run may end: every command taken and nothing left to do or to answer."""
    return (
        pos == ncmd
        and h[H_CQ_LEVEL] == 0
        and h[H_CQ_OV] == 0
        and h[H_RQ_LEVEL] == 0
        and h[H_RQ_OV] == 0
        and h[H_CMDV] == 0
        and h[H_RUNNING] == 0
        and h[H_TLEFT] == 0
        and h[H_TDV] == 0
        and h[H_RSV] == 0
        and h[H_SPV] == 0
        and h[H_SSV] == 0
        and h[H_STV] == 0
        and h[H_CNP] == 0
        and h[H_CSV] == 0
        and h[H_LNV] == 0
        and h[H_RDO] == 0
    )
