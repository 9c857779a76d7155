"""The network-on-chip's shared rules: port numbering, XY routing, round-robin.

Defined once here, on the ground floor, and used by every model of the mesh:
the Amaranth router (``spikemesh.rtl.router`` builds its route-compute logic
from :func:`route_steps`), the cycle-exact twins (``spikemesh.sim.router``
builds its look-up tables from :func:`route` and :func:`rr_grant`) and the
benchmarks and docs. sim/ must not import rtl/, so nothing here imports
Amaranth. The micro-architecture is described in docs/noc.md.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import numpy as np

from spikemesh.config import ChipConfig
from spikemesh.errors import SpikemeshError


class ContractError(SpikemeshError, AssertionError):
    """A model broke one of the chip's contracts (the twins' form of an RTL assertion).

    Raised by the cycle-exact twins (sim/router.py, sim/mesh.py, sim/hostlink.py)
    where the RTL's ``Assert`` statements (rtl/contracts.py) would fire: a FIFO
    written while full, a lost flit at the tick barrier. It means a bug in the
    caller (an input contract ignored) or in the model, never bad user input.
    """


class Port(enum.IntEnum):
    """Router port indices (into the router's ``i`` and ``o`` signature arrays)."""

    LOCAL = 0
    NORTH = 1  # towards y + 1
    EAST = 2  # towards x + 1
    SOUTH = 3  # towards y - 1
    WEST = 4  # towards x - 1; at (0, 0) this is the host link

    @property
    def opposite(self) -> Port:
        return _OPPOSITE[self]


_OPPOSITE = {
    Port.LOCAL: Port.LOCAL,
    Port.NORTH: Port.SOUTH,
    Port.SOUTH: Port.NORTH,
    Port.EAST: Port.WEST,
    Port.WEST: Port.EAST,
}
N_PORTS = len(Port)


class RouteStep(NamedTuple):
    """One test of the route decision: ``field`` above (or below) this router's coordinate.

    ``field`` is ``"dest_x"`` (compared with the router's x) or ``"dest_y"``
    (compared with its y); ``above`` selects ``dest > own`` (True) or
    ``dest < own`` (False). The first step that holds picks ``port``.
    """

    field: str
    above: bool
    port: Port


def route_steps(x: int) -> tuple[RouteStep, ...]:
    """The ordered tests of the XY route decision for a router in column ``x``.

    X-then-Y dimension-ordered routing towards column ``max(dest_x, 0)``; a
    host-bound flit (dest_x < 0) then leaves column 0 by its West port, so it
    reaches the host link at (0, 0) West from every tile (chip.md §5). The
    final West hop ends in the host, a sink, so it adds no channel-dependency
    cycle: the routing stays deadlock-free. When no step holds the flit is for
    this tile: :attr:`Port.LOCAL`.

    Both :func:`route` (Python) and the RTL router (comparators on the FIFO
    head's fields) evaluate exactly this list, so the two cannot drift apart.
    """
    steps = [RouteStep("dest_x", True, Port.EAST)]
    if x > 0:
        steps.append(RouteStep("dest_x", False, Port.WEST))
    steps += [RouteStep("dest_y", True, Port.NORTH), RouteStep("dest_y", False, Port.SOUTH)]
    if x == 0:
        # The host link (in row 0), or, off row 0, the mesh edge: a misroute.
        steps.append(RouteStep("dest_x", False, Port.WEST))
    return tuple(steps)


def route(x: int, y: int, dest_x: int, dest_y: int) -> Port:
    """The output port a router at (x, y) picks for a flit to (dest_x, dest_y).

    See :func:`route_steps` for the rule; the host is (-1, 0).
    """
    own = {"dest_x": x, "dest_y": y}
    dest = {"dest_x": dest_x, "dest_y": dest_y}
    for step in route_steps(x):
        d, o = dest[step.field], own[step.field]
        if (d > o) if step.above else (d < o):
            return step.port
    return Port.LOCAL


def rr_grant(last: int, requests: int) -> int | None:
    """Round-robin: the first requesting input after ``last`` (the previous grant), cyclically.

    ``requests`` is a bit mask over the ``N_PORTS`` inputs; ``None`` when it is 0.
    The RTL computes the same rule with a lowest-set-bit trick (rtl/router.py);
    tests/rtl/test_router.py checks the two agree for every (last, requests).
    """
    for k in range(1, N_PORTS + 1):
        q = (last + k) % N_PORTS
        if requests >> q & 1:
            return q
    return None


def check_chip_xy(chip, x, y, *, what="Router"):
    """Check that ``chip`` is a ChipConfig and (x, y) a tile of its mesh.

    Raises
    ------
    TypeError
        ``chip`` is not a ChipConfig.
    ValueError
        ``x`` or ``y`` is not an integer inside the mesh (the message names the limit).
    """
    if not isinstance(chip, ChipConfig):
        raise TypeError(f"{what} needs a ChipConfig, not {chip!r}")
    for name, value, size in (("x", x, chip.width), ("y", y, chip.height)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
            raise ValueError(
                f"{what} {name} must be an integer between 0 and {size - 1}, not {value!r}"
            )


# --- fault-aware routing (docs/noc.md, "Faults") --------------------------------------


def dest_code(chip, dest_x: int, dest_y: int) -> int:
    """Index of a destination in a route table: the flit's raw ``{dest_x, dest_y}`` bits."""
    dxb, dyb = chip.x_bits + 1, chip.y_bits
    return ((dest_x & ((1 << dxb) - 1)) << dyb) | dest_y


class RouteTables:
    """Per-router route tables and disabled outputs for one fault map (docs/noc.md).

    Members
    -------
    table : uint8 [tiles, 2 ** (dx_bits + dy_bits)]
        Output port of router ``y * width + x`` for each destination code
        (:func:`dest_code`); off-mesh codes hold the XY port.
    link_off : uint8 [tiles]
        Bit ``p`` set: output port ``p`` leads to a dead channel or router.
    order : str
        The up*/down* node order the tables were built on (or "given").
    """

    def __init__(self, chip, table, link_off, *, order="given"):
        self.width, self.height = chip.width, chip.height
        self.dx_bits, self.dy_bits = chip.x_bits + 1, chip.y_bits
        n = chip.width * chip.height
        entries = 1 << (self.dx_bits + self.dy_bits)
        table = np.asarray(table, dtype=np.uint8)
        link_off = np.asarray(link_off, dtype=np.uint8)
        if table.shape != (n, entries) or link_off.shape != (n,):
            raise ValueError(
                f"route tables for a {chip.width} x {chip.height} mesh must be [{n}, {entries}] "
                f"and [{n}], not {list(table.shape)} and {list(link_off.shape)}"
            )
        if table.size and int(table.max()) >= N_PORTS:
            raise ValueError(f"route table entry {int(table.max())} is not a port (0..4)")
        if link_off.size and int(link_off.max()) >> N_PORTS:
            raise ValueError("link_off holds bits above the 5 ports")
        self.table, self.link_off, self.order = table, link_off, order

    def route(self, x: int, y: int, dest_x: int, dest_y: int) -> Port:
        k = y * self.width + x
        code = ((dest_x & ((1 << self.dx_bits) - 1)) << self.dy_bits) | dest_y
        return Port(int(self.table[k, code]))

    def __eq__(self, other):
        return (
            isinstance(other, RouteTables)
            and (self.width, self.height) == (other.width, other.height)
            and np.array_equal(self.table, other.table)
            and np.array_equal(self.link_off, other.link_off)
        )
