"""Mesh RTL on Amaranth's simulator: host link both ways, tie-offs, counters, idle."""

import pytest
from spikemesh.rtl.mesh import Mesh

from spikemesh.config import ChipConfig, flit_layout
from tests.helpers import run_sim

CHIP = ChipConfig(width=3, height=2)
LAY = flit_layout(CHIP)


def test_every_tile_reaches_the_host_and_back():
    dut = Mesh(CHIP)
    got_host, got_tiles = [], []

    async def tb(ctx):
        ctx.set(dut.o_host.ready, 1)
        for y in range(CHIP.height):
            for x in range(CHIP.width):
                ctx.set(dut.o_local[y][x].ready, 1)
        # Each tile sends one HOST_OUT flit (payload = its index); the host sends one to each tile.
        tiles = [(x, y) for y in range(CHIP.height) for x in range(CHIP.width)]
        pending = set(tiles)
        for x, y in tiles:
            word = LAY.pack(kind=1, dest_x=-1, dest_y=0, payload=y * CHIP.width + x)
            ctx.set(dut.i_local[y][x].valid, 1)
            ctx.set(dut.i_local[y][x].payload.as_value(), word)
        k = 0
        for _ in range(60):
            taken = [(x, y) for x, y in pending if ctx.get(dut.i_local[y][x].ready)]
            host_taken = k < CHIP.tiles and ctx.get(dut.i_host.ready)
            if k < CHIP.tiles:
                word = LAY.pack(kind=0, dest_x=k % 3, dest_y=k // 3, payload=100 + k)
                ctx.set(dut.i_host.valid, 1)
                ctx.set(dut.i_host.payload.as_value(), word)
            for x, y in tiles:
                if ctx.get(dut.o_local[y][x].valid):
                    f = LAY.unpack(ctx.get(dut.o_local[y][x].payload.as_value()))
                    got_tiles.append((x, y, f["payload"]))
            if ctx.get(dut.o_host.valid):
                got_host.append(LAY.unpack(ctx.get(dut.o_host.payload.as_value()))["payload"])
            await ctx.tick()
            for x, y in taken:
                pending.discard((x, y))
                ctx.set(dut.i_local[y][x].valid, 0)
            if host_taken:
                k += 1
                ctx.set(dut.i_host.valid, 0)
        assert ctx.get(dut.idle) == 1
        assert ctx.get(dut.flits_in) == ctx.get(dut.flits_out) == 2 * CHIP.tiles
        assert ctx.get(dut.dropped) == 0 and ctx.get(dut.misroute) == 0

    run_sim(dut, tb)
    assert sorted(got_host) == list(range(CHIP.tiles))
    assert sorted(got_tiles) == sorted((k % 3, k // 3, 100 + k) for k in range(CHIP.tiles))


def test_off_edge_flit_is_counted_and_flagged():
    dut = Mesh(CHIP)

    async def tb(ctx):
        # dest (3, 1) lies outside 3 x 2; X first, so it leaves (2, 0) by its East edge.
        ctx.set(dut.i_local[0][0].valid, 1)
        ctx.set(
            dut.i_local[0][0].payload.as_value(), LAY.pack(kind=0, dest_x=3, dest_y=1, payload=0)
        )
        await ctx.tick()
        ctx.set(dut.i_local[0][0].valid, 0)
        assert ctx.get(dut.misroute) == 0 and ctx.get(dut.idle) == 0
        for _ in range(10):
            await ctx.tick()
        assert ctx.get(dut.dropped) == 1 and ctx.get(dut.misroute) == 1
        assert ctx.get(dut.idle) == 1
        assert ctx.get(dut.flits_in) == 1 and ctx.get(dut.flits_out) == 0
        assert ctx.get(dut.routers[0][2].flits_out) == 1

    run_sim(dut, tb)


def test_conservation_assertion_fires_on_a_lost_flit():
    """Forced bad state: an idle mesh whose counters say a flit vanished (rtl/contracts.py)."""
    dut = Mesh(CHIP)

    async def tb(ctx):
        await ctx.tick()
        await ctx.tick()  # idle, 0 == 0 + 0: fine
        ctx.set(dut.flits_in, 5)  # five flits in, none out, none dropped
        await ctx.tick()

    with pytest.raises(
        AssertionError, match=r"mesh idle but flits_in 5 != flits_out 0 \+ dropped 0"
    ):
        run_sim(dut, tb)


def test_conservation_holds_with_drops():
    """Flits routed off an edge are explained by ``dropped``: no assertion."""
    dut = Mesh(CHIP)

    async def tb(ctx):
        ctx.set(dut.i_host.valid, 1)
        ctx.set(dut.i_host.payload.as_value(), LAY.pack(kind=0, dest_x=3, dest_y=0, payload=1))
        await ctx.tick()
        ctx.set(dut.i_host.valid, 0)
        for _ in range(10):
            await ctx.tick()
        assert ctx.get(dut.idle) and ctx.get(dut.dropped) == 1 and ctx.get(dut.flits_out) == 0

    run_sim(dut, tb)
