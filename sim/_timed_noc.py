"""Numba kernels of the mesh for the compiled timed model (sim/timed.py).

The readable specification is ``sim/router.py::RouterModel`` and ``sim/mesh.py::MeshModel``
(cycle-exact twins of the RTL); these kernels keep the same state over arrays:

- per router r and input q a FIFO ring ``fifo[r, q, :depth]`` of flit words, with the output
  port each flit requests computed once when it is written (``froute``), ``fhead``/``fcnt``;
- per output p the register ``ov[r, p]``/``op[r, p]`` and the last grant ``last[r, p]``;
- ``ir[r, q]``: i_ready, "FIFO not full" as of the start of the cycle (recomputed by
  :func:`settle` after all of a cycle's writes, as the RTL's registered FIFO level);
- ``rs[r]``: whether r is in the active list, its valid outputs as a bit mask and the
  output each FIFO head requests, packed (so arbitration reads no FIFO);
- ``act[:nact]``: the routers holding a flit (only these are stepped; an empty router
  does nothing in a cycle).

Routing (X then Y towards column max(dest_x, 0); a host-bound flit leaves column 0 by
West) and the round-robin grant are re-implemented here from the RTL's definitions; a test
checks them against the Python twins on every input. On a faulty chip (docs/noc.md,
"Faults") the topology table built by :func:`topology` carries each router's route table in
its columns from ``TOPO_TABLE`` on, and a dead link is an edge (-1): the port is looked
up instead (``flit_route``); without faults the table is 7 columns wide and XY runs as
before.
"""

from __future__ import annotations

import numpy as np

from spikemesh.layouts import ROUTE_PORT_BITS, ROUTE_REGION

from ._timed_core import (
    K_BLK,
    K_FWD,
    P_CMASK,
    P_DEPTH,
    P_DX_BITS,
    P_DX_OFF,
    P_DY_MASK,
    P_DY_OFF,
    P_H,
    P_INDEX_BITS,
    P_T,
    P_W,
    bump,
    inlined,
    kernel,
)

LOCAL, NORTH, EAST, SOUTH, WEST = 0, 1, 2, 3, 4
N_PORTS = 5
# columns of the topology table ``nbr`` [tiles, 7]: the router behind each output port
# (0..4; -1 off the mesh edge, -2 the host), then the router's own x and y
TOPO_X, TOPO_Y = 5, 6
# on a faulty chip, columns TOPO_TABLE.. hold the router's route table (RouteTables.table)
TOPO_TABLE = 7
# columns of the router state ``rs`` [tiles, 3]: in the active list, the valid outputs
# (a bit per port), the output each input FIFO's head requests (3 bits per input: port + 1)
R_ACT, R_OVM, R_WANT = 0, 1, 2
ALL_PORTS = (1 << 5) - 1
COUNTER_MASK = (1 << 32) - 1

# mesh counters: indices into the int64 vector ``mc``
M_FLITS_IN, M_FLITS_OUT, M_DROPPED, M_MISROUTE, M_NACT, M_LEN = range(6)


@inlined
def route(x, y, dest_x, dest_y):
    """Output port for a flit at router (x, y) to (dest_x, dest_y) (``dest_x`` signed)."""
    if dest_x > x:
        return EAST
    if dest_x < x and x > 0:
        return WEST
    if dest_y > y:
        return NORTH
    if dest_y < y:
        return SOUTH
    if dest_x < x:
        return WEST  # x == 0: the host link (off row 0: an edge, a misroute)
    return LOCAL


@inlined
def flit_route(r, flit, pm, nbr):
    """Output port router ``r`` computes for a flit word (decodes the signed dest_x)."""
    bits = pm[P_DX_BITS]
    if nbr.shape[1] > TOPO_TABLE:  # route table: indexed by the adjacent {dest_x, dest_y}
        code = (flit >> pm[P_DY_OFF]) & (((pm[P_DY_MASK] + 1) << bits) - 1)
        return nbr[r, TOPO_TABLE + code]
    dx = (flit >> pm[P_DX_OFF]) & ((1 << bits) - 1)
    if dx >> (bits - 1):
        dx -= 1 << bits
    dy = (flit >> pm[P_DY_OFF]) & pm[P_DY_MASK]
    return route(nbr[r, TOPO_X], nbr[r, TOPO_Y], dx, dy)


@inlined
def route_write(r, addr, data, pm, nbr):
    """A completed CONFIG_WRITE to router ``r``: with ``addr`` in the ROUTE region
    (spikemesh.layouts: index 0 TABLE, data = port | entry << 3; index 1 LINK_OFF, data =
    the disabled outputs), write the route table in ``nbr``'s columns from TOPO_TABLE on, or
    rebuild the router's links (a disabled one is an edge, -1; router 0's West stays the
    host). Returns whether it was a ROUTE write (MeshModel.write_route)."""
    ib = pm[P_INDEX_BITS]
    if addr >> ib != ROUTE_REGION or nbr.shape[1] <= TOPO_TABLE:
        return False
    if addr & 1 == 0:  # TABLE
        entry = (data >> ROUTE_PORT_BITS) & (nbr.shape[1] - TOPO_TABLE - 1)
        nbr[r, TOPO_TABLE + entry] = data & ((1 << ROUTE_PORT_BITS) - 1)
        return True
    w, h = pm[P_W], pm[P_H]
    x, y = nbr[r, TOPO_X], nbr[r, TOPO_Y]
    for p in range(1, N_PORTS):
        nx = x + 1 if p == EAST else x - 1 if p == WEST else x
        ny = y + 1 if p == NORTH else y - 1 if p == SOUTH else y
        if r == 0 and p == WEST:
            continue  # the host link
        if 0 <= nx < w and 0 <= ny < h and (data >> p) & 1 == 0:
            nbr[r, p] = ny * w + nx
        else:
            nbr[r, p] = -1
    return True


@inlined
def rr_grant(last, requests):
    """The first requesting input after ``last``, cyclically (-1 if none)."""
    q = last
    for _ in range(N_PORTS):
        q = 0 if q == N_PORTS - 1 else q + 1  # no division on the per-cycle path
        if (requests >> q) & 1:
            return q
    return -1


@inlined
def accept(r, q, flit, pm, nbr, fifo, froute, fhead, fcnt, rs):
    """Write ``flit`` into input FIFO q of router r (the caller checked ``ir[r, q]``)."""
    c = fcnt[r, q]
    slot = fhead[r, q] + c
    if slot >= pm[P_DEPTH]:
        slot -= pm[P_DEPTH]
    p = flit_route(r, flit, pm, nbr)
    fifo[r, q, slot] = flit
    froute[r, q, slot] = p
    if c == 0:  # the new head's request
        rs[r, R_WANT] |= (p + 1) << (3 * q)
    fcnt[r, q] = c + 1


@inlined
def advance(r, mask, pm, fifo, froute, fhead, fcnt, ov, op, last, rs):
    """Drain the outputs in ``mask``, then arbitrate and reload the free output registers
    from the FIFO heads as they were at the start of the cycle (before any accept).

    ``rs[r, R_WANT]`` holds the output each FIFO head requests (3 bits per input: port + 1,
    0 when empty); an input requests one output, so grants of different outputs never
    collide, and the heads that move up in this cycle request only from the next one.
    """
    ovm = rs[r, R_OVM]
    drained = ovm & mask
    ovm ^= drained
    for p in range(N_PORTS):
        if (drained >> p) & 1:
            ov[r, p] = 0
    want = rs[r, R_WANT]
    free = ~ovm & ALL_PORTS
    if free != 0 and want != 0:
        depth = pm[P_DEPTH]
        nxt = want
        for p in range(N_PORTS):
            if (free >> p) & 1:
                # round robin: the first requesting input after the last grant (rr_grant)
                q = last[r, p]
                for _ in range(N_PORTS):
                    q = 0 if q == N_PORTS - 1 else q + 1  # no division on the per-cycle path
                    if ((want >> (3 * q)) & 7) == p + 1:
                        last[r, p] = q
                        h = fhead[r, q]
                        op[r, p] = fifo[r, q, h]
                        ov[r, p] = 1
                        ovm |= 1 << p
                        h = 0 if h + 1 == depth else h + 1
                        fhead[r, q] = h
                        c = fcnt[r, q] - 1
                        fcnt[r, q] = c
                        head = np.int64(froute[r, q, h]) + 1 if c != 0 else 0
                        nxt = (nxt & ~(7 << (3 * q))) | (head << (3 * q))
                        break
        rs[r, R_WANT] = nxt
    rs[r, R_OVM] = ovm


@inlined
def settle(r, pm, fcnt, ir, rs):
    """End of cycle for router r: i_ready from the FIFO levels; returns whether it is busy."""
    depth = pm[P_DEPTH]
    for q in range(N_PORTS):
        ir[r, q] = 1 if fcnt[r, q] < depth else 0
    return rs[r, R_OVM] != 0 or rs[r, R_WANT] != 0


@inlined
def mesh_step(
    pm, nbr, fifo, froute, fhead, fcnt, ov, op, last, ir, rs, act, mc, ldrain, inj, inj_n, mv,
    hc,
):  # fmt: skip
    """One cycle of every busy router (MeshModel._step with the boundary inputs).

    ``ldrain[r]``: the core took router r's LOCAL output this cycle (cleared here);
    ``inj[:inj_n]``: (router, input, flit) boundary writes already checked against ``ir``
    (cores' o_flit into LOCAL, the host into router 0 West); the hops between routers are
    appended after them. Router 0's West output goes to the host: ``mv[0]`` says whether
    the host takes it, and its flit is returned in ``mv[1]``. ``nbr[r, p]`` is the router
    behind output p (-1: a mesh edge, where a flit is dropped and the misroute flag set;
    -2: the host). Counts (``hc``): every output a flit leaves by (valid & ready: taken by
    the core, the next router, the host, or dropped at an edge) and every router input
    offered a flit it cannot take (the neighbour's output valid, the input FIFO full).
    """
    nact = mc[M_NACT]
    nm = inj_n
    n_out = 0
    n_drop = 0
    host_take = mv[0]
    mv[1] = -1
    for ai in range(nact):
        r = act[ai]
        ovm = rs[r, R_OVM]
        mask = 0
        if ovm & 1 and ldrain[r]:
            mask = 1
            n_out += 1
        ldrain[r] = 0
        for p in range(1, N_PORTS):
            if (ovm >> p) & 1 == 0:
                continue
            nb_ = nbr[r, p]
            if nb_ >= 0:
                q = ((p + 1) & 3) + 1  # the opposite port: N <-> S, E <-> W
                if ir[nb_, q]:
                    mask |= 1 << p
                    inj[nm, 0] = nb_
                    inj[nm, 1] = q
                    inj[nm, 2] = op[r, p]
                    nm += 1
                else:
                    bump(hc, nb_, K_BLK + q, pm)
            elif nb_ == -2:
                if host_take:
                    mask |= 1 << p
                    n_out += 1
                    mv[1] = op[r, p]
            else:
                mask |= 1 << p
                n_drop += 1
        if pm[P_CMASK] != 0:
            for p in range(N_PORTS):
                if (mask >> p) & 1:
                    bump(hc, r, K_FWD + p, pm)
        advance(r, mask, pm, fifo, froute, fhead, fcnt, ov, op, last, rs)
    for m in range(nm):
        r = inj[m, 0]
        accept(r, inj[m, 1], inj[m, 2], pm, nbr, fifo, froute, fhead, fcnt, rs)
        if rs[r, R_ACT] == 0:
            rs[r, R_ACT] = 1
            act[nact] = r
            nact += 1
    keep = 0
    for ai in range(nact):
        r = act[ai]
        if settle(r, pm, fcnt, ir, rs):
            act[keep] = r
            keep += 1
        else:
            rs[r, R_ACT] = 0
    mc[M_NACT] = keep
    mc[M_FLITS_IN] = (mc[M_FLITS_IN] + inj_n) & COUNTER_MASK
    mc[M_FLITS_OUT] = (mc[M_FLITS_OUT] + n_out) & COUNTER_MASK
    if n_drop:
        mc[M_DROPPED] = (mc[M_DROPPED] + n_drop) & COUNTER_MASK
        mc[M_MISROUTE] = 1


@kernel
def mesh_run(
    pm, nbr, fifo, froute, fhead, fcnt, ov, op, last, ir, rs, act, mc, ldrain, inj, mv,
    t_at, words, order, first, head, tag_shift, arrivals, accepted, max_cycles, hc,
):  # fmt: skip
    """MeshModel.run on the kernels: every output always ready; source queues offer their
    heads. ``t_at[i]``: cycle flit i joins its source's queue; ``order``: flit indices
    grouped by source endpoint (tiles, then the host), ``first[e]..first[e+1]`` those of
    endpoint e, in schedule order, ``head[e]`` (zeros) how many have gone; ``words[i]``:
    flit i's word tagged with ``i << tag_shift``; ``inj`` scratch of 5 * tiles + 1 rows.
    Fills ``arrivals`` and ``accepted`` (-1: not delivered); returns the cycles run."""
    n_tiles = pm[P_T]
    n_end = n_tiles + 1
    n = t_at.size
    moves = inj
    delivered = 0
    rel = 0
    while delivered + mc[M_DROPPED] < n and rel < max_cycles:
        for r in range(n_tiles):
            ldrain[r] = 1
            if ov[r, LOCAL] != 0:
                arrivals[op[r, LOCAL] >> tag_shift] = rel
                delivered += 1
        nm = 0
        for e in range(n_end):
            h = first[e] + head[e]
            if h < first[e + 1]:
                i = order[h]
                if t_at[i] <= rel:
                    r = e if e < n_tiles else 0
                    q = LOCAL if e < n_tiles else WEST
                    if ir[r, q]:
                        accepted[i] = rel
                        moves[nm, 0] = r
                        moves[nm, 1] = q
                        moves[nm, 2] = words[i]
                        nm += 1
                        head[e] += 1
        mv[0] = 1
        mesh_step(pm, nbr, fifo, froute, fhead, fcnt, ov, op, last, ir, rs, act, mc,
                  ldrain, moves, nm, mv, hc)  # fmt: skip
        if mv[1] >= 0:
            arrivals[mv[1] >> tag_shift] = rel
            delivered += 1
        rel += 1
    return rel


def topology(chip, routing=None):
    """The topology table ``nbr`` of the kernels: ``nbr[r, p]`` the router behind output p
    of router r (-1 off the mesh edge or over a dead link, -2 the host at router 0's West
    port; LOCAL, p = 0, is the core and unused), ``nbr[r, TOPO_X]``/``nbr[r, TOPO_Y]`` the
    router's coordinates and, with ``routing`` (:class:`spikemesh.noc.RouteTables`), its
    route table from column ``TOPO_TABLE`` on. Without ``routing`` it equals the mesh's
    neighbours written out (tests/sim/test_timed_faults.py)."""
    w, h = chip.width, chip.height
    cols = TOPO_TABLE if routing is None else TOPO_TABLE + routing.table.shape[1]
    nbr = np.full((chip.tiles, cols), -1, dtype=np.int64)
    for y in range(h):
        for x in range(w):
            r = y * w + x
            nbr[r, TOPO_X], nbr[r, TOPO_Y] = x, y
            off = 0 if routing is None else int(routing.link_off[r])
            for p, nx, ny in (
                (NORTH, x, y + 1),
                (EAST, x + 1, y),
                (SOUTH, x, y - 1),
                (WEST, x - 1, y),
            ):
                if 0 <= nx < w and 0 <= ny < h and not (off >> p) & 1:
                    nbr[r, p] = ny * w + nx
    nbr[0, WEST] = -2
    if routing is not None:
        nbr[:, TOPO_TABLE:] = routing.table
    return nbr
