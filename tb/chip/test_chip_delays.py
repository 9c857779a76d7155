"""Synaptic delays in the RTL: golden = functional TLM = compiled timed model = RTL (the C++
Verilator harness), every response word on the compiled model's cycle, on random networks
whose projections draw delays 1..D with zero, subtract and mixed reset.

The cheap path, so that CI can afford 22 networks: the image is placed directly (no
CONFIG_WRITE stream), and the Python cycle model is left to tests/sim/test_delay_models.py,
which checks it equal to the compiled model on the same generator (with both loads), and
that the delays of such networks change their spikes. The RTL loader raises on the first
response word that is not on the compiled model's cycle.
"""

from __future__ import annotations

import pytest

from spikemesh.config import ChipConfig, CoreConfig
from tb.runner import require_simulator
from tests.firmware.random_nets import random_network

CHIP = ChipConfig(
    width=2,
    height=2,
    core=CoreConfig(neurons=16, axons=128, synapses=1024, fanout=256, profiles=4, max_delay=7),
)
RESETS = ("zero", "subtract", "mixed")


def delay_cases(chip, *, networks, ticks, seed0):
    """RTL cases of ``networks`` random networks with delays (the n-th with reset
    RESETS[n % 3]), each checked golden = functional TLM = compiled timed model (direct
    load) before it is given to the RTL with the compiled model's responses expected."""
    from spikemesh.firmware import compile_network
    from spikemesh.firmware.loader import (
        decode_run,
        pack_commands,
        read_state_commands,
        run_commands,
    )
    from spikemesh.sim.chip import ChipModel
    from spikemesh.sim.timed import CompiledChipModel

    from spikemesh.errors import CompileError
    from spikemesh.golden import run_golden
    from spikemesh.hostlink import response_layout

    rsp_lay = response_layout()
    cases, seed = [], seed0
    while len(cases) < networks:
        seed += 1
        reset = RESETS[len(cases) % len(RESETS)]
        net = random_network(seed, max_neurons=int(chip.neurons * 0.8), recurrent=seed % 3 != 0,
                             reset=reset, max_delay=chip.core.max_delay)  # fmt: skip
        try:
            img, _ = compile_network(net, chip)
        except CompileError:
            continue
        g = run_golden(net, ticks, acc_bits=chip.core.acc_bits)
        if net.num_neurons <= chip.core.neurons or not g.spikes.any() or net.max_delay == 1:
            continue
        inputs = net.input_raster(ticks)
        assert g.diff(ChipModel(img).run(ticks, inputs)) == [], f"seed {seed}: functional TLM"
        run_cmds = run_commands(img, inputs, ticks) + read_state_commands(img)
        m = CompiledChipModel(chip)
        m.load_image(img)
        rsp = m.run(run_cmds)
        timed = decode_run(img, [r[1:] for r in rsp], ticks, inputs, backend="tlm-timed")
        assert g.diff(timed) == [], f"seed {seed}: compiled timed model"
        cases.append(
            {
                "seed": f"{seed}-{reset}",
                "ticks": ticks,
                "words": pack_commands(img, run_cmds),
                "expected": [(c, rsp_lay.pack(op=op, a=a, b=b)) for c, op, a, b in rsp],
                "tlm_cycles": timed.cycles.tolist(),
                "image": img,
                "golden": (g, inputs),
            }
        )
    return cases


@pytest.mark.cocotb
def test_chip_equivalence_with_delays():
    """CI: 22 networks x 40 ticks with delays 1..7 on a 2x2 chip with D = 7."""
    from spikemesh.firmware.loader import decode_run, unpack_responses
    from spikemesh.firmware.rtl_loader import run_rtl

    cases = delay_cases(CHIP, networks=22, ticks=40, seed0=7000)
    require_simulator("verilator")
    extra = [{k: c.pop(k) for k in ("golden",)} for c in cases]
    observed = run_rtl(CHIP, cases, runner="verilator")
    assert len(observed) == len(cases) == 22
    for case, ex, obs in zip(cases, extra, observed, strict=True):
        g, inputs = ex["golden"]
        words = [w for _, w in obs]
        rtl = decode_run(case["image"], unpack_responses(words), case["ticks"], inputs,
                         backend="rtl")  # fmt: skip
        assert g.diff(rtl) == [], f"seed {case['seed']}: RTL differs from golden"
        assert rtl.cycles.tolist() == case["tlm_cycles"], f"seed {case['seed']}: cycles"
    assert {c["seed"].split("-")[1] for c in cases} == set(RESETS)
