"""Latency vs offered load, zero-load and per-hop latency, saturation throughput (MeshModel).

Run: ``python -m bench.noc.sweep`` (writes bench/noc/results.json); then
``python -m bench.noc.report`` turns results into docs/noc-bench.md and PNGs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from spikemesh.sim.mesh import MeshModel

from bench.noc.traffic import PATTERNS, schedule
from spikemesh.config import ChipConfig, RouterConfig, flit_layout

HERE = Path(__file__).resolve().parent
WARMUP = 1000
MEASURE = 3000
RATES = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.8, 1.0)
HOTSPOT_RATES = (0.02, 0.05, 0.08, 0.1, 0.12, 0.14, 0.16, 0.2, 0.3, 0.5)


def measure(chip: ChipConfig, pattern: str, rate: float, *, seed=1, warmup=WARMUP, measure=MEASURE):
    """One BookSim-style point: flits created in [warmup, warmup + measure) are measured.

    Returns offered load, accepted throughput (flits ejected per node per cycle
    inside the window), mean/max latency of the measured flits, mean hops.
    """
    sched, hops = schedule(chip, pattern, rate, warmup + measure, seed)
    model = MeshModel(chip)
    # Drain limit: after the window, give backlogged sources time to empty (bounded).
    arrivals, _ = model.run(sched, max_cycles=warmup + measure + 20 * measure)
    return stats(chip, pattern, rate, sched, hops, arrivals, warmup=warmup, measure=measure)


def stats(chip, pattern, rate, sched, hops, arrivals, *, warmup=WARMUP, measure=MEASURE):
    """Latency/throughput of one run from its arrival cycles (shared by the TLM and RTL runs)."""
    lo, hi = warmup, warmup + measure
    lat, hop = [], []
    ejected = 0
    undelivered = 0
    for (t, _, _), a, h in zip(sched, arrivals, hops, strict=True):
        if a is not None and lo <= a < hi:
            ejected += 1
        if lo <= t < hi:
            if a is None:
                undelivered += 1
            else:
                lat.append(a - t)
                hop.append(h)
    n = chip.tiles
    return {
        "pattern": pattern,
        "size": f"{chip.width}x{chip.height}",
        "offered": rate,
        "offered_measured": sum(1 for t, _, _ in sched if lo <= t < hi) / (n * measure),
        "accepted": ejected / (n * measure),
        "latency": sum(lat) / len(lat) if lat else None,
        "latency_max": max(lat) if lat else None,
        "hops": sum(hop) / len(hop) if hop else None,
        "undelivered": undelivered,
    }


def zero_load(chip: ChipConfig):
    """Every (source, destination) flit alone in the mesh: latency as a function of hops."""
    lay = flit_layout(chip)
    by_hops = {}
    model = MeshModel(chip)
    w = chip.width
    for s in range(chip.tiles):
        for d in range(chip.tiles):
            word = lay.pack(kind=0, dest_x=d % w, dest_y=d // w, payload=0)
            (a,), _ = model.run([(0, s, word)])
            h = abs(d % w - s % w) + abs(d // w - s // w)
            by_hops.setdefault(h, set()).add(a)
    # The host link: from (0, 0) and the far corner.
    host = lay.pack(kind=1, dest_x=-1, dest_y=0, payload=0)
    (a_near,), _ = model.run([(0, 0, host)])
    (a_far,), _ = model.run([(0, chip.tiles - 1, host)])
    hs = sorted(by_hops)
    # Least squares of latency on hops (all pairs have one latency per hop count here).
    lat = {h: sorted(by_hops[h]) for h in hs}
    slope = (lat[hs[-1]][0] - lat[hs[0]][0]) / (hs[-1] - hs[0]) if len(hs) > 1 else None
    return {
        "size": f"{chip.width}x{chip.height}",
        "latency_by_hops": {str(h): lat[h] for h in hs},
        "per_hop": slope,
        "base": lat[hs[0]][0],
        "host_from_00": a_near,
        "host_from_far_corner": a_far,
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    sizes = [(4, 4), (8, 8)]
    out = {"zero_load": [], "sweeps": [], "warmup": WARMUP, "measure": MEASURE}
    for w, h in sizes:
        chip = ChipConfig(width=w, height=h)
        out["zero_load"].append(zero_load(chip))
        for pattern in PATTERNS:
            for rate in HOTSPOT_RATES if pattern == "hotspot" else RATES:
                t0 = time.time()
                r = measure(chip, pattern, rate)
                r["seconds"] = round(time.time() - t0, 2)
                out["sweeps"].append(r)
                print(json.dumps(r), flush=True)
    # Saturation throughput (all sources backlogged) vs input FIFO depth, 8x8 uniform.
    out["depth"] = []
    for depth in (2, 4, 8, 16):
        chip = ChipConfig(width=8, height=8, router=RouterConfig(fifo_depth=depth))
        r = measure(chip, "uniform", 1.0)
        r["fifo_depth"] = depth
        out["depth"].append(r)
        print(json.dumps(r), flush=True)
    path = Path(argv[0]) if argv else HERE / "results.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
