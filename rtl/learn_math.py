"""The STDP rule's integer arithmetic as Amaranth expressions (docs/learning.md "The rule").

The one definition of the rule is ``spikemesh/plasticity.py`` (numpy); these are its
hardware form, used by the event pipeline (depression) and the learning unit
(potentiation, trace commit). The twins use ``sim/core_learn.py``'s scalar forms of
the same plasticity functions.
"""

from __future__ import annotations

from amaranth.hdl import Mux, Signal, signed

from spikemesh.plasticity import DECAY_BITS, TRACE_MAX

__all__ = ["commit", "decayed", "depress", "potentiate"]


def decayed(x, decay):
    """D = (X * decay) >> 8 (X >= 0: floor)."""
    return (x * decay) >> DECAY_BITS


def depress(m, w, x_post, lp):
    """max(w - ((a_minus * D_post) >> a_minus_shift), w_min), D_post from ``lp.post_decay``."""
    dw = (lp.a_minus * decayed(x_post, lp.post_decay)) >> lp.a_minus_shift
    wn = Signal(signed(17))
    m.d.comb += wn.eq(w - dw)
    return Mux(wn < lp.w_min, lp.w_min, wn)


def potentiate(m, w, x_pre, lp):
    """min(w + ((a_plus * D_pre) >> a_plus_shift), w_max), D_pre from ``lp.pre_decay``."""
    dw = (lp.a_plus * decayed(x_pre, lp.pre_decay)) >> lp.a_plus_shift
    wn = Signal(signed(17))
    m.d.comb += wn.eq(w + dw)
    return Mux(wn > lp.w_max, lp.w_max, wn)


def commit(x, fired, inc, decay):
    """X = min(D + inc * fired, 127)."""
    xn = decayed(x, decay) + Mux(fired, inc, 0)
    return Mux(xn > TRACE_MAX, TRACE_MAX, xn)
