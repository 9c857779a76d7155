"""The fault model (spikemesh/faults.py) and the route tables around it (faultroute.py)."""

import itertools

import numpy as np
import pytest

from spikemesh.config import ChipConfig
from spikemesh.errors import CompileError, ConfigError
from spikemesh.faultroute import (
    _Graph,
    _orders,
    _routes_to,
    _tables_for,
    check_routes,
    fault_routing,
    xy_tables,
)
from spikemesh.faults import FaultMap
from spikemesh.noc import Port, RouteTables, dest_code, route

CHIP4 = ChipConfig(width=4, height=4)
CHIP8 = ChipConfig(width=8, height=8)


def fm(chip=CHIP4, **kw):
    return FaultMap(width=chip.width, height=chip.height, **kw)


def test_link_both_ways_and_router_links():
    f = FaultMap.from_dict({"links": [{"x": 1, "y": 1, "port": "east"}]}, chip=CHIP4)
    assert f.channels == {(1, 1, Port.EAST), (2, 1, Port.WEST)}
    one = FaultMap.from_dict(
        {"mesh": [4, 4], "links": [{"x": 1, "y": 1, "port": "north", "one_way": True}]}
    )
    assert one.channels == {(1, 1, Port.NORTH)}
    assert not one.channel_alive(1, 1, Port.NORTH) and one.channel_alive(1, 2, Port.SOUTH)
    r = fm(routers={(2, 2)})
    assert len(r.channels) == 8 and (2, 2) in r.cores
    assert not r.channel_alive(1, 2, Port.EAST)


def test_yaml_roundtrip(tmp_path):
    f = FaultMap.random(CHIP8, seed=3, links=3, routers=1, cores=2)
    p = tmp_path / "f.yaml"
    p.write_text(f.to_yaml())
    assert FaultMap.from_yaml(p, chip=CHIP8) == f


def test_random_is_reproducible():
    a = FaultMap.random(CHIP8, seed=7, links=4)
    assert a == FaultMap.random(CHIP8, seed=7, links=4)
    assert len(a.channels) == 8
    assert len(FaultMap.random(CHIP8, seed=7, links=4, one_way=True).channels) == 4


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"routers": {(0, 0)}}, r"dead router \(0,0\): it carries the host link"),
        ({"routers": {(4, 1)}}, r"dead router \(4,1\) is outside the 4 x 4 mesh \(x 0..3"),
        ({"cores": {(1, -1)}}, r"dead core \(1,-1\) is outside"),
        ({"channels": {(0, 0, "west")}}, r"port WEST: that port leads to the host link"),
        ({"channels": {(3, 1, "east")}}, r"port EAST: that port leads to the mesh edge"),
        ({"channels": {(1, 1, "local")}}, r"port LOCAL is the core, not a link"),
        ({"channels": {(1, 1, "up")}}, r"port must be one of north, east, south, west"),
    ],
)
def test_init_wrong_faults(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        fm(**kw)


def test_from_dict_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"fault map: the fault map is for a 8 x 8 mesh"):
        FaultMap.from_dict({"mesh": [8, 8]}, chip=CHIP4)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['link'\]"):
        FaultMap.from_dict({"link": []}, chip=CHIP4)
    with pytest.raises(ConfigError, match=r"links\[0\] must be \{x: .., y: .., port: ..\}"):
        FaultMap.from_dict({"links": [[1, 1]]}, chip=CHIP4)
    with pytest.raises(ConfigError, match="needs mesh"):
        FaultMap.from_dict({})
    with pytest.raises(ConfigError, match=r"has 24 links to kill; cannot draw 25"):
        FaultMap.random(CHIP4, seed=0, links=25)
    bad = tmp_path / "bad.yaml"
    bad.write_text("links: [\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: cannot be read as YAML"):
        FaultMap.from_yaml(bad, chip=CHIP4)
    with pytest.raises(ConfigError, match="does not exist"):
        FaultMap.from_yaml(tmp_path / "none.yaml")


def _walk(rt, chip, faults, s, d):
    """Routers visited by a flit from tile s to destination (x, y) d over the tables."""
    x, y = s
    path = [(x, y)]
    for _ in range(chip.tiles + 1):
        p = rt.route(x, y, *d)
        if p == Port.LOCAL or (d == (-1, 0) and (x, y) == (0, 0) and p == Port.WEST):
            return path
        assert faults.channel_alive(x, y, p), (s, d, path, p)
        x, y = x + (p == Port.EAST) - (p == Port.WEST), y + (p == Port.NORTH) - (p == Port.SOUTH)
        path.append((x, y))
    raise AssertionError(f"route {s} -> {d} loops")


def test_fault_free_tables_are_xy():
    rt = fault_routing(CHIP4, fm())
    assert rt.order.startswith("XY repaired")
    assert np.array_equal(rt.table, xy_tables(CHIP4)) and not rt.link_off.any()


def test_negative_first_order_is_minimal_without_faults():
    g = _Graph(CHIP4, fm())
    name, rank = _orders(g)[0]
    assert name == "negative-first"
    table, bad, _ = _tables_for(CHIP4, g, lambda d: _routes_to(g, rank, d), xy_tables(CHIP4))
    assert bad == []
    rt = RouteTables(CHIP4, table, np.zeros(16))
    for s in np.ndindex(4, 4):
        for d in [*np.ndindex(4, 4), (-1, 0)]:
            path = _walk(rt, CHIP4, fm(), s, d)
            assert len(path) - 1 == abs(s[0] - max(d[0], 0)) + abs(s[1] - d[1])


def test_xy_tables_equal_route():
    xy = xy_tables(CHIP4)
    for k in range(16):
        for dx in range(-4, 4):  # every code of the 3-bit signed dest_x
            for dy in range(4):
                assert xy[k, dest_code(CHIP4, dx, dy)] == route(k % 4, k // 4, dx, dy)


@pytest.mark.parametrize("chip", [CHIP4, CHIP8], ids=["4x4", "8x8"])
@pytest.mark.parametrize("links", [1, 2, 3, 4])
def test_random_link_faults_routed(chip, links):
    """Every (live, live) pair and the host arrive over live channels; the CDG is acyclic
    (check_routes); all maps with <= 4 random link faults on 8x8 are routable."""
    n_ok, seeds = 0, range(6 if chip is CHIP4 else 3)
    for seed in seeds:
        f = FaultMap.random(chip, seed=seed, links=links)
        try:
            rt = fault_routing(chip, f)
        except CompileError as e:
            assert chip is CHIP4 and "cut off" in str(e)
            continue
        n_ok += 1
        for s in [(0, 0), (chip.width - 1, chip.height - 1), (1, chip.height - 1)]:
            for d in [(-1, 0), (chip.width - 1, 0), (0, chip.height - 1), (2, 1)]:
                _walk(rt, chip, f, s, d)
    assert n_ok == len(seeds) or chip is CHIP4


def test_single_link_faults_keep_xy_elsewhere():
    """One dead link on 8x8: XY repaired, and every flow whose XY path avoids it keeps it."""
    for seed in range(3):
        f = FaultMap.random(CHIP8, seed=seed, links=1)
        rt = fault_routing(CHIP8, f)
        assert rt.order.startswith("XY repaired")
        xy = RouteTables(CHIP8, xy_tables(CHIP8), np.zeros(64))
        for s in [(0, 0), (7, 7), (3, 5)]:
            for d in [(6, 1), (1, 6), (-1, 0)]:
                path = _walk(xy, CHIP8, FaultMap(width=8, height=8), s, d)
                hops = list(itertools.pairwise(path))
                dead = {
                    (
                        (x, y),
                        (
                            x + (p == Port.EAST) - (p == Port.WEST),
                            y + (p == Port.NORTH) - (p == Port.SOUTH),
                        ),
                    )
                    for x, y, p in f.channels
                }
                if not dead & set(hops):
                    assert _walk(rt, CHIP8, f, s, d) == path


def test_dead_router_routed_around():
    f = fm(CHIP8, routers={(3, 3), (4, 5)}, cores={(0, 7)})
    rt = fault_routing(CHIP8, f)
    assert rt.link_off[3 * 8 + 3] == 0b11110
    assert rt.link_off[3 * 8 + 2] == 1 << Port.EAST
    for s in [(0, 3), (7, 3), (3, 0)]:
        path = _walk(rt, CHIP8, f, s, (3, 6))
        assert (3, 3) not in path and (4, 5) not in path


def test_cut_off_tiles_named():
    f = fm(channels={(3, 3, "west"), (3, 3, "south"), (2, 3, "east"), (3, 2, "north")})
    with pytest.raises(
        CompileError, match=r"cut off 1 tile\(s\) with live cores from the host at \(0,0\): \(3,3\)"
    ):
        fault_routing(CHIP4, f)
    # the same tile with its core marked dead: nothing needs it, so the map routes
    fault_routing(CHIP4, fm(channels=f.channels, cores={(3, 3)}))


def test_check_routes_finds_dead_link_and_cycle():
    f = fm(channels={(1, 0, "east"), (2, 0, "west")})
    rt = fault_routing(CHIP4, f)
    xy = RouteTables(CHIP4, xy_tables(CHIP4), rt.link_off)
    with pytest.raises(
        CompileError, match=r"router \([12],0\) sends it out of (EAST|WEST) onto a dead link"
    ):
        check_routes(CHIP4, f, xy)
    # a table that turns a ring around a 2 x 2 block for four destinations: a CDG cycle
    t = xy_tables(CHIP4)
    ring = {(1, 1): Port.EAST, (2, 1): Port.NORTH, (2, 2): Port.WEST, (1, 2): Port.SOUTH}
    d = {(1, 1): (2, 2), (2, 1): (1, 2), (2, 2): (1, 1), (1, 2): (2, 1)}
    for (x, y), p in ring.items():
        nxt = {
            Port.EAST: (x + 1, y),
            Port.NORTH: (x, y + 1),
            Port.WEST: (x - 1, y),
            Port.SOUTH: (x, y - 1),
        }[p]
        t[y * 4 + x, dest_code(CHIP4, *d[(x, y)])] = p
        # the next router carries on in the ring direction for that destination
        nx, ny = nxt
        t[ny * 4 + nx, dest_code(CHIP4, *d[(x, y)])] = ring[nxt]
    with pytest.raises(CompileError, match="channel dependency cycle"):
        check_routes(CHIP4, fm(), RouteTables(CHIP4, t, np.zeros(16)))


def test_route_tables_shape_checked():
    with pytest.raises(ValueError, match=r"must be \[16, 32\] and \[16\]"):
        RouteTables(CHIP4, np.zeros((16, 3)), np.zeros(16))
