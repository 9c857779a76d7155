"""Plastic networks end to end (issue 13, docs/learning.md): golden = functional TLM (-b tlm)
= timed TLM = RTL (Verilator, the C++ harness) on every tick's spikes, final u/v, every
learned weight and both traces, and the timed TLM and the RTL on every response word and
the cycle it came in (so on the cycles of every tick).

``test_plastic_regression`` (CI): per chip shape ONE fixed learning chip (``SHAPES``) and
one Verilator build of it. The same 20 random plastic networks (tests/sim/test_fast_stdp.py
``random_plastic_net``: the seeds whose network fits both chips, spikes and changes
weights within the run) x 200 ticks go through each shape's one build: the chip reset
before each network, its image loaded over the host link with its learning tables, run,
READ_STATE of every neuron, LEARN_FLUSH, READ_LEARNED of every plastic synapse word and
kept trace (firmware/learned_batch.py). The timed TLM is the compiled model
(``-b tlm-timed``); the Python cycle model (``-b tlm-cycle``, a few thousand cycles/s) gives
the same responses as the compiled one on the smallest network over ``PYTHON_TICKS``.
``SPIKEMESH_LONG=1`` (-m slow): 40 networks x 1,000 ticks, the Python model on two of them
over 300 ticks, and the older check of each network on its own auto-sized chip.

Replay: the seeds are printed; ``random_plastic_net(seed)`` compiled for ``SHAPES[name]``
(with ``neurons_per_core`` on a ``SPREAD`` shape).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from spikemesh.config import ChipConfig, CoreConfig, RouterConfig
from tb.runner import require_simulator
from tests.firmware.test_learning_chip import learned_differences

# Fixed learning chips: every network is compiled for each of them; a seed whose network
# does not fit one (too many neurons, synapses, or learning profiles on a core) is passed
# over. Two learning-profile widths (2 and 3 bits), a 2-D and a 1-D mesh, on the 3 x 1 mesh
# the smallest router and host FIFOs. Depths are what the networks need, no more: a learning
# core's tick takes N + A + 5 cycles more than its update loop (docs/learning.md).
SHAPES = {
    "2x2-n32": ChipConfig(
        width=2,
        height=2,
        core=CoreConfig(
            neurons=32,
            axons=128,
            synapses=1024,
            fanout=128,
            profiles=4,
            max_delay=3,
            learning_profiles=4,
        ),
    ),
    "3x1-n32": ChipConfig(
        width=3,
        height=1,
        router=RouterConfig(fifo_depth=2),
        host_fifo_depth=2,
        core=CoreConfig(
            neurons=32,
            axons=256,
            synapses=2048,
            fanout=128,
            profiles=4,
            max_delay=3,
            learning_profiles=8,
        ),
    ),
}
# On the 2 x 2 chip every network is spread over all four cores (neurons_per_core), so even
# the small ones send spikes over the mesh; on the 3 x 1 chip the cores fill up in order.
SPREAD = {"2x2-n32": True, "3x1-n32": False}
PYTHON_TICKS = 30  # the Python cycle model in CI: one network, this many ticks


def compile_for_shape(net, name):
    """``net``'s image for ``SHAPES[name]`` (SpikemeshError if it does not fit)."""
    from spikemesh.firmware import compile_network
    from spikemesh.firmware.learned_batch import load_commands

    chip = SHAPES[name]
    npc = -(-net.num_neurons // chip.tiles) if SPREAD[name] else None
    image, _ = compile_network(net, chip, neurons_per_core=npc)
    load_commands(image, chip)  # refuses more learning profiles than the chip has
    return image


@functools.cache
def plastic_networks(count, ticks, seed0=0):
    """``count`` random plastic networks (from seed ``seed0 + 1`` on) that fit every chip of
    ``SHAPES`` and, on golden over ``ticks`` ticks, spike and change weights:
    [(seed, net, {shape: image}, golden)], and the seeds passed over with the reason. (About
    half of random_plastic_net's networks are silent or learn nothing in 200 ticks.)"""
    from spikemesh.errors import SpikemeshError
    from spikemesh.golden import run_golden
    from tests.sim.test_fast_stdp import random_plastic_net

    nets, passed = [], {}
    seed = seed0
    while len(nets) < count:
        seed += 1
        assert len(passed) <= 3 * count, f"most seeds are passed over: {passed}"
        net = random_plastic_net(seed)
        try:
            images = {name: compile_for_shape(net, name) for name in SHAPES}
        except SpikemeshError as e:
            passed[seed] = str(e).split("; ")[0][:80]
            continue
        g = run_golden(net, ticks)
        if not g.spikes.any() or learned_changes(net, g) == 0:
            passed[seed] = "silent" if not g.spikes.any() else "learns nothing"
            continue
        nets.append((seed, net, images, g))
    return nets, passed


def learned_changes(net, result) -> int:
    """How many synapse weights ``result`` reports changed from the network's initial ones."""
    pairs = zip(result.extra["weights"], net.projections, strict=True)
    return sum(int((w != p.weight).sum()) for w, p in pairs)


def same_as_golden(g, r, what):
    assert g.diff(r) == [], f"{what}: spikes or final u/v differ from golden"
    assert learned_differences(g.extra, r.extra) == [], f"{what}: learned state differs"


def timed_run(chip, net, image, inputs, ticks, model):
    """(Result, responses) of the timed TLM ``model`` ("tlm-timed": the compiled model,
    "tlm-cycle": the Python twins) on the plastic run's commands."""
    from spikemesh.firmware.learned_batch import decode_plastic, plastic_commands
    from spikemesh.sim.chip import TimedChipModel
    from spikemesh.sim.timed import CompiledChipModel

    cmds, reads = plastic_commands(net, image, chip, inputs, ticks)
    sim = CompiledChipModel(chip) if model == "tlm-timed" else TimedChipModel(chip)
    rsp = sim.run(cmds)
    rows = [r[1:] for r in rsp]
    return decode_plastic(net, image, chip, reads, rows, ticks, inputs, backend=model), rsp


def regression(name, *, networks, ticks, python_nets, python_ticks):
    """golden = tlm = tlm-timed = rtl on ``networks`` networks x ``ticks`` ticks on one
    build of ``SHAPES[name]``, and tlm-cycle = tlm-timed on the ``python_nets`` smallest
    networks over ``python_ticks`` ticks."""
    from spikemesh.firmware.learned_batch import PlasticRun, run_plastic_rtl
    from spikemesh.sim.fast import run_fast

    chip = SHAPES[name]
    nets, passed = plastic_networks(networks, ticks)
    print(f"chip {name}: seeds {[s for s, *_ in nets]} x {ticks} ticks; passed over {passed}")
    smallest = sorted(range(len(nets)), key=lambda k: nets[k][1].num_neurons)[:python_nets]
    runs, goldens = [], []
    for k, (seed, net, images, g) in enumerate(nets):
        what = f"{name} seed {seed}"
        image, inputs = images[name], net.input_raster(ticks)
        assert g.spikes.any() and learned_changes(net, g) > 0, f"{what} proves little"
        same_as_golden(g, run_fast(net, ticks), f"{what} tlm")
        timed, rsp = timed_run(chip, net, image, inputs, ticks, "tlm-timed")
        same_as_golden(g, timed, f"{what} tlm-timed")
        if k in smallest:
            short = net.input_raster(python_ticks)
            _, a = timed_run(chip, net, image, short, python_ticks, "tlm-timed")
            _, b = timed_run(chip, net, image, short, python_ticks, "tlm-cycle")
            assert a == b, f"{what}: the compiled and the Python cycle model differ"
        runs.append(PlasticRun(net, image, inputs, ticks, expected=rsp))
        goldens.append((what, g, timed))
    require_simulator("verilator")
    # run_rtl raises at the first response not on the timed model's cycle with its word
    for (result, rsp), run, (what, g, timed) in zip(
        run_plastic_rtl(chip, runs), runs, goldens, strict=True
    ):
        assert rsp == run.expected, f"{what}: RTL responses differ from the timed model's"
        same_as_golden(g, result, f"{what} rtl")
        assert np.array_equal(result.cycles, timed.cycles), f"{what}: cycles per tick differ"


# Tests that share the 2 x 2 chip's Verilator build run on one xdist worker (--dist
# loadgroup), so that one does not sit on the other's build lock.
SHARED_BUILD = pytest.mark.xdist_group("chip-learning-2x2-n32")


@pytest.mark.cocotb
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=SHARED_BUILD) if n == "2x2-n32" else n for n in SHAPES]
)
def test_plastic_regression(name):
    """CI: the same 20 plastic networks x 200 ticks on each fixed learning chip, one build
    each; the Python cycle model on the smallest network over PYTHON_TICKS."""
    regression(name, networks=20, ticks=200, python_nets=1, python_ticks=PYTHON_TICKS)


@pytest.mark.cocotb
@pytest.mark.slow
@pytest.mark.parametrize("name", list(SHAPES))
def test_plastic_regression_long(name):
    """SPIKEMESH_LONG=1: 40 networks x 1,000 ticks per shape, the Python model on the two
    smallest over 300 ticks (it runs a few thousand cycles per second)."""
    regression(name, networks=40, ticks=1000, python_nets=2, python_ticks=300)


@pytest.mark.cocotb
@SHARED_BUILD
def test_a_mutated_weight_fails():
    """The comparison is not vacuous: a LEARNED word whose weight is one off in the timed
    model's expected responses fails the RTL run, and the same change to golden's weights
    fails the learned-state check."""
    from spikemesh.firmware.learned_batch import PlasticRun, run_plastic_rtl

    from spikemesh.hdlsim import HdlSimError
    from spikemesh.hostlink import Rsp
    from spikemesh.layouts import Region, region_layouts

    name, ticks = "2x2-n32", 30
    chip = SHAPES[name]
    ((_, net, images, g),), _ = plastic_networks(1, ticks)
    image = images[name]
    inputs = net.input_raster(ticks)
    timed, rsp = timed_run(chip, net, image, inputs, ticks, "tlm-timed")
    same_as_golden(g, timed, "unchanged")
    k = next(i for i, p in enumerate(net.projections) if p.plasticity is not None)
    g.extra["weights"][k][0] ^= 1
    assert learned_differences(g.extra, timed.extra) != []

    syn = region_layouts(chip)[Region.SYNAPSE][0]
    j = next(i for i, r in enumerate(rsp) if r[1] == Rsp.LEARNED)
    cycle, op, a, b = rsp[j]
    fields = syn.unpack(b)
    fields["weight"] = fields["weight"] ^ 1
    wrong = [*rsp[:j], (cycle, op, a, syn.pack(**fields)), *rsp[j + 1 :]]
    require_simulator("verilator")
    with pytest.raises(HdlSimError, match=rf"RTL response {j} is \({cycle}, "):
        run_plastic_rtl(chip, [PlasticRun(net, image, inputs, ticks, expected=wrong)])


# --- the older check: each network on its own auto-sized learning chip (-b rtl's path) -------

SEEDS = [1, 4, 6, 9, 19]  # random_plastic_net seeds that learn within 40 ticks; 4, 19 delays
AUTO_SHAPES = {"auto": None, "n64": 64}  # auto_chip's core size; 64 neurons per core
TICKS = 40


def _learned_equal(a, b):
    assert learned_differences(a, b) == []


@pytest.mark.cocotb
@pytest.mark.slow
@pytest.mark.parametrize("shape", AUTO_SHAPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_plastic_four_way(seed, shape):
    """SPIKEMESH_LONG=1: run_plastic (what ``-b tlm-cycle`` and ``-b rtl`` run) on the
    network's own learning chip (firmware/learned.py learning_chip): each case builds its
    own Verilated chip (~40 s each), so CI checks the fixed chips above instead."""
    from spikemesh.firmware import auto_chip, compile_network
    from spikemesh.firmware.learned import run_plastic
    from spikemesh.sim.fast import run_fast

    from spikemesh.golden import run_golden
    from tests.sim.test_fast_stdp import random_plastic_net

    net = random_plastic_net(seed)
    image, _ = compile_network(net, auto_chip(net, core_neurons=AUTO_SHAPES[shape]))
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
