"""FPGA board tops: UART pins -> HostBridge -> chip, status on LEDs (docs/boards.md).

Three layers, so that the same logic is simulated (tb/board/) and built:

* :class:`SpikemeshTop` — board-independent: serial ``rx``/``tx`` pins, LEDs,
  a UART, a :class:`~spikemesh.rtl.hostbridge.HostBridge` and the chip given to
  it. This is what cocotb drives.
* :class:`BoardTop` — requests the UART and LEDs of an amaranth-boards
  platform and instantiates :class:`SpikemeshTop` at the board's clock.
* :data:`BOARDS` — the supported boards and their LED wiring; the build flow
  is spikemesh.rtl.build / firmware/build.py.

The chip is passed as a factory ``(chip_config) -> component`` with ``i_cmd``
and ``o_rsp`` streams (and, if it has them, ``running`` and ``errors``):
:func:`chip_factory` builds the real :class:`spikemesh.rtl.chip.Chip`;
:func:`loopback_factory` builds :class:`LoopbackChip`, a test-only stand-in
that answers commands without any neurons (its Python twin is
``spikemesh.firmware.bridge_twin.loopback_chip``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from amaranth import Module, Signal
from amaranth.lib import io, stream, wiring
from amaranth.lib.wiring import In, Out

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.hostlink import Cmd, ErrorFlag, Rsp, command_layout, response_layout

from .contracts import mark_unused
from .hostbridge import HostBridge
from .uart import UARTRx, UARTTx, uart_divisor

LED_ROLES = ("heartbeat", "error", "running", "activity")


def chip_factory(chip_config: ChipConfig):
    """The real chip, :class:`spikemesh.rtl.chip.Chip`."""
    from .chip import Chip

    return Chip(chip_config)


def loopback_factory(chip_config: ChipConfig):
    """TEST-ONLY stand-in with the real chip's command/response word widths."""
    from spikemesh.layouts import config_data_bits

    return LoopbackChip(command_layout(chip_config, config_data_bits(chip_config)))


class LoopbackChip(wiring.Component):
    """TEST-ONLY stand-in for the chip: answers host-link commands without neurons.

    It exercises the whole board path (UART, bridge, words both ways) before
    the real chip is plugged in. Behaviour (``loopback_chip`` in
    firmware/uart_loader.py is its Python twin):

    * INPUT(axon) -> SPIKE a = tick, b = axon
    * END_TICK -> TICK_DONE a = tick, b = command words received before it; tick += 1
    * READ_STATUS(reg) -> STATUS a = reg, b = command words received before it
    * READ_STATE -> STATE a = arg, b = the low 48 bits of ``data``
    * RUN(n) -> ``running`` until n END_TICKs; RESET -> tick = 0; unknown op -> BAD_COMMAND

    Parameters
    ----------
    cmd_layout : spikemesh.bitfields.Layout
        The command word (``command_layout(chip, config_data_bits)``).
    """

    def __init__(self, cmd_layout):
        self.cmd_layout = cmd_layout
        super().__init__(
            {
                "i_cmd": In(stream.Signature(cmd_layout.struct())),
                "o_rsp": Out(stream.Signature(response_layout().struct())),
                "tick": Out(32),
                "running": Out(1),
                "errors": Out(8),
            }
        )

    def elaborate(self, platform):
        m = Module()
        count = Signal(32)
        remaining = Signal(32)
        cmd, rsp = self.i_cmd.payload, self.o_rsp.payload

        # One response register: take a command only when it is free (Moore ready).
        m.d.comb += self.i_cmd.ready.eq(~self.o_rsp.valid)
        with m.If(self.o_rsp.valid & self.o_rsp.ready):
            m.d.sync += self.o_rsp.valid.eq(0)

        def answer(op, a, b):
            return [self.o_rsp.valid.eq(1), rsp.op.eq(op), rsp.a.eq(a), rsp.b.eq(b)]

        with m.If(self.i_cmd.valid & self.i_cmd.ready):
            m.d.sync += count.eq(count + 1)
            with m.Switch(cmd.op):
                with m.Case(Cmd.INPUT):
                    m.d.sync += answer(Rsp.SPIKE, self.tick, cmd.arg)
                with m.Case(Cmd.END_TICK):
                    m.d.sync += [
                        answer(Rsp.TICK_DONE, self.tick, count),
                        self.tick.eq(self.tick + 1),
                    ]
                    with m.If(remaining != 0):
                        m.d.sync += remaining.eq(remaining - 1)
                        with m.If(remaining == 1):
                            m.d.sync += self.running.eq(0)
                with m.Case(Cmd.READ_STATUS):
                    m.d.sync += answer(Rsp.STATUS, cmd.arg, count)
                with m.Case(Cmd.READ_STATE):
                    m.d.sync += answer(Rsp.STATE, cmd.arg, cmd.data[:48])
                with m.Case(Cmd.RUN):
                    m.d.sync += [remaining.eq(cmd.arg), self.running.eq(cmd.arg != 0)]
                with m.Case(Cmd.RESET):
                    m.d.sync += [self.tick.eq(0), remaining.eq(0), self.running.eq(0)]
                with m.Case(Cmd.NOP, Cmd.CONFIG_WRITE):
                    pass
                with m.Default():
                    m.d.sync += self.errors.eq(self.errors | ErrorFlag.BAD_COMMAND)
        return m


class _Stretch:
    """Make a one-cycle pulse visible on an LED for ``ticks`` periods of ``strobe``."""

    def __init__(self, m, pulse, strobe, ticks):
        self.o = Signal()
        timer = Signal(range(ticks + 1))
        with m.If(pulse):
            m.d.sync += timer.eq(ticks)
        with m.Elif(strobe & (timer != 0)):
            m.d.sync += timer.eq(timer - 1)
        m.d.comb += self.o.eq(timer != 0)


class SpikemeshTop(wiring.Component):
    """Board-independent top: serial pins <-> UART <-> HostBridge <-> chip, and LEDs.

    Parameters
    ----------
    chip : Component
        Has ``i_cmd`` / ``o_rsp`` host-link streams; optional ``running`` (1 bit)
        and ``errors`` outputs drive the LEDs.
    clk_freq : float
        Clock frequency in Hz (sets the LED timings and, with ``baud``, the divisor).
    baud : int
        UART rate (default 115200).
    divisor : int, optional
        Clock cycles per UART bit; overrides ``baud`` (simulations use a small one).
    max_words, rsp_batch : int
        Passed to :class:`HostBridge`.

    Members
    -------
    rx : In(1)
        Serial data from the host (idle high).
    tx : Out(1)
        Serial data to the host.
    leds : Out(4)
        ``LED_ROLES`` in order: heartbeat (1 Hz blink: the clock runs), error
        (a refused frame or UART error, 0.1 s; steady while the chip has error
        flags), running (the chip is running ticks), activity (a command frame
        was applied, 0.05 s).
    """

    def __init__(
        self,
        chip,
        *,
        clk_freq: float,
        baud: int = 115200,
        divisor: int | None = None,
        max_words: int = 16,
        rsp_batch: int = 8,
    ):
        self.chip = chip
        self.clk_freq = clk_freq
        try:
            self.divisor = divisor if divisor is not None else uart_divisor(clk_freq, baud)
            self.bridge = HostBridge.for_chip(chip, max_words=max_words, rsp_batch=rsp_batch)
        except Exception:
            mark_unused(self)  # not built: no "created but never used" warning
            raise
        super().__init__(
            {
                "rx": In(1, init=1),
                "tx": Out(1, init=1),
                "leds": Out(len(LED_ROLES)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = rx = UARTRx(divisor=self.divisor)
        m.submodules.uart_tx = tx = UARTTx(divisor=self.divisor)
        m.submodules.bridge = bridge = self.bridge
        m.submodules.chip = chip = self.chip
        m.d.comb += [
            rx.rx.eq(self.rx),
            self.tx.eq(tx.tx),
            bridge.rx_error.eq(rx.framing_error | rx.overrun),
        ]
        wiring.connect(m, rx.o, bridge.i_rx)
        wiring.connect(m, bridge.o_tx, tx.i)
        wiring.connect(m, bridge.o_cmd, chip.i_cmd)
        wiring.connect(m, chip.o_rsp, bridge.i_rsp)

        members = chip.signature.members
        # A free-running prescaler without reload: a plain carry chain, so the
        # LED timing never limits Fmax. Bit `ms_bit` toggles about every ms;
        # the top bit blinks the heartbeat with a period of 1-2 s.
        ms_bit = max(int(math.log2(self.clk_freq / 1000)), 1)
        prescaler = Signal(max(int(math.log2(self.clk_freq)), ms_bit + 2))
        m.d.sync += prescaler.eq(prescaler + 1)
        ms_prev = Signal()
        m.d.sync += ms_prev.eq(prescaler[ms_bit])
        ms = prescaler[ms_bit] & ~ms_prev
        heartbeat = prescaler[-1]
        error = _Stretch(m, bridge.refused | bridge.rx_error, ms, 100).o
        if "errors" in members:
            error = error | (chip.errors != 0)
        running = chip.running if "running" in members else 0
        activity = _Stretch(m, bridge.applied, ms, 50).o
        m.d.comb += self.leds.eq(
            sum(sig << i for i, sig in enumerate((heartbeat, error, running, activity)))
        )
        return m


@dataclass(frozen=True)
class Board:
    """A supported board: its amaranth-boards platform and LED wiring."""

    name: str
    platform: str  # "module:Class" in amaranth_boards
    family: str  # "ice40" or "ecp5"
    leds: tuple  # LED resource number for each of LED_ROLES, None = not shown
    extra_resources: str | None = None  # platform attribute to add (iCEBreaker's LED PMOD)
    programmer: str = ""
    # The chip `spikemesh build` puts on the board without --chip: the largest config
    # built and measured to fit (docs/boards.md has the table).
    chip: ChipConfig = field(default_factory=ChipConfig)
    # nextpnr's router for this board's builds (None: nextpnr's default, router1)
    router: str | None = None


BOARDS = {
    # led 0 is red, led 1 green; 2.. are on the snap-off PMOD (plugged into PMOD2)
    "icebreaker": Board(
        "icebreaker",
        "amaranth_boards.icebreaker:ICEBreakerPlatform",
        "ice40",
        leds=(1, 0, 2, 3),
        extra_resources="break_off_pmod",
        programmer="iceprog {bitstream}",
        # 1 x 1 with a 256-neuron core, 512 axons, 2,048 synapses, 512 fan-out entries, 2
        # profiles and 2-word host FIFOs in logic (the UART, not the FIFO, sets the pace):
        # 4,688 logic cells (89 %), 25 of 30 EBRs, 22.9 MHz (bench/boards.py --search,
        # 2026-12-01). Logic cells barely grow with the neuron count (16: 4,410; 64: 4,593),
        # so one large core, not more tiles (a second tile: 6,427 cells), gives the neurons;
        # 512 neurons need 32 EBRs.
        chip=ChipConfig(
            width=1,
            height=1,
            host_fifo_depth=2,
            core=CoreConfig(neurons=256, axons=512, synapses=2048, fanout=512, profiles=2),
        ),
        # router2 routes the default chip (89 % of the cells) in 11 s where router1 takes
        # 55 s, to the same Fmax (22.92 vs 22.98 MHz, seed 1; measured 2026-12-01)
        router="router2",
    ),
    "ulx3s-25f": Board(
        "ulx3s-25f",
        "amaranth_boards.ulx3s:ULX3S_25F_Platform",
        "ecp5",
        leds=(0, 1, 2, 3),
        programmer="openFPGALoader -b ulx3s {bitstream}",
        # One large core (bench/boards.py --search, 2026-12-01): 1,024 neurons, 32k synapses,
        # 3,884 LUT4s (16 %), 43 of 56 DP16KD, 60.7 MHz. It holds examples/ei_random.yaml,
        # which the 2 x 2 chip of 64-neuron cores (256 neurons, 4k synapses) did not.
        chip=ChipConfig(
            width=1,
            height=1,
            core=CoreConfig(neurons=1024, axons=1024, synapses=32768, fanout=1024),
        ),
    ),
    "ulx3s-85f": Board(
        "ulx3s-85f",
        "amaranth_boards.ulx3s:ULX3S_85F_Platform",
        "ecp5",
        leds=(0, 1, 2, 3),
        programmer="openFPGALoader -b ulx3s {bitstream}",
        # Six of the 25F's 1,024-neuron cores with 16,384 synapses each (bench/boards.py
        # --search, 2026-12-01): 6,144 neurons, 98,304 synapses, 14,278 LUT4s (17 %), 157 of
        # 208 DP16KD, 52.9 MHz. 3 x 3 of them needs more block RAM than the board has; the
        # 4 x 4 chip of 64-neuron cores (1,024 neurons, 48 % of the LUTs) did not route.
        chip=ChipConfig(
            width=3,
            height=2,
            core=CoreConfig(neurons=1024, axons=1024, synapses=16384, fanout=1024),
        ),
    ),
}


class BoardTop(wiring.Component):
    """Platform top for amaranth-boards: pins of ``uart`` 0 and the LEDs -> :class:`SpikemeshTop`.

    Parameters
    ----------
    board : Board
    make_chip : callable
        ``() -> chip component`` (called once, at elaboration).
    baud, max_words, rsp_batch :
        As for :class:`SpikemeshTop`.
    """

    def __init__(
        self,
        board: Board,
        make_chip,
        *,
        baud: int = 115200,
        max_words: int = 16,
        rsp_batch: int = 8,
    ):
        self.board = board
        self.make_chip = make_chip
        self.baud = baud
        self.max_words = max_words
        self.rsp_batch = rsp_batch
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.top = top = SpikemeshTop(
            self.make_chip(),
            clk_freq=platform.default_clk_frequency,
            baud=self.baud,
            max_words=self.max_words,
            rsp_batch=self.rsp_batch,
        )
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.d.comb += [top.rx.eq(rx_buf.i), tx_buf.o.eq(top.tx)]
        for i, led_number in enumerate(self.board.leds):
            if led_number is not None:
                led = io.Buffer("o", platform.request("led", led_number, dir="-"))
                m.submodules[f"led_{i}"] = led
                m.d.comb += led.o.eq(top.leds[i])
        return m
