"""The RTL mesh on Verilator under cocotb: play an injection schedule, get every flit's
arrival cycle (for NoC studies: bench/noc/rtl_check.py; tb/mesh checks the same run
against MeshModel).

A schedule is a list of ``(cycle, source endpoint, flit word)``: endpoint k < tiles is
tile k's local port, ``tiles`` the host port. Each source has an unbounded queue and
every output is always ready, as in the sweep of bench/noc. :func:`run_schedule` builds
:func:`mesh_top` (the :class:`~spikemesh.rtl.mesh.Mesh` behind :class:`Flatten`) and
runs :func:`play_schedule`, the cocotb test of this module, which writes the RTL's
arrival cycle of every flit and checks it against ``MeshModel.run``'s.

Environment of the cocotb test: NOC_CHIP (ChipConfig as JSON), NOC_SCHEDULE and
NOC_RESULT (JSON files), NOC_FAULTS (a fault map, ``FaultMap.to_dict``, links only: the
mesh and the twin route by the compiler's route tables, docs/noc.md "Faults").
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from amaranth import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikemesh.config import ChipConfig, CoreConfig, flit_layout
from spikemesh.hdlsim import HdlSimError


def noc_chip(w, h) -> ChipConfig:
    """A w x h chip for NoC traffic: 65,536 axons make the flit payload 16 bits, enough for
    a schedule index or (source, per-pair sequence number); the payload changes no timing."""
    return ChipConfig(width=w, height=h, core=CoreConfig(axons=65536))


def tagged_schedule(chip, sched):
    """Put the schedule index (modulo the payload width) in each flit's payload."""
    lay = flit_layout(chip)
    off, mask = lay.offsets["payload"], (1 << lay["payload"].width) - 1
    clear = ~(mask << off)
    return [(t, k, (word & clear) | ((i & mask) << off)) for i, (t, k, word) in enumerate(sched)]


class Flatten(wiring.Component):
    """Expose the endpoint streams of ``dut`` as packed vectors (endpoint k = bits of slot k).

    A cocotb loop then touches six signals per cycle whatever the mesh size (Python per
    cycle is the bottleneck of a testbench).

    Parameters
    ----------
    dut : Component
    ins, outs : lists of the dut's In / Out stream interfaces, endpoint order
    width : int
        Flit width.
    extra : dict of name -> (width, dut signal)
        Status outputs passed through (counters, flags).
    """

    def __init__(self, dut, ins, outs, width, extra):
        self.dut, self._ins, self._outs, self._extra = dut, ins, outs, extra
        n = len(ins)
        members = {
            "in_valid": In(n),
            "in_payload": In(n * width),
            "in_ready": Out(n),
            "out_valid": Out(n),
            "out_payload": Out(n * width),
            "out_ready": In(n),
        }
        members.update({name: Out(w) for name, (w, _) in extra.items()})
        self.width = width
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        w = self.width
        for k, (i, o) in enumerate(zip(self._ins, self._outs, strict=True)):
            m.d.comb += [
                i.valid.eq(self.in_valid[k]),
                i.payload.eq(self.in_payload[k * w : (k + 1) * w]),
                self.in_ready[k].eq(i.ready),
                self.out_valid[k].eq(o.valid),
                o.ready.eq(self.out_ready[k]),
            ]
        m.d.comb += self.out_payload.eq(Cat(o.payload for o in self._outs))
        for name, (_, sig) in self._extra.items():
            m.d.comb += getattr(self, name).eq(sig)
        return m


def mesh_top(chip, routing=None):
    """The chip's Mesh (XY, or ``routing``'s tables) behind :class:`Flatten`: endpoints are
    the tiles' local ports in tile order, then the host port; ``flits_in``, ``flits_out``,
    ``dropped``, ``misroute`` and ``idle`` passed through."""
    from spikemesh.rtl.mesh import Mesh

    mesh = Mesh(chip, routing=routing)
    ins = [mesh.i_local[y][x] for y in range(chip.height) for x in range(chip.width)]
    outs = [mesh.o_local[y][x] for y in range(chip.height) for x in range(chip.width)]
    extra = {
        name: (len(getattr(mesh, name)), getattr(mesh, name))
        for name in ("flits_in", "flits_out", "dropped", "misroute", "idle")
    }
    return Flatten(mesh, [*ins, mesh.i_host], [*outs, mesh.o_host], flit_layout(chip).width, extra)


def routing_from_env(chip):
    """The route tables for NOC_FAULTS (None without faults: XY)."""
    spec = os.environ.get("NOC_FAULTS")
    if not spec:
        return None
    from spikemesh.faultroute import fault_routing
    from spikemesh.faults import FaultMap

    return fault_routing(chip, FaultMap.from_dict(json.loads(spec), chip=chip))


def schedule_env(chip, sched, build_dir, faults=None) -> dict:
    """The environment of :func:`play_schedule` for ``sched`` (tagged, see
    :func:`tagged_schedule`), its files in ``build_dir``."""
    d = Path(build_dir)
    d.mkdir(parents=True, exist_ok=True)
    (d / "schedule.json").write_text(json.dumps(sched))
    result = d / "arrivals.json"
    result.unlink(missing_ok=True)
    env = {"NOC_CHIP": chip.to_dict(), "NOC_SCHEDULE": str(d / "schedule.json"),
           "NOC_RESULT": str(result)}  # fmt: skip
    if faults is not None:
        env["NOC_FAULTS"] = json.dumps(faults.to_dict())
    return env


def run_schedule(chip, sched, build_dir, *, faults=None):
    """Play ``sched`` (tagged) on the RTL mesh through Verilator; return the RTL's arrival
    cycle of every flit. Raises HdlSimError when the build fails or the arrival cycles
    differ from MeshModel.run's (the cocotb log in ``build_dir``/sim.log says where)."""
    from spikemesh.hdlsim import build_and_test

    routing = None
    if faults is not None:
        from spikemesh.faultroute import fault_routing

        routing = fault_routing(chip, faults)
    env = schedule_env(chip, sched, build_dir, faults)
    _, failed = build_and_test(
        mesh_top(chip, routing),
        toplevel="mesh_tb",
        test_module=__name__,
        build_dir=build_dir,
        env=env,
        sim_log=Path(build_dir) / "sim.log",
    )
    if failed:
        raise HdlSimError(f"the schedule's RTL run failed; log: {Path(build_dir) / 'sim.log'}")
    return json.loads(Path(env["NOC_RESULT"]).read_text())


async def reset_flattened(dut):
    """Start the clock of a :class:`Flatten` top (10 ns) and reset it for two cycles with
    nothing offered and no output ready; returns at a falling edge with reset released."""
    from cocotb.clock import Clock
    from cocotb.triggers import FallingEdge

    Clock(dut.clk, 10, unit="ns").start(start_high=False)
    dut.rst.value = 1
    dut.in_valid.value = 0
    dut.in_payload.value = 0
    dut.out_ready.value = 0
    for _ in range(2):
        await FallingEdge(dut.clk)
    dut.rst.value = 0


try:
    import cocotb

    @cocotb.test(skip="NOC_SCHEDULE" not in os.environ)
    async def play_schedule(dut):
        """Play an injection schedule (unbounded source queues, outputs always ready).

        The RTL's arrival cycle of every flit is written to NOC_RESULT and must equal
        MeshModel.run's for the same schedule. Flits are told apart by their payload
        (the schedule index modulo the payload width).
        """
        from collections import deque

        from cocotb.triggers import FallingEdge
        from spikemesh.sim.mesh import MeshModel

        chip = ChipConfig.from_dict(json.loads(os.environ["NOC_CHIP"]))
        with open(os.environ["NOC_SCHEDULE"]) as f:
            sched = [tuple(e) for e in json.load(f)]
        w = flit_layout(chip).width
        n = chip.tiles + 1
        fe = FallingEdge(dut.clk)
        await reset_flattened(dut)
        dut.out_ready.value = (1 << n) - 1
        pending = {}  # word -> deque of schedule indices in flight with that word
        queues = [deque() for _ in range(n)]
        arrivals = [None] * len(sched)
        fmask = (1 << w) - 1
        nxt = delivered = cycle = 0
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
