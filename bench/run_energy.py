"""The worked examples of docs/energy.md: counters, metrics, energy and latency, regenerated.

For examples/ei_random.yaml (300 ticks) and the standard 4,096-neuron workload
(bench/workload.py, 1,000 ticks) on the auto-sized chip:

1. run golden, the functional TLM (tlm) and the compiled cycle-exact TLM (tlm-timed);
2. check that the timing-free counters of all three are identical (golden's from the network,
   the TLMs' from the image walk), and time the image walk;
3. build the report of the tlm-timed run (it has cycles, so latency, static energy and EDP)
   under the built-in profiles, write it to build/energy/<name>.json with the activity plot and
   the link heat map, and print the tables docs/energy.md quotes.

    python bench/run_energy.py            # print the tables
    python bench/run_energy.py --docs     # also rewrite the generated block of docs/energy.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.workload import make_workload  # noqa: E402
from spikemesh.backends import compile_for, run_backend  # noqa: E402
from spikemesh.counters import counters_from_image  # noqa: E402
from spikemesh.netfile import load_network  # noqa: E402
from spikemesh.report import (  # noqa: E402
    build_report,
    plot_activity,
    plot_link_heatmap,
    run_counters,
)

BEGIN, END = "<!-- BEGIN run_energy -->\n", "<!-- END run_energy -->"
OUT = ROOT / "build" / "energy"


def _args():
    return argparse.Namespace(chip=None, acc_bits=24, progress=False, load=None)


def run_case(label, net, ticks):
    """Run one network on the three backends; return (report, notes for the doc)."""
    args = _args()
    results = {}
    wall = {}
    for backend in ("golden", "tlm", "tlm-timed"):
        t0 = time.perf_counter()
        results[backend] = run_backend(backend, net, ticks, args)
        wall[backend] = time.perf_counter() - t0
    image = compile_for(net, args)
    counters = {b: run_counters(net, image, r) for b, r in results.items()}
    for b in ("tlm", "tlm-timed"):
        problems = counters["golden"].diff(counters[b])
        if problems:
            raise SystemExit(f"{label}: golden and {b} counters differ: {problems}")
    t0 = time.perf_counter()
    counters_from_image(image, results["tlm"])
    walk_s = time.perf_counter() - t0
    report = build_report(net, image, results["tlm-timed"])
    OUT.mkdir(parents=True, exist_ok=True)
    stem = OUT / net.name
    Path(f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    plot_activity(report, f"{stem}-activity.png")
    plot_link_heatmap(report, f"{stem}-links.png")
    chip = image.chip
    notes = {
        "label": label,
        "chip": f"{chip.width} x {chip.height} tiles, {chip.core.neurons:,} neurons per core",
        "walk_s": walk_s,
        "wall": wall,
    }
    return report, notes


def _si(x, unit):
    if x is None:
        return "-"
    for scale, prefix in ((1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x / 1e-15:.3g} f{unit}"


def markdown(report, notes) -> str:
    t = report["counters"]["totals"]
    ticks = report["ticks"]
    m = report["metrics"]
    lines = [
        f"### {notes['label']}",
        "",
        f"{report['network']}, {ticks:,} ticks on {notes['chip']} (auto-sized). Golden, tlm "
        "and tlm-timed gave identical timing-free counters; the image walk took "
        f"{notes['walk_s']:.2f} s. Report: `build/energy/{report['network']}.json`.",
        "",
        "| counter | total | per tick |",
        "|---|---|---|",
    ]
    for k in (
        "sops",
        "events",
        "neuron_updates",
        "spikes",
        "flits_injected",
        "host_injected",
        "flit_hops",
        "hops_ew",
        "hops_ns",
        "cycles",
    ):
        lines.append(f"| {k} | {t[k]:,} | {t[k] / ticks:,.1f} |")
    mem = m["memory_footprint"]
    lines += [
        "",
        "| metric | value |",
        "|---|---|",
        f"| synaptic operations per tick | {m['synaptic_operations']['per_tick_mean']:,.1f} |",
        f"| activation sparsity | {m['activation_sparsity']:.4f} |",
        f"| connection sparsity | {m['connection_sparsity']:.4f} |",
        f"| memory footprint of the image | {mem['image_bytes']:,} B "
        f"(chip memory {mem['chip_capacity_bytes']:,} B) |",
        f"| mean hops per delivered flit | {m['mean_hops_per_flit']:.2f} |",
        "",
    ]
    names = list(report["energy"])
    lines.append("| | " + " | ".join(names) + " |")
    lines.append("|---|" + "---|" * len(names))
    e = [report["energy"][n] for n in names]
    for k in ("synapses", "neurons", "routing", "static", "total"):
        lines.append(f"| {k} | " + " | ".join(_si(x["totals_j"][k], "J") for x in e) + " |")
    rows = (
        ("energy per tick", [_si(x["energy_per_tick_j"], "J") for x in e]),
        ("energy per SOP", [_si(x["totals_j"]["total"] / max(1, t["sops"]), "J") for x in e]),
        ("latency per tick (mean)", [_si(x["latency_per_tick_s"], "s") for x in e]),
        ("latency per tick (max)", [_si(x["max_latency_per_tick_s"], "s") for x in e]),
        ("energy-delay product", [_si(x["edp_js"], "J·s") for x in e]),
    )
    for label, cells in rows:
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", action="store_true", help="rewrite docs/energy.md's block")
    ap.add_argument("--ticks", type=int, default=None, help="override both runs' ticks")
    a = ap.parse_args(argv)
    cases = [
        ("examples/ei_random.yaml", load_network(ROOT / "examples" / "ei_random.yaml"), 300),
        ("Standard workload, N = 4,096 (bench/workload.py)", make_workload(4096), 1000),
    ]
    blocks = []
    for label, net, ticks in cases:
        report, notes = run_case(label, net, a.ticks or ticks)
        blocks.append(markdown(report, notes))
        print(blocks[-1])
        print(
            "wall s: " + ", ".join(f"{b} {s:.2f}" for b, s in notes["wall"].items()),
            file=sys.stderr,
        )
    if a.docs:
        doc = ROOT / "docs" / "energy.md"
        text = doc.read_text()
        i, j = text.index(BEGIN) + len(BEGIN), text.index(END)
        doc.write_text(text[:i] + "\n".join(blocks) + text[j:])
        print(f"rewrote {doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
