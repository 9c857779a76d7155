"""Long regression (SPIKEMESH_LONG=1): the compiled timed model against the RTL on bigger
meshes. tests/sim/test_timed.py's long test compares the compiled model with the Python
cycle model on 50 networks each of a 4x4 and an 8x8 chip; this one replays a sample of such
networks on the Verilated chip (the fast C++ runner, image loaded directly) and requires
every response word on the compiled model's cycle."""

from __future__ import annotations

import pytest
from spikemesh.firmware.loader import pack_commands, read_state_commands, run_commands

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.hostlink import response_layout
from tests.sim.test_timed import random_images

TICKS = 60
SAMPLE = 8


@pytest.mark.slow
@pytest.mark.cocotb
@pytest.mark.parametrize("size", [(4, 4), (8, 8)])
def test_long_compiled_model_matches_rtl(size):
    from spikemesh.firmware.rtl_loader import run_rtl
    from spikemesh.sim.timed import CompiledChipModel

    from tb.runner import require_simulator

    require_simulator("verilator")
    w, h = size
    chip = ChipConfig(
        width=w,
        height=h,
        core=CoreConfig(neurons=16, axons=128, synapses=1024, fanout=256, profiles=4),
    )
    lay = response_layout()
    cases = []
    for seed, img, inputs in random_images(chip, SAMPLE, 70_000 * w, ticks=TICKS):
        cmds = run_commands(img, inputs, TICKS) + read_state_commands(img)
        m = CompiledChipModel(chip)
        m.load_image(img)
        expected = [(c, lay.pack(op=op, a=a, b=b)) for c, op, a, b in m.run(cmds)]
        assert expected, f"seed {seed}: the compiled model answered nothing"
        cases.append(
            {"seed": seed, "words": pack_commands(img, cmds), "expected": expected, "image": img}
        )
    got = run_rtl(chip, cases, runner="verilator")  # raises on the first differing word
    for case, words in zip(cases, got, strict=True):
        assert words == case["expected"], f"{w}x{h} seed {case['seed']}"
