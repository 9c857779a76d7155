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

from spikemesh.config import ChipConfig, CoreConfig, bits_for, flit_layout
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


def routing_from_env(chip):
    """The route tables for NOC_FAULTS (None without faults: XY)."""
    spec = os.environ.get("NOC_FAULTS")
    if not spec:
        return None
    from spikemesh.faultroute import fault_routing
    from spikemesh.faults import FaultMap

    return fault_routing(chip, FaultMap.from_dict(json.loads(spec), chip=chip))


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

    @cocotb.test(skip="NOC_SCHEDULE" not in os.environ)
    async def test_schedule(dut):
        """Play an injection schedule (unbounded source queues, outputs always ready).

        The RTL's arrival cycle of every flit is written to NOC_RESULT and must equal
        MeshModel.run's for the same schedule. Flits are told apart by their payload
        (the schedule index modulo the payload width).
        """
        from collections import deque

        from cocotb.triggers import FallingEdge
        from spikemesh.sim.mesh import MeshModel

        from tb.mesh.harness import NocTB

        chip = ChipConfig.from_dict(json.loads(os.environ["NOC_CHIP"]))
        with open(os.environ["NOC_SCHEDULE"]) as f:
            sched = [tuple(e) for e in json.load(f)]
        lay = flit_layout(chip)
        w = lay.width
        n = chip.tiles + 1
        tb = NocTB(
            dut,
            None,
            n=n,
            width=w,
            make_flit=None,
            src_of=None,
            seed=0,
            p_offer=0,
            p_ready=1,
            log=dut._log,
        )
        await tb.reset()
        dut.out_ready.value = (1 << n) - 1
        pending = {}  # word -> deque of schedule indices in flight with that word
        queues = [deque() for _ in range(n)]
        arrivals = [None] * len(sched)
        fmask = (1 << w) - 1
        nxt = delivered = cycle = 0
        fe = FallingEdge(dut.clk)
        holding = 0
        while delivered < len(sched) and cycle < 100 * len(sched) + 1000:
            await fe
            d_ov = dut.out_valid.value.to_unsigned()
            d_ir = dut.in_ready.value.to_unsigned()
            if d_ov:
                d_op = dut.out_payload.value.to_unsigned()
                while d_ov:
                    k = (d_ov & -d_ov).bit_length() - 1
                    d_ov &= d_ov - 1
                    word = (d_op >> (k * w)) & fmask
                    arrivals[pending[word].popleft()] = cycle
                    delivered += 1
            while nxt < len(sched) and sched[nxt][0] <= cycle:
                queues[sched[nxt][1]].append(nxt)
                pending.setdefault(sched[nxt][2], deque()).append(nxt)
                nxt += 1
            acc = holding & d_ir
            while acc:
                k = (acc & -acc).bit_length() - 1
                acc &= acc - 1
                queues[k].popleft()
            holding = 0
            pay = 0
            for k in range(n):
                if queues[k]:
                    holding |= 1 << k
                    pay |= sched[queues[k][0]][2] << (k * w)
            dut.in_valid.value = holding
            dut.in_payload.value = pay
            cycle += 1
        with open(os.environ["NOC_RESULT"], "w") as f:
            json.dump(arrivals, f)
        expect, _ = MeshModel(chip, routing=routing_from_env(chip)).run(sched)
        bad = [i for i, (a, b) in enumerate(zip(arrivals, expect, strict=True)) if a != b]
        assert not bad, f"{len(bad)} flits arrive at other cycles than MeshModel's, first {bad[:5]}"
        dut._log.info(f"{len(sched)} flits: RTL arrival cycles equal MeshModel.run's")

except ImportError:  # pragma: no cover - cocotb not installed
    pass


def tagged_schedule(chip, sched):
    """Put the schedule index (modulo the payload width) in each flit's payload."""
    lay = flit_layout(chip)
    off, mask = lay.offsets["payload"], (1 << lay["payload"].width) - 1
    clear = ~(mask << off)
    return [(t, k, (word & clear) | ((i & mask) << off)) for i, (t, k, word) in enumerate(sched)]


def run_schedule(chip, sched, name):
    """Play ``sched`` on the RTL through Verilator; return the RTL's arrival cycles."""
    d = BUILD / f"{name}-verilator"
    d.mkdir(parents=True, exist_ok=True)
    sched_path, result_path = d / "schedule.json", d / "arrivals.json"
    sched_path.write_text(json.dumps(sched))
    if result_path.exists():
        result_path.unlink()
    run_cocotb(
        mesh_top(chip),
        toplevel="mesh_tb",
        test_module="tb.mesh.test_mesh",
        name=name,
        env={
            "NOC_CHIP": chip.to_dict(),
            "NOC_SCHEDULE": str(sched_path),
            "NOC_RESULT": str(result_path),
        },
    )
    return json.loads(result_path.read_text())


def mesh_top(chip, routing=None):
    from spikemesh.rtl.mesh import Mesh

    from tb.mesh.harness import Flatten

    mesh = Mesh(chip, routing=routing)
    ins = [mesh.i_local[y][x] for y in range(chip.height) for x in range(chip.width)]
    outs = [mesh.o_local[y][x] for y in range(chip.height) for x in range(chip.width)]
    extra = {
        name: (len(getattr(mesh, name)), getattr(mesh, name))
        for name in ("flits_in", "flits_out", "dropped", "misroute", "idle")
    }
    return Flatten(mesh, [*ins, mesh.i_host], [*outs, mesh.o_host], flit_layout(chip).width, extra)


def _run(w, h, flits, seed, *, name, faults=None):
    """Random traffic with backpressure (test_random_traffic) and, in the same simulator
    run, a uniform-random schedule at 0.3 flits/node/cycle (test_schedule): RTL == TLM.
    ``faults``: a FaultMap (links only): the mesh and the twin route around it."""
    from bench.noc.traffic import schedule

    chip = tb_chip(w, h)
    routing = None
    env = {}
    if faults is not None:
        from spikemesh.faultroute import fault_routing

        routing = fault_routing(chip, faults)
        env["NOC_FAULTS"] = json.dumps(faults.to_dict())
        print(f"tb/mesh {w}x{h}: faults {faults.describe()}, routing {routing.order}")
    seed = int(os.environ.get("NOC_SEED", seed))
    print(f"tb/mesh {w}x{h}: seed {seed}, {flits} flits")
    sched, _ = schedule(chip, "uniform", 0.3, 1000, seed=seed)
    d = BUILD / f"{name}-verilator"
    d.mkdir(parents=True, exist_ok=True)
    (d / "schedule.json").write_text(json.dumps(tagged_schedule(chip, sched)))
    run_cocotb(
        mesh_top(chip, routing),
        toplevel="mesh_tb",
        test_module="tb.mesh.test_mesh",
        name=name,
        env={
            "NOC_CHIP": chip.to_dict(),
            "NOC_SEED": str(seed),
            "NOC_FLITS": str(flits),
            "NOC_SCHEDULE": str(d / "schedule.json"),
            "NOC_RESULT": str(d / "arrivals.json"),
            **env,
        },
    )


@pytest.mark.cocotb
@pytest.mark.parametrize("w,h", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_mesh(w, h):
    _run(w, h, CI_FLITS, seed=1000 * w + 10 * h, name=f"mesh-{w}x{h}")


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

    chip = tb_chip(*size)
    faults = FaultMap.random(chip, seed=seed, links=links)
    _run(*size, 30_000, seed=seed, name=f"mesh-{size[0]}x{size[1]}-faults", faults=faults)


@pytest.mark.cocotb
@pytest.mark.slow
@pytest.mark.parametrize("size,links,seed", FAULTY, ids=["4x4-3links", "4x4-2links"])
def test_mesh_faults_long(size, links, seed):
    from spikemesh.faults import FaultMap

    chip = tb_chip(*size)
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
