"""Router RTL on Amaranth's simulator: routes, round-robin order, backpressure, latency.

The route decision and the arbiter are checked exhaustively against the shared
rules of :mod:`spikemesh.noc` (every tile and encodable destination on several
mesh shapes; every (last grant, request mask) pair on every output).
"""

import itertools

import pytest
from amaranth import Cat, Module, Signal
from amaranth.lib.fifo import SyncFIFO
from spikemesh.rtl.contracts import at_most_one, fifo_reads_when_ready
from spikemesh.rtl.mesh import Mesh
from spikemesh.rtl.router import Router

from spikemesh.config import ChipConfig, RouterConfig, flit_layout
from spikemesh.noc import N_PORTS, Port, route, rr_grant
from tests.helpers import run_sim

CHIP = ChipConfig(width=3, height=3)
LAY = flit_layout(CHIP)


def flit(dx, dy, payload=0, kind=0):
    return LAY.pack(kind=kind, dest_x=dx, dest_y=dy, payload=payload)


def payload_of(word):
    return LAY.unpack(word)["payload"]


class Driver:
    """Cycle-level access to a router's ports from an async testbench."""

    def __init__(self, ctx, dut):
        self.ctx, self.dut = ctx, dut

    def offer(self, port, word):
        self.ctx.set(self.dut.i[port].valid, 1)
        self.ctx.set(self.dut.i[port].payload.as_value(), word)

    def stop(self, port):
        self.ctx.set(self.dut.i[port].valid, 0)

    def ready(self, port, value=1):
        self.ctx.set(self.dut.o[port].ready, value)

    def out(self, port):
        """(valid, word) of an output in the current cycle."""
        return (
            self.ctx.get(self.dut.o[port].valid),
            self.ctx.get(self.dut.o[port].payload.as_value()),
        )

    def in_ready(self, port):
        return self.ctx.get(self.dut.i[port].ready)


EXPECTED_ROUTES = [
    # (router x, y), (dest x, y), port
    ((1, 1), (2, 1), Port.EAST),
    ((1, 1), (0, 1), Port.WEST),
    ((1, 1), (1, 2), Port.NORTH),
    ((1, 1), (1, 0), Port.SOUTH),
    ((1, 1), (1, 1), Port.LOCAL),
    ((1, 1), (2, 0), Port.EAST),  # X before Y
    ((1, 1), (0, 2), Port.WEST),
    ((0, 0), (-1, 0), Port.WEST),  # the host link
    ((1, 0), (-1, 0), Port.WEST),
    ((2, 2), (-1, 0), Port.WEST),
    ((0, 2), (-1, 0), Port.SOUTH),  # host-bound flits take column 0 down to row 0
    ((0, 1), (-1, 0), Port.SOUTH),
    ((0, 1), (-1, 1), Port.WEST),  # off the edge: the mesh counts it as misrouted
    ((0, 0), (0, 0), Port.LOCAL),
]


@pytest.mark.parametrize("xy,dest,port", EXPECTED_ROUTES)
def test_route_function(xy, dest, port):
    assert route(*xy, *dest) == port


@pytest.mark.parametrize("xy", sorted({xy for xy, _, _ in EXPECTED_ROUTES}))
def test_routes_in_rtl(xy):
    """Every route decision of EXPECTED_ROUTES at this router, entering by every input port."""
    cases = [(dest, port) for at, dest, port in EXPECTED_ROUTES if at == xy]
    dut = Router(CHIP, x=xy[0], y=xy[1])
    seen = []

    async def tb(ctx):
        d = Driver(ctx, dut)
        for p in Port:
            d.ready(p)
        for in_port in Port:
            for (dx, dy), _ in cases:
                d.offer(in_port, flit(dx, dy, payload=77))
                await ctx.tick()
                d.stop(in_port)
                got = []
                for _ in range(3):
                    for p in Port:
                        v, w = d.out(p)
                        if v:
                            got.append((p, payload_of(w)))
                    await ctx.tick()
                seen.append(got)

    run_sim(dut, tb)
    assert seen == [[(port, 77)] for _ in Port for _, port in cases]


ROUTE_SHAPES = [(1, 1), (2, 2), (3, 2), (1, 4), (4, 4), (5, 3), (16, 2)]


def rtl_route_decisions(w, h):
    """{(x, y, dest_x, dest_y): port} as chosen by the RTL routers of a w x h mesh.

    All routers of the mesh run side by side in one simulation (unconnected).
    Destination k enters every router in cycle k (on input ``k % 5``, so every
    input's route logic is exercised) with every output ready; with one flit
    per cycle nothing contends, so it leaves in cycle k + 2 on the port the
    RTL chose. The destinations are every (dest_x, dest_y) a flit can encode:
    every tile, the host (-1, 0) and every off-mesh code.
    """
    chip = ChipConfig(width=w, height=h)
    lay = flit_layout(chip)
    xb, yb = lay["dest_x"].width, lay["dest_y"].width
    dests = list(itertools.product(range(-(1 << (xb - 1)), 1 << (xb - 1)), range(1 << yb)))
    tiles = [(x, y) for y in range(h) for x in range(w)]
    m = Module()
    routers = []
    for x, y in tiles:
        routers.append(Router(chip, x=x, y=y))
        m.submodules[f"router_{x}_{y}"] = routers[-1]
    seen = {}

    async def tb(ctx):
        for r in routers:
            for p in Port:
                ctx.set(r.o[p].ready, 1)
        valids = Cat(r.o[p].valid for r in routers for p in Port)
        for k in range(len(dests) + 3):
            if k < len(dests):
                dx, dy = dests[k]
                word = lay.pack(kind=k & 1, dest_x=dx, dest_y=dy, payload=k)
                for r in routers:
                    for p in Port:
                        ctx.set(r.i[p].valid, p == k % N_PORTS)
                    ctx.set(r.i[k % N_PORTS].payload.as_value(), word)
            else:
                for r in routers:
                    ctx.set(r.i[(k - 1) % N_PORTS].valid, 0)
            v = ctx.get(valids)
            for n, r in enumerate(routers):
                for p in Port:
                    if v >> (n * N_PORTS + p) & 1:
                        got = lay.unpack(ctx.get(r.o[p].payload.as_value()))["payload"]
                        assert got == k - 2, "a flit was delayed: the route test needs no load"
                        key = (*tiles[n], *dests[got])
                        assert key not in seen, f"flit {key} left twice"
                        seen[key] = p
            await ctx.tick()

    run_sim(m, tb)
    assert len(seen) == len(tiles) * len(dests), "a flit never left"
    return seen


@pytest.mark.parametrize("w,h", ROUTE_SHAPES, ids=[f"{w}x{h}" for w, h in ROUTE_SHAPES])
def test_route_decision_exhaustive(w, h):
    """Every router of a w x h mesh, every encodable destination: the RTL picks noc.route."""
    got = rtl_route_decisions(w, h)
    assert got == {key: route(*key) for key in got}


def test_route_decision_exhaustive_catches_a_wrong_rule():
    """The exhaustive comparison can fail: against plain X-then-Y (no host rule) the RTL
    differs exactly where a host-bound flit in column 0 is not yet in its row (it turns
    North/South instead of leaving by West)."""

    def plain_xy(x, y, dx, dy):
        if dx != x:
            return Port.EAST if dx > x else Port.WEST
        if dy != y:
            return Port.NORTH if dy > y else Port.SOUTH
        return Port.LOCAL

    got = rtl_route_decisions(3, 2)
    diff = {key for key, port in got.items() if plain_xy(*key) != port}
    assert diff == {(0, y, dx, 1 - y) for y in (0, 1) for dx in range(-4, 0)}


@pytest.mark.parametrize("out", list(Port), ids=[p.name for p in Port])
def test_arbiter_matches_rr_grant(out):
    """Every (last grant, request mask) pair on one output: the RTL grants noc.rr_grant's pick.

    Per case: one flit from input ``last`` wins the output alone (the arbiter now
    remembers ``last``); in the next cycle every input of the mask offers a flit
    to the same output, so the arbiter sees exactly that mask with that ``last``;
    the output register's next flit names the winner. Then the mesh drains.
    """
    dest = {
        Port.LOCAL: (1, 1),
        Port.NORTH: (1, 2),
        Port.EAST: (2, 1),
        Port.SOUTH: (1, 0),
        Port.WEST: (0, 1),
    }[out]
    dut = Router(CHIP, x=1, y=1)
    cases = [(last, mask) for last in range(N_PORTS) for mask in range(1, 1 << N_PORTS)]
    winners = []

    async def tb(ctx):
        d = Driver(ctx, dut)
        d.ready(out)
        for last, mask in cases:
            d.offer(last, flit(*dest, payload=0x80 | last))
            await ctx.tick()  # the lone flit enters input ``last``
            d.stop(last)
            for q in Port:
                if mask >> q & 1:
                    d.offer(q, flit(*dest, payload=q))
            await ctx.tick()  # the mask enters; the lone flit is granted (last := last)
            for q in Port:
                d.stop(q)
            assert d.out(out) == (1, flit(*dest, payload=0x80 | last))
            await ctx.tick()  # the arbiter saw (last, mask) and loaded its pick
            valid, word = d.out(out)
            assert valid
            winners.append(payload_of(word))
            while not ctx.get(dut.idle):
                await ctx.tick()

    run_sim(dut, tb)
    assert winners == [rr_grant(last, mask) for last, mask in cases]


def test_zero_load_latency_two_cycles():
    """Accepted in cycle t, offered on the output from cycle t + 2 (docs/noc.md)."""
    dut = Router(CHIP, x=1, y=1)

    async def tb(ctx):
        d = Driver(ctx, dut)
        d.ready(Port.EAST)
        assert d.in_ready(Port.WEST)
        d.offer(Port.WEST, flit(2, 1, payload=5))
        await ctx.tick()  # cycle 0: transfer
        d.stop(Port.WEST)
        assert d.out(Port.EAST)[0] == 0  # cycle 1: head visible, arbitration
        await ctx.tick()
        assert d.out(Port.EAST) == (1, flit(2, 1, payload=5))  # cycle 2: offered
        await ctx.tick()
        assert d.out(Port.EAST)[0] == 0

    run_sim(dut, tb)


def test_round_robin_order():
    """Five inputs contending for one output are served L, N, E, S, W, L, ... (docs/noc.md)."""
    dut = Router(CHIP, x=1, y=1)
    order = []

    async def tb(ctx):
        d = Driver(ctx, dut)
        d.ready(Port.LOCAL)
        sent = dict.fromkeys(Port, 0)
        for _ in range(60):
            for p in Port:
                # Keep every input busy: a fresh flit whenever the last one went in.
                d.offer(p, flit(1, 1, payload=(p << 4) | (sent[p] & 15)))
            accepted = [p for p in Port if d.in_ready(p)]
            v, w = d.out(Port.LOCAL)
            if v:
                order.append(Port(payload_of(w) >> 4))
            await ctx.tick()
            for p in accepted:
                sent[p] += 1

    run_sim(dut, tb)
    assert len(order) >= 50  # one flit per cycle
    assert order[:10] == [Port.LOCAL, Port.NORTH, Port.EAST, Port.SOUTH, Port.WEST] * 2
    assert order == [Port(k % 5) for k in range(len(order))]


def test_round_robin_skips_idle_inputs():
    """The pointer moves past the granted input: after N wins, S goes before N again."""
    dut = Router(CHIP, x=1, y=1)
    order = []

    async def tb(ctx):
        d = Driver(ctx, dut)
        d.ready(Port.EAST, 0)
        for p in (Port.NORTH, Port.SOUTH):
            for k in range(3):
                d.offer(p, flit(2, 1, payload=(p << 4) | k))
                await ctx.tick()
            d.stop(p)
        d.ready(Port.EAST, 1)
        for _ in range(10):
            v, w = d.out(Port.EAST)
            if v:
                order.append((Port(payload_of(w) >> 4), payload_of(w) & 15))
            await ctx.tick()

    run_sim(dut, tb)
    # N's first flit was registered while E was blocked; then S and N alternate.
    assert order == [
        (Port.NORTH, 0),
        (Port.SOUTH, 0),
        (Port.NORTH, 1),
        (Port.SOUTH, 1),
        (Port.NORTH, 2),
        (Port.SOUTH, 2),
    ]


def test_backpressure_fills_fifo_then_drains_in_order():
    depth = 3
    chip = ChipConfig(width=3, height=3, router=RouterConfig(fifo_depth=depth))
    dut = Router(chip, x=1, y=1)
    lay = flit_layout(chip)
    got = []

    async def tb(ctx):
        d = Driver(ctx, dut)
        d.ready(Port.NORTH, 0)
        accepted = 0
        for _k in range(10):
            d.offer(Port.LOCAL, lay.pack(kind=0, dest_x=1, dest_y=2, payload=accepted))
            r = d.in_ready(Port.LOCAL)
            await ctx.tick()
            accepted += r
        # The output register holds one flit and the FIFO ``depth`` more: then ready drops.
        assert accepted == depth + 1
        assert d.in_ready(Port.LOCAL) == 0
        assert ctx.get(dut.flits_in) == depth + 1 and ctx.get(dut.flits_out) == 0
        # The refused flit stays offered (the stream rule) until the drain makes room.
        d.ready(Port.NORTH, 1)
        for _ in range(depth + 6):
            v, w = d.out(Port.NORTH)
            if v:
                got.append(payload_of(w))
            r = d.in_ready(Port.LOCAL)
            await ctx.tick()
            if r:
                d.stop(Port.LOCAL)
        assert ctx.get(dut.flits_out) == depth + 2
        assert ctx.get(dut.idle) == 1

    run_sim(dut, tb)
    assert got == list(range(depth + 2))


def test_full_throughput_and_counters():
    """Two streams to two different outputs: one flit per cycle each; counters agree."""
    dut = Router(CHIP, x=1, y=1)
    n = 40

    async def tb(ctx):
        d = Driver(ctx, dut)
        d.ready(Port.EAST)
        d.ready(Port.SOUTH)
        d.offer(Port.WEST, flit(2, 1))
        d.offer(Port.NORTH, flit(1, 0))
        out_e = out_s = 0
        for _ in range(n):
            assert d.in_ready(Port.WEST) and d.in_ready(Port.NORTH)
            out_e += d.out(Port.EAST)[0]
            out_s += d.out(Port.SOUTH)[0]
            await ctx.tick()
        assert out_e == out_s == n - 2  # two cycles of pipeline fill
        assert ctx.get(dut.flits_in) == 2 * n
        assert ctx.get(dut.flits_out) == 2 * (n - 2)
        assert ctx.get(dut.idle) == 0

    run_sim(dut, tb)


def test_init_wrong_chip():
    with pytest.raises(TypeError, match=r"^Router needs a ChipConfig, not 3$"):
        Router(3, x=0, y=0)


@pytest.mark.parametrize(
    "x,y,msg",
    [
        (3, 0, "Router x must be an integer between 0 and 2, not 3"),
        (-1, 0, "Router x must be an integer between 0 and 2, not -1"),
        (0, 3, "Router y must be an integer between 0 and 2, not 3"),
        (0, "1", "Router y must be an integer between 0 and 2, not '1'"),
        (True, 0, "Router x must be an integer between 0 and 2, not True"),
    ],
)
def test_init_wrong_xy(x, y, msg):
    with pytest.raises(ValueError) as e:
        Router(CHIP, x=x, y=y)
    assert str(e.value) == msg


def test_mesh_init_wrong_chip():
    with pytest.raises(TypeError, match=r"^Mesh needs a ChipConfig, not None$"):
        Mesh(None)


@pytest.mark.parametrize("w,h", [(1, 1), (5, 3)])
def test_mesh_converts(w, h):
    from amaranth.back import rtlil

    text = rtlil.convert(Mesh(ChipConfig(width=w, height=h)))
    assert "router_0_0" in text


def test_mesh_16x16_elaborates():
    """chip.md §1: 16 x 16 must elaborate (every router and FIFO; ~10 s)."""
    from amaranth.hdl import Fragment

    frag = Fragment.get(Mesh(ChipConfig(width=16, height=16)), None)
    assert len(frag.subfragments) == 256


@pytest.mark.slow
def test_mesh_16x16_converts():
    """The full netlist of a 16 x 16 mesh (about a minute)."""
    from amaranth.back import rtlil

    assert "router_15_15" in rtlil.convert(Mesh(ChipConfig(width=16, height=16)))


# --- contracts (rtl/contracts.py): each assertion can fire, none fires in a good run ---------


def _contract_harness(build):
    """A test-only module with free inputs, on which ``build(m, inputs)`` places contracts."""
    m = Module()
    bits = Signal(N_PORTS)
    fifo = SyncFIFO(width=4, depth=2)
    m.submodules.fifo = fifo
    build(m, bits, fifo)
    return m, bits, fifo


def test_contract_one_hot_grant_fires():
    m, bits, _ = _contract_harness(
        lambda m, bits, fifo: at_most_one(m, None, bits, "grant {:05b} not one-hot", bits)
    )

    async def tb(ctx):
        for good in (0, 0b00001, 0b10000):
            ctx.set(bits, good)
            await ctx.tick()
        ctx.set(bits, 0b00110)
        await ctx.tick()

    with pytest.raises(AssertionError, match=r"^Assertion violated: grant 00110 not one-hot$"):
        run_sim(m, tb)


def test_contract_fifo_underflow_fires():
    m, _, fifo = _contract_harness(
        lambda m, bits, fifo: fifo_reads_when_ready(m, None, fifo, "test input")
    )

    async def tb(ctx):
        ctx.set(fifo.w_en, 1)  # one flit in, one out: fine
        await ctx.tick()
        ctx.set(fifo.w_en, 0)
        ctx.set(fifo.r_en, 1)
        await ctx.tick()
        await ctx.tick()  # the FIFO is empty now: a read is an underflow

    with pytest.raises(AssertionError, match=r"test input: FIFO read while empty \(underflow\)"):
        run_sim(m, tb)


def test_contract_withdrawn_flit_fires_in_the_router():
    """A driver that withdraws a flit the full FIFO refused (it would be lost)."""
    chip = ChipConfig(width=3, height=3, router=RouterConfig(fifo_depth=2))
    dut = Router(chip, x=1, y=1)

    async def tb(ctx):
        d = Driver(ctx, dut)
        d.ready(Port.NORTH, 0)
        d.offer(Port.LOCAL, flit(1, 2, payload=1))
        while d.in_ready(Port.LOCAL):  # fill the output register and the FIFO
            await ctx.tick()
        await ctx.tick()  # refused in this cycle ...
        d.stop(Port.LOCAL)  # ... and withdrawn
        await ctx.tick()

    with pytest.raises(AssertionError, match=r"router_1_1_local_input: a flit refused .* overflow"):
        run_sim(dut, tb)


def test_contracts_absent_from_hardware_builds():
    """A platform build has no checkers (same LUTs and timing); the Verilog has them."""
    from amaranth.back import rtlil

    class Board:  # any non-None platform: elaborate() only tests ``platform is None``
        pass

    assert "$check" in rtlil.convert(Router(CHIP, x=1, y=1))
    assert "$check" not in rtlil.convert(Router(CHIP, x=1, y=1), platform=Board())
