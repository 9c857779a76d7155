"""The compiled mesh (sim/_timed_noc.py) on faulty chips: cycle-exact with MeshModel."""

import numpy as np
import pytest
from spikemesh.sim._timed_noc import EAST, N_PORTS, NORTH, SOUTH, TOPO_X, TOPO_Y, WEST, topology
from spikemesh.sim.mesh import MeshModel
from spikemesh.sim.timed import CompiledChipModel

from spikemesh.config import ChipConfig, CoreConfig, flit_layout
from spikemesh.faultroute import fault_routing
from spikemesh.faults import FaultMap


def _traffic(chip, faults, rng, n, rate):
    """Random flits between live cores and the host (no misroutes on a routable map)."""
    lay = flit_layout(chip)
    live = faults.live_tiles()
    dests = [(t % chip.width, t // chip.width) for t in live] + [(-1, 0)]
    srcs = [*live, chip.tiles]
    sched = []
    for i in range(n):
        dx, dy = dests[int(rng.integers(len(dests)))]
        word = lay.pack(kind=int(rng.integers(0, 2)), dest_x=dx, dest_y=dy, payload=i & 15)
        sched.append((int(i * rate), srcs[int(rng.integers(len(srcs)))], word))
    return sched


def neighbours(chip: ChipConfig):
    """The fault-free topology table, written out: nbr[r, p] is the router behind output p
    of router r (-1 off the mesh edge, -2 the host at router 0's West port; LOCAL, p = 0,
    is the core and unused), nbr[r, TOPO_X] and nbr[r, TOPO_Y] the router's coordinates."""
    w, h = chip.width, chip.height
    nbr = np.full((chip.tiles, N_PORTS + 2), -1, dtype=np.int64)
    for y in range(h):
        for x in range(w):
            r = y * w + x
            nbr[r, TOPO_X], nbr[r, TOPO_Y] = x, y
            steps = ((NORTH, x, y + 1), (EAST, x + 1, y), (SOUTH, x, y - 1), (WEST, x - 1, y))
            for p, nx, ny in steps:
                if 0 <= nx < w and 0 <= ny < h:
                    nbr[r, p] = ny * w + nx
    nbr[0, WEST] = -2
    return nbr


def test_topology_without_faults_is_neighbours():
    for w, h in ((1, 1), (3, 2), (4, 4)):
        chip = ChipConfig(width=w, height=h)
        assert np.array_equal(topology(chip), neighbours(chip))


@pytest.mark.parametrize(
    "size, links, routers, seed",
    [((4, 4), 2, 0, 1), ((4, 4), 4, 1, 2), ((8, 8), 1, 0, 3), ((8, 8), 4, 0, 4), ((8, 8), 3, 2, 5)],
)
def test_faulty_mesh_matches_mesh_model(size, links, routers, seed):
    """Every flit's acceptance and arrival cycle equal to MeshModel.run with the same route
    tables; nothing dropped."""
    chip = ChipConfig(width=size[0], height=size[1], core=CoreConfig(neurons=16))
    for s in range(seed, seed + 30):  # the first routable map from this seed on
        faults = FaultMap.random(chip, seed=s, links=links, routers=routers)
        try:
            routing = fault_routing(chip, faults)
            break
        except Exception:
            continue
    rng = np.random.default_rng(seed)
    sched = _traffic(chip, faults, rng, 4000, 0.3 if size == (8, 8) else 0.5)
    twin = MeshModel(chip, routing=routing)
    want = twin.run(sched)
    m = CompiledChipModel(chip)
    m.nbr = topology(chip, routing)
    got = m.mesh_run(sched)
    assert got == want
    assert twin.dropped == 0 and all(a is not None for a in want[0])


@pytest.mark.parametrize("seed", [1, 2])
def test_faulty_chip_spikes_on_the_compiled_chip_model(seed):
    """A random network on a 4x4 chip with 3 dead links and a dead core, on the compiled
    chip model with the image's route tables in its mesh (bench/noc/fault_ticks.py's
    stand-in for run_image_timed until sim/timed.py takes them): golden's spikes, and the
    run ends (no deadlock, no flit lost at the tick barrier)."""
    from spikemesh.firmware import compile_network

    from bench.noc.fault_ticks import run_faulty
    from spikemesh.golden import run_golden
    from tests.firmware.random_nets import random_network

    chip = ChipConfig(
        width=4,
        height=4,
        core=CoreConfig(neurons=16, axons=256, synapses=4096, fanout=1024, profiles=4),
    )
    net = random_network(seed, max_neurons=150)
    for s in range(seed, seed + 30):
        faults = FaultMap.random(chip, seed=s, links=3, cores=1)
        try:
            img, _ = compile_network(net, chip, faults=faults, neurons_per_core=10)
            break
        except Exception:
            continue
    inputs = net.input_raster(30)
    r = run_faulty(img, inputs, 30)
    assert run_golden(net, 30, acc_bits=chip.core.acc_bits).diff(r) == []
    assert r.cycles is not None and len(r.cycles) == 30
