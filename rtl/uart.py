"""8N1 UART receiver and transmitter with byte streams (docs/boards.md).

amaranth-stdio is not published for Amaranth 0.5 (its PyPI name is a
placeholder), so these are our own: a few dozen lines each, simulated in
tests/rtl/test_uart.py and on the boards through tb/board/.

Both blocks take the bit period in clock cycles, ``divisor``; use
:func:`uart_divisor` to derive it from the clock and baud rate.
"""

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from .contracts import mark_unused


def uart_divisor(clk_freq: float, baud: int) -> int:
    """Clock cycles per bit, rounded; refuses rates off by more than 2 % (8N1 tolerates ~4 %)."""
    if baud <= 0 or clk_freq <= 0:
        raise ValueError(
            f"Clock frequency and baud rate must be positive, not {clk_freq} and {baud}"
        )
    divisor = round(clk_freq / baud)
    if divisor < 4:
        raise ValueError(
            f"Baud rate {baud} is too fast for a {clk_freq / 1e6:g} MHz clock: "
            f"the UART needs at least 4 clock cycles per bit, not {clk_freq / baud:.2f}"
        )
    error = abs(clk_freq / divisor - baud) / baud
    if error > 0.02:
        raise ValueError(
            f"Baud rate {baud} is {error:.1%} off with a {clk_freq / 1e6:g} MHz clock "
            f"(divisor {divisor}); choose a rate within 2 %"
        )
    return divisor


def _check_divisor(component, divisor):
    if not isinstance(divisor, int) or divisor < 4:
        mark_unused(component)
        raise ValueError(f"UART divisor must be an integer of at least 4, not {divisor!r}")


class UARTRx(wiring.Component):
    """8N1 receiver.

    The line goes through a two-flip-flop synchronizer; a falling edge starts
    a byte, the start bit is re-checked half a bit later (a glitch shorter
    than that is ignored) and every following bit is sampled in its middle.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4.

    Members
    -------
    rx : In(1)
        The serial line (idle high).
    o : Out(stream.Signature(8))
        Received bytes. The receiver cannot stall the line: a byte that
        completes while the previous one is still waiting is dropped and
        ``overrun`` pulses.
    framing_error : Out(1)
        One-cycle pulse: the stop bit was low (noise, wrong baud rate, break).
    overrun : Out(1)
        One-cycle pulse: a byte was dropped because ``o`` was not ready.
    """

    def __init__(self, *, divisor: int):
        _check_divisor(self, divisor)
        self.divisor = divisor
        super().__init__(
            {
                "rx": In(1, init=1),
                "o": Out(stream.Signature(8)),
                "framing_error": Out(1),
                "overrun": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        # Two flip-flops against metastability; init 1 = idle line, so reset
        # does not look like a start bit. Reset like every other register here
        # (reset_less=False), so the timing is that of the former hand-rolled pair.
        line = Signal(init=1)
        m.submodules.rx_sync = FFSynchronizer(self.rx, line, init=1, reset_less=False, stages=2)

        timer = Signal(range(max(d, 2)))
        bit = Signal(range(9))
        shreg = Signal(8)

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    # First look at the middle of the start bit.
                    m.d.sync += timer.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):
                    m.next = "IDLE"  # a glitch, not a start bit
                with m.Else():
                    m.d.sync += [timer.eq(d - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [timer.eq(d - 1), shreg.eq(Cat(shreg[1:], line)), bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(~line):
                    m.d.comb += self.framing_error.eq(1)
                    m.next = "BREAK"
                with m.Else():
                    with m.If(self.o.valid & ~self.o.ready):
                        m.d.comb += self.overrun.eq(1)
                    with m.Else():
                        m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1)]
                    # Back to IDLE in the middle of the stop bit: the next
                    # start edge may come as early as half a bit from now.
                    m.next = "IDLE"
            with m.State("BREAK"):
                # Wait for the line to be released before looking for a start bit.
                with m.If(line):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """8N1 transmitter.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4.

    Members
    -------
    i : In(stream.Signature(8))
        Bytes to send; ``ready`` is high only between bytes (it depends on
        state, never on ``valid``).
    tx : Out(1)
        The serial line, driven from a register (idle high).
    """

    def __init__(self, *, divisor: int):
        _check_divisor(self, divisor)
        self.divisor = divisor
        super().__init__(
            {
                "i": In(stream.Signature(8)),
                "tx": Out(1, init=1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        timer = Signal(range(d))
        # stop bit, 8 data bits, start bit; shifted out LSB first
        shreg = Signal(10, init=0x3FF)
        bits = Signal(range(11))

        m.d.comb += self.tx.eq(shreg[0])
        m.d.comb += self.i.ready.eq(bits == 0)
        with m.If(bits == 0):
            with m.If(self.i.valid):
                m.d.sync += [
                    shreg.eq(Cat(0, self.i.payload, 1)),
                    bits.eq(10),
                    timer.eq(d - 1),
                ]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [shreg.eq(Cat(shreg[1:], 1)), bits.eq(bits - 1), timer.eq(d - 1)]
        return m
