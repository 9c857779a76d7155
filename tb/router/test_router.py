"""cocotb testbench of one Router on Verilator, scoreboarded by RouterModel.

The router sits at (1, 1) of a 3 x 3 chip, so every output is reachable. All
five inputs get random-idle drivers with random destinations (tiles and the
host), all five outputs random backpressure. The scoreboard checks that each
flit leaves exactly once, on the port XY routing names, in order per (input,
output) pair; RouterModel, fed the same per-cycle inputs, must equal the RTL's
outputs in every cycle.

Environment: NOC_CHIP, NOC_SEED, NOC_FLITS (as in tb/mesh).
"""

from __future__ import annotations

import json
import os

import pytest

from spikemesh.config import ChipConfig, flit_layout
from spikemesh.noc import N_PORTS, route
from tb.mesh.test_mesh import BACKPRESSURE, tb_chip
from tb.runner import long_run, run_cocotb

X, Y = 1, 1


def flit_codec(chip):
    lay = flit_layout(chip)
    seq_bits = lay["payload"].width - 3
    p_off = lay.offsets["payload"]
    dests = [(x, y) for x in range(chip.width) for y in range(chip.height)] + [(-1, 0)]

    def make_flit(rng, src, seq_by_dst):
        dx, dy = dests[rng.randrange(len(dests))]
        out = int(route(X, Y, dx, dy))
        s = seq_by_dst.get(out, 0)
        seq_by_dst[out] = s + 1
        payload = (src << seq_bits) | (s & ((1 << seq_bits) - 1))
        return out, lay.pack(kind=rng.getrandbits(1), dest_x=dx, dest_y=dy, payload=payload)

    def src_of(word):
        return (word >> p_off) >> seq_bits & 7

    return make_flit, src_of


try:
    import cocotb

    @cocotb.test()
    @cocotb.parametrize(bp=BACKPRESSURE)
    async def test_random_traffic(dut, bp):
        from cocotb.triggers import FallingEdge
        from spikemesh.sim.router import RouterModel

        from tb.mesh.harness import NocTB

        chip = ChipConfig.from_dict(json.loads(os.environ["NOC_CHIP"]))
        seed = int(os.environ["NOC_SEED"]) + BACKPRESSURE.index(bp)
        n_flits = -(-int(os.environ["NOC_FLITS"]) // len(BACKPRESSURE))  # ceil: >= NOC_FLITS in all
        p_offer, p_ready = bp
        dut._log.info(f"router: {n_flits} flits, seed {seed}, p_offer {p_offer}, p_ready {p_ready}")
        make_flit, src_of = flit_codec(chip)
        model = RouterModel(chip, x=X, y=Y)
        tb = NocTB(
            dut,
            model,
            n=N_PORTS,
            width=flit_layout(chip).width,
            make_flit=make_flit,
            src_of=src_of,
            seed=seed,
            p_offer=p_offer,
            p_ready=p_ready,
            log=dut._log,
        )
        await tb.reset()
        await tb.run(n_flits, max_cycles=50 * n_flits + 1000)
        await FallingEdge(dut.clk)
        assert tb.received == tb.sent == n_flits
        assert dut.flits_in.value.to_unsigned() == model.flits_in == n_flits
        assert dut.flits_out.value.to_unsigned() == model.flits_out == n_flits
        assert dut.idle.value == 1 and model.idle
        dut._log.info(
            f"router: {tb.received} flits verified in {tb.cycle} cycles, "
            "every output equal to RouterModel's in every cycle"
        )

except ImportError:  # pragma: no cover - cocotb not installed
    pass


def router_top(chip):
    from spikemesh.rtl.router import Router

    from tb.mesh.harness import Flatten

    r = Router(chip, x=X, y=Y)
    extra = {
        name: (len(getattr(r, name)), getattr(r, name))
        for name in ("flits_in", "flits_out", "idle")
    }
    return Flatten(r, list(r.i), list(r.o), flit_layout(chip).width, extra)


def _run(flits, seed):
    chip = tb_chip(3, 3)
    seed = int(os.environ.get("NOC_SEED", seed))
    print(f"tb/router: seed {seed}, {flits} flits")
    run_cocotb(
        router_top(chip),
        toplevel="router_tb",
        test_module="tb.router.test_router",
        name="router",
        env={"NOC_CHIP": chip.to_dict(), "NOC_SEED": str(seed), "NOC_FLITS": str(flits)},
    )


@pytest.mark.cocotb
def test_router():
    _run(30_000, seed=11)


@pytest.mark.cocotb
@pytest.mark.slow
def test_router_long():
    _run(1_000_000 if long_run() else 100_000, seed=12)
