"""The neuron core's memory words as the twins hold them: named tuples with the fields of
``spikemesh.layouts`` (same names, same order; ``tests/sim/test_core.py`` checks it).

A memory of ``sim/core.py::CoreModel`` is a list of these words, a read port's data
register holds one, and the components' twins read their fields by name, as the RTL
reads ``state_rp.data.u``. The accumulator memories hold plain ints (AccWord's only
field, ``a``).
"""

from __future__ import annotations

from typing import NamedTuple

from spikemesh.layouts import Region

__all__ = [
    "WORDS",
    "AxonWord",
    "FanPtrWord",
    "FanoutWord",
    "LearnProfileWord",
    "NeuronWord",
    "PostTraceWord",
    "PreTraceWord",
    "ProfileWord",
    "RevPtrWord",
    "ReverseWord",
    "Spike",
    "SynapseWord",
]


class NeuronWord(NamedTuple):
    u: int
    v: int
    ref: int
    profile: int


class ProfileWord(NamedTuple):
    du: int
    dv: int
    vth: int
    bias_mant: int
    bias_exp: int
    refractory: int
    reset: int = 0  # 0 = zero, 1 = subtract


class AxonWord(NamedTuple):
    base: int
    len: int
    exp: int
    delay: int = 0  # d - 1; a field of the layout only on a core with delays (max_delay > 1)


class SynapseWord(NamedTuple):
    target: int
    weight: int
    plastic: int = 0  # plastic and lprofile: fields of the layout only on a learning core
    lprofile: int = 0


class LearnProfileWord(NamedTuple):
    a_plus: int
    a_plus_shift: int
    a_minus: int
    a_minus_shift: int
    pre_inc: int
    pre_decay: int
    post_inc: int
    post_decay: int
    w_min: int
    w_max: int


class PreTraceWord(NamedTuple):
    x: int
    fired: int
    lprofile: int


class PostTraceWord(NamedTuple):
    x: int
    fired: int
    lprofile: int


class RevPtrWord(NamedTuple):
    base: int
    len: int


class ReverseWord(NamedTuple):
    synapse: int
    axon: int


class FanPtrWord(NamedTuple):
    base: int
    len: int
    host_out: int


class FanoutWord(NamedTuple):
    x: int
    y: int
    axon: int


class Spike(NamedTuple):
    """``o_spike``/``i_spike`` payload between the update pipeline and the fan-out unit
    (``rtl/core_ports.py::spike_layout``)."""

    neuron: int
    fanptr: FanPtrWord


# The word of each memory region (the ACC region's words are ints).
WORDS = {
    Region.NEURON: NeuronWord,
    Region.PROFILE: ProfileWord,
    Region.AXON: AxonWord,
    Region.SYNAPSE: SynapseWord,
    Region.FANPTR: FanPtrWord,
    Region.FANOUT: FanoutWord,
    Region.LPROFILE: LearnProfileWord,
    Region.PRETRACE: PreTraceWord,
    Region.POSTTRACE: PostTraceWord,
    Region.REVPTR: RevPtrWord,
    Region.REVERSE: ReverseWord,
}
