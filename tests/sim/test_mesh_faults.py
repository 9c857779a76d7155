"""MeshModel and RouterModel on faulty chips: route tables around dead links and routers.

Random traffic with random idle at every source and random backpressure at every output;
every flit must arrive exactly once, at its destination, in order per (source,
destination) pair, and nothing may be dropped (no flit sent onto a dead link).
"""

import random

import pytest
from spikemesh.sim.mesh import MeshModel
from spikemesh.sim.router import RouterModel

from spikemesh.config import ChipConfig, flit_layout
from spikemesh.faultroute import fault_routing, xy_tables
from spikemesh.faults import FaultMap
from spikemesh.noc import Port, RouteTables, route


def traffic(chip, routing, faults, *, flits, seed, p_offer=0.6, p_ready=0.6):
    """Drive ``MeshModel(chip, routing)`` until ``flits`` random flits (tagged above the flit
    layout) have arrived; check every arrival. Returns the cycles taken."""
    print(f"faulty mesh {chip.width}x{chip.height} {faults.describe()} seed={seed}")
    rng = random.Random(seed)
    mesh = MeshModel(chip, routing=routing)
    lay = flit_layout(chip)
    live = [(k % chip.width, k // chip.width) for k in faults.live_tiles()]
    ends = [mesh.endpoint(x, y) for x, y in live] + [mesh.host]
    dests = [*live, (-1, 0)]
    n = mesh.n_endpoints
    shift = lay.width
    sent = []  # tag -> (source endpoint, destination endpoint)
    last = {}  # (source, destination) -> last tag delivered
    iv, ip = [0] * n, [0] * n
    got = 0
    while got < flits:
        ov, op, ir = mesh.outputs()
        ordy = [int(rng.random() < p_ready) for _ in range(n)]
        for k in range(n):
            if ov[k] and ordy[k]:
                tag = op[k] >> shift
                src, dst = sent[tag]
                assert dst == k, f"flit {tag} from {src} for {dst} arrived at {k}"
                assert last.get((src, dst), -1) < tag, f"flit {tag} {src}->{dst} reordered"
                last[(src, dst)] = tag
                got += 1
            if iv[k] and ir[k]:
                iv[k] = 0  # accepted this cycle
        for k in ends:
            if not iv[k] and len(sent) < flits and rng.random() < p_offer:
                dx, dy = rng.choice(dests)
                sent.append((k, mesh.endpoint(dx, dy)))
                word = lay.pack(kind=0, dest_x=dx, dest_y=dy, payload=rng.randrange(64))
                iv[k], ip[k] = 1, word | (len(sent) - 1) << shift
        mesh.clock(iv, ip, ordy)
        assert not mesh.dropped, f"cycle {mesh.cycle}: a flit was sent onto a dead link"
        assert mesh.cycle < 200 * flits, "no progress: deadlock?"
    assert mesh.dropped == 0 and not mesh.misroute
    assert got == len(sent) == flits
    return mesh.cycle


@pytest.mark.parametrize("size", [(4, 4), (8, 8)], ids=["4x4", "8x8"])
@pytest.mark.parametrize("links", [1, 2, 3, 4])
def test_random_link_faults_lose_nothing(size, links):
    chip = ChipConfig(width=size[0], height=size[1])
    for seed in range(20):  # the first routable map (4x4 maps can cut a corner off)
        faults = FaultMap.random(chip, seed=seed, links=links)
        try:
            routing = fault_routing(chip, faults)
            break
        except Exception:
            continue
    traffic(chip, routing, faults, flits=8000, seed=seed)


def test_dead_router_and_one_way_links():
    chip = ChipConfig(width=5, height=4)
    faults = FaultMap(
        width=5,
        height=4,
        routers={(2, 2)},
        cores={(4, 0)},
        channels={(1, 0, "east"), (3, 1, "north")},
    )
    traffic(chip, fault_routing(chip, faults), faults, flits=2000, seed=5, p_offer=0.9)


def test_xy_tables_give_the_fault_free_mesh():
    """Route tables holding XY change nothing: same outputs every cycle as the XY mesh."""
    chip = ChipConfig(width=3, height=3)
    import numpy as np

    xy = RouteTables(chip, xy_tables(chip), np.zeros(9, dtype=np.uint8))
    a, b = MeshModel(chip), MeshModel(chip, routing=xy)
    rng = random.Random(1)
    lay = flit_layout(chip)
    n = a.n_endpoints
    for _ in range(600):
        oa, ob = a.outputs(), b.outputs()
        assert [list(x) for x in oa] == [list(x) for x in ob]
        iv = [int(rng.random() < 0.5) for _ in range(n)]
        ip = [
            lay.pack(kind=0, dest_x=rng.randrange(-1, 3), dest_y=rng.randrange(3), payload=1)
            for _ in range(n)
        ]
        ordy = [int(rng.random() < 0.7) for _ in range(n)]
        iv = [v & r for v, r in zip(iv, oa[2], strict=True)]
        a.clock(iv, ip, ordy)
        b.clock(iv, ip, ordy)


def test_router_model_routes_by_table():
    chip = ChipConfig(width=4, height=4)
    faults = FaultMap(width=4, height=4, channels={(1, 1, "east"), (2, 1, "west")})
    rt = fault_routing(chip, faults)
    lay = flit_layout(chip)
    r = RouterModel(chip, x=1, y=1, routing=rt)
    for dx in range(-1, 4):
        for dy in range(4):
            flit = lay.pack(kind=0, dest_x=dx, dest_y=dy, payload=0)
            assert r.route(flit) == rt.route(1, 1, dx, dy)
    assert rt.route(1, 1, 3, 1) != Port.EAST == route(1, 1, 3, 1)
    with pytest.raises(TypeError, match="routing must be RouteTables for the 4 x 4 mesh"):
        RouterModel(chip, x=0, y=0, routing="xy")


@pytest.mark.slow
@pytest.mark.parametrize("size", [(4, 4), (8, 8)], ids=["4x4", "8x8"])
@pytest.mark.parametrize("links", [1, 2, 4, 8, 16])
def test_long_random_link_faults(size, links):
    """SPIKEMESH_LONG=1: 100,000 flits per routable map, 3 maps per fault count."""
    chip = ChipConfig(width=size[0], height=size[1])
    done = 0
    for seed in range(50):
        faults = FaultMap.random(chip, seed=seed, links=links)
        try:
            routing = fault_routing(chip, faults)
        except Exception:
            continue
        traffic(chip, routing, faults, flits=100_000, seed=seed, p_offer=0.8, p_ready=0.5)
        done += 1
        if done == 3:
            break
    assert done or links >= 8
