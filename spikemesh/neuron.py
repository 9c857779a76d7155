r"""The neuron arithmetic of chip.md §3, vectorised over numpy int64 arrays.

This is the definition every model follows; the golden reference and the TLM
call it, and tests check it against an independent scalar implementation.
"""

from __future__ import annotations

import numpy as np

from .config import ACC_SHIFT, DECAY_SHIFT, STATE_BITS, VTH_SHIFT

_STATE_MOD = 1 << STATE_BITS
_STATE_HALF = 1 << (STATE_BITS - 1)
SAT_MAX = _STATE_HALF - 1  # v saturates symmetrically at +-(2^23 - 1)
DECAY_ONE = 1 << DECAY_SHIFT  # 4096: "1.0" of the 12-bit decay factors


def shr_toward_zero(x):
    """T(x) = sign(x) * (|x| >> 12): a 12-bit product shift that rounds toward zero.

    Loihi (and Lava's bit-accurate LIF) truncate the magnitude, so a negative
    current decays exactly like a positive one; a plain arithmetic shift
    would round toward minus infinity and drift negative values down.
    """
    x = np.asarray(x, dtype=np.int64)
    return np.sign(x) * (np.abs(x) >> DECAY_SHIFT)


def wrap(x, bits):
    """x reduced to ``bits``-bit two's complement (true modular arithmetic)."""
    x = np.asarray(x, dtype=np.int64)
    half = np.int64(1) << (bits - 1)
    return ((x + half) & ((np.int64(1) << bits) - 1)) - half


def wrap24(x):
    return wrap(x, STATE_BITS)


def sat24(x):
    return np.clip(np.asarray(x, dtype=np.int64), -SAT_MAX, SAT_MAX)


def lif_update(u, v, ref, a, params):
    """One tick of chip.md §3 for a vector of neurons.

    Parameters
    ----------
    u, v, ref : ndarray of int64
        State before the tick (not modified).
    a : ndarray of int64
        Accumulated synaptic input for this tick (already wrapped to ACC_BITS).
    params : ndarray [n, 7] of int64
        du, dv, vth, bias_mant, bias_exp, refractory, reset per neuron (reset 0 = zero:
        v <- 0 after a spike; 1 = subtract: v <- v - (vth << 6)).

    Returns
    -------
    u, v, ref, spike : new state and a boolean spike vector.
    """
    du, dv, vth, bias_mant, bias_exp, refractory = (params[:, k] for k in range(6))
    # A table of 6 columns (before reset modes) is all reset = zero.
    reset = params[:, 6] if params.shape[1] > 6 else np.zeros_like(vth)
    # The input enters u scaled by 2^6 (Loihi's weight scaling); u wraps, it
    # does not saturate (chip.md §3).
    u = wrap24(shr_toward_zero(u * (DECAY_ONE - (du + 1))) + (a << ACC_SHIFT))
    in_ref = ref > 0
    v_new = sat24(shr_toward_zero(v * (DECAY_ONE - dv)) + u + (bias_mant << bias_exp))
    thr = vth << VTH_SHIFT
    spike = ~in_ref & (v_new > thr)  # strictly greater
    # A spike leaves 0 (reset zero) or v_new - thr (reset subtract: 1..SAT_MAX - thr,
    # never saturates); a refractory tick holds 0 in both modes.
    v = np.where(in_ref, 0, np.where(spike, np.where(reset != 0, v_new - thr, 0), v_new))
    ref = np.where(in_ref, ref - 1, np.where(spike, refractory, 0))
    return u, v, ref, spike
