"""The example networks load, run quickly, and stay active (not silent, not saturated)."""

import runpy
import time
from pathlib import Path

import numpy as np
import pytest

from spikemesh.golden import run_golden
from spikemesh.netfile import load_network

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("name", ["synfire.yaml", "ei_random.yaml"])
def test_example_runs_fast_with_sustained_activity(name):
    net = load_network(EXAMPLES / name)
    t0 = time.perf_counter()
    r = run_golden(net, 300)
    assert time.perf_counter() - t0 < 3  # "about a second" with room for a busy machine
    late = r.spikes[200:]  # long after any start-up transient
    for p in net.populations:
        rate = late[:, p.offset : p.offset + p.size].mean()
        assert 0.01 < rate < 0.5, (p.name, rate)
    # every one of the last 100 ticks has some activity
    per_tick = late.sum(axis=1)
    assert per_tick.min() > 0


def test_synfire_volley_moves_one_group_per_tick():
    net = load_network(EXAMPLES / "synfire.yaml")
    r = run_golden(net, 120)
    groups = np.stack(
        [r.spikes[:, p.offset : p.offset + p.size].sum(axis=1) for p in net.populations], axis=1
    )
    # the kick at tick 0 fires g0 at tick 1 (one tick of delay), then g1 at 2, ... g7 at 8,
    # g0 again at 9: a period of 8 ticks, with most of each group taking part
    for t in range(1, 100):
        active = np.flatnonzero(groups[t])
        assert active.tolist() == [(t - 1) % 8], t
        assert groups[t, active[0]] >= 20


def test_synfire_second_kick_starts_a_second_volley():
    net = load_network(EXAMPLES / "synfire.yaml")
    r = run_golden(net, 300)
    before, after = r.spikes[60:120].sum(), r.spikes[200:260].sum()
    assert 1.7 < after / before < 2.3


def test_ei_random_is_irregular():
    net = load_network(EXAMPLES / "ei_random.yaml")
    r = run_golden(net, 300)
    exc = r.spikes[100:, net["exc"].offset : net["exc"].offset + net["exc"].size]
    assert (exc.sum(axis=0) > 0).mean() > 0.5  # most excitatory cells take part
    counts = exc.sum(axis=1)
    assert counts.std() / counts.mean() > 0.1  # not a clockwork oscillation


@pytest.mark.cocotb
def test_demo_runs(capsys):
    """`make demo`: every backend (the RTL on Verilator) agrees with golden, and RTL cycles
    equal the timed TLM's."""
    mod = runpy.run_path(str(EXAMPLES / "demo.py"))
    assert mod["main"]() == 0
    out = capsys.readouterr().out
    assert "synfire: 200 ticks on golden" in out
    for name in ("tlm", "tlm-timed", "rtl"):
        assert f"{name} vs golden: identical" in out
    assert "rtl vs tlm-timed: cycles of every tick identical" in out
