"""STDP finds a repeating spatio-temporal pattern hidden in noise (Masquelier, Guyonneau
and Thorpe 2008, PLoS ONE 3:e1377), on spikemesh's integer STDP (docs/learning.md).

200 afferents fire as Bernoulli noise. At random times, a fixed pattern is pasted in: for
PATTERN ticks, half of the afferents fire once each at fixed offsets instead of their noise,
so the pattern is not visible in the input rate, only in the timing. A few LIF
neurons listen to every afferent through plastic synapses and inhibit each other. Before
learning they fire at random; after, they fire at the pattern's occurrences and rarely
elsewhere.

    python examples/stdp_pattern.py [--ticks 40000] [--backend tlm] [--seed 1]

Every backend that learns runs it here but the board (which needs a board and its port):
golden and tlm from the network; tlm-timed, tlm-cycle and rtl from its chip image on a chip
of learning cores, loaded and read back over the host link (firmware/learned.py); all learn
the same weights.

It prints the hit rate (pattern occurrences with a spike of some neuron inside them) and
the false alarms (spikes outside every occurrence, per 1,000 ticks), over the first and
the last fifth of the run.
"""

from __future__ import annotations

import argparse

import numpy as np

from spikemesh.network import Network

AFFERENTS = 200
NOISE = 0.02  # per afferent per tick
PATTERN = 50  # ticks a pattern occurrence lasts: one spike per member, the noise rate
GAP = (150, 450)  # ticks between occurrences, uniform
NEURONS = 3
VTH = 1150
PROFILE = dict(
    a_plus=3,
    a_plus_shift=5,
    a_minus=4,
    a_minus_shift=5,  # depression slightly stronger: noise synapses fade
    pre_inc=127,
    pre_decay=225,
    post_inc=127,
    post_decay=225,
    w_min=0,
    w_max=60,
)


def make(ticks: int, seed: int = 1):
    """(network, onsets): the network with its input raster built in, and the ticks at
    which pattern occurrences start."""
    rng = np.random.default_rng(seed)
    raster = rng.random((ticks, AFFERENTS)) < NOISE
    members = rng.permutation(AFFERENTS)[: AFFERENTS // 2]
    offsets = rng.integers(0, PATTERN, size=members.size)
    onsets = []
    t = int(rng.integers(*GAP))
    while t + PATTERN < ticks:
        onsets.append(t)
        # The members' noise gives way to the pattern: the input rate barely changes.
        raster[t : t + PATTERN, members] = False
        raster[t + offsets, members] = True
        t += PATTERN + int(rng.integers(*GAP))
    tt, ii = np.nonzero(raster)
    net = Network("stdp_pattern")
    net.population("out", NEURONS, du=2048, dv=1024, vth=VTH, refractory=5)
    net.source("aff", AFFERENTS, spikes=np.stack([tt, ii], axis=1))
    net.connect(
        "aff",
        "out",
        connectivity="all_to_all",
        weight={"uniform": [25, 36], "seed": seed},
        plasticity=PROFILE,
    )
    net.connect("out", "out", weight=-128, weight_exp=4)  # winner takes the occurrence
    return net, np.array(onsets)


def score(spikes, onsets, lo, hi):
    """(hit rate, false alarms per 1,000 ticks, share of spikes inside occurrences, number
    of occurrences) over ticks lo..hi-1."""
    fired = spikes.any(axis=1)
    inside = np.zeros(fired.size, dtype=bool)
    occ = [t for t in onsets if lo <= t and t + PATTERN <= hi]
    for t in occ:
        inside[t : t + PATTERN] = True
    hits = sum(bool(fired[t : t + PATTERN].any()) for t in occ)
    false = int((spikes[lo:hi] & ~inside[lo:hi, None]).sum())
    total = int(spikes[lo:hi].sum())
    share = (total - false) / max(total, 1)
    return hits / max(len(occ), 1), 1000 * false / (hi - lo), share, len(occ)


def run(net, ticks: int, backend: str):
    """The run's Result on ``backend`` (spikemesh.backends.PLASTIC_BACKENDS)."""
    if backend == "tlm":
        from spikemesh.sim.fast import run_fast

        return run_fast(net, ticks)
    if backend == "golden":
        from spikemesh.golden import run_golden

        return run_golden(net, ticks)
    from spikemesh.firmware import auto_chip, compile_network
    from spikemesh.firmware.learned import run_plastic

    image, _ = compile_network(net, auto_chip(net))
    return run_plastic(net, image, net.input_raster(ticks), ticks, backend=backend)[0]


def main(argv=None):
    from spikemesh.backends import PLASTIC_BACKENDS

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ticks", type=int, default=40000)
    here = [b for b in PLASTIC_BACKENDS if b != "board"]
    ap.add_argument("--backend", choices=here, default="tlm")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    net, onsets = make(args.ticks, args.seed)
    r = run(net, args.ticks, args.backend)
    fifth = args.ticks // 5
    for label, lo, hi in (("first", 0, fifth), ("last", args.ticks - fifth, args.ticks)):
        hit, fa, share, n = score(r.spikes, onsets, lo, hi)
        cover = n * PATTERN / (hi - lo)
        print(
            f"{label} fifth: hit rate {hit:.0%} of {n} occurrences, "
            f"{fa:.1f} false alarms per 1,000 ticks, {share:.0%} of spikes inside "
            f"occurrences (which cover {cover:.0%} of the time)"
        )
    w = r.extra["weights"][0].reshape(AFFERENTS, NEURONS)
    print(f"spikes per neuron: {r.spikes.sum(axis=0).tolist()}")
    print(f"mean final weight per neuron: {np.round(w.mean(axis=0), 1).tolist()}")
    return r, onsets


if __name__ == "__main__":
    main()
