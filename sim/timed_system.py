"""The timed model of a system of chips: the chips' cycle twins joined by chip-to-chip links.

Each chip is the Python cycle twin of sim/chip.py (CoreModels, the MeshModel of routers,
the host link and its FIFOs), stepped cycle by cycle as ``TimedChipModel.run`` steps it,
with three additions (docs/scale.md, "Timing across chips")::

      chip (0,0)                                  chip (1,0)
    +------------------------+   link, east   +------------------------+
    | ... router (W-1, y) E -|--> L cycles -->|- W router (0, y) ...   |
    |                      <-|-- credits ---- |                        |
    |     router (W-1, y) E <|-- L cycles <---|- W router (0, y)       |
    +------------------------+   link, west   +------------------------+
      host link at (0,0) W                       host link at (0,0) W (shared with the
                                                 west link's row 0: link first)

1. **Flits carry their destination chip** in the bits above the chip's flit layout (the
   system header). A router sends a flit for its own chip by the chip's XY rule, one for
   another chip by X-then-Y on the system's global tile coordinates, so it leaves through
   an edge port into the link of that row (or column).
2. **Links** (:class:`LinkOut`, :class:`LinkIn`): a flit taken from an edge router's output
   in cycle s is offered at the neighbour's edge router input from cycle s + L (L =
   ``link_latency``) until that router takes it; the link takes one flit every
   ``link_cycles_per_flit`` cycles and only while the sender holds a credit. The receiving
   end buffers ``SystemConfig.link_buffer`` flits; a flit leaving that buffer in cycle x
   returns its credit to the sender in cycle x + L. Nothing crosses a link in less than L
   cycles: that is the lookahead the distributed run (sim/distributed_timed.py) relies on.
3. **The system tick barrier**: every chip starts a tick in the same cycle (its host link's
   start waits until every chip's host link would start), and the tick ends on every chip
   in the first cycle ``c`` in which, on every chip, the host has ended the tick
   (END_TICK taken), ``START_SETTLE`` has passed, and in cycle ``c - 1`` the cores were
   done and idle, the mesh was empty and no flit was on or in a link of the chip. That is
   the chip's own rule (hostlink.md) with "the chip" read as "the system"; a 1 x 1 system
   is exactly one chip, cycle for cycle (a test checks it against ``run_image_timed``).

The host offers each chip's commands as fast as they are taken and takes every response
at once (no host schedule).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from spikemesh.config import flit_layout
from spikemesh.errors import SpikemeshError
from spikemesh.golden import Result
from spikemesh.noc import Port

from .core_words import FanoutWord
from .hostlink import HostLinkModel
from .mesh import MeshModel

LOCAL, NORTH, EAST, SOUTH, WEST = (int(p) for p in Port)
CHIP_SHIFT = 16  # a fan-out word's x carries its destination chip above this bit (model only)

__all__ = [
    "LinkIn",
    "LinkOut",
    "SystemChip",
    "TimedSystem",
    "TimedSystemError",
    "link_table",
    "run_system_timed",
]


class TimedSystemError(SpikemeshError):
    """The timed system model cannot run this (bad input, or a broken invariant)."""


# --- links ------------------------------------------------------------------------------------


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

    def flit(self, arrive, flit):
        if len(self.buf) >= self.depth:
            raise TimedSystemError(f"link {self.lid}: buffer overflow (credit rule broken)")
        self.buf.append((arrive, flit))

    def offers(self, c) -> bool:
        return bool(self.buf) and self.buf[0][0] <= c

    def take(self, c):
        """The head flit goes into the router in cycle c; its credit returns at c + L."""
        flit = self.buf.popleft()[1]
        self.post(("credit", self.lid, c + self.latency))
        return flit


# --- one chip of the system ------------------------------------------------------------------


class SystemHostLink(HostLinkModel):
    """The chip's host link, whose start also waits for ``inp["start_ok"]``: every chip's
    host link would start in this cycle (the system starts a tick on every chip at once)."""

    def comb(self, inp):
        out = super().comb(inp)
        if out["start"] and not inp.get("start_ok", 1):
            out["start"] = 0
        return out


class SystemMesh(MeshModel):
    """A chip's mesh whose edge ports at a chip boundary lead into links, and whose routers
    send other chips' flits by X-then-Y on global tile coordinates."""

    def __init__(self, system, c):
        super().__init__(system.chip)
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

    def clock(self, i_valid, i_payload, o_ready):
        """MeshModel.clock, plus the flits the links offer at edge inputs (link first)."""
        moves = []
        n_in = 0
        for k, (r, p) in enumerate(self._ends):
            if i_valid[k] and r.i_ready[p]:
                moves.append((r, p, i_payload[k]))
                n_in += 1
        c = self.cycle
        for (x, y, p), end in self._arrivals:
            r = self.routers[y][x]
            if end.offers(c) and r.i_ready[p]:
                moves.append((r, p, end.take(c)))
                n_in += 1
        self._step(moves, o_ready)
        self.flits_in = (self.flits_in + n_in) & 0xFFFFFFFF
        if not self._active:
            self.check_conservation()


def _tag_core(core, fan_chip, chip_no, tag_shift):
    """Give the core's SPIKE flits their destination chip and HOST_OUT flits its own."""
    fan = core.fanout_mem
    for k, d in enumerate(fan_chip.tolist()):
        if d:
            w = fan[k]
            fan[k] = FanoutWord(w.x | (d << CHIP_SHIFT), w.y, w.axon)
    fu = core.fanout_unit
    spike, host = fu.spike_flit, fu.host_flit
    low = (1 << CHIP_SHIFT) - 1
    fu.spike_flit = lambda x, y, axon: spike(x & low, y, axon) | ((x >> CHIP_SHIFT) << tag_shift)
    if chip_no:
        fu.host_flit = lambda neuron: host(neuron) | (chip_no << tag_shift)


class SystemChip:
    """Chip ``c`` of the system: its twins, its command stream and its responses, stepped
    in two halves per cycle so the system can combine every chip's flags in between:
    :meth:`prepare` (registered outputs, this cycle's flags), then :meth:`commit`."""

    def __init__(self, system, c, image, fan_chip, commands):
        from .chip import TimedChipModel

        self.system, self.c = system, c
        self.m = m = TimedChipModel(system.chip)
        m.host = SystemHostLink(system.chip)
        m.mesh = SystemMesh(system, c)
        m.load_image(image)
        self.image = image
        tag = m.mesh.tag_shift
        off = 0
        for core, ci in zip(m.cores, image.cores, strict=True):
            n = ci.fan_x.size
            _tag_core(core, np.asarray(fan_chip[off : off + n]), c, tag)
            off += n
        self.tag_shift = tag
        self.commands = commands
        self.pos = 0
        self.responses = []
        self.idle_cycles = 0
        self._done_r = 0  # cycle c - 1's "quiet": the barrier's registered half
        w = system.chip.width
        self._ev_valid = [0] * (system.chip.tiles + 1)
        self._ev_payload = [0] * (system.chip.tiles + 1)
        self._o_ready = [0] * (system.chip.tiles + 1)
        self._w = w

    def attach(self, out_ends, in_ends):
        self.m.mesh.attach(out_ends, in_ends)
        self.outs = list(out_ends.values())
        self.ins = list(in_ends.values())
        self.west_out = out_ends.get((0, 0, WEST))
        self.west_in = in_ends.get((0, 0, WEST))

    # --- the flags the system combines ---
    def prepare(self, cyc):
        """Sample this cycle's registered outputs; set ``self.flag`` (this chip's part of
        the tick barrier) and ``self.start_ready`` (its host link would start)."""
        m = self.m
        if m.cycle != cyc:
            raise TimedSystemError(f"chip {self.c} is at cycle {m.cycle}, asked for {cyc}")
        for e in self.outs:
            e.begin(cyc)
        self.core_outs = outs = [core.outputs() for core in m.cores]
        h = m.host
        self.quiet = int(
            m.mesh.idle
            and all(o.done and o.idle for o in outs)
            and not any(e.inflight for e in self.outs)
            and not any(e.offers(cyc) for e in self.ins)
        )
        self.flag = bool(h.running and h.first == 0 and h.host_done and self._done_r)
        inp = self._inputs(cyc)
        self.start_ready = bool(h.comb(inp)["start"])
        return self.flag

    def _inputs(self, cyc):
        m = self.m
        outs = self.core_outs
        mv, mp, mr = m.mesh.outputs()
        end = m.mesh.host
        cmd = m.host.cmd
        width = self._w
        tile = (cmd["tile_y"] * width + cmd["tile_x"]) if cmd is not None else -1
        sel = outs[tile] if 0 <= tile < len(outs) and cmd["tile_x"] < width else None
        reader = next((o for o in outs if o.read_valid), None)
        # router (0, 0) West: a flit for this chip's host, or for the west link
        foreign = mv[end] and (mp[end] >> self.tag_shift) != self.c
        self._foreign = foreign
        # the west link's arrival has the shared input before the host's injection
        self._link_first = self.west_in is not None and self.west_in.offers(cyc)
        inp = {
            "cmd_valid": m.cmd_fifo.r_rdy,
            "cmd": m.cmd_fifo.out,
            "rsp_ready": m.rsp_fifo.w_rdy,
            "cfg_ready": sel.config_ready if sel else 0,
            "read_ready": sel.read_ready if sel else 0,
            "inject_ready": 0 if self._link_first else mr[end],
            "read_valid": int(reader is not None),
            "read_u": reader.read_u & 0xFFFFFF if reader else 0,
            "read_v": reader.read_v & 0xFFFFFF if reader else 0,
            "host_valid": 0 if foreign else mv[end],
            "host_payload": (mp[end] >> m._payload_off) & m._payload_mask,
            "all_done": 0,
            "flits_in": m.mesh.flits_in,
            "flits_out": m.mesh.flits_out,
            "misroute": m.mesh.misroute,
            "start_ok": 1,
        }
        self.inp = inp
        return inp

    def commit(self, barrier, start_ok):
        """Clock every block of the chip with the system's barrier and start decisions."""
        m = self.m
        cyc = m.cycle
        inp = self.inp
        inp["all_done"] = int(barrier)
        inp["start_ok"] = int(start_ok)
        host, mesh, cores = m.host, m.mesh, m.cores
        outs = self.core_outs
        mv, mp, mr = mesh.outputs()
        end = mesh.host
        o = host.comb(inp)
        rsp_fifo, cmd_fifo = m.rsp_fifo, m.cmd_fifo
        if rsp_fifo.r_rdy:
            self.responses.append((cyc, *(int(x) for x in rsp_fifo.out)))
        start, parity = m._start_r, m._parity_r
        cmd = host.cmd
        width = self._w
        tile = (cmd["tile_y"] * width + cmd["tile_x"]) if cmd is not None else -1
        if cmd is not None:
            cfg_addr, cfg_data = cmd["arg"] & m._addr_mask, cmd["data"]
            rd_index = cmd["arg"] & m._neuron_mask
        else:
            cfg_addr = cfg_data = rd_index = 0
        ev_valid, ev_payload, o_ready = self._ev_valid, self._ev_payload, self._o_ready
        for k, core in enumerate(cores):
            mine = k == tile
            core.clock(
                event_valid=mv[k],
                event=(mp[k] >> m._payload_off) & m._axon_mask,
                flit_ready=mr[k],
                start=start,
                parity=parity,
                config_valid=int(o["cfg_valid"] and mine),
                config_addr=cfg_addr,
                config_data=cfg_data,
                read_valid=int(o["read_valid"] and mine),
                read_index=rd_index,
                read_ready=o["read_in_ready"],
            )
            ev_valid[k] = outs[k].flit_valid
            ev_payload[k] = outs[k].flit
            o_ready[k] = outs[k].event_ready
        if self._link_first:
            r00 = mesh.routers[0][0]
            ev_valid[end] = int(r00.i_ready[WEST])
            ev_payload[end] = self.west_in.take(cyc) if ev_valid[end] else 0
        else:
            ev_valid[end] = o["inject_valid"]
            ev_payload[end] = (
                (m._inject_flit(cmd) | (self.c << self.tag_shift)) if o["inject_valid"] else 0
            )
        west_send = self._foreign and self.west_out.i_ready[0]
        o_ready[end] = int(west_send) if self._foreign else o["host_ready"]
        if west_send:
            self.west_out.send(mp[end])
        mesh.clock(ev_valid, ev_payload, o_ready)
        m.rsp_blocked += o["rsp_valid"] and not inp["rsp_ready"]
        rsp_fifo.clock(o["rsp_valid"], o["rsp"], 1)
        offer = self.pos < len(self.commands)
        taken = offer and cmd_fifo.w_rdy
        cmd_fifo.clock(offer, self.commands[self.pos] if offer else None, o["cmd_ready"])
        host.clock(inp)
        m._start_r, m._parity_r = o["start"], o["parity"]
        self._done_r = self.quiet
        self.pos += taken
        m.cycle += 1
        self.idle_cycles = self.idle_cycles + 1 if self._host_quiet() else 0

    def _host_quiet(self):
        """TimedChipModel.run's end: every command taken and the host link at rest."""
        m, h = self.m, self.m.host
        return (
            self.pos == len(self.commands)
            and m.cmd_fifo.level == 0
            and m.rsp_fifo.level == 0
            and h.cmd is None
            and not h.running
            and h.ticks_left == 0
            and h.td is None
            and h.rsp is None
            and h.spike is None
            and h.state is None
            and h.status is None
        )

    @property
    def finished(self) -> bool:
        return self.idle_cycles > 2

    def final_state(self):
        """u, v of the chip's network neurons (read from the cores' state memories)."""
        n = self.system.chip.core.neurons
        slot = np.asarray(self.image.neuron_slot, dtype=np.int64)
        u = [self.m.cores[s // n].state_mem[s % n].u for s in slot.tolist()]
        v = [self.m.cores[s // n].state_mem[s % n].v for s in slot.tolist()]
        return np.array(u, dtype=np.int32), np.array(v, dtype=np.int32)


def build_chips(image, chips, commands, post_for):
    """SystemChips for the chip numbers ``chips`` of ``image`` and their links' ends.

    ``post_for(lid, to_receiver)`` returns the function that carries a link's messages
    (flits to the receiving end when ``to_receiver``, credits back otherwise)."""
    s = image.system
    made = {c: SystemChip(s, c, image.chips[c], image.fan_chip[c], commands[c]) for c in chips}
    outs = {c: {} for c in chips}
    ins = {c: {} for c in chips}
    out_end, in_end = {}, {}
    for lid, (c, x, y, p, d, dx, dy, dp) in enumerate(link_table(s)):
        if c in made:
            e = LinkOut(lid, s, made[c].m.mesh, post_for(lid, True))
            outs[c][(x, y, p)] = out_end[lid] = e
        if d in made:
            e = LinkIn(lid, s, made[d].m.mesh.routers[dy][dx], dp, post_for(lid, False))
            ins[d][(dx, dy, dp)] = in_end[lid] = e
    for c, ch in made.items():
        ch.attach(outs[c], ins[c])
    return made, out_end, in_end


def deliver(msg, out_end, in_end):
    """Hand a link message to the end it is for."""
    kind, lid, arrive = msg[0], msg[1], msg[2]
    if kind == "flit":
        in_end[lid].flit(arrive, msg[3])
    else:
        out_end[lid].credit(arrive)


def chip_commands(image, c, inputs, ticks):
    """Chip c's host command stream: RUN, each tick's INPUTs into its tiles, END_TICK."""
    from .timed import _CMD_FIELDS, run_command_array

    rows = run_command_array(image.chips[c], inputs, ticks)
    return [dict(zip(_CMD_FIELDS, (int(v) for v in row), strict=True)) for row in rows]


class TimedSystem:
    """The one-process reference: every chip of ``image`` in lock step, link messages handed
    over at once (their arrival cycles keep them from acting early)."""

    def __init__(self, image, inputs, ticks):
        image.check()
        missing = [c for c in range(image.system.chips) if image.chips[c] is None]
        if missing:
            raise TimedSystemError(f"the system image lacks chip(s) {missing}")
        self.image, self.ticks = image, int(ticks)
        self.inputs = check_inputs(image, inputs, ticks)
        cmds = {c: chip_commands(image, c, self.inputs, ticks) for c in range(image.system.chips)}
        holder = {}

        def post_for(lid, to_receiver):
            return lambda msg: deliver(msg, holder["out"], holder["in"])

        self.chips, holder["out"], holder["in"] = build_chips(
            image, range(image.system.chips), cmds, post_for
        )
        self.links_out = holder["out"]
        self.cycle = 0

    def run(self, *, max_cycles=1 << 40) -> Result:
        chips = list(self.chips.values())
        while not all(ch.finished for ch in chips):
            if self.cycle >= max_cycles:
                raise TimedSystemError(f"the system ran {max_cycles:,} cycles without finishing")
            barrier = True
            start_ok = True
            for ch in chips:
                barrier &= ch.prepare(self.cycle)
                start_ok &= ch.start_ready
            for ch in chips:
                ch.commit(barrier, start_ok)
            self.cycle += 1
        parts = [
            chip_part(self.image, c, ch.responses, ch.final_state(), self.ticks)
            for c, ch in self.chips.items()
        ]
        res = system_result(self.image, parts, self.ticks, self.inputs)
        res.extra["cycles_simulated"] = self.cycle
        res.extra["link_flits"] = sum(e.sent for e in self.links_out.values())
        return res


def check_inputs(image, inputs, ticks):
    ticks = int(ticks)
    s = image.num_sources
    if inputs is None:
        return np.zeros((ticks, s), dtype=bool)
    inputs = np.asarray(inputs)
    if inputs.shape != (ticks, s) or inputs.dtype != bool:
        raise TimedSystemError(
            f"inputs must be a boolean array of shape ({ticks}, {s}), "
            f"not {inputs.dtype} {inputs.shape}"
        )
    return inputs


def chip_part(image, c, responses, state, ticks) -> dict:
    """Chip c's share of a Result, decoded from its (cycle, op, a, b) responses."""
    from spikemesh.firmware.loader import decode_run

    ci = image.chips[c]
    rows = [r[1:] for r in responses]
    part = decode_run(ci, rows, ticks, np.zeros((ticks, ci.num_sources), dtype=bool))
    return {
        "chip": c,
        "first": int(image.neuron_first[c]),
        "spikes": part.spikes,
        "final_u": state[0],
        "final_v": state[1],
        "cycles": part.cycles,
        "responses": responses,
    }


def system_result(image, parts, ticks, inputs, backend="tlm-timed") -> Result:
    """One Result from every chip's :func:`chip_part`.

    Every chip reports every tick with the same cycle count (the system's tick, checked);
    each chip's responses, with the cycles the host took them in, are kept in
    ``extra["responses"]`` for cycle-exact comparisons.
    """
    n = image.num_neurons
    spikes = np.zeros((ticks, n), dtype=bool)
    final_u = np.zeros(n, dtype=np.int32)
    final_v = np.zeros(n, dtype=np.int32)
    cycles = None
    for p in sorted(parts, key=lambda p: p["chip"]):
        f, k = p["first"], p["spikes"].shape[1]
        spikes[:, f : f + k] = p["spikes"]
        final_u[f : f + k], final_v[f : f + k] = p["final_u"], p["final_v"]
        if cycles is None:
            cycles = p["cycles"]
        elif not np.array_equal(cycles, p["cycles"]):
            raise TimedSystemError(f"chip {p['chip']} reports other tick lengths than chip 0")
    return Result(
        spikes=spikes,
        inputs=inputs,
        recorded=np.asarray(image.recorded),
        u=np.zeros((ticks, 0), dtype=np.int32),
        v=np.zeros((ticks, 0), dtype=np.int32),
        final_u=final_u,
        final_v=final_v,
        cycles=np.zeros(0, dtype=np.int64) if cycles is None else cycles,
        backend=backend,
        extra={"responses": {p["chip"]: p["responses"] for p in parts}},
    )


def run_system_timed(image, inputs, ticks) -> Result:
    """Run a compiled system on the one-process timed model (the reference)."""
    return TimedSystem(image, inputs, ticks).run()
