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

import numpy as np

from spikemesh.golden import Result
from spikemesh.noc import Port

from .core_words import FanoutWord
from .hostlink import HostLinkModel
from .timed_links import LinkIn, LinkOut, SystemMesh, TimedSystemError, deliver, link_table

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


# --- one chip of the system ------------------------------------------------------------------


class SystemHostLink(HostLinkModel):
    """The chip's host link, whose start also waits for ``inp["start_ok"]``: every chip's
    host link would start in this cycle (the system starts a tick on every chip at once)."""

    def comb(self, inp):
        out = super().comb(inp)
        if out["start"] and not inp.get("start_ok", 1):
            out["start"] = 0
        return out


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
        self._prepared = -1  # the cycle prepare() last sampled
        self.host_deferred = 0  # cycles the host's injection waited for the west link's flit
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
        if self._prepared == cyc:  # sampled already (a rank peeking before it steps)
            return self.flag
        self._prepared = cyc
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
        host, mesh = m.host, m.mesh
        outs = self.core_outs
        mv, mp, mr = mesh.outputs()
        end = mesh.host
        o = host.comb(inp)
        rsp_fifo, cmd_fifo = m.rsp_fifo, m.cmd_fifo
        if rsp_fifo.r_rdy:
            self.responses.append((cyc, *(int(x) for x in rsp_fifo.out)))
        cmd = host.cmd
        tile = (cmd["tile_y"] * self._w + cmd["tile_x"]) if cmd is not None else -1
        ev_valid, ev_payload, o_ready = self._ev_valid, self._ev_payload, self._o_ready
        m._clock_cores(cmd, tile, o, (mv, mp, mr), outs, (ev_valid, ev_payload, o_ready))
        if self._link_first:
            self.host_deferred += o["inject_valid"]  # the host's flit waits for the link's
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
        res.extra["host_deferred"] = sum(ch.host_deferred for ch in self.chips.values())
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
