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

from amaranth.hdl import unsigned
from amaranth.lib import data
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In
from amaranth.utils import ceil_log2

from spikemesh.config import ChipConfig
from spikemesh.layouts import Region, region_layouts

from .contracts import mark_unused

__all__ = [
    "bit_read_port",
    "bit_write_port",
    "check_tile",
    "read_port",
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
