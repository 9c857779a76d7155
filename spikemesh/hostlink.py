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
READ_COUNTER   read activity counter ``arg`` of tile ``tile``
LEARN_FLUSH    learning chips: apply the last tick's pending learning (no tick)
READ_LEARNED   learning chips: read the SYNAPSE / PRETRACE / POSTTRACE word at
               config address ``arg`` of core ``tile``
=============  ======================================================

Responses
---------
=============  ======================================================
SPIKE          a HOST_OUT event: ``a`` = tick, ``b`` = source (x, y, neuron)
TICK_DONE      ``a`` = tick that ended, ``b`` = cycles it took
STATE          ``a`` = tile << 16 | neuron, ``b`` = u (low 24 bits) | v << 24
STATUS         ``a`` = register index, ``b`` = value
COUNTER        ``a`` = counter index, ``b`` = value
LEARNED        ``a`` = 0, ``b`` = the word READ_LEARNED asked for
=============  ======================================================
"""

from __future__ import annotations

import contextlib
import enum

import numpy as np

from .bitfields import Layout
from .config import ChipConfig
from .counters import HW_INDEXES
from .layouts import (
    ROUTE_PORT_BITS,
    ROUTE_PORTS,
    ROUTE_REGION,
    Region,
    RouteIndex,
    config_data_bits,
    config_index_bits,
    region_bits,
    region_layouts,
    route_layouts,
)

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
    READ_COUNTER = 8  # arg = counter index (spikemesh.counters.HW_REGISTERS), any time
    LEARN_FLUSH = 9  # learning chips, between ticks: run the pending learning, no tick
    READ_LEARNED = 10  # learning chips, between ticks: arg = config address of a learned word


class Rsp(enum.IntEnum):
    NONE = 0
    SPIKE = 1
    TICK_DONE = 2
    STATE = 3
    STATUS = 4
    COUNTER = 5  # a = the counter index, b = its value (ChipConfig.counter_bits wide)
    LEARNED = 6  # a = 0, b = the SYNAPSE / PRETRACE / POSTTRACE word READ_LEARNED read


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
    BAD_COMMAND = 4  # an unknown opcode or an argument outside its limit (CommandCheck)
    COUNTER_WRAP = 8  # an activity counter wrapped (ChipConfig.counter_bits)


STATUS_REGS = list(StatusReg)
# the regions READ_LEARNED reads (a learning core's i_lread answers them, rtl/core_learn.py)
LEARNED_REGIONS = (Region.SYNAPSE, Region.PRETRACE, Region.POSTTRACE)
OP_BITS = 4
# Cycles after a tick's start cycle in which the host link ignores all_done: the chip
# registers start on its way to the cores and all_done on its way back (rtl/chip.py), so
# until then all_done may still show the cores as they were before the tick.
START_SETTLE = 3


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


# --- Argument limits: what the host link refuses with BAD_COMMAND ---------------


class CommandCheck:
    """The arguments the host link accepts, per command (docs/hostlink.md, "Arguments").

    A command whose argument is outside its limit is refused with the BAD_COMMAND flag and
    dropped: it never reaches a core truncated onto another tile, axon, neuron or memory
    word. rtl/hostlink.py builds its comparators from these limits, the timed models call
    :meth:`ok` (Python twin) and :meth:`ok_array` (compiled model), and the docs name them.

    ========================  =====================================================
    CONFIG_WRITE              tile inside the mesh; ``arg`` = region << index_bits |
                              index with a known region, ``index`` < the region's
                              depth, no bit above ``addr_bits``; ``data`` fits the
                              region's word (no bit set above its width)
    CONFIG_WRITE, ROUTE       only with ``router.route_tables``: ``index`` a RouteIndex
    (region 7)                (0 TABLE, 1 LINK_OFF), ``data`` fits its word, a TABLE
                              write's ``port`` names a port (< 5)
    INPUT                     tile inside the mesh; ``arg`` (axon) < ``axons``
    READ_STATE                tile inside the mesh; ``arg`` (neuron) < ``neurons``
    READ_STATUS               ``arg`` < the number of status registers
    READ_COUNTER              only with ``counter_bits`` > 0: tile inside the mesh;
                              ``arg`` < HW_INDEXES (18, spikemesh.counters)
    LEARN_FLUSH               only on a learning chip (``learning_profiles`` > 0)
    READ_LEARNED              only on a learning chip: tile inside the mesh; ``arg`` =
                              region << index_bits | index, region SYNAPSE,
                              PRETRACE or POSTTRACE, ``index`` < its depth, no bit
                              above ``addr_bits``
    NOP, END_TICK, RUN,       no argument is checked (the fields they do not use are
    RESET                     ignored; RUN takes any 32-bit tick count)
    other opcodes             always refused
    ========================  =====================================================
    """

    def __init__(self, chip: ChipConfig):
        if not isinstance(chip, ChipConfig):
            raise TypeError(f"CommandCheck needs a ChipConfig, not {chip!r}")
        self.chip = chip
        self.width, self.height = chip.width, chip.height
        self.axons, self.neurons = chip.core.axons, chip.core.neurons
        self.status_regs = len(StatusReg)
        self.counter_indexes = HW_INDEXES if chip.counter_bits else 0
        self.index_bits = config_index_bits(chip)
        self.rbits = region_bits(chip)  # the region field: 4 bits on a learning chip
        self.addr_bits = self.rbits + self.index_bits
        regions = region_layouts(chip)
        # per region code (0 .. 2**rbits - 1): depth and word width, 0 for no region
        known = [r in Region._value2member_map_ and Region(r) in regions
                 for r in range(1 << self.rbits)]  # fmt: skip
        self.region_depth = tuple(
            regions[Region(r)][1] if known[r] else 0 for r in range(1 << self.rbits)
        )
        self.region_bits = tuple(
            regions[Region(r)][0].width if known[r] else 0 for r in range(1 << self.rbits)
        )
        # READ_LEARNED: the depth of each readable learned region, by region code
        self.learning = bool(chip.core.learning)
        self.learned_depth = tuple(
            self.region_depth[r] if self.learning and r in LEARNED_REGIONS else 0
            for r in range(1 << self.rbits)
        )
        # the ROUTE region (router.route_tables): data width per RouteIndex
        self.route_tables = chip.router.route_tables
        self.route_bits = tuple(lay.width for lay in route_layouts(chip).values())

    def reason(self, op, tile_x, tile_y, arg, data) -> str | None:
        """Why the host link refuses this command (naming the argument and its limit), or
        None when it accepts it."""
        op = int(op)
        if op not in Cmd._value2member_map_:
            return f"opcode {op} is not a command (0 .. {max(Cmd)})"
        op = Cmd(op)
        if op == Cmd.READ_COUNTER and not self.counter_indexes:
            return "READ_COUNTER on a chip built without counters (ChipConfig.counter_bits = 0)"
        if op in (Cmd.LEARN_FLUSH, Cmd.READ_LEARNED) and not self.learning:
            return f"{op.name} on a chip built without learning (CoreConfig.learning_profiles = 0)"
        learned = (Cmd.READ_LEARNED,)
        if op in (Cmd.CONFIG_WRITE, Cmd.INPUT, Cmd.READ_STATE, Cmd.READ_COUNTER, *learned) and not (
            tile_x < self.width and tile_y < self.height
        ):
            return f"tile ({tile_x}, {tile_y}) is outside the {self.width} x {self.height} mesh"
        if op == Cmd.INPUT and arg >= self.axons:
            return f"INPUT axon {arg} is not below the core's {self.axons} axons"
        if op == Cmd.READ_STATE and arg >= self.neurons:
            return f"READ_STATE neuron {arg} is not below the core's {self.neurons} neurons"
        if op == Cmd.READ_STATUS and arg >= self.status_regs:
            return f"READ_STATUS register {arg} is not below {self.status_regs}"
        if op == Cmd.READ_COUNTER and arg >= self.counter_indexes:
            return f"READ_COUNTER index {arg} is not below {self.counter_indexes}"
        if op == Cmd.READ_LEARNED:
            return self._learned_reason(arg)
        if op == Cmd.CONFIG_WRITE:
            if arg >> self.addr_bits:
                return (
                    f"CONFIG_WRITE address {arg:#x} does not fit the {self.addr_bits}-bit "
                    "config address"
                )
            region, index = arg >> self.index_bits, arg & ((1 << self.index_bits) - 1)
            if region == ROUTE_REGION and self.route_tables:
                return self._route_reason(index, data)
            depth = self.region_depth[region]
            if depth == 0:
                return f"CONFIG_WRITE address {arg:#x} names no region (region {region})"
            name = Region(region).name
            if index >= depth:
                return f"CONFIG_WRITE {name} index {index} is not below its depth {depth}"
            if data >> self.region_bits[region]:
                return (
                    f"CONFIG_WRITE {name} data {data:#x} has bits set above the "
                    f"{self.region_bits[region]}-bit word"
                )
        return None

    def _learned_reason(self, arg) -> str | None:
        if arg >> self.addr_bits:
            bits = self.addr_bits
            return f"READ_LEARNED address {arg:#x} does not fit the {bits}-bit config address"
        region, index = arg >> self.index_bits, arg & ((1 << self.index_bits) - 1)
        depth = self.learned_depth[region]
        if depth == 0:
            names = ", ".join(r.name for r in LEARNED_REGIONS)
            return f"READ_LEARNED address {arg:#x} is in region {region}, not one of {names}"
        if index >= depth:
            name = Region(region).name
            return f"READ_LEARNED {name} index {index} is not below its depth {depth}"
        return None

    def _route_reason(self, index, data) -> str | None:
        if index >= len(RouteIndex):
            return f"CONFIG_WRITE ROUTE index {index} is not below {len(RouteIndex)}"
        name, bits = RouteIndex(index).name, self.route_bits[index]
        if data >> bits:
            return (
                f"CONFIG_WRITE ROUTE {name} data {data:#x} has bits set above the {bits}-bit word"
            )
        port = data & ((1 << ROUTE_PORT_BITS) - 1)
        if index == RouteIndex.TABLE and port >= ROUTE_PORTS:
            return f"CONFIG_WRITE ROUTE TABLE port {port} is not a port (0 .. {ROUTE_PORTS - 1})"
        return None

    def ok(self, op, tile_x, tile_y, arg, data) -> bool:
        """The host link accepts the command's arguments (:meth:`reason` is None)."""
        return self.reason(op, tile_x, tile_y, arg, data) is None

    def ok_array(self, rows) -> np.ndarray:
        """:meth:`ok` of every row (op, tile_x, tile_y, arg, data) of an int64 array."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1, 5)
        op, tx, ty, arg, data = (rows[:, k] for k in range(5))
        tile = (tx < self.width) & (ty < self.height)
        region = np.clip(arg >> self.index_bits, 0, (1 << self.rbits) - 1)
        index = arg & ((1 << self.index_bits) - 1)
        depth = np.asarray(self.region_depth, dtype=np.int64)[region]
        bits = np.asarray(self.region_bits, dtype=np.int64)[region]
        cfg = tile & ((arg >> self.addr_bits) == 0) & (index < depth) & ((data >> bits) == 0)
        if self.route_tables:
            rbits = np.asarray(self.route_bits, dtype=np.int64)[np.clip(index, 0, 1)]
            port = data & ((1 << ROUTE_PORT_BITS) - 1)
            route_ok = (
                (index < len(RouteIndex))
                & ((data >> rbits) == 0)
                & ((index != RouteIndex.TABLE) | (port < ROUTE_PORTS))
            )
            is_route = region == ROUTE_REGION
            cfg = np.where(is_route, tile & ((arg >> self.addr_bits) == 0) & route_ok, cfg)
        ok = np.isin(op, [int(Cmd.NOP), int(Cmd.END_TICK), int(Cmd.RUN), int(Cmd.RESET)])
        ok |= (op == Cmd.CONFIG_WRITE) & cfg
        ok |= (op == Cmd.INPUT) & tile & (arg < self.axons)
        ok |= (op == Cmd.READ_STATE) & tile & (arg < self.neurons)
        ok |= (op == Cmd.READ_STATUS) & (arg < self.status_regs)
        ok |= (op == Cmd.READ_COUNTER) & tile & (arg < self.counter_indexes)
        if self.learning:
            ldepth = np.asarray(self.learned_depth, dtype=np.int64)[region]
            learned = tile & ((arg >> self.addr_bits) == 0) & (index < ldepth)
            ok |= (op == Cmd.LEARN_FLUSH) | ((op == Cmd.READ_LEARNED) & learned)
        return ok


# --- Word helpers: every loader (UART, cocotb) encodes and decodes here -----


def word_bytes(layout: Layout) -> int:
    """Bytes a word of ``layout`` takes on a byte link (little-endian, zero-padded)."""
    return (layout.width + 7) // 8


def word_to_bytes(layout: Layout, word: int) -> bytes:
    """A packed word as ``word_bytes(layout)`` little-endian bytes."""
    if not 0 <= word < (1 << layout.width):
        raise ValueError(f"{layout.name} word {word:#x} does not fit {layout.width} bits")
    return int(word).to_bytes(word_bytes(layout), "little")


def word_from_bytes(layout: Layout, data: bytes) -> int:
    """Inverse of :func:`word_to_bytes`; the padding bits must be zero."""
    if len(data) != word_bytes(layout):
        raise ValueError(f"{layout.name} word takes {word_bytes(layout)} bytes, not {len(data)}")
    word = int.from_bytes(data, "little")
    if word >> layout.width:
        raise ValueError(f"{layout.name} word {word:#x} has bits set above bit {layout.width - 1}")
    return word


class HostCommands:
    """Encodes host-link command words for one chip (the one place loaders build them).

    Parameters
    ----------
    chip : ChipConfig
    config_data_bits : int
        Width of the ``data`` field (from the core's config map), as for
        :func:`command_layout`.

    Every method returns the packed command word (an ``int`` of
    ``self.layout.width`` bits). ``tile`` is an ``(x, y)`` pair.
    """

    def __init__(self, chip: ChipConfig, config_data_bits: int):
        self.chip = chip
        self.config_data_bits = config_data_bits
        self.layout = command_layout(chip, config_data_bits)

    def encode(self, op: Cmd, *, tile=(0, 0), arg: int = 0, data: int = 0) -> int:
        x, y = tile
        if not (0 <= x < self.chip.width and 0 <= y < self.chip.height):
            raise ValueError(
                f"Tile ({x}, {y}) is outside the {self.chip.width} x {self.chip.height} mesh"
            )
        return self.layout.pack(op=int(Cmd(op)), tile_x=x, tile_y=y, arg=arg, data=data)

    def decode(self, word: int) -> dict:
        """Fields of a command word, with ``op`` as a :class:`Cmd`."""
        f = self.layout.unpack(word)
        f["op"] = Cmd(f["op"])
        return f

    def config_write(self, tile, addr: int, data: int) -> int:
        return self.encode(Cmd.CONFIG_WRITE, tile=tile, arg=addr, data=data)

    def input(self, tile, axon: int) -> int:
        return self.encode(Cmd.INPUT, tile=tile, arg=axon)

    def end_tick(self) -> int:
        return self.encode(Cmd.END_TICK)

    def run(self, ticks: int) -> int:
        return self.encode(Cmd.RUN, arg=ticks)

    def read_state(self, tile, neuron: int) -> int:
        return self.encode(Cmd.READ_STATE, tile=tile, arg=neuron)

    def read_status(self, reg: StatusReg) -> int:
        return self.encode(Cmd.READ_STATUS, arg=int(reg))

    def read_counter(self, tile, index: int) -> int:
        return self.encode(Cmd.READ_COUNTER, tile=tile, arg=index)

    def reset(self) -> int:
        return self.encode(Cmd.RESET)

    def learn_flush(self) -> int:
        return self.encode(Cmd.LEARN_FLUSH)

    def read_learned(self, tile, addr: int) -> int:
        return self.encode(Cmd.READ_LEARNED, tile=tile, arg=addr)


def encode_response(op: Rsp, a: int = 0, b: int = 0) -> int:
    """Pack a response word (used by models and test stand-ins of the chip)."""
    return response_layout().pack(op=int(Rsp(op)), a=a, b=b)


def decode_response(word: int) -> dict:
    """Fields of a response word, with ``op`` as a :class:`Rsp` (unknown opcodes stay ints)."""
    f = response_layout().unpack(word)
    with contextlib.suppress(ValueError):
        f["op"] = Rsp(f["op"])
    return f


# --- UART framing (docs/boards.md): shared by rtl/hostbridge.py and firmware/uart_loader.py ---

FRAME_VERSION = 1
SLIP_END = 0xC0  # frame delimiter, sent before and after every frame
SLIP_ESC = 0xDB
SLIP_ESC_END = 0xDC  # ESC ESC_END stands for a data byte 0xC0
SLIP_ESC_ESC = 0xDD  # ESC ESC_ESC stands for a data byte 0xDB


class Frame(enum.IntEnum):
    """Frame type: the first byte of every (unstuffed) frame."""

    CMD = 0x01  # host -> bridge: seq, 1..max_words command words
    SYNC = 0x02  # host -> bridge: forget the last applied seq (start of a session)
    PING = 0x03  # host -> bridge: answered by INFO
    ACK = 0x81  # bridge -> host: seq [, words applied]
    NAK = 0x82  # bridge -> host: seq as received, reason (see Nak)
    RSP = 0x83  # bridge -> host: rseq, 1..rsp_batch response words
    INFO = 0x84  # bridge -> host: seq, version, word sizes, error counters


class Nak(enum.IntEnum):
    """Why the bridge refused a host frame (the host retransmits it)."""

    CRC = 1  # checksum mismatch
    LENGTH = 2  # payload not a whole number of command words, or empty
    OVERFLOW = 3  # more than max_words command words
    TYPE = 4  # unknown frame type
    ESCAPE = 5  # ESC followed by neither ESC_END nor ESC_ESC
    WIDTH = 6  # a command word with a bit set above the command layout's width


# Bytes of an INFO frame after type and seq, in order.
INFO_FIELDS = (
    "version",
    "cmd_bytes",
    "rsp_bytes",
    "max_words",
    "rsp_batch",
    "naks",
    "drops",
    "rx_errors",
)


def crc16_ccitt(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, MSB first, no final xor).

    Appended big-endian to a frame; the CRC of frame + CRC is then 0, which is
    what the bridge checks.
    """
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def slip_encode(body: bytes) -> bytes:
    """Stuff ``body`` and delimit it with END on both sides."""
    out = bytearray([SLIP_END])
    for b in body:
        if b == SLIP_END:
            out += bytes([SLIP_ESC, SLIP_ESC_END])
        elif b == SLIP_ESC:
            out += bytes([SLIP_ESC, SLIP_ESC_ESC])
        else:
            out.append(b)
    out.append(SLIP_END)
    return bytes(out)


def build_frame(ftype: Frame, seq: int, payload: bytes = b"") -> bytes:
    """A complete frame on the wire: SLIP(type, seq, payload, CRC-16 big-endian)."""
    body = bytes([int(ftype), seq & 0xFF]) + bytes(payload)
    return slip_encode(body + crc16_ccitt(body).to_bytes(2, "big"))


class SlipDecoder:
    """Incremental SLIP decoder: feed bytes, get back complete frame bodies.

    A body still carries its CRC; check it with ``crc16_ccitt(body) == 0``.
    Empty frames (END END) are skipped; a bad escape marks the frame bad
    (returned as ``None`` so the caller can count it).
    """

    def __init__(self):
        self._buf = bytearray()
        self._esc = False
        self._bad = False

    def feed(self, data: bytes) -> list:
        frames = []
        for b in data:
            if b == SLIP_END:
                if self._buf or self._bad:
                    frames.append(None if self._bad else bytes(self._buf))
                self._buf.clear()
                self._esc = self._bad = False
            elif self._esc:
                self._esc = False
                if b == SLIP_ESC_END:
                    self._buf.append(SLIP_END)
                elif b == SLIP_ESC_ESC:
                    self._buf.append(SLIP_ESC)
                else:
                    self._bad = True
            elif b == SLIP_ESC:
                self._esc = True
            else:
                self._buf.append(b)
        return frames


def frame_format_markdown() -> str:
    """The frame format tables of docs/boards.md, generated from the definitions above."""
    chip = ChipConfig()
    cmd = command_layout(chip, config_data_bits(chip))
    rows = [
        "| frame | dir | bytes after SLIP un-stuffing |",
        "|---|---|---|",
        "| CMD | host -> bridge | `0x01`, seq, N x command word (N = 1..max_words), CRC-16 |",
        "| SYNC | host -> bridge | `0x02`, seq, CRC-16 |",
        "| PING | host -> bridge | `0x03`, seq, CRC-16 |",
        "| ACK | bridge -> host | `0x81`, seq, CRC-16 |",
        "| NAK | bridge -> host | `0x82`, seq as received, reason, CRC-16 |",
        "| RSP | bridge -> host | `0x83`, rseq, N x response word (N = 1..rsp_batch), CRC-16 |",
        "| INFO | bridge -> host | `0x84`, seq, " + ", ".join(INFO_FIELDS) + ", CRC-16 |",
        "",
        "| NAK reason | code |",
        "|---|---|",
        *(f"| {r.name} | {r.value} |" for r in Nak),
        "",
        f"Words travel little-endian in whole bytes: a command word of the default chip "
        f"({cmd.width} bits, with {config_data_bits(chip)}-bit config data) takes "
        f"{word_bytes(cmd)} bytes, a response word ({response_layout().width} bits) "
        f"{word_bytes(response_layout())} bytes.",
    ]
    return "\n".join(rows)
