"""The functional TLM learns exactly as the golden reference does (docs/learning.md):
spikes of every tick, final u/v, every learned weight and every trace, on random plastic
networks (mixed plastic and fixed projections, delays, exponents, bounds that are hit)."""

import numpy as np
import pytest
from spikemesh.sim.fast import FastSim, run_fast

from spikemesh.errors import NetworkError
from spikemesh.golden import run_golden
from spikemesh.network import Network


def random_plastic_net(seed):
    rng = np.random.default_rng(seed)
    net = Network(f"stdp{seed}")
    pops = []
    for k in range(int(rng.integers(1, 4))):
        vth = int(rng.integers(20, 400))
        pops.append(
            net.population(
                f"p{k}",
                int(rng.integers(3, 40)),
                du=int(rng.integers(0, 4096)),
                dv=int(rng.integers(0, 4096)),
                vth=vth,
                bias_mant=int(rng.integers(-100, 300)),
                bias_exp=int(rng.integers(0, 6)),
                refractory=int(rng.integers(0, 4)),
                v0={"uniform": [0, vth << 6], "seed": seed + k},
                record=bool(rng.random() < 0.5),
            )
        )
    srcs = [
        net.source(
            f"s{k}",
            int(rng.integers(2, 30)),
            bernoulli=float(rng.uniform(0.05, 0.4)),
            seed=seed * 10 + k,
        )
        for k in range(int(rng.integers(1, 3)))
    ]

    def trace():
        return int(rng.integers(0, 128)), int(rng.integers(0, 256))

    pre_tr = {x.name: trace() for x in pops + srcs}  # one trace per presynaptic element
    post_tr = {p.name: trace() for p in pops}  # and one per neuron
    for k in range(int(rng.integers(2, 7))):
        pre = (pops + srcs)[int(rng.integers(len(pops) + len(srcs)))]
        post = pops[int(rng.integers(len(pops)))]
        lo = int(rng.integers(-128, 100))
        hi = int(rng.integers(lo + 1, 128))
        kw = dict(
            connectivity="fixed_probability",
            p=float(rng.uniform(0.1, 0.8)),
            seed=seed * 100 + k,
            weight={"uniform": [lo, hi + 1], "seed": seed * 7 + k},
            weight_exp=int(rng.integers(0, 4)),
            delay=int(rng.integers(1, 4)) if rng.random() < 0.3 else 1,
            allow_self=bool(rng.random() < 0.5),
        )
        if rng.random() < 0.7:
            kw["plasticity"] = dict(
                a_plus=int(rng.integers(0, 128)),
                a_plus_shift=int(rng.integers(0, 9)),
                a_minus=int(rng.integers(0, 128)),
                a_minus_shift=int(rng.integers(0, 9)),
                pre_inc=pre_tr[pre.name][0],
                pre_decay=pre_tr[pre.name][1],
                post_inc=post_tr[post.name][0],
                post_decay=post_tr[post.name][1],
                w_min=lo,
                w_max=hi,
            )
        net.connect(pre.name, post.name, **kw)
    return net


@pytest.mark.parametrize("seed", range(20))
def test_fast_equals_golden_on_random_plastic_networks(seed):
    net = random_plastic_net(seed)
    g = run_golden(net, 200)
    f = run_fast(net, 200)
    assert g.diff(f) == []
    assert "every learned weight and trace" in g.compared(f)
    for a, b in zip(g.extra["weights"], f.extra["weights"], strict=True):
        np.testing.assert_array_equal(a, b)
    for key in ("pre_trace", "post_trace"):
        np.testing.assert_array_equal(g.extra[key], f.extra[key])
    np.testing.assert_array_equal(g.u, f.u)


def test_random_plastic_networks_do_learn():
    """The equivalence above is not vacuous: weights move, and some bounds are hit."""
    moved = hit = 0
    for seed in range(20):
        net = random_plastic_net(seed)
        g = run_golden(net, 200)
        for proj, w in zip(net.projections, g.extra["weights"], strict=True):
            if proj.plasticity is not None:
                moved += int(np.sum(w != proj.weight))
                hit += int(np.sum((w == proj.plasticity.w_min) | (w == proj.plasticity.w_max)))
    assert moved > 1000 and hit > 100


def test_run_in_pieces_equals_one_run():
    net = random_plastic_net(3)
    whole = run_fast(net, 120)
    sim = FastSim.from_network(net)
    inputs = net.input_raster(120)
    sim.run(50, inputs[:50])
    r = sim.run(70, inputs[50:])
    np.testing.assert_array_equal(r.spikes, whole.spikes[50:])
    for a, b in zip(r.extra["weights"], whole.extra["weights"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_plastic_sim_refuses_outside_events():
    sim = FastSim.from_network(random_plastic_net(1))
    with pytest.raises(NetworkError, match="plastic network cannot take events"):
        sim.deliver([0])


def _learned(result):
    return [*result.extra["weights"], result.extra["pre_trace"], result.extra["post_trace"]]


@pytest.mark.parametrize("seed", [3, 7])
def test_long_run_in_pieces_and_tick_by_tick_equals_golden(seed):
    """The tick kernel clears history slots and finds silent rows from the events of 128 /
    127 ticks before within one run call, and by scanning everything before that: runs of
    more than 128 ticks, split anywhere, and one tick per kernel call (after_tick) agree."""
    net = random_plastic_net(seed)
    ticks = 420
    g = run_golden(net, ticks)
    inputs = g.inputs
    sim = FastSim.from_network(net)
    parts, t = [], 0
    for size in (150, 1, 129, 140):
        parts.append(sim.run(size, inputs[t : t + size]))
        t += size
    np.testing.assert_array_equal(np.concatenate([r.spikes for r in parts]), g.spikes)
    for a, b in zip(_learned(parts[-1]), _learned(g), strict=True):
        np.testing.assert_array_equal(a, b)
    sim = FastSim.from_network(net)
    seen = []
    spk_ptr, ids, _, _ = sim.run_events(ticks, inputs, after_tick=lambda t, x: seen.append(t))
    assert seen == list(range(ticks))
    spikes = np.zeros_like(g.spikes)
    spikes[np.repeat(np.arange(ticks), np.diff(spk_ptr)), ids] = True
    np.testing.assert_array_equal(spikes, g.spikes)
    for a, b in zip(sim.learning.extra()["weights"], g.extra["weights"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_spike_buffer_growth_mid_run_equals_golden():
    """Enough spikes that the kernel stops early for a bigger spike buffer (after tick 128,
    so the restart uses the event lists of earlier ticks of the same run)."""
    net = Network("busy")
    net.population(
        "p",
        300,
        du=4095,
        dv=2000,
        vth=60,
        bias_mant=200,
        bias_exp=5,
        v0={"uniform": [0, 60 << 6], "seed": 1},
    )
    net.source("s", 20, bernoulli=0.2, seed=2)
    plastic = dict(
        a_plus=40,
        a_plus_shift=3,
        a_minus=30,
        a_minus_shift=3,
        pre_inc=50,
        pre_decay=240,
        post_inc=60,
        post_decay=200,
        w_min=-60,
        w_max=60,
    )
    net.connect(
        "p",
        "p",
        connectivity="fixed_probability",
        p=0.1,
        seed=3,
        weight={"uniform": [-20, 21], "seed": 4},
        plasticity=plastic,
    )
    net.connect("s", "p", connectivity="fixed_probability", p=0.3, seed=5, weight=10)
    ticks = 400
    g = run_golden(net, ticks)
    f = run_fast(net, ticks)
    assert g.spikes.sum() > (1 << 16) + 300  # more than the first buffer holds
    assert g.diff(f) == []
    for a, b in zip(_learned(f), _learned(g), strict=True):
        np.testing.assert_array_equal(a, b)
