"""The STDP rule of docs/learning.md, pinned by hand-computed cases.

Each case drives one plastic synapse ``pre -> post`` with chosen pre event ticks and post
spike ticks (a strong fixed synapse from a driver makes the post neuron fire exactly one
tick after each driver spike), runs it through the public API on golden and on the fast
TLM, and checks the final weight (and traces) against the value worked out by hand below.
:func:`scalar_stdp` is an independent scalar model of the rule; each case also runs the
tempting wrong variants of it (round instead of floor, no trace saturation, potentiation
before depression, reads that see the tick's own spikes, no clamping) and requires that
at least one gives a different number, so the case really pins the rule.
"""

import numpy as np
import pytest
from spikemesh.sim.fast import run_fast

from spikemesh.errors import NetworkError
from spikemesh.golden import run_golden
from spikemesh.network import Network
from spikemesh.plasticity import LearningProfile

BASE = dict(
    a_plus=32,
    a_plus_shift=4,
    a_minus=16,
    a_minus_shift=4,
    pre_inc=64,
    pre_decay=190,
    post_inc=64,
    post_decay=170,
    w_min=-50,
    w_max=100,
)
VARIANTS = ("round", "no_sat", "pot_first", "same_tick", "no_clip")


def scalar_stdp(ticks, pre, post, w, p, variant=()):
    """Final (w, X_pre, X_post) of one synapse; ``variant`` names deliberate mistakes."""
    xpre = xpost = 0
    cap = 1 << 30 if "no_sat" in variant else 127
    rnd = 128 if "round" in variant else 0
    for t in range(ticks):
        sp, so = t in pre, t in post
        dpre = (xpre * p["pre_decay"] + rnd) >> 8
        dpost = (xpost * p["post_decay"] + rnd) >> 8
        if "same_tick" in variant:  # reads see this tick's own increments
            dpre = min(dpre + p["pre_inc"] * sp, cap)
            dpost = min(dpost + p["post_inc"] * so, cap)
        steps = []
        if sp:
            steps.append(-((p["a_minus"] * dpost) >> p["a_minus_shift"]))
        if so:
            steps.append((p["a_plus"] * dpre) >> p["a_plus_shift"])
        if "pot_first" in variant:
            steps.reverse()
        for dw in steps:
            w += dw
            if "no_clip" not in variant:
                w = min(max(w, p["w_min"]), p["w_max"])
        if "same_tick" in variant:
            xpre, xpost = dpre, dpost
        else:
            xpre = min(dpre + p["pre_inc"] * sp, cap)
            xpost = min(dpost + p["post_inc"] * so, cap)
    return w, xpre, xpost


def pair_net(pre_ticks, post_ticks, w0, profile):
    """One post neuron; ``pre`` events at pre_ticks over the plastic synapse (weight w0), and
    a driver that makes the neuron fire at each of post_ticks."""
    net = Network("pair")
    # u = a << 6 every tick (du = 4095), v ~ u (dv = 4095): fires iff this tick's input > 200.
    net.population("post", 1, du=4095, dv=4095, vth=200)
    net.source("pre", 1, spikes=[(t, 0) for t in sorted(pre_ticks)])
    net.source("drv", 1, spikes=[(t - 1, 0) for t in sorted(post_ticks)])
    net.connect("drv", "post", weight=127, weight_exp=1)  # 254 > 200: fires next tick
    net.connect("pre", "post", weight=w0, plasticity=profile)  # <= 127: never alone
    return net


def learned(ticks, pre_ticks, post_ticks, w0=20, **over):
    """(final w, X_pre of 'pre', X_post) from golden, after checking the TLM agrees and the
    post neuron fired exactly at post_ticks."""
    net = pair_net(pre_ticks, post_ticks, w0, {**BASE, **over})
    g = run_golden(net, ticks)
    f = run_fast(net, ticks)
    assert g.diff(f) == []
    assert np.flatnonzero(g.spikes[:, 0]).tolist() == sorted(post_ticks)
    return (
        int(g.extra["weights"][1][0]),
        int(g.extra["pre_trace"][1]),
        int(g.extra["post_trace"][0]),
    )


def check(expected, ticks, pre_ticks, post_ticks, *, wrong, w0=20, **over):
    """The API gives ``expected``; so does the scalar model; every variant in ``wrong``
    gives something else."""
    p = {**BASE, **over}
    assert learned(ticks, pre_ticks, post_ticks, w0, **over)[0] == expected
    assert scalar_stdp(ticks, pre_ticks, post_ticks, w0, p)[0] == expected
    for v in wrong:
        assert scalar_stdp(ticks, pre_ticks, post_ticks, w0, p, (v,))[0] != expected, v


def test_causal_pair_potentiates():
    # pre at 2: X_pre(2) = 64. D_pre(3) = 64*190 >> 8 = 47 (47.5 floors; rounding gives 48),
    # D_pre(4) = 47*190 >> 8 = 34, D_pre(5) = 34*190 >> 8 = 25.
    # post at 5: dw = 32*25 >> 4 = 50, w = 20 + 50 = 70. The pre event at 2 read
    # D_post(2) = 0, so it depressed by 0.
    check(70, 12, {2}, {5}, wrong=("round",))


def test_anti_causal_pair_depresses():
    # post at 2: X_post(2) = 64. D_post(3) = 64*170 >> 8 = 42, D_post(4) = 27, D_post(5) = 17.
    # pre at 5: dw = 16*17 >> 4 = 17, w = 20 - 17 = 3 (rounding gives 19 -> 1).
    check(3, 12, {5}, {2}, wrong=("round",))


def test_two_pairs_add():
    # as test_causal_pair_potentiates up to w = 70 at tick 5; then pre at 7 reads
    # D_post(7): X_post(5) = 64, D(6) = 42, D(7) = 27 -> dw = 16*27 >> 4 = 27, w = 43.
    check(43, 12, {2, 7}, {5}, wrong=("round",))


def test_potentiation_stops_at_w_max():
    check(60, 12, {2}, {5}, wrong=("no_clip",), w_max=60)  # 20 + 50 = 70 -> 60


def test_depression_stops_at_w_min():
    check(15, 12, {5}, {2}, wrong=("no_clip",), w_min=15)  # 20 - 17 = 3 -> 15


def test_trace_saturates_at_127():
    # pre_inc 100, pre at 2, 3, 4: X(2) = 100; D(3) = 100*190 >> 8 = 74, X(3) = min(174, 127)
    # = 127; D(4) = 127*190 >> 8 = 94, X(4) = 127; D(5) = 94. post at 5: 8*94 >> 4 = 47,
    # w = 67 (without saturation: D(5) = 169, w = 104).
    check(67, 6, {2, 3, 4}, {5}, wrong=("no_sat",), pre_inc=100, a_plus=8, w_max=127)
    _, x_pre, x_post = learned(6, {2, 3, 4}, {5}, pre_inc=100, a_plus=8, w_max=127)
    assert (x_pre, x_post) == (94, 64)  # X_pre(5) = D(5) + 0; X_post(5) = 0 + 64


def test_same_tick_pair_does_nothing():
    # pre and post both at 5 and nowhere else: every read of tick 5 sees traces of before
    # the tick (0), so w stays 20; reads that saw the tick's own spikes would give 84.
    check(20, 12, {5}, {5}, wrong=("same_tick",))


def test_depression_before_potentiation_inside_one_tick():
    # post at 2, pre at 3: D_post(3) = 42 -> w = 20 - 42 = -22.
    # tick 5, pre and post both: depression first with D_post(5) = 17 -> -39, then
    # potentiation with D_pre(5) = 34 (X_pre(3) = 64, D(4) = 47, D(5) = 34): 32*34 >> 4 = 68
    # -> min(29, 25) = 25. Potentiation first: min(-22 + 68, 25) - 17 = 8.
    check(25, 12, {3, 5}, {2, 5}, wrong=("pot_first",), w_max=25)


def test_events_carry_the_weight_of_before_the_tick():
    # The pre event of tick 5 delivers w = 20 (before its own depression), so the post
    # neuron's u at tick 6 is 20 << 6, not the depressed weight's.
    net = pair_net({5}, {2}, 20, BASE)
    for r in (run_golden(net, 8), run_fast(net, 8)):
        assert int(r.final_u[0]) == 0  # decayed away again by tick 7
    net.populations[0].record = True
    r = run_golden(net, 8)
    assert int(r.u[6, 0]) == 20 << 6


def test_fixed_projection_never_changes():
    net = pair_net({2, 7}, {5}, 20, BASE)
    g = run_golden(net, 12)
    assert g.extra["weights"][0].tolist() == [127]  # the driver's synapse stays put


def test_profile_errors_name_the_key():
    with pytest.raises(NetworkError, match="a_minus_shift must be between 0 and 15, not 16"):
        LearningProfile(a_minus_shift=16)
    net = Network()
    net.population("a", 2)
    net.source("s", 2, bernoulli=0.1, seed=1)
    with pytest.raises(NetworkError) as e:
        net.connect("s", "a", weight=50, plasticity={"w_max": 40})
    assert e.value.key == ("plasticity", "w_max")
    assert "weight[0] = 50 is outside the plasticity bounds w_min..w_max = 0..40" in str(e.value)
    with pytest.raises(NetworkError, match="unknown plasticity key"):
        net.connect("s", "a", plasticity={"tau": 3})
