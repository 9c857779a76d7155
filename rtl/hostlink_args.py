"""The host link's argument check in hardware: comparators built from
spikemesh.hostlink.CommandCheck's limits (the twins' definition, docs/hostlink.md
"Arguments"), registered beside the command word by rtl/hostlink.py."""

from amaranth import Signal

from spikemesh.hostlink import Cmd
from spikemesh.layouts import ROUTE_PORT_BITS, ROUTE_PORTS, ROUTE_REGION, RouteIndex

__all__ = ["arguments_ok", "route_ok"]


def arguments_ok(m, chk, p):
    """1 when the command word ``p`` has a known opcode and every argument it uses is
    within its limit (spikemesh.hostlink.CommandCheck, the twins' definition)."""
    ok = Signal(name="arg_ok")
    tile = (p.tile_x < chk.width) & (p.tile_y < chk.height)
    ib = chk.index_bits
    arg_hi_zero = p.arg[chk.addr_bits :] == 0
    index = p.arg[:ib]
    with m.Switch(p.op):
        with m.Case(Cmd.NOP, Cmd.END_TICK, Cmd.RUN, Cmd.RESET):
            m.d.comb += ok.eq(1)
        with m.Case(Cmd.INPUT):
            m.d.comb += ok.eq(tile & (p.arg < chk.axons))
        with m.Case(Cmd.READ_STATE):
            m.d.comb += ok.eq(tile & (p.arg < chk.neurons))
        with m.Case(Cmd.READ_STATUS):
            m.d.comb += ok.eq(p.arg < chk.status_regs)
        if chk.counter_indexes:
            with m.Case(Cmd.READ_COUNTER):
                m.d.comb += ok.eq(tile & (p.arg < chk.counter_indexes))
        if chk.learning:
            with m.Case(Cmd.LEARN_FLUSH):
                m.d.comb += ok.eq(1)
            with m.Case(Cmd.READ_LEARNED):
                with m.Switch(p.arg[ib : chk.addr_bits]):
                    for region, depth in enumerate(chk.learned_depth):
                        if depth:
                            with m.Case(region):
                                m.d.comb += ok.eq(tile & arg_hi_zero & (index < depth))
        with m.Case(Cmd.CONFIG_WRITE):
            with m.Switch(p.arg[ib : chk.addr_bits]):
                for region, (depth, bits) in enumerate(
                    zip(chk.region_depth, chk.region_bits, strict=True)
                ):
                    if depth == 0:
                        continue  # no such region: stays 0
                    data_fits = (p.data[bits:] == 0) if bits < len(p.data) else 1
                    with m.Case(region):
                        m.d.comb += ok.eq(tile & arg_hi_zero & (index < depth) & data_fits)
                if chk.route_tables:
                    with m.Case(ROUTE_REGION):
                        m.d.comb += ok.eq(tile & arg_hi_zero & route_ok(chk, p, index))
    return ok


def route_ok(chk, p, index):
    """A ROUTE write's index and data within their limits (CommandCheck._route_reason)."""
    fits = [(p.data[bits:] == 0) for bits in chk.route_bits]
    port_ok = p.data[:ROUTE_PORT_BITS] < ROUTE_PORTS
    return ((index == RouteIndex.TABLE) & fits[RouteIndex.TABLE] & port_ok) | (
        (index == RouteIndex.LINK_OFF) & fits[RouteIndex.LINK_OFF]
    )
