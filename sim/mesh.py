"""Cycle-exact twin of :class:`spikemesh.rtl.mesh.Mesh` (docs/noc.md).

:class:`MeshModel` wires :class:`RouterModel` s exactly as the RTL wires
routers, and steps them with the composition rule of the boundary contract:
read every router's registered outputs and input ready, compute the transfers
(valid & ready), then clock every router.

Boundary interface: the mesh's endpoints are numbered ``k = y * width + x`` for
the tile at (x, y), and ``k = width * height`` (:attr:`MeshModel.host`) for the
host link. Per cycle::

    o_valid, o_payload, i_ready = mesh.outputs()     # lists, one entry per endpoint
    mesh.clock(i_valid, i_payload, o_ready)           # sequences, one entry per endpoint

For benchmarks, :meth:`MeshModel.run` takes an injection schedule and returns
every flit's arrival cycle. Both follow the same cycle rules as the RTL, so
arrival cycles are identical to the RTL's for the same per-cycle inputs.
"""

from __future__ import annotations

from collections import deque

from spikemesh.sim.router import COUNTER_MASK, RouterModel

from spikemesh.config import ChipConfig, flit_layout
from spikemesh.noc import N_PORTS, ContractError, Port

LOCAL, NORTH, EAST, SOUTH, WEST = (int(p) for p in Port)


class MeshModel:
    """W x H router models with the host link at (0, 0) West.

    Parameters
    ----------
    chip : ChipConfig
    routing : RouteTables, optional
        Route tables and disabled links for a faulty chip (spikemesh/faultroute.py, from
        ``ChipImage.routing``): every router routes by its table, and a flit sent onto a
        disabled link is consumed there, counted in ``dropped`` and sets ``misroute``, as at
        the mesh edge (docs/noc.md, "Faults"). None: the fault-free mesh (XY).

    Members
    -------
    routers : list of list of RouterModel
        ``routers[y][x]``.
    host : int
        Endpoint index of the host link (``width * height``).
    cycle : int
        Cycles clocked since reset.
    flits_in, flits_out, dropped, misroute : int
        Same as the RTL's counters (32-bit, wrapping) and sticky flag.
    """

    def __init__(self, chip: ChipConfig, *, routing=None):
        if not isinstance(chip, ChipConfig):
            raise TypeError(f"MeshModel needs a ChipConfig, not {chip!r}")
        self.routing = routing
        self.chip = chip
        self.layout = flit_layout(chip)
        w, h = chip.width, chip.height
        self.width, self.height = w, h
        self.routers = [
            [RouterModel(chip, x=x, y=y, routing=routing) for x in range(w)] for y in range(h)
        ]
        self.link_off = [0] * (w * h) if routing is None else [int(b) for b in routing.link_off]
        self._flat = [self.routers[y][x] for y in range(h) for x in range(w)]
        for k, r in enumerate(self._flat):
            r.index = k
        self._active = []  # indices of busy routers (only these are stepped)
        self.host = w * h
        self.n_endpoints = w * h + 1
        # Per router: tuple of (output port, receiving router or None for an edge, its input).
        self._links = [self._links_of(k) for k in range(w * h)]
        # Endpoint k -> (router, port).
        self._ends = [(r, LOCAL) for r in self._flat] + [(self.routers[0][0], WEST)]
        self._o_valid = [0] * self.n_endpoints
        self._o_payload = [0] * self.n_endpoints
        self._i_ready = [1] * self.n_endpoints
        self.cycle = 0
        self.flits_in = 0
        self.flits_out = 0
        self.dropped = 0
        self.misroute = 0

    def _links_of(self, k):
        """Router k's links: (output port, receiving router or None, its input port) for
        each of N, E, S, W but (0, 0)'s West (the host); None is a mesh edge or a link
        disabled by ``link_off``."""
        w, h = self.width, self.height
        x, y = k % w, k // w
        links = []
        for p, nx, ny in ((NORTH, x, y + 1), (EAST, x + 1, y), (SOUTH, x, y - 1), (WEST, x - 1, y)):
            if 0 <= nx < w and 0 <= ny < h and not self.link_off[k] >> p & 1:
                links.append((p, self.routers[ny][nx], int(Port(p).opposite)))
            elif (x, y, p) != (0, 0, WEST):
                links.append((p, None, 0))
        return tuple(links)

    def write_route(self, tile: int, link: int, index: int, data: int) -> None:
        """A routing configuration write, as ``rtl/mesh.py::Mesh.i_route`` takes it (fields
        of ``mesh_route_write_layout``): ``link`` 0 writes route-table entry ``index`` of
        router ``tile`` with port ``data``, ``link`` 1 its disabled outputs. Takes effect
        from the next cycle; only on a mesh built with ``routing``, and only while idle (the
        host link writes between ticks)."""
        if self.routing is None:
            raise ContractError("write_route on a mesh without route tables")
        if not self.idle:
            raise ContractError(f"route write to router {tile} while flits are in the mesh")
        if link:
            self.link_off[tile] = int(data) & ((1 << N_PORTS) - 1)
            self._links[tile] = self._links_of(tile)
        else:
            self._flat[tile].write_table(index, data)

    @property
    def idle(self) -> bool:
        return not self._active

    # --- activity counters (docs/counters.md): the routers' ``counts`` -------------------
    def counter_select(self, index: int) -> None:
        """Every router's ``cnt_value`` register loads counter ``index`` (the RTL's
        ``cnt_index``): call before this cycle's :meth:`clock`."""
        for r in self._flat:
            r.counter_select(index)

    def counter_clear(self) -> None:
        """RESET's registered clear, at the end of this cycle: call after :meth:`clock`."""
        for r in self._flat:
            r.counter_clear()

    @property
    def cnt_wrapped(self) -> int:
        """The OR of the routers' sticky wrap flags (the RTL's ``cnt_wrapped``)."""
        return int(any(r.cnt_wrapped for r in self._flat))

    def endpoint(self, x: int, y: int) -> int:
        """Endpoint index of tile (x, y); (-1, 0) is the host."""
        if (x, y) == (-1, 0):
            return self.host
        return y * self.width + x

    def outputs(self):
        """(o_valid, o_payload, i_ready) per endpoint for the current cycle (reused lists)."""
        ov, op, ir = self._o_valid, self._o_payload, self._i_ready
        for k, (r, p) in enumerate(self._ends):
            ov[k] = r.o_valid[p]
            op[k] = r.o_payload[p]
            ir[k] = r.i_ready[p]
        return ov, op, ir

    def clock(self, i_valid, i_payload, o_ready):
        """Advance one cycle given every endpoint's input valid/payload and output ready."""
        moves = []
        for k, (r, p) in enumerate(self._ends):
            if i_valid[k]:
                if r.i_ready[p]:
                    moves.append((r, p, i_payload[k]))
                else:
                    r.count_blocked(p)
        moves += self._edge_moves()
        self.flits_in = (self.flits_in + len(moves)) & COUNTER_MASK  # before _step takes them
        self._step(moves, o_ready)
        if not self._active:
            self.check_conservation()

    def _edge_moves(self):
        """Flits entering at the mesh's outer edges this cycle, after the endpoints': none
        on a chip (a system's mesh takes its chip-to-chip links' here)."""
        return []

    def check_conservation(self):
        """With the mesh idle, ``flits_in == flits_out + dropped`` (the RTL asserts the same).

        Raises
        ------
        ContractError
            A flit was lost or created.
        """
        if (self.flits_in - self.flits_out - self.dropped) & COUNTER_MASK:
            raise ContractError(
                f"mesh idle but flits_in {self.flits_in} != flits_out {self.flits_out} "
                f"+ dropped {self.dropped} (cycle {self.cycle})"
            )

    def _step(self, moves, o_ready):
        """One cycle of every busy router; ``moves`` holds this cycle's boundary inputs."""
        n_out = 0
        n_drop = 0
        host = self.host
        flat = self._flat
        active = self._active
        for k in active:
            r = flat[k]
            ov = r.o_valid
            mask = 0
            if ov[LOCAL] and o_ready[k]:
                mask = 1
                n_out += 1
            for p, nb, q in self._links[k]:
                if ov[p]:
                    if nb is None:
                        mask |= 1 << p
                        n_drop += 1
                    elif nb.i_ready[q]:
                        mask |= 1 << p
                        moves.append((nb, q, r.o_payload[p]))
                    elif isinstance(nb, RouterModel):  # (a system's chip-to-chip link: not
                        nb.count_blocked(q)  # a router input, its link counts nothing)
            if k == 0 and ov[WEST] and o_ready[host]:
                mask |= 1 << WEST
                n_out += 1
            r.advance(mask)
        for nb, q, flit in moves:
            nb.accept(q, flit)
            if not nb.busy:
                nb.busy = True
                active.append(nb.index)
        keep = []
        for k in active:
            r = flat[k]
            r.settle()
            if r.busy:
                keep.append(k)
        self._active = keep
        self.cycle += 1
        self.flits_out = (self.flits_out + n_out) & COUNTER_MASK
        if n_drop:
            self.dropped = (self.dropped + n_drop) & COUNTER_MASK
            self.misroute = 1

    # --- benchmarks ----------------------------------------------------------------
    def run(self, schedule, *, max_cycles=None, o_ready=None):
        """Inject flits from unbounded source queues; return every flit's arrival cycle.

        Parameters
        ----------
        schedule : sequence of (cycle, source endpoint, flit word)
            Sorted by cycle. A flit joins its source's queue at ``cycle``; each
            source offers its queue's head (valid held until accepted), as a
            core or the host would.
        max_cycles : int, optional
            Stop after this many cycles (undelivered flits get arrival None).
        o_ready : callable(cycle) -> sequence, optional
            Output ready per endpoint per cycle; default: always ready.

        Returns
        -------
        (arrivals, accepted) : lists, aligned with ``schedule``
            ``arrivals[i]``: the cycle in which flit i left the mesh (its
            o_valid & o_ready transfer), or None; ``accepted[i]``: the cycle in
            which the mesh accepted it (i_valid & i_ready). Cycles count from
            this model's current :attr:`cycle`.
        """
        n = len(schedule)
        arrivals = [None] * n
        accepted = [None] * n
        queues = [deque() for _ in range(self.n_endpoints)]
        all_ready = [1] * self.n_endpoints
        tag_shift = self.layout.width
        words = [
            (flit & ((1 << tag_shift) - 1)) | (i << tag_shift)
            for i, (_, _, flit) in enumerate(schedule)
        ]
        ends = self._ends
        nxt = 0
        pending = 0  # injected into queues, not yet delivered
        delivered = 0
        start = self.cycle
        drop0 = self.dropped
        limit = None if max_cycles is None else start + max_cycles
        while delivered + ((self.dropped - drop0) & COUNTER_MASK) < n:
            t = self.cycle
            if limit is not None and t >= limit:
                break
            rel = t - start
            while nxt < n and schedule[nxt][0] <= rel:
                queues[schedule[nxt][1]].append(nxt)
                nxt += 1
                pending += 1
            ready = all_ready if o_ready is None else o_ready(rel)
            # Arrivals this cycle: every endpoint output with valid & ready.
            for k, (r, p) in enumerate(ends):
                if r.o_valid[p] and ready[k]:
                    arrivals[r.o_payload[p] >> tag_shift] = rel
                    delivered += 1
            moves = []
            n_in = 0
            if pending:
                for k, qu in enumerate(queues):
                    if qu:
                        r, p = ends[k]
                        if r.i_ready[p]:
                            i = qu.popleft()
                            accepted[i] = rel
                            moves.append((r, p, words[i]))
                            n_in += 1
                        else:
                            r.count_blocked(p)
                pending -= n_in
            self._step(moves, ready)
            self.flits_in = (self.flits_in + n_in) & COUNTER_MASK
            if not self._active:
                self.check_conservation()
            if pending == 0 and nxt < n and self.idle:
                # Nothing in flight: jump to the next injection.
                gap = schedule[nxt][0] - (self.cycle - start)
                if gap > 0:
                    self.cycle += gap
        return arrivals, accepted
