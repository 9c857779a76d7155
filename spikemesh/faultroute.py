"""Route tables around a fault map: up*/down* on a node order (docs/noc.md, "Faults").

:func:`fault_routing` computes, for a :class:`~spikemesh.faults.FaultMap`, every router's
destination-indexed route table; :func:`check_routes` discharges the scheme's proof
obligation on the tables themselves (every route arrives, the channel dependency graph is
acyclic). Both are run by the compiler (firmware/compiler.py) for every faulty chip.
"""

from __future__ import annotations

import random
from collections import deque

import numpy as np

from spikemesh.config import ChipConfig
from spikemesh.errors import CompileError
from spikemesh.faults import LINK_PORTS, FaultMap, neighbour
from spikemesh.noc import N_PORTS, Port, RouteTables, dest_code, route

INF = 1 << 30
NORTH, EAST, SOUTH, WEST = (int(p) for p in LINK_PORTS)
_TRY_ORDER = {
    xy: [xy] + [int(p) for p in LINK_PORTS if p != xy] for xy in (NORTH, EAST, SOUTH, WEST)
}


class _Graph:
    """Live routers and channels of a faulty mesh, by router index ``y * width + x``."""

    def __init__(self, chip: ChipConfig, faults: FaultMap):
        w, h = chip.width, chip.height
        self.w, self.h, self.n = w, h, w * h
        self.live = [(k % w, k // w) not in faults.routers for k in range(self.n)]
        # nxt[k][p]: router behind live output p of router k, or -1
        self.nxt = []
        for k in range(self.n):
            x, y = k % w, k // w
            row = [-1] * N_PORTS
            for p in LINK_PORTS:
                if faults.channel_alive(x, y, p):
                    nx, ny = neighbour(x, y, p)
                    row[p] = ny * w + nx
            self.nxt.append(row)
        self.prev = [[] for _ in range(self.n)]  # (u, p) with nxt[u][p] == v
        for u in range(self.n):
            for p in LINK_PORTS:
                v = self.nxt[u][p]
                if v >= 0:
                    self.prev[v].append((u, int(p)))
        # R: the tiles that send or receive: live cores and (0, 0), the host's router
        self.needed = [k for k in range(self.n) if (k % w, k // w) not in faults.cores or k == 0]

    def name(self, k) -> str:
        return f"({k % self.w},{k // self.w})"

    def reach(self, start, backwards=False):
        seen = {start}
        todo = [start]
        while todo:
            v = todo.pop()
            nbrs = (u for u, _ in self.prev[v]) if backwards else (u for u in self.nxt[v] if u >= 0)
            for u in nbrs:
                if u not in seen:
                    seen.add(u)
                    todo.append(u)
        return seen


def _orders(g: _Graph):
    """Candidate node orders (name, rank per router): the four corner orders, then
    breadth-first orders (classic up*/down*) from the corners and the centre."""
    w, h = g.w, g.h
    out = []
    for name, sx, sy in (
        ("negative-first", 1, 1),
        ("corner (w-1,0)", -1, 1),
        ("corner (0,h-1)", 1, -1),
        ("corner (w-1,h-1)", -1, -1),
    ):
        keys = sorted(range(g.n), key=lambda k: (sx * (k % w), sy * (k // w)))
        rank = [0] * g.n
        for i, k in enumerate(keys):
            rank[k] = i
        out.append((name, rank))
    for rx, ry in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1), (w // 2, h // 2)):
        root = ry * w + rx
        if not g.live[root]:
            continue
        dist = [INF] * g.n
        dist[root] = 0
        q = deque([root])
        while q:  # over links live both ways
            u = q.popleft()
            for p in LINK_PORTS:
                v = g.nxt[u][p]
                if v >= 0 and dist[v] == INF and g.nxt[v][Port(p).opposite] == u:
                    dist[v] = dist[u] + 1
                    q.append(v)
        keys = sorted(range(g.n), key=lambda k: (dist[k], abs(k % w - rx) + 0, k))
        rank = [0] * g.n
        for i, k in enumerate(keys):
            rank[k] = i
        out.append((f"up*/down* from ({rx},{ry})", rank))
    return out


def _routes_to(g: _Graph, rank, d: int):
    """(next port per router, distance per router) towards destination router ``d``."""
    n, nxt = g.n, g.nxt
    dx, dy = d % g.w, d // g.w
    port = [-1] * n
    dist = [INF] * n
    dist[d] = 0
    port[d] = int(Port.LOCAL)
    q = deque([d])
    while q:  # down-only distances: reverse BFS over down channels
        v = q.popleft()
        for u, _ in g.prev[v]:
            if dist[u] == INF and rank[v] > rank[u]:
                dist[u] = dist[v] + 1
                q.append(u)
    in_d = [dist[k] < INF for k in range(n)]

    def pick(u, ok):
        ux, uy = u % g.w, u // g.w  # ties go to the XY port first
        xy = EAST if dx > ux else WEST if dx < ux else NORTH if dy > uy else SOUTH
        best, bp = INF, -1
        for p in _TRY_ORDER[xy]:
            v = nxt[u][p]
            if v >= 0 and ok(v) and dist[v] < best:
                best, bp = dist[v], p
        return best, bp

    for u in range(n):
        if u != d and in_d[u]:
            best, port[u] = pick(u, lambda v, u=u: in_d[v] and rank[v] > rank[u])
    for u in sorted(range(n), key=lambda k: rank[k]):
        if not in_d[u] and g.live[u]:
            best, p = pick(u, lambda v, u=u: rank[v] < rank[u])
            if p >= 0:
                dist[u], port[u] = best + 1, p
    return port, dist


# Turn models that allow every XY turn (Glass and Ni): each forbids two turns (travel
# direction in -> travel direction out) and is deadlock-free on its own.
TURN_MODELS = {
    "west-first": {(NORTH, WEST), (SOUTH, WEST)},
    "east-first": {(NORTH, EAST), (SOUTH, EAST)},
    "north-last": {(NORTH, EAST), (NORTH, WEST)},
    "south-last": {(SOUTH, EAST), (SOUTH, WEST)},
}
REPAIR_SHUFFLES = 8  # destination orders the CDG-checked repair tries
_OPP = {NORTH: SOUTH, SOUTH: NORTH, EAST: WEST, WEST: EAST}


def _xy_repair(g: _Graph, prohibited=None, shuffle=None, lazy=False):
    """XY where it survives, detours grown greedily where it does not: {destination:
    (next port, distance) per router}, or None when some needed router cannot be attached.

    For every destination, a router whose whole XY path is live keeps its XY port. The
    others attach, nearest first, to a neighbour that already has a route, over the
    shortest such hop whose turn at the neighbour (this hop's direction -> the neighbour's
    port) is allowed: with ``prohibited`` (a turn model of :data:`TURN_MODELS`, which
    allows every XY turn) a turn it does not forbid and no U-turn; without it, a turn
    whose new dependency closes no cycle in the channel dependency graph built so far.
    ``shuffle`` seeds another order of the destinations; ``lazy`` adds a destination's
    surviving XY hops only when that destination's turn comes, each one CDG-checked like
    a detour (the greedy's outcome depends on both).
    """
    n, w, nxt = g.n, g.w, g.nxt
    succ = {}  # the CDG: channel (u * N_PORTS + p) -> set of channels

    def reaches(a, b):
        seen, todo = {a}, [a]
        while todo:
            c = todo.pop()
            if c == b:
                return True
            for e in succ.get(c, ()):
                if e not in seen:
                    seen.add(e)
                    todo.append(e)
        return False

    def xy_port(u, d):
        ux, uy, dx, dy = u % w, u // w, d % w, d // w
        return EAST if dx > ux else WEST if dx < ux else NORTH if dy > uy else SOUTH

    out = {}
    todo = []
    for d in range(n):
        if not g.live[d]:
            continue
        port, dist = [-1] * n, [INF] * n
        port[d], dist[d] = int(Port.LOCAL), 0
        man = lambda u, d=d: abs(u % w - d % w) + abs(u // w - d // w)
        for u in sorted((u for u in range(n) if g.live[u] and u != d and not lazy), key=man):
            p = xy_port(u, d)
            v = nxt[u][p]
            if v >= 0 and dist[v] < INF:  # v is nearer on the same XY path: decided
                port[u], dist[u] = p, dist[v] + 1
        for u in range(n):
            v = nxt[u][port[u]] if u != d and port[u] > 0 else -1
            if v >= 0 and v != d:
                succ.setdefault(u * N_PORTS + port[u], set()).add(v * N_PORTS + port[v])
        out[d] = (port, dist)
        todo.append(d)
    if shuffle is not None:  # another order of the destinations (the greedy depends on it)
        random.Random(shuffle).shuffle(todo)
    for d in todo:
        port, dist = out[d]
        man = lambda u, d=d: abs(u % w - d % w) + abs(u // w - d // w)
        left = sorted((u for u in range(n) if g.live[u] and dist[u] == INF), key=man)
        while left:
            rest = []
            for u in left:
                xy = xy_port(u, d)
                cands = sorted(
                    (dist[v], int(p) != xy, int(p), v)
                    for p in LINK_PORTS
                    if (v := nxt[u][p]) >= 0 and dist[v] < INF
                )
                for _, _, p, v in cands:
                    a = u * N_PORTS + p
                    if prohibited is not None:
                        if v != d and ((p, port[v]) in prohibited or port[v] == _OPP[p]):
                            continue
                    elif v != d:
                        b = v * N_PORTS + port[v]
                        if reaches(b, a):
                            continue
                        succ.setdefault(a, set()).add(b)
                    port[u], dist[u] = p, dist[v] + 1
                    break
                else:
                    rest.append(u)
            if len(rest) == len(left):
                break
            left = rest
        if any(dist[u] == INF for u in g.needed):
            return None
    return out


def xy_tables(chip: ChipConfig) -> np.ndarray:
    """The route table of XY routing (:func:`spikemesh.noc.route`) for every router."""
    w, n = chip.width, chip.tiles
    entries = 1 << (chip.x_bits + 1 + chip.y_bits)
    table = np.zeros((n, entries), dtype=np.uint8)
    dxb, dyb = chip.x_bits + 1, chip.y_bits
    for code in range(entries):
        raw, dyv = code >> dyb, code & ((1 << dyb) - 1)
        dxv = raw - (1 << dxb) if raw >> (dxb - 1) else raw
        for k in range(n):
            table[k, code] = route(k % w, k // w, dxv, dyv)
    return table


def _tables_for(chip, g: _Graph, routes, xy):
    """Route tables from ``routes(d)`` = (next port, distance) per router towards each
    destination d (starting from the XY tables ``xy``: off-mesh codes keep them), the
    unroutable needed pairs, and (max channel load under all-to-all traffic, total hops)."""
    table = xy.copy()
    needed = set(g.needed)
    bad = []
    load = {}
    hops = 0
    for d in range(g.n):
        if not g.live[d]:
            continue
        port, dist = routes(d)
        code = dest_code(chip, d % g.w, d // g.w)
        for k in range(g.n):
            if port[k] >= 0 and g.live[k]:
                table[k, code] = port[k]
        if d in needed:
            bad += [(s, d) for s in g.needed if dist[s] >= INF]
            cnt = dict.fromkeys(needed, 1)
            for u in sorted((k for k in range(g.n) if 0 < dist[k] < INF), key=lambda k: -dist[k]):
                c = cnt.get(u, 0)
                if c:
                    load[(u, port[u])] = load.get((u, port[u]), 0) + c
                    v = g.nxt[u][port[u]]
                    cnt[v] = cnt.get(v, 0) + c
                    hops += c
    host = dest_code(chip, -1, 0)
    table[:, host] = table[:, dest_code(chip, 0, 0)]
    table[0, host] = int(Port.WEST)
    return table, bad, (max(load.values(), default=0), hops)


def _link_off(chip, g: _Graph) -> np.ndarray:
    off = np.zeros(g.n, dtype=np.uint8)
    for k in range(g.n):
        for p in LINK_PORTS:
            nx, ny = neighbour(k % g.w, k // g.w, p)
            on_mesh = 0 <= nx < g.w and 0 <= ny < g.h
            if on_mesh and (g.nxt[k][p] < 0 or not g.live[k]):
                off[k] |= 1 << p
    return off


def fault_routing(chip: ChipConfig, faults: FaultMap) -> RouteTables:
    """Deadlock-free route tables around ``faults`` (docs/noc.md, "Faults").

    Tries XY repaired around the faults (:func:`_xy_repair`) and the corner and
    breadth-first up*/down* orders, and keeps the one that routes every pair of live cores
    and the host with the smallest maximum channel load (then fewest hops); the result is
    checked by :func:`check_routes`.

    Raises
    ------
    CompileError
        Tiles with live cores are cut off from the host by the faults (named), or no
        order routes every pair (the first pairs named).
    """
    faults.check_chip(chip)
    g = _Graph(chip, faults)
    fwd, back = g.reach(0), g.reach(0, backwards=True)
    cut = [k for k in g.needed if k not in fwd or k not in back]
    if cut:
        names = ", ".join(g.name(k) for k in cut[:16]) + (" ..." if len(cut) > 16 else "")
        raise CompileError(
            f"the faults ({faults.describe()}) cut off {len(cut)} tile(s) with live cores from "
            f"the host at (0,0): {names}; mark their cores dead (cores: [[x, y], ...]) or "
            f"repair the links"
        )
    best = None
    first_bad = None
    xy = xy_tables(chip)
    candidates = [(name, lambda d, rank=rank: _routes_to(g, rank, d)) for name, rank in _orders(g)]
    # XY repaired around the faults keeps most flows on their XY paths and measures far
    # better than any up*/down* order (docs/noc-bench.md): preferred whenever it succeeds.
    repairs = []
    for name, turns in TURN_MODELS.items():
        routes = _xy_repair(g, turns)
        if routes is not None:
            repairs.append((f"XY repaired ({name})", routes.__getitem__))
    shuffles = REPAIR_SHUFFLES if g.n <= 100 else 0  # each costs O(tiles^2) cycle checks
    for lazy in (False, True):  # per variant, the first destination order that succeeds
        for shuffle in (None, *range(shuffles)):
            routes = _xy_repair(g, None, shuffle, lazy)
            if routes is not None:
                break
        if routes is None:
            continue
        if not lazy:
            repairs.append(("XY repaired (CDG-checked)", routes.__getitem__))
            break
        # The lazy variant can pile detours up (measured: 0.08 flits/node/cycle on a map
        # where a corner order gives 0.20), so it competes with the up*/down* orders on
        # channel load instead of being preferred.
        candidates.insert(0, ("XY repaired (CDG-checked, lazy)", routes.__getitem__))
    for family in (repairs, candidates):
        for name, routes in family:
            table, bad, score = _tables_for(chip, g, routes, xy)
            if bad:
                first_bad = first_bad or bad
                continue
            if best is None or score < best[0]:
                best = (score, name, table)
        if best is not None:
            break
    if best is None:
        pairs = ", ".join(f"{g.name(s)} -> {g.name(d)}" for s, d in first_bad[:8])
        raise CompileError(
            f"no deadlock-free up*/down* routing found around the faults "
            f"({faults.describe()}); unroutable pairs include {pairs}"
        )
    rt = RouteTables(chip, best[2], _link_off(chip, g), order=best[1])
    check_routes(chip, faults, rt)
    return rt


def check_routes(chip: ChipConfig, faults: FaultMap, rt: RouteTables) -> None:
    """The proof obligation, on the tables: every route between live cores and the host
    arrives within width x height hops over live channels, and the channel dependency
    graph of all of them is acyclic.

    Raises
    ------
    CompileError
        Naming the first broken route or a channel cycle.
    """
    g = _Graph(chip, faults)
    edges = {}  # channel (u * N_PORTS + p) -> set of channels it waits for
    dests = [(d, dest_code(chip, d % g.w, d // g.w)) for d in g.needed]
    dests.append((-1, dest_code(chip, -1, 0)))
    for d, code in dests:
        done = set()
        for s in g.needed:
            u, prev, steps = s, None, 0
            while u not in done:
                done.add(u)
                p = int(rt.table[u, code])
                if p == Port.LOCAL or (d < 0 and u == 0 and p == Port.WEST):
                    if u != max(d, 0) or (d < 0 and p != Port.WEST):
                        raise CompileError(f"route {g.name(s)} -> {d}: ends at {g.name(u)}")
                    break
                v = g.nxt[u][p]
                if v < 0 or rt.link_off[u] >> p & 1:
                    raise CompileError(
                        f"route {g.name(s)} -> {'host' if d < 0 else g.name(d)}: router "
                        f"{g.name(u)} sends it out of {Port(p).name} onto a dead link"
                    )
                c = u * N_PORTS + p
                if prev is not None:
                    edges.setdefault(prev, set()).add(c)
                prev, u, steps = c, v, steps + 1
                if steps > g.n:
                    raise CompileError(f"route {g.name(s)} -> {g.name(d)} loops")
            else:
                if prev is not None:  # joined a path already walked: one more dependency
                    p = int(rt.table[u, code])
                    if p != Port.LOCAL and not (u == 0 and p == Port.WEST and d < 0):
                        edges.setdefault(prev, set()).add(u * N_PORTS + p)
    cyc = _find_cycle(edges)
    if cyc:
        chans = " -> ".join(f"{g.name(c // N_PORTS)}.{Port(c % N_PORTS).name}" for c in cyc)
        raise CompileError(f"the route tables can deadlock: channel dependency cycle {chans}")


def _find_cycle(edges):
    """A cycle of the directed graph ``edges`` (list of nodes), or None (iterative DFS)."""
    color = {}
    for start in sorted(edges):
        if color.get(start):
            continue
        stack = [(start, iter(sorted(edges.get(start, ()))))]
        color[start] = 1
        path = [start]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[node] = 2
                stack.pop()
                path.pop()
            elif color.get(nxt) == 1:
                return path[path.index(nxt) :]
            elif not color.get(nxt):
                color[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(sorted(edges.get(nxt, ())))))
    return None


def route_writes(chip: ChipConfig, routing: RouteTables, base: RouteTables | None = None):
    """The routing configuration writes that turn a mesh holding ``base`` (default: XY
    tables, no disabled link) into one holding ``routing``: a list of dicts with the fields
    of ``rtl/mesh.py::mesh_route_write_layout`` (tile, link, index, data), every differing
    table entry then each router's ``link_off``. This is what a host would send after the
    manufacturing test, once CONFIG_WRITE reaches the mesh (docs/noc.md, "Faults")."""
    if base is None:
        base = RouteTables(chip, xy_tables(chip), np.zeros(chip.tiles, dtype=np.uint8))
    out = []
    for k in range(chip.tiles):
        for code in np.flatnonzero(routing.table[k] != base.table[k]):
            out.append(
                {"tile": k, "link": 0, "index": int(code), "data": int(routing.table[k, code])}
            )
        if routing.link_off[k] != base.link_off[k]:
            out.append({"tile": k, "link": 1, "index": 0, "data": int(routing.link_off[k])})
    return out
