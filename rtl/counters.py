"""The hardware activity counters of a block (docs/counters.md, "The hardware registers and
READ_COUNTER"): ``ChipConfig.counter_bits``-wide registers that each add 1 at the end of
every cycle their condition holds, a sticky ``wrapped`` register, the registered selection
READ_COUNTER reads through, and the registered clear that RESET sends. Only built when
``counter_bits`` > 0; the twins count in sim/core.py, sim/router.py and sim/mesh.py."""

from __future__ import annotations

from amaranth import Signal
from amaranth.lib.wiring import In, Out

from spikemesh.counters import HW_INDEXES

INDEX_BITS = (HW_INDEXES - 1).bit_length()  # READ_COUNTER's index: 0 .. HW_INDEXES - 1


def counter_members(chip) -> dict:
    """The ports of a tile block with counters (none without): the selected index and the
    clear pulse in, the registered selected value and the sticky wrap flag out."""
    if not chip.counter_bits:
        return {}
    return {
        "cnt_index": In(INDEX_BITS),
        "cnt_clear": In(1),
        "cnt_value": Out(chip.counter_bits),
        "cnt_wrapped": Out(1),
    }


def counter_regs(chip, names) -> list:
    """One ``counter_bits``-wide register per name (``cnt_<name>``); none without counters."""
    if not chip.counter_bits:
        return []
    return [Signal(chip.counter_bits, name=f"cnt_{n}") for n in names]


def counter_bank(m, block, regs, incs, *, base: int) -> None:
    """``regs[k]`` (READ_COUNTER index ``base + k``) adds ``incs[k]`` (1 bit) at the end of
    each cycle; one of them incrementing from all ones sets ``block.cnt_wrapped``;
    ``block.cnt_value`` registers the register ``block.cnt_index`` selects (0 for an index
    of another block); ``block.cnt_clear`` zeroes the registers and the flag (it wins)."""
    wrap = 0
    for reg, inc in zip(regs, incs, strict=True):
        with m.If(inc):
            m.d.sync += reg.eq(reg + 1)
        wrap = wrap | (inc & reg.all())
    with m.If(wrap):
        m.d.sync += block.cnt_wrapped.eq(1)
    m.d.sync += block.cnt_value.eq(0)
    with m.Switch(block.cnt_index):
        for k, reg in enumerate(regs):
            with m.Case(base + k):
                m.d.sync += block.cnt_value.eq(reg)
    with m.If(block.cnt_clear):
        m.d.sync += [reg.eq(0) for reg in regs]
        m.d.sync += block.cnt_wrapped.eq(0)
