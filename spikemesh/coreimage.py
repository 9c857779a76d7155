"""The logical content of one neuron core's memories (chip.md §3, §4, §7).

A :class:`CoreImage` is what the firmware compiler produces for one tile and
what every core model consumes: the RTL loader packs it into configuration
writes (``spikemesh.layouts``), the TLM reads it directly. It holds values,
not bit-packed words, so it is the same for every model.

Semantics of the tables:

- neuron ``i`` uses parameter set ``profiles[profile_idx[i]]``
  (columns du, dv, vth, bias_mant, bias_exp, refractory, reset) and starts at
  ``u0[i]``, ``v0[i]``;
- an event for axon ``a`` emitted in tick t adds ``syn_weight[k] << axon_exp[a]`` to the
  input of tick t + ``axon_delay[a]`` of neuron ``syn_target[k]`` for every ``k`` in
  ``axon_base[a] .. axon_base[a] + axon_len[a] - 1`` (delays 1..``CoreConfig.max_delay``;
  all 1 on a chip without delays);
- when neuron ``i`` spikes, the core sends one SPIKE flit to
  ``(fan_x[k], fan_y[k])`` with payload ``fan_axon[k]`` for every ``k`` in
  ``fan_base[i] .. fan_base[i] + fan_len[i] - 1``, and, if ``host_out[i]``,
  one HOST_OUT flit to the host.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .config import (
    DELAY_RANGE,
    PARAM_RANGES,
    PROFILE_RANGES,
    STATE_RANGE,
    WEIGHT_EXP_RANGE,
    WEIGHT_RANGE,
    ChipConfig,
    CoreConfig,
)
from .errors import ImageError

PROFILE_COLUMNS = ("du", "dv", "vth", "bias_mant", "bias_exp", "refractory", "reset")
NPROF = len(PROFILE_COLUMNS)  # reset: 0 = zero, 1 = subtract (config.RESET_MODES)


@dataclass(eq=False, kw_only=True)
class CoreImage:
    profiles: np.ndarray  # [P, 7] (PROFILE_COLUMNS), P <= CoreConfig.profiles
    profile_idx: np.ndarray  # [neurons]
    u0: np.ndarray  # [neurons]
    v0: np.ndarray  # [neurons]
    axon_base: np.ndarray  # [axons]
    axon_len: np.ndarray  # [axons]
    axon_exp: np.ndarray  # [axons]
    syn_target: np.ndarray  # [S], S <= CoreConfig.synapses
    syn_weight: np.ndarray  # [S]
    fan_base: np.ndarray  # [neurons]
    fan_len: np.ndarray  # [neurons]
    fan_x: np.ndarray  # [F], F <= CoreConfig.fanout
    fan_y: np.ndarray  # [F]
    fan_axon: np.ndarray  # [F]
    host_out: np.ndarray  # [neurons], bool
    axon_delay: np.ndarray | None = None  # [axons], 1..max_delay; None = all 1

    def __post_init__(self):
        if self.axon_delay is None:
            self.axon_delay = np.ones(np.shape(self.axon_base), dtype=np.int64)

    ARRAYS = (
        "profiles",
        "profile_idx",
        "u0",
        "v0",
        "axon_base",
        "axon_len",
        "axon_exp",
        "syn_target",
        "syn_weight",
        "fan_base",
        "fan_len",
        "fan_x",
        "fan_y",
        "fan_axon",
        "host_out",
        "axon_delay",
    )

    @staticmethod
    def empty_profiles():
        """The profile table of a core without neurons: one set that never spikes on its own."""
        prof = np.zeros((1, NPROF), dtype=np.int64)
        prof[0, 2] = PARAM_RANGES["vth"][1]
        return prof

    @classmethod
    def empty(cls, core: CoreConfig) -> CoreImage:
        """A core with no synapses, no fan-out and one profile that never spikes on its own."""
        n, a = core.neurons, core.axons
        z = lambda k: np.zeros(k, dtype=np.int64)
        prof = np.zeros((1, NPROF), dtype=np.int64)
        prof[0, 2] = PARAM_RANGES["vth"][1]
        return cls(
            profiles=prof,
            profile_idx=z(n),
            u0=z(n),
            v0=z(n),
            axon_base=z(a),
            axon_len=z(a),
            axon_exp=z(a),
            syn_target=z(0),
            syn_weight=z(0),
            fan_base=z(n),
            fan_len=z(n),
            fan_x=z(0),
            fan_y=z(0),
            fan_axon=z(0),
            host_out=np.zeros(n, dtype=bool),
        )

    def __eq__(self, other):
        if not isinstance(other, CoreImage):
            return NotImplemented
        return all(np.array_equal(getattr(self, k), getattr(other, k)) for k in self.ARRAYS)

    def copy(self) -> CoreImage:
        return CoreImage(**{f.name: np.array(getattr(self, f.name)) for f in fields(self)})

    def check(self, chip: ChipConfig, where: str = "core") -> None:
        """Raise ImageError unless every table fits ``chip.core`` and every value its field."""
        c = chip.core

        def need(cond, msg):
            if not cond:
                raise ImageError(f"{where}: {msg}")

        def shape(name, n):
            arr = getattr(self, name)
            need(arr.shape == (n,), f"{name} has shape {arr.shape}, expected ({n},)")

        def rng(name, lo, hi):
            arr = np.asarray(getattr(self, name))
            if arr.size:
                need(
                    arr.min() >= lo and arr.max() <= hi,
                    f"{name} holds {int(arr.min())}..{int(arr.max())}, the field holds {lo}..{hi}",
                )

        n, a = c.neurons, c.axons
        need(
            self.profiles.ndim == 2 and self.profiles.shape[1] == NPROF,
            f"profiles has shape {self.profiles.shape}, expected (P, {NPROF}): columns "
            + ", ".join(PROFILE_COLUMNS),
        )
        p = self.profiles.shape[0]
        need(1 <= p <= c.profiles, f"needs {p} neuron profiles, the core holds {c.profiles}")
        for k, col in enumerate(PROFILE_COLUMNS):
            lo, hi = PROFILE_RANGES[col]
            need(
                self.profiles[:, k].min() >= lo and self.profiles[:, k].max() <= hi,
                f"profile column {col} outside {lo}..{hi}",
            )
        for name in ("profile_idx", "u0", "v0", "fan_base", "fan_len", "host_out"):
            shape(name, n)
        for name in ("axon_base", "axon_len", "axon_exp", "axon_delay"):
            shape(name, a)
        s, f = self.syn_target.size, self.fan_x.size
        need(s <= c.synapses, f"needs {s:,} synapses, the core holds {c.synapses:,}")
        need(f <= c.fanout, f"needs {f:,} fan-out entries, the core holds {c.fanout:,}")
        shape("syn_weight", s)
        shape("fan_y", f)
        shape("fan_axon", f)
        rng("profile_idx", 0, p - 1)
        rng("u0", *STATE_RANGE)
        rng("v0", *STATE_RANGE)
        rng("axon_exp", *WEIGHT_EXP_RANGE)
        lo, hi = self.axon_delay.min(initial=1), self.axon_delay.max(initial=1)
        need(
            lo >= DELAY_RANGE[0] and hi <= c.max_delay,
            f"axon_delay holds {int(lo)}..{int(hi)}, the core's delays are 1..{c.max_delay} "
            "(CoreConfig.max_delay)",
        )
        rng("syn_weight", *WEIGHT_RANGE)
        rng("syn_target", 0, n - 1)
        rng("fan_x", 0, chip.width - 1)
        rng("fan_y", 0, chip.height - 1)
        rng("fan_axon", 0, a - 1)
        rng("axon_len", 0, c.synapses)
        rng("fan_len", 0, c.fanout)
        end = self.axon_base + self.axon_len
        need(
            not np.any((self.axon_len > 0) & ((self.axon_base < 0) | (end > s))),
            "an axon row runs outside synapse memory",
        )
        end = self.fan_base + self.fan_len
        need(
            not np.any((self.fan_len > 0) & ((self.fan_base < 0) | (end > f))),
            "a fan-out list runs outside fan-out memory",
        )


# --- learning (docs/learning.md "In the image") ----------------------------------------------

LEARN_ARRAYS = (
    "learn_profiles",
    "axon_learn",
    "post_learn",
    "rev_base",
    "rev_len",
    "rev_syn",
    "rev_axon",
)


@dataclass(eq=False, kw_only=True)
class CoreLearning:
    """One core's learning tables (only in images of plastic networks).

    - ``learn_profiles`` [L, 10]: STDP profiles (``plasticity.PROFILE_COLUMNS``),
      L <= ``plasticity.LEARN_PROFILES``;
    - ``axon_learn[a]``: 0 for a fixed row, else 1 + the profile of every synapse in axon
      a's row (depression on the axon's events) and of the axon's pre trace;
    - ``post_learn[i]``: 0, or 1 + the profile whose post trace neuron i keeps;
    - the reverse index: neuron i's plastic incoming synapses are the synapse addresses
      ``rev_syn[rev_base[i] : rev_base[i] + rev_len[i]]``, of the axons ``rev_axon[...]``,
      walked when i spikes (potentiation); built by ``layouts.reverse_tables``, the
      learning core's own builder (a row in axon order, then address; an empty row's base
      is 0), and written to the core unchanged by ``layouts.learning_writes``.
    """

    learn_profiles: np.ndarray
    axon_learn: np.ndarray
    post_learn: np.ndarray
    rev_base: np.ndarray
    rev_len: np.ndarray
    rev_syn: np.ndarray
    rev_axon: np.ndarray

    def __eq__(self, other):
        if not isinstance(other, CoreLearning):
            return NotImplemented
        return all(np.array_equal(getattr(self, k), getattr(other, k)) for k in LEARN_ARRAYS)

    def check(self, img: CoreImage, chip: ChipConfig, where: str = "core") -> None:
        """Raise ImageError unless the tables fit the core image ``img`` and their fields."""
        from .plasticity import LEARN_PROFILES, PROFILE_COLUMNS, PROFILE_RANGES

        c = chip.core

        def need(cond, msg):
            if not cond:
                raise ImageError(f"{where}: {msg}")

        prof = np.asarray(self.learn_profiles)
        ncol = len(PROFILE_COLUMNS)
        need(
            prof.ndim == 2 and prof.shape[1] == ncol,
            f"learn_profiles has shape {prof.shape}, expected (L, {ncol})",
        )
        n_prof = prof.shape[0]
        need(
            n_prof <= LEARN_PROFILES, f"needs {n_prof} learning profiles, at most {LEARN_PROFILES}"
        )
        for k, col in enumerate(PROFILE_COLUMNS):
            lo, hi = PROFILE_RANGES[col]
            need(
                n_prof == 0 or (prof[:, k].min() >= lo and prof[:, k].max() <= hi),
                f"learning profile column {col} outside {lo}..{hi}",
            )
        need(n_prof == 0 or bool(np.all(prof[:, 8] <= prof[:, 9])), "a profile has w_min > w_max")
        n, a, s = c.neurons, c.axons, img.syn_target.size
        for name, size in (
            ("axon_learn", a),
            ("post_learn", n),
            ("rev_base", n),
            ("rev_len", n),
            ("rev_axon", np.asarray(self.rev_syn).size),
        ):
            arr = np.asarray(getattr(self, name))
            need(arr.shape == (size,), f"{name} has shape {arr.shape}, expected ({size},)")
        for name in ("axon_learn", "post_learn"):
            arr = np.asarray(getattr(self, name))
            need(
                arr.size == 0 or (arr.min() >= 0 and arr.max() <= n_prof),
                f"{name} names a learning profile outside 1..{n_prof}",
            )
        al = np.asarray(self.axon_learn, dtype=np.int64)
        syn_axon = np.full(s, -1, dtype=np.int64)  # the axon whose row holds each synapse
        rows = np.flatnonzero(np.asarray(img.axon_len) > 0)
        for x in rows:
            syn_axon[img.axon_base[x] : img.axon_base[x] + img.axon_len[x]] = x
        plastic = (syn_axon >= 0) & (al[np.maximum(syn_axon, 0)] > 0)
        rs, ra = np.asarray(self.rev_syn, np.int64), np.asarray(self.rev_axon, np.int64)
        need(
            rs.size == int(plastic.sum()),
            "the reverse index does not list every plastic synapse once",
        )
        if rs.size:
            need(rs.min() >= 0 and rs.max() < s, "rev_syn points outside synapse memory")
            need(
                np.array_equal(np.sort(rs), np.flatnonzero(plastic)),
                "the reverse index does not list every plastic synapse once",
            )
            need(np.array_equal(syn_axon[rs], ra), "rev_axon is not the axon of rev_syn")
            owner = np.repeat(np.arange(n), np.asarray(self.rev_len, np.int64))
            base, ln = np.asarray(self.rev_base, np.int64), np.asarray(self.rev_len, np.int64)
            need(
                owner.size == rs.size
                and np.array_equal(
                    np.argsort(base[ln > 0], kind="stable"), np.arange(int((ln > 0).sum()))
                )
                and np.all(base[ln > 0] + ln[ln > 0] <= rs.size),
                "reverse-index rows are inconsistent",
            )
            tgt = np.asarray(img.syn_target, np.int64)[rs[_rev_positions(base, ln)]]
            need(
                np.array_equal(tgt, owner), "a reverse-index row lists a synapse of another neuron"
            )
            f = al[ra] - 1
            w = np.asarray(img.syn_weight, np.int64)[rs]
            need(
                bool(np.all((w >= prof[f, 8]) & (w <= prof[f, 9]))),
                "a plastic weight lies outside its profile's w_min..w_max",
            )


def _rev_positions(base, length):
    """Positions rev_base[i] .. + rev_len[i] - 1 for every neuron i in order."""
    owner = np.repeat(np.arange(length.size), length)
    first = np.cumsum(length) - length
    return base[owner] + (np.arange(owner.size) - first[owner])
