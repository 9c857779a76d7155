"""Plastic networks end to end (issue 13, docs/learning.md): golden = functional TLM (-b tlm)
= Python cycle model (-b tlm-cycle) = RTL (-b rtl, the Verilator C++ harness) on every
tick's spikes, final u/v, every learned weight and both traces, and the two timed ones on
every response word and its cycle (the image loaded over the host link with its learning
tables, the run, READ_STATE of every neuron, LEARN_FLUSH, READ_LEARNED of every plastic
synapse word and trace: firmware/learned.py run_plastic)."""

from __future__ import annotations

import numpy as np
import pytest

SEEDS = [1, 4, 6, 9, 19]  # random_plastic_net seeds that learn within 40 ticks; 4, 19 delays
SHAPES = {"auto": None, "n64": 64}  # auto_chip's core size; 64 neurons per core
TICKS = 40
# Each case builds its own Verilated learning chip (~1 min each): CI runs one case per shape
# (seed 4 has delays), the long run (SPIKEMESH_LONG=1 / -m slow) all ten.
CI_CASES = {(1, "auto"), (4, "n64")}
CASES = [
    pytest.param(seed, shape, marks=() if (seed, shape) in CI_CASES else pytest.mark.slow)
    for seed in SEEDS
    for shape in SHAPES
]


def _learned_equal(a, b):
    for x, y in zip(a["weights"], b["weights"], strict=True):
        assert np.array_equal(x, y)
    for key in ("pre_trace", "post_trace"):
        assert np.array_equal(a[key], b[key]), key


@pytest.mark.cocotb
@pytest.mark.parametrize(("seed", "shape"), CASES)
def test_plastic_four_way(seed, shape):
    from spikemesh.firmware import auto_chip, compile_network
    from spikemesh.firmware.learned import run_plastic
    from spikemesh.sim.fast import run_fast

    from spikemesh.golden import run_golden
    from tests.sim.test_fast_stdp import random_plastic_net

    net = random_plastic_net(seed)
    image, _ = compile_network(net, auto_chip(net, core_neurons=SHAPES[shape]))
    inputs = net.input_raster(TICKS)
    g = run_golden(net, TICKS)
    tlm = run_fast(net, TICKS)
    cyc, rsp_cyc = run_plastic(net, image, inputs, TICKS, backend="tlm-cycle")
    rtl, rsp_rtl = run_plastic(net, image, inputs, TICKS, backend="rtl")
    assert rsp_rtl == rsp_cyc, next(
        ((a, b) for a, b in zip(rsp_rtl, rsp_cyc, strict=False) if a != b), "lengths differ"
    )
    for r in (tlm, cyc, rtl):
        assert g.diff(r) == []  # spikes of every tick, final u/v, the learned weights
        _learned_equal(g.extra, r.extra)
    assert np.array_equal(cyc.cycles, rtl.cycles)
    changed = sum(
        int((w != p.weight).sum())
        for w, p in zip(rtl.extra["weights"], net.projections, strict=True)
    )
    assert changed > 0
