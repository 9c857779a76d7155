"""Cycle-exact twin of :class:`spikemesh.rtl.router.Router` (docs/noc.md).

The model keeps the RTL's state in plain Python ints and deques: per input a
FIFO of flit words (with the output port each flit will request, computed once
when it is written), per output a register (valid, payload) and the index of
the input it granted last.

Boundary interface (one call each per clock cycle)::

    o_valid, o_payload, i_ready = model.outputs()   # registered outputs of this cycle
    model.clock(i_valid, i_payload, o_ready)         # inputs of this cycle; advance one cycle

Ports are indexed by :class:`spikemesh.noc.Port` (LOCAL, NORTH, EAST,
SOUTH, WEST). Like the RTL, the outputs depend only on state, so composing
models works as for the RTL: read every block's outputs, compute the transfers
(valid & ready), clock every block.

Flit words are Python ints laid out by ``flit_layout(chip)``; bits above the
layout's width are carried along untouched (benchmarks tag flits with them).
"""

from __future__ import annotations

from collections import deque

from spikemesh.config import ChipConfig, flit_layout
from spikemesh.counters import HW_TILE_REGISTERS
from spikemesh.noc import (
    N_PORTS,
    ContractError,
    Port,
    RouteTables,
    check_chip_xy,
    route,
    rr_grant,
)

COUNTER_MASK = (1 << 32) - 1
# READ_COUNTER index of the router's first activity counter (forwarded L; docs/counters.md)
FORWARDED_INDEX = HW_TILE_REGISTERS.index(("forwarded", 0))

# _RR[last][requests] = granted input (or -1): round-robin starting after ``last``.
_RR = [
    [-1 if r == 0 else rr_grant(last, r) for r in range(1 << N_PORTS)] for last in range(N_PORTS)
]


def check_rr_table(table):
    """One-hot grants: every entry of a round-robin table names one input that requested."""
    for last, row in enumerate(table):
        for r, q in enumerate(row):
            if (q == -1) != (r == 0) or (q >= 0 and not r >> q & 1):
                raise ContractError(
                    f"round-robin table: last {last}, requests {r:05b} grant input {q}"
                )


check_rr_table(_RR)


class FlitRouting:
    """Decodes the destination of flit words and computes XY routes by table look-up."""

    def __init__(self, chip: ChipConfig):
        lay = flit_layout(chip)
        self.layout = lay
        self.dy_off = lay.offsets["dest_y"]
        self.dy_mask = (1 << lay["dest_y"].width) - 1
        self.dx_off = lay.offsets["dest_x"]
        self.dx_bits = lay["dest_x"].width
        self.dx_mask = (1 << self.dx_bits) - 1

    def tables(self, x: int, y: int):
        """Route look-up tables of the router at (x, y), equal to :func:`spikemesh.noc.route`.

        ``xdir[raw dest_x]`` is EAST/WEST, or -1 when the X step is done (then
        ``ydir[dest_y]`` decides); ``ydir`` maps dest_y to NORTH/SOUTH and, in this
        row, to LOCAL, or to WEST for a host-bound flit in column 0 (``ydir_host``).
        """
        xdir = []
        host = []
        for raw in range(1 << self.dx_bits):
            dx = raw - (1 << self.dx_bits) if raw >> (self.dx_bits - 1) else raw
            r = route(x, y, dx, y)
            xdir.append(int(r) if r in (Port.EAST, Port.WEST) and (dx >= 0 or x > 0) else -1)
            host.append(dx < 0 and x == 0)
        ydir = [int(route(x, y, x, dy)) for dy in range(self.dy_mask + 1)]
        ydir_host = [int(route(x, y, -1, dy)) for dy in range(self.dy_mask + 1)] if x == 0 else ydir
        return xdir, host, ydir, ydir_host


class RouterModel:
    """One router, cycle for cycle equal to the RTL.

    Parameters
    ----------
    chip : ChipConfig
    x, y : int
        Tile coordinates.
    routing : RouteTables, optional
        Route tables around faults (spikemesh/faultroute.py): the router looks each flit's
        output up in its row instead of computing XY (docs/noc.md, "Faults"). None: XY.

    Members
    -------
    o_valid, o_payload, i_ready : list of int (5 each)
        This cycle's registered outputs (also returned by :meth:`outputs`).
    flits_in, flits_out : int
        Same counters as the RTL (32-bit, wrapping).
    counts : list of int (10)
        The activity counters (docs/counters.md), counted since the last clear without
        wrapping: ``forwarded`` L..W (o[p] valid & ready), then ``router_blocked`` L..W
        (i[q] valid & ~ready; counted by :meth:`clock`, or by the MeshModel stepping it).
        The RTL's registers (``chip.counter_bits`` > 0) hold them modulo 2**counter_bits.
    cnt_wrapped, cnt_value : int
        The RTL's sticky wrap flag (some count reached 2**counter_bits) and its registered
        selected counter (:meth:`counter_select`).
    """

    def __init__(self, chip: ChipConfig, *, x: int, y: int, routing: RouteTables | None = None):
        check_chip_xy(chip, x, y, what="RouterModel")
        self.chip = chip
        self.x = x
        self.y = y
        self.depth = chip.router.fifo_depth
        rt = FlitRouting(chip)
        self._xdir, self._xhost, self._ydir, self._ydir_host = rt.tables(x, y)
        self._dx_off, self._dx_mask = rt.dx_off, rt.dx_mask
        self._dy_off, self._dy_mask = rt.dy_off, rt.dy_mask
        self._table = None
        if routing is not None:
            if not isinstance(routing, RouteTables) or (routing.width, routing.height) != (
                chip.width,
                chip.height,
            ):
                raise TypeError(
                    f"RouterModel routing must be RouteTables for the {chip.width} x "
                    f"{chip.height} mesh, not {routing!r}"
                )
            # {dest_x, dest_y} are adjacent fields: the table index is one shift and mask
            assert rt.dx_off == rt.dy_off + rt.dy_mask.bit_length()
            self._table = [int(p) for p in routing.table[y * chip.width + x]]
            self._code_mask = len(self._table) - 1
            self.route = self._route_table
        self.fifo = [deque() for _ in range(N_PORTS)]
        self._froute = [deque() for _ in range(N_PORTS)]
        self.o_valid = [0] * N_PORTS
        self.o_payload = [0] * N_PORTS
        self.i_ready = [1] * N_PORTS
        self.last = [N_PORTS - 1] * N_PORTS
        self.flits_in = 0
        self.flits_out = 0
        self.busy = False  # any flit in a FIFO or an output register
        self.index = 0  # position in a MeshModel (y * width + x)
        self._req = [0] * N_PORTS
        self.counts = [0] * (2 * N_PORTS)
        bits = chip.counter_bits
        # a count equal to this has wrapped its register (never without counters)
        self.cnt_limit = 1 << bits if bits else -1
        self.cnt_mask = (1 << bits) - 1
        self.cnt_wrapped = 0
        self.cnt_value = 0

    # --- activity counters (docs/counters.md) ----------------------------------
    def counter_select(self, index: int) -> None:
        """The RTL's ``cnt_value`` register loads the counter READ_COUNTER index ``index``
        names (0 for another block's): call before this cycle's increments."""
        k = index - FORWARDED_INDEX
        self.cnt_value = self.counts[k] & self.cnt_mask if 0 <= k < 2 * N_PORTS else 0

    def count_blocked(self, q: int) -> None:
        """Input ``q`` was offered a flit it could not take this cycle."""
        k = N_PORTS + q
        self.counts[k] += 1
        if self.counts[k] == self.cnt_limit:
            self.cnt_wrapped = 1

    def counter_clear(self) -> None:
        """RESET's registered clear: every counter and the wrap flag to 0."""
        self.counts = [0] * (2 * N_PORTS)
        self.cnt_wrapped = 0

    # --- boundary interface ---------------------------------------------------
    def outputs(self):
        """(o_valid, o_payload, i_ready) of the current cycle (live lists: do not modify)."""
        return self.o_valid, self.o_payload, self.i_ready

    def clock(self, i_valid, i_payload, o_ready, *, cnt_index=None, cnt_clear=0):
        """Advance one cycle given this cycle's input valid/payload and output ready (5 each),
        and (with counters) the RTL's ``cnt_index`` and ``cnt_clear``."""
        if cnt_index is not None:
            self.counter_select(cnt_index)
        mask = 0
        for p in range(N_PORTS):
            if o_ready[p]:
                mask |= 1 << p
        self.advance(mask)
        ready = self.i_ready
        for q in range(N_PORTS):
            if i_valid[q]:
                if ready[q]:
                    self.accept(q, i_payload[q])
                else:
                    self.count_blocked(q)
        self.settle()
        if cnt_clear:
            self.counter_clear()

    @property
    def idle(self) -> bool:
        return not self.busy

    # --- split-phase stepping, used by MeshModel ------------------------------
    def route(self, flit: int) -> int:
        """Output port of a flit word (:func:`spikemesh.noc.route` by table look-up)."""
        raw = (flit >> self._dx_off) & self._dx_mask
        r = self._xdir[raw]
        if r >= 0:
            return r
        ydir = self._ydir_host if self._xhost[raw] else self._ydir
        return ydir[(flit >> self._dy_off) & self._dy_mask]

    def write_table(self, entry: int, port: int) -> None:
        """Route-table entry ``entry`` (a destination code) gets output ``port`` (the RTL's
        ``i_route`` write; a router built with ``routing`` only)."""
        if self._table is None:
            raise ContractError("write_table on a router without a route table")
        self._table[entry & self._code_mask] = int(port) & 7

    def _route_table(self, flit: int) -> int:
        """Output port of a flit word from this router's route table (faulty chips)."""
        return self._table[(flit >> self._dy_off) & self._code_mask]

    def advance(self, ready_mask: int):
        """Drain the output registers whose port is ready, then arbitrate and reload them.

        Reads FIFO heads and output registers as they were at the start of the
        cycle; must run before this cycle's :meth:`accept` calls.
        """
        ov = self.o_valid
        free = 0
        counts = self.counts
        for p in range(N_PORTS):
            if ov[p]:
                if ready_mask >> p & 1:
                    ov[p] = 0
                    self.flits_out += 1
                    free |= 1 << p
                    counts[p] += 1  # forwarded
                    if counts[p] == self.cnt_limit:
                        self.cnt_wrapped = 1
            else:
                free |= 1 << p
        if not free:
            return
        req = self._req
        fifo = self.fifo
        froute = self._froute
        any_req = False
        for q in range(N_PORTS):
            if fifo[q]:
                r = froute[q][0]
                if free >> r & 1:
                    req[r] |= 1 << q
                    any_req = True
        if not any_req:
            return
        last = self.last
        op = self.o_payload
        for p in range(N_PORTS):
            r = req[p]
            if r:
                q = _RR[last[p]][r]
                req[p] = 0
                last[p] = q
                froute[q].popleft()
                op[p] = fifo[q].popleft()
                ov[p] = 1

    def accept(self, q: int, flit: int):
        """Write a flit into input FIFO ``q`` (the caller checked ``i_ready[q]``).

        Raises
        ------
        ContractError
            FIFO ``q`` is full (the RTL would have refused the flit: it was lost).
        """
        if len(self.fifo[q]) >= self.depth:
            raise ContractError(
                f"router ({self.x}, {self.y}) {Port(q).name} input: flit {flit:#x} written "
                f"into a full FIFO (depth {self.depth}): overflow; offer only while i_ready"
            )
        self.fifo[q].append(flit)
        self._froute[q].append(self.route(flit))
        self.flits_in += 1

    def settle(self):
        """End of cycle: recompute ready (FIFO not full), busy, and wrap the counters."""
        depth = self.depth
        busy = False
        for q in range(N_PORTS):
            n = len(self.fifo[q])
            self.i_ready[q] = 1 if n < depth else 0
            if n:
                busy = True
        if not busy:
            busy = any(self.o_valid)
        self.busy = busy
        self.flits_in &= COUNTER_MASK
        self.flits_out &= COUNTER_MASK
