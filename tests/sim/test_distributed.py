"""The distributed functional model under mpiexec: 1, 2 and 3 ranks give the one-process
result and golden's, bit for bit; a mismatched launch and a failing rank end in a clear
error on every rank, never a hang.

Each test is one ``mpiexec -n R`` launch of this very file as a worker (``python
tests/sim/test_distributed.py MODE DIR``), which checks many networks in one go to keep the
MPI start-up (a few seconds) out of the per-network cost. Rank 0 prints one JSON line per
check; the worker aborts the launch on an unexpected error, and the test's timeout guards
against a hang.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NETS = 12  # random networks per launch (the target is at least 10)
TICKS = 60
TIMEOUT = 180  # seconds for one launch; a hang fails the test instead of CI
TIMED_NETS = 6  # random networks per launch of the timed system model (Python cycle twins)
TIMED_TICKS = 16


def mpiexec():
    """The mpiexec of the MPI wheel in this environment (the [mpi] extra), or None."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


needs_mpi = pytest.mark.skipif(
    mpiexec() is None, reason="needs mpi4py and mpiexec: pip install -e '.[mpi]'"
)


def launch(ranks, mode, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, __file__, mode, str(tmp_path)]
    p = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    return p, lines


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_ranks_equal_one_process_and_golden(ranks, tmp_path):
    p, lines = launch(ranks, "equiv", tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    runs = [x for x in lines if x["check"] == "net"]
    assert len(runs) == NETS
    for r in runs:
        assert r["ranks"] == ranks
        assert r["diff_one_process"] == [], r
        assert r["diff_golden"] == [], r
    assert sum(r["spikes"] for r in runs) > 0
    assert any(r["ghost_events"] > 0 for r in runs), "no spike ever crossed ranks"
    errors = {x["check"]: x for x in lines if x["check"] != "net"}
    # a mismatched launch: the same clear error on every rank, no hang
    assert errors["inputs"]["messages"] == [errors["inputs"]["messages"][0]] * ranks
    assert (
        f"rank {ranks - 1} was given inputs other than rank 0's"
        in (errors["inputs"]["messages"][0])
    )
    assert (
        f"rank {ranks - 1} was given system image other than rank 0's"
        in (errors["network"]["messages"][0])
    )
    expect = (
        f"{ranks} ranks for a system of {ranks - 1} chip(s): each rank needs at least one "
        f"chip; launch at most {ranks - 1} ranks or use a system with more chips"
    )
    assert errors["ranks"]["messages"] == [expect] * ranks
    assert "reading the system image failed on rank 0" in errors["missing"]["messages"][0]
    # the CLI entry, from a SystemConfig YAML and from a compiled system image
    assert errors["cli"]["diff_yaml"] == [] and errors["cli"]["diff_image"] == []
    assert errors["cli"]["others"] == [None] * (ranks - 1)
    assert errors["cli"]["error"] == (
        "--system runs the functional model (--backend tlm) or the timed one "
        "(--backend tlm-timed), not rtl"
    )
    assert errors["cli"]["exit_others"] == [2] * (ranks - 1)


@needs_mpi
def test_one_rank_under_mpiexec(tmp_path):
    p, lines = launch(1, "equiv", tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    runs = [x for x in lines if x["check"] == "net"]
    assert len(runs) == NETS and all(r["diff_golden"] == [] for r in runs)


@needs_mpi
def test_a_failing_rank_ends_the_launch(tmp_path):
    p, _ = launch(2, "crash", tmp_path)
    assert p.returncode != 0
    assert "error: rank 1 failed during the run: RuntimeError: injected failure" in p.stderr


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_timed_ranks_equal_one_process(ranks, tmp_path):
    """The timed system model over R ranks (sim/distributed_timed.py): every response of
    every chip (spikes, TICK_DONEs) taken in the same cycle as in the one-process
    lock-step run, so every tick's cycle count and every spike are equal; and golden's
    spikes. Mismatched launches end in one clear error on every rank."""
    p, lines = launch(ranks, "timed", tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    runs = [x for x in lines if x["check"] == "timed"]
    assert len(runs) == TIMED_NETS + 1  # and the contended router (0, 0) West input
    for r in runs:
        assert r["ranks"] == ranks
        assert r["same_responses"], r
        assert r["diff_one_process"] == [] and r["diff_golden"] == [], r
        assert r["windows"] > 0
    assert sum(r["link_flits"] for r in runs) > 100, "hardly a flit crossed a link"
    assert any(r["remote_flits"] > 0 for r in runs), "no flit crossed ranks"
    # a rank that paused at its chips' end of a tick was woken by a flit from another rank
    assert sum(r["resumes"] for r in runs) > 0
    errors = {x["check"]: x for x in lines if x["check"] != "timed"}
    assert errors["timed_inputs"]["messages"] == [errors["timed_inputs"]["messages"][0]] * ranks
    assert (
        f"rank {ranks - 1} was given inputs other than rank 0's"
        in (errors["timed_inputs"]["messages"][0])
    )
    assert (
        errors["timed_ranks"]["messages"]
        == [
            f"{ranks} ranks for a system of {ranks - 1} chip(s): each rank needs at least one "
            f"chip; launch at most {ranks - 1} ranks or use a system with more chips"
        ]
        * ranks
    )
    assert errors["timed_cli"]["diff"] == [] and errors["timed_cli"]["others"] == [None] * (
        ranks - 1
    )


@needs_mpi
def test_timed_failing_rank_ends_the_launch(tmp_path):
    p, _ = launch(2, "timed_crash", tmp_path)
    assert p.returncode != 0
    assert "error: rank 1 failed during the run: RuntimeError: injected failure" in p.stderr


# --- the worker -------------------------------------------------------------------------------


def _worker(mode, tmp):
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    try:
        if mode == "equiv":
            _equiv(comm, Path(tmp))
        elif mode == "timed":
            _timed(comm, Path(tmp))
        elif mode == "timed_crash":
            _timed_crash(comm)
        else:
            _crash(comm)
    except BaseException as e:  # an assertion on one rank must not leave the others waiting
        from spikemesh.sim.distributed import ABORT_DRAIN_S

        print(f"worker rank {comm.rank}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        time.sleep(ABORT_DRAIN_S)  # for mpiexec to forward the line (sim/distributed.py)
        comm.Abort(3)


def _say(comm, **kw):
    if comm.rank == 0:
        print(json.dumps(kw), flush=True)


def _systems():
    from spikemesh.config import ChipConfig, CoreConfig
    from spikemesh.system import SystemConfig

    core = CoreConfig(neurons=16, axons=256, synapses=4096, fanout=1024, profiles=4)
    return [
        SystemConfig(chips_x=2, chips_y=2, chip=ChipConfig(width=2, height=1, core=core)),
        SystemConfig(chips_x=3, chips_y=1, chip=ChipConfig(width=1, height=2, core=core)),
        SystemConfig(chips_x=1, chips_y=3, chip=ChipConfig(width=2, height=2, core=core)),
    ]


def _equiv(comm, tmp):
    from mpi4py import MPI
    from spikemesh.firmware.system import compile_system
    from spikemesh.sim.distributed import DistributedSim

    from spikemesh.golden import run_golden
    from tests.firmware.random_nets import random_network

    systems = _systems()
    for seed in range(NETS):
        net = random_network(seed)
        system = systems[seed % len(systems)]
        npc = -(-net.num_neurons // system.tiles)
        img, _ = compile_system(net, system, neurons_per_core=npc)
        raster = net.input_raster(TICKS)
        # both ways of moving spike ids: messages to neighbours, and the collectives
        exchange = "alltoallv" if seed % 3 == 1 else "neighbours"
        dist = DistributedSim(img, comm=comm, exchange=exchange)
        res = dist.run(TICKS, raster)
        ghost = comm.gather(dist.ghost_events, root=0)
        if comm.rank == 0:
            one = DistributedSim(img, comm=MPI.COMM_SELF).run(TICKS, raster)
            gold = run_golden(net, TICKS)
            _say(
                comm,
                check="net",
                seed=seed,
                ranks=comm.size,
                diff_one_process=one.diff(res),
                diff_golden=gold.diff(res),
                spikes=int(res.spikes.sum()),
                ghost_events=int(sum(ghost)),
            )
    if comm.size > 1:
        _mismatches(comm, tmp)


def _caught(comm, fn):
    """Run fn on every rank; gather what each rank's DistributedError said."""
    from spikemesh.sim.distributed import DistributedError

    msg = None
    try:
        fn()
    except DistributedError as e:
        msg = str(e)
    return comm.gather(msg, root=0)


def _mismatches(comm, tmp):
    import numpy as np
    from spikemesh.firmware.system import compile_system
    from spikemesh.sim.distributed import run_system

    from spikemesh.config import ChipConfig, CoreConfig
    from spikemesh.system import SystemConfig
    from tests.firmware.random_nets import random_network

    last = comm.size - 1
    system = _systems()[0]
    net = random_network(1)
    img, _ = compile_system(net, system, neurons_per_core=-(-net.num_neurons // system.tiles))
    raster = net.input_raster(TICKS)
    other = raster.copy()
    if comm.rank == last:
        other[3, 0] = not other[3, 0]
    msgs = _caught(comm, lambda: run_system(img, other, TICKS, comm=comm))
    _say(comm, check="inputs", messages=msgs)

    mine = img
    if comm.rank == last:
        net2 = random_network(1000)
        mine, _ = compile_system(net2, system, neurons_per_core=-(-net2.num_neurons // 8))
    msgs = _caught(comm, lambda: run_system(mine, raster, TICKS, comm=comm))
    _say(comm, check="network", messages=msgs)

    core = CoreConfig(neurons=64, axons=1024, synapses=8192, fanout=4096)
    few = SystemConfig(chips_x=comm.size - 1, chips_y=1, chip=ChipConfig(width=2, core=core))
    small, _ = compile_system(net, few)
    msgs = _caught(comm, lambda: run_system(small, raster, TICKS, comm=comm))
    _say(comm, check="ranks", messages=msgs)

    path = tmp / f"missing-{comm.rank}.simg"
    if comm.rank != 0:
        img.save(path)
    msgs = _caught(comm, lambda: run_system(path, raster, TICKS, comm=comm))
    _say(comm, check="missing", messages=msgs)
    _cli(comm, tmp, net, img, np)


def _cli(comm, tmp, net, img, np):
    from spikemesh.cli_system import add_system_arguments, run_system_backend
    from spikemesh.golden import run_golden

    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="tlm")
    parser.add_argument("--chip", default=None)
    add_system_arguments(parser)
    yaml_path, image_path = tmp / "system.yaml", tmp / "net.simg"
    if comm.rank == 0:
        yaml_path.write_text(img.system.to_yaml())
        img.save(image_path)
    comm.Barrier()
    # compiled on every rank from the YAML (npc default: the chips fill in order)
    r_yaml = run_system_backend(net, TICKS, parser.parse_args(["--system", str(yaml_path)]))
    r_image = run_system_backend(net, TICKS, parser.parse_args(["--system", str(image_path)]))
    others = comm.gather(r_yaml, root=0)
    exit_code, error = None, None
    try:
        run_system_backend(
            net, TICKS, parser.parse_args(["--system", str(yaml_path), "--backend", "rtl"])
        )
    except SystemExit as e:
        exit_code = e.code
    except Exception as e:
        error = str(e)
    codes = comm.gather(exit_code, root=0)
    if comm.rank == 0:
        gold = run_golden(net, TICKS)
        _say(
            comm,
            check="cli",
            diff_yaml=gold.diff(r_yaml),
            diff_image=gold.diff(r_image),
            others=others[1:],
            error=error,
            exit_others=codes[1:],
        )


def _crash(comm):
    from spikemesh.firmware.system import compile_system
    from spikemesh.sim.distributed import DistributedSim

    from tests.firmware.random_nets import random_network

    system = _systems()[0]
    net = random_network(0)
    img, _ = compile_system(net, system, neurons_per_core=-(-net.num_neurons // system.tiles))
    dist = DistributedSim(img, comm=comm)
    if comm.rank == 1:
        calls = []

        def deliver(ids):
            calls.append(1)
            if len(calls) == 5:
                raise RuntimeError("injected failure")
            return 0

        dist.sim.deliver = deliver
    dist.run(TICKS, net.input_raster(TICKS))
    print("the launch should have been aborted", flush=True)


def _timed_systems(ranks):
    """Systems of at least ``ranks`` chips, with their link latency and cycles per flit."""
    from spikemesh.config import ChipConfig, CoreConfig
    from spikemesh.system import SystemConfig

    core = CoreConfig(neurons=16, axons=256, synapses=4096, fanout=1024, profiles=4)
    out = []
    for cx, cy, w, h, lat, cpf in [
        (2, 1, 2, 1, 4, 1),
        (1, 2, 1, 2, 16, 4),
        (3, 1, 1, 1, 7, 2),
        (2, 2, 1, 1, 5, 1),
        (2, 1, 1, 2, 64, 1),
    ]:
        if cx * cy >= ranks:
            chip = ChipConfig(width=w, height=h, core=core)
            out.append(
                SystemConfig(
                    chips_x=cx, chips_y=cy, chip=chip, link_latency=lat, link_cycles_per_flit=cpf
                )
            )
    return out


def _timed_case(seed, ranks):
    from spikemesh.firmware.system import compile_system

    from tests.firmware.random_nets import random_network

    systems = _timed_systems(ranks)
    system = systems[seed % len(systems)]
    net = random_network(seed, max_neurons=system.tiles * 16, reset="mixed")
    img, _ = compile_system(net, system, neurons_per_core=-(-net.num_neurons // system.tiles))
    return net, img


def _contended(ranks):
    """Chip 1's host injects while chip 0's spikes come over row 0's link into the same
    router (0, 0) West input (tests/sim/test_timed_system.py has it in one process)."""
    from spikemesh.firmware.system import compile_system

    from spikemesh.config import ChipConfig, CoreConfig
    from spikemesh.network import Network
    from spikemesh.system import SystemConfig

    net = Network("share")
    net.population("a", 16, du=4095, dv=4095, vth=1, bias_mant=400, bias_exp=4)
    net.population("b", 16, du=4095, dv=4095, vth=100_000)
    net.source("in", 32, bernoulli=1.0, seed=1)
    net.connect("in", "b", weight=1)
    net.connect("a", "b", weight=1, connectivity="fixed_fanout", fanout=1, seed=2)
    core = CoreConfig(neurons=16, axons=256, synapses=4096, fanout=1024, profiles=4)
    system = SystemConfig(
        chips_x=max(2, ranks),
        chips_y=1,
        chip=ChipConfig(width=1, height=1, core=core),
        link_latency=4,
        link_cycles_per_flit=1,
    )
    return net, compile_system(net, system, neurons_per_core=16)[0]


def _timed(comm, tmp):
    from spikemesh.sim.distributed_timed import DistributedTimedSim
    from spikemesh.sim.timed_system import TimedSystem

    from spikemesh.golden import run_golden

    for seed in range(TIMED_NETS + 1):
        net, img = _timed_case(seed, comm.size) if seed < TIMED_NETS else _contended(comm.size)
        raster = net.input_raster(TIMED_TICKS)
        dist = DistributedTimedSim(img, raster, TIMED_TICKS, comm=comm)
        res = dist.run()
        remote = sum(
            e.sent
            for lid, e in dist.out_end.items()
            if lid not in dist.in_end  # the receiving end is on another rank
        )
        remote = comm.reduce(remote, root=0)
        resumes = comm.reduce(dist.resumes, root=0)
        if comm.rank == 0:
            ref = TimedSystem(img, raster, TIMED_TICKS)
            one = ref.run()
            _say(
                comm,
                check="timed",
                seed=seed,
                ranks=comm.size,
                same_responses=one.extra["responses"] == res.extra["responses"],
                diff_one_process=one.diff(res, cycles=True),
                diff_golden=run_golden(net, TIMED_TICKS).diff(res),
                link_flits=one.extra["link_flits"],
                remote_flits=int(remote),
                windows=res.extra["windows"],
                resumes=int(resumes),
            )
    _timed_mismatches(comm, tmp)


def _timed_mismatches(comm, tmp):
    from spikemesh.firmware.system import compile_system
    from spikemesh.sim.distributed_timed import run_system_timed_mpi
    from spikemesh.sim.timed_system import run_system_timed

    from spikemesh.cli_system import add_system_arguments, run_system_backend
    from spikemesh.config import ChipConfig, CoreConfig
    from spikemesh.system import SystemConfig
    from tests.firmware.random_nets import random_network

    last = comm.size - 1
    net, img = _timed_case(0, comm.size)
    raster = net.input_raster(TIMED_TICKS)
    other = raster.copy()
    if comm.rank == last:
        other[3, 0] = not other[3, 0]
    msgs = _caught(comm, lambda: run_system_timed_mpi(img, other, TIMED_TICKS, comm=comm))
    _say(comm, check="timed_inputs", messages=msgs)
    core = CoreConfig(neurons=64, axons=1024, synapses=8192, fanout=4096)
    few = SystemConfig(chips_x=comm.size - 1, chips_y=1, chip=ChipConfig(width=2, core=core))
    net2 = random_network(1)
    small, _ = compile_system(net2, few)
    msgs = _caught(comm, lambda: run_system_timed_mpi(small, net2.input_raster(4), 4, comm=comm))
    _say(comm, check="timed_ranks", messages=msgs)
    # the CLI entry: --backend tlm-timed --system a compiled image (each rank reads its chips)
    path = tmp / "timed.simg"
    if comm.rank == 0:
        img.save(path)
    comm.Barrier()
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="tlm")
    parser.add_argument("--chip", default=None)
    add_system_arguments(parser)
    args = parser.parse_args(["--system", str(path), "--backend", "tlm-timed"])
    res = run_system_backend(net, TIMED_TICKS, args)
    others = comm.gather(res, root=0)
    if comm.rank == 0:
        ref = run_system_timed(img, raster, TIMED_TICKS)
        _say(comm, check="timed_cli", diff=ref.diff(res, cycles=True), others=others[1:])


def _timed_crash(comm):
    from spikemesh.sim.distributed_timed import DistributedTimedSim

    net, img = _timed_case(0, comm.size)
    dist = DistributedTimedSim(img, net.input_raster(TIMED_TICKS), TIMED_TICKS, comm=comm)
    if comm.rank == 1:
        chip = next(iter(dist.node.values()))
        commit, calls = chip.commit, []

        def failing(*a):
            calls.append(1)
            if len(calls) == 50:
                raise RuntimeError("injected failure")
            return commit(*a)

        chip.commit = failing
    dist.run()
    print("the launch should have been aborted", flush=True)


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
