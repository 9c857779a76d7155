"""Random networks for equivalence tests, reproducible from a seed."""

import numpy as np

from spikemesh.network import Network


def random_network(
    seed: int,
    *,
    max_neurons=120,
    recurrent=True,
    sources=True,
    max_pops=3,
    reset="zero",
    max_delay=1,
):
    """A random recurrent/feed-forward network with inputs, refractory, biases and mixed weights.

    ``reset``: every population's reset mode, ``zero`` or ``subtract``, or ``mixed`` (each
    population's drawn from its own stream, so the network is otherwise the same for every
    choice). ``max_delay``: each projection's delay is drawn from 1..max_delay, from its own
    stream too (1: every delay 1, the network of a chip without delays).
    """
    delays = np.random.default_rng([seed, 2]).integers(1, max_delay + 1, 64)
    rng = np.random.default_rng(seed)
    modes = np.random.default_rng([seed, 14]).choice(["zero", "subtract"], max_pops)
    if reset != "mixed":
        modes[:] = reset
    net = Network(f"rand{seed}")
    n_pops = int(rng.integers(1, max_pops + 1))
    pops = []
    for k in range(n_pops):
        size = int(rng.integers(4, max(5, max_neurons // n_pops)))
        vth = int(rng.integers(20, 400))
        pops.append(
            net.population(
                f"p{k}",
                size,
                du=int(rng.integers(0, 4096)),
                dv=int(rng.integers(0, 1024)),
                vth=vth,
                # a positive bias on most populations keeps the network active
                bias_mant=int(rng.integers(-50, 400)),
                bias_exp=int(rng.integers(2, 6)),
                refractory=int(rng.integers(0, 4)) if rng.random() < 0.5 else 0,
                reset=str(modes[k]),
                v0={"uniform": [-(vth << 6), vth << 6], "seed": seed + k},
                u0={"uniform": [-1000, 1000], "seed": seed + 100 + k},
                record=bool(rng.random() < 0.7),
            )
        )
    if sources:
        net.source(
            "in", int(rng.integers(2, 30)), bernoulli=float(rng.uniform(0.02, 0.3)), seed=seed
        )
    names = [p.name for p in pops]
    pres = names + (["in"] if sources else [])
    for k, pre in enumerate(pres):
        for post in names:
            if not recurrent and (
                pre == post or (pre != "in" and names.index(post) <= names.index(pre))
            ):
                continue
            if rng.random() < 0.6:
                kind = rng.choice(
                    ["fixed_probability", "fixed_fanout", "all_to_all"], p=[0.5, 0.4, 0.1]
                )
                kw = {}
                if kind == "fixed_probability":
                    kw["p"] = float(rng.uniform(0.05, 0.4))
                elif kind == "fixed_fanout":
                    avail = net[post].size - (1 if pre == post else 0)
                    kw["fanout"] = int(rng.integers(0, max(1, min(avail, 12)) + 1))
                lo = int(rng.integers(-128, 0))
                hi = int(rng.integers(1, 128))
                net.connect(
                    pre,
                    post,
                    connectivity=str(kind),
                    weight={"uniform": [lo, hi]},
                    weight_exp=int(rng.integers(0, 4)),
                    seed=seed * 31 + k,
                    delay=int(delays[len(net.projections)]),
                    **kw,
                )
    return net
