"""End-to-end chip regression: golden = functional TLM = timed TLM = RTL (Verilator).

For each chip config, the pytest side compiles random networks (recurrent and
feed-forward, with inputs, every neuron a host output), runs the golden
reference, the functional TLM and the timed TLM, and writes one case file:
the host command words of each network (image load, RUN with the inputs of
every tick, READ_STATE of every neuron) and the timed TLM's responses with
the cycle each was taken in. The cocotb side drives those words into the RTL
chip through ``i_cmd`` in bulk and requires every response word on exactly
the TLM's cycle; the pytest side then decodes the RTL's responses on its own
and compares spikes (every tick), final u/v and cycles per tick with golden.

Environment: CHIP_CASES (path of the case file), CHIP_OUT (where the RTL's
responses go). Replay: the networks come from seeds printed in the log.
``SPIKEMESH_LONG=1`` (or ``-m slow``) runs the long regression: more
networks, more ticks, a bigger mesh.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from spikemesh.config import ChipConfig, CoreConfig, RouterConfig
from spikemesh.errors import CompileError
from tb.runner import BUILD, run_cocotb

CONFIGS = {
    "2x2-n16": ChipConfig(
        width=2,
        height=2,
        core=CoreConfig(neurons=16, axons=128, synapses=1024, fanout=256, profiles=4),
    ),
    "3x2-n16-acc20": ChipConfig(
        width=3,
        height=2,
        router=RouterConfig(fifo_depth=2),
        core=CoreConfig(neurons=16, axons=128, synapses=1024, fanout=256, profiles=4, acc_bits=20),
    ),
    "1x3-n32": ChipConfig(
        width=1,
        height=3,
        core=CoreConfig(neurons=32, axons=256, synapses=2048, fanout=512, profiles=4),
    ),
}
LONG_CONFIGS = {
    "4x3-n32": ChipConfig(
        width=4,
        height=3,
        core=CoreConfig(neurons=32, axons=256, synapses=2048, fanout=512, profiles=4),
    ),
}


def build_cases(chip: ChipConfig, *, networks: int, ticks: int, seed0: int):
    """Compile random networks that fit ``chip``; return (case dicts, golden results, images)."""
    from spikemesh.firmware import compile_network
    from spikemesh.firmware.loader import (
        config_commands,
        decode_run,
        pack_commands,
        read_state_commands,
        run_commands,
    )
    from spikemesh.sim.chip import ChipModel, TimedChipModel

    from spikemesh.golden import run_golden
    from spikemesh.hostlink import response_layout
    from tests.firmware.random_nets import random_network

    rsp_lay = response_layout()
    cases, goldens, images = [], [], []
    seed = seed0
    while len(cases) < networks:
        seed += 1
        net = random_network(seed, max_neurons=int(chip.neurons * 0.8), recurrent=seed % 3 != 0)
        try:
            img, _ = compile_network(net, chip)
        except CompileError:
            continue  # too dense for this chip: the next seed
        inputs = net.input_raster(ticks)
        g = run_golden(net, ticks, acc_bits=chip.core.acc_bits)
        if net.num_neurons <= chip.core.neurons or not g.spikes.any():
            continue  # a one-core or silent network would not exercise the mesh: the next seed
        f = ChipModel(img).run(ticks, inputs)
        assert g.diff(f) == [], f"seed {seed}: functional TLM differs from golden"
        cmds = config_commands(img) + run_commands(img, inputs, ticks) + read_state_commands(img)
        rsp = TimedChipModel(chip).run(cmds)
        timed = decode_run(img, [r[1:] for r in rsp], ticks, inputs, backend="tlm-timed")
        assert np.array_equal(timed.spikes, g.spikes), f"seed {seed}: timed TLM spikes differ"
        assert np.array_equal(timed.final_u, g.final_u), f"seed {seed}: timed TLM u differs"
        assert np.array_equal(timed.final_v, g.final_v), f"seed {seed}: timed TLM v differs"
        cases.append(
            {
                "seed": seed,
                "ticks": ticks,
                "words": [str(w) for w in pack_commands(img, cmds)],
                "expected": [[c, str(rsp_lay.pack(op=op, a=a, b=b))] for c, op, a, b in rsp],
                "tlm_cycles": timed.cycles.tolist(),
            }
        )
        goldens.append((g, inputs))
        images.append(img)
    return cases, goldens, images


def _run(name, chip, *, networks, ticks, seed0, simulator="verilator"):
    from spikemesh.firmware.loader import decode_run, unpack_responses
    from spikemesh.rtl.chip import Chip

    cases, goldens, images = build_cases(chip, networks=networks, ticks=ticks, seed0=seed0)
    work = BUILD / f"chip-{name}-{simulator}"
    work.mkdir(parents=True, exist_ok=True)
    case_file = work / "cases.json"
    out_file = work / "rtl_responses.json"
    case_file.write_text(json.dumps({"chip": chip.to_dict(), "cases": cases}))
    if out_file.exists():
        out_file.unlink()
    print(f"chip {name}: networks from seeds {[c['seed'] for c in cases]}, {ticks} ticks each")
    run_cocotb(
        Chip(chip),
        toplevel="chip",
        test_module="tb.chip.test_chip",
        name=f"chip-{name}",
        simulator=simulator,
        env={"CHIP_CASES": str(case_file), "CHIP_OUT": str(out_file)},
    )
    observed = json.loads(out_file.read_text())
    assert len(observed) == len(cases)
    for case, obs, (g, inputs), img in zip(cases, observed, goldens, images, strict=True):
        words = [int(w) for _, w in obs]
        rtl = decode_run(img, unpack_responses(words), case["ticks"], inputs, backend="rtl")
        assert np.array_equal(rtl.spikes, g.spikes), f"seed {case['seed']}: RTL spikes differ"
        assert np.array_equal(rtl.final_u, g.final_u), f"seed {case['seed']}: RTL u differs"
        assert np.array_equal(rtl.final_v, g.final_v), f"seed {case['seed']}: RTL v differs"
        assert rtl.cycles.tolist() == case["tlm_cycles"], f"seed {case['seed']}: cycles differ"
        assert g.spikes.any(), f"seed {case['seed']}: a silent network proves little"


@pytest.mark.cocotb
@pytest.mark.parametrize("name", list(CONFIGS))
def test_chip_three_way(name):
    """CI: 7 networks x 200 ticks on each of three chips (21 networks in all)."""
    _run(name, CONFIGS[name], networks=7, ticks=200, seed0=1000 * (list(CONFIGS).index(name) + 1))


@pytest.mark.cocotb
def test_chip_icarus_smoke():
    """The same regression on Icarus, shorter: the Verilog is simulator-independent."""
    _run("2x2-n16", CONFIGS["2x2-n16"], networks=1, ticks=20, seed0=99, simulator="icarus")


@pytest.mark.cocotb
@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGS) + list(LONG_CONFIGS))
def test_chip_long(name):
    """The long regression (SPIKEMESH_LONG=1): 20 networks x 1,000 ticks per chip."""
    chip = {**CONFIGS, **LONG_CONFIGS}[name]
    _run(f"{name}-long", chip, networks=20, ticks=1000, seed0=50_000)


# --- cocotb side ----------------------------------------------------------------------------

try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ReadOnly, RisingEdge
except ImportError:  # pragma: no cover - cocotb is a dev dependency
    cocotb = None


class ChipTB:
    """Clock, reset, a bulk command driver and a response monitor on the chip's host streams.

    The host always offers its next command and is always ready for a
    response: the convention under which the timed TLM's cycles are defined.
    """

    def __init__(self, dut):
        self.dut = dut
        Clock(dut.clk, 10, unit="ns").start(start_high=False)

    async def reset(self):
        d = self.dut
        d.rst.value = 1
        d.i_cmd__valid.value = 0
        d.o_rsp__ready.value = 1
        for _ in range(3):
            await RisingEdge(d.clk)
        d.rst.value = 0

    async def run(self, words, *, expected_count, max_cycles):
        """Drive ``words``; return [(cycle, response word)] once ``expected_count`` have come
        (and a few quiet cycles prove no extra ones follow)."""
        d = self.dut
        pos, cycle, got, quiet = 0, 0, [], 0
        d.i_cmd__valid.value = 1 if words else 0
        if words:
            d.i_cmd__payload.value = words[0]
        while True:
            await ReadOnly()
            took = pos < len(words) and int(d.i_cmd__ready.value)
            if int(d.o_rsp__valid.value):
                got.append((cycle, int(d.o_rsp__payload.value)))
            await RisingEdge(d.clk)
            cycle += 1
            if took:
                pos += 1
                if pos < len(words):
                    d.i_cmd__payload.value = words[pos]
                else:
                    d.i_cmd__valid.value = 0
            if pos == len(words) and len(got) >= expected_count:
                quiet += 1
                if quiet > 8:
                    return got
            if cycle > max_cycles:
                return got


if cocotb is not None:

    @cocotb.test()
    async def test_cases(dut):
        spec = json.loads(Path(os.environ["CHIP_CASES"]).read_text())
        tb = ChipTB(dut)
        observed = []
        for case in spec["cases"]:
            await tb.reset()
            words = [int(w) for w in case["words"]]
            expected = [(c, int(w)) for c, w in case["expected"]]
            got = await tb.run(
                words,
                expected_count=len(expected),
                max_cycles=expected[-1][0] + 1000 if expected else 1000,
            )
            observed.append([[c, str(w)] for c, w in got])
            if got != expected:
                first = next(
                    (k for k, (a, b) in enumerate(zip(got, expected)) if a != b),
                    min(len(got), len(expected)),
                )
                raise AssertionError(
                    f"seed {case['seed']}: RTL response {first} is "
                    f"{got[first] if first < len(got) else 'missing'}, the timed TLM's is "
                    f"{expected[first] if first < len(expected) else 'none'} "
                    f"({len(got)} vs {len(expected)} responses)"
                )
            dut._log.info(f"seed {case['seed']}: {len(got)} responses equal, cycle for cycle")
        Path(os.environ["CHIP_OUT"]).write_text(json.dumps(observed))
