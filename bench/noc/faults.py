"""Fault sweeps on 8 x 8: routable fraction, zero-load latency, saturation throughput.

Run: ``python -m bench.noc.faults`` (writes bench/noc/fault_results.json); then
``python -m bench.noc.report`` adds the "Faults" section of docs/noc-bench.md.

Random fault maps (:meth:`spikemesh.faults.FaultMap.random`) with 1, 2, 4, 8 and 16
dead links (both directions) and with 1-4 dead routers, several seeds each, routed by
:func:`spikemesh.faultroute.fault_routing`. Throughput is measured on the compiled mesh
(sim/_timed_noc.py, cycle-exact with MeshModel) with uniform random traffic among the
live tiles, BookSim-style as in bench/noc/sweep.py.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from spikemesh.sim._timed_noc import topology
from spikemesh.sim.timed import CompiledChipModel

from spikemesh.config import ChipConfig, flit_layout
from spikemesh.errors import CompileError
from spikemesh.faultroute import fault_routing
from spikemesh.faults import FaultMap
from spikemesh.noc import Port

HERE = Path(__file__).resolve().parent
WARMUP, MEASURE = 1000, 3000
RATES = (0.2, 0.3, 0.4, 0.5, 1.0)
LINK_COUNTS = (1, 2, 4, 8, 16)
ROUTER_COUNTS = (1, 2, 3, 4)
ROUTABLE_SEEDS = 30  # maps per count for the routable fraction
THROUGHPUT_SEEDS = 3  # routable maps per count for throughput and latency


def uniform(chip, live, rate, cycles, seed):
    """Bernoulli injection at every live tile, destinations uniform over the live tiles."""
    rng = random.Random(seed)
    lay = flit_layout(chip)
    w = chip.width
    words = [lay.pack(kind=0, dest_x=d % w, dest_y=d // w, payload=0) for d in live]
    sched = []
    for t in range(cycles):
        for k in live:
            if rng.random() < rate:
                sched.append((t, k, words[rng.randrange(len(words))]))
    return sched


def throughput(chip, routing, live, rate, seed=1):
    """Accepted flits per live node per cycle in the window, and the mean latency."""
    sched = uniform(chip, live, rate, WARMUP + MEASURE, seed)
    m = CompiledChipModel(chip)
    m.nbr = topology(chip, routing)
    arrivals, _ = m.mesh_run(sched, max_cycles=WARMUP + MEASURE + 20 * MEASURE)
    lo, hi = WARMUP, WARMUP + MEASURE
    ejected = sum(1 for a in arrivals if a is not None and lo <= a < hi)
    lat = [
        a - t
        for (t, _, _), a in zip(sched, arrivals, strict=True)
        if lo <= t < hi and a is not None
    ]
    return ejected / (len(live) * MEASURE), (sum(lat) / len(lat) if lat else None)


def zero_load_latency(chip, routing, live):
    """Mean over live (source, destination) pairs of a lone flit's latency, 2 (hops + 1),
    with hops walked on the route tables (XY when ``routing`` is None)."""
    w = chip.width
    step = {Port.NORTH: w, Port.EAST: 1, Port.SOUTH: -w, Port.WEST: -1}
    total = 0
    for s in live:
        for d in live:
            if routing is None:
                hops = abs(s % w - d % w) + abs(s // w - d // w)
            else:
                hops, k = 0, s
                while k != d:
                    k += step[routing.route(k % w, k // w, d % w, d // w)]
                    hops += 1
            total += 2 * (hops + 1)
    return total / len(live) ** 2


def point(chip, faults, routing, what, count, seed):
    live = faults.live_tiles() if faults is not None else list(range(chip.tiles))
    t0 = time.time()
    sat = {r: throughput(chip, routing, live, r) for r in RATES}
    peak = max(a for a, _ in sat.values())
    r = {
        "faults": what,
        "count": count,
        "seed": seed,
        "order": routing.order if routing is not None else "XY",
        "zero_load_latency": round(zero_load_latency(chip, routing, live), 3),
        "peak_accepted": round(peak, 4),
        "accepted_at": {str(k): round(a, 4) for k, (a, _) in sat.items()},
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(r), flush=True)
    return r


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    chip = ChipConfig(width=8, height=8)
    out = {"mesh": "8x8", "warmup": WARMUP, "measure": MEASURE, "rates": RATES}
    out["baseline"] = [
        point(chip, None, None, "none (XY)", 0, 0),
        point(chip, FaultMap(width=8, height=8), fault_routing(chip, FaultMap(width=8, height=8)),
              "none (tables)", 0, 0),
    ]  # fmt: skip
    out["routable"], out["points"] = [], []
    for what, counts in (("links", LINK_COUNTS), ("routers", ROUTER_COUNTS)):
        for n in counts:
            ok, timing, good = 0, [], []
            for seed in range(ROUTABLE_SEEDS):
                faults = FaultMap.random(chip, seed=seed, **{what: n})
                t0 = time.time()
                try:
                    routing = fault_routing(chip, faults)
                except CompileError:
                    continue
                finally:
                    timing.append(time.time() - t0)
                ok += 1
                if len(good) < THROUGHPUT_SEEDS:
                    good.append((seed, faults, routing))
            out["routable"].append(
                {
                    "faults": what,
                    "count": n,
                    "maps": ROUTABLE_SEEDS,
                    "routable": ok,
                    "route_seconds": round(sum(timing) / len(timing), 3),
                }
            )
            print(json.dumps(out["routable"][-1]), flush=True)
            for seed, faults, routing in good:
                out["points"].append(point(chip, faults, routing, what, n, seed))
    path = Path(argv[0]) if argv else HERE / "fault_results.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
