"""Property tests of the golden reference: agreement with the scalar reference,
determinism, and independence of synapse order (chip.md §4, §9)."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikemesh.config import STATE_RANGE
from spikemesh.golden import run_golden
from spikemesh.network import Network

from .scalar_ref import run_scalar

PROPS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)


@st.composite
def networks(draw, *, max_pops=3, max_size=10):
    """Small random networks reaching every corner of the arithmetic.

    Parameters are drawn over their full ranges with extra weight on the
    extremes (du = 4095, vth = 0, big state values), so that wrap, saturation,
    refractory and rounding all happen.
    """
    net = Network("hyp")
    n_pops = draw(st.integers(1, max_pops))
    names = []
    state = st.one_of(
        st.integers(*STATE_RANGE), st.integers(-5000, 5000), st.sampled_from(STATE_RANGE)
    )
    for k in range(n_pops):
        size = draw(st.integers(1, max_size))
        vth = draw(st.one_of(st.integers(0, 400), st.integers(0, 131071)))
        net.population(
            f"p{k}",
            size,
            du=draw(st.one_of(st.integers(0, 4095), st.sampled_from([0, 4095]))),
            dv=draw(st.one_of(st.integers(0, 4095), st.sampled_from([0, 4095]))),
            vth=vth,
            bias_mant=draw(st.integers(-4096, 4095)),
            bias_exp=draw(st.integers(0, 7)),
            refractory=draw(st.integers(0, 15)),
            u0=draw(st.lists(state, min_size=size, max_size=size)),
            v0=draw(st.lists(state, min_size=size, max_size=size)),
            record=draw(st.booleans()),
        )
        names.append(f"p{k}")
    pres = list(names)
    if draw(st.booleans()):
        n_in = draw(st.integers(1, 6))
        if draw(st.booleans()):
            net.source("in", n_in, bernoulli=draw(st.floats(0, 1)), seed=draw(st.integers(0, 99)))
        else:
            ev = draw(
                st.lists(st.tuples(st.integers(0, 25), st.integers(0, n_in - 1)), max_size=30)
            )
            net.source("in", n_in, spikes=ev)
        pres.append("in")
    for pre in pres:
        for post in names:
            if not draw(st.booleans()):
                continue
            n_pre, n_post = net[pre].size, net[post].size
            pairs = draw(
                st.lists(
                    st.tuples(st.integers(0, n_pre - 1), st.integers(0, n_post - 1)),
                    min_size=1,
                    max_size=20,
                )
            )
            w = draw(st.lists(st.integers(-128, 127), min_size=len(pairs), max_size=len(pairs)))
            net.connect(
                pre,
                post,
                connectivity="explicit",
                pairs=[(i, j, wk) for (i, j), wk in zip(pairs, w, strict=True)],
                weight_exp=draw(st.integers(0, 7)),
            )
    return net


@PROPS
@given(net=networks(), ticks=st.integers(1, 25), acc_bits=st.sampled_from([16, 17, 20, 24, 32]))
def test_golden_equals_scalar_reference(net, ticks, acc_bits):
    g = run_golden(net, ticks, acc_bits=acc_bits)
    s = run_scalar(net, ticks, acc_bits=acc_bits)
    np.testing.assert_array_equal(g.spikes, s.spikes)
    np.testing.assert_array_equal(g.u, s.u[:, g.recorded])
    np.testing.assert_array_equal(g.v, s.v[:, g.recorded])
    np.testing.assert_array_equal(g.final_u, s.final_u)
    np.testing.assert_array_equal(g.final_v, s.final_v)


def _random_built(seed):
    """A network drawn by the API's own random connectivity from one seed."""
    rng = np.random.default_rng(seed)
    net = Network("seeded")
    net.population("a", 30, du=200, dv=300, vth=60, bias_mant=200, bias_exp=3, refractory=2,
                   v0={"uniform": [0, 3840], "seed": seed})  # fmt: skip
    net.population("b", 20, du=4095, dv=100, vth=40, refractory=1)
    net.source("in", 10, bernoulli=0.2, seed=seed)
    net.source("pin", 5, poisson=0.3, seed=seed + 1)
    s = [int(x) for x in rng.integers(0, 2**31, size=6)]
    net.connect("in", "a", connectivity="fixed_fanout", fanout=8, seed=s[0],
                weight={"uniform": [0, 128]}, weight_exp=3)  # fmt: skip
    net.connect("pin", "b", connectivity="all_to_all", weight=90, weight_exp=2)
    net.connect("a", "a", connectivity="fixed_probability", p=0.2, seed=s[1],
                weight={"uniform": [-128, 128]}, weight_exp=2)  # fmt: skip
    net.connect("a", "b", connectivity="fixed_fanout", fanout=20, seed=s[2], weight=-60)
    net.connect("b", "a", connectivity="fixed_probability", p=0.5,
                seed=s[3], weight={"uniform": [-20, 100], "seed": s[4]}, weight_exp=4)  # fmt: skip
    return net


def _arrays(net):
    return [*net.synapse_arrays(), net.neuron_params(), *net.initial_state(), net.input_raster(40)]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31))
def test_fixed_seed_is_deterministic(seed):
    a, b = _random_built(seed), _random_built(seed)
    for x, y in zip(_arrays(a), _arrays(b), strict=True):
        np.testing.assert_array_equal(x, y)
    r1, r2 = run_golden(a, 40), run_golden(b, 40)
    assert r1.diff(r2) == []
    assert r1.spikes.any()  # not vacuous: the network is active


def test_different_seeds_give_different_networks():
    a, b = _random_built(1), _random_built(2)
    assert not np.array_equal(a.synapse_arrays()[1], b.synapse_arrays()[1])


def _permuted(net, rng):
    """The same synapses as ``net`` with projections and synapses in a shuffled order."""
    out = Network(net.name)
    for p in net.populations:
        out.population(p.name, p.size, **dict(zip(("du", "dv", "vth", "bias_mant", "bias_exp",
                       "refractory"), p.params.as_tuple(), strict=True)),
                       u0=p.u0, v0=p.v0, record=p.record)  # fmt: skip
    for s in net.sources:
        if s.kind == "spikes":
            out.source(s.name, s.size, spikes=s.events)
        else:
            out.source(s.name, s.size, **{s.kind: s.rate}, seed=s.seed)
    for k in rng.permutation(len(net.projections)):
        pr = net.projections[k]
        order = rng.permutation(len(pr))
        pairs = np.stack([pr.pre_idx, pr.post_idx, pr.weight], axis=1)[order].tolist()
        out.connect(pr.pre, pr.post, connectivity="explicit", pairs=pairs,
                    weight_exp=pr.weight_exp)  # fmt: skip
    return out


@PROPS
@given(
    net=networks(max_size=6),
    perm_seed=st.integers(0, 2**32 - 1),
    acc_bits=st.sampled_from([16, 24]),
)
def test_synapse_order_never_changes_results(net, perm_seed, acc_bits):
    other = _permuted(net, np.random.default_rng(perm_seed))
    assert sorted(zip(*map(np.ndarray.tolist, net.synapse_arrays()), strict=True)) == sorted(
        zip(*map(np.ndarray.tolist, other.synapse_arrays()), strict=True)
    )
    a, b = run_golden(net, 20, acc_bits=acc_bits), run_golden(other, 20, acc_bits=acc_bits)
    assert a.diff(b) == []


def test_synapse_order_with_wrapping_accumulator():
    # Many large events into one neuron so a 16-bit accumulator wraps several times a tick.
    net = Network("wrap")
    net.population("n", 1, du=4095, vth=131071, record=True)
    w = [127, -128, 127, 127, -128, 100, 127, 127, -50, 127]
    net.source("in", len(w), spikes={t: list(range(len(w))) for t in range(5)})
    net.connect("in", "n", connectivity="explicit",
                pairs=[(k, 0, wk) for k, wk in enumerate(w)], weight_exp=7)  # fmt: skip
    ref = run_golden(net, 6, acc_bits=16)
    expected = (sum(w) << 7) % 65536
    expected -= 65536 if expected >= 32768 else 0
    assert ref.u[1:, 0].tolist() == [expected * 64] * 5
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert run_golden(_permuted(net, rng), 6, acc_bits=16).diff(ref) == []
