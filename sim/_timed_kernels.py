"""The compiled timed model's cycle loop: every block of the chip, advanced in lock step.

Composition rule of TimedChipModel (all block boundaries are Moore): read every block's
registered outputs, compute the transfers, clock every block. Here, per cycle: the host
link's inputs are gathered from the start-of-cycle state, the host's outputs computed and
its next state taken (:func:`host_comb`, :func:`host_clock`); every core is stepped with
its router's start-of-cycle LOCAL output and i_ready; then the mesh with the transfers the
cores and the host made. Cores and routers with nothing to do cost only a flag test.

Shortcuts (``fast``), each equal to stepping (tests compare both paths cycle for cycle):

- a running core whose update loop runs on its own (:func:`loop_free`) sleeps until the
  cycle a neuron with fan-out items reaches U5, or the loop drains (:func:`loop_sleep`);
- a core whose fan-out path waits for its router and whose loop cannot advance is not
  stepped while its router is not ready (:func:`loop_blocked`);
- when nothing can change but counters — every running core asleep, the event pipelines
  and the mesh empty, the host waiting for the tick to end with no response to send and a
  command that waits — the clock jumps to the first wake-up (the host's cycle counter and
  watchdog advance in closed form).

On a chip with hardware counters the update loops do not sleep (each U5 write-back
increments ``neuron_updates`` in its own cycle); the other shortcuts stay, as nothing is
counted in the cycles they skip.

A learning core's learning phase (sim/_timed_learn.py) is applied in its start cycle and
the core sleeps until the phase's ``finish``, with either path: the wake-up is where its
update loop starts (or, after LEARN_FLUSH's learn_only, where ``running`` falls).
"""

from __future__ import annotations

import numpy as np

from ._timed_core import (
    C_A,
    C_LPH,
    C_OV,
    C_PAR,
    C_ROV,
    C_RU,
    C_RUN,
    C_RV,
    C_U5NEED,
    C_WAKE,
    HC_LEN,
    HC_WRAP,
    K_BLK,
    P_ADDR_MASK,
    P_CMASK,
    P_DX_BITS,
    P_DX_OFF,
    P_DY_OFF,
    P_INDEX_BITS,
    P_LEARN,
    P_NEURON_MASK,
    P_PAY_MASK,
    P_PAY_OFF,
    P_T,
    P_W,
    P_WATCHDOG,
    bump,
    config_write,
    event_busy,
    event_step,
    inlined,
    kernel,
    loop_blocked,
    loop_free,
    loop_sleep,
    loop_step,
    loop_wake,
)
from ._timed_host import (
    _END_TICK,
    H_ARG,
    H_CLR,
    H_CMDV,
    H_CNP,
    H_CQ,
    H_CQ_LEVEL,
    H_CQ_OV,
    H_CSV,
    H_CYC,
    H_DATA,
    H_DHI,
    H_ERR,
    H_FIFO_DEPTH,
    H_FIRST,
    H_HDONE,
    H_LNV,
    H_RQ,
    H_RQ_LEVEL,
    H_RQ_OV,
    H_RSA,
    H_RSB,
    H_RSOP,
    H_RSV,
    H_RUNNING,
    H_SPV,
    H_SSV,
    H_STV,
    H_TDV,
    H_TX,
    H_TY,
    H_WOR,
    I_ALL_DONE,
    I_ARG,
    I_CFG_READY,
    I_CMD_VALID,
    I_DATA,
    I_DHI,
    I_FLITS_IN,
    I_FLITS_OUT,
    I_HOST_PAYLOAD,
    I_HOST_VALID,
    I_INJECT_READY,
    I_LEN,
    I_LREAD_DATA,
    I_LREAD_READY,
    I_LREAD_VALID,
    I_MISROUTE,
    I_OK,
    I_OP,
    I_READ_READY,
    I_READ_U,
    I_READ_V,
    I_READ_VALID,
    I_TX,
    I_TY,
    MASK24,
    MASK32,
    O_CFG,
    O_CMD_READY,
    O_HOST_READY,
    O_INJ,
    O_LEN,
    O_LONLY,
    O_LREAD,
    O_LREAD_IN_READY,
    O_PARITY,
    O_READ,
    O_READ_IN_READY,
    O_START,
    counters_clock,
    fifo_clock,
    host_clock,
    host_comb,
    host_quiet,
)
from ._timed_learn import (
    LR_NONE,
    LR_PEND,
    LR_VALID,
    event_step_learn,
    learn_config_write,
    learn_start,
    learn_wake,
    lread_word,
)
from ._timed_noc import (
    LOCAL,
    M_FLITS_IN,
    M_FLITS_OUT,
    M_MISROUTE,
    M_NACT,
    WEST,
    mesh_step,
    route_write,
)

# run-level scalars: indices into the int64 vector ``g``
# G_HELD: see run_chip; G_START_R, G_PARITY_R, G_ALL_DONE_R: the chip's registers on start,
# parity (to the cores) and all_done (to the host link), rtl/chip.py; G_LONLY_R: a learning
# chip's learn_only register; G_LR_TILE, G_LR_ST, G_LR_DATA: the read-back of the learned
# state in flight (one at a time: the host link's read_outstanding), its core, LR_PEND (the
# word is read) or LR_VALID (o_lread offers it), the word
(
    G_CYCLE,
    G_POS,
    G_IDLE,
    G_READER,
    G_ITER,
    G_HELD,
    G_START_R,
    G_PARITY_R,
    G_ALL_DONE_R,
    G_NTREG,  # rows of ``treg`` written in this call of run_chip
    G_LONLY_R,
    G_LR_TILE,
    G_LR_ST,
    G_LR_DATA,
    G_LEN,
) = range(15)
# why run_chip returned
ST_QUIET, ST_FULL, ST_TICK, ST_MAX_CYCLES, ST_STUCK = range(5)
R_TICK_DONE = 2


@inlined
def _all_done(cr, pm, mc):
    """Every core done (not running) and idle, and the mesh empty."""
    if mc[M_NACT] != 0:
        return 0
    for k in range(pm[P_T]):
        if cr[k, C_RUN] != 0 or event_busy(k, cr):
            return 0
    return 1


@inlined
def _host_inputs(i, g, h, cq, cr, pm, mc, ov, op, ir):
    """The host link's inputs of this cycle, from the start-of-cycle state of every block
    (its commands come from the command FIFO's output register)."""
    if h[H_CQ_OV]:
        d1 = h[H_FIFO_DEPTH] - 1
        i[I_CMD_VALID] = 1
        i[I_OP] = cq[d1, 0]
        i[I_TX] = cq[d1, 1]
        i[I_TY] = cq[d1, 2]
        i[I_ARG] = cq[d1, 3]
        i[I_DATA] = cq[d1, 4]
        i[I_DHI] = cq[d1, 6]
        i[I_OK] = cq[d1, 5]
    else:
        i[I_CMD_VALID] = 0
    tile = -1
    if h[H_CMDV] != 0 and h[H_TX] < pm[P_W]:
        tile = h[H_TY] * pm[P_W] + h[H_TX]
        if tile >= pm[P_T]:
            tile = -1
    if tile >= 0:
        idle_ev = not event_busy(tile, cr)
        i[I_CFG_READY] = 1 if (cr[tile, C_RUN] == 0 and idle_ev) else 0
        i[I_READ_READY] = 1 if (cr[tile, C_RUN] == 0 and cr[tile, C_ROV] == 0) else 0
        lr_free = g[G_LR_TILE] != tile
        i[I_LREAD_READY] = 1 if (cr[tile, C_RUN] == 0 and idle_ev and lr_free) else 0
    else:
        i[I_CFG_READY] = 0
        i[I_READ_READY] = 0
        i[I_LREAD_READY] = 0
    lrv = g[G_LR_ST] == LR_VALID
    i[I_LREAD_VALID] = 1 if lrv else 0
    i[I_LREAD_DATA] = g[G_LR_DATA] if lrv else 0
    i[I_INJECT_READY] = ir[0, WEST]
    rd = g[G_READER]
    if rd >= 0:
        i[I_READ_VALID] = 1
        i[I_READ_U] = cr[rd, C_RU] & MASK24
        i[I_READ_V] = cr[rd, C_RV] & MASK24
    else:
        i[I_READ_VALID] = 0
        i[I_READ_U] = 0
        i[I_READ_V] = 0
    i[I_HOST_VALID] = ov[0, WEST]
    i[I_HOST_PAYLOAD] = (op[0, WEST] >> pm[P_PAY_OFF]) & pm[P_PAY_MASK]
    i[I_ALL_DONE] = g[G_ALL_DONE_R]  # last cycle's AND (a register in the RTL)
    i[I_FLITS_IN] = mc[M_FLITS_IN]
    i[I_FLITS_OUT] = mc[M_FLITS_OUT]
    i[I_MISROUTE] = mc[M_MISROUTE]
    return tile


@inlined
def _host_flit(h, pm):
    """The SPIKE flit of the INPUT in the command register (dest_x zero-extended)."""
    dx_mask = (1 << pm[P_DX_BITS]) - 1
    return (
        ((h[H_TX] & dx_mask) << pm[P_DX_OFF])
        | (h[H_TY] << pm[P_DY_OFF])
        | ((h[H_ARG] & pm[P_PAY_MASK]) << pm[P_PAY_OFF])
    )


@inlined
def _try_jump(g, h, cr, pm, mc, i, o, cmds, sv, max_cycles, hc):
    """Jump the clock over cycles in which only counters change (see the module docstring).

    The host must be in a running tick, past its first cycle, with nothing to answer (the
    response FIFO empty too), and its command register must hold a command that waits, with
    the command FIFO frozen behind it (full, or no command left to offer; its output
    register full or its memory empty), or be empty with the FIFO empty and no command
    left; the mesh and every event pipeline must be empty and every running core asleep.
    Then in each cycle up to the first wake-up the host only counts (all_done stays 0 while
    a core runs). Returns the new cycle, or -1 when nothing can ever change again: no core
    running and the tick waiting for an END_TICK that the stream does not hold.
    """
    c = g[G_CYCLE]
    if mc[M_NACT] != 0 or h[H_RUNNING] == 0 or h[H_FIRST] != 0 or g[G_START_R] != 0:
        return c
    if h[H_RSV] or h[H_SPV] or h[H_SSV] or h[H_STV] or h[H_TDV] or g[G_READER] >= 0:
        return c
    if h[H_LNV] or g[G_LR_TILE] >= 0:
        return c
    if h[H_RQ_LEVEL] != 0 or h[H_RQ_OV] != 0:
        return c
    if h[H_CNP] != 0 or h[H_CSV] != 0 or h[H_CLR] != 0:
        return c  # a counter read in flight, or the clear pulse
    if pm[P_CMASK] != 0 and h[H_WOR] != hc[hc.shape[0] - 1, HC_WRAP]:
        return c  # a wrap on its way to ERRORS
    more = g[G_POS] < cmds.shape[0]
    if h[H_CMDV] == 0:
        if more or h[H_CQ_LEVEL] != 0 or h[H_CQ_OV] != 0:
            return c
    else:
        if more and h[H_CQ_LEVEL] != h[H_FIFO_DEPTH] - 1:
            return c  # the FIFO still fills
        if h[H_CQ_LEVEL] != 0 and h[H_CQ_OV] == 0:
            return c  # its output register fills
        done, _bad, _eff, _free = host_comb(h, pm, i, o)
        if done:
            return c
    wake = -1
    for k in range(pm[P_T]):
        if event_busy(k, cr):
            return c
        if cr[k, C_RUN] != 0:
            w = cr[k, C_WAKE]
            if w <= c:
                return c
            if wake < 0 or w < wake:
                wake = w
    if wake < 0:
        return c if h[H_HDONE] else -1
    if wake > max_cycles:
        wake = max_cycles
    d = wake - c
    cyc = h[H_CYC]
    wd = pm[P_WATCHDOG]
    if cyc <= wd and wd < cyc + d:
        h[H_ERR] |= 1
    if mc[M_MISROUTE]:
        h[H_ERR] |= 2
    h[H_CYC] = (cyc + d) & MASK32
    if more and g[G_HELD] == 0:
        # the FIFO is full: the host raises valid in the first cycle its schedule allows and
        # holds it, untaken, to the end of the jump
        period = sv.shape[0]
        for k in range(min(d, period)):
            if sv[(c + k) % period] != 0:
                g[G_HELD] = 1
                break
    g[G_ALL_DONE_R] = 0  # a core ran in the cycle before the wake-up
    g[G_CYCLE] = wake
    return wake


@inlined
def _cores_cycle(
    cycle, fast, g, pm, cr, st, prof, ax, syn, fp, fo, acc, ov, op, ir, ldrain, inj, hc, lm
):
    """One cycle of every core with something to do: event pipelines with an event offered
    or in flight, update loops running and awake, learning phases ending. Returns how many
    flits the routers take (written to ``inj``). With hardware counters the update loops
    never sleep (each write-back counts in its own cycle), and a core's o_flit offered to a
    full LOCAL input counts as a blocked cycle of that input."""
    n_tiles = pm[P_T]
    learn = pm[P_LEARN] != 0
    if g[G_START_R] and g[G_LONLY_R] == 0:  # the registered start (rtl/chip.py)
        for k in range(n_tiles):
            if cr[k, C_RUN] == 0:  # (learn_only keeps the bank: no tick)
                cr[k, C_PAR] = g[G_PARITY_R]  # before the events: see event_step
    n_inj = 0
    for k in range(n_tiles):
        ev_valid = ov[k, LOCAL] != 0
        if ev_valid or event_busy(k, cr):
            if learn:
                took = event_step_learn(
                    k, cycle, cr, pm, ev_valid, op[k, LOCAL], ax, syn, acc, hc, lm
                )
            else:
                took = event_step(k, cr, pm, ev_valid, op[k, LOCAL], ax, syn, acc, hc)
            if took:
                ldrain[k] = 1
        if cr[k, C_OV] != 0 and ir[k, LOCAL] == 0:
            bump(hc, k, K_BLK + LOCAL, pm)
        if cr[k, C_RUN] != 0:
            w = cr[k, C_WAKE]
            if w >= 0:
                if w > cycle:
                    continue
                if cr[k, C_LPH] != 0:  # the learning phase ends (sim/_timed_learn.py)
                    learn_wake(k, cr)
                    continue
                loop_wake(k, cr)
            fr = ir[k, LOCAL] != 0
            if fast and loop_blocked(k, cr, pm, fr):
                continue  # waiting for the router: nothing moves
            f = loop_step(k, cr, pm, fr, st, prof, fp, fo, acc, hc)
            if f >= 0:
                inj[n_inj, 0] = k
                inj[n_inj, 1] = LOCAL
                inj[n_inj, 2] = f
                n_inj += 1
            if fast and pm[P_CMASK] == 0 and cr[k, C_RUN] != 0 and loop_free(k, cr, pm):
                loop_sleep(k, cycle + 1, cr, pm, st, prof, fp, acc)
    return n_inj


@inlined
def _host_to_cores(
    cycle, tile, g, h, i, o, pm, fl, depth, cr, st, prof, ax, syn, fp, fo, acc, nbr, lm
):
    """The host link's configuration write, read-backs and start, as the cores clock them
    (after this cycle's reads: the read ports are not transparent); a ROUTE write goes to
    the router's table instead (sim/_timed_noc.py::route_write)."""
    addr = h[H_ARG] & pm[P_ADDR_MASK]
    if (
        tile >= 0
        and o[O_CFG]
        and i[I_CFG_READY]
        and not route_write(tile, addr, h[H_DATA], pm, nbr)
    ):
        reg = addr >> pm[P_INDEX_BITS]
        if reg > 7 and pm[P_LEARN] != 0 and reg < depth.shape[0]:
            idx = (addr & ((1 << pm[P_INDEX_BITS]) - 1)) & (depth[reg] - 1)
            learn_config_write(tile, reg, idx, h[H_DATA], h[H_DHI], fl, st, lm)
        else:
            config_write(tile, addr, h[H_DATA], pm, fl, depth, st, prof, ax, syn, fp, fo, acc)
    if pm[P_LEARN] != 0:
        _lread_clock(tile, addr, g, i, o, pm, fl, depth, syn, st, lm)
    rd = g[G_READER]
    if rd >= 0 and o[O_READ_IN_READY]:
        cr[rd, C_ROV] = 0
        g[G_READER] = -1
    if tile >= 0 and o[O_READ] and i[I_READ_READY]:
        j = h[H_ARG] & pm[P_NEURON_MASK]
        cr[tile, C_RU] = st[tile, j, 0]
        cr[tile, C_RV] = st[tile, j, 1]
        cr[tile, C_ROV] = 1
        g[G_READER] = tile
    if g[G_START_R]:
        for k in range(pm[P_T]):
            if cr[k, C_RUN] == 0:
                if pm[P_LEARN] != 0:
                    learn_start(k, cycle, g[G_LONLY_R] != 0, cr, pm, st, syn, lm)
                    continue
                cr[k, C_RUN] = 1
                cr[k, C_A] = 0
                cr[k, C_U5NEED] = 0
                cr[k, C_WAKE] = -1


@inlined
def _lread_clock(tile, addr, g, i, o, pm, fl, depth, syn, st, lm):
    """READ_LEARNED at a core (``CoreLearning._lread_clock``): the word read in the cycle
    the request is taken is offered from the second cycle on, until the host link takes it."""
    st_ = g[G_LR_ST]
    if st_ == LR_PEND:
        g[G_LR_ST] = LR_VALID
    elif st_ == LR_VALID and o[O_LREAD_IN_READY]:
        g[G_LR_ST] = LR_NONE
        g[G_LR_TILE] = -1
    if tile >= 0 and o[O_LREAD] and i[I_LREAD_READY]:
        g[G_LR_TILE] = tile
        g[G_LR_ST] = LR_PEND
        g[G_LR_DATA] = lread_word(tile, addr, pm, fl, depth, syn, st, lm)


def make_scratch(n_tiles):
    """Work arrays of run_chip: core took its event, boundary writes, host port, host I/O."""
    return (
        np.zeros(n_tiles, dtype=np.int64),
        np.zeros((5 * n_tiles + 1, 3), dtype=np.int64),
        np.zeros(2, dtype=np.int64),
        np.zeros(I_LEN, dtype=np.int64),
        np.zeros(O_LEN, dtype=np.int64),
    )


def make_counters(n_tiles):
    """The hardware counters ``hc`` (sim/_timed_core.py, K_* and HC_*), all zero."""
    return np.zeros((n_tiles + 1, HC_LEN), dtype=np.int64)


def counter_registers(hc) -> np.ndarray:
    """int64 [tiles * 16 + 2]: the registers in READ_COUNTER index order."""
    t = hc.shape[0] - 1
    return np.concatenate([hc[:t, :HC_WRAP].reshape(-1), hc[t, :2]])


@kernel
def run_chip(
    pm, fl, depth, st, prof, ax, syn, fp, fo, acc, cr, nbr, fifo, froute, fhead, fcnt,
    ov, op, last, ir, rs, act, mc, h, cq, rq, g, scratch, cmds, sv, sr, rsp, max_cycles,
    fast, stop_on_tick, hc, treg, lm,
):  # fmt: skip
    """Run cycles until the chip is quiet (ST_QUIET), ``rsp`` is full (ST_FULL), a TICK_DONE
    was answered and ``stop_on_tick`` (ST_TICK), ``max_cycles`` (ST_MAX_CYCLES), or, with
    ``fast``, when nothing can change any more short of a command the stream does not hold
    (ST_STUCK).
    Returns (status, responses written into ``rsp`` as rows (cycle, op, a, b)).
    ``cq`` and ``rq`` hold the command and response FIFOs (:func:`fifo_clock`); ``scratch``
    is :func:`make_scratch`'s tuple of work arrays. ``sv`` and ``sr`` are the host's
    schedule (firmware.loader.host_schedule): in cycle c the host may raise i_cmd.valid if
    ``sv[c % len]`` (a raised valid holds until taken: ``g[G_HELD]``) and o_rsp.ready is
    ``sr[c % len]``. ``hc``: the hardware counters (make_counters); on a chip with them,
    each cycle a tick ends appends counter_registers(hc) to ``treg`` (ST_FULL when full).
    ``lm``: the learning memories (sim/_timed_learn.py, one row each without learning)."""
    ldrain, inj, mv, i, o = scratch
    nr = 0
    cap = rsp.shape[0]
    while True:
        cycle = g[G_CYCLE]
        g[G_ITER] += 1
        if cycle >= max_cycles:
            return ST_MAX_CYCLES, nr
        if nr >= cap:
            return ST_FULL, nr
        counting = pm[P_CMASK] != 0
        if counting and g[G_NTREG] >= treg.shape[0]:
            return ST_FULL, nr
        wany = hc[hc.shape[0] - 1, HC_WRAP]  # the tiles' wrapped registers, start of cycle
        tile = _host_inputs(i, g, h, cq, cr, pm, mc, ov, op, ir)
        done, bad, eff, free = host_comb(h, pm, i, o)
        # this cycle's AND, for the all_done register; only when the host may look at it
        # next cycle (running, and its END_TICK seen or taken now)
        all_done = 0
        if h[H_RUNNING] != 0 and (h[H_HDONE] != 0 or eff == _END_TICK):
            all_done = _all_done(cr, pm, mc)
        ticked = False
        d1 = h[H_FIFO_DEPTH] - 1
        phase = cycle % sv.shape[0]
        rsp_ready = sr[phase] != 0
        if h[H_RQ_OV] and rsp_ready:
            rsp[nr, 0] = cycle
            rsp[nr, 1] = rq[d1, 0]
            rsp[nr, 2] = rq[d1, 1]
            rsp[nr, 3] = rq[d1, 2]
            nr += 1
            ticked = rq[d1, 0] == R_TICK_DONE
        # --- cores (their router's LOCAL output and i_ready as of the start of the cycle)
        n_inj = _cores_cycle(
            cycle, fast, g, pm, cr, st, prof, ax, syn, fp, fo, acc, ov, op, ir, ldrain, inj, hc, lm
        )
        _host_to_cores(
            cycle, tile, g, h, i, o, pm, fl, depth, cr, st, prof, ax, syn, fp, fo, acc, nbr, lm
        )
        # --- mesh
        if o[O_INJ]:
            if i[I_INJECT_READY]:
                inj[n_inj, 0] = 0
                inj[n_inj, 1] = WEST
                inj[n_inj, 2] = _host_flit(h, pm)
                n_inj += 1
            else:
                bump(hc, 0, K_BLK + WEST, pm)
        if n_inj or mc[M_NACT]:
            mv[0] = o[O_HOST_READY]
            mesh_step(
                pm, nbr, fifo, froute, fhead, fcnt, ov, op, last, ir, rs, act, mc,
                ldrain, inj, n_inj, mv, hc,
            )  # fmt: skip
        # --- the host's FIFOs (start-of-cycle response register), then the host link
        slot = fifo_clock(h, rq, H_RQ, h[H_RSV] != 0, rsp_ready)
        if slot >= 0:
            rq[slot, 0] = h[H_RSOP]
            rq[slot, 1] = h[H_RSA]
            rq[slot, 2] = h[H_RSB]
        pos = g[G_POS]
        offer = pos < cmds.shape[0] and (g[G_HELD] != 0 or sv[phase] != 0)
        slot = fifo_clock(h, cq, H_CQ, offer, o[O_CMD_READY] != 0)
        if slot >= 0:
            for k in range(cmds.shape[1]):
                cq[slot, k] = cmds[pos, k]
            g[G_POS] = pos + 1
        g[G_HELD] = 1 if (offer and slot < 0) else 0
        tx, ty, arg = h[H_TX], h[H_TY], h[H_ARG]
        ended = host_clock(h, pm, i, o, done, bad, eff, free)
        if counting:
            h[H_ERR] |= counters_clock(h, hc, pm, o, i, eff, ended, wany, tx, ty, arg)
            if ended:
                row = treg[g[G_NTREG]]
                n_t = pm[P_T]
                for k in range(n_t):
                    for j in range(HC_WRAP):
                        row[k * HC_WRAP + j] = hc[k, j]
                row[n_t * HC_WRAP] = hc[n_t, 0]
                row[n_t * HC_WRAP + 1] = hc[n_t, 1]
                g[G_NTREG] += 1
        g[G_START_R], g[G_PARITY_R], g[G_ALL_DONE_R] = o[O_START], o[O_PARITY], all_done
        g[G_LONLY_R] = o[O_LONLY]
        g[G_CYCLE] = cycle + 1
        if host_quiet(h, g[G_POS], cmds.shape[0]):
            g[G_IDLE] += 1
            if g[G_IDLE] > 2:
                return ST_QUIET, nr
        else:
            g[G_IDLE] = 0
            if fast:
                _host_inputs(i, g, h, cq, cr, pm, mc, ov, op, ir)
                if _try_jump(g, h, cr, pm, mc, i, o, cmds, sv, max_cycles, hc) < 0:
                    return ST_STUCK, nr
        if ticked and stop_on_tick:
            return ST_TICK, nr
