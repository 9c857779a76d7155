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
from spikemesh.firmware.rtl_mesh import Flatten, noc_chip

from spikemesh.config import ChipConfig, flit_layout
from spikemesh.noc import N_PORTS, Port, route
from tb.mesh.test_mesh import BACKPRESSURE, check_fifos_filled
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
        check_fifos_filled(tb, bp)
        dut._log.info(
            f"router: {tb.received} flits verified in {tb.cycle} cycles, "
            "every output equal to RouterModel's in every cycle"
        )

    @cocotb.test(skip="NOC_BROKEN" not in os.environ)
    async def test_withdrawn_flit(dut):
        """A deliberately broken driver (NOC_BROKEN): the Local input withdraws a flit its
        full FIFO refused. The RTL's stream-rule assertion must fire (Verilator stops the
        run, Icarus reports it; tb/runner.py turns either into a failure)."""
        from cocotb.triggers import FallingEdge, ReadOnly

        from tb.mesh.harness import NocTB

        chip = ChipConfig.from_dict(json.loads(os.environ["NOC_CHIP"]))
        lay = flit_layout(chip)
        tb = NocTB(
            dut, None, n=N_PORTS, width=lay.width, make_flit=None, src_of=None,
            seed=0, p_offer=0, p_ready=0, log=dut._log,
        )  # fmt: skip
        await tb.reset()
        # Every output blocked: the Local FIFO and the North output register fill up.
        dut.in_payload.value = lay.pack(kind=0, dest_x=X, dest_y=Y + 1, payload=1)
        dut.in_valid.value = 1 << int(Port.LOCAL)
        for _ in range(4 * chip.router.fifo_depth):
            await FallingEdge(dut.clk)
        await ReadOnly()
        assert dut.in_ready.value.to_unsigned() >> int(Port.LOCAL) & 1 == 0, "FIFO not full"
        await FallingEdge(dut.clk)
        dut.in_valid.value = 0  # withdrawn while refused: the flit is lost
        for _ in range(4):
            await FallingEdge(dut.clk)
        dut._log.info("the broken driver ran to the end: no assertion stopped it")

except ImportError:  # pragma: no cover - cocotb not installed
    pass


def router_top(chip):
    from spikemesh.rtl.router import Router

    r = Router(chip, x=X, y=Y)
    extra = {
        name: (len(getattr(r, name)), getattr(r, name))
        for name in ("flits_in", "flits_out", "idle")
    }
    return Flatten(r, list(r.i), list(r.o), flit_layout(chip).width, extra)


def _run(flits, seed):
    chip = noc_chip(3, 3)
    seed = int(os.environ.get("NOC_SEED", seed))
    print(f"tb/router: seed {seed}, {flits} flits")
    run_cocotb(
        router_top(chip),
        toplevel="router_tb",
        test_module="tb.router.test_router",
        name="router",
        env={"NOC_CHIP": chip.to_dict(), "NOC_SEED": str(seed), "NOC_FLITS": str(flits)},
    )


# Tests that share a Verilator build directory run on one xdist worker (--dist loadgroup).
SHARED_BUILD = pytest.mark.xdist_group("router-build")


@pytest.mark.cocotb
@SHARED_BUILD
def test_router():
    _run(30_000, seed=11)


@pytest.mark.cocotb
@SHARED_BUILD
@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_router_assertion_fires(simulator):
    """The RTL's assertions are live in the Verilog: a driver that withdraws a refused flit
    makes the run fail, naming the broken contract (Verilator and Icarus alike)."""
    chip = noc_chip(3, 3)
    with pytest.raises(AssertionError, match=r"RTL assertion failure.*withdrawn or changed"):
        run_cocotb(
            router_top(chip),
            toplevel="router_tb",
            test_module="tb.router.test_router",
            name="router",
            simulator=simulator,
            testcase="test_withdrawn_flit",
            env={"NOC_CHIP": chip.to_dict(), "NOC_BROKEN": "1"},
        )


@pytest.mark.cocotb
@pytest.mark.slow
@SHARED_BUILD
def test_router_long():
    _run(1_000_000 if long_run() else 100_000, seed=12)
