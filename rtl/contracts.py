"""Contracts of the gateware: simulation-only assertions, and components never elaborated.

Assertions (docs/testing.md, "Contracts as assertions") are Amaranth 0.5
``Assert`` statements in the ``sync`` domain, so each is checked at every
clock edge on the values of the cycle that edge ends:

- Amaranth's simulator raises ``AssertionError`` with the message;
- the Verilog (``amaranth.back.verilog``) carries them as immediate
  ``assert`` statements in an ``always @(posedge clk)`` block: Verilator
  stops the simulation on a failure (with or without ``--assert``), Icarus
  prints ``ERROR: <file>:<line>`` and runs on (tb/runner.py turns that line
  into a test failure);
- a hardware build (``platform`` given) gets none of them, so the bitstream,
  its LUT count and its timing are exactly those of the design without them.

They are off while ``rst`` is high (registers are being reset) and they never
change what the design does.
"""

from __future__ import annotations

from amaranth import Format, ResetSignal, Signal
from amaranth.hdl import Assert

__all__ = ["at_most_one", "check", "fifo_reads_when_ready", "mark_unused", "stream_holds"]


def check(m, platform, test, message: str, *args) -> None:
    """Assert ``test`` at every clock edge out of reset (simulation and Verilog only).

    ``message`` is a :class:`amaranth.hdl.Format` string; ``args`` its values.
    """
    if platform is not None:  # a hardware build: no checkers in the bitstream
        return
    with m.If(~ResetSignal()):
        m.d.sync += Assert(test, Format(message, *args))


def at_most_one(m, platform, bits, message: str, *args) -> None:
    """Assert that at most one bit of ``bits`` is set (a one-hot or empty grant)."""
    check(m, platform, (bits & (bits - 1)) == 0, message, *args)


def fifo_reads_when_ready(m, platform, fifo, what: str) -> None:
    """Assert that a SyncFIFO is never read while empty (an underflow)."""
    check(m, platform, ~fifo.r_en | fifo.r_rdy, f"{what}: FIFO read while empty (underflow)")


def stream_holds(m, platform, s, what: str) -> None:
    """Assert the stream rule on an input: a refused payload stays offered, unchanged.

    Behind a ready-gated FIFO a refused flit that is withdrawn or changed is
    lost, exactly as if the FIFO had overflowed; this is the FIFO's overflow
    check at its boundary. The registers exist only in simulation.
    """
    if platform is not None:
        return
    refused = Signal(name=f"{what}_refused")
    held = Signal(len(s.payload.as_value()), name=f"{what}_held")
    m.d.sync += [refused.eq(s.valid & ~s.ready), held.eq(s.payload.as_value())]
    check(
        m,
        platform,
        ~refused | (s.valid & (s.payload.as_value() == held)),
        f"{what}: a flit refused while the FIFO was full was withdrawn or changed "
        "(it would be lost: overflow)",
    )


def mark_unused(component) -> None:
    """Mark a component that is deliberately never elaborated.

    Amaranth warns at garbage collection about an elaboratable "created but
    never used" (an error under pytest's ``-W error``, raised in whichever later
    test the collector runs). A constructor that rejects its arguments leaves
    such a half-built object behind; so does a test that only inspects one.
    Amaranth 0.5 has no public switch for this: the private attribute is set
    here, in one place.
    """
    component._MustUse__silence = True
