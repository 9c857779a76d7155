"""The ports between the neuron core's components and the memories ``Core`` owns.

``rtl/core.py::Core`` keeps every memory (and the decay-factor registers) and steers
their ports; its components (:class:`~spikemesh.rtl.core_event.EventPipeline`,
:class:`~spikemesh.rtl.core_update.UpdatePipeline`,
:class:`~spikemesh.rtl.core_fanout.FanoutUnit`) reach them through the memory's own
port signatures, flipped: the component drives ``addr``, ``en`` (and ``data`` of a
write port) and receives the read port's ``data``, which is the word of the address
given with ``en`` one cycle before (synchronous, non-transparent). That keeps each
memory a direct submodule of ``Core`` under its own name, which the direct image load
relies on (``firmware/rtl_memories.py``).
"""

from __future__ import annotations

from amaranth.hdl import Assert, Mux, Signal, unsigned
from amaranth.lib import data
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In
from amaranth.utils import ceil_log2

from spikemesh.config import ChipConfig
from spikemesh.layouts import Region, region_layouts
from spikemesh.memory_geometry import SINGLE_PORT_MEMORIES  # defined once, on the ground floor

from .contracts import mark_unused

__all__ = [
    "SINGLE_PORT_MEMORIES",
    "bit_read_port",
    "bit_write_port",
    "check_tile",
    "read_port",
    "single_port",
    "single_port_yosys",
    "spike_layout",
    "word",
    "write_port",
]


def check_tile(chip: ChipConfig, x, y) -> None:
    """Refuse a tile coordinate outside ``chip`` (``Core``'s and ``FanoutUnit``'s x, y)."""
    for what, value, size in (("x", x, chip.width), ("y", y, chip.height)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
            raise ValueError(
                f"Tile {what} coordinate must be an integer between 0 and {size - 1}, not {value!r}"
            )


def check_component(component, chip, tile=None) -> None:
    """Refuse a bad ``chip`` (TypeError) or ``tile`` = (x, y) (ValueError) for a core
    component. A refused component is marked unused: Amaranth would warn at GC that it was
    created but never used, which pytest's warnings-as-errors turns into a failure of a
    later test."""
    try:
        if not isinstance(chip, ChipConfig):
            raise TypeError(f"Chip configuration must be a ChipConfig, not {chip!r}")
        if tile is not None:
            check_tile(chip, *tile)
    except (TypeError, ValueError):
        mark_unused(component)
        raise


def word(chip: ChipConfig, region: Region) -> data.StructLayout:
    """The memory word of ``region`` as an Amaranth layout."""
    return region_layouts(chip)[region][0].struct()


def _addr_width(chip, region):
    depth = region_layouts(chip)[region][1]
    if region == Region.ACC:  # one memory per bank (max_delay + 1 of them), each N words
        depth //= chip.core.acc_banks
    return ceil_log2(depth)


def read_port(chip: ChipConfig, region: Region) -> In:
    """A read port of ``region``'s memory, as its user sees it (``addr``, ``en`` out)."""
    return In(ReadPort.Signature(addr_width=_addr_width(chip, region), shape=word(chip, region)))


def write_port(chip: ChipConfig, region: Region) -> In:
    """A write port of ``region``'s memory, as its user sees it (every member out)."""
    return In(WritePort.Signature(addr_width=_addr_width(chip, region), shape=word(chip, region)))


def spike_layout(chip: ChipConfig) -> data.StructLayout:
    """A spike on its way from the update loop's U5 to the fan-out unit's queue: the
    neuron and its fan-out pointer word (``UpdatePipeline.o_spike``)."""
    return data.StructLayout(
        {"neuron": unsigned(chip.core.neuron_bits), "fanptr": word(chip, Region.FANPTR)}
    )


def bit_read_port(addr_width: int) -> In:
    """A read port of a 1-bit memory (a learning core's fired bits, rtl/core_learn.py)."""
    return In(ReadPort.Signature(addr_width=addr_width, shape=unsigned(1)))


def bit_write_port(addr_width: int) -> In:
    """A write port of a 1-bit memory."""
    return In(WritePort.Signature(addr_width=addr_width, shape=unsigned(1)))


def single_port(m, name, mem, *, shape):
    """One address for the read and the write port of the single-port memory ``mem``;
    returns the (read, write) port interfaces its users drive, shaped like the memory's.

    The address is the write's while ``wp.en``, else the read's: yosys's memory mapping then
    sees one shared address, the ``srsw`` port of the iCE40 SPRAM. The users never read and
    write in the same cycle (``SINGLE_PORT_MEMORIES``), which the simulation check states;
    with that, the memory behaves exactly as the two-port one.
    """
    rp, wp = mem.read_port(), mem.write_port()
    addr_width = len(rp.addr)
    user_rp = ReadPort.Signature(addr_width=addr_width, shape=shape).create(path=(name, "rp"))
    user_wp = WritePort.Signature(addr_width=addr_width, shape=shape).create(path=(name, "wp"))
    addr = Signal(addr_width, name=f"{name}_addr")
    m.d.comb += [
        addr.eq(Mux(user_wp.en, user_wp.addr, user_rp.addr)),
        rp.addr.eq(addr),
        # never both (asserted below); the gate lets yosys prove it (SPRAM: no_change)
        rp.en.eq(user_rp.en & ~user_wp.en),
        user_rp.data.eq(rp.data),
        wp.addr.eq(addr),
        wp.data.eq(user_wp.data),
        wp.en.eq(user_wp.en),
    ]
    with m.If(user_rp.en & user_wp.en):
        m.d.sync += Assert(0, f"{name}: single-port memory read and written in the same cycle")
    return user_rp, user_wp


def single_port_yosys(chip: ChipConfig) -> str:
    """Yosys commands (after reading the design) that let ``synth_ice40 -spram`` put the
    single-port memories of ``chip``'s cores in SPRAM; empty for other chips.

    Amaranth gives every memory an initial content (zeros), which the SPRAM cannot have,
    so yosys would keep them in block RAM: the zeros are dropped. Nothing reads a synapse
    or fan-out word that was not configured first (rows and lists come from the axon table
    and the fan-out pointers, which keep their zero initial content: empty). yosys picks
    the cheapest RAM, and a SPRAM costs it as much as 32 block RAMs: ``ram_style``
    asks for SPRAM whatever the depth.
    """
    if not chip.core.single_port:
        return ""
    names = SINGLE_PORT_MEMORIES.values()
    inits = " ".join(f"r:MEMID=*{n}*" for n in names) + " %u" * (len(names) - 1)
    mems = " ".join(f"m:*{n}*" for n in names) + " %u" * (len(names) - 1)
    return f'delete t:$meminit_v2 {inits} %i; setattr -set ram_style "huge" {mems}'
