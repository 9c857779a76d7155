"""spikemesh's functional TLM as a peer: the network is regenerated from its seed (the same
network the .npz holds) and set up with FastSim.from_network, which is what setup_s times."""

from __future__ import annotations

import argparse
import time

import numpy as np
from spikemesh.sim.fast import FastSim

from bench.peers.common import load, report
from bench.workload import make_workload


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("workload")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    w = load(args.workload)
    net = make_workload(int(w["n"]), seed=args.seed)
    ticks = int(w["ticks"])
    inputs = net.input_raster(ticks)
    t_in, i_in = np.nonzero(inputs)
    assert np.array_equal(t_in, w["inputs_t"]) and np.array_equal(i_in, w["inputs_i"])
    t0 = time.perf_counter()
    sim = FastSim.from_network(net)
    events_in = sim.input_events(ticks, inputs)  # raster -> per-tick id lists, like a peer's setup
    setup = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    spk_ptr, _, _, _ = sim.run_events(ticks, events_in)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    report(
        setup_s=setup,
        simulate_s=elapsed,
        simulate_cpu_s=cpu,
        neuron_spikes=int(spk_ptr[-1]),
        input_spikes=int(inputs.sum()),
        events=sim.events,
    )


if __name__ == "__main__":
    main()
