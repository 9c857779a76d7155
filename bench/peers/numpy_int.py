"""Plain numpy peer: chip.md §3 in int64 arithmetic, int32 accumulators fed by np.add.at.

Bit-exact with spikemesh (its spike counts must equal the fast TLM's): the same integer
update, the same one-tick delay, and accumulators that never come near wrapping on this
workload (which the fast TLM would wrap modulo 2^24; the run asserts that they stay within).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from bench.peers.common import load, report


def main(argv):
    w = load(argv[0])
    ticks = int(argv[1]) if len(argv) > 1 else int(w["ticks"])
    t0 = time.perf_counter()
    n, s = int(w["n"]), int(w["sources"])
    order = np.argsort(w["pre"], kind="stable")
    post = w["post"][order]
    weight = w["weight"][order].astype(np.int32)
    indptr = np.zeros(n + s + 1, dtype=np.int64)
    np.cumsum(np.bincount(w["pre"], minlength=n + s), out=indptr[1:])
    in_ptr = np.zeros(ticks + 1, dtype=np.int64)
    keep = w["inputs_t"] < ticks
    np.cumsum(np.bincount(w["inputs_t"][keep], minlength=ticks), out=in_ptr[1:])
    in_ids = w["inputs_i"][keep].astype(np.int64) + n
    fu = np.int64(4096 - (int(w["du"]) + 1))
    fv = np.int64(4096 - int(w["dv"]))
    bias, thr = np.int64(w["bias"]), np.int64(int(w["vth"]) << 6)
    u = np.zeros(n, dtype=np.int64)
    v = w["v0"].astype(np.int64)
    a = np.zeros(n, dtype=np.int32)
    setup = time.perf_counter() - t0

    def shr12(x):  # T(x): product shift rounding toward zero
        return np.sign(x) * (np.abs(x) >> 12)

    spikes = 0
    amax = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for t in range(ticks):
        amax = max(amax, int(np.abs(a).max()))
        u = shr12(u * fu) + (a.astype(np.int64) << 6)
        u = ((u + (1 << 23)) & ((1 << 24) - 1)) - (1 << 23)
        v = np.clip(shr12(v * fv) + u + bias, -(2**23 - 1), 2**23 - 1)
        fired = np.flatnonzero(v > thr)
        v[fired] = 0
        spikes += fired.size
        pre = np.concatenate([fired, in_ids[in_ptr[t] : in_ptr[t + 1]]])
        starts, lens = indptr[pre], indptr[pre + 1] - indptr[pre]
        # Gather every synapse of the rows that fired: index = row start + position in row.
        idx = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        a = np.zeros(n, dtype=np.int32)
        np.add.at(a, post[idx], weight[idx])
    sim, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert amax < 1 << 23, "accumulators would wrap at 24 bits; this peer does not model that"
    report(
        setup_s=setup,
        simulate_s=sim,
        simulate_cpu_s=cpu,
        neuron_spikes=spikes,
        input_spikes=int(in_ids.size),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
