"""MeshModel: unit tests, and cycle-for-cycle equality with the RTL Mesh on Amaranth's simulator."""

import random

import pytest
from spikemesh.rtl.mesh import Mesh
from spikemesh.sim.mesh import MeshModel

from spikemesh.config import ChipConfig, RouterConfig, flit_layout
from tests.helpers import assert_mesh_matches, run_sim


def random_flit(rng, chip, lay, *, bad=0.0):
    if rng.random() < bad:
        dx = rng.randrange(-(1 << chip.x_bits), 1 << chip.x_bits)
        dy = rng.randrange(1 << chip.y_bits)
    elif rng.random() < 0.1:
        dx, dy = -1, 0
    else:
        dx, dy = rng.randrange(chip.width), rng.randrange(chip.height)
    return lay.pack(
        kind=rng.randrange(2),
        dest_x=dx,
        dest_y=dy,
        payload=rng.randrange(1 << lay["payload"].width),
    )


def lockstep(chip, *, cycles, seed, p_offer=0.5, p_ready=0.7, bad=0.0):
    """Drive the RTL and the model with the same random inputs; compare every output every cycle."""
    print(f"lockstep {chip.width}x{chip.height} seed={seed}")
    rng = random.Random(seed)
    dut = Mesh(chip)
    model = MeshModel(chip)
    lay = flit_layout(chip)
    ins = [dut.i_local[y][x] for y in range(chip.height) for x in range(chip.width)] + [dut.i_host]
    outs = [dut.o_local[y][x] for y in range(chip.height) for x in range(chip.width)] + [dut.o_host]
    n = len(ins)
    stats = {}

    async def tb(ctx):
        iv, ip = [0] * n, [0] * n
        for cyc in range(cycles):
            _mv, _mp, mr = assert_mesh_matches(ctx, dut, model, ins, outs, cyc, misroute=True)
            ordy = [int(rng.random() < p_ready) for _ in range(n)]
            for k in range(n):
                if not iv[k] and rng.random() < p_offer:
                    iv[k], ip[k] = 1, random_flit(rng, chip, lay, bad=bad)
                ctx.set(ins[k].valid, iv[k])
                ctx.set(ins[k].payload.as_value(), ip[k])
                ctx.set(outs[k].ready, ordy[k])
            await ctx.tick()
            model.clock(iv, ip, ordy)
            for k in range(n):
                if iv[k] and mr[k]:
                    iv[k] = 0
        for y in range(chip.height):
            for x in range(chip.width):
                assert ctx.get(dut.routers[y][x].flits_in) == model.routers[y][x].flits_in
                assert ctx.get(dut.routers[y][x].flits_out) == model.routers[y][x].flits_out
        stats["in"] = model.flits_in

    run_sim(dut, tb)
    return model, stats


@pytest.mark.parametrize("w,h,depth,seed", [(2, 2, 4, 1), (3, 2, 2, 2), (1, 3, 3, 3), (3, 3, 4, 4)])
def test_model_equals_rtl(w, h, depth, seed):
    chip = ChipConfig(width=w, height=h, router=RouterConfig(fifo_depth=depth))
    _model, stats = lockstep(chip, cycles=600, seed=seed)
    assert stats["in"] > 300


def test_model_equals_rtl_misroutes():
    chip = ChipConfig(width=3, height=3)
    model, _ = lockstep(chip, cycles=400, seed=5, bad=0.3)
    assert model.misroute == 1 and model.dropped > 0


def test_run_zero_load_latency():
    """Alone in the mesh, a flit over h hops arrives 2 (h + 1) cycles after acceptance."""
    chip = ChipConfig(width=4, height=3)
    lay = flit_layout(chip)
    model = MeshModel(chip)
    for s in range(chip.tiles):
        for dest in [*range(chip.tiles), model.host]:
            dx, dy = (-1, 0) if dest == model.host else (dest % 4, dest // 4)
            word = lay.pack(kind=0, dest_x=dx, dest_y=dy, payload=1)
            (arr,), (acc,) = model.run([(5, s, word)])
            sx, sy = s % 4, s // 4
            hops = abs(max(dx, 0) - sx) + abs(dy - sy)  # the host hangs off (0, 0)
            assert (acc, arr) == (5, 5 + 2 * (hops + 1)), (s, dest)
    assert model.idle and model.flits_in == model.flits_out and not model.misroute


def test_run_from_host_and_drops():
    chip = ChipConfig(width=3, height=3)
    lay = flit_layout(chip)
    model = MeshModel(chip)
    good = lay.pack(kind=0, dest_x=2, dest_y=2, payload=0)
    off_edge = lay.pack(kind=1, dest_x=3, dest_y=0, payload=0)  # x = 3 is outside 3 x 3
    host_row1 = lay.pack(kind=1, dest_x=-1, dest_y=1, payload=0)
    arr, acc = model.run([(0, model.host, good), (0, 3, off_edge), (1, 4, host_row1)])
    assert arr[0] == 2 * 5 and arr[1] is None and arr[2] is None
    assert acc == [0, 0, 1]
    assert model.dropped == 2 and model.misroute == 1 and model.idle
    assert model.flits_in == 3 and model.flits_out == 1


def test_run_backpressure_callback():
    """Ejection blocked for 20 cycles: flits wait, then leave one per cycle, in order."""
    chip = ChipConfig(width=2, height=2)
    lay = flit_layout(chip)
    model = MeshModel(chip)
    sched = [(t, 0, lay.pack(kind=0, dest_x=1, dest_y=0, payload=t)) for t in range(6)]
    ready = [1] * model.n_endpoints

    def o_ready(cycle):
        ready[1] = int(cycle >= 20)
        return ready

    arr, _ = model.run(sched, o_ready=o_ready)
    assert arr == [20, 21, 22, 23, 24, 25]


def test_init_wrong_chip():
    with pytest.raises(TypeError, match=r"^MeshModel needs a ChipConfig, not \{\}$"):
        MeshModel({})


def test_docs_up_to_date():
    from bench.noc.docs import main

    assert main(["--check"]) == 0, "docs/noc.md is stale: run python -m bench.noc.docs"


def test_conservation_raises_contract_error():
    """The twin of the RTL's idle-mesh assertion: counters that lost a flit raise."""
    from spikemesh.noc import ContractError

    m = MeshModel(ChipConfig(width=2, height=2))
    n = m.n_endpoints
    m.clock([0] * n, [0] * n, [1] * n)  # idle, balanced
    m.flits_out = 1  # a flit delivered that never came in
    with pytest.raises(
        ContractError, match=r"mesh idle but flits_in 0 != flits_out 1 \+ dropped 0"
    ):
        m.clock([0] * n, [0] * n, [1] * n)
