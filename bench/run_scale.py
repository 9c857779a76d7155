"""A million-neuron recurrent-LIF network in the fast TLM: setup time, speed, peak memory.

    python bench/run_scale.py [--neurons 1048576] [--ticks 1000] [--progress]

The network is the standard workload (bench/workload.py) at N = 1,048,576: fan-out 64 for
every neuron and for each of the 1,000 Bernoulli(0.02) inputs, vth = 1500, built through
the ordinary Network API (Network.connect, fixed_fanout) and set up with
FastSim.from_network. The whole run is one child process, so its peak RSS (VmHWM) is
the peak of generation + setup + simulation. Spikes are kept as event lists
(FastSim.run_events), not as a T x N boolean raster (which alone would be 1 GB).

The result replaces the section between the ``scale`` markers of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- scale:begin (written by bench/run_scale.py) -->", "<!-- scale:end -->"


def rss_mb():
    """Peak RSS of this process so far (VmHWM: restarts at exec, unlike ru_maxrss)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(n, ticks, progress):
    """Generate, set up and run; print one JSON line."""
    from spikemesh.sim.fast import FastSim

    from bench.workload import make_workload

    out = {"neurons": n, "ticks": ticks, "rss_start_mb": rss_mb()}
    t0 = time.perf_counter()
    net = make_workload(n)
    out["generate_s"] = time.perf_counter() - t0
    out["synapses"] = net.num_synapses
    out["rss_after_generate_mb"] = rss_mb()
    raster = net.input_raster(ticks)
    t0 = time.perf_counter()
    sim = FastSim.from_network(net)
    events_in = sim.input_events(ticks, raster)
    out["setup_s"] = time.perf_counter() - t0
    out["rss_after_setup_mb"] = rss_mb()
    out["csr_mb"] = (sim.indptr.nbytes + sim.post.nbytes + sim.weight.nbytes) / 2**20
    del net  # the fast TLM keeps only its CSR and state
    t0, c0 = time.perf_counter(), time.process_time()
    spk_ptr, _, _, _ = sim.run_events(ticks, events_in, progress=progress)
    out["simulate_s"] = time.perf_counter() - t0
    out["simulate_cpu_s"] = time.process_time() - c0
    out["neuron_spikes"] = int(spk_ptr[-1])
    out["input_spikes"] = int(events_in[1].size)
    out["events"] = sim.events
    out["rate"] = out["neuron_spikes"] / (n * ticks)
    out["rss_peak_mb"] = rss_mb()
    print(json.dumps(out), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--neurons", type=int, default=1 << 20)
    ap.add_argument("--ticks", type=int, default=1000)
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args(argv)
    if args.child:
        return child(args.neurons, args.ticks, args.progress)
    load0 = os.getloadavg()[0]
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--neurons",
        str(args.neurons),
        "--ticks",
        str(args.ticks),
    ] + (["--progress"] if args.progress else [])
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
    wall = time.perf_counter() - t0
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["wall_s"] = wall
    res["load"] = (load0, os.getloadavg()[0])
    print(json.dumps(res, indent=1))
    if not args.no_doc:
        write_doc(res)


def write_doc(r):
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    mev = r["events"] / r["simulate_s"] / 1e6
    mev_cpu = r["events"] / r["simulate_cpu_s"] / 1e6
    block = "\n".join(
        [
            BEGIN,
            "",
            f"Measured {stamp} by `python bench/run_scale.py --neurons {r['neurons']} --ticks "
            f"{r['ticks']}` (one process; load average {r['load'][0]:.2f} before, "
            f"{r['load'][1]:.2f} after).",
            "",
            "| quantity | value |",
            "|---|---:|",
            f"| neurons | {r['neurons']:,} |",
            f"| synapses (fan-out 64, incl. 1,000 inputs) | {r['synapses']:,} |",
            f"| generate the Network (Network API, fixed_fanout) | {r['generate_s']:.1f} s |",
            f"| setup: Network -> FastSim ready (CSR build) | {r['setup_s']:.2f} s |",
            f"| CSR size (indptr + uint32 post + int8 weight) | {r['csr_mb']:,.0f} MiB |",
            f"| simulate {r['ticks']:,} ticks, wall (CPU) | {r['simulate_s']:.2f} s "
            f"({r['simulate_cpu_s']:.2f} s) |",
            f"| ticks/s, wall | {r['ticks'] / r['simulate_s']:,.0f} |",
            f"| synaptic events | {r['events']:,} |",
            f"| Mevents/s, wall (CPU) | {mev:,.0f} ({mev_cpu:,.0f}) |",
            f"| firing rate | {100 * r['rate']:.2f} % per tick |",
            f"| peak RSS after generation | {r['rss_after_generate_mb']:,.0f} MiB |",
            f"| peak RSS after setup | {r['rss_after_setup_mb']:,.0f} MiB |",
            f"| peak RSS, whole run | {r['rss_peak_mb']:,.0f} MiB |",
            "",
            END,
        ]
    )
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        a, b = text.index(BEGIN), text.index(END) + len(END)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


if __name__ == "__main__":
    main()
