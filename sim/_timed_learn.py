"""Numba kernels of a learning core (STDP, docs/learning.md) for the compiled timed model.

The readable specification is ``sim/core_learn.py`` (``LearningUnit``, ``CoreLearning``) with
the learning parts of ``sim/core_event.py::EventPipeline``; these kernels keep the same
memories over arrays and the registers that decide timing, with three representation
changes, each equal at the core's boundary (tests/sim/test_timed_learn.py compares every
response and its cycle with TimedChipModel):

- **The learning phase at once.** On ``start`` with ``pending`` set, the twin's learning
  unit walks every neuron (post-trace commit; for a neuron that fired, its reverse row:
  potentiation), then every axon (pre-trace commit). Nothing else reads or writes those
  memories until it finishes: the event pipeline is held (an event taken in the start
  cycle waits in AX), read-back and configuration wait for ``running`` to fall, and the
  update loop starts only with ``finish``. So :func:`learn_phase` applies the whole phase
  in the start cycle and returns its length, N + A + 5 + (reverse entries of the neurons
  that fired) + (1 if neuron N - 1 fired with a non-empty row), docs/learning.md; the core
  sleeps until then (``C_LPH``, ``C_WAKE``). It assumes, as ``layouts.reverse_tables``
  builds it, that a synapse appears at most once in the reverse index.
- **A row learns when the walker takes it.** A learning core's row is read, accumulated
  and depressed when the walker takes it from AX (``ax_load``), not when the event is taken:
  an event taken in a start cycle must see the weights the phase potentiates. Between
  ``ax_load`` and the S1/S4 accesses of its synapses nothing else touches those words (the
  post traces change only in a phase, which waits for the pipeline to be idle; rows of
  different axons are disjoint). The pipeline keeps the registers its ``idle`` depends on:
  S1's address, S2's plastic flag, S3 and S4 valid.
- **Post "fired" bits in the state array.** U5 writes every neuron's spike there
  (``st[:, :, 4]``, ``_timed_core.lif_enter_u5``), as the twin's 1-bit memory is written
  with every write-back.

Memories (``lm``, one tuple of int64 arrays): ``lprof`` [tiles, L, 10] (columns of
``plasticity.PROFILE_COLUMNS``), ``pre`` [tiles, A, 3] (x, fired, lprofile), ``post``
[tiles, N, 2] (x, lprofile; fired in ``st``), ``revptr`` [tiles, N, 2] (base, len), ``rev``
[tiles, R, 2] (synapse, axon). The synapse array has the learning core's four fields
(target, weight, plastic, lprofile).

The rule's arithmetic is the one of ``sim/core_learn.py`` and ``spikemesh/plasticity.py``,
compiled from those very functions.
"""

from __future__ import annotations

import numpy as np

from spikemesh.plasticity import PROFILE_COLUMNS, decay_trace

from . import core_learn
from ._timed_core import (
    C_A,
    C_AXIDX,
    C_AXV,
    C_LEND,
    C_LPH,
    C_PAR,
    C_PEND,
    C_RUN,
    C_S1A,
    C_S1V,
    C_S2P,
    C_S2V,
    C_S3V,
    C_S4V,
    C_U5NEED,
    C_WADDR,
    C_WAKE,
    C_WCNT,
    K_EV,
    K_SOP,
    P_A,
    P_ACCBITS,
    P_AXON_MASK,
    P_BANKS,
    P_INDEX_BITS,
    P_LPMASK,
    P_N,
    P_PAY_OFF,
    P_R,
    P_S,
    _field,
    bump,
    inlined,
    kernel,
)

__all__ = [
    "event_step_learn",
    "learn_config_write",
    "learn_phase",
    "learn_start",
    "learn_wake",
    "learning_memories",
    "lread_word",
]

# one definition of the rule: the twins' scalar functions, compiled
_decay = inlined(decay_trace)
_amplitude = inlined(core_learn.amplitude)
_depress = inlined(core_learn.depress)
_potentiate = inlined(core_learn.potentiate)
_commit = inlined(core_learn.commit)

# the columns of a profile row (plasticity.PROFILE_COLUMNS, the LPROFILE word's fields)
L_AP, L_APS, L_AM, L_AMS, L_PREI, L_PRED, L_POSTI, L_POSTD, L_WMIN, L_WMAX = (
    PROFILE_COLUMNS.index(name)
    for name in (
        "a_plus",
        "a_plus_shift",
        "a_minus",
        "a_minus_shift",
        "pre_inc",
        "pre_decay",
        "post_inc",
        "post_decay",
        "w_min",
        "w_max",
    )
)

# configuration regions (spikemesh.layouts.Region) a learning core adds, and SYNAPSE
R_SYNAPSE, R_LPROFILE, R_PRETRACE, R_POSTTRACE, R_REVPTR, R_REVERSE = 3, 8, 9, 10, 11, 12
# command rows hold a CONFIG_WRITE's data as bits 0..61 and the rest (sim/timed.py)
DATA_LO_BITS = 62
# the host link's READ_LEARNED state (g, sim/_timed_kernels.py): none, requested, offered
LR_NONE, LR_PEND, LR_VALID = 0, 1, 2


def learning_memories(chip):
    """``lm``: the learning memories of every core of ``chip``, all zero as after reset (one
    row each on a chip without learning, so that the kernels' signature stays one)."""
    c = chip.core
    t = chip.tiles
    if not c.learning:
        return tuple(
            np.zeros((t, 1, w), dtype=np.int64) for w in (len(PROFILE_COLUMNS), 3, 2, 2, 2)
        )
    return (
        np.zeros((t, c.learning_profiles, len(PROFILE_COLUMNS)), dtype=np.int64),
        np.zeros((t, c.axons, 3), dtype=np.int64),
        np.zeros((t, c.neurons, 2), dtype=np.int64),
        np.zeros((t, c.neurons, 2), dtype=np.int64),
        np.zeros((t, c.reverse_depth, 2), dtype=np.int64),
    )


@kernel
def learn_phase(k, pm, st, syn, lm):
    """The learning phase of core ``k`` (the learning of the tick that ran last), applied at
    once; returns its cycles from ``start`` to ``finish`` (the update loop's start)."""
    lprof, pre, post, revptr, rev = lm
    n, r, msk = pm[P_N], pm[P_R], pm[P_LPMASK]
    walked = 0
    # P1..P4: a fired neuron's reverse row, potentiated with the pre traces of t - 1 (the
    # axon pass that commits them comes after the neuron pass)
    for j in range(n):
        ln = revptr[k, j, 1]
        if st[k, j, 4] == 0 or ln == 0:
            continue
        walked += ln
        base = revptr[k, j, 0]
        for e in range(ln):
            q = (base + e) % r  # the walker's address wraps at the reverse index's depth
            s = rev[k, q, 0]
            if syn[k, s, 2] == 0:
                continue
            p = syn[k, s, 3] & msk
            d = _decay(pre[k, rev[k, q, 1], 0], lprof[k, p, L_PRED])
            dw = _amplitude(lprof[k, p, L_AP], d, lprof[k, p, L_APS])
            syn[k, s, 1] = _potentiate(syn[k, s, 1], dw, lprof[k, p, L_WMAX])
    if st[k, n - 1, 4] != 0 and revptr[k, n - 1, 1] != 0:
        walked += 1  # the neuron pass ends one cycle after the last row's last entry
    # N1/N2: every neuron's post trace, with its own profile's decay and increment
    for j in range(n):
        p = post[k, j, 1] & msk
        d = _decay(post[k, j, 0], lprof[k, p, L_POSTD])
        post[k, j, 0] = _commit(d, lprof[k, p, L_POSTI] if st[k, j, 4] != 0 else 0)
    # A1/A2: every axon's pre trace; its fired bit cleared
    for i in range(pm[P_A]):
        p = pre[k, i, 2] & msk
        d = _decay(pre[k, i, 0], lprof[k, p, L_PRED])
        pre[k, i, 0] = _commit(d, lprof[k, p, L_PREI] if pre[k, i, 1] != 0 else 0)
        pre[k, i, 1] = 0
    return n + pm[P_A] + 5 + walked


@inlined
def learn_start(k, cycle, lonly, cr, pm, st, syn, lm):
    """``start`` reaches idle learning core ``k`` in ``cycle`` (``lonly``: LEARN_FLUSH's
    learn_only). With ``pending`` the phase runs (and ``pending`` clears), then the update
    loop, or with ``lonly`` nothing: ``running`` falls the cycle after ``finish`` (after
    the start cycle when nothing is pending). Without either, the loop starts as on a
    core without learning."""
    cr[k, C_RUN] = 1
    if cr[k, C_PEND] != 0:
        fin = cycle + learn_phase(k, pm, st, syn, lm)
        cr[k, C_PEND] = 0
        cr[k, C_LEND] = fin
        cr[k, C_LPH] = 2 if lonly else 1
        cr[k, C_WAKE] = fin + 1 if lonly else fin
    elif lonly:
        cr[k, C_LEND] = -1
        cr[k, C_LPH] = 2
        cr[k, C_WAKE] = cycle + 1
    else:
        cr[k, C_A] = 0
        cr[k, C_U5NEED] = 0
        cr[k, C_WAKE] = -1
        cr[k, C_PEND] = 1


@inlined
def learn_wake(k, cr):
    """The end of core ``k``'s learning phase in its wake cycle: the update loop starts (as
    if started in this cycle; ``pending`` set again) or, after learn_only, running falls."""
    if cr[k, C_LPH] == 1:
        cr[k, C_A] = 0
        cr[k, C_U5NEED] = 0
        cr[k, C_PEND] = 1
    else:
        cr[k, C_RUN] = 0
    cr[k, C_LPH] = 0
    cr[k, C_WAKE] = -1


@inlined
def _walk_row(k, e, cr, pm, ax, syn, acc, lm):
    """The row of axon ``e`` as the walker takes it: every synapse added into its bank
    with the weight it has now, then each plastic one depressed with its target's post trace
    (S1..S4), and the axon's fired bit set."""
    lprof, pre, post, _rp, _rv = lm
    base = ax[k, e, 0]
    ln = ax[k, e, 1]
    exp = ax[k, e, 2]
    buf = (cr[k, C_PAR] + 1 + ax[k, e, 3]) & (pm[P_BANKS] - 1)
    bits = pm[P_ACCBITS]
    half = 1 << (bits - 1)
    mask = (1 << bits) - 1
    s_mask = pm[P_S] - 1
    msk = pm[P_LPMASK]
    for s in range(ln):
        addr = (base + s) & s_mask
        t = syn[k, addr, 0]
        w = syn[k, addr, 1]
        # modular accumulator of acc_bits (chip.md §4)
        acc[k, buf, t] = ((acc[k, buf, t] + (w << exp) + half) & mask) - half
        if syn[k, addr, 2] != 0:
            p = syn[k, addr, 3] & msk
            d = _decay(post[k, t, 0], lprof[k, p, L_POSTD])
            dw = _amplitude(lprof[k, p, L_AM], d, lprof[k, p, L_AMS])
            syn[k, addr, 1] = _depress(w, dw, lprof[k, p, L_WMIN])
    pre[k, e, 1] = 1


@inlined
def event_step_learn(k, cycle, cr, pm, ev_valid, ev_flit, ax, syn, acc, hc, lm):
    """One cycle of the event pipeline of learning core ``k`` (``_timed_core.event_step``
    with the hold of the learning phase, the row's work at ``ax_load`` and S3/S4); returns
    True when it took the event."""
    axv = cr[k, C_AXV]
    wcnt = cr[k, C_WCNT]
    hold = cr[k, C_LPH] != 0 and cycle <= cr[k, C_LEND]
    w_free = wcnt <= 1
    ax_load = axv != 0 and w_free and not hold
    take = ev_valid and (axv == 0 or w_free) and not hold
    if cr[k, C_S2V] != 0:  # S2 writes its synapse's sum: one SOP
        bump(hc, k, K_SOP, pm)
    if take:
        bump(hc, k, K_EV, pm)
    s1v = cr[k, C_S1V]
    cr[k, C_S4V] = cr[k, C_S3V]
    cr[k, C_S3V] = cr[k, C_S2P]
    cr[k, C_S2P] = 1 if (s1v != 0 and syn[k, cr[k, C_S1A], 2] != 0) else 0
    cr[k, C_S2V] = s1v
    cr[k, C_S1V] = 1 if wcnt != 0 else 0
    waddr = cr[k, C_WADDR]
    cr[k, C_S1A] = waddr
    cr[k, C_AXV] = 1 if (take or (axv != 0 and not ax_load)) else 0
    if ax_load:
        e = cr[k, C_AXIDX]
        _walk_row(k, e, cr, pm, ax, syn, acc, lm)
        cr[k, C_WCNT] = ax[k, e, 1]
        cr[k, C_WADDR] = ax[k, e, 0]
    elif wcnt != 0:
        cr[k, C_WCNT] = wcnt - 1
        cr[k, C_WADDR] = (waddr + 1) & (pm[P_S] - 1)
    if take:
        cr[k, C_AXIDX] = (ev_flit >> pm[P_PAY_OFF]) & pm[P_AXON_MASK]
    return take


@inlined
def _field_wide(lo, hi, fl, reg, f):
    """Field ``f`` of a word held as bits 0..61 (``lo``) and 62.. (``hi``)."""
    off = fl[reg, f, 0]
    width = fl[reg, f, 1]
    if off >= DATA_LO_BITS:
        v = hi >> (off - DATA_LO_BITS)
    else:
        v = lo >> off
        if off + width > DATA_LO_BITS:
            v |= hi << (DATA_LO_BITS - off)
    v &= (1 << width) - 1
    if fl[reg, f, 2] != 0 and (v >> (width - 1)) != 0:
        v -= 1 << width
    return v


@kernel
def learn_config_write(k, reg, i, data, data_hi, fl, st, lm):
    """A configuration write into learning region ``reg`` (8..12) of core ``k`` at index
    ``i`` (masked to the region's depth), ``data`` its bits 0..61 and ``data_hi`` the rest
    (a learning profile is 68 bits wide); other regions write nothing here."""
    lprof, pre, post, revptr, rev = lm
    if reg == R_LPROFILE:
        for f in range(len(PROFILE_COLUMNS)):
            lprof[k, i, f] = _field_wide(data, data_hi, fl, reg, f)
    elif reg == R_PRETRACE:  # x, fired, lprofile
        for f in range(3):
            pre[k, i, f] = _field(data, fl, reg, f)
    elif reg == R_POSTTRACE:  # x, fired (the state array's bit), lprofile
        post[k, i, 0] = _field(data, fl, reg, 0)
        st[k, i, 4] = _field(data, fl, reg, 1)
        post[k, i, 1] = _field(data, fl, reg, 2)
    elif reg == R_REVPTR:
        for f in range(2):
            revptr[k, i, f] = _field(data, fl, reg, f)
    elif reg == R_REVERSE:
        for f in range(2):
            rev[k, i, f] = _field(data, fl, reg, f)


@inlined
def _put(word, v, fl, reg, f):
    return word | ((v & ((1 << fl[reg, f, 1]) - 1)) << fl[reg, f, 0])


@kernel
def lread_word(k, addr, pm, fl, depth, syn, st, lm):
    """The word core ``k``'s o_lread offers for the read-back address ``addr``: a SYNAPSE,
    PRETRACE or POSTTRACE word (traces with their fired bits) packed in its region's layout,
    0 for any other region (``CoreLearning._lread_word``)."""
    _lp, pre, post, _rp, _rv = lm
    ib = pm[P_INDEX_BITS]
    reg = addr >> ib
    if reg != R_SYNAPSE and reg != R_PRETRACE and reg != R_POSTTRACE:
        return 0
    i = (addr & ((1 << ib) - 1)) & (depth[reg] - 1)
    w = 0
    if reg == R_SYNAPSE:
        for f in range(4):
            w = _put(w, syn[k, i, f], fl, reg, f)
    elif reg == R_PRETRACE:
        for f in range(3):
            w = _put(w, pre[k, i, f], fl, reg, f)
    else:
        w = _put(w, post[k, i, 0], fl, reg, 0)
        w = _put(w, st[k, i, 4], fl, reg, 1)
        w = _put(w, post[k, i, 1], fl, reg, 2)
    return w
