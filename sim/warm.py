"""Compile the models' numba kernels into numba's cache before they are needed.

    python -m spikemesh.sim.warm

Runs each compiled model once on a tiny network: the timed model's cycle loop, its mesh and
core entry points, and the fast model's tick kernels with and without learning. Each kernel
is compiled under the machine-wide lock of sim/_compile_lock.py, so a process that needs one
meanwhile waits for it and then loads it instead of compiling it too. The test suite starts
this beside its xdist workers (conftest.py): the kernels are compiled once per run, on
otherwise idle time, not once in every worker (on a fresh clone, ~100 s of CPU each).
"""

from __future__ import annotations

import sys
import time


def _network(*, plastic):
    from spikemesh.network import Network

    net = Network("warm")
    net.source("in", 8, poisson=0.3, seed=1)
    net.population("a", 8, vth=20)
    net.population("b", 8, vth=20)
    net.connect("in", "a", weight=40)
    rule = None
    if plastic:
        rule = dict(a_plus=16, a_plus_shift=4, a_minus=16, a_minus_shift=4, w_min=-8, w_max=60)
    net.connect("a", "b", weight=30, delay=2, plasticity=rule)
    return net


def warm(out=sys.stdout) -> dict:
    """Compile (or load) every kernel; returns the seconds each model took."""
    from spikemesh.sim.fast import run_fast
    from spikemesh.sim.timed import CompiledChipModel, warm_up

    from spikemesh.config import ChipConfig, CoreConfig

    took = {}
    t0 = time.perf_counter()
    warm_up()
    chip = ChipConfig(
        width=2,
        height=1,
        core=CoreConfig(neurons=16, axons=16, synapses=16, fanout=16, profiles=1),
    )
    CompiledChipModel(chip).mesh_run([])
    CompiledChipModel(chip).core_run_tick(0)
    took["timed"] = time.perf_counter() - t0
    for plastic in (False, True):
        t0 = time.perf_counter()
        run_fast(_network(plastic=plastic), 20)
        took["fast, learning" if plastic else "fast"] = time.perf_counter() - t0
    for name, s in took.items():
        print(f"{name}: {s:.1f} s", file=out)
    return took


if __name__ == "__main__":
    warm()
