"""Every rule of chip.md §2-§4, pinned by hand-computed cases.

Each case runs a tiny network on the golden reference *and* on the
independent scalar reference (tests/scalar_ref.py), checks that they agree,
then checks the value worked out by hand from chip.md. Each expected value is
chosen so that the tempting wrong rule (floor instead of truncation, saturate
instead of wrap, >= instead of >, ...) gives a different number.
"""

import numpy as np
import pytest

from spikemesh.golden import run_golden
from spikemesh.network import Network

from .scalar_ref import run_scalar, shift12_toward_zero, wrap_bits

SAT = (1 << 23) - 1


def run_both(net, ticks, *, acc_bits=24):
    """Golden result after checking it against the scalar reference, state of every neuron."""
    g = run_golden(net, ticks, acc_bits=acc_bits)
    s = run_scalar(net, ticks, acc_bits=acc_bits)
    np.testing.assert_array_equal(g.spikes, s.spikes)
    np.testing.assert_array_equal(g.u, s.u[:, g.recorded])
    np.testing.assert_array_equal(g.v, s.v[:, g.recorded])
    np.testing.assert_array_equal(g.final_u, s.final_u)
    np.testing.assert_array_equal(g.final_v, s.final_v)
    return g


def one_neuron(ticks, *, events=(), acc_bits=24, **params):
    """One recorded neuron "n"; ``events`` = (tick, weight, weight_exp), one input each.

    Returns (spikes, u, v) of the neuron, one entry per tick.
    """
    params.setdefault("vth", 131071)  # highest threshold unless a case needs one
    net = Network("one")
    net.population("n", 1, record=True, **params)
    if events:
        net.source("in", len(events), spikes=[(t, k) for k, (t, _, _) in enumerate(events)])
        for k, (_, w, e) in enumerate(events):
            net.connect("in", "n", connectivity="explicit", pairs=[(k, 0)], weight=w, weight_exp=e)
    r = run_both(net, ticks, acc_bits=acc_bits)
    return r.spikes[:, 0], r.u[:, 0], r.v[:, 0]


# --- the arithmetic helpers of the scalar reference -------------------------------


def test_scalar_helpers():
    assert shift12_toward_zero(-4095) == 0  # floor would give -1
    assert shift12_toward_zero(-4096) == -1
    assert shift12_toward_zero(-8191) == -1  # floor would give -2
    assert shift12_toward_zero(8191) == 1
    assert wrap_bits(1 << 23, 24) == -(1 << 23)
    assert wrap_bits(-(1 << 23) - 1, 24) == (1 << 23) - 1
    assert wrap_bits(40000, 16) == 40000 - 65536


# --- §3 rounding toward zero --------------------------------------------------------


def test_u_decay_rounds_toward_zero_for_negative_values():
    # u = T(-5000 * 4095) = -(20_475_000 >> 12) = -4998; floor would give -4999.
    _, u, _ = one_neuron(1, du=0, u0=-5000)
    assert u[0] == -4998
    _, u, _ = one_neuron(1, du=0, u0=5000)
    assert u[0] == 4998


def test_u_decay_of_minus_one_is_zero():
    # T(-1 * 4095) = 0: a small negative current decays to 0, not to -1 for ever.
    _, u, _ = one_neuron(2, du=0, u0=-1)
    assert u.tolist() == [0, 0]


def test_v_decay_rounds_toward_zero_for_negative_values():
    # v = T(-5000 * (4096 - 1)) + u + bias = -4998 (+0 + 0); floor gives -4999.
    _, _, v = one_neuron(1, dv=1, v0=-5000)
    assert v[0] == -4998
    _, _, v = one_neuron(1, dv=1, v0=-1)
    assert v[0] == 0


def test_decay_factors_use_du_plus_one_and_dv():
    # du = 2047: factor 4096 - 2048 = 2048, u halves; dv = 2048: factor 2048, v halves.
    _, u, v = one_neuron(1, du=2047, dv=2048, u0=1000, v0=3000)
    assert u[0] == 500
    assert v[0] == 1500 + 500  # the new u is added to the decayed v
    # du = 0 still decays u by 1/4096 (effective decay du + 1); dv = 0 keeps v.
    _, u, v = one_neuron(1, du=0, dv=0, u0=8192, v0=8192)
    assert u[0] == 8190
    assert v[0] == 8192 + 8190


# --- §3 u wraps, v saturates -----------------------------------------------------


def test_u_wraps_upward():
    # du = 4095 makes the decay factor 0, so u = a << 6. Nine events of 127 << 7:
    # a = 146_304, a << 6 = 9_363_456 >= 2^23 -> 9_363_456 - 2^24 = -7_413_760.
    _, u, _ = one_neuron(2, du=4095, events=[(0, 127, 7)] * 9)
    assert u.tolist() == [0, -7_413_760]


def test_u_wraps_downward():
    # Nine events of -128 << 7: a << 6 = -9_437_184 -> + 2^24 = 7_340_032.
    _, u, _ = one_neuron(2, du=4095, events=[(0, -128, 7)] * 9)
    assert u.tolist() == [0, 7_340_032]


def test_u_of_exactly_plus_2_pow_23_wraps_to_minus():
    # 16 events of 64 << 7 = 131_072 = 2^17: u = 2^23 is not representable and becomes
    # -2^23 (Lava would keep +2^23). v then saturates at -(2^23 - 1), not at -2^23.
    _, u, v = one_neuron(2, du=4095, events=[(0, 64, 7)] * 16)
    assert u.tolist() == [0, -(1 << 23)]
    assert v.tolist() == [0, -SAT]


def test_u_of_exactly_minus_2_pow_23_is_kept():
    _, u, _ = one_neuron(2, du=4095, events=[(0, -128, 7)] * 8)
    assert u.tolist() == [0, -(1 << 23)]


def test_v_saturates_negative_at_minus_2_pow_23_plus_1():
    # v = -8_000_000 + u, u = T(-1_000_000 * 4095) = -999_755: -8_999_755 clips to -(2^23 - 1).
    # Wrapping would give +7_777_461 instead.
    _, u, v = one_neuron(1, du=0, u0=-1_000_000, v0=-8_000_000)
    assert u[0] == -999_755
    assert v[0] == -SAT


def test_v_saturates_positive_and_then_spikes():
    # v = 8_000_000 + 999_755 clips to 2^23 - 1 = 8_388_607 > 131_071 << 6 = 8_388_544: spike.
    # Wrapping would give a large negative v and no spike. (A saturated v always exceeds
    # the highest threshold, so positive saturation shows only as this spike.)
    spikes, _, v = one_neuron(1, du=0, u0=1_000_000, v0=8_000_000, vth=131071)
    assert spikes.tolist() == [True]
    assert v[0] == 0


def test_v_saturation_is_per_tick_not_sticky():
    # Saturated at -(2^23 - 1) at tick 0; with u = 0 and a positive bias v climbs back.
    _, _, v = one_neuron(2, dv=0, u0=0, v0=-SAT, bias_mant=-100, bias_exp=0)
    assert v.tolist() == [-SAT, -SAT]
    _, _, v = one_neuron(2, dv=0, v0=-SAT, bias_mant=100)
    assert v.tolist() == [-SAT + 100, -SAT + 200]


# --- §3 threshold -----------------------------------------------------------------


def test_threshold_is_strict():
    # vth = 100: threshold 100 << 6 = 6400. v == 6400 stays; v == 6401 spikes.
    spikes, _, v = one_neuron(1, vth=100, v0=6400)
    assert spikes.tolist() == [False]
    assert v[0] == 6400
    spikes, _, v = one_neuron(1, vth=100, v0=6401)
    assert spikes.tolist() == [True]
    assert v[0] == 0


def test_threshold_zero_spikes_on_any_positive_v():
    spikes, _, _ = one_neuron(2, vth=0, v0=1)
    assert spikes.tolist() == [True, False]  # v = 1 > 0, then v = 0 is not > 0


# --- §3 refractory ----------------------------------------------------------------


def test_refractory_holds_v_at_zero_for_exactly_r_ticks():
    # bias 4000 per tick, threshold 6400: v = 4000, 8000 -> spike at tick 1, then
    # refractory 2 holds v = 0 at ticks 2 and 3 (the bias is not added), v = 4000 at 4.
    spikes, _, v = one_neuron(10, dv=0, vth=100, bias_mant=4000, refractory=2)
    assert np.flatnonzero(spikes).tolist() == [1, 5, 9]
    assert v.tolist() == [4000, 0, 0, 0, 4000, 0, 0, 0, 4000, 0]


def test_refractory_zero_is_off():
    spikes, _, _ = one_neuron(6, dv=0, vth=100, bias_mant=4000, refractory=0)
    assert np.flatnonzero(spikes).tolist() == [1, 3, 5]


def test_refractory_counter_reloads_on_each_spike():
    # bias 875 << 3 = 7000 > 6400: spike whenever not refractory; R = 3: every 4th tick.
    spikes, _, v = one_neuron(13, dv=0, vth=100, bias_mant=875, bias_exp=3, refractory=3)
    assert np.flatnonzero(spikes).tolist() == [0, 4, 8, 12]
    assert not v.any()


def test_refractory_still_updates_u():
    # Spike at tick 0 (v0 above threshold), refractory 3; an input at tick 1 reaches u
    # at tick 2 although v is held at 0 there.
    spikes, u, v = one_neuron(4, du=4095, vth=100, v0=6401, refractory=3, events=[(1, 10, 0)])
    assert spikes.tolist() == [True, False, False, False]
    assert u.tolist() == [0, 0, 640, 0]
    assert v.tolist() == [0, 0, 0, 0]


def test_refractory_input_is_lost_from_v():
    # v is set to 0 in refractory, so the input that arrived then never reaches v later.
    _, _, v = one_neuron(5, du=4095, dv=0, vth=100, v0=6401, refractory=1, events=[(0, 50, 0)])
    # tick 0 spike; tick 1 in refractory (u = 3200 then, v held 0); tick 2 u = 0, v = 0.
    assert v.tolist() == [0, 0, 0, 0, 0]


# --- §3 bias ----------------------------------------------------------------------


def test_bias_exponent():
    # bias = 3 << 5 = 96 per tick (dv = 0: v keeps everything)
    _, _, v = one_neuron(3, dv=0, bias_mant=3, bias_exp=5)
    assert v.tolist() == [96, 192, 288]
    _, _, v = one_neuron(2, dv=0, bias_mant=-3, bias_exp=5)
    assert v.tolist() == [-96, -192]
    _, _, v = one_neuron(1, dv=0, bias_mant=-4096, bias_exp=7)
    assert v[0] == -524_288


def test_bias_does_not_enter_u():
    _, u, _ = one_neuron(2, bias_mant=100, bias_exp=3)
    assert u.tolist() == [0, 0]


# --- §4 weights -------------------------------------------------------------------


def test_weight_exponent_and_input_scaling():
    # The event adds w << e = 3 << 4 = 48 to a; a enters u as a << 6 = 3072.
    _, u, _ = one_neuron(2, du=4095, events=[(0, 3, 4)])
    assert u.tolist() == [0, 3072]
    _, u, _ = one_neuron(2, du=4095, events=[(0, -3, 4)])
    assert u.tolist() == [0, -3072]
    _, u, _ = one_neuron(2, du=4095, events=[(0, -128, 7)])
    assert u.tolist() == [0, -16384 * 64]


def test_events_of_one_tick_add_up():
    _, u, _ = one_neuron(2, du=4095, events=[(0, 5, 0), (0, 7, 1), (0, -2, 2)])
    assert u.tolist() == [0, (5 + 14 - 8) * 64]


# --- §2 one tick of delay -------------------------------------------------------------


def test_input_at_t_integrates_at_t_plus_1():
    _, u, _ = one_neuron(8, du=4095, events=[(5, 1, 0)])
    assert u.tolist() == [0, 0, 0, 0, 0, 0, 64, 0]


def test_input_at_tick_0_is_not_seen_at_tick_0():
    spikes, u, _ = one_neuron(1, du=4095, vth=0, events=[(0, 127, 7)])
    assert u.tolist() == [0]
    assert spikes.tolist() == [False]


def test_neuron_spike_at_t_reaches_target_at_t_plus_1():
    # a fires at tick 0 (v0 above threshold); a -> b -> c with strong weights: b fires at
    # 1, c at 2. u of b is first non-zero at tick 1, never at 0.
    net = Network("chain")
    for name in "abc":
        net.population(name, 1, du=4095, vth=100, v0=6401 if name == "a" else 0, record=True)
    net.connect("a", "b", weight=127, weight_exp=3)
    net.connect("b", "c", weight=127, weight_exp=3)
    r = run_both(net, 4)
    assert r.spikes.tolist() == [
        [True, False, False],
        [False, True, False],
        [False, False, True],
        [False, False, False],
    ]
    assert r.u[:, 1].tolist() == [0, 127 * 8 * 64, 0, 0]


def test_self_connection_has_one_tick_of_delay_too():
    net = Network("self")
    net.population("a", 1, du=4095, vth=100, v0=6401, record=True)
    net.connect("a", "a", weight=10, allow_self=True)
    r = run_both(net, 3)
    assert r.u[:, 0].tolist() == [0, 640, 0]


# --- §3 u is not reset ------------------------------------------------------------


def test_u_is_not_reset_by_a_spike():
    # u0 = 10_000, du = 0: u = T(10_000 * 4095) = 9997 at tick 0; the spike resets v only.
    spikes, u, v = one_neuron(2, du=0, vth=0, u0=10_000)
    assert spikes.tolist() == [True, True]
    assert u.tolist() == [9997, 9994]
    assert v.tolist() == [0, 0]


# --- §4 accumulator width -----------------------------------------------------------


def test_accumulator_wraps_at_acc_bits():
    # Three events of 127 << 7: a = 48_768. 16-bit accumulator: 48_768 - 65_536 = -16_768.
    events = [(0, 127, 7)] * 3
    _, u, _ = one_neuron(2, du=4095, acc_bits=16, events=events)
    assert u.tolist() == [0, -16_768 * 64]
    _, u, _ = one_neuron(2, du=4095, acc_bits=24, events=events)
    assert u.tolist() == [0, 48_768 * 64]


@pytest.mark.parametrize("order", [(0, 0, 0, 1, 1), (1, 1, 0, 0, 0), (0, 1, 0, 1, 0)])
def test_accumulator_wrap_is_order_independent(order):
    # Three +127 << 7 and two -128 << 7 events in a 16-bit accumulator. Modular sum:
    # 3 * 16_256 - 2 * 16_384 = 16_000 in any order. A saturating accumulator would give
    # -1 for (+, +, +, -, -) (it clips at 32_767) and 16_000 for (-, -, +, +, +).
    w = [(0, 127, 7), (0, -128, 7)]
    _, u, _ = one_neuron(2, du=4095, acc_bits=16, events=[w[k] for k in order])
    assert u.tolist() == [0, 16_000 * 64]


def test_accumulator_is_emptied_every_tick():
    _, u, _ = one_neuron(4, du=4095, events=[(0, 10, 0), (2, 20, 0)])
    assert u.tolist() == [0, 640, 0, 1280]


def test_accumulator_bits_above_18_cannot_change_u():
    # u = wrap24(... + a << 6) only sees a modulo 2^18, so every accumulator of 18 bits or
    # more gives the same u (docs/semantics.md); 16 and 17 bits do lose information.
    events = [(0, 127, 7)] * 40 + [(1, -128, 7)] * 25  # a = 650_240, then -409_600
    us = {
        b: one_neuron(3, du=4095, acc_bits=b, events=events)[1].tolist()
        for b in (16, 17, 18, 24, 32)
    }
    assert (
        us[18] == us[24] == us[32] == [0, wrap_bits(650_240 * 64, 24), wrap_bits(-409_600 * 64, 24)]
    )
    assert us[16] != us[18]
    assert us[17] != us[18]


# --- §3 reset by subtraction (docs/semantics.md "Subtract reset") ----------------------


def _variant(ticks, *, v0, vth, dv=0, bias=0, refractory=0, rule):
    """v of one input-free neuron under a tempting *wrong* subtract rule, to show that each
    hand-computed case below tells it apart from the documented one. ``rule``:
    ``zero`` (today's reset), ``drain`` (subtract until v <= threshold in one tick),
    ``pre_sat`` (subtract before saturating), ``decay_first`` (subtract from v before the
    decay of the next tick, i.e. on v_{t-1}), ``keep_in_ref`` (refractory holds the residue).
    """
    v, c, out, thr = v0, 0, [], vth * 64
    for _ in range(ticks):
        if c > 0:
            c -= 1
            v = v if rule == "keep_in_ref" else 0
            out.append(v)
            continue
        raw = shift12_toward_zero(v * (4096 - dv)) + bias
        if rule == "decay_first" and v > thr:
            raw = shift12_toward_zero((v - thr) * (4096 - dv)) + bias
        vt = max(-SAT, min(SAT, raw))
        if vt > thr:
            c = refractory
            if rule == "zero":
                vt = 0
            elif rule == "drain":
                while vt > thr:
                    vt -= thr
            elif rule == "pre_sat":
                vt = max(-SAT, min(SAT, raw - thr))
            else:
                vt -= thr
        out.append(vt)
    return out


def test_subtract_reset_keeps_the_excess_one_spike_per_tick():
    # threshold 100 << 6 = 6400, dv = 0, v0 = 20000: 20000 > 6400 spike, v = 13600; spike,
    # 7200; spike, 800; 800 is not above 6400. One spike per tick, never a burst.
    spikes, _, v = one_neuron(4, dv=0, vth=100, v0=20000, reset="subtract")
    assert spikes.tolist() == [True, True, True, False]
    assert v.tolist() == [13600, 7200, 800, 800]
    for wrong in ("zero", "drain"):
        assert _variant(4, v0=20000, vth=100, rule=wrong) != v.tolist()


def test_subtract_reset_threshold_stays_strict():
    # v = 6401 > 6400 spikes and keeps 1; v = 6400 does not spike.
    spikes, _, v = one_neuron(2, vth=100, v0=6401, dv=0, reset="subtract")
    assert spikes.tolist() == [True, False]
    assert v.tolist() == [1, 1]
    spikes, _, v = one_neuron(1, vth=100, v0=6400, dv=0, reset="subtract")
    assert spikes.tolist() == [False]
    assert v.tolist() == [6400]


def test_subtract_reset_after_decay_not_before():
    # dv = 2048 halves v: T(20000 * 2048) = 10000 > 6400 -> spike, v = 3600; then 1800.
    # Subtracting from v_{t-1} before the decay would give T(13600 * 2048) = 6800 instead.
    spikes, _, v = one_neuron(2, dv=2048, vth=100, v0=20000, reset="subtract")
    assert spikes.tolist() == [True, False]
    assert v.tolist() == [3600, 1800]
    assert _variant(2, v0=20000, vth=100, dv=2048, rule="decay_first") != v.tolist()


def test_subtract_reset_after_saturation():
    # threshold 1000 << 6 = 64000; v0 = 2^23 - 101 plus bias 4095 << 7 = 524160 saturates
    # at 2^23 - 1 = 8388607, spikes, and keeps 8388607 - 64000 = 8324607; every tick alike.
    # Subtracting before saturating would give sat(8388506 + 524160 - 64000) = 8388607.
    kw = dict(dv=0, vth=1000, bias_mant=4095, bias_exp=7)
    spikes, _, v = one_neuron(3, v0=SAT - 100, reset="subtract", **kw)
    assert spikes.all()
    assert v.tolist() == [SAT - 64000] * 3
    assert _variant(3, v0=SAT - 100, vth=1000, bias=524160, rule="pre_sat") != v.tolist()


def test_subtract_reset_at_the_rail_with_threshold_zero():
    # vth = 0: subtracting 0 leaves v at the rail, and it spikes every tick.
    spikes, _, v = one_neuron(3, dv=0, vth=0, v0=SAT, reset="subtract")
    assert spikes.all()
    assert v.tolist() == [SAT] * 3


def test_subtract_reset_residue_is_lost_in_refractory():
    # Spike at tick 0 keeps 13600 at that tick; refractory 1 holds v at 0 at tick 1; tick 2
    # integrates from 0 (no input, no bias): no more spikes.
    spikes, _, v = one_neuron(3, dv=0, vth=100, v0=20000, refractory=1, reset="subtract")
    assert spikes.tolist() == [True, False, False]
    assert v.tolist() == [13600, 0, 0]
    assert _variant(3, v0=20000, vth=100, refractory=1, rule="keep_in_ref") != v.tolist()


def test_subtract_reset_does_not_touch_u():
    # du = 4095: u is the input of the tick only. Weight 120 at tick 0 -> u = 7680 at tick 1,
    # v = 7680 > 6400 spikes and keeps 1280 (zero reset: 0); u is 7680 either way.
    spikes, u, v = one_neuron(3, du=4095, dv=0, vth=100, reset="subtract", events=[(0, 120, 0)])
    assert spikes.tolist() == [False, True, False]
    assert u.tolist() == [0, 7680, 0]
    assert v.tolist() == [0, 1280, 1280]
    _, _, vz = one_neuron(3, du=4095, dv=0, vth=100, reset="zero", events=[(0, 120, 0)])
    assert vz.tolist() == [0, 0, 0]


def test_zero_is_the_default_reset():
    net = Network("d")
    assert net.population("p", 1).params.reset == "zero"
    assert net.neuron_params()[0, 6] == 0


# --- docs/semantics.md "Time": synaptic delays ----------------------------------------


def delayed_neuron(ticks, events, **params):
    """One recorded neuron "n" fed by one input per event (tick, weight, delay), exponent 0."""
    params.setdefault("vth", 131071)
    net = Network("delayed")
    net.population("n", 1, record=True, **params)
    net.source("in", len(events), spikes=[(t, k) for k, (t, _, _) in enumerate(events)])
    for k, (_, w, d) in enumerate(events):
        net.connect("in", "n", connectivity="explicit", pairs=[(k, 0)], weight=w, delay=d)
    r = run_both(net, ticks)
    return r.spikes[:, 0], r.u[:, 0], r.v[:, 0]


def _delay_variant(ticks, events, rule, banks=4):
    """The input a_t of one neuron under a delay rule: ``right`` (t + d), ``minus_one``
    (t + d - 1, counting the emitting tick), ``ignore`` (t + 1, every delay taken as 1) or
    ``stale`` (t + d, but a bank of a ``banks``-bank ring is not cleared after it is read,
    so its input comes back every ``banks`` ticks)."""
    a = [0] * ticks
    for t, w, d in events:
        land = {"right": t + d, "minus_one": t + d - 1, "ignore": t + 1, "stale": t + d}[rule]
        while land < ticks:
            a[land] += w
            if rule != "stale":
                break
            land += banks
    return a


def test_delay_d_integrates_at_t_plus_d():
    # du = 4095: u_t = a_t << 6. Weight 3 stamped tick 2 with delay 3 -> u = 192 at tick 5 only.
    events = [(2, 3, 3)]
    _, u, _ = delayed_neuron(10, events, du=4095)
    assert u.tolist() == [0, 0, 0, 0, 0, 192, 0, 0, 0, 0]
    assert [64 * a for a in _delay_variant(10, events, "right")] == u.tolist()
    for wrong in ("minus_one", "ignore", "stale"):
        assert [64 * a for a in _delay_variant(10, events, wrong)] != u.tolist()


def test_longest_delay_15_and_the_default_1():
    events = [(0, 1, 15), (0, 2, 1)]
    _, u, _ = delayed_neuron(18, events, du=4095)
    assert u.tolist() == [0, 128] + [0] * 13 + [64, 0, 0]
    for wrong in ("minus_one", "ignore", "stale"):
        assert [64 * a for a in _delay_variant(18, events, wrong, banks=16)] != u.tolist()


def test_events_of_different_delays_landing_in_one_tick_add_up():
    # (0, d 3), (1, d 2), (2, d 1) all land in tick 3: 5 + 7 - 2 = 10 -> u = 640.
    events = [(0, 5, 3), (1, 7, 2), (2, -2, 1)]
    _, u, _ = delayed_neuron(6, events, du=4095)
    assert u.tolist() == [0, 0, 0, 640, 0, 0]
    for wrong in ("minus_one", "ignore"):
        assert [64 * a for a in _delay_variant(6, events, wrong)] != u.tolist()


def test_delayed_sum_wraps_at_acc_bits_whatever_the_delays():
    # Three events of 127 << 7 landing in tick 4 from delays 4, 2, 1: 48_768 wraps in 16 bits
    # to -16_768, so u = -16_768 << 6 = -1_073_152 (a saturating or per-delay sum would not).
    net = Network("wrapd")
    net.population("n", 1, record=True, du=4095, vth=131071)
    net.source("in", 3, spikes=[(0, 0), (2, 1), (3, 2)])
    for k, d in enumerate((4, 2, 1)):
        net.connect(
            "in", "n", connectivity="explicit", pairs=[(k, 0)], weight=127, weight_exp=7, delay=d
        )
    r = run_both(net, 5, acc_bits=16)
    assert r.u[:, 0].tolist() == [0, 0, 0, 0, -16_768 * 64]


def test_chain_with_delays_fires_after_the_sum_of_delays():
    # a fires at 0; a -> b delay 2, b -> c delay 3: b fires at 2, c at 5 (every delay 1: 0, 1, 2).
    net = Network("chaind")
    for name in "abc":
        net.population(name, 1, du=4095, vth=100, v0=6401 if name == "a" else 0, record=True)
    net.connect("a", "b", weight=127, weight_exp=3, delay=2)
    net.connect("b", "c", weight=127, weight_exp=3, delay=3)
    r = run_both(net, 7)
    fired = [np.flatnonzero(r.spikes[:, k]).tolist() for k in range(3)]
    assert fired == [[0], [2], [5]]
    assert fired != [[0], [1], [2]]  # the one-tick rule
    assert fired != [[0], [1], [3]]  # delays counted from the emitting tick (d - 1)


def test_self_connection_with_delay():
    # a fires at tick 0; its own spike comes back 3 ticks later: u = 640 at tick 3 only.
    net = Network("selfd")
    net.population("a", 1, du=4095, vth=100, v0=6401, record=True)
    net.connect("a", "a", weight=10, allow_self=True, delay=3)
    r = run_both(net, 5)
    assert r.u[:, 0].tolist() == [0, 0, 0, 640, 0]


def test_delayed_input_landing_in_a_refractory_tick_reaches_u_not_v():
    # a fires at 0 (v0 = 6401), refractory 2 holds v at ticks 1, 2. Weight 100 stamped 0 with
    # delay 2 lands at tick 2: u_2 = 6400 (du = 0 keeps it), v_2 = 0 (held); tick 3:
    # u = T(6400 * 4095) = 6398, v = 6398, not above 6400. Dropping input that lands in a
    # refractory tick would leave u = 0.
    spikes, u, v = delayed_neuron(4, [(0, 100, 2)], du=0, dv=0, vth=100, v0=6401, refractory=2)
    assert spikes.tolist() == [True, False, False, False]
    assert u.tolist() == [0, 0, 6400, 6398]
    assert v.tolist() == [0, 0, 0, 6398]


def test_delayed_input_after_a_subtract_reset():
    # Subtract reset keeps v's excess; a delayed input lands on top of it. vth 100, dv = 0,
    # du = 4095, v0 = 7000: spike at 0, v = 600; weight 100 stamped 0, delay 2 -> tick 2:
    # v = 600 + 6400 = 7000 > 6400 -> spike, v = 600 again. Zero reset: v = 6400, no spike.
    spikes, _, v = delayed_neuron(
        3, [(0, 100, 2)], du=4095, dv=0, vth=100, v0=7000, reset="subtract"
    )
    assert spikes.tolist() == [True, False, True]
    assert v.tolist() == [600, 600, 600]
    spikes_z, _, _ = delayed_neuron(3, [(0, 100, 2)], du=4095, dv=0, vth=100, v0=7000)
    assert spikes_z.tolist() == [True, False, False]


@pytest.mark.parametrize("bad", [0, 16, -1, 1.5, True])
def test_delay_outside_1_to_15_is_refused(bad):
    from spikemesh.errors import NetworkError

    net = Network("bad")
    net.population("a", 1)
    with pytest.raises(NetworkError, match="delay"):
        net.connect("a", "a", weight=1, allow_self=True, delay=bad)
