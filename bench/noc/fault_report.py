"""The "Faults" section of docs/noc-bench.md, from bench/noc/fault_results.json.

``python -m bench.noc.report`` appends it; ``python -m bench.noc.fault_report`` replaces
just this section in docs/noc-bench.md (no other block is regenerated).
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCS = HERE.parents[1] / "docs"
HEADING = "## Faults"


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def fault_lines(path=HERE / "fault_results.json") -> list[str]:
    if not Path(path).exists():
        return []
    res = json.loads(Path(path).read_text())
    base = {b["faults"]: b for b in res["baseline"]}
    xy = base["none (XY)"]
    lines = [
        HEADING,
        "",
        "Generated from `bench/noc/fault_results.json` (`python -m bench.noc.faults`).",
        f"{res['mesh']} mesh, router FIFOs of 4 flits; random fault maps "
        "(`FaultMap.random`: dead links both ways, or dead routers with their links and",
        'cores), routed by `spikemesh/faultroute.py` (docs/noc.md, "Faults"). Throughput:',
        "uniform random traffic among the live tiles on the compiled mesh (cycle-exact",
        f"with MeshModel), {res['warmup']} warm-up + {res['measure']} measured cycles;",
        "peak accepted throughput = the best of offered loads "
        f"{', '.join(map(str, res['rates']))} (flits per live node per cycle).",
        "Zero-load latency: the mean over all live (source, destination) pairs of a",
        "lone flit's latency, 2 (hops + 1), with hops walked on the route tables.",
        "",
        "| faults | maps routable | scheme chosen (throughput maps) | zero-load latency "
        "| peak accepted throughput | vs fault-free XY |",
        "|---|---|---|---|---|---|",
        f"| none, XY (today's router) | - | XY | {xy['zero_load_latency']:.2f} | "
        f"{xy['peak_accepted']:.3f} | 100 % |",
    ]
    t = base.get("none (tables)")
    if t:
        lines.append(
            f"| none, route tables | - | {t['order']} | {t['zero_load_latency']:.2f} | "
            f"{t['peak_accepted']:.3f} | {100 * t['peak_accepted'] / xy['peak_accepted']:.0f} % |"
        )
    for r in res["routable"]:
        pts = [p for p in res["points"] if p["faults"] == r["faults"] and p["count"] == r["count"]]
        what = f"{r['count']} dead {r['faults'][:-1] if r['count'] == 1 else r['faults']}"
        schemes = {}
        for p in pts:
            key = p["order"].split(" (")[0]
            schemes[key] = schemes.get(key, 0) + 1
        chosen = ", ".join(f"{k} x{v}" for k, v in sorted(schemes.items())) or "-"
        zl, peak = (
            _mean(p["zero_load_latency"] for p in pts),
            _mean(p["peak_accepted"] for p in pts),
        )
        lo = min((p["peak_accepted"] for p in pts), default=None)
        lines.append(
            f"| {what} | {r['routable']} / {r['maps']} | {chosen} | "
            + (f"{zl:.2f} | {peak:.3f} (min {lo:.3f}) | {100 * peak / xy['peak_accepted']:.0f} % |"
               if pts else "- | - | - |")
        )  # fmt: skip
    lines += [
        "",
        "Reading it against issue #15's aims. *Every map with <= 4 random link faults",
        "routable*: met on these maps (and 28/30 with 8, 25/30 with 16: the rest cut a",
        "live core off, which the compiler names). *Saturation >= 80 % of fault-free with",
        "4 faults*: not met. One dead link already costs about 20 %: the flows that",
        "crossed it all share one detour (a destination-indexed table gives each",
        "(router, destination) one next hop), so the channel next to the fault carries",
        "twice its share. And maps the XY repair cannot attach (most with >= 4 faults",
        "and most dead-router maps) fall back to up*/down*, whose deterministic routes",
        "load channels unevenly (0.20 flits/node/cycle even without faults; negative-first",
        "sends every south-east flow south first). What would close the gap: tables",
        "indexed by (input port, destination) (5x the memory) or a phase bit in the flit,",
        "so that a detour's turn can depend on where the flit came from, which lets the",
        "turn-model repair attach every map; or two next hops per entry chosen",
        "adaptively. For maps that saturate below 0.2 the figure is the accepted",
        "throughput at 0.2 offered, already past saturation (the peak may be a little",
        "higher). Zero-load latency grows little (12.5 -> 12.9 cycles with 4 dead links):",
        "detours are short.",
        "",
        "Mean compile-time routing cost per map (all candidate schemes tried, the proof "
        "obligation checked): "
        + ", ".join(
            f"{r['count']} {r['faults']}: {r['route_seconds']:.2f} s" for r in res["routable"]
        )
        + ".",
        "",
    ]
    return lines + tick_lines()


def tick_lines(path=HERE / "fault_ticks.json") -> list[str]:
    """Cycles per tick of examples/ei_random.yaml on faulty chips (bench/noc/fault_ticks.py)."""
    if not Path(path).exists():
        return []
    res = json.loads(Path(path).read_text())
    ff = res["fault_free"]
    lines = [
        f"**A real network.** `{res['network']}` on an {res['chip']}, {res['ticks']} ticks on",
        "the compiled cycle-exact chip model with the image's route tables installed in its",
        "mesh (`python -m bench.noc.fault_ticks`): the spikes equal the fault-free run's on",
        f"every map; fault-free: {ff['cycles_per_tick']:.1f} cycles per tick on average "
        f"(max {ff['max']}). The extra cycles are against the fault-free run of the same",
        "invocation (the chip model's host edge was being reworked while this was measured,",
        "which moved the absolute cycles by under 1 %).",
        "",
        "| dead links | map seed | routing | cycles per tick | extra vs fault-free | max |",
        "|---|---|---|---|---|---|",
    ]
    for r in res["faulty"]:
        lines.append(
            f"| {r['links']} | {r['seed']} | {r['routing']} | {r['cycles_per_tick']:.1f} | "
            f"{r['extra_percent']:+.1f} % | {r['max']} |"
        )
    return [*lines, ""]


def main():
    doc = DOCS / "noc-bench.md"
    text = doc.read_text()
    head = text.split("\n" + HEADING + "\n")[0].rstrip("\n")
    rest = ""
    if ("\n" + HEADING + "\n") in text:
        after = text.split("\n" + HEADING + "\n", 1)[1]
        nxt = after.find("\n## ")
        rest = "" if nxt < 0 else after[nxt:]
    doc.write_text(head + "\n\n" + "\n".join(fault_lines()) + rest.rstrip("\n") + "\n")
    print("wrote the Faults section of docs/noc-bench.md")


if __name__ == "__main__":
    main()
