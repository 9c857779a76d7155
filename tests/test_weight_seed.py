"""A random weight range without a seed of its own must not reuse the connectivity stream."""

import numpy as np

from spikemesh.network import Network


def test_borrowed_seed_weights_are_independent_of_targets():
    net = Network()
    net.population("a", 1000)
    p = net.connect(
        "a", "a", connectivity="fixed_fanout", fanout=64, weight={"uniform": [-64, 128]}, seed=3
    )
    r = np.corrcoef(p.weight.astype(float), p.post_idx.astype(float))[0, 1]
    assert abs(r) < 0.05, f"weights correlate with targets (r = {r:.2f})"


def test_own_seed_still_reproduces():
    net = Network()
    net.population("a", 50)
    w1 = net.connect("a", "a", weight={"uniform": [0, 100], "seed": 9}).weight
    w2 = net.connect("a", "a", weight={"uniform": [0, 100], "seed": 9}).weight
    assert np.array_equal(w1, w2)
