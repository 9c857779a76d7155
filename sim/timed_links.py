"""Chip-to-chip links and the mesh of a chip in a system (docs/scale.md, "Timing across chips").

A link joins an edge router's output port to the facing edge router's input port on the
neighbouring chip, one per row (vertical boundary) or column (horizontal boundary) and
direction::

    router (W-1, y) E --> LinkOut ~~~ L cycles ~~~> LinkIn --> W router (0, y)
    (chip c)               credits <~~~ L cycles ~~~ (buffer of link_buffer flits)  (chip c+1)

The sending end takes a flit when it holds a credit and ``link_cycles_per_flit`` cycles
have passed since the last one; the flit is offered at the receiving end from cycle
``sent + link_latency``; a flit leaving the receiving buffer returns its credit to the
sender ``link_latency`` cycles later. Messages between the ends ("flit" and "credit",
each stamped with the cycle it acts in) go through ``post``: at once in one process, at
the end of a lookahead window across MPI ranks (sim/distributed_timed.py).
"""

from __future__ import annotations

from collections import deque

from spikemesh.config import flit_layout
from spikemesh.errors import SpikemeshError
from spikemesh.noc import Port

from .mesh import MeshModel

LOCAL, NORTH, EAST, SOUTH, WEST = (int(p) for p in Port)

__all__ = ["LinkIn", "LinkOut", "SystemMesh", "TimedSystemError", "deliver", "link_table"]


class TimedSystemError(SpikemeshError):
    """The timed system model cannot run this (bad input, or a broken invariant)."""


def link_table(system):
    """Every directed chip-to-chip link as (chip, x, y, port, to_chip, to_x, to_y, to_port),
    in a fixed order (its index is the link's number on every rank)."""
    s, w, h = system, system.chip.width, system.chip.height
    out = []
    for c in range(s.chips):
        cx, cy = s.chip_xy(c)
        for y in range(h):
            if cx + 1 < s.chips_x:
                out.append((c, w - 1, y, EAST, c + 1, 0, y, WEST))
            if cx > 0:
                out.append((c, 0, y, WEST, c - 1, w - 1, y, EAST))
        for x in range(w):
            if cy + 1 < s.chips_y:
                out.append((c, x, h - 1, NORTH, c + s.chips_x, x, 0, SOUTH))
            if cy > 0:
                out.append((c, x, 0, SOUTH, c - s.chips_x, x, h - 1, NORTH))
    return out


class LinkOut:
    """The sending end of link ``lid``: seen by the mesh as the neighbour router of an edge
    port (``i_ready``, ``accept``), it stamps each flit with its arrival cycle and posts it.

    ``post(msg)`` carries ("flit", lid, arrive, flit) to the receiving end: directly in one
    process, at the end of a lookahead window across ranks.
    """

    busy = True  # never joins the mesh's list of busy routers
    index = -1

    def __init__(self, lid, system, mesh, post):
        self.lid, self.mesh, self.post = lid, mesh, post
        self.latency, self.cpf = system.link_latency, system.link_cycles_per_flit
        self.credits = system.link_buffer
        self.next_free = 0
        self.inflight = deque()  # arrival cycles of the flits on the wire
        self.credit_q = deque()  # cycles in which returned credits arrive
        self.i_ready = [0]
        self.sent = 0
        self.log = []  # the cycle each flit was sent in (tests)

    def begin(self, c):
        """Start of cycle c: take the credits that arrive, drop flits that arrived."""
        q = self.credit_q
        while q and q[0] <= c:
            q.popleft()
            self.credits += 1
        f = self.inflight
        while f and f[0] <= c:
            f.popleft()
        self.i_ready[0] = int(self.credits > 0 and c >= self.next_free)

    def send(self, flit):
        c = self.mesh.cycle
        if not self.i_ready[0]:
            raise TimedSystemError(f"link {self.lid}: a flit was sent without a credit")
        self.credits -= 1
        self.i_ready[0] = 0
        self.next_free = c + self.cpf
        arrive = c + self.latency
        self.inflight.append(arrive)
        self.sent += 1
        self.log.append(c)
        self.post(("flit", self.lid, arrive, flit))

    def accept(self, q, flit):  # MeshModel._step: an edge router's output was taken
        self.send(flit)
        self.mesh.flits_out += 1  # leaves this chip's mesh (wrapped by _step)

    def credit(self, arrive):
        self.credit_q.append(arrive)


class LinkIn:
    """The receiving end of link ``lid``: its buffer of (arrival cycle, flit), offered to
    input ``port`` of ``router`` from the arrival cycle on."""

    def __init__(self, lid, system, router, port, post):
        self.lid, self.router, self.port, self.post = lid, router, port, post
        self.latency = system.link_latency
        self.depth = system.link_buffer
        self.buf = deque()
        self.peak = 0  # most flits held at once, in flight included (tests)

    def flit(self, arrive, flit):
        if len(self.buf) >= self.depth:
            raise TimedSystemError(f"link {self.lid}: buffer overflow (credit rule broken)")
        self.buf.append((arrive, flit))
        self.peak = max(self.peak, len(self.buf))

    def offers(self, c) -> bool:
        return bool(self.buf) and self.buf[0][0] <= c

    def take(self, c):
        """The head flit goes into the router in cycle c; its credit returns at c + L."""
        flit = self.buf.popleft()[1]
        self.post(("credit", self.lid, c + self.latency))
        return flit


class SystemMesh(MeshModel):
    """A chip's mesh whose edge ports at a chip boundary lead into links, and whose routers
    send other chips' flits by X-then-Y on global tile coordinates."""

    def __init__(self, system, c):
        from spikemesh.faults import start_tables

        # a chip built with route tables starts with XY ones, as TimedChipModel's mesh
        super().__init__(system.chip, routing=start_tables(system.chip))
        self.system, self.chip_no = system, c
        fl = flit_layout(system.chip)
        self.tag_shift = fl.width
        dx_off, dy_off = fl.offsets["dest_x"], fl.offsets["dest_y"]
        dx_mask, dy_mask = (1 << fl["dest_x"].width) - 1, (1 << fl["dest_y"].width) - 1
        w, h, cols = system.chip.width, system.chip.height, system.chips_x
        cx, cy = system.chip_xy(c)
        for r in self._flat:
            base, gx, gy = r.route, cx * w + r.x, cy * h + r.y

            def route(flit, base=base, gx=gx, gy=gy):
                d = flit >> self.tag_shift
                if d == c:
                    return base(flit)
                tx = (d % cols) * w + ((flit >> dx_off) & dx_mask)
                if tx != gx:
                    return EAST if tx > gx else WEST
                ty = (d // cols) * h + ((flit >> dy_off) & dy_mask)
                return NORTH if ty > gy else SOUTH

            r.route = route
        self.link_out = {}  # (x, y, port) -> LinkOut
        self.link_in = {}  # (x, y, port) -> LinkIn

    def attach(self, out_ends, in_ends):
        """Put the links' ends on the edge ports: ``out_ends``/``in_ends`` map (x, y, port)
        to a LinkOut/LinkIn. Row 0's west link shares router (0, 0)'s West port with the
        host link (SystemChip arbitrates it)."""
        self.link_out, self.link_in = dict(out_ends), dict(in_ends)
        w = self.width
        for (x, y, p), end in self.link_out.items():
            if (x, y, p) == (0, 0, WEST):
                continue
            k = y * w + x
            self._links[k] = tuple(
                (q, end, 0) if q == p else (q, nb, qq) for q, nb, qq in self._links[k]
            )
        self._arrivals = [(k, e) for k, e in self.link_in.items() if k != (0, 0, WEST)]

    def _edge_moves(self):
        """The flits the links offer at edge inputs this cycle (after the endpoints')."""
        c, moves = self.cycle, []
        for (x, y, p), end in self._arrivals:
            r = self.routers[y][x]
            if end.offers(c) and r.i_ready[p]:
                moves.append((r, p, end.take(c)))
        return moves


def deliver(msg, out_end, in_end):
    """Hand a link message to the end it is for."""
    kind, lid, arrive = msg[0], msg[1], msg[2]
    if kind == "flit":
        in_end[lid].flit(arrive, msg[3])
    else:
        out_end[lid].credit(arrive)
