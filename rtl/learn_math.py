"""The STDP rule's integer arithmetic as Amaranth expressions (docs/learning.md "The rule").

The one definition of the rule is ``spikemesh/plasticity.py`` (numpy); these are its
hardware form, used by the event pipeline (depression) and the learning unit
(potentiation, trace commit), split into pipeline stages of one step each: the decay
product ``decayed``, the amplitude product ``amplitude``, then the add and clamp. The twins
use ``sim/core_learn.py``'s scalar forms of the same plasticity functions.
"""

from __future__ import annotations

from amaranth.hdl import Mux, Signal, signed

from spikemesh.plasticity import DECAY_BITS, TRACE_MAX

__all__ = ["amplitude", "decayed", "depress", "potentiate", "saturate"]


def decayed(x, decay):
    """D = (X * decay) >> 8 (X >= 0: floor)."""
    return (x * decay) >> DECAY_BITS


def amplitude(a, d, shift):
    """dw = (a * D) >> shift (14 bits)."""
    return (a * d) >> shift


def depress(m, w, dw, w_min):
    """max(w - dw, w_min)."""
    wn = Signal(signed(17))
    m.d.comb += wn.eq(w - dw)
    return Mux(wn < w_min, w_min, wn)


def potentiate(m, w, dw, w_max):
    """min(w + dw, w_max)."""
    wn = Signal(signed(17))
    m.d.comb += wn.eq(w + dw)
    return Mux(wn > w_max, w_max, wn)


def saturate(x):
    """min(x, 127): the stored trace."""
    return Mux(x > TRACE_MAX, TRACE_MAX, x)
