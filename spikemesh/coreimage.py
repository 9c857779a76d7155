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
