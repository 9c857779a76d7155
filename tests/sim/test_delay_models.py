"""Synaptic delays (docs/semantics.md "Time") in every Python model: golden = scalar reference
= functional TLM (from the network and from the image) = Python cycle model = compiled timed
model (through the config stream and through the direct load), on random networks whose
projections draw delays, with zero, subtract and mixed reset. The RTL joins in
tests/firmware/test_rtl_runner.py (the compiled harness) on networks of the same generator.

Each network is checked to exercise the rule: with every delay forced to 1, golden gives
different spikes, so a backend that ignored delays would fail.
"""

from __future__ import annotations

import pytest
from spikemesh.firmware import compile_network
from spikemesh.sim.fast import FastSim

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.errors import CompileError, NetworkError
from spikemesh.golden import run_golden
from tests.firmware.random_nets import random_network
from tests.helpers import assert_python_models_agree

CORE = dict(neurons=16, axons=128, synapses=1024, fanout=256, profiles=4)
TICKS = 40


def delay_networks(chip, count, seed0, reset="mixed", ticks=TICKS):
    """``count`` random networks with delays 1..chip's max_delay that fit ``chip``, span
    several cores, spike, and spike differently with every delay 1: (seed, net, img, golden)."""
    out, seed = [], seed0
    d = chip.core.max_delay
    kw = dict(max_neurons=int(chip.neurons * 0.8), reset=reset)
    while len(out) < count:
        seed += 1
        rec = seed % 3 != 0
        net = random_network(seed, recurrent=rec, max_delay=d, **kw)
        try:
            img, _ = compile_network(net, chip)
        except CompileError:
            continue
        g = run_golden(net, ticks, acc_bits=chip.core.acc_bits)
        if net.num_neurons <= chip.core.neurons or not g.spikes.any() or net.max_delay == 1:
            continue
        ones = random_network(seed, recurrent=rec, **kw)
        if (run_golden(ones, ticks, acc_bits=chip.core.acc_bits).spikes == g.spikes).all():
            continue  # the delays change nothing here: proves nothing
        out.append((seed, net, img, g))
    return out


@pytest.mark.parametrize(
    ("max_delay", "reset", "seed0"), [(3, "zero", 300), (7, "subtract", 400), (15, "mixed", 500)]
)
def test_every_model_runs_delays(max_delay, reset, seed0):
    chip = ChipConfig(width=2, height=2, core=CoreConfig(max_delay=max_delay, **CORE))
    for seed, net, img, g in delay_networks(chip, 3, seed0, reset):
        what = f"seed {seed} (D = {max_delay}, {reset})"
        assert_python_models_agree(chip, net, img, g, TICKS, what)


def test_a_d1_chip_runs_exactly_as_before():
    """max_delay = 1: the image, the axon word and every cycle count are a chip's without
    delays (the random networks draw delays only when asked)."""
    chip = ChipConfig(width=2, height=2, core=CoreConfig(**CORE))
    net = random_network(3, max_neurons=50)
    assert net.max_delay == 1 and chip.core.acc_banks == 2 and chip.core.delay_bits == 0
    img, _ = compile_network(net, chip)
    assert all((c.axon_delay == 1).all() for c in img.cores)


def test_a_delay_above_the_chip_limit_is_refused_naming_the_projection():
    chip = ChipConfig(width=2, height=2, core=CoreConfig(max_delay=3, **CORE))
    net = random_network(5, max_neurons=50, max_delay=7)
    bad = next(p for p in net.projections if p.delay > 3)
    with pytest.raises(CompileError) as e:
        compile_network(net, chip)
    assert str(e.value) == (
        f"projection {bad.pre!r} -> {bad.post!r} has a delay of {bad.delay} ticks; the chip's "
        "longest delay is 3 (core.max_delay; one of 1, 3, 7, 15)"
    )


def test_fast_sim_refuses_bad_delays():
    kw = dict(indptr=[0, 1], post=[0], weight=[1], du=0, dv=0, vth=1, bias_mant=0, bias_exp=0,
              refractory=0, u0=0, v0=0, num_sources=0)  # fmt: skip
    with pytest.raises(NetworkError, match=r"synaptic delays must be between 1 and 15, not 0\.\.0"):
        FastSim(delay=[0], **kw)
    with pytest.raises(NetworkError, match=r"delay must have one entry per synapse \(1\)"):
        FastSim(delay=[1, 2], **kw)


def test_a_host_write_into_acc_bank_b_is_integrated_in_tick_b():
    """docs/semantics.md "Accumulator banks on the chip": between ticks, a write into ACC
    bank b (index b << neuron_bits | i) is input of the next tick t' = b mod (D + 1); in
    both modes of the Python cycle model (the timed one also clears each bank it reads)."""
    from spikemesh.sim.core import CoreModel

    from spikemesh.coreimage import CoreImage
    from spikemesh.layouts import Region, acc_layout, config_addr

    chip = ChipConfig(width=1, height=1, core=CoreConfig(max_delay=3, **CORE))
    img = CoreImage.empty(chip.core)
    img.profiles[0, 0] = 4095  # du = 4095: u_t = a_t << 6
    for timed in (False, True):
        m = CoreModel(chip, x=0, y=0, image=img)
        for bank, i, a in ((3, 2, 5), (1, 1, 7), (0, 3, -2)):
            addr = config_addr(chip, Region.ACC, bank << chip.core.neuron_bits | i)
            m.config_write(addr, acc_layout(chip.core).pack(a=a))
        us = []
        for _ in range(5):
            m.run_tick() if timed else m.tick()
            us.append(m.state()[0][:4].tolist())
        assert us == [[0, 0, 0, -128], [0, 448, 0, 0], [0] * 4, [0, 0, 320, 0], [0] * 4], timed
        assert m.acc == [[0] * 16] * 4
