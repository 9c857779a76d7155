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

The cocotb side is spikemesh.firmware.rtl_loader (the same RTL loader the
``rtl`` backend uses). Replay: the networks come from seeds printed in the log.
``SPIKEMESH_LONG=1`` (or ``-m slow``) runs the long regression: more
networks, more ticks, a bigger mesh.
"""

from __future__ import annotations

import numpy as np
import pytest

from spikemesh.config import ChipConfig, CoreConfig, RouterConfig
from spikemesh.errors import CompileError
from tb.runner import BUILD, simulator_available

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
    from spikemesh.firmware.rtl_loader import run_rtl

    cases, goldens, images = build_cases(chip, networks=networks, ticks=ticks, seed0=seed0)
    print(f"chip {name}: networks from seeds {[c['seed'] for c in cases]}, {ticks} ticks each")
    if not simulator_available(simulator):
        pytest.skip(f"{simulator} is not installed")
    # The RTL loader raises if any response word is not on the timed TLM's cycle.
    build = BUILD / f"chip-{name}-{simulator}"
    observed = run_rtl(chip, cases, simulator=simulator, build_dir=build)
    assert len(observed) == len(cases)
    for case, obs, (g, inputs), img in zip(cases, observed, goldens, images, strict=True):
        words = [w for _, w in obs]
        rtl = decode_run(img, unpack_responses(words), case["ticks"], inputs, backend="rtl")
        assert np.array_equal(rtl.spikes, g.spikes), f"seed {case['seed']}: RTL spikes differ"
        assert np.array_equal(rtl.final_u, g.final_u), f"seed {case['seed']}: RTL u differs"
        assert np.array_equal(rtl.final_v, g.final_v), f"seed {case['seed']}: RTL v differs"
        assert rtl.cycles.tolist() == case["tlm_cycles"], f"seed {case['seed']}: cycles differ"
        assert g.spikes.any(), f"seed {case['seed']}: a silent network proves little"


# Tests that share a Verilator build directory run on one xdist worker (--dist loadgroup).
SHARED_BUILD = pytest.mark.xdist_group("chip-2x2-n16-build")


@pytest.mark.cocotb
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=SHARED_BUILD) if n == "2x2-n16" else n for n in CONFIGS]
)
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


@pytest.mark.cocotb
@SHARED_BUILD
def test_rtl_loader_catches_a_one_cycle_difference():
    """The comparison is not vacuous: shifting one expected response by a cycle fails the run."""
    from spikemesh.firmware.rtl_loader import run_rtl

    from spikemesh.hdlsim import HdlSimError

    chip = CONFIGS["2x2-n16"]
    cases, _, _ = build_cases(chip, networks=1, ticks=20, seed0=7)
    if not simulator_available("verilator"):
        pytest.skip("verilator is not installed")
    k = len(cases[0]["expected"]) // 2
    cycle, word = cases[0]["expected"][k]
    cases[0]["expected"][k] = (cycle + 1, word)
    with pytest.raises(
        HdlSimError,
        match=rf"RTL response {k} is \({cycle}, {word}\), the timed "
        rf"TLM's is \({cycle + 1}, {word}\)",
    ):
        run_rtl(chip, cases, build_dir=BUILD / "chip-2x2-n16-verilator")
