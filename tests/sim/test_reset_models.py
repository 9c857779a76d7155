"""Reset by subtraction (docs/semantics.md) in every model: golden = scalar reference =
functional TLM (from the network and from the image) = Python cycle model = compiled timed
model, on random networks whose populations reset by subtraction (all, or mixed with zero
reset). The RTL joins in tb/chip/test_chip_reset.py.

Each network is checked to exercise the rule: run with every population's reset forced to
zero, golden gives different spikes, so a backend that ran subtract as zero would fail.
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

CHIP = ChipConfig(
    width=2,
    height=2,
    core=CoreConfig(neurons=16, axons=128, synapses=1024, fanout=256, profiles=4),
)
TICKS = 40


def _networks(reset, count, seed0):
    out, seed = [], seed0
    while len(out) < count:
        seed += 1
        net = random_network(seed, max_neurons=int(CHIP.neurons * 0.8), recurrent=seed % 3 != 0,
                             reset=reset)  # fmt: skip
        try:
            img, _ = compile_network(net, CHIP)
        except CompileError:
            continue
        g = run_golden(net, TICKS, acc_bits=CHIP.core.acc_bits)
        if net.num_neurons <= CHIP.core.neurons or not g.spikes.any():
            continue
        zero = random_network(seed, max_neurons=int(CHIP.neurons * 0.8), recurrent=seed % 3 != 0)
        gz = run_golden(zero, TICKS, acc_bits=CHIP.core.acc_bits)
        if (gz.spikes == g.spikes).all():
            continue  # subtract changes nothing here: proves nothing
        out.append((seed, net, img, g))
    return out


@pytest.mark.parametrize(("reset", "seed0"), [("subtract", 140), ("mixed", 240)])
def test_every_model_runs_subtract_reset(reset, seed0):
    for seed, net, img, g in _networks(reset, 3, seed0):
        what = f"seed {seed} ({reset})"
        assert "subtract" in {p.params.reset for p in net.populations}
        assert_python_models_agree(CHIP, net, img, g, TICKS, what)


def test_zero_reset_networks_are_unchanged_by_the_option():
    # reset="zero" (the default) draws the same network as before reset modes existed
    a, b = random_network(7), random_network(7, reset="zero")
    assert (a.neuron_params() == b.neuron_params()).all()
    assert (a.neuron_params()[:, 6] == 0).all()
    m = random_network(7, reset="mixed")
    assert (m.neuron_params()[:, :6] == a.neuron_params()[:, :6]).all()


def test_fast_sim_refuses_an_unknown_reset_code():
    with pytest.raises(NetworkError, match="neuron parameter reset must be between 0 and 1"):
        FastSim(
            indptr=[0, 0],
            post=[],
            weight=[],
            du=0,
            dv=0,
            vth=1,
            bias_mant=0,
            bias_exp=0,
            refractory=0,
            reset=2,
            u0=0,
            v0=0,
            num_sources=0,
        )
