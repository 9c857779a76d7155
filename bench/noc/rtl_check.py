"""Re-run a few sweep points on the RTL (Verilator through cocotb) and compare with the TLM.

Run: ``python -m bench.noc.rtl_check`` (writes bench/noc/rtl_points.json). Each
point plays the sweep's injection schedule (same seed, same cycles, same
sources and destinations) on the RTL mesh; the flits carry their schedule
index in the payload, which is why the chip has 65,536 axons per core here
(payload width does not change any timing). Every flit's arrival cycle is
compared with MeshModel.run's for the same schedule, and the BookSim
statistics are computed from the RTL's arrival cycles.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from spikemesh.firmware.rtl_mesh import noc_chip, run_schedule, tagged_schedule
from spikemesh.sim.mesh import MeshModel

from bench.noc.sweep import MEASURE, WARMUP, stats
from bench.noc.traffic import schedule

HERE = Path(__file__).resolve().parent
BUILD = HERE.parent.parent / "build" / "noc"  # the Verilator builds, one per mesh size
POINTS = [
    (4, 4, "uniform", 0.1),
    (4, 4, "uniform", 0.3),
    (4, 4, "uniform", 0.5),
    (4, 4, "transpose", 0.2),
    (4, 4, "bitcomp", 0.2),
    (4, 4, "hotspot", 0.1),
    (8, 8, "uniform", 0.2),
    (8, 8, "uniform", 0.35),
]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = []
    for w, h, pattern, rate in POINTS:
        chip = noc_chip(w, h)
        sched, hops = schedule(chip, pattern, rate, WARMUP + MEASURE, seed=1)
        sched = tagged_schedule(chip, sched)
        t0 = time.time()
        rtl = run_schedule(chip, sched, BUILD / f"bench-{w}x{h}")
        dt = time.time() - t0
        tlm, _ = MeshModel(chip).run(sched)
        same = sum(a == b for a, b in zip(rtl, tlm, strict=True))
        r = stats(chip, pattern, rate, sched, hops, rtl)
        r.update(flits=len(sched), identical=same, rtl_seconds=round(dt, 1))
        r["tlm_latency"] = stats(chip, pattern, rate, sched, hops, tlm)["latency"]
        out.append(r)
        print(json.dumps(r), flush=True)
    path = Path(argv[0]) if argv else HERE / "rtl_points.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
