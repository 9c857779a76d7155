"""A plastic network through the whole chip (issue 13, docs/learning.md): compiled, loaded
over the host link with its learning tables (firmware/learned.py), run, LEARN_FLUSH, every
plastic synapse word and trace read back with READ_LEARNED. The chip's cycle model
(sim/chip.py TimedChipModel) ends with golden's spikes, u/v, weights and traces; in the long
run (-m slow) the RTL chip (Amaranth's simulator) answers every command on the same cycle as
the model."""

import numpy as np
import pytest
from spikemesh.firmware import auto_chip, compile_network
from spikemesh.firmware.learned import (
    decode_learned,
    learned_read_commands,
    learned_words,
    learning_chip,
    learning_config_commands,
)
from spikemesh.firmware.loader import decode_run, read_state_commands, run_commands
from spikemesh.sim.chip import TimedChipModel

from spikemesh.golden import run_golden
from tests.sim.test_fast_stdp import random_plastic_net

SEEDS = [1, 4, 6, 9, 19]  # 4, 19 with delays; all change weights within 40 ticks
SHAPES = [None, 64]  # auto_chip's core size, and 64 neurons per core


def plastic_run(seed, core_neurons, ticks):
    net = random_plastic_net(seed)
    image, _ = compile_network(net, auto_chip(net, core_neurons=core_neurons))
    chip = learning_chip(image)
    inputs = net.input_raster(ticks)
    reads_cmds, reads = learned_read_commands(net, image, chip)
    cmds = (
        learning_config_commands(image, chip)
        + run_commands(image, inputs, ticks)
        + read_state_commands(image)
        + reads_cmds
    )
    return net, image, chip, inputs, cmds, reads


def learned_differences(want, got) -> list[str]:
    """Every projection's weights and both traces: where ``got`` differs from ``want``."""
    out = []
    for label, a, b in zip(want["weight_labels"], want["weights"], got["weights"], strict=True):
        if not np.array_equal(a, b):
            out.append(f"{label}: weights differ at {np.flatnonzero(a != b)[:5]}")
    for key in ("pre_trace", "post_trace"):
        if not np.array_equal(want[key], got[key]):
            out.append(f"{key} differs at {np.flatnonzero(want[key] != got[key])[:5]}")
    return out


def model_run(seed, core_neurons, ticks=40):
    net, image, chip, inputs, cmds, reads = plastic_run(seed, core_neurons, ticks)
    model = TimedChipModel(chip)
    rsp = model.run(cmds)
    rows = [(op, a, b) for _, op, a, b in rsp]
    result = decode_run(image, rows, ticks, inputs)
    learned = decode_learned(net, image, chip, reads, learned_words(rows))
    return net, result, learned, model, cmds, rsp


@pytest.mark.parametrize("core_neurons", SHAPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_cycle_model_learns_what_golden_learns(seed, core_neurons):
    net, result, learned, *_ = model_run(seed, core_neurons)
    g = run_golden(net, 40)
    assert g.diff(result) == []  # spikes, final u/v
    assert learned_differences(g.extra, learned) == []
    pairs = zip(learned["weights"], net.projections, strict=True)
    changed = sum(int((w != p.weight).sum()) for w, p in pairs)
    assert changed > 0  # something was learnt (and read back)


def test_a_wrong_expected_weight_fails():
    net, _, learned, *_ = model_run(1, None)
    g = run_golden(net, 40)
    k = next(i for i, p in enumerate(net.projections) if p.plasticity is not None)
    g.extra["weights"][k][0] ^= 1
    assert learned_differences(g.extra, learned) != []
    g.extra["weights"][k][0] ^= 1
    g.extra["post_trace"][int(np.argmax(g.extra["post_trace"]))] += 1
    assert learned_differences(g.extra, learned) != []


# Long run only (~40 s of Amaranth simulation): CI checks the same RTL against the same
# model on every response and cycle through Verilator, 20 networks x 200 ticks on two
# learning chips (tb/chip/test_chip_learning.py: RTL == tlm-timed, tlm-timed == this
# Python cycle model), and each learning block on Amaranth's simulator (tests/rtl).
@pytest.mark.slow
@pytest.mark.parametrize("core_neurons", SHAPES)
def test_rtl_chip_answers_as_the_cycle_model(core_neurons):
    """The RTL chip (Amaranth's simulator), every response (spikes, TICK_DONE with its
    cycles, STATE, LEARNED) on the same cycle as TimedChipModel's."""
    from tests.rtl.test_hw_counters import first_difference, rtl_chip_responses

    *_, model, cmds, ref = model_run(1, core_neurons, ticks=20)
    got = rtl_chip_responses(model.chip, cmds, model.cycle)
    assert got == ref, first_difference(got, ref)
