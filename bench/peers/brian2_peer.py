"""Brian2 peer (float64): the same discrete-time LIF map, written as Brian2 code.

No differential equations: each time step (dt = 1 tick) ``run_regularly`` applies chip.md
§3's update in floating point (no rounding toward zero, no wrapping or saturation), the
threshold/reset is Brian2's, and ``on_pre: a_post += w`` accumulates the input for the next
step. Brian2's schedule (groups, thresholds, synapses, resets) gives the one-tick delay.
Its spikes are close to, not equal to, spikemesh's.

Usage: ``python -m bench.peers.brian2_peer WORKLOAD.npz {cpp_standalone,cython} [--threads K]``

``--threads 0`` builds cpp_standalone without OpenMP; Brian2 then times its loop with
``std::clock``, i.e. CPU time, reported as ``simulate_cpu_s`` (the wall time is unknown).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from bench.peers.common import load, report


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("workload")
    ap.add_argument("target", choices=["cpp_standalone", "cython"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--builddir", default=None)
    args = ap.parse_args(argv)
    w = load(args.workload)
    t_setup = time.perf_counter()
    import brian2 as b2

    b2.prefs.logging.console_log_level = "WARNING"
    standalone = args.target == "cpp_standalone"
    builddir = args.builddir or tempfile.mkdtemp(prefix="brian2_")
    if standalone:
        b2.set_device("cpp_standalone", directory=builddir, build_on_run=False)
        # With OpenMP (even one thread) Brian2 times its run loop with omp_get_wtime, wall
        # clock like every other peer's; without (threads 0) it uses std::clock: CPU time.
        b2.prefs.devices.cpp_standalone.openmp_threads = args.threads
    else:
        b2.prefs.codegen.target = "cython"
        b2.prefs.codegen.runtime.cython.cache_dir = os.path.join(
            os.path.expanduser("~"), ".cache", "spikemesh-bench-cython"
        )
    b2.defaultclock.dt = 1 * b2.ms
    n, ticks = int(w["n"]), int(w["ticks"])
    ns = {
        "fu": (4096 - (int(w["du"]) + 1)) / 4096,
        "fv": (4096 - int(w["dv"])) / 4096,
        "bias": float(w["bias"]),
        "vth": float(int(w["vth"]) << 6),
    }
    g = b2.NeuronGroup(n, "u : 1\nv : 1\na : 1", threshold="v > vth", reset="v = 0", namespace=ns)
    g.v = w["v0"].astype(float)
    g.run_regularly("u = u * fu + 64 * a\na = 0\nv = v * fv + u + bias", when="groups")
    src = b2.SpikeGeneratorGroup(
        int(w["sources"]), w["inputs_i"], w["inputs_t"] * b2.ms, sorted=True
    )
    pre, post, weight = w["pre"], w["post"], w["weight"]
    rec = pre < n
    s_rec = b2.Synapses(g, g, "w : 1", on_pre="a_post += w")
    s_rec.connect(i=pre[rec], j=post[rec])
    s_rec.w = weight[rec].astype(float)
    s_in = b2.Synapses(src, g, "w : 1", on_pre="a_post += w")
    s_in.connect(i=pre[~rec] - n, j=post[~rec])
    s_in.w = weight[~rec].astype(float)
    mon = b2.SpikeMonitor(g, record=False)
    mon_in = b2.SpikeMonitor(src, record=False)
    net = b2.Network(g, src, s_rec, s_in, mon, mon_in)
    if standalone:
        net.run(ticks * b2.ms)
        b2.device.build(directory=builddir, compile=True, run=True, debug=False)
        total = time.perf_counter() - t_setup
        sim = cpu = None
        if args.threads > 0:
            sim = float(b2.device._last_run_time)  # omp_get_wtime: wall
        else:
            cpu = float(b2.device._last_run_time)  # std::clock: CPU time
        setup = total - (sim if sim is not None else cpu)
    else:
        net.run(0 * b2.ms)  # code generation and Cython compilation (cached on disk)
        setup = time.perf_counter() - t_setup
        t0, c0 = time.perf_counter(), time.process_time()
        net.run(ticks * b2.ms)
        sim, cpu = time.perf_counter() - t0, time.process_time() - c0
    report(
        setup_s=setup,
        simulate_s=sim,
        simulate_cpu_s=cpu,
        neuron_spikes=int(mon.num_spikes),
        input_spikes=int(mon_in.num_spikes),
        threads=args.threads,
    )


if __name__ == "__main__":
    main()
