"""The compiled timed model on chips of learning cores (issue 13, docs/learning.md):
sim/timed.py CompiledChipModel answers every command of a plastic run (the learning tables'
CONFIG_WRITEs, ticks, a LEARN_FLUSH and READ_LEARNEDs mid-run and at the end, refused
learning commands inside a tick) with TimedChipModel's response on TimedChipModel's cycle;
its learned weights and traces are golden's, mid-run and at the end; deliberately wrong
learning state or rules are caught; and the paths it does not model refuse by name."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from spikemesh.firmware import auto_chip, compile_network
from spikemesh.firmware.learned import (
    decode_learned,
    learned_read_commands,
    learned_words,
    learning_chip,
    learning_config_commands,
    run_plastic,
)
from spikemesh.firmware.loader import (
    command,
    counter_commands,
    decode_run,
    host_schedule,
    read_state_commands,
    run_commands,
)
from spikemesh.sim._timed_learn import L_AP
from spikemesh.sim.chip import TimedChipModel
from spikemesh.sim.timed import CompiledChipModel, command_array

from spikemesh.errors import ImageError, SpikemeshError
from spikemesh.golden import run_golden
from spikemesh.hostlink import Cmd, Rsp
from tests.firmware.test_learning_chip import learned_differences
from tests.sim.test_fast_stdp import random_plastic_net

# networks that learn within 10 ticks; 4, 19, 20, 24, 26 and 36 have delays (2 or 3 ticks)
SEEDS = [1, 4, 6, 9, 11, 19, 20, 24, 26, 36]
SHAPES = [None, 16]  # auto_chip's cores (2 x 2), and 16-neuron cores (3 x 2 for 4, 9, 26)
TICKS = 20


class PlasticStream:
    """A plastic run's command stream: the learning chip loaded over the host link, half
    the ticks, LEARN_FLUSH and the READ_LEARNEDs (every ``mid_every``-th), the other half
    (opened by learning commands the host link must refuse inside a tick), READ_STATE,
    LEARN_FLUSH, every READ_LEARNED and a second LEARN_FLUSH with nothing pending."""

    def __init__(self, seed, core_neurons, *, ticks=TICKS, mid_every=1):
        self.net = net = random_plastic_net(seed)
        self.image, _ = compile_network(net, auto_chip(net, core_neurons=core_neurons))
        self.chip = learning_chip(self.image)
        self.ticks, self.half = ticks, ticks // 2
        self.inputs = inputs = net.input_raster(ticks)
        reads, self.reads = learned_read_commands(net, self.image, self.chip)
        h = self.half
        self.config = learning_config_commands(self.image, self.chip)
        second = run_commands(self.image, inputs[h:], ticks - h)
        refused = [command(Cmd.LEARN_FLUSH), command(Cmd.READ_LEARNED, arg=0)]
        self.mid_every = mid_every
        self.run = (
            run_commands(self.image, inputs[:h], h)
            + reads[:1]
            + reads[1::mid_every]
            + second[:1]
            + refused
            + second[1:]
            + read_state_commands(self.image)
            + reads
            + [command(Cmd.LEARN_FLUSH)]
        )
        self.commands = self.config + self.run

    def learned(self, rsp):
        """(mid-run, final) learned state decoded from the responses."""
        rows = [(op, a, b) for _, op, a, b in rsp]
        words = learned_words(rows)
        k = len(self.reads.what)
        assert len(words) == 2 * k and self.mid_every == 1
        dec = lambda w: decode_learned(self.net, self.image, self.chip, self.reads, w)
        return dec(words[:k]), dec(words[k:])


def first_difference(ref, got) -> str:
    for i, (a, b) in enumerate(zip(ref, got, strict=False)):
        if a != b:
            return f"response {i}: expected {a}, got {b} (of {len(ref)})"
    return f"lengths {len(ref)} and {len(got)}"


def compiled_run(s: PlasticStream, **kw):
    return CompiledChipModel(s.chip, **kw).run(s.commands)


@pytest.mark.parametrize("core_neurons", SHAPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_compiled_learning_chip_matches_cycle_model(seed, core_neurons):
    """Every response (spikes, TICK_DONE with its cycles, STATE, LEARNED, the refused
    commands' effects) on the same cycle; the reference path (``fast=False``) too on two
    networks, and one network with a host that stalls both streams. (Every fourth
    READ_LEARNED mid-run: the Python model's time goes to the read-backs.)"""
    s = PlasticStream(seed, core_neurons, mid_every=4)
    ref = TimedChipModel(s.chip).run(s.commands)
    got = compiled_run(s)
    assert got == ref, first_difference(ref, got)
    if seed in (4, 9):
        slow = compiled_run(s, fast=False)
        assert slow == ref, first_difference(ref, slow)
    if seed == 6 and core_neurons is None:
        sched = host_schedule(seed, length=1024, stall=300)
        ref = TimedChipModel(s.chip).run(s.commands, schedule=sched)
        got = CompiledChipModel(s.chip).run(s.commands, schedule=sched)
        assert got == ref, first_difference(ref, got)


@pytest.mark.parametrize("core_neurons", SHAPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_compiled_learning_chip_learns_what_golden_learns(seed, core_neurons):
    """Spikes and u/v of the whole run, the learned weights and traces after the first half
    (the mid-run LEARN_FLUSH) and at the end equal golden's; the flush in between changes
    nothing golden would not do."""
    s = PlasticStream(seed, core_neurons)
    rsp = compiled_run(s)
    rows = [(op, a, b) for _, op, a, b in rsp]
    g = run_golden(s.net, s.ticks)
    assert g.diff(decode_run(s.image, rows, s.ticks, s.inputs)) == []
    mid, end = s.learned(rsp)
    assert learned_differences(run_golden(s.net, s.half).extra, mid) == []
    assert learned_differences(g.extra, end) == []
    pairs = zip(end["weights"], s.net.projections, strict=True)
    assert sum(int((w != p.weight).sum()) for w, p in pairs) > 0  # something was learnt


@pytest.mark.parametrize("core_neurons", SHAPES)
@pytest.mark.parametrize("seed", SEEDS[:5])
def test_run_plastic_tlm_timed_equals_golden(seed, core_neurons):
    """firmware/learned.py run_plastic(backend="tlm-timed"), what -b tlm-timed runs."""
    net = random_plastic_net(seed)
    image, _ = compile_network(net, auto_chip(net, core_neurons=core_neurons))
    ticks = 40
    r, rsp = run_plastic(net, image, net.input_raster(ticks), ticks, backend="tlm-timed")
    g = run_golden(net, ticks)
    assert r.backend == "tlm-timed"
    assert g.diff(r) == []
    assert learned_differences(g.extra, r.extra) == []
    assert all(isinstance(c, int) for c in rsp[0])


def test_learning_chip_with_hardware_counters():
    """A learning chip with counters (docs/counters.md): READ_COUNTER of every register
    after loading and at the end, the registers at every tick's end, all equal."""
    s = PlasticStream(4, None, ticks=10)
    chip = dataclasses.replace(s.chip, counter_bits=16)
    reads = counter_commands(chip)
    cmds = s.config + reads + s.run + reads
    ref_model, model = TimedChipModel(chip), CompiledChipModel(chip)
    ref, got = ref_model.run(cmds), model.run(cmds)
    assert got == ref, first_difference(ref, got)
    assert np.array_equal(model.tick_registers, ref_model.tick_registers)
    assert np.array_equal(model.counter_registers(), ref_model.counter_registers())


def _loaded(s: PlasticStream) -> CompiledChipModel:
    m = CompiledChipModel(s.chip)
    m.run(s.config)
    return m


def test_wrong_learning_state_or_rule_is_caught():
    """The comparisons fail on a model that learns wrongly: pre traces that do not start at
    0 (a LEARNED word differs), every reverse row one entry longer (the ticks after a post
    spike take more cycles), potentiation left out (a_plus 0: other weights)."""
    s = PlasticStream(1, None)
    ref_model = TimedChipModel(s.chip)
    ref_model.run(s.config)
    ref = ref_model.run(s.run)
    assert _loaded(s).run(s.run) == ref  # loaded in a run of its own, then run: the same

    def pre_trace(lm):
        lm[1][..., 0] = 100  # loaded as 0

    def reverse_row(lm):
        lm[3][..., 1] += 1

    def no_potentiation(lm):
        lm[0][..., L_AP] = 0

    cases = {"pre trace": pre_trace, "reverse row": reverse_row, "a_plus": no_potentiation}
    for what, spoil in cases.items():
        m = _loaded(s)
        spoil(m.lm)
        got = m.run(s.run)
        assert got != ref, what
        if what == "reverse row":  # a TICK_DONE's cycle count differs
            td = [r for r in got if r[1] == Rsp.TICK_DONE]
            assert td != [r for r in ref if r[1] == Rsp.TICK_DONE]
        else:  # the read-back differs
            lw = [r[3] for r in got if r[1] == Rsp.LEARNED]
            assert lw != [r[3] for r in ref if r[1] == Rsp.LEARNED], what


def test_learning_profile_words_wider_than_62_bits():
    """A learning profile's CONFIG_WRITE data is 68 bits: the command array carries bits
    62.. in a sixth column, the model writes and checks the whole word, and a data word
    beyond two columns is refused by name."""
    s = PlasticStream(9, None)
    arr = command_array(s.config)
    assert arr.shape == (len(s.config), 6) and arr[:, 5].any()
    wide = [c for c in s.config if c["data"] >> 62]
    m = CompiledChipModel(s.chip)
    m.run(arr)
    ref = TimedChipModel(s.chip)
    ref.run(s.config)
    for t, core in enumerate(ref.cores):
        got = m.lm[0][t]
        want = np.array([list(w) for w in core.lprof], dtype=np.int64)
        assert np.array_equal(got, want)
    assert wide
    with pytest.raises(SpikemeshError, match=r"field 'data' = .* is outside 0 \.\. 2\*\*124 - 1"):
        command_array([dict(wide[0], data=1 << 124)])
    with pytest.raises(SpikemeshError, match=r"shape \(n, 5\) or \(n, 6\)"):
        command_array(np.zeros((2, 7), dtype=np.int64))


def test_what_the_compiled_model_does_not_model_refuses_by_name():
    s = PlasticStream(1, None)
    m = CompiledChipModel(s.chip)
    with pytest.raises(SpikemeshError, match="core_run_tick runs a core without learning"):
        m.core_run_tick(0)
    with pytest.raises(ImageError, match="learning chip's memories are loaded over the host"):
        m.load_image(s.image)
