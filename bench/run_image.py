"""The compiled-image path of the functional TLM: network -> chip image -> fast kernel.

    python bench/run_image.py [--sizes 4096 65536 1048576] [--ticks 1000]

What the ``tlm`` backend runs is a compiled chip image: the compiler places the network
on cores (firmware/compiler.py) and the kernel's synapses are walked out of the image's
own tables (fan-out -> axon -> synapse row, sim/chip.py::image_csr). This measures that
path on the standard workload, each size in its own process (peak RSS is per size):
compile time, walk time, set-up total (network -> image -> ready, the target is < 2 s at
N = 65,536), simulate speed and peak memory. It also checks, for every size, that the
image path's spike count equals the network path's (FastSim.from_network), tick for tick.
The result replaces the ``image`` section of docs/benchmarks.md.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- image:begin (written by bench/run_image.py) -->", "<!-- image:end -->"


def chip_for(n):
    """The chip of the million-neuron example: 1,024-neuron cores on a square mesh."""
    from spikemesh.config import ChipConfig, CoreConfig

    side = max(2, int(np.ceil(np.sqrt(n / 1024))))
    core = CoreConfig(neurons=1024, axons=65536, synapses=1 << 17, fanout=1 << 17, profiles=1)
    return ChipConfig(width=side, height=side, core=core)


def child(n, ticks):
    from spikemesh.firmware import compile_network
    from spikemesh.sim.chip import fast_from_image
    from spikemesh.sim.fast import FastSim

    from bench.workload import make_workload

    out = {"neurons": n, "ticks": ticks}
    t0 = time.perf_counter()
    net = make_workload(n)
    out["generate_s"] = time.perf_counter() - t0
    out["synapses"] = net.num_synapses
    chip = chip_for(n)
    out["chip"] = f"{chip.width} x {chip.height} x {chip.core.neurons}"
    t0 = time.perf_counter()
    image, util = compile_network(net, chip)
    out["compile_s"] = time.perf_counter() - t0
    out["max_axons"], out["max_synapses"] = int(util.axons.max()), int(util.synapses.max())
    out["max_fanout"] = int(util.fanout.max())
    t0 = time.perf_counter()
    sim = fast_from_image(image)
    out["walk_s"] = time.perf_counter() - t0
    raster = net.input_raster(ticks)
    check_ticks = min(ticks, 100)
    ref = FastSim.from_network(net) if n <= 65536 else None
    del net
    events_in = sim.input_events(ticks, raster)
    t0, c0 = time.perf_counter(), time.process_time()
    spk_ptr, spk_ids, _, _ = sim.run_events(ticks, events_in)
    out["simulate_s"] = time.perf_counter() - t0
    out["simulate_cpu_s"] = time.process_time() - c0
    out["events"] = sim.events
    out["neuron_spikes"] = int(spk_ptr[-1])
    if ref is not None:  # same spikes as the network path, tick for tick
        r_ptr, r_ids, _, _ = ref.run_events(
            check_ticks, ref.input_events(check_ticks, raster[:check_ticks])
        )
        slots = image.neuron_slot
        for t in range(check_ticks):
            a = np.sort(r_ids[r_ptr[t] : r_ptr[t + 1]])
            b = np.sort(np.searchsorted(slots, spk_ids[spk_ptr[t] : spk_ptr[t + 1]]))
            assert np.array_equal(a, b), f"N={n}: image path differs from network path at {t}"
        out["checked_ticks"] = check_ticks
    out["rss_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4096, 65536, 1 << 20])
    ap.add_argument("--ticks", type=int, default=1000)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args(argv)
    if args.child:
        return child(args.child, args.ticks)
    rows = []
    load0 = os.getloadavg()[0]
    for n in args.sizes:
        ticks = args.ticks if n <= 65536 else min(args.ticks, 100)
        r = subprocess.run(
            [sys.executable, __file__, "--child", str(n), "--ticks", str(ticks)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]))
    if not args.no_doc:
        write_doc(rows, (load0, os.getloadavg()[0]))


def write_doc(rows, load):
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "",
        f"Measured {stamp} by `python bench/run_image.py` (load average {load[0]:.1f} before, "
        f"{load[1]:.1f} after; every size in its own process).",
        "",
        "| N | chip | synapses | compile (s) | walk (s) | set-up total (s) | ticks | "
        "Mevents/s wall (CPU) | peak RSS (MiB) | spikes equal network path |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        mev = r["events"] / r["simulate_s"] / 1e6
        mev_cpu = r["events"] / r["simulate_cpu_s"] / 1e6
        check = f"yes, {r['checked_ticks']} ticks" if "checked_ticks" in r else "not run (memory)"
        lines.append(
            f"| {r['neurons']:,} | {r['chip']} | {r['synapses']:,} | {r['compile_s']:.2f} | "
            f"{r['walk_s']:.2f} | {r['compile_s'] + r['walk_s']:.2f} | {r['ticks']:,} | "
            f"{mev:,.0f} ({mev_cpu:,.0f}) | {r['rss_peak_mb']:,.0f} | {check} |"
        )
    lines.append("")
    text = DOC.read_text()
    block = BEGIN + "\n" + "\n".join(lines) + "\n" + END
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        marker = "## How the fast TLM works"
        text = text.replace(
            marker,
            "## The compiled-image path (what the `tlm` backend runs)\n\n"
            + block
            + "\n\n"
            + marker,
        )
    DOC.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
