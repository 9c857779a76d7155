"""A system of chips: C_x x C_y identical chips joined edge to edge by chip-to-chip links.

The chips' meshes join into one mesh of ``chips_x * chip.width`` by
``chips_y * chip.height`` tiles, and X-then-Y routing runs on global tile
coordinates: a flit leaving a chip's east edge on row y enters the east
neighbour's west edge on the same row, through a chip-to-chip link. Each edge
router pair across a chip boundary has its own link (one per row on a vertical
boundary, one per column on a horizontal one), one per direction. A link takes
``link_latency`` cycles to cross and accepts one flit every
``link_cycles_per_flit`` cycles (its bandwidth is ``1 / link_cycles_per_flit``
flits per cycle), where an on-chip hop takes at most 2 cycles at one flit per
cycle (chip.md §6).

Every chip keeps its own host link at its tile (0, 0), West (chip.md §8): the
system's host injects a source's events into each chip that holds a target,
and each chip reports its own neurons' HOST_OUT flits.

Chips are numbered ``c = cy * chips_x + cx`` (x fastest), like tiles in a chip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import ChipConfig, _check_range, _YamlMixin, bits_for
from .errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class SystemConfig(_YamlMixin):
    """``chips_x`` x ``chips_y`` chips, each a :class:`~spikemesh.config.ChipConfig`.

    Parameters
    ----------
    chips_x, chips_y : int
        Chips per row and per column, 1..64 each.
    chip : ChipConfig
        The configuration every chip of the system shares.
    link_latency : int
        Cycles a flit takes to cross a chip-to-chip link, 1..65,535.
    link_cycles_per_flit : int
        Cycles between two flits on one link and direction, 1..1,024 (the link's bandwidth is
        the reciprocal, in flits per cycle).
    """

    chips_x: int = 2
    chips_y: int = 1
    chip: ChipConfig = field(default_factory=ChipConfig)
    link_latency: int = 16
    link_cycles_per_flit: int = 4

    _nested = {"chip": ChipConfig}

    def __post_init__(self):
        o = "SystemConfig"
        _check_range(o, "Chips per row", "chips_x", self.chips_x, 1, 64)
        _check_range(o, "Chips per column", "chips_y", self.chips_y, 1, 64)
        if not isinstance(self.chip, ChipConfig):
            raise ConfigError(f"SystemConfig.chip must be a ChipConfig, not {self.chip!r}")
        _check_range(o, "Chip-to-chip link latency", "link_latency", self.link_latency, 1, 65535)
        _check_range(
            o,
            "Chip-to-chip link cycles per flit",
            "link_cycles_per_flit",
            self.link_cycles_per_flit,
            1,
            1024,
        )

    @property
    def chips(self) -> int:
        return self.chips_x * self.chips_y

    @property
    def tiles_x(self) -> int:
        """Width of the system's mesh in tiles (global x runs 0..tiles_x - 1)."""
        return self.chips_x * self.chip.width

    @property
    def tiles_y(self) -> int:
        return self.chips_y * self.chip.height

    @property
    def tiles(self) -> int:
        return self.chips * self.chip.tiles

    @property
    def neurons(self) -> int:
        return self.chips * self.chip.neurons

    @property
    def x_bits(self) -> int:
        """Unsigned global tile x coordinate (a flit's destination across the system)."""
        return bits_for(self.tiles_x - 1)

    @property
    def y_bits(self) -> int:
        return bits_for(self.tiles_y - 1)

    def chip_xy(self, c: int) -> tuple[int, int]:
        """(cx, cy) of chip number ``c``."""
        return int(c) % self.chips_x, int(c) // self.chips_x

    def chip_name(self, c: int) -> str:
        cx, cy = self.chip_xy(c)
        return f"chip ({cx},{cy})"

    @property
    def link_buffer(self) -> int:
        """Flits the receiving end of a chip-to-chip link holds (the sender's credits).

        ``ceil(2 * link_latency / link_cycles_per_flit)``, at least 1: a credit returns
        ``link_latency`` cycles after its flit leaves the buffer, so this many credits keep
        a link busy at full bandwidth over the round trip; back-pressure then comes only
        from a receiving router that stalls (docs/scale.md, "Timing across chips").
        """
        return max(1, -(-2 * self.link_latency // self.link_cycles_per_flit))

    @property
    def links(self) -> int:
        """Chip-to-chip links, counting each direction once."""
        vertical = (self.chips_x - 1) * self.tiles_y  # one per row on each vertical boundary
        horizontal = (self.chips_y - 1) * self.tiles_x
        return 2 * (vertical + horizontal)
