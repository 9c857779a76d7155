"""The compiled mesh (sim/_timed_noc.py) on faulty chips: cycle-exact with MeshModel."""

import numpy as np
import pytest
from spikemesh.sim._timed_noc import topology
from spikemesh.sim.mesh import MeshModel
from spikemesh.sim.timed import CompiledChipModel, neighbours

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
