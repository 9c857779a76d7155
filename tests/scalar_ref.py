"""An independent scalar reference of chip.md §2-§4, for tests only.

Written from chip.md, not from spikemesh.neuron or spikemesh.golden: plain
Python integers (unbounded, so nothing overflows by accident), one neuron at a
time, explicit per-event accumulation that wraps after every addition the way
a hardware accumulator does. The only things taken from spikemesh are the
network's own description (populations, projections, input raster).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STATE_BITS = 24
SAT = (1 << 23) - 1


def shift12_toward_zero(x: int) -> int:
    """chip.md T(x) = sign(x) * (|x| >> 12)."""
    mag = abs(x) >> 12
    return -mag if x < 0 else mag


def wrap_bits(x: int, bits: int) -> int:
    """x modulo 2**bits, read back as a two's complement number."""
    x %= 1 << bits  # Python's % is non-negative for a positive modulus
    return x - (1 << bits) if x >= 1 << (bits - 1) else x


def sat24(x: int) -> int:
    return max(-SAT, min(SAT, x))


@dataclass
class ScalarNeuron:
    du: int
    dv: int
    vth: int
    bias_mant: int
    bias_exp: int
    refractory: int
    reset: str = "zero"  # "zero": v = 0 after a spike; "subtract": v minus the threshold
    u: int = 0
    v: int = 0
    counter: int = 0

    def step(self, a: int) -> bool:
        """One tick with accumulated input ``a``; returns whether the neuron spikes."""
        self.u = wrap_bits(shift12_toward_zero(self.u * (4096 - (self.du + 1))) + a * 64, 24)
        if self.counter > 0:
            self.counter -= 1
            self.v = 0
            return False
        bias = self.bias_mant * (2**self.bias_exp)
        self.v = sat24(shift12_toward_zero(self.v * (4096 - self.dv)) + self.u + bias)
        if self.v > self.vth * 64:
            self.v = self.v - self.vth * 64 if self.reset == "subtract" else 0
            self.counter = self.refractory
            return True
        return False


@dataclass
class ScalarResult:
    spikes: np.ndarray  # bool [T, N]
    u: np.ndarray  # int [T, N], every neuron after each tick
    v: np.ndarray
    final_u: np.ndarray
    final_v: np.ndarray


def run_scalar(net, ticks: int, *, acc_bits: int = 24, inputs=None) -> ScalarResult:
    """Run ``net`` for ``ticks`` ticks, one neuron and one event at a time."""
    neurons: list[ScalarNeuron] = []
    first = {}  # name -> first global id, counted here rather than read from the network
    for pop in net.populations:
        first[pop.name] = len(neurons)
        p = pop.params
        for k in range(pop.size):
            neurons.append(
                ScalarNeuron(
                    p.du,
                    p.dv,
                    p.vth,
                    p.bias_mant,
                    p.bias_exp,
                    p.refractory,
                    p.reset,
                    u=int(pop.u0[k]),
                    v=int(pop.v0[k]),
                )
            )
    n = len(neurons)
    src_first, s = {}, 0
    for src in net.sources:
        src_first[src.name] = s
        s += src.size
    # fan-out lists: presynaptic key ("n", id) or ("s", id) -> [(post id, weight << exp)]
    fanout: dict[tuple, list] = {}
    for pr in net.projections:
        is_src = pr.pre in src_first
        base = src_first[pr.pre] if is_src else first[pr.pre]
        for i, j, w in zip(
            pr.pre_idx.tolist(), pr.post_idx.tolist(), pr.weight.tolist(), strict=True
        ):
            key = ("s" if is_src else "n", base + i)
            fanout.setdefault(key, []).append(
                (first[pr.post] + j, w * 2**pr.weight_exp, getattr(pr, "delay", 1))
            )
    raster = net.input_raster(ticks) if inputs is None else inputs

    spikes = np.zeros((ticks, n), dtype=bool)
    u_tr = np.zeros((ticks, n), dtype=np.int64)
    v_tr = np.zeros((ticks, n), dtype=np.int64)
    # future[t] = the input of tick t, built one event at a time as events are emitted; an
    # event of tick t over a synapse of delay d is integrated at t + d.
    future: dict[int, list] = {}
    for t in range(ticks):
        acc = future.pop(t, [0] * n)  # nothing arrives before tick 0
        fired = []
        for i, nrn in enumerate(neurons):
            if nrn.step(acc[i]):
                spikes[t, i] = True
                fired.append(("n", i))
            u_tr[t, i], v_tr[t, i] = nrn.u, nrn.v
        fired += [("s", int(k)) for k in np.flatnonzero(raster[t])]
        for key in fired:
            for post, wv, d in fanout.get(key, ()):
                nxt = future.setdefault(t + d, [0] * n)
                nxt[post] = wrap_bits(nxt[post] + wv, acc_bits)
    final_u = np.array([x.u for x in neurons], dtype=np.int64)
    final_v = np.array([x.v for x in neurons], dtype=np.int64)
    return ScalarResult(spikes, u_tr, v_tr, final_u, final_v)
