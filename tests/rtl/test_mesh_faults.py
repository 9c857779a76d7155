"""The RTL Mesh and Router on faulty chips (route tables, disabled links) equal their twins
on every output of every cycle (Amaranth's simulator)."""

import random

import numpy as np
import pytest
from spikemesh.rtl.mesh import Mesh
from spikemesh.rtl.router import Router
from spikemesh.sim.mesh import MeshModel

from spikemesh.config import ChipConfig, RouterConfig, flit_layout
from spikemesh.faultroute import fault_routing, route_writes, xy_tables
from spikemesh.faults import FaultMap
from spikemesh.noc import RouteTables
from tests.helpers import assert_mesh_matches, run_sim


def lockstep(chip, faults, *, cycles, seed, p_offer=0.6, p_ready=0.6, bad=0.0, write=False):
    """Same random inputs into Mesh(routing) and MeshModel(routing); compare every cycle.
    Flits go between live cores and the host; ``bad`` of them to any encodable code.
    ``write``: the RTL starts from XY tables and no disabled link and is configured for the
    faults through ``i_route`` first (the model starts configured)."""
    print(f"faulty lockstep {chip.width}x{chip.height} {faults.describe()} seed={seed}")
    routing = fault_routing(chip, faults)
    rng = random.Random(seed)
    start = RouteTables(chip, xy_tables(chip), np.zeros(chip.tiles)) if write else routing
    dut = Mesh(chip, routing=start)
    model = MeshModel(chip, routing=routing)
    lay = flit_layout(chip)
    live = faults.live_tiles()
    dests = [(t % chip.width, t // chip.width) for t in live] + [(-1, 0)]
    w, h = chip.width, chip.height
    ins = [dut.i_local[y][x] for y in range(h) for x in range(w)] + [dut.i_host]
    outs = [dut.o_local[y][x] for y in range(h) for x in range(w)] + [dut.o_host]
    srcs = [*live, w * h]
    n = len(ins)

    def flit():
        if rng.random() < bad:
            dx = rng.randrange(-(1 << chip.x_bits), 1 << chip.x_bits)
            dx, dy = dx, rng.randrange(1 << chip.y_bits)
        else:
            dx, dy = rng.choice(dests)
        return lay.pack(kind=0, dest_x=dx, dest_y=dy, payload=rng.randrange(16))

    async def configure(ctx):
        for w in route_writes(chip, routing, start):
            ctx.set(dut.i_route.payload, w)
            ctx.set(dut.i_route.valid, 1)
            await ctx.tick()
        ctx.set(dut.i_route.valid, 0)

    async def tb(ctx):
        if write:
            await configure(ctx)
        iv, ip = [0] * n, [0] * n
        for cyc in range(cycles):
            _mv, _mp, mr = assert_mesh_matches(ctx, dut, model, ins, outs, cyc)
            ordy = [int(rng.random() < p_ready) for _ in range(n)]
            for k in srcs:
                if not iv[k] and rng.random() < p_offer:
                    iv[k], ip[k] = 1, flit()
            for k in range(n):
                ctx.set(ins[k].valid, iv[k])
                ctx.set(ins[k].payload.as_value(), ip[k])
                ctx.set(outs[k].ready, ordy[k])
            await ctx.tick()
            model.clock(iv, ip, ordy)
            for k in range(n):
                if iv[k] and mr[k]:
                    iv[k] = 0

    run_sim(dut, tb)
    return model


@pytest.mark.parametrize(
    "w, h, depth, seed, kw",
    [
        (3, 3, 4, 1, {"channels": {(1, 1, "east"), (2, 1, "west"), (0, 1, "north")}}),
        pytest.param(
            *(4, 3, 2, 2, {"routers": {(1, 1)}, "cores": {(3, 2)}}), marks=pytest.mark.slow
        ),
        pytest.param(
            *(4, 4, 3, 3, {"channels": {(2, 2, "south"), (0, 2, "east"), (3, 0, "north")}}),
            marks=pytest.mark.slow,
        ),
    ],
)
def test_faulty_mesh_equals_model(w, h, depth, seed, kw):
    chip = ChipConfig(width=w, height=h, router=RouterConfig(fifo_depth=depth))
    faults = FaultMap(width=w, height=h, **kw)
    model = lockstep(chip, faults, cycles=250, seed=seed)
    assert model.flits_in > 150 and model.dropped == 0


def test_faulty_mesh_drops_at_dead_links_like_the_model():
    """Flits to any code (off-mesh, host rows) end in the same drops in both."""
    chip = ChipConfig(width=3, height=3)
    faults = FaultMap(width=3, height=3, channels={(1, 1, "east"), (2, 1, "west")})
    model = lockstep(chip, faults, cycles=200, seed=9, bad=0.4)
    assert model.dropped > 0 and model.misroute


def test_route_tables_written_through_i_route():
    """From XY tables, every differing entry and every link_off written through i_route:
    then equal cycle for cycle to the model of the faulty chip."""
    chip = ChipConfig(width=3, height=3)
    faults = FaultMap(width=3, height=3, channels={(1, 1, "east"), (2, 1, "west"), (1, 0, "north")})
    model = lockstep(chip, faults, cycles=200, seed=4, write=True)
    assert model.flits_in > 120 and model.dropped == 0


def test_router_routing_checked():
    chip = ChipConfig(width=3, height=3)
    with pytest.raises(TypeError, match="Router routing must be RouteTables for the 3 x 3 mesh"):
        Router(chip, x=0, y=0, routing=[1, 2])
