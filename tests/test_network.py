"""The Python network API: numbering, connectivity rules, and every NetworkError path."""

import re
import time

import numpy as np
import pytest

from spikemesh.errors import NetworkError
from spikemesh.golden import run_golden
from spikemesh.network import Network


def err(fn, *args, **kwargs):
    """The message of the NetworkError that fn(*args, **kwargs) raises."""
    with pytest.raises(NetworkError) as info:
        fn(*args, **kwargs)
    return str(info.value)


@pytest.fixture
def net():
    n = Network("t")
    n.population("a", 4)
    n.population("b", 3)
    n.source("s", 2, spikes=[(0, 1)])
    return n


# --- numbering --------------------------------------------------------------------


def test_numbering_follows_declaration_order():
    n = Network("num")
    a = n.population("a", 3)
    n.source("s1", 2, spikes=[])
    b = n.population("b", 5, record=True)
    n.source("s2", 4, spikes=[(1, 3)])
    assert (a.offset, b.offset, n.num_neurons) == (0, 3, 8)
    assert [s.offset for s in n.sources] == [0, 2]
    pr = n.connect("s2", "b", connectivity="explicit", pairs=[(3, 4)], weight=1)
    # a source's presynaptic id is N + its global source index: 8 + 2 + 3
    assert n.pre_global(pr).tolist() == [13]
    assert n.post_global(pr).tolist() == [7]
    pr2 = n.connect("b", "a", connectivity="explicit", pairs=[(1, 2)], weight=1)
    assert n.pre_global(pr2).tolist() == [4]
    assert n.recorded().tolist() == [3, 4, 5, 6, 7]
    raster = n.input_raster(3)
    assert raster.shape == (3, 6)
    assert np.flatnonzero(raster[1]).tolist() == [5]


def test_synapse_arrays_and_params(net):
    net.connect("s", "a", connectivity="explicit", pairs=[(0, 1, 5), (1, 3, -7)], weight_exp=2)
    net.connect("a", "b", connectivity="all_to_all", weight=2)
    pre, post, w, e = net.synapse_arrays()
    assert pre[:2].tolist() == [7, 8]
    assert post[:2].tolist() == [1, 3]
    assert w[:2].tolist() == [5, -7]
    assert e.tolist() == [2, 2] + [0] * 12
    assert net.neuron_params().shape == (7, 7)  # 6 parameters + reset mode


def test_empty_network_runs():
    n = Network("empty")
    r = run_golden(n, 5)
    assert r.spikes.shape == (5, 0)
    assert n.neuron_params().shape == (0, 7)
    assert n.synapse_arrays()[0].size == 0


# --- connectivity rules -------------------------------------------------------------


def test_all_to_all_skips_self_unless_allowed():
    n = Network()
    n.population("a", 4)
    pr = n.connect("a", "a", connectivity="all_to_all", weight=1)
    assert len(pr) == 12
    assert not (pr.pre_idx == pr.post_idx).any()
    pr = n.connect("a", "a", connectivity="all_to_all", weight=1, allow_self=True)
    assert len(pr) == 16


@pytest.mark.parametrize("fanout", [0, 3, 38, 39])
def test_fixed_fanout_draws_distinct_targets_never_self(fanout):
    n = Network()
    n.population("a", 40)
    pr = n.connect("a", "a", connectivity="fixed_fanout", fanout=fanout, seed=5, weight=1)
    assert len(pr) == 40 * fanout
    assert np.bincount(pr.pre_idx, minlength=40).tolist() == [fanout] * 40
    assert not (pr.pre_idx == pr.post_idx).any()
    assert len(set(zip(pr.pre_idx.tolist(), pr.post_idx.tolist(), strict=True))) == len(pr)


def test_full_fanout_is_fast():
    # Nearly full rows must not fall into coupon-collector rejection loops.
    n = Network()
    n.population("a", 600)
    t0 = time.perf_counter()
    pr = n.connect("a", "a", connectivity="fixed_fanout", fanout=599, seed=1, weight=1)
    assert time.perf_counter() - t0 < 5
    assert len(set(zip(pr.pre_idx.tolist(), pr.post_idx.tolist(), strict=True))) == 600 * 599


def test_fixed_probability_density_and_distinct():
    n = Network()
    n.population("a", 200)
    n.population("b", 100)
    pr = n.connect("a", "b", connectivity="fixed_probability", p=0.1, seed=3, weight=1)
    assert 1700 < len(pr) < 2300  # mean 2000, sd ~42
    assert len(set(zip(pr.pre_idx.tolist(), pr.post_idx.tolist(), strict=True))) == len(pr)
    dense = n.connect("a", "b", connectivity="fixed_probability", p=0.9, seed=3, weight=1)
    assert 17_500 < len(dense) < 18_500
    assert len(set(zip(dense.pre_idx.tolist(), dense.post_idx.tolist(), strict=True))) == len(dense)


def test_uniform_range_is_half_open():
    n = Network()
    n.population("a", 2000, v0={"uniform": [-3, 2], "seed": 1})
    assert sorted(set(n["a"].v0.tolist())) == [-3, -2, -1, 0, 1]


def test_weight_uniform_falls_back_to_projection_seed():
    n = Network()
    n.population("a", 50)
    p1 = n.connect(
        "a", "a", connectivity="fixed_fanout", fanout=5, seed=9, weight={"uniform": [0, 100]}
    )
    p2 = n.connect(
        "a", "a", connectivity="fixed_fanout", fanout=5, seed=9, weight={"uniform": [0, 100]}
    )
    assert np.array_equal(p1.weight, p2.weight)
    assert len(set(p1.weight.tolist())) > 10


def test_raster_of_longer_run_extends_shorter():
    n = Network()
    n.population("a", 1)
    n.source("b", 7, bernoulli=0.3, seed=4)
    n.source("p", 5, poisson=0.5, seed=4)
    n.source("e", 3, spikes={0: [0, 2], 9: 1, 30: [0]})
    short, long = n.input_raster(20), n.input_raster(50)
    assert np.array_equal(long[:20], short)
    assert long.any()
    assert np.flatnonzero(long[:, 12]).tolist() == [0, 30]  # e's index 0 is global input 12
    assert np.flatnonzero(short[:, 12]).tolist() == [0]


def test_poisson_is_a_count_of_at_least_one():
    n = Network()
    n.source("p", 1000, poisson=1.0, seed=2)
    frac = n.input_raster(10).mean()
    assert abs(frac - (1 - np.exp(-1))) < 0.02


# --- errors: names ------------------------------------------------------------------


def test_bad_names(net):
    assert err(net.population, "a b", 3) == (
        "Population name must be a non-empty string of letters, digits, '_', '-', '.', not 'a b'"
    )
    assert "Spike source name must be" in err(net.source, "", 3, spikes=[])
    assert "Network name must be" in err(Network, 5)
    assert err(net.population, "a", 3) == "name 'a' is already used by a population"
    assert err(net.population, "s", 3) == "name 's' is already used by a source"


# --- errors: population ------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("du", 4096, "neuron parameter du must be between 0 and 4,095, not 4,096"),
        ("dv", -1, "neuron parameter dv must be between 0 and 4,095, not -1"),
        ("vth", 1 << 17, "neuron parameter vth must be between 0 and 131,071, not 131,072"),
        (
            "bias_mant",
            -4097,
            "neuron parameter bias_mant must be between -4,096 and 4,095, not -4,097",
        ),
        ("bias_exp", 8, "neuron parameter bias_exp must be between 0 and 7, not 8"),
        ("refractory", 16, "neuron parameter refractory must be between 0 and 15, not 16"),
        ("du", 1.5, "neuron parameter du must be an integer, not 1.5"),
        ("vth", True, "neuron parameter vth must be an integer, not True"),
    ],
)
def test_population_parameter_errors(key, value, message):
    n = Network()
    e = err(n.population, "x", 3, **{key: value})
    assert e == f"population 'x': {message}"
    assert n.populations == []  # nothing half-added


def test_population_size_errors():
    n = Network()
    assert (
        err(n.population, "x", 0) == "population 'x' size must be between 1 and 16,777,216, not 0"
    )
    assert err(n.population, "x", "3") == "population 'x' size must be an integer, not '3'"


def test_population_state_errors():
    n = Network()
    assert err(n.population, "x", 3, u0=1 << 23) == (
        "population 'x' u0 must be between -8,388,608 and 8,388,607, not 8,388,608"
    )
    assert err(n.population, "x", 3, v0=[1, 2]) == (
        "population 'x' v0 must have 3 entries, not 2 (shape (2,))"
    )
    assert err(n.population, "x", 3, v0=[0, 1 << 23, 0]) == (
        "population 'x' v0[1] = 8,388,608 is outside -8,388,608..8,388,607"
    )
    assert err(n.population, "x", 2, v0=[0.5, 1.0]) == (
        "population 'x' v0 must contain integers, not float64 values"
    )
    assert err(n.population, "x", 2, v0=[True, False]) == (
        "population 'x' v0 must contain integers, not booleans"
    )
    assert err(n.population, "x", 2, v0=[[1], [2, 3]]) == (
        "population 'x' v0 must be an integer, a list of integers, or a uniform range"
    )
    assert err(n.population, "x", 2, record="yes") == (
        "population 'x' record must be true or false, not 'yes'"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"uniform": [0, 5]}, "u0: a random range needs a seed"),
        ({"uniform": [0, 5], "seed": -1}, "u0 seed must be >= 0, not -1"),
        ({"uniform": [5, 5], "seed": 1}, "u0: uniform range [5, 5) is empty"),
        ({"uniform": [0], "seed": 1}, "u0: uniform needs [lo, hi], not [0]"),
        (
            {"uniform": [0, 1 << 24], "seed": 1},
            "u0: uniform range [0, 16777216) must lie within -8,388,608..8,388,607",
        ),
        ({"uniform": [0.5, 3], "seed": 1}, "u0 uniform lo must be an integer, not 0.5"),
        (
            {"normal": [0, 3]},
            "u0: a random range is written {uniform: [lo, hi], seed: S}, not {'normal': [0, 3]}",
        ),
    ],
)
def test_uniform_range_errors(spec, message):
    n = Network()
    assert err(n.population, "x", 3, u0=spec) == f"population 'x' {message}"


# --- errors: sources -----------------------------------------------------------------


def test_source_errors():
    n = Network()
    assert err(n.source, "s", 2) == (
        "source 's' needs exactly one of spikes, bernoulli, poisson; got none"
    )
    assert err(n.source, "s", 2, spikes=[], bernoulli=0.1, seed=1) == (
        "source 's' needs exactly one of spikes, bernoulli, poisson; got ['spikes', 'bernoulli']"
    )
    assert err(n.source, "s", 0, spikes=[]) == (
        "source 's' size must be between 1 and 16,777,216, not 0"
    )
    assert err(n.source, "s", 2, bernoulli=0.1) == "source 's': a bernoulli source needs a seed"
    assert err(n.source, "s", 2, poisson=0.1, seed=-2) == "source 's' seed must be >= 0, not -2"
    assert err(n.source, "s", 2, bernoulli=1.5, seed=1) == (
        "source 's' bernoulli probability must be within 0..1, not 1.5"
    )
    assert err(n.source, "s", 2, bernoulli="0.5", seed=1) == (
        "source 's' bernoulli must be a number, not '0.5'"
    )
    assert err(n.source, "s", 2, poisson=2000, seed=1) == (
        "source 's' poisson rate must be within 0..1000 per tick, not 2000.0"
    )
    assert err(n.source, "s", 2, spikes=[(0, 2)]) == (
        "source 's' spikes[0]: index 2 is outside 0..1"
    )
    assert err(n.source, "s", 2, spikes=[(-1, 0)]) == (
        "source 's' spikes[0]: tick must be >= 0, not -1"
    )
    assert err(n.source, "s", 2, spikes=[(0, 1, 2)]) == (
        "source 's' spikes must be (tick, index) pairs or a tick -> indices mapping"
    )
    assert err(n.source, "s", 2, spikes=[(0.5, 1)]) == (
        "source 's' spikes[0] tick must be an integer, not 0.5"
    )
    assert err(n.source, "s", 2, spikes={"0": [1]}) == (
        "source 's' spikes tick must be an integer, not '0'"
    )
    assert err(n.source, "s", 2, spikes={3: None}) == (
        "source 's' spikes[3] must be an index or a list of indices, not None"
    )
    assert n.sources == []


# --- errors: projections -------------------------------------------------------------


def test_projection_endpoint_errors(net):
    assert (
        err(net.connect, "zz", "a") == "projection 'zz' -> 'a': no population or source named 'zz'"
    )
    assert err(net.connect, "a", "s") == (
        "projection 'a' -> 's': 's' is a source; expected a population"
    )
    assert err(net.connect, ["a"], "b") == (
        "projection ['a'] -> 'b': expected the name of a population or source, not ['a']"
    )


def test_projection_parameter_errors(net):
    assert err(net.connect, "a", "b", weight_exp=8) == (
        "projection 'a' -> 'b' weight_exp must be between 0 and 7, not 8"
    )
    assert err(net.connect, "a", "b", weight=128) == (
        "projection 'a' -> 'b' weight must be between -128 and 127, not 128"
    )
    assert err(net.connect, "a", "b", weight=[*list(range(11)), -129]) == (
        "projection 'a' -> 'b' weight[11] = -129 is outside -128..127"
    )
    assert err(net.connect, "a", "b", weight=[1, 2]) == (
        "projection 'a' -> 'b' weight must have 12 entries, not 2 (shape (2,))"
    )
    assert err(net.connect, "a", "b", seed=-1) == "projection 'a' -> 'b' seed must be >= 0, not -1"
    assert err(net.connect, "a", "a", allow_self=1) == (
        "projection 'a' -> 'a' allow_self must be true or false, not 1"
    )
    assert err(net.connect, "a", "b", connectivity="ring") == (
        "projection 'a' -> 'b': unknown connectivity 'ring'; known: explicit, one_to_one, "
        "all_to_all, fixed_fanout, fixed_probability"
    )
    assert err(net.connect, "a", "b", connectivity="one_to_one") == (
        "projection 'a' -> 'b': one_to_one needs equal sizes, not 4 and 3"
    )
    assert err(net.connect, "a", "b", connectivity="fixed_fanout", fanout=2) == (
        "projection 'a' -> 'b': fixed_fanout needs a seed"
    )
    assert err(net.connect, "a", "b", connectivity="fixed_fanout", fanout=4, seed=1) == (
        "projection 'a' -> 'b' fanout must be between 0 and 3, not 4"
    )
    assert err(net.connect, "a", "a", connectivity="fixed_fanout", fanout=4, seed=1) == (
        "projection 'a' -> 'a' fanout must be between 0 and 3, not 4"  # no self: 3 others
    )
    assert err(net.connect, "a", "b", connectivity="fixed_probability", p=1.5, seed=1) == (
        "projection 'a' -> 'b': fixed_probability needs p within 0..1, not 1.5"
    )
    assert err(net.connect, "a", "b", connectivity="fixed_probability", seed=1) == (
        "projection 'a' -> 'b': fixed_probability needs p within 0..1, not None"
    )
    assert net.projections == []


def test_explicit_pairs_errors(net):
    c = net.connect
    assert err(c, "a", "b", connectivity="explicit") == (
        "projection 'a' -> 'b': explicit connectivity needs pairs"
    )
    assert err(c, "a", "b", connectivity="explicit", pairs=5) == (
        "projection 'a' -> 'b': pairs must be a list of (pre, post) or (pre, post, weight)"
    )
    assert err(c, "a", "b", connectivity="explicit", pairs=[(0, 1, 2, 3)]) == (
        "projection 'a' -> 'b': pairs[0] must be (pre, post) or (pre, post, weight), "
        "not (0, 1, 2, 3)"
    )
    assert err(c, "a", "b", connectivity="explicit", pairs=[(0, 1), (4, 0)]) == (
        "projection 'a' -> 'b' pairs[1] pre index must be between 0 and 3, not 4"
    )
    assert err(c, "a", "b", connectivity="explicit", pairs=[(0, 3)]) == (
        "projection 'a' -> 'b' pairs[0] post index must be between 0 and 2, not 3"
    )
    assert err(c, "a", "b", connectivity="explicit", pairs=[(0, 1, 5), (1, 1)]) == (
        "projection 'a' -> 'b': either every pair carries a weight or none does"
    )
    assert err(c, "a", "b", connectivity="explicit", pairs=[(0, 1, 5), (1, 1, 200)]) == (
        "projection 'a' -> 'b' pair weight[1] = 200 is outside -128..127"
    )


def test_errors_carry_the_parameter_key(net):
    # netfile.py turns the key into a YAML key path; check the API sets it.
    cases = [
        (lambda: net.connect("a", "b", weight=300), "weight"),
        (lambda: net.connect("a", "b", weight_exp=9), "weight_exp"),
        (lambda: net.connect("a", "zz"), "post"),
        (lambda: net.connect("a", "b", connectivity="explicit", pairs=[(9, 0)]), "pairs"),
        (lambda: net.population("q", 2, vth=-1), "vth"),
        (lambda: net.population("q", 2, u0=[1]), "u0"),
        (lambda: net.source("q", 2, bernoulli=3, seed=1), "bernoulli"),
        (lambda: net.source("q", 2, spikes=[(0, 5)]), "spikes"),
        (lambda: net.population("a", 2), "name"),
    ]
    for fn, key in cases:
        with pytest.raises(NetworkError) as info:
            fn()
        assert info.value.key == key, str(info.value)


# --- errors: running ------------------------------------------------------------------


def test_run_golden_errors(net):
    assert err(run_golden, net, -1) == "ticks must be a non-negative integer, not -1"
    assert err(run_golden, net, 5, acc_bits=12) == (
        "acc_bits must be an integer between 16 and 32, not 12"
    )
    msg = err(run_golden, net, 5, inputs=np.zeros((4, 2), dtype=bool))
    assert msg == "inputs must be a boolean array of shape (5, 2), not bool (4, 2)"


def test_run_golden_accepts_an_input_raster(net):
    net.connect("s", "a", connectivity="explicit", pairs=[(0, 0)], weight=127, weight_exp=7)
    raster = np.zeros((4, 2), dtype=bool)
    raster[1, 0] = True
    r = run_golden(net, 4, inputs=raster)
    assert np.array_equal(r.inputs, raster)
    # the given input at tick 1 lands at tick 2 (the source's own spike is not used)
    assert np.flatnonzero(r.spikes[:, 0])[0] == 2
    assert r.u.shape == (4, 0)  # nothing recorded
    assert r.final_u[0] != 0


def test_messages_never_mention_numpy_internals(net):
    # Every message above is ours; a stray numpy error would mention dtypes or "ufunc".
    msg = err(net.connect, "a", "b", weight={"uniform": [0, 500], "seed": 1})
    assert not re.search(r"ufunc|broadcast|Traceback", msg)
    assert msg == "projection 'a' -> 'b' weight: uniform range [0, 500) must lie within -128..127"
