"""What keeping MPI ranks cycle-synchronized costs: the timed model of a 2-chip system in
one process and over 2 ranks, at several chip-to-chip link latencies.

    python bench/run_timed_system.py            # measure, write the block in docs/scale.md
    python bench/run_timed_system.py --ticks 10 --no-doc

The workload is examples/synfire.yaml (240 neurons, a volley travelling round a ring of 8
groups, the first half of the ring on chip 0 and the second on chip 1, so every lap
crosses the link boundary twice) on a 2 x 1 system of 2 x 2-core chips with 32 neurons a
core, run on the Python cycle twins (sim/timed_system.py). For each link latency L:

- *lock step*: :class:`~spikemesh.sim.timed_system.TimedSystem` in this process (the
  reference: every chip stepped every cycle, no windows);
- *1 rank* and *2 ranks*: ``mpiexec -n R python bench/run_timed_system.py --child ...``
  (sim/distributed_timed.py: windows of L cycles, one exchange per neighbour and one
  allgather per window, one allgather per tick start).

Every run's responses (each chip's SPIKEs and TICK_DONEs with the cycle the host took them)
are hashed; the digests must be equal for all runs at one latency.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "scale.md"
BEGIN = "<!-- scale-timed:begin (written by bench/run_timed_system.py) -->"
END = "<!-- scale-timed:end -->"
LATENCIES = (4, 16, 64)
CPF = 2


def workload(latency):
    from spikemesh.firmware.system import compile_system

    from spikemesh.config import ChipConfig, CoreConfig
    from spikemesh.netfile import load_network
    from spikemesh.system import SystemConfig

    net = load_network(ROOT / "examples" / "synfire.yaml")
    chip = ChipConfig(width=2, height=2, core=CoreConfig(neurons=32))
    system = SystemConfig(
        chips_x=2, chips_y=1, chip=chip, link_latency=latency, link_cycles_per_flit=CPF
    )
    img, _ = compile_system(net, system, neurons_per_core=30)
    return net, img


def digest(responses):
    h = hashlib.sha256()
    for c in sorted(responses):
        h.update(repr((c, responses[c])).encode())
    return h.hexdigest()[:16]


def child(latency, ticks):
    """One launch under mpiexec: rank 0 prints a JSON line."""
    from mpi4py import MPI
    from spikemesh.sim.distributed_timed import DistributedTimedSim

    comm = MPI.COMM_WORLD
    net, img = workload(latency)
    sim = DistributedTimedSim(img, net.input_raster(ticks), ticks, comm=comm)
    round_s = empty_round(comm, sim.peers)
    comm.Barrier()
    t0 = time.perf_counter()
    res = sim.run()
    wall = time.perf_counter() - t0
    comm_times = comm.gather(sim.comm_time, root=0)
    p2p = comm.gather(sim.exchange_time, root=0)
    if comm.rank == 0:
        out = {
            "ranks": comm.size,
            "wall": wall,
            "comm": comm_times,
            "p2p": p2p,
            "windows": res.extra["windows"],
            "exchanges": res.extra["exchanges"],
            "cycles": int(res.cycles.sum()),
            "spikes": int(res.spikes.sum()),
            "digest": digest(res.extra["responses"]),
            "round_s": round_s,
        }
        print(json.dumps(out), flush=True)


def empty_round(comm, peers, n=300):
    """Seconds per window round with nothing to say: an empty message to and from each
    neighbour rank, then the allgather of the pause flags (the floor of a window's cost)."""
    comm.Barrier()
    t0 = time.perf_counter()
    for _ in range(n):
        reqs = [comm.isend([], dest=p, tag=7) for p in peers]
        for p in peers:
            comm.recv(source=p, tag=7)
        for r in reqs:
            r.wait()
        comm.allgather(None)
    return (time.perf_counter() - t0) / n


def lock_step(latency, ticks):
    from spikemesh.sim.timed_system import TimedSystem

    net, img = workload(latency)
    ts = TimedSystem(img, net.input_raster(ticks), ticks)
    t0 = time.perf_counter()
    res = ts.run()
    wall = time.perf_counter() - t0
    return {
        "ranks": 0,
        "wall": wall,
        "comm": [0.0],
        "p2p": [0.0],
        "windows": 0,
        "exchanges": 0,
        "cycles": int(res.cycles.sum()),
        "spikes": int(res.spikes.sum()),
        "link_flits": res.extra["link_flits"],
        "digest": digest(res.extra["responses"]),
        "round_s": 0.0,
    }


def launch(ranks, latency, ticks):
    here = Path(sys.executable).parent / "mpiexec"  # the [mpi] extra's, else the PATH's
    mpiexec = here if here.exists() else shutil.which("mpiexec")
    cmd = [
        str(mpiexec),
        "-n",
        str(ranks),
        sys.executable,
        __file__,
        "--child",
        "--latency",
        str(latency),
        "--ticks",
        str(ticks),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    if p.returncode or not lines:
        raise SystemExit(f"launch failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return lines[0]


def table(rows, ticks, uptime):
    out = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by "
        f"`python bench/run_timed_system.py --ticks {ticks}` (examples/synfire.yaml, "
        f"{ticks} ticks, 2 x 1 chips of 2 x 2 cores, {CPF} cycles per flit; Python cycle twins).",
        f"Load: `{uptime[0]}` before, `{uptime[1]}` after.",
        "",
        "| link latency | run | wall s | cycles/tick | windows/tick | messages/tick/rank "
        "| MPI s (max rank) | of it point-to-point s | MPI share | empty round us "
        "| model s | responses digest |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for latency, runs in rows:
        for r in runs:
            name = "lock step, 1 process" if r["ranks"] == 0 else f"{r['ranks']} rank(s)"
            k = max(range(len(r["comm"])), key=lambda i: r["comm"][i])
            comm = r["comm"][k]
            out.append(
                f"| {latency} | {name} | {r['wall']:.2f} | {r['cycles'] / ticks:,.1f} | "
                f"{r['windows'] / ticks:,.1f} | "
                f"{r['exchanges'] / ticks / max(r['ranks'], 1):,.1f} | {comm:.2f} | "
                f"{r['p2p'][k]:.2f} | {100 * comm / r['wall']:.0f} % | "
                f"{1e6 * r['round_s']:,.0f} | {model(runs, r, ticks)} | `{r['digest']}` |"
            )
    return "\n".join(out)


def model(runs, r, ticks):
    """The cost model for R ranks: the lock-step time split evenly, plus one empty round per
    window and per tick start (no overlap, no imbalance)."""
    if r["ranks"] < 2:
        return "-"
    one = runs[0]["wall"]
    return f"{one / r['ranks'] + (r['windows'] + ticks) * r['round_s']:.2f}"


def write_doc(text):
    doc = DOC.read_text()
    a, b = doc.index(BEGIN), doc.index(END)
    DOC.write_text(doc[: a + len(BEGIN)] + "\n\n" + text + "\n\n" + doc[b:])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ticks", type=int, default=30)
    ap.add_argument("--latency", type=int, default=16)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-doc", action="store_true", help="print, do not write docs/scale.md")
    args = ap.parse_args(argv)
    if args.child:
        child(args.latency, args.ticks)
        return 0
    up0 = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rows = []
    for latency in LATENCIES:
        runs = [lock_step(latency, args.ticks)]
        runs += [launch(r, latency, args.ticks) for r in (1, 2)]
        if len({r["digest"] for r in runs}) != 1:
            raise SystemExit(f"latency {latency}: the runs differ: {runs}")
        rows.append((latency, runs))
        print(json.dumps({"latency": latency, "runs": runs}), flush=True)
    up1 = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    text = table(rows, args.ticks, (up0, up1))
    print(text)
    if not args.no_doc:
        write_doc(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
