"""UARTRx / UARTTx on Amaranth's simulator: round trip, bit timing, errors."""

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator
from spikemesh.rtl.uart import UARTRx, UARTTx, uart_divisor

from tests.helpers import stream_get, stream_put


def sim(dut, *benches):
    s = Simulator(dut)
    s.add_clock(1e-8)
    for b in benches:
        s.add_testbench(b)
    s.run()


async def send_bits(ctx, line, byte, period, stop=1):
    """Drive one 8N1 character onto ``line`` with ``period`` cycles per bit."""
    for bit in [0, *((byte >> i) & 1 for i in range(8)), stop]:
        ctx.set(line, bit)
        await ctx.tick().repeat(period)
    ctx.set(line, 1)


def test_divisor():
    assert uart_divisor(12e6, 115200) == 104
    assert uart_divisor(25e6, 115200) == 217
    assert uart_divisor(12e6, 3_000_000) == 4


@pytest.mark.parametrize(
    "clk, baud, msg",
    [
        (12e6, 4_000_000, r"needs at least 4 clock cycles per bit, not 3\.00"),
        (12e6, 2_500_000, r"Baud rate 2500000 is 4\.0% off with a 12 MHz clock \(divisor 5\)"),
        (12e6, 0, r"must be positive"),
    ],
)
def test_divisor_wrong(clk, baud, msg):
    with pytest.raises(ValueError, match=msg):
        uart_divisor(clk, baud)


def test_init_wrong_divisor():
    with pytest.raises(ValueError, match=r"UART divisor must be an integer of at least 4, not 3"):
        UARTRx(divisor=3)
    with pytest.raises(ValueError, match=r"not 4\.5"):
        UARTTx(divisor=4.5)


class Loop(wiring.Component):
    """TX wired to RX (test-only)."""

    def __init__(self, divisor):
        self.tx = UARTTx(divisor=divisor)
        self.rx = UARTRx(divisor=divisor)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.tx, m.submodules.rx = self.tx, self.rx
        m.d.comb += self.rx.rx.eq(self.tx.tx)
        return m


@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_round_trip(divisor):
    dut = Loop(divisor)
    data = [0x00, 0xFF, 0x55, 0xAA, 0xC0, 0x01, 0x80, 0x3C]
    got = []

    async def producer(ctx):
        for b in data:
            await stream_put(ctx, dut.tx.i, b)

    async def consumer(ctx):
        for _ in data:
            got.append(await stream_get(ctx, dut.rx.o))

    sim(dut, producer, consumer)
    assert got == data


def test_tx_bit_timing():
    dut = UARTTx(divisor=10)
    line = []

    async def bench(ctx):
        ctx.set(dut.i.payload, 0xA5)
        ctx.set(dut.i.valid, 1)
        await ctx.tick()
        ctx.set(dut.i.valid, 0)
        for _ in range(110):
            line.append(ctx.get(dut.tx))
            await ctx.tick()

    sim(dut, bench)
    bits = [line[5 + 10 * i] for i in range(10)]  # middle of each bit
    assert bits == [0, 1, 0, 1, 0, 0, 1, 0, 1, 1]
    assert all(line[10 * i + j] == bits[i] for i in range(10) for j in range(10))


@pytest.mark.parametrize("period", [31, 32, 33])  # +-3 % baud mismatch
def test_rx_sampling_tolerates_mismatch(period):
    dut = UARTRx(divisor=32)
    got = []

    async def drive(ctx):
        await ctx.tick().repeat(3)
        for b in (0x5A, 0x0F):
            await send_bits(ctx, dut.rx, b, period)
        await ctx.tick().repeat(40)

    async def sink(ctx):
        for _ in range(2):
            got.append(await stream_get(ctx, dut.o))

    sim(dut, drive, sink)
    assert got == [0x5A, 0x0F]


def test_rx_errors():
    dut = UARTRx(divisor=8)
    got, framing, overrun = [], [], []

    async def drive(ctx):
        await ctx.tick().repeat(3)
        # a glitch shorter than half a bit is not a start bit
        ctx.set(dut.rx, 0)
        await ctx.tick().repeat(2)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(20)
        await send_bits(ctx, dut.rx, 0x33, 8, stop=0)  # framing error
        await ctx.tick().repeat(20)
        await send_bits(ctx, dut.rx, 0x44, 8)
        await send_bits(ctx, dut.rx, 0x45, 8)  # nobody read 0x44: overrun
        await ctx.tick().repeat(20)
        got.append(await stream_get(ctx, dut.o))
        await send_bits(ctx, dut.rx, 0x46, 8)
        got.append(await stream_get(ctx, dut.o))

    async def monitor(ctx):
        # bounded, not background: an unfinished coroutine warns at teardown
        for _ in range(800):
            _, _, f, o = await ctx.tick().sample(dut.framing_error, dut.overrun)
            framing.append(f)
            overrun.append(o)

    sim(dut, drive, monitor)
    assert got == [0x44, 0x46]
    assert sum(framing) == 1 and sum(overrun) == 1
