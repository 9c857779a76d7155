"""Energy and latency model (docs/energy.md): profiles, their validation, the arithmetic."""

import numpy as np
import pytest
import yaml

from spikemesh.counters import counters_from_image
from spikemesh.energy import (
    ENERGY_KEYS,
    EnergyProfile,
    EnergyProfileError,
    builtin_profiles,
    energy,
    load_profile,
)
from tests.test_counters import hand_network

# Powers of ten per operation: the energy of a tick spells out its counts digit by digit.
DECIMAL = {
    "name": "decimal",
    "version": 3,
    "clock_mhz": 10.0,
    "energy_pj": {
        "sop": 1,
        "event": 10,
        "neuron_update": 100,
        "spike": 1000,
        "flit": 10_000,
        "hop_ew": 100_000,
        "hop_ns": 1_000_000,
    },
    "static_mw": {"per_tile": 1.0, "fixed": 2.0},
}


@pytest.fixture
def hand_counters():
    _, image, result = hand_network()
    result.cycles = np.array([30, 20, 12])
    return counters_from_image(image, result)


def test_energy_of_the_hand_network(hand_counters):
    e = energy(hand_counters, EnergyProfile.from_dict(DECIMAL))
    # tick 0 (tests/test_counters.py::hand_expected): 3 + 1 + 3 = 7 SOPs, 5 events,
    # 64 updates, 2 spikes, 3 + 2 core flits + 1 host flit = 6 flits,
    # E-W hops 3 (E) + 3 (W, the host link's included) = 6, N-S hops 2 + 2 = 4
    dyn0 = 7 * 1 + 5 * 10 + 64 * 100 + 2 * 1000 + 6 * 10_000 + 6 * 100_000 + 4 * 1_000_000
    # tick 1: 2 SOPs, 1 event, 64 updates, 2 spikes, 2 flits, E-W 3, N-S 2
    dyn1 = 2 + 10 + 6400 + 2000 + 20_000 + 300_000 + 2_000_000
    dyn2 = 6400  # tick 2: only the neuron updates
    assert np.allclose(e.dynamic, np.array([dyn0, dyn1, dyn2]) * 1e-12)
    assert np.allclose(e.per_tick["synapses"], np.array([57, 12, 0]) * 1e-12)
    # latency = cycles / 10 MHz; static = (4 tiles x 1 mW + 2 mW) x latency
    assert np.allclose(e.latency, [3e-6, 2e-6, 1.2e-6])
    assert np.allclose(e.per_tick["static"], 6e-3 * np.array([3e-6, 2e-6, 1.2e-6]))
    t = e.totals()
    assert t["latency_s"] == pytest.approx(6.2e-6)
    assert t["total"] == pytest.approx((dyn0 + dyn1 + dyn2) * 1e-12 + 6e-3 * 6.2e-6)
    assert t["edp_js"] == pytest.approx(t["total"] * 6.2e-6)


def test_a_wrong_energy_weight_changes_the_total(hand_counters):
    right = energy(hand_counters, EnergyProfile.from_dict(DECIMAL)).totals()["dynamic"]
    wrong = {**DECIMAL, "energy_pj": {**DECIMAL["energy_pj"], "hop_ns": 1_000_001}}
    assert energy(hand_counters, EnergyProfile.from_dict(wrong)).totals()["dynamic"] != right


def test_without_cycles_there_is_no_latency_static_or_edp():
    _, image, result = hand_network()
    e = energy(counters_from_image(image, result), "loihi")
    t = e.totals()
    assert t["latency_s"] is None and t["static"] is None and t["edp_js"] is None
    assert t["total"] == t["dynamic"] > 0
    d = e.to_dict()
    assert d["includes_static"] is False and d["per_tick_j"]["static"] is None


def test_builtin_profiles():
    assert {"loihi", "fpga-ecp5"} <= set(builtin_profiles())
    loihi = load_profile("loihi")
    # Davies et al. 2018, Table 2 (0.75 V)
    assert loihi.energy_pj == {
        "sop": 23.6,
        "event": 0.0,
        "neuron_update": 52.0,
        "spike": 81.0 - 52.0,
        "flit": 1.7,
        "hop_ew": 3.0,
        "hop_ns": 4.0,
    }
    assert loihi.clock_mhz == pytest.approx(1e3 / 3.5, rel=1e-3)
    assert "Davies" in loihi.citation and loihi.kind == "published"
    fpga = load_profile("fpga-ecp5")
    assert fpga.kind == "estimate" and fpga.clock_mhz == 25.0
    assert "estimate" in fpga.citation.lower()


def test_user_profile_file(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text(yaml.safe_dump(DECIMAL))
    prof = load_profile(str(p))
    assert prof.name == "decimal" and prof.version == 3 and prof.path == str(p)
    assert load_profile(p) == prof


def bad(**change):
    data = {**DECIMAL, **change}
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize(
    "data, message",
    [
        (bad(colour="red"), "unknown key(s) colour; known keys are name, version, clock_mhz"),
        (bad(clock_mhz=None), "missing clock_mhz (the clock in MHz that turns cycles"),
        (bad(clock_mhz=0), "clock_mhz must be positive, not 0.0"),
        (bad(clock_mhz="fast"), "clock_mhz must be a finite number, not 'fast'"),
        (bad(static_mw=None), "missing key(s) static_mw"),
        (bad(version=0), "version must be a positive integer, not 0"),
        (bad(name=""), "name must be a non-empty string"),
        (
            bad(energy_pj={**DECIMAL["energy_pj"], "sop": -1}),
            "energy_pj.sop must not be negative, not -1 pJ",
        ),
        (
            bad(energy_pj={**DECIMAL["energy_pj"], "sops": 1}),
            "energy_pj: unknown key(s) sops; known keys are sop, event",
        ),
        (
            bad(energy_pj={k: 1 for k in ENERGY_KEYS if k != "spike"}),
            "energy_pj: missing spike (write 0 for an operation that costs nothing)",
        ),
        (bad(static_mw={"per_tile": 1, "fixed": -2}), "static_mw.fixed must not be negative"),
        (bad(energy_pj=[1, 2]), "energy_pj must be a mapping of sop, event"),
        ([1, 2], "must be a mapping of keys, not list"),
    ],
)
def test_bad_profiles_are_refused(tmp_path, data, message):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(EnergyProfileError) as e:
        load_profile(str(p))
    assert message in str(e.value)
    assert str(p) in str(e.value)


def test_unknown_profile_names_and_files(tmp_path):
    with pytest.raises(EnergyProfileError, match="unknown energy profile 'tpu'; built-in"):
        load_profile("tpu")
    with pytest.raises(EnergyProfileError, match="does not exist"):
        load_profile(str(tmp_path / "nope.yaml"))
    (tmp_path / "broken.yaml").write_text("energy_pj: [1,\n")
    with pytest.raises(EnergyProfileError, match="not valid YAML"):
        load_profile(str(tmp_path / "broken.yaml"))
    with pytest.raises(EnergyProfileError, match="is a name or a YAML file"):
        load_profile(42)
