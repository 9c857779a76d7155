"""Numba kernels of one core for the compiled timed model (sim/timed.py).

The readable specification is ``sim/core.py::CoreModel``; these kernels keep the same
registers over arrays (one row of ``cr`` per tile) with two representation changes, each
equal at the core's boundary:

- **Update loop as a counter.** All six stages U0..U5 advance together (``adv``), and stage
  U*k* holds neuron ``a - k`` where ``a`` counts the advancing cycles since ``start``
  (``u_idx = min(a, N)``). So the pipeline is ``a`` alone, plus what U5 holds. A neuron's
  LIF step (state read, accumulator read and clear, write-back) is done at once when it
  enters U5: between its U0 read and its U5 write nothing else can read or write that
  neuron's state word or its ``acc[parity]`` word (configuration and read-back wait for
  ``running`` to fall, events write the other banks), so doing it early is invisible.
  ``parity`` is the running tick's accumulator bank, t mod (D + 1) (t & 1 without delays).
- **Events accumulate when accepted.** An event's bank ``(parity + d) mod (D + 1)`` (d its
  row's delay, 1..D) is never the running tick's; it is read only by a later tick's
  update loop and by configuration writes, both of which wait until the event pipeline is
  idle, and the pipeline's forwarding makes its read-modify-writes behave as if done in
  order. So the row is added when the event is taken; the pipeline keeps only what decides
  its timing (``ax_valid``, the pending row length, the walker count, S1/S2 valid).

The fan-out path (spike queue, walker, RD, o_flit) is kept register for register. A
learning core (``pm[P_LEARN]``) has its own event step and learning phase in
sim/_timed_learn.py (a row is then added when the walker takes it); ``st[:, :, 4]`` holds
its neurons' "fired" bits, which U5 writes here with every neuron's state.
"""

from __future__ import annotations

import numba as nb

from spikemesh.config import ACC_SHIFT, DECAY_SHIFT, STATE_BITS, VTH_SHIFT

# Every kernel of the timed model is compiled without numba's reference counting: none of
# them allocates (the caller passes every array in), and counting the references of a dozen
# array arguments on each call of a per-cycle helper cost several times the work itself
# (measured here: 50 ns against 11 ns per neuron update). cache=True: a second process
# loads the machine code instead of compiling it.
kernel = nb.njit(cache=True, nogil=True, _nrt=False)
# The per-cycle helpers are also inlined into the cycle loop (numba IR inlining): a call
# passes every array as a struct of a dozen fields, and the cycle loop calls them for every
# core in every cycle.
inlined = nb.njit(cache=True, nogil=True, _nrt=False, inline="always")

# --- chip parameters: indices into the int64 vector ``pm`` ------------------------------------
(
    P_W,
    P_H,
    P_T,
    P_N,
    P_NBITS,
    P_A,
    P_S,
    P_F,
    P_NPROF,
    P_ACCBITS,
    P_DEPTH,
    P_PAY_OFF,
    P_PAY_MASK,
    P_AXON_MASK,
    P_DX_OFF,
    P_DX_BITS,
    P_DY_OFF,
    P_DY_MASK,
    P_KIND_OFF,
    P_HS_X_OFF,
    P_HS_Y_OFF,
    P_HOST_FLIT_BASE,
    P_ADDR_MASK,
    P_NEURON_MASK,
    P_INDEX_BITS,
    P_WATCHDOG,
    P_XBITS,
    P_YBITS,
    P_BANKS,  # accumulator banks, max_delay + 1 (a power of two)
    P_DELAYBITS,  # width of the axon word's delay field (0 without delays)
    P_CMASK,  # the hardware counters' mask, 2**counter_bits - 1 (0: a chip without them)
    P_LEARN,  # the cores learn (CoreConfig.learning_profiles > 0, sim/_timed_learn.py)
    P_LPMASK,  # the learning-profile index mask, learning_profiles - 1
    P_R,  # reverse-index entries (CoreConfig.reverse_depth)
    P_LEN,
) = range(35)

# --- core registers: columns of the int64 matrix ``cr`` [tiles, CR_LEN] ----------------------
(
    C_RUN,  # running (done is always its complement, see CoreModel)
    C_PAR,  # parity of the running tick
    C_A,  # advancing cycles since start (the update pipeline, see the module docstring)
    C_U5NEED,  # the neuron in U5 spiked and has fan-out items (fan_len + host_out > 0)
    C_SQN,  # spike queue: entries (0..2), then two entries of (neuron, base, len, host)
    C_SQ0I,
    C_SQ0B,
    C_SQ0L,
    C_SQ0H,
    C_SQ1I,
    C_SQ1B,
    C_SQ1L,
    C_SQ1H,
    C_FOCNT,  # fan-out walker
    C_FOHOST,
    C_FOADDR,
    C_FONEU,
    C_RDV,  # RD stage (fan-out memory read port output)
    C_RDHOST,
    C_RDNEU,
    C_RFX,
    C_RFY,
    C_RFA,
    C_OV,  # o_flit register
    C_OFLIT,
    C_AXV,  # event pipeline
    C_AXLEN,
    C_WCNT,
    C_S1V,
    C_S2V,
    C_ROV,  # o_read register (u, v latched from the state word)
    C_RU,
    C_RV,
    C_WAKE,  # sleeping update loop: cycle to wake at (-1: awake), see loop_sleep
    C_SLEEP_C,  # cycle and counter ``a`` when it fell asleep
    C_SLEEP_A,
    C_HOST_FLIT,  # this core's HOST_OUT flit with neuron 0 (constant, set at construction)
    C_U5SPK,  # the neuron in U5 spiked (whatever its fan-out): the ``spikes`` counter
    # a learning core (sim/_timed_learn.py): the learning phase (0 none, 1 until the update
    # loop starts at C_WAKE, 2 until running falls at C_WAKE: learn_only), the cycle its
    # ``finish`` is high (events are held up to it), the ``pending`` register; the event
    # pipeline's axon in AX, walker address, S1's synapse address, S2's plastic flag, S3, S4
    C_LPH,
    C_LEND,
    C_PEND,
    C_AXIDX,
    C_WADDR,
    C_S1A,
    C_S2P,
    C_S3V,
    C_S4V,
    CR_LEN,
) = range(48)

# --- hardware counters (ChipConfig.counter_bits > 0): columns of ``hc`` [tiles + 1, HC_LEN] --
# Rows 0 .. tiles - 1: the tile's 16 registers in spikemesh.counters.HW_TILE_REGISTERS order
# and its sticky ``wrapped`` register; the last row: host_injected, cycles (the host link's)
# in columns 0 and 1, and in HC_WRAP whether any tile's ``wrapped`` is set.
K_NU, K_SPK, K_FI, K_HF, K_EV, K_SOP, K_FWD = 0, 1, 2, 3, 4, 5, 6
K_BLK = 11  # router_blocked, input ports L, N, E, S, W
HC_WRAP = 16
HC_LEN = 17

_U_MASK = (1 << STATE_BITS) - 1
_U_HALF = 1 << (STATE_BITS - 1)
_SAT = (1 << (STATE_BITS - 1)) - 1
_T_ROUND = (1 << DECAY_SHIFT) - 1
_DECAY_ONE = 1 << DECAY_SHIFT


@inlined
def _t12(x):
    """T(x) of chip.md §3: the 12-bit shift rounding toward zero (x >> 12 floors)."""
    return x >> DECAY_SHIFT if x >= 0 else -((-x) >> DECAY_SHIFT)


@inlined
def bump(hc, k, j, pm):
    """Register ``j`` of tile ``k`` adds 1 at the end of this cycle (docs/counters.md), modulo
    2**counter_bits; a wrap sets the tile's sticky ``wrapped``. Nothing on a chip without
    counters."""
    m = pm[P_CMASK]
    if m != 0:
        v = hc[k, j] + 1
        if v > m:
            v = 0
            hc[k, HC_WRAP] = 1
            hc[hc.shape[0] - 1, HC_WRAP] = 1
        hc[k, j] = v


@inlined
def lif_enter_u5(k, j, cr, st, prof, fp, acc):
    """Neuron ``j`` of core ``k`` enters U5: chip.md §3 as ``lif_scalar``, state written back,
    ``acc[parity][j]`` read and cleared; sets C_U5NEED."""
    par = cr[k, C_PAR]
    a = acc[k, par, j]
    acc[k, par, j] = 0
    u = st[k, j, 0]
    v = st[k, j, 1]
    ref = st[k, j, 2]
    p = st[k, j, 3]
    du = prof[k, p, 0]
    # wrap24: u is a 24-bit register; the input enters as a << 6
    u = ((_t12(u * (_DECAY_ONE - 1 - du)) + (a << ACC_SHIFT) + _U_HALF) & _U_MASK) - _U_HALF
    spike = False
    if ref != 0:
        v = 0
        ref -= 1
    else:
        v = _t12(v * (_DECAY_ONE - prof[k, p, 1])) + u + (prof[k, p, 3] << prof[k, p, 4])
        if v > _SAT:  # sat24
            v = _SAT
        elif v < -_SAT:
            v = -_SAT
        thr = prof[k, p, 2] << VTH_SHIFT
        if v > thr:
            # reset zero: 0; reset subtract: v - thr (1 .. 2^23 - 1 - thr, no saturation)
            v = v - thr if prof[k, p, 6] != 0 else 0
            ref = prof[k, p, 5]
            spike = True
        else:
            ref = 0
    st[k, j, 0] = u
    st[k, j, 1] = v
    st[k, j, 2] = ref
    st[k, j, 4] = 1 if spike else 0  # a learning core's post "fired" bit (U5 writes it)
    need = spike and (fp[k, j, 1] != 0 or fp[k, j, 2] != 0)
    cr[k, C_U5NEED] = 1 if need else 0
    cr[k, C_U5SPK] = 1 if spike else 0
    return need


@inlined
def loop_step(k, cr, pm, flit_ready, st, prof, fp, fo, acc, hc):
    """One cycle of the update loop and fan-out path of running core ``k``.

    ``flit_ready`` is o_flit.ready (the router's LOCAL input not full). Returns the flit the
    router takes in this cycle, or -1. Counts (``hc``): the U5 write-back (state_wp.en = U5
    valid & adv) as a neuron update and, if it spiked, a spike; the flit taken, and whether it
    is a HOST_OUT flit.
    """
    n = pm[P_N]
    a = cr[k, C_A]
    need = a >= 5 and a < n + 5 and cr[k, C_U5NEED] != 0
    sqn = cr[k, C_SQN]
    adv = not (need and sqn == 2)
    ov = cr[k, C_OV]
    o_load = ov == 0 or flit_ready
    rdv = cr[k, C_RDV]
    rd_free = rdv == 0 or o_load
    fo_cnt = cr[k, C_FOCNT]
    fo_host = cr[k, C_FOHOST]
    fo_issue = (fo_cnt != 0 or fo_host != 0) and rd_free
    fo_last = fo_host != 0 if fo_cnt == 0 else fo_cnt == 1 and fo_host == 0
    fo_take = sqn > 0 and ((fo_cnt == 0 and fo_host == 0) or (fo_issue and fo_last))
    drained = a >= n + 5 and sqn == 0 and fo_cnt == 0 and fo_host == 0 and rdv == 0 and ov == 0
    out = -1
    if ov != 0 and flit_ready:
        out = cr[k, C_OFLIT]
        bump(hc, k, K_FI, pm)
        if (out >> pm[P_KIND_OFF]) & 1:  # KIND_HOST_OUT
            bump(hc, k, K_HF, pm)
    if adv and a >= 5 and a < n + 5:  # U5 writes its neuron back
        bump(hc, k, K_NU, pm)
        if cr[k, C_U5SPK] != 0:
            bump(hc, k, K_SPK, pm)
    if o_load:
        if rdv != 0:
            if cr[k, C_RDHOST] != 0:
                cr[k, C_OFLIT] = cr[k, C_HOST_FLIT] | (cr[k, C_RDNEU] << pm[P_PAY_OFF])
            else:  # KIND_SPIKE = 0; x is unsigned, zero-extended into the signed dest_x
                cr[k, C_OFLIT] = (
                    (cr[k, C_RFX] << pm[P_DX_OFF])
                    | (cr[k, C_RFY] << pm[P_DY_OFF])
                    | (cr[k, C_RFA] << pm[P_PAY_OFF])
                )
        cr[k, C_OV] = rdv
    cr[k, C_RDV] = 1 if (fo_issue or (rdv != 0 and not o_load)) else 0
    if fo_issue:
        cr[k, C_RDHOST] = 1 if fo_cnt == 0 else 0
        cr[k, C_RDNEU] = cr[k, C_FONEU]
        if fo_cnt != 0:
            addr = cr[k, C_FOADDR]
            cr[k, C_RFX] = fo[k, addr, 0]
            cr[k, C_RFY] = fo[k, addr, 1]
            cr[k, C_RFA] = fo[k, addr, 2]
    if fo_take:
        cr[k, C_FOCNT] = cr[k, C_SQ0L]
        cr[k, C_FOHOST] = cr[k, C_SQ0H]
        cr[k, C_FOADDR] = cr[k, C_SQ0B]
        cr[k, C_FONEU] = cr[k, C_SQ0I]
        cr[k, C_SQ0I] = cr[k, C_SQ1I]
        cr[k, C_SQ0B] = cr[k, C_SQ1B]
        cr[k, C_SQ0L] = cr[k, C_SQ1L]
        cr[k, C_SQ0H] = cr[k, C_SQ1H]
        sqn -= 1
    elif fo_issue:
        if fo_cnt != 0:
            cr[k, C_FOCNT] = fo_cnt - 1
            cr[k, C_FOADDR] = (cr[k, C_FOADDR] + 1) & (pm[P_F] - 1)  # depth: a power of 2
        else:
            cr[k, C_FOHOST] = 0
    if need and adv:  # push the U5 neuron into the spike queue
        i = a - 5
        if sqn == 0:
            cr[k, C_SQ0I] = i
            cr[k, C_SQ0B] = fp[k, i, 0]
            cr[k, C_SQ0L] = fp[k, i, 1]
            cr[k, C_SQ0H] = fp[k, i, 2]
        else:
            cr[k, C_SQ1I] = i
            cr[k, C_SQ1B] = fp[k, i, 0]
            cr[k, C_SQ1L] = fp[k, i, 1]
            cr[k, C_SQ1H] = fp[k, i, 2]
        sqn += 1
    cr[k, C_SQN] = sqn
    if adv and a < n + 5:
        a += 1
        cr[k, C_A] = a
        if a >= 5 and a < n + 5:
            lif_enter_u5(k, a - 5, cr, st, prof, fp, acc)
    if drained:
        cr[k, C_RUN] = 0
    return out


@inlined
def loop_free(k, cr, pm):
    """The update loop of core ``k`` runs on its own: nothing in the fan-out path and the U5
    neuron needs no fan-out. Every cycle then just advances ``a`` until a neuron with fan-out
    items reaches U5 or the loop drains."""
    a = cr[k, C_A]
    return (
        cr[k, C_SQN] == 0
        and cr[k, C_FOCNT] == 0
        and cr[k, C_FOHOST] == 0
        and cr[k, C_RDV] == 0
        and cr[k, C_OV] == 0
        and not (a >= 5 and a < pm[P_N] + 5 and cr[k, C_U5NEED] != 0)
    )


@inlined
def loop_blocked(k, cr, pm, flit_ready):
    """:func:`loop_step` would change nothing in this cycle: o_flit is held (not ready), RD
    is full (so the walker cannot issue), the walker does not take the queue head, and the
    update loop is either past its last neuron or stalled on a full spike queue."""
    if flit_ready or cr[k, C_OV] == 0 or cr[k, C_RDV] == 0:
        return False
    sqn = cr[k, C_SQN]
    if sqn > 0 and cr[k, C_FOCNT] == 0 and cr[k, C_FOHOST] == 0:
        return False
    a = cr[k, C_A]
    if a >= pm[P_N] + 5:
        return True
    return a >= 5 and cr[k, C_U5NEED] != 0 and sqn == 2


@kernel
def loop_sleep(k, cycle, cr, pm, st, prof, fp, acc):
    """Put a free-running update loop (:func:`loop_free`) to sleep; return its wake cycle.

    In cycle ``cycle`` + d the counter is ``a + d`` (it advances every cycle), so neuron j
    enters U5 at d = j + 5 - a. The neurons entering U5 are computed now, up to the first
    one that needs fan-out: the core wakes in the cycle it sits in U5 (and is pushed into
    the empty spike queue). Without one it wakes in the cycle ``a = N + 5``, when the loop
    is drained. Equal to stepping: no stall can happen (the queue is empty and stays so),
    and the LIF steps are the ones :func:`loop_step` would do (see the module docstring).
    """
    n = pm[P_N]
    a = cr[k, C_A]
    j = a - 4  # the next neuron to enter U5
    if j < 0:
        j = 0
    target = n + 5
    while j < n:
        if lif_enter_u5(k, j, cr, st, prof, fp, acc):
            target = j + 5
            break
        j += 1
    if target == n + 5:
        cr[k, C_U5NEED] = 0
    wake = cycle + (target - a)
    cr[k, C_WAKE] = wake
    cr[k, C_SLEEP_C] = cycle
    cr[k, C_SLEEP_A] = a
    return wake


@inlined
def loop_wake(k, cr):
    """Wake a sleeping update loop at its wake cycle (its ``a`` has advanced every cycle)."""
    cr[k, C_A] = cr[k, C_SLEEP_A] + (cr[k, C_WAKE] - cr[k, C_SLEEP_C])
    cr[k, C_WAKE] = -1


@inlined
def event_ready(k, cr):
    """i_event.ready of core ``k``: AX is empty, or the walker is on its row's last synapse
    (or done) so AX moves on at this edge."""
    return cr[k, C_AXV] == 0 or cr[k, C_WCNT] <= 1


@inlined
def event_step(k, cr, pm, ev_valid, ev_flit, ax, syn, acc, hc):
    """One cycle of the event pipeline of core ``k``; returns True when it took the event
    (i_event.valid & ready), whose synapse row is added at once to bank
    ``(parity + d) mod (D + 1)``, d = the row's delay (``acc[~parity]`` without delays).

    The RTL's S2 writes use the parity of the cycle they happen in; ``start`` changes it
    only while the pipeline is idle, so every write of an event lands in the buffer of the
    parity after the cycle it is taken in. The callers therefore set the new parity at the
    beginning of the start cycle (an event taken in that very cycle writes under it)."""
    axv = cr[k, C_AXV]
    wcnt = cr[k, C_WCNT]
    ax_load = axv != 0 and wcnt <= 1
    take = ev_valid and event_ready(k, cr)
    if cr[k, C_S2V] != 0:  # S2 writes its synapse's sum: one SOP
        bump(hc, k, K_SOP, pm)
    if take:
        bump(hc, k, K_EV, pm)
    cr[k, C_S2V] = cr[k, C_S1V]
    cr[k, C_S1V] = 1 if wcnt != 0 else 0
    cr[k, C_AXV] = 1 if (take or (axv != 0 and not ax_load)) else 0
    if ax_load:
        cr[k, C_WCNT] = cr[k, C_AXLEN]
    elif wcnt != 0:
        cr[k, C_WCNT] = wcnt - 1
    if take:
        e = (ev_flit >> pm[P_PAY_OFF]) & pm[P_AXON_MASK]
        base = ax[k, e, 0]
        ln = ax[k, e, 1]
        exp = ax[k, e, 2]
        cr[k, C_AXLEN] = ln
        buf = (cr[k, C_PAR] + 1 + ax[k, e, 3]) & (pm[P_BANKS] - 1)
        bits = pm[P_ACCBITS]
        half = 1 << (bits - 1)
        mask = (1 << bits) - 1
        s_mask = pm[P_S] - 1  # the depth is a power of two
        for s in range(ln):
            addr = (base + s) & s_mask  # the walker's address counter wraps
            t = syn[k, addr, 0]
            # modular accumulator of acc_bits (chip.md §4)
            acc[k, buf, t] = ((acc[k, buf, t] + (syn[k, addr, 1] << exp) + half) & mask) - half
    return take


@inlined
def event_busy(k, cr):
    """Not ``idle``: a row waiting, being walked, or in S1/S2 (S3/S4: a learning core's
    depression, sim/_timed_learn.py)."""
    return (
        cr[k, C_AXV] != 0
        or cr[k, C_WCNT] != 0
        or cr[k, C_S1V] != 0
        or cr[k, C_S2V] != 0
        or cr[k, C_S3V] != 0
        or cr[k, C_S4V] != 0
    )


@inlined
def _field(data, fl, reg, f):
    off = fl[reg, f, 0]
    width = fl[reg, f, 1]
    v = (data >> off) & ((1 << width) - 1)
    if fl[reg, f, 2] != 0 and (v >> (width - 1)) != 0:
        v -= 1 << width
    return v


@kernel
def config_write(k, addr, data, pm, fl, depth, st, prof, ax, syn, fp, fo, acc):
    """One configuration write into core ``k``, decoded as ``layouts.decode_config_write``:
    region = addr >> index_bits (7 writes nothing), index masked to the region's depth, each
    field of the region's word taken from ``data`` (``fl[region, field] = offset, width,
    signed``, from spikemesh.layouts). A learning core's regions 8..12 are written by
    ``_timed_learn.learn_config_write``."""
    ib = pm[P_INDEX_BITS]
    reg = addr >> ib
    if reg > 6:
        return
    i = (addr & ((1 << ib) - 1)) & (depth[reg] - 1)
    if reg == 0:  # NEURON: u, v, ref, profile
        for f in range(4):
            st[k, i, f] = _field(data, fl, reg, f)
    elif reg == 1:  # PROFILE: du, dv, vth, bias_mant, bias_exp, refractory, reset
        for f in range(7):
            prof[k, i, f] = _field(data, fl, reg, f)
    elif reg == 2:  # AXON: base, len, exp and, with delays, delay - 1
        for f in range(4 if pm[P_DELAYBITS] != 0 else 3):
            ax[k, i, f] = _field(data, fl, reg, f)
    elif reg == 3:  # SYNAPSE: target, weight and, on a learning core, plastic, lprofile
        for f in range(4 if pm[P_LEARN] != 0 else 2):
            syn[k, i, f] = _field(data, fl, reg, f)
    elif reg == 4:  # FANPTR: base, len, host_out
        for f in range(3):
            fp[k, i, f] = _field(data, fl, reg, f)
    elif reg == 5:  # FANOUT: x, y, axon
        for f in range(3):
            fo[k, i, f] = _field(data, fl, reg, f)
    else:  # ACC: index = bank << neuron_bits | neuron
        acc[k, i >> pm[P_NBITS], i & (pm[P_N] - 1)] = _field(data, fl, reg, 0)


@kernel
def core_tick(k, x, y, parity, cr, pm, st, prof, ax, syn, fp, fo, acc, queue, n_ev, ready,
              flits, loopback, fast, hc, trace):  # fmt: skip
    """CoreModel.run_tick on the kernels: core ``k`` (at (x, y)) runs one tick alone.

    Cycle 0 pulses start; ``queue[:n_ev]`` (axon ids) are offered back to back from cycle 0;
    o_flit.ready in cycle c is ``ready[c % ready.size]``; with ``loopback`` the SPIKE flits
    addressed to (x, y) are appended to the queue. The tick ends at the first cycle c > 0
    that begins with done & idle and no event left. Fills ``flits`` with the flits taken;
    returns (cycles, flits taken, events offered), or (-1, ...) when ``queue`` or ``flits``
    is too small.

    ``trace`` (int64 [L, 3], L = 0: none) records the core's boundary in every cycle c <= the
    last (returns (-2, ...) when L is too small): ``trace[c, 0]`` its outputs as the cycle
    begins, i_event.ready | o_flit.valid << 1 | done << 2 | idle << 3; ``trace[c, 1]``
    o_flit.payload when valid (else 0); ``trace[c, 2]`` the inputs held during the cycle,
    i_event.valid | o_flit.ready << 1 | i_event.payload << 2 (start is cycle 0's).
    """
    nq = n_ev
    ke = 0
    nf = 0
    cyc = 0
    pay = pm[P_PAY_OFF]
    dx_mask = (1 << pm[P_DX_BITS]) - 1
    tl = trace.shape[0]
    while True:
        idle = not event_busy(k, cr)
        if tl > 0:
            if cyc == tl:
                return -2, nf, nq
            ov = cr[k, C_OV] != 0
            trace[cyc, 0] = (
                int(event_ready(k, cr))
                | int(ov) << 1
                | int(cr[k, C_RUN] == 0) << 2
                | int(idle) << 3
            )
            trace[cyc, 1] = cr[k, C_OFLIT] if ov else 0
        if cyc > 0 and cr[k, C_RUN] == 0 and idle and ke == nq:
            return cyc, nf, nq
        if cyc == 0 and cr[k, C_RUN] == 0:
            cr[k, C_PAR] = parity  # before the events: see event_step
        fr = ready[cyc % ready.size] != 0
        if cr[k, C_OV] != 0 and fr:
            f = cr[k, C_OFLIT]
            if nf == flits.size:
                return -1, nf, nq
            flits[nf] = f
            nf += 1
            own = ((f >> pm[P_DX_OFF]) & dx_mask) == x and (
                (f >> pm[P_DY_OFF]) & pm[P_DY_MASK]
            ) == y
            if loopback and ((f >> pm[P_KIND_OFF]) & 1) == 0 and own:  # KIND_SPIKE
                if nq == queue.size:
                    return -1, nf, nq
                queue[nq] = (f >> pay) & pm[P_AXON_MASK]
                nq += 1
        ev_valid = ke < nq
        if tl > 0:
            trace[cyc, 2] = int(ev_valid) | int(fr) << 1 | (queue[ke] << 2 if ev_valid else 0)
        if event_step(k, cr, pm, ev_valid, (queue[ke] << pay) if ev_valid else 0, ax, syn, acc, hc):
            ke += 1
        if cr[k, C_RUN] != 0:
            w = cr[k, C_WAKE]
            if w < 0 or w <= cyc:
                if w >= 0:
                    loop_wake(k, cr)
                loop_step(k, cr, pm, fr, st, prof, fp, fo, acc, hc)
                if fast and pm[P_CMASK] == 0 and cr[k, C_RUN] != 0 and loop_free(k, cr, pm):
                    loop_sleep(k, cyc + 1, cr, pm, st, prof, fp, acc)
        if cyc == 0 and cr[k, C_RUN] == 0:
            cr[k, C_RUN] = 1
            cr[k, C_A] = 0
            cr[k, C_U5NEED] = 0
            cr[k, C_WAKE] = -1
        cyc += 1
