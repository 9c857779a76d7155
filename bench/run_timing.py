"""Cycle-exact timing at functional speed: the timed backends measured side by side.

    python bench/run_timing.py [--only ei_random,n4096,n65536] [--repeat 3] [--replot]

For each workload this runs, each measurement in its own process (so peak RSS is its own):

- ``tlm-timed``: the compiled cycle-exact chip model (sim/timed.py), image placed in the
  memories before cycle 0 (``--load direct``), all ticks; wall time from the image to the
  decoded result (the network compile is reported apart), median of ``--repeat`` runs;
- ``rtl``: the Verilated chip under the compiled C++ harness (firmware/rtl_runner.py),
  build cached (the first, untimed run builds it), ei_random only;
- the references it replaces, on a prefix of the ticks (they take minutes to hours in full):
  the Python cycle-level twins (``tlm-cycle``) and the cocotb RTL path. Their speed is
  compared in simulated cycles per second of wall time, and the compiled model's cycles of
  those ticks must equal theirs (the run fails otherwise).

Writes the table between the markers in docs/timing-bench.md, the raw numbers in
bench/timing_results.json and the plot docs/timing-bench.png.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "timing-bench.md"
RESULTS = ROOT / "bench" / "timing_results.json"
PLOT = ROOT / "docs" / "timing-bench.png"
BEGIN, END = "<!-- timing:begin (written by bench/run_timing.py) -->", "<!-- timing:end -->"

# name: (what, ticks, target seconds for tlm-timed incl. load, prefix ticks for the references)
WORKLOADS = {
    "ei_random": ("examples/ei_random.yaml, 2x2 chip", 1000, 0.5, 100),
    "n4096": ("standard workload N = 4,096, 4x4 x 256 neurons", 1000, 10.0, 5),
    "n65536": ("standard workload N = 65,536, 16x16 x 256 neurons", 1000, 180.0, 2),
}


def build(name):
    """(network, image) of a workload."""
    from spikemesh.firmware import auto_chip, compile_network

    from spikemesh.netfile import load_network

    if name == "ei_random":
        net = load_network(ROOT / "examples" / "ei_random.yaml")
        chip = auto_chip(net)
    else:
        from bench.workload import make_workload

        net = make_workload(int(name[1:]))
        chip = auto_chip(net, core_neurons=256)
    t0 = time.perf_counter()
    image, _ = compile_network(net, chip)
    return net, image, time.perf_counter() - t0


def child(name, mode, ticks):
    """One measurement; prints a JSON line."""
    net, image, compile_s = build(name)
    inputs = net.input_raster(ticks)
    out = {"workload": name, "mode": mode, "ticks": ticks, "compile_s": compile_s}
    chip = image.chip
    out["chip"] = f"{chip.width}x{chip.height} x {chip.core.neurons}"
    t0 = time.perf_counter()
    if mode in ("tlm-timed", "tlm-cycle"):
        from spikemesh.sim.timed import run_image_timed

        model = "compiled" if mode == "tlm-timed" else "python"
        result, _ = run_image_timed(image, inputs, ticks, load="direct", model=model)
    elif mode in ("rtl", "rtl-cocotb"):
        from spikemesh.firmware.rtl_loader import run_image_rtl

        runner = "verilator" if mode == "rtl" else "cocotb"
        result, _ = run_image_rtl(image, inputs, ticks, runner=runner, load="direct")
    else:
        raise SystemExit(f"unknown mode {mode}")
    out["wall_s"] = time.perf_counter() - t0
    out["cycles"] = [int(c) for c in result.cycles]
    out["spikes"] = int(result.spikes.sum())
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out), flush=True)


def measure(name, mode, ticks):
    cmd = [sys.executable, __file__, "--child", name, mode, str(ticks)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=os.environ.copy())
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"{name} {mode} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def run_all(names, repeat):
    rows = []
    for name in names:
        what, ticks, target, prefix = WORKLOADS[name]
        print(f"{name}: warm-up (JIT cache, Verilator build)", flush=True)
        measure(name, "tlm-timed", 3)
        runs = [measure(name, "tlm-timed", ticks) for _ in range(repeat)]
        walls = [r["wall_s"] for r in runs]
        best = runs[0]
        assert all(r["cycles"] == best["cycles"] for r in runs), "tlm-timed is not deterministic"
        row = {
            "workload": name,
            "what": what,
            "chip": best["chip"],
            "ticks": ticks,
            "target_s": target,
            "cycles": int(sum(best["cycles"])),
            "cycles_per_tick_mean": float(np.mean(best["cycles"])),
            "cycles_per_tick_max": int(max(best["cycles"])),
            "compile_s": best["compile_s"],
            "timed_s": statistics.median(walls),
            "timed_runs_s": walls,
            "timed_rss_mb": max(r["peak_rss_mb"] for r in runs),
        }
        row["timed_cps"] = row["cycles"] / row["timed_s"]
        print(f"  tlm-timed {row['timed_s']:.2f} s ({row['timed_cps'] / 1e6:.2f} M cycles/s)")
        ref = measure(name, "tlm-cycle", prefix)
        if ref["cycles"] != best["cycles"][:prefix]:
            raise SystemExit(f"{name}: Python cycle model and compiled model differ in cycles")
        row["cycle_model_ticks"] = prefix
        row["cycle_model_cps"] = sum(ref["cycles"]) / ref["wall_s"]
        print(f"  tlm-cycle {row['cycle_model_cps'] / 1e3:.1f} k cycles/s on {prefix} ticks")
        if name == "ei_random":
            measure(name, "rtl", 3)  # builds (or finds) the cached Verilator model
            rtl = [measure(name, "rtl", ticks) for _ in range(repeat)]
            if any(r["cycles"] != best["cycles"] for r in rtl):
                raise SystemExit("ei_random: RTL and compiled timed model differ in cycles")
            row["rtl_s"] = statistics.median(r["wall_s"] for r in rtl)
            row["rtl_cps"] = row["cycles"] / row["rtl_s"]
            measure(name, "rtl-cocotb", 3)  # builds (or finds) the cocotb runner's model
            coco = measure(name, "rtl-cocotb", prefix)
            if coco["cycles"] != best["cycles"][:prefix]:
                raise SystemExit("ei_random: cocotb RTL and compiled timed model differ in cycles")
            row["cocotb_ticks"] = prefix
            row["cocotb_cps"] = sum(coco["cycles"]) / coco["wall_s"]
            print(f"  rtl {row['rtl_s']:.2f} s; cocotb {row['cocotb_cps'] / 1e3:.1f} k cycles/s")
        rows.append(row)
    return rows


def fmt_rate(cps):
    if cps >= 1e6:
        return f"{cps / 1e6:,.2f} M"
    return f"{cps / 1e3:,.1f} k" if cps >= 1e3 else f"{cps:,.0f} "


def table(rows, load):
    lines = [
        "Measured on this 2-core machine (a shared VM: the load average before each workload's "
        "run is in the last column); wall times are medians; cycles/s are simulated cycles per "
        "second of wall time; every backend loads the image directly.",
        "",
        "| workload | chip | ticks | cycles (mean / max per tick) | tlm-timed | target "
        "| rtl (C++ harness) | Python cycle model | cocotb RTL | tlm-timed vs Python / cocotb "
        "| peak RSS | measured (load) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rtl = f"{r['rtl_s']:.2f} s ({fmt_rate(r['rtl_cps'])}/s)" if "rtl_s" in r else "not run"
        coco = f"{fmt_rate(r['cocotb_cps'])}/s" if "cocotb_cps" in r else "not run"
        ratio_c = r["timed_cps"] / r["cycle_model_cps"]
        ratio_r = f"{r['timed_cps'] / r['cocotb_cps']:,.0f}x" if "cocotb_cps" in r else "-"
        met = "met" if r["timed_s"] <= r["target_s"] else "**missed**"
        lines.append(
            f"| {r['what']} | {r['chip']} | {r['ticks']:,} | {r['cycles']:,} "
            f"({r['cycles_per_tick_mean']:,.0f} / {r['cycles_per_tick_max']:,}) "
            f"| {r['timed_s']:.2f} s ({fmt_rate(r['timed_cps'])}/s) "
            f"| ≤ {r['target_s']:g} s, {met} | {rtl} "
            f"| {fmt_rate(r['cycle_model_cps'])}/s ({r['cycle_model_ticks']} ticks) | {coco} "
            f"| {ratio_c:,.0f}x / {ratio_r} | {r['timed_rss_mb']:,.0f} MB "
            f"| {r.get('date', '?')} ({r.get('load', load)}) |"
        )
    lines.append("")
    lines.append(
        "tlm-timed includes placing the image in the memories (direct load) and decoding the "
        "result; network compile times were "
        + ", ".join(f"{r['workload']} {r['compile_s']:.2f} s" for r in rows)
        + " (reported apart)."
    )
    return "\n".join(lines)


def plot(rows):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    series = [
        ("tlm-timed (compiled)", "timed_cps", "C0"),
        ("rtl (C++ harness)", "rtl_cps", "C2"),
        ("cocotb RTL", "cocotb_cps", "C1"),
        ("Python cycle model", "cycle_model_cps", "C3"),
    ]
    x = np.arange(len(rows))
    w = 0.2
    for k, (label, key, color) in enumerate(series):
        vals = [r.get(key, np.nan) for r in rows]
        ax.bar(x + (k - 1.5) * w, vals, w, label=label, color=color)
    ax.set_yscale("log")
    ax.set_xticks(x, [r["workload"] for r in rows])
    ax.set_ylabel("simulated cycles / s")
    ax.legend(fontsize="small")
    fig.savefig(PLOT, dpi=100)


def write_doc(rows, load):
    text = DOC.read_text()
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    DOC.write_text(head + BEGIN + "\n" + table(rows, load) + "\n" + END + tail)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(WORKLOADS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--replot", action="store_true", help="redo doc and plot from the json")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], a.child[1], int(a.child[2]))
        return
    if a.replot:
        saved = json.loads(RESULTS.read_text())
        rows, load = saved["rows"], saved["load"]
    else:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        fresh = run_all([n for n in a.only.split(",") if n], a.repeat)
        # rows of workloads not run this time are kept from the previous results
        saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"rows": []}
        kept = {r["workload"]: r for r in saved["rows"]}
        for r in fresh:
            r["load"] = load
            r["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            kept[r["workload"]] = r
        rows = [kept[n] for n in WORKLOADS if n in kept]
        RESULTS.write_text(json.dumps({"load": load, "rows": rows}, indent=1))
    write_doc(rows, load)
    plot(rows)
    print(table(rows, load))


if __name__ == "__main__":
    main()
