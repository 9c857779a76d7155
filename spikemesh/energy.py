"""Energy and latency from activity counters and a per-operation energy profile.

A profile (a named, versioned YAML file, docs/energy.md) gives the energy of each counted
operation, a static power and a clock::

    energy per tick = synapses + neurons + routing + static
      synapses = sop * sops + event * events
      neurons  = neuron_update * neuron_updates + spike * spikes
      routing  = flit * (flits injected by cores + by the host link)
                 + hop_ew * (E + W link traversals) + hop_ns * (N + S link traversals)
      static   = (static per tile * tiles + fixed static) * latency of the tick
    latency of a tick = cycles of the tick / clock

Cycles come from the timed models and the RTL only, so latency, static energy and the
energy-delay product exist only for their runs; the dynamic components exist for every run.
Built-in profiles live in ``spikemesh/energy_profiles/`` (:func:`builtin_profiles`); a
user's own file is validated with errors that name the key, the value and the rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from .counters import Counters
from .errors import SpikemeshError

# Per-operation energies of a profile, in picojoules, and what each multiplies.
ENERGY_KEYS = {
    "sop": "per synaptic operation (counter sops)",
    "event": "per axon event accepted by a core: axon-table read (counter events)",
    "neuron_update": "per neuron update, every slot every tick (counter neuron_updates)",
    "spike": "extra per neuron that spikes (counter spikes)",
    "flit": "per flit entering the mesh, from a core or the host link",
    "hop_ew": "per flit crossing an East-West link (the host link included)",
    "hop_ns": "per flit crossing a North-South link",
}
STATIC_KEYS = {
    "per_tile": "static power of each tile (core + router), mW",
    "fixed": "static power independent of the mesh size (host link, device), mW",
}
REQUIRED = ("name", "version", "clock_mhz", "energy_pj", "static_mw")
TEXT_KEYS = ("description", "kind", "citation", "notes")
COMPONENTS = ("synapses", "neurons", "routing", "static")
PROFILE_DIR = "energy_profiles"


class EnergyProfileError(SpikemeshError, ValueError):
    """An energy profile is missing, malformed or out of range."""


@dataclass(frozen=True, kw_only=True)
class EnergyProfile:
    """Per-operation energies (pJ), static power (mW) and clock (MHz) of one technology.

    Members
    -------
    name, version : str, int
    clock_mhz : float
        Clock that turns cycle counts into seconds.
    energy_pj : dict
        One entry per :data:`ENERGY_KEYS` key, >= 0.
    static_mw : dict
        ``per_tile`` and ``fixed``, >= 0.
    description, kind, citation, notes : str
        Where the numbers come from (kind: "published" or "estimate").
    """

    name: str
    version: int
    clock_mhz: float
    energy_pj: dict
    static_mw: dict
    description: str = ""
    kind: str = ""
    citation: str = ""
    notes: str = ""
    path: str = field(default="", compare=False)

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    @classmethod
    def from_dict(cls, data, *, where="energy profile") -> EnergyProfile:
        """Validate a parsed YAML mapping; every error names ``where`` and the key."""

        def fail(msg):
            raise EnergyProfileError(f"{where}: {msg}")

        if not isinstance(data, dict):
            fail(f"must be a mapping of keys, not {type(data).__name__}")
        known = REQUIRED + TEXT_KEYS
        unknown = sorted(map(str, set(data) - set(known)))
        if unknown:
            fail(f"unknown key(s) {', '.join(unknown)}; known keys are {', '.join(known)}")
        missing = [k for k in REQUIRED if k not in data]
        if "clock_mhz" in missing:
            fail("missing clock_mhz (the clock in MHz that turns cycles into seconds)")
        if missing:
            fail(f"missing key(s) {', '.join(missing)}")
        name = data["name"]
        if not isinstance(name, str) or not name.strip():
            fail(f"name must be a non-empty string, not {name!r}")
        version = data["version"]
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            fail(f"version must be a positive integer, not {version!r}")
        clock = _number(data["clock_mhz"], "clock_mhz", fail)
        if clock <= 0:
            fail(f"clock_mhz must be positive, not {clock}")
        energy = _table(data["energy_pj"], "energy_pj", ENERGY_KEYS, "pJ", fail)
        static = _table(data["static_mw"], "static_mw", STATIC_KEYS, "mW", fail)
        text = {}
        for k in TEXT_KEYS:
            v = data.get(k, "")
            if not isinstance(v, str):
                fail(f"{k} must be text, not {type(v).__name__}")
            text[k] = v.strip()
        return cls(
            name=name.strip(),
            version=version,
            clock_mhz=clock,
            energy_pj=energy,
            static_mw=static,
            **text,
        )

    @classmethod
    def from_yaml(cls, path) -> EnergyProfile:
        p = Path(path)
        if not p.is_file():
            raise EnergyProfileError(f"energy profile file {p} does not exist")
        try:
            data = yaml.safe_load(p.read_text())
        except (OSError, UnicodeDecodeError) as e:
            raise EnergyProfileError(f"energy profile {p} cannot be read: {e}") from None
        except yaml.YAMLError as e:
            raise EnergyProfileError(f"energy profile {p}: not valid YAML: {e}") from None
        prof = cls.from_dict(data, where=f"energy profile {p}")
        return EnergyProfile(**{**prof.__dict__, "path": str(p)})

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "clock_mhz": self.clock_mhz,
            "energy_pj": dict(self.energy_pj),
            "static_mw": dict(self.static_mw),
            "citation": self.citation,
        }


def _number(value, key, fail) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        fail(f"{key} must be a finite number, not {value!r}")
    return float(value)


def _table(data, key, keys, unit, fail) -> dict:
    if not isinstance(data, dict):
        fail(f"{key} must be a mapping of {', '.join(keys)}, not {type(data).__name__}")
    unknown = sorted(map(str, set(data) - set(keys)))
    if unknown:
        fail(f"{key}: unknown key(s) {', '.join(unknown)}; known keys are {', '.join(keys)}")
    missing = [k for k in keys if k not in data]
    if missing:
        fail(f"{key}: missing {', '.join(missing)} (write 0 for an operation that costs nothing)")
    out = {}
    for k in keys:
        v = _number(data[k], f"{key}.{k}", fail)
        if v < 0:
            fail(f"{key}.{k} must not be negative, not {v:g} {unit}")
        out[k] = v
    return out


def builtin_profiles() -> list[str]:
    """Names of the profiles shipped in spikemesh/energy_profiles/."""
    folder = resources.files("spikemesh").joinpath(PROFILE_DIR)
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_profile(spec) -> EnergyProfile:
    """An EnergyProfile from a profile, a built-in name (``loihi``) or a YAML file path."""
    if isinstance(spec, EnergyProfile):
        return spec
    if not isinstance(spec, (str, Path)):
        raise EnergyProfileError(f"an energy profile is a name or a YAML file, not {spec!r}")
    text = str(spec)
    if isinstance(spec, Path) or text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return EnergyProfile.from_yaml(text)
    names = builtin_profiles()
    if text not in names:
        raise EnergyProfileError(
            f"unknown energy profile {text!r}; built-in profiles are {', '.join(names)} "
            "(or give a YAML file)"
        )
    res = resources.files("spikemesh").joinpath(PROFILE_DIR, f"{text}.yaml")
    with resources.as_file(res) as p:
        return EnergyProfile.from_yaml(p)


@dataclass
class Energy:
    """Energy (J) per tick by component, latency (s) per tick, under one profile.

    Members
    -------
    profile : EnergyProfile
    per_tick : dict of str -> float64 [T]
        ``synapses``, ``neurons``, ``routing`` always; ``static`` only with cycles.
    latency : float64 [T] or None
        Seconds per tick (cycles / clock), when the run has cycles.
    """

    profile: EnergyProfile
    per_tick: dict
    latency: np.ndarray | None

    @property
    def dynamic(self) -> np.ndarray:
        return self.per_tick["synapses"] + self.per_tick["neurons"] + self.per_tick["routing"]

    @property
    def total_per_tick(self) -> np.ndarray:
        """[T] all components (dynamic only when there are no cycles)."""
        static = self.per_tick.get("static")
        return self.dynamic if static is None else self.dynamic + static

    def totals(self) -> dict:
        """Run totals: J per component, total J, latency s, EDP J*s (None without cycles)."""
        out = {c: (float(v.sum()) if v is not None else None) for c, v in self.per_tick.items()}
        out.setdefault("static", None)
        out["dynamic"] = float(self.dynamic.sum())
        out["total"] = float(self.total_per_tick.sum())
        lat = None if self.latency is None else float(self.latency.sum())
        out["latency_s"] = lat
        out["edp_js"] = None if lat is None else out["total"] * lat
        return out

    def to_dict(self, *, per_tick: bool = True) -> dict:
        t = self.totals()
        ticks = len(self.dynamic)
        out = {
            "profile": self.profile.to_dict(),
            "totals_j": {k: t[k] for k in (*COMPONENTS, "dynamic", "total")},
            "energy_per_tick_j": t["total"] / ticks if ticks else 0.0,
            "includes_static": self.latency is not None,
            "latency_s": t["latency_s"],
            "latency_per_tick_s": (
                None if self.latency is None else (t["latency_s"] / ticks if ticks else 0.0)
            ),
            "max_latency_per_tick_s": (
                None if self.latency is None or not ticks else float(self.latency.max())
            ),
            "edp_js": t["edp_js"],
        }
        if per_tick:
            out["per_tick_j"] = {
                c: (None if c not in self.per_tick else self.per_tick[c].tolist())
                for c in COMPONENTS
            }
            out["per_tick_latency_s"] = None if self.latency is None else self.latency.tolist()
        return out


def energy(counters: Counters, profile) -> Energy:
    """Energy and latency of a run's counters under ``profile`` (object, name or file)."""
    p = load_profile(profile)
    e = p.energy_pj
    pj = 1e-12

    def tick(name):
        return counters.per_tick(name).astype(np.float64)

    per_tick = {
        "synapses": (e["sop"] * tick("sops") + e["event"] * tick("events")) * pj,
        "neurons": (e["neuron_update"] * tick("neuron_updates") + e["spike"] * tick("spikes")) * pj,
        "routing": (
            e["flit"] * (tick("flits_injected") + tick("host_injected"))
            + e["hop_ew"] * counters.hops_ew
            + e["hop_ns"] * counters.hops_ns
        )
        * pj,
    }
    latency = None
    if counters.cycles is not None:
        latency = counters.cycles.astype(np.float64) / (p.clock_mhz * 1e6)
        watts = (p.static_mw["per_tile"] * counters.tiles + p.static_mw["fixed"]) * 1e-3
        per_tick["static"] = watts * latency
    return Energy(profile=p, per_tick=per_tick, latency=latency)
