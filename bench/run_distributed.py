"""The standard workload on a system of chips over MPI ranks: strong and weak scaling, and a
model that projects the time per tick to clusters.

    python bench/run_distributed.py                  # prepare, measure, write docs/scale.md
    python bench/run_distributed.py --project-only   # the projection from the doc's numbers

Steps, each in its own process so that peak memory is per step and per rank:

1. *prepare*: build the workload (bench/workload.py) at N = 1,048,576 on a 2 x 1 system
   and at N = 2,097,152 on a 2 x 2 system of 16 x 32-core chips (1,024 neurons a core),
   compile it (firmware/system.py) and save the system image and the input raster under
   build/scale/.
2. *run*: ``mpiexec -n R python bench/run_distributed.py --rank-child ...``: every rank
   reads only its chips from the image, sets up (sim/distributed.py) and runs the ticks,
   timing apart each tick's exchange of counts (where a rank waits for the slowest one)
   and the exchange of spike ids that follows (the transfer, the ranks in step). Before the run
   the ranks time empty and 64 kB MPI_Alltoallv calls: the latency and bandwidth of this
   machine's MPI, the parameters of the model on it. Rank 0 prints one JSON line with
   every rank's wall time, setup time, peak RSS (VmHWM), time waiting and exchanging,
   spike ids sent, events, and an order-independent digest of all spikes and the final
   state, which must be equal for every R.
3. The runs are 1M on 1 rank and on 2 (strong scaling) and 2M on 2 ranks (weak scaling).

The model (docs/scale.md, :func:`project`): per tick and rank,
``t = events_per_rank / R_ev + L + V / B`` where ``R_ev`` is the events per second one
process delivers (measured here, update loop included), ``V`` the bytes a rank sends
(4 bytes per spike id and destination rank; a spike goes to the ranks holding any of its
64 random targets), ``L = 2 ceil(log2 R) alpha`` the latency of the two collectives
(counts, then ids) and ``B`` the bandwidth of a rank's link.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "scale.md"
OUT = ROOT / "build" / "scale"
BEGIN, END = "<!-- scale:begin (written by bench/run_distributed.py) -->", "<!-- scale:end -->"
FANOUT = 64
ID_BYTES = 4  # a spike id on the wire (int32 global slot)
# The cluster of the projection: an assumption, stated in the doc.
CLUSTER = {"alpha_us": 2.0, "bandwidth_gbs": 10.0, "label": "InfiniBand-class, 100 Gb/s"}


def vm_hwm_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def system_for(n, chips):
    """``chips`` chips (2 x 1 or 2 x 2) of 1,024-neuron cores, 16 cores wide: 16 x 32 cores a
    chip at N = 1M on 2 chips and 2M on 4."""
    from spikemesh.config import ChipConfig, CoreConfig
    from spikemesh.system import SystemConfig

    core = CoreConfig(neurons=1024, axons=65536, synapses=1 << 17, fanout=1 << 17, profiles=1)
    cores = n // 1024 // chips
    width = min(16, cores)
    chip = ChipConfig(width=width, height=cores // width, core=core)
    return SystemConfig(chips_x=2, chips_y=chips // 2, chip=chip)


def paths(n):
    return OUT / f"workload-{n}.simg", OUT / f"workload-{n}-inputs.npz"


def prepare(n, chips, ticks):
    """Generate, compile and save (one process); print a JSON line."""
    from spikemesh.firmware.system import compile_system

    from bench.workload import make_workload

    OUT.mkdir(parents=True, exist_ok=True)
    img_path, in_path = paths(n)
    out = {"neurons": n}
    t0 = time.perf_counter()
    net = make_workload(n)
    out["generate_s"] = time.perf_counter() - t0
    out["synapses"] = net.num_synapses
    raster = net.input_raster(ticks)
    np.savez(in_path, bits=np.packbits(raster, axis=1), shape=np.array(raster.shape))
    system = system_for(n, chips)
    t0 = time.perf_counter()
    image, util = compile_system(net, system)
    out["compile_s"] = time.perf_counter() - t0
    del net
    c = system.chip
    out["chips"] = f"{system.chips_x} x {system.chips_y} chips of {c.width} x {c.height} x 1024"
    out["max_axons"] = max(int(u.axons.max()) for u in util.chips)
    links = util.link_summary(1.0)
    out["link_entries"] = [[name, float(total), float(top)] for name, total, top in links]
    t0 = time.perf_counter()
    image.save(img_path)
    out["save_s"] = time.perf_counter() - t0
    out["image_mb"] = img_path.stat().st_size / 2**20
    out["rss_peak_mb"] = vm_hwm_mb()
    print(json.dumps(out), flush=True)


def _splitmix(x):
    x = (x + np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _digest(dist, spk_ptr, spk_ids):
    """Sums (mod 2^64) of hashes of every (tick, neuron) spike and every final (neuron, u, v):
    independent of the order and of how the neurons are split among ranks."""
    n = np.uint64(dist.num_neurons)
    tick = np.repeat(np.arange(spk_ptr.size - 1, dtype=np.uint64), np.diff(spk_ptr))
    ids = dist.slot_to_net[spk_ids]
    keep = ids >= 0
    s = _splitmix(tick[keep] * n + ids[keep].astype(np.uint64)).sum(dtype=np.uint64)
    own = dist.slot_to_net >= 0
    key = dist.slot_to_net[own].astype(np.uint64)
    u = dist.sim.u[own].astype(np.int64).astype(np.uint64)
    v = dist.sim.v[own].astype(np.int64).astype(np.uint64)
    f = _splitmix(_splitmix(key) ^ (u << np.uint64(32)) ^ v).sum(dtype=np.uint64)
    return int(s), int(f), int(keep.sum())


def _mpi_params(comm, reps=200):
    """Latency of an empty MPI_Alltoallv and bandwidth at 64 kB a peer (seconds, bytes/s)."""
    from mpi4py import MPI

    r = comm.size
    out = {}
    for size in (0, 1 << 14):
        send = np.zeros(size * r, dtype=np.int32)
        recv = np.zeros(size * r, dtype=np.int32)
        cnt = np.full(r, size, dtype=np.int64)
        disp = np.arange(r, dtype=np.int64) * size
        comm.Barrier()
        t0 = time.perf_counter()
        for _ in range(reps):
            comm.Alltoallv([send, (cnt, disp), MPI.INT32_T], [recv, (cnt, disp), MPI.INT32_T])
        out[size] = (time.perf_counter() - t0) / reps
    alpha = out[0]
    per_byte = max(1e-12, (out[1 << 14] - alpha) / ((1 << 14) * ID_BYTES * (r - 1)))
    return alpha, 1 / per_byte


def rank_child(n, ticks):
    """One rank of a measured run (under mpiexec)."""
    from mpi4py import MPI
    from spikemesh.sim.distributed import DistributedSim

    comm = MPI.COMM_WORLD
    img_path, in_path = paths(n)
    rss0 = vm_hwm_mb()
    z = np.load(in_path)
    raster = np.unpackbits(z["bits"], axis=1, count=int(z["shape"][1])).astype(bool)[:ticks]
    alpha, bw = _mpi_params(comm) if comm.size > 1 else (0.0, float("inf"))
    t0 = time.perf_counter()
    dist = DistributedSim(img_path, comm=comm)
    setup = time.perf_counter() - t0
    rss_setup = vm_hwm_mb()
    ev_in = dist.input_events(ticks, raster)
    comm.Barrier()
    t0, c0 = time.perf_counter(), time.process_time()
    spk_ptr, spk_ids, _, _ = dist.run_events(ticks, ev_in)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    spikes, final, nspk = _digest(dist, spk_ptr, spk_ids)
    me = {
        "rank": comm.rank,
        "chips": list(dist.chips),
        "neurons": int((dist.slot_to_net >= 0).sum()),
        "ghosts": int(dist.ghost_slots.size),
        "setup_s": setup,
        "simulate_s": wall,
        "simulate_cpu_s": cpu,
        "wait_s": dist.wait_time,
        "exchange_s": dist.transfer_time,
        "ids_sent": dist.exchanged,
        "events": dist.events,
        "spikes": nspk,
        "rss_start_mb": rss0,
        "rss_setup_mb": rss_setup,
        "rss_peak_mb": vm_hwm_mb(),
        "digest": [spikes, final],
    }
    everyone = comm.gather(me, root=0)
    if comm.rank == 0:
        dig = [0, 0]
        for r in everyone:
            dig = [(dig[k] + r["digest"][k]) % (1 << 64) for k in range(2)]
        out = {
            "neurons": n,
            "ticks": ticks,
            "ranks": comm.size,
            "alpha_s": alpha,
            "bandwidth_bps": bw,
            "wall_s": max(r["simulate_s"] for r in everyone),
            "digest": [f"{d:016x}" for d in dig],
            "per_rank": everyone,
        }
        print(json.dumps(out), flush=True)


# --- the model -------------------------------------------------------------------------------


def dest_ranks(ranks, fanout=FANOUT):
    """Expected other ranks a spike is sent to: those holding any of its random targets."""
    return (ranks - 1) * (1 - (1 - 1 / ranks) ** fanout)


def model_tick(neurons, ranks, *, rate, ev_per_s, alpha, bandwidth, fanout=FANOUT):
    """Seconds per tick on each of ``ranks`` ranks: computation, latency, transfer."""
    per_rank = neurons / ranks
    events = per_rank * rate * fanout  # events delivered on a rank (its synapses' share)
    compute = events / ev_per_s
    if ranks == 1:
        return compute, 0.0, 0.0, 0.0
    sent = per_rank * rate * dest_ranks(ranks, fanout) * ID_BYTES
    latency = 2 * math.ceil(math.log2(ranks)) * alpha
    return compute, latency, sent / bandwidth, sent


def project(ev_per_s, rate, cluster=CLUSTER):
    rows = []
    for n, r in ((16 << 20, 16), (16 << 20, 128), (100_000_000, 16), (100_000_000, 128)):
        comp, lat, xfer, sent = model_tick(
            n,
            r,
            rate=rate,
            ev_per_s=ev_per_s,
            alpha=cluster["alpha_us"] * 1e-6,
            bandwidth=cluster["bandwidth_gbs"] * 1e9,
        )
        rows.append((n, r, comp, lat, xfer, sent))
    return rows


# --- orchestration ---------------------------------------------------------------------------


def _run(cmd):
    # glibc's malloc keeps freed arrays of up to 32 MB in its heap once it has seen one freed
    # (a dynamic mmap threshold): a fixed threshold gives the freed image tables back to the
    # OS, so the peak RSS measures what the model holds. Same setting for every run.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    r = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def mpiexec():
    return str(Path(sys.executable).parent / "mpiexec")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ticks", type=int, default=1000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1 << 20, 2 << 20])
    ap.add_argument("--skip-prepare", action="store_true")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--project-only", action="store_true")
    ap.add_argument("--prepare", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--chips", type=int, default=2, help=argparse.SUPPRESS)
    ap.add_argument("--rank-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.prepare:
        return prepare(args.prepare, args.chips, args.ticks)
    if args.rank_child:
        return rank_child(args.rank_child, args.ticks)
    if args.project_only:
        return print_projection(json.loads((OUT / "runs.json").read_text()))
    small, big = args.sizes
    prep = {}
    if not args.skip_prepare:
        for n in (small, big):
            prep[n] = _run(
                [sys.executable, __file__, "--prepare", str(n), "--ticks", str(args.ticks)]
            )
            print(json.dumps(prep[n]), flush=True)
        (OUT / "prepare.json").write_text(json.dumps(prep))
    else:
        prep = {int(k): v for k, v in json.loads((OUT / "prepare.json").read_text()).items()}
    load0 = os.getloadavg()
    up0 = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    runs = []
    for n, ranks in ((small, 1), (small, 2), (big, 2)):
        cmd = [mpiexec(), "-n", str(ranks), sys.executable, __file__]
        cmd += ["--rank-child", str(n), "--ticks", str(args.ticks)]
        runs.append(_run(cmd))
        print(json.dumps({k: v for k, v in runs[-1].items() if k != "per_rank"}), flush=True)
    up1 = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    res = {"prepare": prep, "runs": runs, "uptime": [up0, up1], "load": [load0, os.getloadavg()]}
    (OUT / "runs.json").write_text(json.dumps(res))
    print_projection(res)
    if not args.no_doc:
        write_doc(res)


def _measured(res):
    """Events/s of one process and the firing rate, from the one-rank run."""
    one = res["runs"][0]
    r0 = one["per_rank"][0]
    ev_per_s = r0["events"] / r0["simulate_s"]
    rate = r0["spikes"] / (one["neurons"] * one["ticks"])
    return ev_per_s, rate


def print_projection(res):
    ev_per_s, rate = _measured(res)
    for n, r, comp, lat, xfer, sent in project(ev_per_s, rate):
        print(
            f"N={n:,} R={r}: compute {comp * 1e3:.2f} ms, latency {lat * 1e6:.0f} us, "
            f"transfer {xfer * 1e6:.0f} us ({sent / 1e6:.2f} MB sent per rank per tick)"
        )


def _rank_rows(run):
    ticks = run["ticks"]
    rows = []
    for r in run["per_rank"]:
        rows.append(
            f"| {run['neurons']:,} | {run['ranks']} | {r['rank']} "
            f"| {r['chips'][0]}..{r['chips'][1] - 1} "
            f"| {r['setup_s']:.1f} | {r['simulate_s']:.2f} ({r['simulate_cpu_s']:.2f}) "
            f"| {r['events'] / r['simulate_s'] / 1e6:,.0f} "
            f"| {1e3 * r['wait_s'] / ticks:.2f} | {1e3 * r['exchange_s'] / ticks:.3f} "
            f"| {r['ids_sent'] * ID_BYTES / ticks / 1e3:,.1f} | {r['rss_peak_mb']:,.0f} |"
        )
    return rows


def write_doc(res):
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    one, two, weak = res["runs"]
    ev_per_s, rate = _measured(res)
    lines = [
        BEGIN,
        "",
        f"Measured {stamp} by `python bench/run_distributed.py` ({one['ticks']:,} ticks).",
        f"Load: `{res['uptime'][0]}` before, `{res['uptime'][1]}` after.",
        "",
        "| N | ranks | rank | chips | setup (s) | simulate wall (CPU) s | Mevents/s | "
        "wait ms/tick | exchange ms/tick | kB sent/tick | peak RSS (MiB) |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in res["runs"]:
        lines += _rank_rows(run)
    peak1 = one["per_rank"][0]["rss_peak_mb"]
    peak2 = max(r["rss_peak_mb"] for r in two["per_rank"])
    same = one["digest"] == two["digest"]
    lines += [
        "",
        "| quantity | value |",
        "|---|---:|",
        f"| strong scaling 1M, 1 -> 2 ranks (simulate wall) | {one['wall_s']:.2f} s -> "
        f"{two['wall_s']:.2f} s = **{one['wall_s'] / two['wall_s']:.2f}x** |",
        f"| weak scaling 1M/1 rank -> 2M/2 ranks (efficiency) | {one['wall_s']:.2f} s -> "
        f"{weak['wall_s']:.2f} s = **{one['wall_s'] / weak['wall_s']:.2f}** |",
        f"| peak RSS per rank, 2 ranks / 1 rank (1M) | {peak2:,.0f} / {peak1:,.0f} MiB = "
        f"**{100 * peak2 / peak1:.0f} %** |",
        f"| spikes and final state, 1 vs 2 ranks (digest) | "
        f"{'equal' if same else 'DIFFERENT'} ({one['digest'][0]}) |",
        f"| 2M digest (2 ranks) | {weak['digest'][0]} |",
        f"| events/s of one process (the model's R_ev) | {ev_per_s / 1e6:,.0f} M |",
        f"| firing rate | {100 * rate:.2f} % per tick |",
        f"| MPI on this machine: empty Alltoallv (alpha), bandwidth | "
        f"{two['alpha_s'] * 1e6:.1f} us, {two['bandwidth_bps'] / 1e9:.1f} GB/s |",
    ]
    lines += ["", "Communication per tick, measured against the model on this machine's MPI:", ""]
    lines += [
        "| run | bytes sent per rank per tick, measured / model | exchange ms/tick: "
        "total / without waiting for the other rank | model ms/tick | ratio (without waiting) |",
        "|---|---:|---:|---:|---:|",
    ]
    for run in (two, weak):
        t = run["ticks"]
        r = run["ranks"]
        sent = np.mean([x["ids_sent"] for x in run["per_rank"]]) * ID_BYTES / t
        _, lat, xfer, msent = model_tick(
            run["neurons"],
            r,
            rate=rate,
            ev_per_s=ev_per_s,
            alpha=run["alpha_s"],
            bandwidth=run["bandwidth_bps"],
        )
        total = np.mean([x["wait_s"] + x["exchange_s"] for x in run["per_rank"]]) / t
        meas = np.mean([x["exchange_s"] for x in run["per_rank"]]) / t
        model = lat / 2 + xfer  # one message step a tick (neighbour exchange) + transfer
        lines.append(
            f"| {run['neurons']:,} on {r} ranks | {sent / 1e3:,.1f} kB / {msent / 1e3:,.1f} kB "
            f"| {total * 1e3:.3f} / {meas * 1e3:.3f} | {model * 1e3:.3f} | {meas / model:.2f} |"
        )
    lines += [
        "",
        f"Projection (model above; cluster: alpha = {CLUSTER['alpha_us']} us per collective "
        f"step, {CLUSTER['bandwidth_gbs']} GB/s per rank, {CLUSTER['label']}; R_ev = "
        f"{ev_per_s / 1e6:,.0f} M events/s per rank, firing rate {100 * rate:.2f} %, fan-out "
        f"{FANOUT} random targets):",
        "",
        "| N | ranks | compute ms/tick | latency us/tick | transfer us/tick | MB sent per rank "
        "per tick | time per tick ms | ticks/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, r, comp, lat, xfer, sent in project(ev_per_s, rate):
        tot = comp + lat + xfer
        lines.append(
            f"| {n:,} | {r} | {comp * 1e3:.2f} | {lat * 1e6:.0f} | {xfer * 1e6:.0f} | "
            f"{sent / 1e6:.2f} | {tot * 1e3:.2f} | {1 / tot:,.0f} |"
        )
    lines += ["", END]
    block = "\n".join(lines)
    text = DOC.read_text() if DOC.exists() else "# Scale\n"
    if BEGIN in text and END in text:
        a, b = text.index(BEGIN), text.index(END) + len(END)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
