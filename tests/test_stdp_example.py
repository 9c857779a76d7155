"""examples/stdp_pattern.py: golden and the fast TLM learn alike, and learning makes the
neurons fire at the hidden pattern's occurrences (numbers in docs/learning.md)."""

import importlib.util
from pathlib import Path

import numpy as np
from spikemesh.sim.fast import run_fast

from spikemesh.golden import run_golden

_spec = importlib.util.spec_from_file_location(
    "stdp_pattern", Path(__file__).resolve().parents[1] / "examples" / "stdp_pattern.py"
)
ex = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ex)


def test_golden_equals_tlm_on_the_example():
    net, _ = ex.make(3000, seed=1)
    g, f = run_golden(net, 3000), run_fast(net, 3000)
    assert g.diff(f) == []
    assert int(np.sum(g.extra["weights"][0] != net.projections[0].weight)) > 100


def test_learning_finds_the_pattern():
    for seed in (1, 2):
        net, onsets = ex.make(40000, seed=seed)
        r = run_fast(net, 40000)
        _, fa0, share0, _ = ex.score(r.spikes, onsets, 0, 8000)
        hit1, fa1, share1, _ = ex.score(r.spikes, onsets, 32000, 40000)
        assert fa1 < fa0 / 3 and fa1 < 3  # false alarms per 1,000 ticks
        assert share1 > 0.65 > share0 + 0.2  # spikes move into the occurrences
        assert hit1 >= 0.65


def test_the_example_learns_alike_on_the_compiled_chip_model():
    """--backend tlm-timed: the example's image on a chip of learning cores, run by the
    compiled cycle model, learns golden's weights (and spikes, u/v, traces)."""
    net, _ = ex.make(1000, seed=1)
    r = ex.run(net, 1000, "tlm-timed")
    g = run_golden(net, 1000)
    assert g.diff(r) == []
    for key in ("pre_trace", "post_trace"):
        assert np.array_equal(g.extra[key], r.extra[key])
    for a, b in zip(g.extra["weights"], r.extra["weights"], strict=True):
        assert np.array_equal(a, b)
    assert int(np.sum(r.extra["weights"][0] != net.projections[0].weight)) > 100
