"""The fault model: dead links, routers and cores of one chip (docs/noc.md, "Faults").

A :class:`FaultMap` names, for a W x H mesh,

- dead **channels**: one direction of a link, ``(x, y, port)`` = the output ``port``
  (NORTH, EAST, SOUTH or WEST) of router (x, y) and the input of the neighbour behind it;
  a dead link is both of its channels;
- dead **routers**: all four links dead both ways, and the router's core;
- dead **cores**: no neuron is placed there; the router still forwards.

It comes from YAML (:meth:`FaultMap.from_yaml`)::

    mesh: [8, 8]          # optional; checked against the chip
    links:                # both directions unless one_way: true
      - {x: 2, y: 3, port: east}
      - {x: 5, y: 5, port: north, one_way: true}   # only (5,5) -> (5,6)
    routers: [[4, 4]]
    cores: [[1, 0]]

or is drawn at random (:meth:`FaultMap.random`). Router (0, 0) and its West port carry
the host link: a map that kills either is refused (nothing could reach the chip).
The route tables for a map are computed by :func:`spikemesh.noc.fault_routing`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml

from spikemesh.config import ChipConfig
from spikemesh.errors import ConfigError
from spikemesh.noc import Port

LINK_PORTS = (Port.NORTH, Port.EAST, Port.SOUTH, Port.WEST)
_STEP = {Port.NORTH: (0, 1), Port.EAST: (1, 0), Port.SOUTH: (0, -1), Port.WEST: (-1, 0)}


def neighbour(x: int, y: int, port) -> tuple[int, int]:
    """The tile behind output ``port`` of router (x, y) (possibly off the mesh)."""
    dx, dy = _STEP[Port(port)]
    return x + dx, y + dy


def _port(value, where) -> Port:
    if isinstance(value, str) and value.upper() in Port.__members__:
        p = Port[value.upper()]
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(Port):
        p = Port(value)
    else:
        raise ConfigError(
            f"{where}: port must be one of north, east, south, west (or 1..4), not {value!r}"
        )
    if p == Port.LOCAL:
        raise ConfigError(f"{where}: port LOCAL is the core, not a link; mark the core dead")
    return p


@dataclass(frozen=True, kw_only=True)
class FaultMap:
    """The dead parts of one W x H chip (see the module docstring).

    Parameters
    ----------
    width, height : int
        The mesh the map is for.
    channels : set of (x, y, port)
        Dead channels: output ``port`` of router (x, y). Links of dead routers are added.
    routers, cores : set of (x, y)
        Dead routers (their cores are added to ``cores``) and dead cores.

    Raises
    ------
    ConfigError
        A coordinate outside the mesh, a port that leads off the mesh, or a fault on the
        host link (router (0, 0) or its West port).
    """

    width: int
    height: int
    channels: frozenset = field(default_factory=frozenset)
    routers: frozenset = field(default_factory=frozenset)
    cores: frozenset = field(default_factory=frozenset)

    def __post_init__(self):
        w, h = self.width, self.height
        for name, v in (("width", w), ("height", h)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"fault map {name} must be a positive integer, not {v!r}")

        def tile(xy, what):
            try:
                x, y = (int(v) for v in xy)
            except (TypeError, ValueError):
                raise ConfigError(f"{what} must be a pair [x, y], not {xy!r}") from None
            if not (0 <= x < w and 0 <= y < h):
                raise ConfigError(
                    f"{what} ({x},{y}) is outside the {w} x {h} mesh (x 0..{w - 1}, y 0..{h - 1})"
                )
            return x, y

        routers = frozenset(tile(t, "dead router") for t in self.routers)
        if (0, 0) in routers:
            raise ConfigError(
                "dead router (0,0): it carries the host link, so nothing could reach the chip"
            )
        cores = frozenset(tile(t, "dead core") for t in self.cores) | routers
        channels = set()
        for c in self.channels:
            try:
                x, y, p = c
            except (TypeError, ValueError):
                raise ConfigError(f"dead channel must be (x, y, port), not {c!r}") from None
            x, y = tile((x, y), "dead link at")
            p = _port(p, f"dead link at ({x},{y})")
            nx, ny = neighbour(x, y, p)
            if not (0 <= nx < w and 0 <= ny < h):
                what = "the host link" if (x, y, p) == (0, 0, Port.WEST) else "the mesh edge"
                raise ConfigError(
                    f"dead link at ({x},{y}) port {p.name}: that port leads to {what}, "
                    f"not to a tile of the {w} x {h} mesh"
                )
            channels.add((x, y, p))
        for x, y in routers:
            for p in LINK_PORTS:
                nx, ny = neighbour(x, y, p)
                if 0 <= nx < w and 0 <= ny < h:
                    channels.add((x, y, p))
                    channels.add((nx, ny, p.opposite))
        object.__setattr__(self, "routers", routers)
        object.__setattr__(self, "cores", cores)
        object.__setattr__(self, "channels", frozenset(channels))

    # --- queries ---
    @property
    def empty(self) -> bool:
        return not (self.channels or self.cores)

    def channel_alive(self, x: int, y: int, port) -> bool:
        """Output ``port`` of router (x, y) leads to a live router over a live channel."""
        nx, ny = neighbour(x, y, port)
        return (
            0 <= nx < self.width
            and 0 <= ny < self.height
            and (x, y, Port(port)) not in self.channels
            and (x, y) not in self.routers
            and (nx, ny) not in self.routers
        )

    def live_tiles(self) -> list[int]:
        """Tiles (y * width + x) whose core is alive, in row-major order."""
        return [
            y * self.width + x
            for y in range(self.height)
            for x in range(self.width)
            if (x, y) not in self.cores
        ]

    def check_chip(self, chip: ChipConfig) -> None:
        if (chip.width, chip.height) != (self.width, self.height):
            raise ConfigError(
                f"the fault map is for a {self.width} x {self.height} mesh, the chip is "
                f"{chip.width} x {chip.height}"
            )

    def describe(self) -> str:
        links = sorted(self.channels)
        parts = [f"{len(links)} dead channel(s)"]
        if self.routers:
            parts.append(f"{len(self.routers)} dead router(s)")
        if self.cores - self.routers:
            parts.append(f"{len(self.cores - self.routers)} dead core(s)")
        return ", ".join(parts)

    # --- dict / YAML form ---
    def to_dict(self) -> dict:
        """Plain form (YAML/JSON): every dead channel one-way, routers and cores as pairs."""
        router_links = FaultMap(width=self.width, height=self.height, routers=self.routers)
        return {
            "mesh": [self.width, self.height],
            "links": [
                {"x": x, "y": y, "port": Port(p).name.lower(), "one_way": True}
                for x, y, p in sorted(self.channels - router_links.channels)
            ],
            "routers": [list(t) for t in sorted(self.routers)],
            "cores": [list(t) for t in sorted(self.cores - self.routers)],
        }

    @classmethod
    def from_dict(cls, data, *, chip: ChipConfig | None = None, where: str = "fault map"):
        """Build from the plain form; ``chip`` gives the mesh when ``mesh`` is absent."""
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: must be a mapping, not {type(data).__name__}")
        unknown = set(data) - {"mesh", "links", "routers", "cores"}
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {sorted(unknown)}; expected mesh, links, routers, cores"
            )
        try:
            if "mesh" in data:
                w, h = data["mesh"]
                if chip is not None and (w, h) != (chip.width, chip.height):
                    raise ConfigError(
                        f"the fault map is for a {w} x {h} mesh, the chip is "
                        f"{chip.width} x {chip.height}"
                    )
            elif chip is not None:
                w, h = chip.width, chip.height
            else:
                raise ConfigError("needs mesh: [width, height] (or a chip to take it from)")
            channels = set()
            for i, e in enumerate(data.get("links") or []):
                if not isinstance(e, dict) or not {"x", "y", "port"} <= set(e):
                    raise ConfigError(
                        f"links[{i}] must be {{x: .., y: .., port: ..}} "
                        f"(optional one_way: true), not {e!r}"
                    )
                extra = set(e) - {"x", "y", "port", "one_way"}
                if extra:
                    raise ConfigError(f"links[{i}]: unknown key(s) {sorted(extra)}")
                p = _port(e["port"], f"links[{i}]")
                channels.add((e["x"], e["y"], p))
                if not e.get("one_way", False):
                    nx, ny = neighbour(e["x"], e["y"], p)
                    channels.add((nx, ny, p.opposite))
            for key in ("routers", "cores"):
                if not isinstance(data.get(key) or [], list):
                    raise ConfigError(f"{key} must be a list of [x, y] pairs")
            return cls(
                width=w,
                height=h,
                channels=frozenset(channels),
                routers=frozenset(
                    tuple(t) if isinstance(t, list) else t for t in data.get("routers") or []
                ),
                cores=frozenset(
                    tuple(t) if isinstance(t, list) else t for t in data.get("cores") or []
                ),
            )
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{where}: malformed ({e})") from None

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, path, *, chip: ChipConfig | None = None) -> FaultMap:
        """Load a fault map file (errors name the file)."""
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"fault map {p} does not exist or is not a file")
        try:
            data = yaml.safe_load(p.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise ConfigError(f"fault map {p}: cannot be read as YAML: {e}") from None
        return cls.from_dict(data if data is not None else {}, chip=chip, where=str(p))

    # --- random maps ---
    @classmethod
    def random(
        cls,
        chip: ChipConfig,
        *,
        seed: int,
        links: int = 0,
        routers: int = 0,
        cores: int = 0,
        one_way: bool = False,
    ) -> FaultMap:
        """``links`` distinct dead links (both directions, or one channel each with
        ``one_way``), ``routers`` dead routers and ``cores`` dead cores, drawn from ``seed``.
        Router (0, 0) is never drawn; links and cores are drawn among live routers.

        Raises
        ------
        ConfigError
            A count is negative or larger than what the mesh has.
        """
        w, h = chip.width, chip.height
        rng = np.random.default_rng(seed)

        def draw(pool, n, what):
            if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= len(pool):
                raise ConfigError(
                    f"the {w} x {h} mesh has {len(pool)} {what} to kill; cannot draw {n!r}"
                )
            return [pool[i] for i in sorted(rng.choice(len(pool), size=n, replace=False))]

        dead_r = draw(
            [(x, y) for y in range(h) for x in range(w) if (x, y) != (0, 0)], routers, "routers"
        )
        live = [(x, y) for y in range(h) for x in range(w) if (x, y) not in dead_r]
        pool = []
        for x, y in live:
            for p in (Port.NORTH, Port.EAST) if not one_way else LINK_PORTS:
                nx, ny = neighbour(x, y, p)
                if (nx, ny) in live:
                    pool.append((x, y, p))
        chans = set()
        for x, y, p in draw(pool, links, "links" if not one_way else "channels"):
            chans.add((x, y, p))
            if not one_way:
                chans.add((*neighbour(x, y, p), p.opposite))
        dead_c = draw(live, cores, "live cores")
        return cls(
            width=w,
            height=h,
            channels=frozenset(chans),
            routers=frozenset(dead_r),
            cores=frozenset(dead_c),
        )


def fault_map_from_spec(spec, chip: ChipConfig) -> FaultMap:
    """A fault map from the command line: a YAML file, or ``random:SEED:LINKS[:ROUTERS]``
    (``LINKS`` dead links and ``ROUTERS`` dead routers drawn from ``SEED``).

    Raises
    ------
    ConfigError
        A malformed spec, a file that does not load, or a map for another mesh.
    """
    if isinstance(spec, FaultMap):
        spec.check_chip(chip)
        return spec
    text = str(spec)
    if text.startswith("random:"):
        parts = text.split(":")[1:]
        try:
            if not 2 <= len(parts) <= 3:
                raise ValueError
            seed, links, routers = (int(p) for p in [*parts, "0"][:3])
        except ValueError:
            raise ConfigError(
                f"--faults {text!r}: expected random:SEED:LINKS or random:SEED:LINKS:ROUTERS "
                "(integers), or a YAML fault map file"
            ) from None
        return FaultMap.random(chip, seed=seed, links=links, routers=routers)
    return FaultMap.from_yaml(text, chip=chip)


def with_route_tables(chip: ChipConfig) -> ChipConfig:
    """``chip`` with ``router.route_tables`` on: the chip a fault map's image runs on (its
    routers take the route tables and disabled links through the host link's ROUTE region,
    spikemesh.layouts)."""
    if chip.router.route_tables:
        return chip
    return replace(chip, router=replace(chip.router, route_tables=True))


def needs_route_tables(faults: FaultMap | None) -> bool:
    """The fault map kills links or routers (so its image carries route tables)."""
    return faults is not None and bool(faults.channels or faults.routers)


def chip_for_faults(chip: ChipConfig, faults: FaultMap | None) -> ChipConfig:
    """The chip to compile ``faults`` for: ``chip``, with route tables when the map needs
    them (an image with tables runs only on routers that take them)."""
    return with_route_tables(chip) if needs_route_tables(faults) else chip


def start_tables(chip: ChipConfig):
    """The route tables a chip with ``router.route_tables`` holds after reset: XY everywhere,
    no link disabled (so it routes and times as a chip without tables until ROUTE writes
    change them); None for a chip without tables."""
    if not chip.router.route_tables:
        return None
    from spikemesh.faultroute import xy_tables
    from spikemesh.noc import RouteTables

    return RouteTables(chip, xy_tables(chip), np.zeros(chip.tiles, dtype=np.uint8), order="XY")
