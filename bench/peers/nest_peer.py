"""NEST peer (optional): iaf_psc_exp, NEST's exact-integration current-based LIF.

The chip's per-tick decays become time constants (dt = 1 ms = one tick):
tau_syn = -1 / ln(1 - (du + 1) / 4096), tau_m = -1 / ln(1 - dv / 4096). Voltages are in
chip units / 64 (so the threshold is vth mV), C_m = 1 pF, the bias is a constant current of
(bias_mant << bias_exp) / 64 pA, and an event with hardware weight w is a jump of w pA in the
synaptic current, delayed by 1 ms. Continuous-time integration: close to, never equal to,
spikemesh's spikes. Skipped by bench/run_bench.py when ``import nest`` fails.

Usage: ``python -m bench.peers.nest_peer WORKLOAD.npz [--threads K]``
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from bench.peers.common import load, report


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("workload")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    w = load(args.workload)
    t0 = time.perf_counter()
    import nest

    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": 1.0, "local_num_threads": args.threads, "rng_seed": 1})
    n, s, ticks = int(w["n"]), int(w["sources"]), int(w["ticks"])
    tau_syn = -1.0 / math.log(1.0 - (int(w["du"]) + 1) / 4096)
    tau_m = -1.0 / math.log(1.0 - int(w["dv"]) / 4096)
    params = {
        "C_m": 1.0,
        "tau_m": tau_m,
        "tau_syn_ex": tau_syn,
        "tau_syn_in": tau_syn,
        "t_ref": 0.0,
        "E_L": 0.0,
        "V_reset": 0.0,
        "V_th": float(w["vth"]),
        "I_e": float(w["bias"]) / 64,
    }
    pop = nest.Create("iaf_psc_exp", n, params=params)
    pop.V_m = w["v0"].astype(float) / 64
    gens = nest.Create("spike_generator", s)
    t_in, i_in = w["inputs_t"], w["inputs_i"]
    order = np.lexsort((t_in, i_in))
    bounds = np.searchsorted(i_in[order], np.arange(s + 1))
    gens.set(
        [{"spike_times": (t_in[order[bounds[k] : bounds[k + 1]]] + 1.0).tolist()} for k in range(s)]
    )
    rec = nest.Create("spike_recorder")
    nest.Connect(pop, rec)
    pre, post, weight = w["pre"], w["post"], w["weight"].astype(float)
    first_pop, first_gen = pop[0].global_id, gens[0].global_id
    ids_pre = np.where(pre < n, pre + first_pop, pre - n + first_gen).astype(np.int64)
    ids_post = (post + first_pop).astype(np.int64)
    nest.Connect(
        ids_pre,
        ids_post,
        conn_spec="one_to_one",
        syn_spec={"weight": weight, "delay": np.ones(weight.size)},
    )
    nest.Prepare()
    setup = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    nest.Run(float(ticks))
    sim, cpu = time.perf_counter() - t0, time.process_time() - c0
    nest.Cleanup()
    report(
        setup_s=setup,
        simulate_s=sim,
        simulate_cpu_s=cpu,
        neuron_spikes=int(rec.n_events),
        input_spikes=int(t_in.size),
        threads=args.threads,
    )


if __name__ == "__main__":
    main()
