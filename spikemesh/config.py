"""Chip configuration: the one place where sizes, widths and depths are defined.

``CoreConfig``, ``RouterConfig`` and ``ChipConfig`` are frozen, keyword-only
dataclasses validated in ``__post_init__``. rtl/, sim/ and firmware/ take the
same objects; every width (flit fields, memory addresses) is derived here.

Fixed by chip.md (§3, §4) and therefore module constants, not config fields:
neuron state widths, parameter widths, weight width.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .bitfields import Layout
from .errors import ConfigError

# --- chip.md §3 / §4: fixed widths -----------------------------------------
STATE_BITS = 24  # u and v: 24-bit two's complement
DU_BITS = 12  # current decay, unsigned; effective decay du + 1
DV_BITS = 12  # voltage decay, unsigned
VTH_BITS = 17  # threshold mantissa, unsigned; threshold = vth << 6
VTH_SHIFT = 6
BIAS_MANT_BITS = 13  # signed
BIAS_EXP_BITS = 3  # unsigned; bias = bias_mant << bias_exp
REFRACT_BITS = 4  # unsigned; 0 = off
WEIGHT_BITS = 8  # signed synaptic weight
WEIGHT_EXP_BITS = 3  # per synapse row; the event adds w << e
ACC_SHIFT = 6  # the accumulated input enters u as a << 6
DECAY_SHIFT = 12  # products are shifted by 12, rounding toward zero

# Parameter ranges, used by configs, networks and the compiler alike.
PARAM_RANGES = {
    "du": (0, (1 << DU_BITS) - 1),
    "dv": (0, (1 << DV_BITS) - 1),
    "vth": (0, (1 << VTH_BITS) - 1),
    "bias_mant": (-(1 << (BIAS_MANT_BITS - 1)), (1 << (BIAS_MANT_BITS - 1)) - 1),
    "bias_exp": (0, (1 << BIAS_EXP_BITS) - 1),
    "refractory": (0, (1 << REFRACT_BITS) - 1),
}
# Reset modes of a neuron profile (chip.md §3, docs/semantics.md): the name's index is
# the profile word's 1-bit ``reset`` field (0 = v <- 0, 1 = v <- v - (vth << 6)).
RESET_MODES = ("zero", "subtract")
RESET_BITS = 1
# Every column of a profile (PROFILE_COLUMNS in coreimage.py) and its range.
PROFILE_RANGES = {**PARAM_RANGES, "reset": (0, len(RESET_MODES) - 1)}
WEIGHT_RANGE = (-(1 << (WEIGHT_BITS - 1)), (1 << (WEIGHT_BITS - 1)) - 1)
WEIGHT_EXP_RANGE = (0, (1 << WEIGHT_EXP_BITS) - 1)
STATE_RANGE = (-(1 << (STATE_BITS - 1)), (1 << (STATE_BITS - 1)) - 1)
# Synaptic delays (docs/semantics.md "Time"): a projection's events are integrated d ticks
# after they are emitted, d in 1..D with D = CoreConfig.max_delay. The core keeps D + 1
# accumulator banks indexed by the low bits of the tick number, so D + 1 is a power of two.
MAX_DELAYS = (1, 3, 7, 15)
DELAY_RANGE = (1, MAX_DELAYS[-1])


def bits_for(n: int) -> int:
    """Bits needed to hold the unsigned values 0..n (at least 1)."""
    return max(1, int(n).bit_length())


def _is_pow2(n):
    return isinstance(n, int) and n > 0 and (n & (n - 1)) == 0


def _check_int(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{owner}.{name} must be an integer, not {value!r}")


def _check_pow2(owner, what, name, value, lo, hi):
    _check_int(owner, name, value)
    if not (_is_pow2(value) and lo <= value <= hi):
        raise ConfigError(
            f"{what} ({owner}.{name}) must be a power of two between {lo:,} and {hi:,}, "
            f"not {value:,}"
        )


def _check_range(owner, what, name, value, lo, hi):
    _check_int(owner, name, value)
    if not lo <= value <= hi:
        raise ConfigError(
            f"{what} ({owner}.{name}) must be between {lo:,} and {hi:,}, not {value:,}"
        )


class _YamlMixin:
    """to_dict / from_dict / YAML for the config dataclasses, with key-path errors."""

    _nested: dict = {}

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.to_dict() if hasattr(v, "to_dict") else v
        return out

    @classmethod
    def from_dict(cls, data, *, path=None):
        path = path or cls.__name__
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must be a mapping, not {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"{path}: unknown key(s) {', '.join(map(str, unknown))}; "
                f"known keys are {', '.join(sorted(names))}"
            )
        kwargs = {}
        for key, val in data.items():
            sub = cls._nested.get(key)
            if sub is not None:
                kwargs[key] = sub.from_dict(val, path=f"{path}.{key}")
            else:
                kwargs[key] = val
        return cls(**kwargs)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text_or_path):
        """Load from a YAML file (a ``Path``, or a string naming an existing file or ending in
        .yaml/.yml) or from YAML text (any other string). Errors name the file."""
        is_path = isinstance(text_or_path, Path) or (
            isinstance(text_or_path, str)
            and "\n" not in text_or_path
            and (text_or_path.endswith((".yaml", ".yml")) or Path(text_or_path).exists())
        )
        if is_path:
            p = Path(text_or_path)
            if not p.exists():
                raise ConfigError(f"config file {p} does not exist")
            if not p.is_file():
                raise ConfigError(f"config file {p} is not a file")
            try:
                text = p.read_text()
            except (OSError, UnicodeDecodeError) as e:
                raise ConfigError(f"config file {p} cannot be read: {e}") from None
            where = str(p)
        else:
            text, where = text_or_path, cls.__name__
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"{where}: not valid YAML: {e}") from None
        try:
            return cls.from_dict(data if data is not None else {}, path=where)
        except ConfigError as e:
            msg = str(e)
            raise ConfigError(msg if msg.startswith(where) else f"{where}: {msg}") from None
        except TypeError as e:  # e.g. a nested value of the wrong kind
            raise ConfigError(f"{where}: {e}") from None


@dataclass(frozen=True, kw_only=True)
class CoreConfig(_YamlMixin):
    """One neuron core.

    Parameters
    ----------
    neurons : int
        Neurons per core, a power of two, 16..1024.
    axons : int
        Entries of the axon table (incoming axon ids), a power of two, 16..65536.
    synapses : int
        Depth of synapse memory, a power of two, 16..1,048,576.
    fanout : int
        Depth of fan-out memory (destination entries), a power of two, 16..1,048,576.
    profiles : int
        Neuron parameter profiles in the per-core table, a power of two, 1..16.
    acc_bits : int
        Width of the modular dendritic accumulators, 16..32 (chip.md §4).
    max_delay : int
        D, the longest synaptic delay in ticks, one of 1, 3, 7, 15 (docs/semantics.md):
        the core holds D + 1 accumulator banks of ``neurons`` words (bank = tick mod
        (D + 1)) and every axon word a (D - 1)-bit-wide delay field. D = 1 is the chip
        without delays (two banks by tick parity, no delay field).
    single_port : bool
        Build the synapse and fan-out memories as single-port RAMs: one address, the
        configuration write's while it writes, else the reader's (docs/core-resources.md).
        Only the config path writes them, and only while nothing reads them, so cycles and
        results are those of the default core; what changes is that iCE40 synthesis
        (``synth_ice40 -spram``) can place them in the UP5K's 256-kbit SPRAMs
        (``rtl/core_ports.py``). Not on a learning core: STDP writes synapses while the
        event pipeline reads them. Off (default): two-port memories, the Verilog of before.
    """

    neurons: int = 64
    axons: int = 256
    synapses: int = 1024
    fanout: int = 1024
    profiles: int = 4
    acc_bits: int = 24
    max_delay: int = 1
    learning_profiles: int = 0
    reverse_entries: int = 0
    single_port: bool = False

    def __post_init__(self):
        o = "CoreConfig"
        _check_pow2(o, "Neurons per core", "neurons", self.neurons, 16, 1024)
        _check_pow2(o, "Axons per core", "axons", self.axons, 16, 65536)
        _check_pow2(o, "Synapse memory depth", "synapses", self.synapses, 16, 1 << 20)
        _check_pow2(o, "Fan-out memory depth", "fanout", self.fanout, 16, 1 << 20)
        _check_pow2(o, "Neuron profiles per core", "profiles", self.profiles, 1, 16)
        _check_range(o, "Accumulator width", "acc_bits", self.acc_bits, 16, 32)
        _check_int(o, "max_delay", self.max_delay)
        if self.max_delay not in MAX_DELAYS:
            raise ConfigError(
                f"Longest synaptic delay ({o}.max_delay) must be one of "
                f"{', '.join(map(str, MAX_DELAYS))} (D + 1 accumulator banks, a power of "
                f"two), not {self.max_delay:,}"
            )
        _check_int(o, "learning_profiles", self.learning_profiles)
        if self.learning_profiles:
            _check_pow2(
                o, "Learning profiles per core", "learning_profiles", self.learning_profiles, 1, 16
            )
        _check_int(o, "reverse_entries", self.reverse_entries)
        if self.reverse_entries:
            if not self.learning_profiles:
                raise ConfigError(
                    f"Reverse-index depth ({o}.reverse_entries = {self.reverse_entries:,}) "
                    "needs on-chip learning: set learning_profiles too, or leave it 0"
                )
            _check_pow2(
                o, "Reverse-index depth", "reverse_entries", self.reverse_entries, 16, self.synapses
            )
        if not isinstance(self.single_port, bool):
            raise ConfigError(f"{o}.single_port must be true or false, not {self.single_port!r}")
        if self.single_port and self.learning_profiles:
            raise ConfigError(
                f"Single-port synapse memory ({o}.single_port) cannot learn: STDP writes "
                "synapses back while the event pipeline reads them (two ports); set "
                "learning_profiles = 0 or single_port = false"
            )

    # --- derived widths ---
    @property
    def neuron_bits(self) -> int:
        return bits_for(self.neurons - 1)

    @property
    def axon_bits(self) -> int:
        return bits_for(self.axons - 1)

    @property
    def synapse_addr_bits(self) -> int:
        return bits_for(self.synapses - 1)

    @property
    def fanout_addr_bits(self) -> int:
        return bits_for(self.fanout - 1)

    @property
    def profile_bits(self) -> int:
        return bits_for(self.profiles - 1)

    @property
    def acc_banks(self) -> int:
        """Accumulator banks, D + 1: bank t mod (D + 1) holds the input of tick t."""
        return self.max_delay + 1

    @property
    def bank_bits(self) -> int:
        """Bits of a bank number (the low bits of the tick number); 1 for D = 1 (parity)."""
        return self.max_delay.bit_length()

    @property
    def delay_bits(self) -> int:
        """Bits of an axon word's delay field (it stores d - 1); 0 for D = 1 (no field)."""
        return (self.max_delay - 1).bit_length()

    @property
    def learning(self) -> bool:
        """The core learns (STDP, docs/learning.md): it has learning profiles."""
        return self.learning_profiles > 0

    @property
    def lprofile_bits(self) -> int:
        """Bits of a learning-profile index (1 for a single profile; 0 without learning)."""
        return bits_for(self.learning_profiles - 1) if self.learning_profiles else 0

    @property
    def reverse_depth(self) -> int:
        """Entries of the reverse index (0 without learning)."""
        if not self.learning_profiles:
            return 0
        return self.reverse_entries or self.synapses

    @property
    def reverse_addr_bits(self) -> int:
        return bits_for(self.reverse_depth - 1) if self.learning_profiles else 0

    @property
    def acc_range(self) -> tuple[int, int]:
        """Values an accumulator holds without wrapping (two's complement)."""
        return -(1 << (self.acc_bits - 1)), (1 << (self.acc_bits - 1)) - 1


@dataclass(frozen=True, kw_only=True)
class RouterConfig(_YamlMixin):
    """One 5-port mesh router.

    Parameters
    ----------
    fifo_depth : int
        Flits buffered per input port, 2..64.
    route_tables : bool
        Build every router with a route table and link-disable register, written through
        the host link's ROUTE region (spikemesh.layouts, docs/noc.md "Faults"): what a chip
        that routes around dead links or routers needs. They start as XY, so a chip with
        tables and no route writes behaves and times exactly as one without. Off (default):
        XY comparators only, no table logic, and ROUTE writes are refused.
    """

    fifo_depth: int = 4
    route_tables: bool = False

    def __post_init__(self):
        _check_range(
            "RouterConfig", "Router input FIFO depth", "fifo_depth", self.fifo_depth, 2, 64
        )
        if not isinstance(self.route_tables, bool):
            raise ConfigError(
                f"RouterConfig.route_tables must be true or false, not {self.route_tables!r}"
            )


@dataclass(frozen=True, kw_only=True)
class ChipConfig(_YamlMixin):
    """A W x H mesh of tiles (core + router) with a host link at (0, 0) West.

    Parameters
    ----------
    width, height : int
        Mesh size, 1..64 each (configs up to 16 x 16 must elaborate in RTL).
    core : CoreConfig
    router : RouterConfig
    host_fifo_depth : int
        Entries of each of the chip's command and response FIFOs, between its host ports
        and the host link (docs/hostlink.md), 2..4096; 3 or more pass one word per cycle,
        2 one every other cycle.
    watchdog_cycles : int
        A tick that has not ended after this many cycles sets an error flag.
    counter_bits : int
        Width of the hardware activity counters (docs/counters.md), read over the host link
        with READ_COUNTER: 0 (the default) builds no counters (READ_COUNTER is refused), or
        16..48; ``spikemesh.counters.COUNTER_BITS`` (40) cannot wrap within 12 hours at
        25 MHz. A counter that wraps sets the sticky COUNTER_WRAP error flag.
    """

    width: int = 2
    height: int = 2
    core: CoreConfig = field(default_factory=CoreConfig)
    router: RouterConfig = field(default_factory=RouterConfig)
    host_fifo_depth: int = 16
    watchdog_cycles: int = 1 << 20
    counter_bits: int = 0

    _nested = {"core": CoreConfig, "router": RouterConfig}

    def __post_init__(self):
        o = "ChipConfig"
        _check_range(o, "Mesh width", "width", self.width, 1, 64)
        _check_range(o, "Mesh height", "height", self.height, 1, 64)
        if not isinstance(self.core, CoreConfig):
            raise ConfigError(f"ChipConfig.core must be a CoreConfig, not {self.core!r}")
        if not isinstance(self.router, RouterConfig):
            raise ConfigError(f"ChipConfig.router must be a RouterConfig, not {self.router!r}")
        _check_range(o, "Host FIFO depth", "host_fifo_depth", self.host_fifo_depth, 2, 4096)
        _check_range(o, "Watchdog", "watchdog_cycles", self.watchdog_cycles, 16, (1 << 32) - 1)
        _check_int(o, "counter_bits", self.counter_bits)
        if self.counter_bits != 0 and not 16 <= self.counter_bits <= 48:
            raise ConfigError(
                "Counter width (ChipConfig.counter_bits) must be 0 (no counters) or between "
                f"16 and 48, not {self.counter_bits:,}"
            )

    @property
    def tiles(self) -> int:
        return self.width * self.height

    @property
    def neurons(self) -> int:
        return self.tiles * self.core.neurons

    # --- derived widths (chip.md §5) ---
    @property
    def x_bits(self) -> int:
        """Unsigned tile x coordinate."""
        return bits_for(self.width - 1)

    @property
    def y_bits(self) -> int:
        return bits_for(self.height - 1)

    @property
    def flit_layout(self) -> Layout:
        return flit_layout(self)


# --- flits (chip.md §5) -------------------------------------------------------
KIND_SPIKE = 0  # payload = axon id at the destination core
KIND_HOST_OUT = 1  # payload = source (x, y, neuron) for the host
HOST_X = -1  # the host is the node at (-1, 0), off (0, 0)'s West port
HOST_Y = 0


def flit_layout(chip: ChipConfig) -> Layout:
    """The single-flit AER packet.

    ``dest_x`` is signed (one bit wider than a tile x) so that the host,
    at x = -1, is an ordinary destination for X-then-Y routing.
    """
    c = chip.core
    src_bits = chip.x_bits + chip.y_bits + c.neuron_bits
    return Layout(
        "Flit",
        [
            ("payload", max(c.axon_bits, src_bits)),
            ("dest_y", chip.y_bits),
            ("dest_x", chip.x_bits + 1, True),
            ("kind", 1),
        ],
    )


def host_source_layout(chip: ChipConfig) -> Layout:
    """Payload of a HOST_OUT flit: the spiking neuron's address."""
    return Layout(
        "HostSource",
        [("neuron", chip.core.neuron_bits), ("y", chip.y_bits), ("x", chip.x_bits)],
    )
