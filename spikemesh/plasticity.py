"""On-chip learning: pair-based STDP with 7-bit integer traces (docs/learning.md).

This module is the one source of truth for the rule's widths and ranges and holds the
rule itself as numpy (:func:`stdp_tick`), which the golden reference runs; the functional
TLM (sim/_fast_stdp.py) must agree with it bit for bit.

The rule, per tick t (docs/learning.md "The rule" has the hand-computed examples):

1. every trace is read as ``D(t) = (X(t-1) * decay) >> 8`` (floor; X >= 0), where ``X`` is
   the stored trace (0..127) and ``decay`` the profile's 8-bit multiplier;
2. the neurons update (chip.md §3), giving the post spikes of t; the events of t are the
   neurons that fired at t and the inputs stamped t, delivered with the weights as they
   stand before this tick's learning;
3. depression, once per synapse whose presynaptic element fired at t:
   ``w = max(w - ((a_minus * D_post[post]) >> a_minus_shift), w_min)``;
4. potentiation, once per synapse whose postsynaptic neuron fired at t, after every
   depression of the tick: ``w = min(w + ((a_plus * D_pre[pre]) >> a_plus_shift), w_max)``;
5. ``X(t) = min(D(t) + inc * spiked(t), 127)``, for pre and post traces alike.

Every read in tick t sees values fixed before the tick started, and each synapse gets at
most one depression and then at most one potentiation per tick, so the result never
depends on the order in which events arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .config import WEIGHT_RANGE
from .errors import NetworkError

TRACE_BITS = 7  # stored trace, unsigned, saturating
TRACE_MAX = (1 << TRACE_BITS) - 1
DECAY_BITS = 8  # trace multiplier: x * decay >> 8 per tick
AMP_BITS = 7  # A+ / A- mantissa, unsigned
SHIFT_BITS = 4  # A+ / A- shift

RULES = ("stdp",)

# Learning profile fields and their inclusive ranges (w_min / w_max: the 8-bit weight).
PROFILE_RANGES = {
    "a_plus": (0, (1 << AMP_BITS) - 1),
    "a_plus_shift": (0, (1 << SHIFT_BITS) - 1),
    "a_minus": (0, (1 << AMP_BITS) - 1),
    "a_minus_shift": (0, (1 << SHIFT_BITS) - 1),
    "pre_inc": (0, TRACE_MAX),
    "pre_decay": (0, (1 << DECAY_BITS) - 1),
    "post_inc": (0, TRACE_MAX),
    "post_decay": (0, (1 << DECAY_BITS) - 1),
    "w_min": WEIGHT_RANGE,
    "w_max": WEIGHT_RANGE,
}
PLASTICITY_KEYS = ("rule", *PROFILE_RANGES)
# The columns of a profile table row, as every model stores it.
PROFILE_COLUMNS = tuple(PROFILE_RANGES)


def _err(key, message):
    e = NetworkError(message)
    e.key = key
    return e


@dataclass(frozen=True, kw_only=True)
class LearningProfile:
    """One STDP parameter set; a plastic projection has one (docs/learning.md).

    Parameters
    ----------
    a_plus, a_plus_shift : int
        Potentiation on a post spike: ``dw = (a_plus * D_pre) >> a_plus_shift``
        (0..127, 0..15).
    a_minus, a_minus_shift : int
        Depression on a pre event: ``dw = (a_minus * D_post) >> a_minus_shift``.
    pre_inc, post_inc : int
        Added to the trace on a spike, saturating at 127 (0..127).
    pre_decay, post_decay : int
        Trace multiplier per tick: ``x -> (x * decay) >> 8`` (0..255; tau ~ -1/ln(decay/256)).
    w_min, w_max : int
        Weight bounds within -128..127, ``w_min <= w_max``; every weight of the
        projection must start inside them.
    """

    a_plus: int = 16
    a_plus_shift: int = 4
    a_minus: int = 16
    a_minus_shift: int = 4
    pre_inc: int = 64
    pre_decay: int = 224
    post_inc: int = 64
    post_decay: int = 224
    w_min: int = 0
    w_max: int = 127

    def __post_init__(self):
        for f in fields(self):
            lo, hi = PROFILE_RANGES[f.name]
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise _err(f.name, f"plasticity {f.name} must be an integer, not {v!r}")
            if not lo <= v <= hi:
                raise _err(f.name, f"plasticity {f.name} must be between {lo} and {hi}, not {v}")
        if self.w_min > self.w_max:
            raise _err("w_max", f"plasticity w_max ({self.w_max}) must be >= w_min ({self.w_min})")

    def row(self) -> tuple[int, ...]:
        """The profile as integers in the order of :data:`PROFILE_COLUMNS`."""
        return tuple(int(getattr(self, k)) for k in PROFILE_COLUMNS)

    def to_dict(self) -> dict:
        return {"rule": "stdp", **dict(zip(PROFILE_COLUMNS, self.row(), strict=True))}

    @classmethod
    def from_spec(cls, spec) -> LearningProfile:
        """A profile from a ``plasticity:`` mapping (or a profile); errors name the key."""
        if isinstance(spec, LearningProfile):
            return spec
        if not isinstance(spec, dict):
            raise NetworkError(
                f"plasticity must be a mapping of {', '.join(PLASTICITY_KEYS)}, "
                f"not {type(spec).__name__}"
            )
        unknown = [k for k in spec if k not in PLASTICITY_KEYS]
        if unknown:
            raise _err(
                str(unknown[0]),
                f"unknown plasticity key(s) {', '.join(map(str, unknown))}; "
                f"known keys are {', '.join(PLASTICITY_KEYS)}",
            )
        rule = spec.get("rule", "stdp")
        if rule not in RULES:
            raise _err("rule", f"plasticity rule must be one of {', '.join(RULES)}, not {rule!r}")
        return cls(**{k: v for k, v in spec.items() if k != "rule"})


@dataclass
class PlasticArrays:
    """A network's learning state in flat form, shared by the golden reference and the TLM.

    Members
    -------
    plastic : bool [M]
        Per synapse (order of ``Network.synapse_arrays``), whether it learns.
    profile : int64 [M, 10]
        Per synapse, its projection's profile row (zeros where not plastic).
    pre_inc, pre_decay : int64 [N + S]
        Pre trace parameters per presynaptic id (0 where it feeds no plastic synapse).
    post_inc, post_decay : int64 [N]
        Post trace parameters per neuron (0 where no plastic synapse ends on it).
    """

    plastic: np.ndarray
    profile: np.ndarray
    pre_inc: np.ndarray
    pre_decay: np.ndarray
    post_inc: np.ndarray
    post_decay: np.ndarray


def plastic_arrays(net) -> PlasticArrays:
    """The :class:`PlasticArrays` of ``net`` (a :class:`~spikemesh.network.Network`)."""
    n, s = net.num_neurons, net.num_sources
    m = net.num_synapses
    plastic = np.zeros(m, dtype=bool)
    profile = np.zeros((m, len(PROFILE_COLUMNS)), dtype=np.int64)
    pre_inc = np.zeros(n + s, dtype=np.int64)
    pre_decay = np.zeros(n + s, dtype=np.int64)
    post_inc = np.zeros(n, dtype=np.int64)
    post_decay = np.zeros(n, dtype=np.int64)
    k = 0
    for proj in net.projections:
        size = len(proj)
        lp = proj.plasticity
        if lp is not None:
            plastic[k : k + size] = True
            profile[k : k + size] = lp.row()
            pre = net[proj.pre]
            lo = net.pre_base(proj)
            pre_inc[lo : lo + pre.size] = lp.pre_inc
            pre_decay[lo : lo + pre.size] = lp.pre_decay
            post = net[proj.post]
            post_inc[post.offset : post.offset + post.size] = lp.post_inc
            post_decay[post.offset : post.offset + post.size] = lp.post_decay
        k += size
    return PlasticArrays(plastic, profile, pre_inc, pre_decay, post_inc, post_decay)


def check_shared_traces(net, proj, where):
    """Refuse a plastic projection whose trace parameters differ from another plastic
    projection's on the same presynaptic element or postsynaptic population: a trace is
    kept once per presynaptic id and once per neuron (docs/learning.md "State")."""
    lp = proj.plasticity
    for other in net.projections:
        olp = other.plasticity
        if other is proj or olp is None:
            continue
        if other.pre == proj.pre and (olp.pre_inc, olp.pre_decay) != (lp.pre_inc, lp.pre_decay):
            raise _err(
                "pre_decay" if olp.pre_decay != lp.pre_decay else "pre_inc",
                f"{where}: pre trace (pre_inc {lp.pre_inc}, pre_decay {lp.pre_decay}) differs "
                f"from the plastic projection {other.pre!r} -> {other.post!r} "
                f"({olp.pre_inc}, {olp.pre_decay}); one trace is kept per presynaptic element",
            )
        if other.post == proj.post and (olp.post_inc, olp.post_decay) != (
            lp.post_inc,
            lp.post_decay,
        ):
            raise _err(
                "post_decay" if olp.post_decay != lp.post_decay else "post_inc",
                f"{where}: post trace (post_inc {lp.post_inc}, post_decay {lp.post_decay}) "
                f"differs from the plastic projection {other.pre!r} -> {other.post!r} "
                f"({olp.post_inc}, {olp.post_decay}); one trace is kept per neuron",
            )
    w = proj.weight
    if w.size and (int(w.min()) < lp.w_min or int(w.max()) > lp.w_max):
        bad = int(np.flatnonzero((w < lp.w_min) | (w > lp.w_max))[0])
        raise _err(
            "w_min" if int(w[bad]) < lp.w_min else "w_max",
            f"{where}: weight[{bad}] = {int(w[bad])} is outside the plasticity bounds "
            f"w_min..w_max = {lp.w_min}..{lp.w_max}",
        )


# --- the rule (the executable definition) -------------------------------------------------


def decay_trace(x, decay):
    """D = (X * decay) >> 8: the trace as read in a tick (X >= 0, so floor = toward zero)."""
    return (x * decay) >> DECAY_BITS


def commit_trace(d, inc, spiked):
    """X = min(D + inc * spiked, 127): the trace stored at the end of a tick."""
    return np.minimum(d + inc * spiked, TRACE_MAX)


def stdp_tick(w, pre, post, pa: PlasticArrays, d_pre, d_post, fired, spk):
    """Steps 3 and 4 of the rule, in place on the weights ``w`` (int64 [M]).

    ``d_pre`` / ``d_post`` are the traces as read in this tick, ``fired`` the presynaptic
    ids that fired (neurons then inputs), ``spk`` the neurons that fired.
    """
    a_p, s_p, a_m, s_m = (pa.profile[:, i] for i in range(4))
    w_lo, w_hi = pa.profile[:, 8], pa.profile[:, 9]
    dep = pa.plastic & fired[pre]  # one depression per synapse whose pre fired
    w[dep] = np.maximum(w[dep] - ((a_m[dep] * d_post[post[dep]]) >> s_m[dep]), w_lo[dep])
    pot = pa.plastic & spk[post]  # then one potentiation per synapse whose post fired
    w[pot] = np.minimum(w[pot] + ((a_p[pot] * d_pre[pre[pot]]) >> s_p[pot]), w_hi[pot])


def projection_label(net, k) -> str:
    """``"k:pre->post"``: how saved results name projection ``k``'s weights."""
    p = net.projections[k]
    return f"{k}:{p.pre}->{p.post}"


def learned_extra(net, w, x_pre, x_post) -> dict:
    """What a plastic run adds to ``Result.extra``: the final weights of every projection
    (int8, synapse order of the projection), their labels, and the stored traces."""
    weights, k = [], 0
    for proj in net.projections:
        weights.append(np.asarray(w[k : k + len(proj)]).astype(np.int8))
        k += len(proj)
    return {
        "weights": weights,
        "weight_labels": [projection_label(net, i) for i in range(len(net.projections))],
        "pre_trace": np.asarray(x_pre).astype(np.uint8),
        "post_trace": np.asarray(x_post).astype(np.uint8),
    }
