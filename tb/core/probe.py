"""The core under test with one extra output that the lockstep reads in one go.

cocotb reads a signal through a ``Logic``/``LogicArray`` built from its bit string,
about 2 us a read here; the lockstep of tb/core reads i_event.ready, o_flit.valid,
done, idle and o_flit.payload in every cycle. :class:`ProbedCore` is the Core with
the same ports (forwarded, so the testbench drives and reads it as it would the Core)
plus ``probe``, those five concatenated::

    probe = o_flit.payload << 4 | idle << 3 | done << 2 | o_flit.valid << 1 | i_event.ready

Pure wiring: no register, nothing in the Core changes.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out
from spikemesh.rtl.core import Core


class ProbedCore(wiring.Component):
    def __init__(self, chip, *, x: int, y: int):
        self.core = Core(chip, x=x, y=y)
        members = dict(self.core.signature.members)
        width = 4 + len(self.core.o_flit.payload.as_value())
        super().__init__(wiring.Signature({**members, "probe": Out(width)}))

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        for name, member in core.signature.members.items():
            outer, inner = getattr(self, name), getattr(core, name)
            if not member.is_port:
                if member.flow == wiring.In:
                    wiring.connect(m, wiring.flipped(outer), inner)
                else:
                    wiring.connect(m, inner, wiring.flipped(outer))
            elif member.flow == wiring.In:
                m.d.comb += inner.eq(outer)
            else:
                m.d.comb += outer.eq(inner)
        m.d.comb += self.probe.eq(
            Cat(core.i_event.ready, core.o_flit.valid, core.done, core.idle, core.o_flit.payload)
        )
        return m
