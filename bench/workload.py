"""The standard "recurrent-LIF" workload of benchmarks.md, as a spikemesh Network.

One population of N LIF neurons driven by P = 1,000 Bernoulli(0.02) sources; every source
and every neuron has 64 distinct random targets (no self-connections). Weights are drawn
as benchmarks.md says and then doubled. The chip's 8-bit weights cannot hold 2w for w up
to 127, so the doubling is written the chip's way: weight w with weight exponent 1, which
adds exactly 2w per event (``w << 1``), the same integer Lava's "weight 2w, exponent 0" adds.

``export_workload`` writes the generated network and its input raster to one .npz that
every peer simulator (bench/peers/) loads, so all of them run the very same network.
"""

from __future__ import annotations

import numpy as np

from spikemesh.network import Network

FANOUT = 64
SOURCES = 1000
P_INPUT = 0.02
DU, DV, BIAS_MANT, BIAS_EXP = 1023, 256, 100, 6
WEIGHT_EXP = 1  # "all weights doubled": the event adds w << 1


def vth_for(n: int) -> int:
    """Threshold mantissa of benchmarks.md: 1700 at N = 4,096, 1500 at N = 65,536 and above."""
    return 1700 if n <= 4096 else 1500


def make_workload(
    n: int = 4096,
    *,
    seed: int = 1,
    sources: int = SOURCES,
    p: float = P_INPUT,
    fanout: int = FANOUT,
    vth: int | None = None,
    record: bool = False,
) -> Network:
    """Build the standard workload with ``n`` neurons.

    Parameters
    ----------
    n : int
        Neurons (4,096 and 65,536 are the two standard sizes).
    seed : int
        Everything random (inputs, targets, weights, initial v) derives from it.
    vth : int, optional
        Threshold mantissa; by default :func:`vth_for` ``(n)``.
    record : bool
        Trace u and v of every neuron (only sensible for short runs).
    """
    vth = vth_for(n) if vth is None else vth
    ss = np.random.SeedSequence(seed)
    s_in, s_conn_in, s_conn_rec, s_w, s_v = (int(x.generate_state(1)[0]) for x in ss.spawn(5))
    rng_w = np.random.default_rng(s_w)
    rng_v = np.random.default_rng(s_v)
    net = Network(f"recurrent-lif-{n}")
    net.population(
        "lif",
        n,
        du=DU,
        dv=DV,
        vth=vth,
        bias_mant=BIAS_MANT,
        bias_exp=BIAS_EXP,
        refractory=0,
        u0=0,
        v0=rng_v.integers(0, vth << 6, size=n),
        record=record,
    )
    net.source("in", sources, bernoulli=p, seed=s_in)
    # Input weights uniform in [-64, 127]; int8 keeps a million-neuron build small.
    w_in = rng_w.integers(-64, 128, size=sources * fanout, dtype=np.int8)
    # Recurrent weights: inhibitory (uniform [-64, -1]) with probability 0.75, else
    # excitatory (uniform [0, 127]).
    w_rec = rng_w.integers(0, 128, size=n * fanout, dtype=np.int8)
    inh = rng_w.random(n * fanout, dtype=np.float32) < 0.75
    w_rec[inh] = rng_w.integers(-64, 0, size=int(inh.sum()), dtype=np.int8)
    del inh
    net.connect(
        "in",
        "lif",
        connectivity="fixed_fanout",
        fanout=fanout,
        weight=w_in,
        weight_exp=WEIGHT_EXP,
        seed=s_conn_in,
    )
    net.connect(
        "lif",
        "lif",
        connectivity="fixed_fanout",
        fanout=fanout,
        weight=w_rec,
        weight_exp=WEIGHT_EXP,
        seed=s_conn_rec,
        allow_self=False,
    )
    return net


def export_workload(net: Network, ticks: int, path) -> None:
    """Write the flat network and its input raster for the peer simulators.

    Keys: ``n``, ``sources``, ``ticks``, ``pre``/``post``/``weight`` (int32; pre uses the
    spikemesh numbering, neurons then N + source id; weight is what one event adds),
    ``inputs_t``/``inputs_i`` (input spike ticks and source ids), ``v0``, and the LIF
    parameters ``du``, ``dv``, ``vth``, ``bias`` (= bias_mant << bias_exp).
    """
    pre, post, w, e = net.synapse_arrays()
    (pop,) = net.populations
    raster = net.input_raster(ticks)
    t_in, i_in = np.nonzero(raster)
    prm = pop.params
    np.savez(
        path,
        n=net.num_neurons,
        sources=net.num_sources,
        ticks=ticks,
        pre=pre.astype(np.int32),
        post=post.astype(np.int32),
        weight=(w << e).astype(np.int32),
        inputs_t=t_in.astype(np.int32),
        inputs_i=i_in.astype(np.int32),
        v0=pop.v0.astype(np.int32),
        du=prm.du,
        dv=prm.dv,
        vth=prm.vth,
        bias=prm.bias_mant << prm.bias_exp,
    )
