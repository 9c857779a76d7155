"""Result: comparison messages (what backends are checked with) and the .npz round trip."""

import numpy as np

from spikemesh.golden import Result, run_golden
from spikemesh.netfile import load_network

NET = """\
populations:
  - {name: a, size: 5, vth: 10, bias_mant: 300, record: true}
"""


def result(ticks=6):
    return run_golden(load_network(NET), ticks)


def test_equal_results_have_no_diff():
    assert result().diff(result()) == []


def test_diff_names_the_first_differing_tick_and_neurons():
    a, b = result(), result()
    b.spikes = b.spikes.copy()
    b.spikes[3, [1, 4]] ^= True
    b.spikes[5, 0] ^= True
    assert a.diff(b) == ["spikes differ at 2 tick(s); first at tick 3, neurons [1, 4]"]


def test_diff_of_state_and_shapes():
    a, b = result(), result()
    b.final_v = b.final_v + 1
    b.u = b.u.copy()
    b.u[0, 0] += 1
    assert a.diff(b) == ["u differs", "final_v differs"]
    assert a.diff(result(7)) == ["spike rasters differ in shape: (6, 5) vs (7, 5)"]


def test_diff_of_cycles_only_when_asked():
    a, b = result(), result()
    a.cycles = np.array([10, 10, 10, 10, 10, 10])
    b.cycles = np.array([10, 10, 12, 10, 11, 10])
    assert a.diff(b) == []
    assert a.diff(b, cycles=True) == ["cycles differ at 2 tick(s); first at tick 2: 10 vs 12"]


def test_save_load_round_trip(tmp_path):
    net = load_network(NET)
    r = run_golden(net, 9)
    r.save(tmp_path / "r.npz", net)
    back = Result.load(tmp_path / "r.npz")
    assert back.diff(r) == []
    assert back.backend == "golden"
    assert back.cycles is None
    assert back.extra["population_names"].tolist() == ["a"]
    assert back.ticks == 9
