"""The board top on Verilator, driven through its UART pins by the real host loader.

``SpikemeshTop`` (UART + HostBridge + chip) is simulated; a Python UART model
bit-bangs its ``rx`` pin and decodes its ``tx`` pin, and
:class:`~spikemesh.firmware.uart_loader.HostLinkUART` — the same class that
talks to a real board over pyserial — runs in a cocotb bridge thread on top of
:class:`CocotbUART`, a transport whose ``read`` waits in simulated time.

Two builds: the TEST-ONLY ``LoopbackChip`` (whose answers are simple enough
to check every word, and which carries the fault-injection tests) and the
real ``Chip`` (reset, ticks and status over the UART).

Faults are injected with ``FaultyLink``: a corrupted frame is refused (NAK)
and retransmitted, a lost ACK causes a retransmission that is acknowledged
but not applied twice (the loopback's word counter proves it).
"""

from __future__ import annotations

import collections
import json
import os

import pytest

from spikemesh.hostlink import Cmd, Rsp

DIVISOR = 8  # clock cycles per UART bit in simulation (a real board: clk / 115200)
CLK_FREQ = 100e3  # nominal, only scales the LED timers (1 "ms" = 64 cycles)


# --- cocotb side -------------------------------------------------------------

try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.task import bridge, resume
    from cocotb.triggers import ClockCycles, Event, FallingEdge, First
except ImportError:  # collected by pytest without cocotb installed
    cocotb = None


class UARTModel:
    """Bit-level UART at the DUT's pins: ``send`` drives ``rx``, received bytes pile up."""

    def __init__(self, dut, divisor):
        self.dut = dut
        self.divisor = divisor
        self.received = collections.deque()
        self.got_byte = Event()
        self.to_send = collections.deque()
        self.idle = Event()
        self.idle.set()
        self.kick = Event()
        dut.rx.value = 1
        cocotb.start_soon(self._drive())
        cocotb.start_soon(self._listen())

    def send(self, data: bytes):
        self.to_send.extend(data)
        self.idle.clear()
        self.kick.set()

    async def _drive(self):
        clk, d = self.dut.clk, self.divisor
        while True:
            if not self.to_send:
                self.idle.set()
                self.kick.clear()
                await self.kick.wait()
                continue
            byte = self.to_send.popleft()
            for bit in [0, *((byte >> i) & 1 for i in range(8)), 1]:
                self.dut.rx.value = bit
                await ClockCycles(clk, d)

    async def _listen(self):
        clk, d = self.dut.clk, self.divisor
        while True:
            await FallingEdge(self.dut.tx)
            await ClockCycles(clk, d // 2)
            if int(self.dut.tx.value):
                continue  # glitch
            byte = 0
            for i in range(8):
                await ClockCycles(clk, d)
                byte |= int(self.dut.tx.value) << i
            await ClockCycles(clk, d)
            assert int(self.dut.tx.value) == 1, "stop bit low on tx"
            self.received.append(byte)
            self.got_byte.set()


class CocotbUART:
    """Byte transport for HostLinkUART, used from a cocotb bridge thread.

    ``read`` first lets the model finish sending what was written, then waits
    up to ``timeout_cycles`` for a byte: an empty result is a timeout, as with
    a serial port (``empty_read_is_timeout``).
    """

    empty_read_is_timeout = True

    def __init__(self, uart: UARTModel, timeout_cycles: int):
        self.uart = uart
        self.timeout_cycles = timeout_cycles

    def write(self, data: bytes) -> int:
        self.uart.send(bytes(data))
        return len(data)

    def read(self, n: int = 1) -> bytes:
        return resume(self._read)(n)

    async def _read(self, n):
        u = self.uart
        await u.idle.wait()
        if not u.received:
            u.got_byte.clear()
            await First(u.got_byte.wait(), ClockCycles(u.dut.clk, self.timeout_cycles))
        out = bytearray()
        while u.received and len(out) < n:
            out.append(u.received.popleft())
        return bytes(out)


class TB:
    def __init__(self, dut):
        from spikemesh.config import ChipConfig
        from spikemesh.hostlink import HostCommands

        cfg = json.loads(os.environ["BOARD_TB"])
        self.dut = dut
        self.commands = HostCommands(ChipConfig.from_dict(cfg["chip"]), cfg["data_bits"])
        self.uart = UARTModel(dut, cfg["divisor"])
        # a reply starts within a few bytes' time once the frame is in
        self.transport = CocotbUART(self.uart, timeout_cycles=60 * 10 * cfg["divisor"])
        self.led_seen = [0] * 4
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start(start_high=False))
        cocotb.start_soon(self._watch_leds())

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)

    async def _watch_leds(self):
        while True:
            await self.dut.leds.value_change
            v = int(self.dut.leds.value)
            for i in range(4):
                self.led_seen[i] |= (v >> i) & 1

    async def host(self, body, *, faults=None):
        """Run ``body(host, link)`` in a thread with a HostLinkUART over the pins."""
        from spikemesh.firmware.uart_loader import FaultyLink, HostLinkUART

        def run():
            link = FaultyLink(self.transport, faults=faults)
            host = HostLinkUART(link, self.commands, retries=4)
            return body(host, link)

        return await bridge(run)()


if cocotb is not None:

    @cocotb.test()
    async def link_round_trip(dut):
        """Config words, ticks with inputs, status and state through the UART."""
        tb = TB(dut)
        await tb.reset()
        cmds = tb.commands

        def body(host, link):
            assert host.info["cmd_bytes"] == (cmds.layout.width + 7) // 8
            host.reset()
            writes = [
                ((i % 2, (i // 2) % 2), i, (0x5A5A_0000_C0DB << 8 | i) & ((1 << 61) - 1))
                for i in range(20)
            ]
            host.write_config(writes)  # 2 frames of 16 + 4 words
            ticks = host.run_ticks([[((0, 0), 0xC0), ((1, 1), 0xDB)], [], [((0, 1), 77)]])
            assert [t["tick"] for t in ticks] == [0, 1, 2], ticks
            assert [[s["b"] for s in t["spikes"]] for t in ticks] == [[0xC0, 0xDB], [], [77]]
            # every command word arrived exactly once: RESET + 20 + RUN + 3 INPUT + 3 END_TICK
            assert host.read_status(0) == 1 + 20 + 1 + 3 + 3
            # the loopback echoes READ_STATE's data field: checks every data bit's path
            host.send_words(
                [cmds.encode(Cmd.READ_STATE, tile=(1, 0), arg=9, data=0x1234_5678_9ABC)]
            )
            r, _ = host.wait_for(Rsp.STATE)
            assert r["a"] == 9 and r["b"] == 0x1234_5678_9ABC
            return host.stats

        stats = await tb.host(body)
        dut._log.info(f"host stats: {dict(stats)}")
        assert stats["retransmits"] == 0 and stats["naks"] == 0
        assert tb.led_seen[3], "activity LED never lit"

    @cocotb.test()
    async def corrupted_frame_refused_and_retried(dut):
        """A bit flipped on the wire: NAK, retransmission, applied once."""
        tb = TB(dut)
        await tb.reset()

        def body(host, link):
            n0 = host.read_status(0)
            # writes so far: SYNC, PING, READ_STATUS; corrupt the next CMD frame
            link.faults = {link.writes: "corrupt"}
            host.write_config([((0, 0), a, a) for a in range(5)])
            assert link.log and link.log[-1][1] == "corrupt"
            assert host.read_status(0) == n0 + 1 + 5
            info = host.ping()
            return host.stats, info

        stats, info = await tb.host(body)
        dut._log.info(f"host stats: {dict(stats)}, bridge info: {info}")
        assert stats["naks"] == 1 and stats["retransmits"] == 1
        assert info["naks"] == 1
        assert tb.led_seen[1], "error LED never lit"

    @cocotb.test()
    async def lost_frame_and_lost_ack(dut):
        """A frame lost on the way in (timeout) and an ACK lost on the way out (duplicate)."""
        tb = TB(dut)
        await tb.reset()

        def body(host, link):
            from spikemesh.firmware.uart_loader import ResponseLost

            n0 = host.read_status(0)
            link.faults = {link.writes: "drop", link.writes + 2: "drop_reply"}
            host.end_tick()  # dropped, then retransmitted
            host.end_tick()  # applied, its TICK_DONE and ACK lost; the retransmission
            #                  is a duplicate: acknowledged, not applied again
            try:
                host.read_status(0)
            except ResponseLost:
                pass  # the lost TICK_DONE frame shows as a gap in rseq
            else:
                raise AssertionError("the lost response frame was not reported")
            status, before = host.wait_for(Rsp.STATUS)
            assert status["b"] == n0 + 1 + 2, (status, n0)
            return host.stats, before

        stats, before = await tb.host(body)
        dut._log.info(f"host stats: {dict(stats)}")
        assert stats["timeouts"] == 2 and stats["retransmits"] == 2
        # The ACK of a frame overtakes the responses it causes (control frames
        # go first), so the TICK_DONE of the first END_TICK was still on the
        # wire when the second one's replies were dropped: both are lost, and
        # both are reported.
        assert stats["rsp_frames_lost"] == 2
        assert [r for r in before if r["op"] == Rsp.TICK_DONE] == []

    @cocotb.test()
    async def chip_over_uart(dut):
        """The REAL chip behind the board's UART: reset, ticks, status (run with DESIGN=chip)."""
        from spikemesh.hostlink import StatusReg

        tb = TB(dut)
        await tb.reset()

        def body(host, link):
            host.reset()
            assert host.read_status(StatusReg.TICK) == 0
            ticks = host.run_ticks([[], [], []])
            assert [t["tick"] for t in ticks] == [0, 1, 2], ticks
            assert all(t["cycles"] > 0 for t in ticks), ticks
            assert host.read_status(StatusReg.TICK) == 3
            assert host.read_status(StatusReg.ERRORS) == 0
            return host.stats, ticks

        stats, ticks = await tb.host(body)
        dut._log.info(f"host stats: {dict(stats)}; ticks: {ticks}")


# --- pytest side -------------------------------------------------------------

LOOPBACK_TESTS = [
    "link_round_trip",
    "corrupted_frame_refused_and_retried",
    "lost_frame_and_lost_ack",
]


def _run(design, chip, name, testcase):
    from tb.runner import require_module, run_cocotb

    require_module("cocotb_tools")
    from spikemesh.rtl.boards import SpikemeshTop, chip_factory, loopback_factory

    from spikemesh.layouts import config_data_bits

    factory = chip_factory if design == "chip" else loopback_factory
    top = SpikemeshTop(factory(chip), clk_freq=CLK_FREQ, divisor=DIVISOR)
    env = {
        "BOARD_TB": {
            "chip": chip.to_dict(),
            "data_bits": config_data_bits(chip),
            "divisor": DIVISOR,
        }
    }
    run_cocotb(
        top,
        toplevel="board_top",
        test_module="tb.board.test_board",
        name=name,
        env=env,
        testcase=testcase,
    )


@pytest.mark.cocotb
def test_board_loopback():
    """UART link, faults and retries with the TEST-ONLY loopback stand-in."""
    from spikemesh.config import ChipConfig

    _run("loopback", ChipConfig(), "board", LOOPBACK_TESTS)


@pytest.mark.cocotb
def test_board_chip():
    """The real chip (1x1, 16 neurons: what fits the iCEBreaker) behind the board's UART."""
    from spikemesh.config import ChipConfig, CoreConfig

    chip = ChipConfig(
        width=1,
        height=1,
        core=CoreConfig(neurons=16, axons=64, synapses=256, fanout=64, profiles=2),
    )
    _run("chip", chip, "board-chip", "chip_over_uart")
