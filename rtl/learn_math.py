"""The STDP rule's integer arithmetic as Amaranth expressions (docs/learning.md "The rule").

The one definition of the rule is ``spikemesh/plasticity.py`` (numpy); these are its
hardware form, used by the event pipeline (depression) and the learning unit
(potentiation, trace commit), each split in two pipeline stages: the decay product
``decayed`` in the first, the rest in the second (one multiplier per stage). The twins
use ``sim/core_learn.py``'s scalar forms of the same plasticity functions.
"""

from __future__ import annotations

from amaranth.hdl import Mux, Signal, signed

from spikemesh.plasticity import DECAY_BITS, TRACE_MAX

__all__ = ["decayed", "depress", "potentiate", "saturate"]


def decayed(x, decay):
    """D = (X * decay) >> 8 (X >= 0: floor)."""
    return (x * decay) >> DECAY_BITS


def depress(m, w, d_post, a_minus, shift, w_min):
    """max(w - ((a_minus * D_post) >> shift), w_min), with D_post already decayed."""
    wn = Signal(signed(17))
    m.d.comb += wn.eq(w - ((a_minus * d_post) >> shift))
    return Mux(wn < w_min, w_min, wn)


def potentiate(m, w, d_pre, a_plus, shift, w_max):
    """min(w + ((a_plus * D_pre) >> shift), w_max), with D_pre already decayed."""
    wn = Signal(signed(17))
    m.d.comb += wn.eq(w + ((a_plus * d_pre) >> shift))
    return Mux(wn > w_max, w_max, wn)


def saturate(x):
    """min(x, 127): the stored trace."""
    return Mux(x > TRACE_MAX, TRACE_MAX, x)
