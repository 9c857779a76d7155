"""The hardware activity counters (docs/counters.md, issue 12) of the RTL blocks equal their
twins' on every cycle (Amaranth's simulator): the routers' forwarded / router_blocked
registers, their registered selection, the sticky wrap flag and the registered clear."""

import random

import pytest
from spikemesh.rtl.mesh import Mesh
from spikemesh.sim.mesh import MeshModel

from spikemesh.config import ChipConfig, RouterConfig, flit_layout
from tests.helpers import assert_mesh_matches, run_sim


def assert_router_counters(ctx, dut, model, cyc):
    """Every router's 10 registers, its selected value and the mesh's wrap OR."""
    mask = model.routers[0][0].cnt_mask
    for y, row in enumerate(model.routers):
        for x, r in enumerate(row):
            rtl = [ctx.get(s) for s in dut.routers[y][x].counters]
            assert rtl == [c & mask for c in r.counts], (cyc, x, y, "counters")
            assert ctx.get(dut.cnt_value[y][x]) == r.cnt_value, (cyc, x, y, "cnt_value")
    assert ctx.get(dut.cnt_wrapped) == model.cnt_wrapped, (cyc, "cnt_wrapped")


def mesh_lockstep(
    chip, *, cycles, seed, p_offer=0.7, p_ready=0.5, bad=0.1, clear_at=(), preset=None
):
    """Random flits (``bad`` of them off the mesh) with random readiness into Mesh and
    MeshModel, a random ``cnt_index`` every cycle, ``cnt_clear`` in the cycles ``clear_at``;
    ``preset`` = (x, y, k, value): that router's register k starts at ``value`` in both."""
    rng = random.Random(seed)
    dut = Mesh(chip)
    model = MeshModel(chip)
    lay = flit_layout(chip)
    w, h = chip.width, chip.height
    ins = [dut.i_local[y][x] for y in range(h) for x in range(w)] + [dut.i_host]
    outs = [dut.o_local[y][x] for y in range(h) for x in range(w)] + [dut.o_host]
    n = len(ins)
    dests = [(x, y) for y in range(h) for x in range(w)] + [(-1, 0)]

    def flit():
        if rng.random() < bad:
            dx, dy = -1, h - 1  # host-bound off row 0: dropped at a West edge
        else:
            dx, dy = rng.choice(dests)
        return lay.pack(kind=0, dest_x=dx, dest_y=dy, payload=rng.randrange(16))

    async def tb(ctx):
        if preset is not None:
            x, y, k, value = preset
            ctx.set(dut.routers[y][x].counters[k], value)
            model.routers[y][x].counts[k] = value
        iv, ip = [0] * n, [0] * n
        for cyc in range(cycles):
            _mv, _mp, mr = assert_mesh_matches(ctx, dut, model, ins, outs, cyc)
            assert_router_counters(ctx, dut, model, cyc)
            ordy = [int(rng.random() < p_ready) for _ in range(n)]
            for k in range(n):
                if not iv[k] and rng.random() < p_offer:
                    iv[k], ip[k] = 1, flit()
            index, clear = rng.randrange(18), int(cyc in clear_at)
            for k in range(n):
                ctx.set(ins[k].valid, iv[k])
                ctx.set(ins[k].payload.as_value(), ip[k])
                ctx.set(outs[k].ready, ordy[k])
            ctx.set(dut.cnt_index, index)
            ctx.set(dut.cnt_clear, clear)
            await ctx.tick()
            model.counter_select(index)
            model.clock(iv, ip, ordy)
            if clear:
                model.counter_clear()
            for k in range(n):
                if iv[k] and mr[k]:
                    iv[k] = 0
        assert_router_counters(ctx, dut, model, cycles)

    run_sim(dut, tb)
    return model


@pytest.mark.parametrize("w, h, depth, seed", [(2, 2, 2, 1), (3, 2, 4, 2)])
def test_mesh_counters_equal_model(w, h, depth, seed):
    chip = ChipConfig(width=w, height=h, router=RouterConfig(fifo_depth=depth), counter_bits=16)
    model = mesh_lockstep(chip, cycles=300, seed=seed)
    counts = [c for row in model.routers for r in row for c in r.counts]
    fwd = sum(c for row in model.routers for r in row for c in r.counts[:5])
    blocked = sum(c for row in model.routers for r in row for c in r.counts[5:])
    # the counters moved: flits forwarded (drops included) and inputs blocked
    assert fwd >= model.flits_out + model.dropped and blocked > 20, counts
    assert model.dropped > 0


def test_mesh_counters_clear_and_wrap():
    """A register preset to all ones wraps on its next flit (the flag in both); the clear
    in cycle 150 zeroes every register and the flag, and counting goes on from 0."""
    chip = ChipConfig(width=2, height=2, counter_bits=16)
    model = mesh_lockstep(
        chip, cycles=220, seed=3, bad=0.0, clear_at=(150,), preset=(0, 0, 0, (1 << 16) - 1)
    )
    assert not model.cnt_wrapped
    assert sum(c for row in model.routers for r in row for c in r.counts) > 0


def test_mesh_wrap_flag_set():
    chip = ChipConfig(width=2, height=2, counter_bits=16)
    model = mesh_lockstep(chip, cycles=120, seed=3, bad=0.0, preset=(0, 0, 0, (1 << 16) - 1))
    assert model.cnt_wrapped and model.routers[0][0].counts[0] > 1 << 16
