"""The functional TLM (sim/fast.py) equals the golden reference bit for bit."""

import numpy as np
import pytest
from spikemesh.sim.fast import FastSim, run_fast

from bench.workload import make_workload
from spikemesh.errors import NetworkError
from spikemesh.golden import run_golden
from spikemesh.network import Network


def _assert_same(golden, fast):
    assert fast.backend == "tlm"
    assert golden.diff(fast) == []
    for key in ("spikes", "inputs", "recorded", "u", "v", "final_u", "final_v"):
        a, b = getattr(golden, key), getattr(fast, key)
        assert a.dtype == b.dtype, key
        np.testing.assert_array_equal(a, b, err_msg=key)


def random_net(seed, *, heavy=False):
    """Several populations (refractory, negative bias, mixed weights, exponents), inputs,
    recurrent and feed-forward projections, explicit duplicate synapses."""
    rng = np.random.default_rng(seed)
    net = Network(f"fast{seed}")
    pops = []
    for k in range(int(rng.integers(1, 4))):
        size = int(rng.integers(3, 60))
        vth = int(rng.integers(5, 600))
        pops.append(
            net.population(
                f"p{k}",
                size,
                du=int(rng.integers(0, 4096)),
                dv=int(rng.integers(0, 4096)),
                vth=vth,
                bias_mant=int(rng.integers(-300, 500)),
                bias_exp=int(rng.integers(0, 8)),
                refractory=int(rng.integers(0, 16)) if rng.random() < 0.5 else 0,
                u0=rng.integers(-(1 << 23), 1 << 23, size=size),
                v0=rng.integers(-(vth << 6), vth << 6, size=size),
                record=bool(rng.random() < 0.7),
            )
        )
    net.source("in", int(rng.integers(1, 40)), bernoulli=float(rng.uniform(0.05, 0.6)), seed=seed)
    if heavy:  # many large same-sign events per neuron: the accumulators must wrap
        net.source("burst", 64, bernoulli=0.9, seed=seed + 1)
        for p in pops:
            net.connect("burst", p, connectivity="all_to_all", weight=127, weight_exp=7)
    names = ["in"] + [p.name for p in pops]
    for k, pre in enumerate(names):
        for post in pops:
            if rng.random() < 0.3:
                continue
            n_pre = net[pre].size
            kind = rng.choice(["fixed_probability", "fixed_fanout", "all_to_all", "explicit"])
            kw = {}
            if kind == "fixed_probability":
                kw["p"] = float(rng.uniform(0.05, 0.5))
            elif kind == "fixed_fanout":
                kw["fanout"] = int(rng.integers(0, post.size - (pre == post.name)))
            elif kind == "explicit":  # duplicates on purpose: both synapses count
                pairs = rng.integers(0, [n_pre, post.size], size=(int(rng.integers(1, 40)), 2))
                kw["pairs"] = [tuple(map(int, x)) for x in np.concatenate([pairs, pairs[:3]])]
            nsyn = {"all_to_all": n_pre * post.size}.get(str(kind))
            weight = (
                rng.integers(-128, 128, size=nsyn).tolist()
                if nsyn is not None and pre != post.name
                else int(rng.integers(-128, 128))
            )
            net.connect(
                pre,
                post,
                connectivity=str(kind),
                weight=weight,
                weight_exp=int(rng.integers(0, 8)),
                seed=seed * 101 + k,
                **kw,
            )
    return net


@pytest.mark.parametrize("seed", range(12))
def test_random_networks_equal_golden(seed):
    net = random_net(seed)
    ticks = 80
    _assert_same(run_golden(net, ticks), run_fast(net, ticks))


@pytest.mark.parametrize("acc_bits", [16, 17, 20, 32])
@pytest.mark.parametrize("seed", range(3))
def test_accumulator_wrapping(seed, acc_bits):
    net = random_net(100 + seed, heavy=True)
    ticks = 40
    g = run_golden(net, ticks, acc_bits=acc_bits)
    _assert_same(g, run_fast(net, ticks, acc_bits=acc_bits))
    if acc_bits < 20:
        # The input sums really exceed the accumulator here: a wider one behaves differently.
        assert run_golden(net, ticks, acc_bits=32).diff(g)


def test_resume_and_explicit_inputs():
    net = random_net(7)
    inputs = np.random.default_rng(3).random((60, net.num_sources)) < 0.3
    g = run_golden(net, 60, inputs=inputs)
    sim = FastSim.from_network(net)
    a = sim.run(25, inputs[:25])
    b = sim.run(35, inputs[25:])
    assert sim.tick == 60
    np.testing.assert_array_equal(np.concatenate([a.spikes, b.spikes]), g.spikes)
    np.testing.assert_array_equal(np.concatenate([a.u, b.u]), g.u)
    np.testing.assert_array_equal(np.concatenate([a.v, b.v]), g.v)
    np.testing.assert_array_equal(b.final_u, g.final_u)
    np.testing.assert_array_equal(b.final_v, g.final_v)


def test_wide_ids_and_spike_buffer_growth():
    # N > 65,536 takes the uint32 post-id path; a high rate forces the spike buffer to grow.
    n = 70_000
    net = Network("wide")
    net.population(
        "a", n, vth=10, bias_mant=200, bias_exp=4, v0={"uniform": [0, 640], "seed": 1}, record=True
    )
    net.source("in", 50, bernoulli=0.5, seed=2)
    net.connect(
        "in", "a", connectivity="fixed_fanout", fanout=200, weight=-90, weight_exp=3, seed=3
    )
    net.connect("a", "a", connectivity="fixed_fanout", fanout=3, weight=-7, seed=4)
    sim = FastSim.from_network(net)
    assert sim.post.dtype == np.uint32
    g = run_golden(net, 24)
    assert g.spikes.sum() > n  # more spikes than the buffer's first size
    _assert_same(g, sim.run(24, net.input_raster(24), progress=True))


def test_standard_workload_short():
    net = make_workload(4096, record=True)
    g = run_golden(net, 50)
    f = run_fast(net, 50)
    _assert_same(g, f)
    assert 0.02 < f.spikes.mean() < 0.08
    assert f.extra["events"] == 64 * (f.extra["neuron_spikes"] + f.extra["input_spikes"])


def test_narrow_dtypes():
    sim = FastSim.from_network(make_workload(4096))
    assert sim.post.dtype == np.uint16
    assert sim.weight.dtype == np.int8  # w in -64..127, row exponent 1
    net = Network("exp7")
    net.population("a", 8)
    net.source("in", 3, spikes=[(0, 0)])
    net.connect("in", "a", connectivity="all_to_all", weight=-128, weight_exp=7)
    sim = FastSim.from_network(net)
    assert sim.weight.dtype == np.int8 and sim.row_exp.tolist()[-3:] == [7, 7, 7]
    # one presynaptic row fed by two projections with different exponents: pre-shifted
    net = Network("mixed")
    net.population("a", 4)
    net.population("b", 4)
    net.connect("a", "a", connectivity="one_to_one", weight=100, weight_exp=0)
    net.connect("a", "b", connectivity="one_to_one", weight=100, weight_exp=7)
    sim = FastSim.from_network(net)
    assert sim.weight.dtype == np.int16 and sim.row_exp.max() == 0


def test_errors():
    net = random_net(2)
    for bad in (15, 33, 24.0, True):
        with pytest.raises(NetworkError, match="acc_bits must be an integer between 16 and 32"):
            FastSim.from_network(net, acc_bits=bad)
    sim = FastSim.from_network(net)
    with pytest.raises(NetworkError, match="inputs must have shape"):
        sim.run(5, np.zeros((4, net.num_sources), dtype=bool))
    with pytest.raises(NetworkError, match="CSR arrays disagree"):
        FastSim(
            indptr=[0, 2],
            post=[0],
            weight=[1],
            du=0,
            dv=0,
            vth=1,
            bias_mant=0,
            bias_exp=0,
            refractory=0,
            u0=0,
            v0=0,
            num_sources=0,
        )
