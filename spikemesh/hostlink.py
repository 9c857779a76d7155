"""The host link's command and response words (chip.md §8), defined once.

The chip exposes two streams at its boundary: ``i_cmd`` (host -> chip,
:func:`command_layout`) and ``o_rsp`` (chip -> host, :func:`response_layout`).
The UART bridge of the FPGA tops carries exactly these words, and the
firmware loaders produce and consume them.

Commands
--------
=============  ======================================================
CONFIG_WRITE   write ``data`` to config address ``arg`` of core ``tile``
INPUT          inject an input event: SPIKE flit to core ``tile``, axon ``arg``
END_TICK       the host has finished injecting the events of the current tick
RUN            run ``arg`` ticks (the inputs of each tick follow, each tick's
               closed by END_TICK)
READ_STATE     read (u, v) of neuron ``arg`` of core ``tile``
READ_STATUS    read status register ``arg`` (see :data:`STATUS_REGS`)
RESET          clear neuron state to the image's initial state, tick = 0
=============  ======================================================

Responses
---------
=============  ======================================================
SPIKE          a HOST_OUT event: ``a`` = tick, ``b`` = source (x, y, neuron)
TICK_DONE      ``a`` = tick that ended, ``b`` = cycles it took
STATE          ``a`` = tile << 16 | neuron, ``b`` = u (low 24 bits) | v << 24
STATUS         ``a`` = register index, ``b`` = value
=============  ======================================================
"""

from __future__ import annotations

import enum

from .config import ChipConfig
from .layout import Layout

ARG_BITS = 32
RSP_A_BITS = 32
RSP_B_BITS = 48


class Cmd(enum.IntEnum):
    NOP = 0
    CONFIG_WRITE = 1
    INPUT = 2
    END_TICK = 3
    RUN = 4
    READ_STATE = 5
    READ_STATUS = 6
    RESET = 7


class Rsp(enum.IntEnum):
    NONE = 0
    SPIKE = 1
    TICK_DONE = 2
    STATE = 3
    STATUS = 4


class StatusReg(enum.IntEnum):
    TICK = 0  # current tick number
    LAST_CYCLES = 1  # cycles taken by the last tick
    FLITS_IN = 2  # flits accepted by all routers
    FLITS_OUT = 3  # flits sent by all routers
    ERRORS = 4  # sticky error flags, see ErrorFlag
    HOST_IN = 5  # flits the host link injected
    HOST_OUT = 6  # flits the host link received


class ErrorFlag(enum.IntFlag):
    WATCHDOG = 1  # a tick did not end within ChipConfig.watchdog_cycles
    MISROUTE = 2  # a flit was routed off the mesh edge
    BAD_COMMAND = 4  # an unknown opcode or an out-of-range tile


STATUS_REGS = list(StatusReg)
OP_BITS = 4


def tile_bits(chip: ChipConfig) -> int:
    return chip.x_bits + chip.y_bits


def command_layout(chip: ChipConfig, config_data_bits: int) -> Layout:
    """Host -> chip command word; ``config_data_bits`` comes from the core's config map."""
    return Layout(
        "HostCommand",
        [
            ("data", config_data_bits),
            ("arg", ARG_BITS),
            ("tile_y", chip.y_bits),
            ("tile_x", chip.x_bits),
            ("op", OP_BITS),
        ],
    )


def response_layout() -> Layout:
    """Chip -> host response word (fixed width: 84 bits)."""
    return Layout("HostResponse", [("b", RSP_B_BITS), ("a", RSP_A_BITS), ("op", OP_BITS)])
