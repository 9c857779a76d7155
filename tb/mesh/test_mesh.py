"""cocotb testbench of the mesh NoC on Verilator, scoreboarded by MeshModel.

Every local port and the host port get random-idle drivers and random
backpressure. The scoreboard proves that every flit arrives exactly once, at
its destination, in order per (source, destination) pair; the twin
(MeshModel, fed the same per-cycle inputs) proves that the RTL's outputs equal
the model's in every cycle, hence every flit's arrival cycle equals the TLM's.

Environment: NOC_CHIP (ChipConfig as JSON), NOC_SEED, NOC_FLITS, and NOC_FAULTS (a fault
map as JSON, ``FaultMap.to_dict``; link faults only, so every tile sends and receives): the
RTL mesh and the twin then route by the compiler's route tables (docs/noc.md, "Faults").
Replay a failure with the printed seed: NOC_SEED=<seed> pytest tb/mesh -k <size>.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from spikemesh.firmware.rtl_mesh import (
    mesh_top,
    noc_chip,
    routing_from_env,
    schedule_env,
    tagged_schedule,
)

from spikemesh.config import ChipConfig, bits_for, flit_layout
from tb.runner import BUILD, long_run, run_cocotb

SIZES = [(2, 2), (3, 3), (4, 4), (3, 2)]
CI_FLITS = 100_000
LONG_FLITS = 1_000_000
BACKPRESSURE = [(0.5, 0.5), (0.75, 0.75), (1.0, 0.25)]  # (p_offer, p_ready) per cocotb test
FILLS_FIFOS = (1.0, 0.25)  # meant to fill input FIFOs: asserted (coverage cannot vanish)


def check_fifos_filled(tb, bp):
    """The setting meant to fill FIFOs must have had offers refused by a full FIFO."""
    tb.log.info(f"{tb.refused} offers refused by a full input FIFO")
    if bp == FILLS_FIFOS:
        assert tb.refused > 0, f"backpressure {bp} never filled an input FIFO"


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

    @cocotb.test(skip="NOC_FLITS" not in os.environ)
    @cocotb.parametrize(bp=BACKPRESSURE)
    async def test_random_traffic(dut, bp):
        from spikemesh.sim.mesh import MeshModel

        from tb.mesh.harness import NocTB

        chip = ChipConfig.from_dict(json.loads(os.environ["NOC_CHIP"]))
        seed = int(os.environ["NOC_SEED"]) + BACKPRESSURE.index(bp)
        n_flits = -(-int(os.environ["NOC_FLITS"]) // len(BACKPRESSURE))  # ceil: >= NOC_FLITS in all
        make_flit, src_of = flit_codec(chip)
        p_offer, p_ready = bp
        dut._log.info(
            f"mesh {chip.width}x{chip.height}: {n_flits} flits, seed {seed}, "
            f"p_offer {p_offer}, p_ready {p_ready}"
        )
        model = MeshModel(chip, routing=routing_from_env(chip))
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
        check_fifos_filled(tb, bp)
        dt = time.time() - t0
        dut._log.info(
            f"mesh {chip.width}x{chip.height}: {tb.received} flits verified in {tb.cycle} cycles "
            f"({tb.cycle / dt:.0f} cycles/s), mean latency {tb.latency_sum / tb.received:.2f}; "
            "every arrival cycle equal to MeshModel's"
        )

except ImportError:  # pragma: no cover - cocotb not installed
    pass


def _run(w, h, flits, seed, *, name, faults=None):
    """Random traffic with backpressure (test_random_traffic) and, in the same simulator
    run, a uniform-random schedule at 0.3 flits/node/cycle (play_schedule, in
    firmware/rtl_mesh.py): RTL == TLM.
    ``faults``: a FaultMap (links only): the mesh and the twin route around it."""
    from bench.noc.traffic import schedule

    chip = noc_chip(w, h)
    routing = None
    if faults is not None:
        from spikemesh.faultroute import fault_routing

        routing = fault_routing(chip, faults)
        print(f"tb/mesh {w}x{h}: faults {faults.describe()}, routing {routing.order}")
    seed = int(os.environ.get("NOC_SEED", seed))
    print(f"tb/mesh {w}x{h}: seed {seed}, {flits} flits")
    sched, _ = schedule(chip, "uniform", 0.3, 1000, seed=seed)
    played = schedule_env(chip, tagged_schedule(chip, sched), BUILD / f"{name}-verilator", faults)
    run_cocotb(
        mesh_top(chip, routing),
        toplevel="mesh_tb",
        # random traffic here, then the schedule (firmware/rtl_mesh.py's play_schedule)
        test_module=["tb.mesh.test_mesh", "spikemesh.firmware.rtl_mesh"],
        name=name,
        env={"NOC_SEED": str(seed), "NOC_FLITS": str(flits), **played},
    )


# test_mesh[2x2] and the schedule runner's test share the 2x2 build (--dist loadgroup)
MESH_2X2 = pytest.mark.xdist_group("mesh-2x2-build")


@pytest.mark.cocotb
@pytest.mark.parametrize(
    "w,h",
    [pytest.param(w, h, marks=MESH_2X2) if (w, h) == (2, 2) else (w, h) for w, h in SIZES],
    ids=[f"{w}x{h}" for w, h in SIZES],
)
def test_mesh(w, h):
    _run(w, h, CI_FLITS, seed=1000 * w + 10 * h, name=f"mesh-{w}x{h}")


@pytest.mark.cocotb
@MESH_2X2
def test_run_schedule_as_the_bench_does():
    """firmware/rtl_mesh.run_schedule, bench/noc/rtl_check.py's way in: the arrival cycles
    of a hotspot schedule come back equal to MeshModel.run's."""
    from spikemesh.firmware.rtl_mesh import run_schedule
    from spikemesh.sim.mesh import MeshModel

    from bench.noc.traffic import schedule

    chip = noc_chip(2, 2)
    sched, _ = schedule(chip, "hotspot", 0.4, 200, seed=5)
    sched = tagged_schedule(chip, sched)
    arrivals = run_schedule(chip, sched, BUILD / "mesh-2x2-verilator")
    assert arrivals == MeshModel(chip).run(sched)[0] and None not in arrivals
    assert len(arrivals) > 100


@pytest.mark.cocotb
@pytest.mark.slow
@pytest.mark.parametrize("w,h", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_mesh_long(w, h):
    _run(
        w,
        h,
        LONG_FLITS if long_run() else CI_FLITS,
        seed=7000 * w + 10 * h,
        name=f"mesh-{w}x{h}-long",
    )


FAULTY = [((4, 4), 3, 11), ((4, 4), 2, 3)]  # (size, dead links, map seed)


@pytest.mark.cocotb
@pytest.mark.parametrize("size,links,seed", FAULTY[:1], ids=["4x4-3links"])
def test_mesh_faults(size, links, seed):
    """Random link faults: every flit arrives once, in order, at MeshModel's cycle."""
    from spikemesh.faults import FaultMap

    chip = noc_chip(*size)
    faults = FaultMap.random(chip, seed=seed, links=links)
    _run(*size, 30_000, seed=seed, name=f"mesh-{size[0]}x{size[1]}-faults", faults=faults)


@pytest.mark.cocotb
@pytest.mark.slow
@pytest.mark.parametrize("size,links,seed", FAULTY, ids=["4x4-3links", "4x4-2links"])
def test_mesh_faults_long(size, links, seed):
    from spikemesh.faults import FaultMap

    chip = noc_chip(*size)
    faults = FaultMap.random(chip, seed=seed, links=links)
    flits = LONG_FLITS if long_run() else CI_FLITS
    _run(*size, flits, seed=seed, name=f"mesh-{size[0]}x{size[1]}-faults-long", faults=faults)


def test_fifo_coverage_check_can_fail():
    """check_fifos_filled refuses a 'fill the FIFOs' run in which no offer was refused."""
    import logging
    from types import SimpleNamespace

    log = logging.getLogger("tb.mesh")
    check_fifos_filled(SimpleNamespace(refused=0, log=log), BACKPRESSURE[0])  # not meant to fill
    check_fifos_filled(SimpleNamespace(refused=3, log=log), FILLS_FIFOS)
    with pytest.raises(AssertionError, match=r"never filled an input FIFO"):
        check_fifos_filled(SimpleNamespace(refused=0, log=log), FILLS_FIFOS)


def test_run_schedule_reports_a_failed_run(monkeypatch, tmp_path):
    """A cocotb run that failed (arrival cycles other than MeshModel's, an RTL assertion)
    is an HdlSimError naming the log, not arrival cycles read from a stale file."""
    from spikemesh.firmware.rtl_mesh import run_schedule

    from spikemesh import hdlsim

    monkeypatch.setattr(hdlsim, "build_and_test", lambda *a, **k: (1, 1))
    (tmp_path / "arrivals.json").write_text("[0]")  # a stale result: removed, never read
    with pytest.raises(hdlsim.HdlSimError, match=r"the schedule's RTL run failed; log: .*sim\.log"):
        run_schedule(noc_chip(2, 2), [(0, 0, 0)], tmp_path)
    assert not (tmp_path / "arrivals.json").exists()
