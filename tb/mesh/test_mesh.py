"""cocotb testbench of the mesh NoC on Verilator, scoreboarded by MeshModel.

Every local port and the host port get random-idle drivers and random
backpressure. The scoreboard proves that every flit arrives exactly once, at
its destination, in order per (source, destination) pair; the twin
(MeshModel, fed the same per-cycle inputs) proves that the RTL's outputs equal
the model's in every cycle, hence every flit's arrival cycle equals the TLM's.

Environment: NOC_CHIP (ChipConfig as JSON), NOC_SEED, NOC_FLITS.
Replay a failure with the printed seed: NOC_SEED=<seed> pytest tb/mesh -k <size>.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from spikemesh.config import ChipConfig, CoreConfig, bits_for, flit_layout
from tb.runner import long_run, run_cocotb

SIZES = [(2, 2), (3, 3), (4, 4), (3, 2)]
CI_FLITS = 100_000
LONG_FLITS = 1_000_000
BACKPRESSURE = [(0.5, 0.5), (0.75, 0.75), (1.0, 0.25)]  # (p_offer, p_ready) per cocotb test


def tb_chip(w, h) -> ChipConfig:
    # 65,536 axons make the payload 16 bits: enough for (source, per-pair sequence number).
    return ChipConfig(width=w, height=h, core=CoreConfig(axons=65536))


def flit_codec(chip):
    """make_flit / src_of for NocTB: payload = source endpoint | per-pair sequence number."""
    lay = flit_layout(chip)
    n = chip.tiles + 1
    src_bits = bits_for(n - 1)
    seq_bits = lay["payload"].width - src_bits
    seq_mask = (1 << seq_bits) - 1
    p_off = lay.offsets["payload"]
    dests = [(k % chip.width, k // chip.width) for k in range(chip.tiles)] + [(-1, 0)]
    # Pre-packed destination/kind bits per (endpoint, kind).
    base = [
        [lay.pack(kind=kind, dest_x=x, dest_y=y, payload=0) for kind in (0, 1)] for x, y in dests
    ]

    def make_flit(rng, src, seq_by_dst):
        dst = rng.randrange(n)
        s = seq_by_dst.get(dst, 0)
        seq_by_dst[dst] = s + 1
        payload = (src << seq_bits) | (s & seq_mask)
        return dst, base[dst][rng.getrandbits(1)] | (payload << p_off)

    def src_of(word):
        return (word >> p_off) >> seq_bits & ((1 << src_bits) - 1)

    return make_flit, src_of


try:
    import cocotb

    @cocotb.test()
    @cocotb.parametrize(bp=BACKPRESSURE)
    async def test_random_traffic(dut, bp):
        from spikemesh.sim.mesh import MeshModel

        from tb.mesh.harness import NocTB

        chip = ChipConfig.from_dict(json.loads(os.environ["NOC_CHIP"]))
        seed = int(os.environ["NOC_SEED"]) + BACKPRESSURE.index(bp)
        n_flits = int(os.environ["NOC_FLITS"]) // len(BACKPRESSURE)
        make_flit, src_of = flit_codec(chip)
        p_offer, p_ready = bp
        dut._log.info(
            f"mesh {chip.width}x{chip.height}: {n_flits} flits, seed {seed}, "
            f"p_offer {p_offer}, p_ready {p_ready}"
        )
        model = MeshModel(chip)
        tb = NocTB(
            dut,
            model,
            n=chip.tiles + 1,
            width=flit_layout(chip).width,
            make_flit=make_flit,
            src_of=src_of,
            seed=seed,
            p_offer=p_offer,
            p_ready=p_ready,
            log=dut._log,
        )
        await tb.reset()
        t0 = time.time()
        await tb.run(n_flits, max_cycles=50 * n_flits + 1000)
        from cocotb.triggers import FallingEdge

        await FallingEdge(dut.clk)
        assert tb.received == tb.sent == n_flits
        assert dut.flits_in.value.to_unsigned() == model.flits_in == n_flits
        assert dut.flits_out.value.to_unsigned() == model.flits_out == n_flits
        assert dut.dropped.value.to_unsigned() == 0 and dut.misroute.value == 0
        assert dut.idle.value == 1 and model.idle
        dt = time.time() - t0
        dut._log.info(
            f"mesh {chip.width}x{chip.height}: {tb.received} flits verified in {tb.cycle} cycles "
            f"({tb.cycle / dt:.0f} cycles/s), mean latency {tb.latency_sum / tb.received:.2f}; "
            "every arrival cycle equal to MeshModel's"
        )

except ImportError:  # pragma: no cover - cocotb not installed
    pass


def mesh_top(chip):
    from spikemesh.rtl.mesh import Mesh

    from tb.mesh.harness import Flatten

    mesh = Mesh(chip)
    ins = [mesh.i_local[y][x] for y in range(chip.height) for x in range(chip.width)]
    outs = [mesh.o_local[y][x] for y in range(chip.height) for x in range(chip.width)]
    extra = {
        name: (len(getattr(mesh, name)), getattr(mesh, name))
        for name in ("flits_in", "flits_out", "dropped", "misroute", "idle")
    }
    return Flatten(mesh, [*ins, mesh.i_host], [*outs, mesh.o_host], flit_layout(chip).width, extra)


def _run(w, h, flits, seed):
    chip = tb_chip(w, h)
    seed = int(os.environ.get("NOC_SEED", seed))
    print(f"tb/mesh {w}x{h}: seed {seed}, {flits} flits")
    run_cocotb(
        mesh_top(chip),
        toplevel="mesh_tb",
        test_module="tb.mesh.test_mesh",
        name=f"mesh-{w}x{h}",
        env={"NOC_CHIP": chip.to_dict(), "NOC_SEED": str(seed), "NOC_FLITS": str(flits)},
    )


@pytest.mark.cocotb
@pytest.mark.parametrize("w,h", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_mesh(w, h):
    _run(w, h, CI_FLITS, seed=1000 * w + h)


@pytest.mark.cocotb
@pytest.mark.slow
@pytest.mark.parametrize("w,h", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_mesh_long(w, h):
    _run(w, h, LONG_FLITS if long_run() else CI_FLITS, seed=7000 * w + h)
