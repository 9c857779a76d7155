"""Host link and tick controller (chip.md §2, §8).

The host link decodes host commands (``i_cmd``), drives the configuration
and read-back buses of the cores, injects input events into the mesh at
(0, 0) West, turns HOST_OUT flits into SPIKE responses, and runs the global
tick barrier. Its cycle-exact twin is ``spikemesh.sim.hostlink.HostLinkModel``;
both follow docs/hostlink.md.

Boundary rule: every stream leaving this block is driven from registers and
every ``ready`` it drives depends only on state and on other blocks' (Moore)
``ready`` outputs, never on the same cycle's ``valid``.
"""

from types import SimpleNamespace

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from spikemesh.config import KIND_SPIKE, STATE_BITS, ChipConfig, flit_layout
from spikemesh.counters import HW_TILE_COUNT, hw_index
from spikemesh.hostlink import (
    ARG_BITS,
    RSP_B_BITS,
    START_SETTLE,
    Cmd,
    CommandCheck,
    ErrorFlag,
    Rsp,
    StatusReg,
    command_layout,
    response_layout,
)
from spikemesh.layouts import (
    config_addr_bits,
    config_data_bits,
)

from .contracts import check, mark_unused
from .counters import INDEX_BITS
from .hostlink_args import arguments_ok

COUNTER_BITS = 32


def config_bus_layout(chip: ChipConfig, addr_bits: int, data_bits: int):
    return data.StructLayout(
        {"tile_x": chip.x_bits, "tile_y": chip.y_bits, "addr": addr_bits, "data": data_bits}
    )


def read_req_layout(chip: ChipConfig):
    return data.StructLayout(
        {"tile_x": chip.x_bits, "tile_y": chip.y_bits, "neuron": chip.core.neuron_bits}
    )


def lread_req_layout(chip: ChipConfig):
    """READ_LEARNED's request to a learning core's ``i_lread``: tile and config address."""
    return data.StructLayout(
        {"tile_x": chip.x_bits, "tile_y": chip.y_bits, "addr": config_addr_bits(chip)}
    )


def read_rsp_layout():
    return data.StructLayout({"u": STATE_BITS, "v": STATE_BITS})


class HostLink(wiring.Component):
    """Host command decoder, response arbiter and tick controller.

    Parameters
    ----------
    chip : ChipConfig
        Also fixes the configuration bus's address and data widths (spikemesh.layouts) and
        the argument limits (spikemesh.hostlink.CommandCheck).

    Members
    -------
    i_cmd, o_rsp : host command / response streams (spikemesh.hostlink words)
    o_cfg : configuration writes to the cores (tile, addr, data)
    o_read : read-back requests (tile, neuron); ``i_read`` their (u, v) answers
    o_inject : SPIKE flits into the mesh's host input
    i_host : HOST_OUT flits from the mesh's host output
    start : one-cycle pulse that starts a tick; ``parity`` = the tick's accumulator bank, its
        low ``bank_bits`` (tick & 1 without delays; the chip
        registers both on their way to the cores)
    all_done : every core done and idle and the mesh empty, one cycle late (the chip
        registers it)
    flits_in, flits_out : the mesh's total flit counters (for status)
    misroute : the mesh saw a flit routed off an edge
    tick, running, errors : status outputs (LEDs, tests)
    learn_only, o_lread, i_lread
        Only on a learning chip (docs/learning.md): ``learn_only`` goes with ``start`` (a
        LEARN_FLUSH: the cores learn, no tick); READ_LEARNED's request (tile, config
        address) to the cores' ``i_lread`` and the word a core's ``o_lread`` answers.
    cnt_tile_x, cnt_tile_y, cnt_index, cnt_clear, cnt_value, cnt_wrapped
        Only with ``chip.counter_bits`` (docs/counters.md): READ_COUNTER's selection
        (registers, to every tile; the chip muxes the addressed tile's registered value back
        into ``cnt_value``), RESET's registered clear pulse, and the chip's registered OR of
        the tiles' wrap flags. The host link's own registers: ``host_injected`` (16) and
        ``cycles`` (17).
    """

    def __init__(self, chip: ChipConfig):
        if not isinstance(chip, ChipConfig):
            mark_unused(self)
            raise TypeError(f"chip must be a ChipConfig, not {chip!r}")
        self.chip = chip
        self.cfg_addr_bits = cfg_addr_bits = config_addr_bits(chip)
        self.cfg_data_bits = cfg_data_bits = config_data_bits(chip)
        self.check = CommandCheck(chip)
        self.cmd_layout = command_layout(chip, cfg_data_bits)
        self.rsp_layout = response_layout()
        flit = flit_layout(chip).struct()
        super().__init__(
            {
                "i_cmd": In(stream.Signature(self.cmd_layout.struct())),
                "o_rsp": Out(stream.Signature(self.rsp_layout.struct())),
                "o_cfg": Out(
                    stream.Signature(config_bus_layout(chip, cfg_addr_bits, cfg_data_bits))
                ),
                "o_read": Out(stream.Signature(read_req_layout(chip))),
                "i_read": In(stream.Signature(read_rsp_layout())),
                "o_inject": Out(stream.Signature(flit)),
                "i_host": In(stream.Signature(flit)),
                "start": Out(1),
                "parity": Out(chip.core.bank_bits),
                "all_done": In(1),
                "flits_in": In(COUNTER_BITS),
                "flits_out": In(COUNTER_BITS),
                "misroute": In(1),
                "tick": Out(COUNTER_BITS),
                "running": Out(1),
                "errors": Out(8),
                **self._counter_members(chip),
                **self._learning_members(chip),
            }
        )
        if chip.counter_bits:  # the host link's own counter registers (tests reach them)
            self.counters = SimpleNamespace(
                host_injected=Signal(chip.counter_bits, name="cnt_host_injected"),
                cycles=Signal(chip.counter_bits, name="cnt_cycles"),
            )

    @staticmethod
    def _learning_members(chip):
        if not chip.core.learning:
            return {}
        return {
            "learn_only": Out(1),
            "o_lread": Out(stream.Signature(lread_req_layout(chip))),
            "i_lread": In(stream.Signature(config_data_bits(chip))),
        }

    @staticmethod
    def _counter_members(chip):
        if not chip.counter_bits:
            return {}
        return {
            "cnt_tile_x": Out(chip.x_bits),
            "cnt_tile_y": Out(chip.y_bits),
            "cnt_index": Out(INDEX_BITS),
            "cnt_clear": Out(1),
            "cnt_value": In(chip.counter_bits),
            "cnt_wrapped": In(1),
        }

    def elaborate(self, platform):
        m = Module()
        chip = self.chip

        # --- command register: one command in flight, a new one every cycle ---
        cmd = Signal(self.cmd_layout.struct())
        cmd_valid = Signal()
        cmd_ok = Signal()  # its arguments are within their limits (CommandCheck)
        cmd_done = Signal()  # the command in the register completes this cycle
        m.d.comb += self.i_cmd.ready.eq(~cmd_valid | cmd_done)
        with m.If(self.i_cmd.valid & self.i_cmd.ready):
            # The argument check is registered with the command, so it adds nothing to the
            # cmd_done -> i_cmd.ready chain.
            m.d.sync += [
                cmd.eq(self.i_cmd.payload),
                cmd_valid.eq(1),
                cmd_ok.eq(arguments_ok(m, self.check, self.i_cmd.payload)),
            ]
        with m.Elif(cmd_done):
            m.d.sync += cmd_valid.eq(0)

        tick = Signal(COUNTER_BITS)
        ticks_left = Signal(COUNTER_BITS)
        running = Signal()
        host_done = Signal()  # END_TICK seen for the running tick
        cycles = Signal(COUNTER_BITS)
        last_cycles = Signal(COUNTER_BITS)
        errors = Signal(8)
        host_in = Signal(COUNTER_BITS)
        host_out = Signal(COUNTER_BITS)
        tick_done_pending = Signal()
        td_tick = Signal(COUNTER_BITS)
        td_cycles = Signal(COUNTER_BITS)
        status_pending = Signal()
        st_index = Signal(ARG_BITS)
        st_value = Signal(RSP_B_BITS)
        state_pending = Signal()
        read_outstanding = Signal()  # a READ_STATE was sent, its answer not yet latched
        state_u = Signal(STATE_BITS)
        state_v = Signal(STATE_BITS)
        spike_pending = Signal()
        spike_src = Signal(RSP_B_BITS)
        spike_tick = Signal(COUNTER_BITS)
        m.d.comb += [
            self.tick.eq(tick),
            self.running.eq(running),
            self.errors.eq(errors),
            self.parity.eq(tick[: self.chip.core.bank_bits]),  # the tick's acc bank
        ]

        op = cmd.op
        cnt = self._counter_state(m) if chip.counter_bits else None
        learn = chip.core.learning
        if learn:  # LEARN_FLUSH's barrier, READ_LEARNED's answer slot
            flushing, flush_go = Signal(), Signal()
            learned_pending, learned_word = Signal(), Signal(RSP_B_BITS)
            m.d.comb += [
                self.o_lread.payload.tile_x.eq(cmd.tile_x),
                self.o_lread.payload.tile_y.eq(cmd.tile_y),
                self.o_lread.payload.addr.eq(cmd.arg),
            ]
        # Error flags are sticky; each cycle's new ones are OR-ed in at one place.
        bad_cmd = Signal()
        watchdog = Signal()
        do_reset = Signal()
        # Outputs driven straight from the command register (registered, Moore).
        m.d.comb += [
            self.o_cfg.payload.tile_x.eq(cmd.tile_x),
            self.o_cfg.payload.tile_y.eq(cmd.tile_y),
            self.o_cfg.payload.addr.eq(cmd.arg),
            self.o_cfg.payload.data.eq(cmd.data),
            self.o_read.payload.tile_x.eq(cmd.tile_x),
            self.o_read.payload.tile_y.eq(cmd.tile_y),
            self.o_read.payload.neuron.eq(cmd.arg),
            self.o_inject.payload.kind.eq(KIND_SPIKE),
            self.o_inject.payload.dest_x.eq(cmd.tile_x),
            self.o_inject.payload.dest_y.eq(cmd.tile_y),
            self.o_inject.payload.payload.eq(cmd.arg),
        ]
        accepting_inputs = running & ~host_done
        # Inputs with no tick running or to come would wait forever: refuse them
        # (BAD_COMMAND) instead of hanging the command stream.
        no_tick = ~running & (ticks_left == 0)
        # The host still owes the running tick its END_TICK: a command that waits for
        # the tick to end would wait forever, so it is refused (BAD_COMMAND) instead.
        owed = running & ~host_done
        with m.If(cmd_valid & ~cmd_ok):
            # An unknown opcode or an argument outside its limit: dropped, never truncated.
            m.d.comb += [cmd_done.eq(1), bad_cmd.eq(1)]
        with m.Elif(cmd_valid):
            with m.Switch(op):
                with m.Case(Cmd.CONFIG_WRITE):
                    with m.If(owed):
                        m.d.comb += [cmd_done.eq(1), bad_cmd.eq(1)]
                    with m.Elif(~running):  # configuration only between ticks
                        m.d.comb += [self.o_cfg.valid.eq(1), cmd_done.eq(self.o_cfg.ready)]
                with m.Case(Cmd.INPUT):
                    with m.If(no_tick):
                        m.d.comb += [cmd_done.eq(1), bad_cmd.eq(1)]
                    with m.Elif(accepting_inputs):
                        m.d.comb += [self.o_inject.valid.eq(1), cmd_done.eq(self.o_inject.ready)]
                        with m.If(self.o_inject.ready):
                            m.d.sync += host_in.eq(host_in + 1)
                with m.Case(Cmd.END_TICK):
                    with m.If(no_tick):
                        m.d.comb += [cmd_done.eq(1), bad_cmd.eq(1)]
                    with m.Elif(accepting_inputs):
                        m.d.comb += cmd_done.eq(1)
                        m.d.sync += host_done.eq(1)
                with m.Case(Cmd.RUN):
                    # A RUN waits until earlier ticks have all run.
                    with m.If(owed):
                        m.d.comb += [cmd_done.eq(1), bad_cmd.eq(1)]
                    with m.Elif(~running & (ticks_left == 0) & ~tick_done_pending):
                        m.d.comb += cmd_done.eq(1)
                        m.d.sync += ticks_left.eq(cmd.arg)
                with m.Case(Cmd.READ_STATE):
                    with m.If(owed):
                        m.d.comb += [cmd_done.eq(1), bad_cmd.eq(1)]
                    with m.Elif(~running & ~read_outstanding):
                        # Between ticks, one read at a time: answers come back in request order
                        # and at most one core drives its o_read.
                        m.d.comb += [self.o_read.valid.eq(1), cmd_done.eq(self.o_read.ready)]
                        with m.If(self.o_read.ready):
                            m.d.sync += read_outstanding.eq(1)
                with m.Case(Cmd.READ_STATUS):
                    with m.If(~status_pending):
                        m.d.comb += cmd_done.eq(1)
                        m.d.sync += [status_pending.eq(1), st_index.eq(cmd.arg)]
                        with m.Switch(cmd.arg):
                            for reg, sig in (
                                (StatusReg.TICK, tick),
                                (StatusReg.LAST_CYCLES, last_cycles),
                                (StatusReg.FLITS_IN, self.flits_in),
                                (StatusReg.FLITS_OUT, self.flits_out),
                                (StatusReg.ERRORS, errors),
                                (StatusReg.HOST_IN, host_in),
                                (StatusReg.HOST_OUT, host_out),
                            ):
                                with m.Case(reg):
                                    m.d.sync += st_value.eq(sig)
                with m.Case(Cmd.RESET):
                    with m.If(owed):
                        m.d.comb += [cmd_done.eq(1), bad_cmd.eq(1)]
                    with m.Elif(~running):
                        m.d.comb += cmd_done.eq(1)
                        m.d.comb += do_reset.eq(1)
                        m.d.sync += [tick.eq(0), ticks_left.eq(0), host_in.eq(0), last_cycles.eq(0)]
                with m.Case(Cmd.NOP):
                    m.d.comb += cmd_done.eq(1)
                if learn:
                    with m.Case(Cmd.LEARN_FLUSH):
                        # between ticks: every core runs its pending learning, no tick
                        with m.If(owed):
                            m.d.comb += [cmd_done.eq(1), bad_cmd.eq(1)]
                        with m.Elif(no_tick & ~read_outstanding):
                            m.d.comb += [cmd_done.eq(1), flush_go.eq(1)]
                    with m.Case(Cmd.READ_LEARNED):
                        with m.If(owed):
                            m.d.comb += [cmd_done.eq(1), bad_cmd.eq(1)]
                        with m.Elif(~running & ~read_outstanding):  # as READ_STATE
                            m.d.comb += [self.o_lread.valid.eq(1), cmd_done.eq(self.o_lread.ready)]
                            with m.If(self.o_lread.ready):
                                m.d.sync += read_outstanding.eq(1)
                if cnt is not None:
                    with m.Case(Cmd.READ_COUNTER):
                        # any time, once the previous counter read has left its slot
                        with m.If(~cnt.busy):
                            m.d.comb += cmd_done.eq(1)
                            m.d.sync += [
                                cnt.s1.eq(1),
                                self.cnt_tile_x.eq(cmd.tile_x),
                                self.cnt_tile_y.eq(cmd.tile_y),
                                self.cnt_index.eq(cmd.arg),
                            ]

        # --- tick controller ---
        # cycles counts from the start cycle (1) to the cycle all_done is seen,
        # both included. all_done is not looked at in the START_SETTLE cycles after the
        # start cycle: the chip registers start on its way to the cores and all_done on its
        # way back (rtl/chip.py), so until then all_done still shows the cores before start.
        first = Signal(range(START_SETTLE + 1))  # cycles all_done is still ignored
        with m.If(~running):
            # A tick never starts under a pending RESET, CONFIG_WRITE or READ_STATE, nor
            # while a read-back answer is still on its way (the core's start rule).
            between_ticks_cmd = cmd_valid & (
                (op == Cmd.RESET) | (op == Cmd.CONFIG_WRITE) | (op == Cmd.READ_STATE)
            )
            if learn:
                between_ticks_cmd = between_ticks_cmd | (cmd_valid & (op == Cmd.READ_LEARNED))
                with m.If(flush_go):  # a barrier with no tick and no END_TICK owed
                    m.d.comb += [self.start.eq(1), self.learn_only.eq(1)]
                    m.d.sync += [
                        running.eq(1),
                        cycles.eq(1),
                        host_done.eq(1),
                        first.eq(START_SETTLE),
                        flushing.eq(1),
                    ]
            with m.If(
                (ticks_left != 0) & ~tick_done_pending & ~between_ticks_cmd & ~read_outstanding
            ):
                m.d.comb += self.start.eq(1)
                m.d.sync += [
                    running.eq(1),
                    ticks_left.eq(ticks_left - 1),
                    cycles.eq(1),
                    host_done.eq(0),
                    first.eq(START_SETTLE),
                ]
        with m.Else():
            with m.If(first != 0):
                m.d.sync += first.eq(first - 1)
            # The barrier's flit conservation (rtl/contracts.py): when the tick ends the
            # mesh is empty, so every flit in went out, unless some were dropped at an
            # edge, which the sticky misroute flag reports.
            check(
                m,
                platform,
                ~((first == 0) & self.all_done & host_done)
                | self.misroute
                | (self.flits_in == self.flits_out),
                "tick end with flits_in {} != flits_out {} and no misroute",
                self.flits_in,
                self.flits_out,
            )
            tick_end = (first == 0) & self.all_done & host_done
            if learn:
                tick_end = tick_end & ~flushing
            with m.If(tick_end):
                m.d.sync += [
                    running.eq(0),
                    tick.eq(tick + 1),
                    last_cycles.eq(cycles),
                    tick_done_pending.eq(1),
                    td_tick.eq(tick),
                    td_cycles.eq(cycles),
                ]
            if learn:
                with m.Elif((first == 0) & self.all_done & flushing):  # LEARN_FLUSH: no tick
                    m.d.sync += [running.eq(0), flushing.eq(0)]
            with m.Else():
                m.d.sync += cycles.eq(cycles + 1)
                m.d.comb += watchdog.eq(cycles == chip.watchdog_cycles)

        # --- response sources ---
        # The response register is free when empty or being taken; a pending
        # slot that moves into it this cycle may be refilled in the same cycle,
        # so HOST_OUT spikes stream at one per cycle. These readies depend on
        # o_rsp.ready and on state, never on i_host.valid / i_read.valid.
        rsp_valid = Signal()
        free = ~rsp_valid | self.o_rsp.ready
        m.d.comb += [
            self.i_host.ready.eq(~spike_pending | free),
            self.i_read.ready.eq(~state_pending | (free & ~spike_pending)),
        ]
        if learn:
            m.d.comb += self.i_lread.ready.eq(
                ~learned_pending | (free & ~spike_pending & ~state_pending)
            )

        # --- response register, fixed priority SPIKE > STATE > STATUS > TICK_DONE ---
        # TICK_DONE goes last so that every SPIKE of a tick precedes its TICK_DONE.
        rsp = Signal(self.rsp_layout.struct())
        m.d.comb += [self.o_rsp.valid.eq(rsp_valid), self.o_rsp.payload.eq(rsp)]
        with m.If(self.o_rsp.valid & self.o_rsp.ready):
            m.d.sync += rsp_valid.eq(0)
        with m.If(free):
            with m.If(spike_pending):
                m.d.sync += [
                    rsp_valid.eq(1),
                    rsp.op.eq(Rsp.SPIKE),
                    rsp.a.eq(spike_tick),
                    rsp.b.eq(spike_src),
                    spike_pending.eq(0),
                ]
            with m.Elif(state_pending):
                m.d.sync += [
                    rsp_valid.eq(1),
                    rsp.op.eq(Rsp.STATE),
                    rsp.a.eq(0),
                    rsp.b.eq(Cat(state_u, state_v)),
                    state_pending.eq(0),
                ]
            if learn:
                with m.Elif(learned_pending):
                    m.d.sync += [
                        rsp_valid.eq(1),
                        rsp.op.eq(Rsp.LEARNED),
                        rsp.a.eq(0),
                        rsp.b.eq(learned_word),
                        learned_pending.eq(0),
                    ]
            with m.Elif(status_pending):
                m.d.sync += [
                    rsp_valid.eq(1),
                    rsp.op.eq(Rsp.STATUS),
                    rsp.a.eq(st_index),
                    rsp.b.eq(st_value),
                    status_pending.eq(0),
                ]
            if cnt is not None:
                with m.Elif(cnt.pending):
                    m.d.sync += [
                        rsp_valid.eq(1),
                        rsp.op.eq(Rsp.COUNTER),
                        rsp.a.eq(self.cnt_index),
                        rsp.b.eq(cnt.value),
                        cnt.pending.eq(0),
                    ]
            with m.Elif(tick_done_pending):
                m.d.sync += [
                    rsp_valid.eq(1),
                    rsp.op.eq(Rsp.TICK_DONE),
                    rsp.a.eq(td_tick),
                    rsp.b.eq(td_cycles),
                    tick_done_pending.eq(0),
                ]
        if cnt is None:
            with m.If(bad_cmd | watchdog | self.misroute):
                m.d.sync += errors.eq(errors | Cat(watchdog, self.misroute, bad_cmd))
        else:
            end = running & (first == 0) & self.all_done & host_done
            if learn:
                end = end & ~flushing  # LEARN_FLUSH's barrier adds no tick's cycles
            wrap = self._counter_updates(m, cnt, cycles=cycles, end=end)
            with m.If(bad_cmd | watchdog | self.misroute | wrap):
                m.d.sync += errors.eq(errors | Cat(watchdog, self.misroute, bad_cmd, wrap))
            m.d.sync += cnt.clear.eq(do_reset)
        # Latch new responses after the arbiter: a slot emptied and refilled in
        # the same cycle must end up full (the later assignment wins).
        with m.If(self.i_host.valid & self.i_host.ready):
            m.d.sync += [
                spike_pending.eq(1),
                spike_src.eq(self.i_host.payload.payload),
                spike_tick.eq(tick),
                host_out.eq(host_out + 1),
            ]
        with m.If(self.i_read.valid & self.i_read.ready):
            m.d.sync += [
                state_pending.eq(1),
                read_outstanding.eq(0),
                state_u.eq(self.i_read.payload.u),
                state_v.eq(self.i_read.payload.v),
            ]
        if learn:
            with m.If(self.i_lread.valid & self.i_lread.ready):
                m.d.sync += [
                    learned_pending.eq(1),
                    read_outstanding.eq(0),
                    learned_word.eq(self.i_lread.payload),
                ]
        with m.If(do_reset):  # last, so that RESET wins over flags and counters set this cycle
            m.d.sync += [errors.eq(0), host_out.eq(0)]
        return m

    def _counter_state(self, m):
        """The READ_COUNTER pipeline's registers (docs/counters.md): stage valids s1..s3
        (cycles c + 1 .. c + 3 after the command executes in c), the COUNTER slot
        (``pending``, ``value``), the host link's own registers and RESET's clear pulse."""
        bits = self.chip.counter_bits
        c = SimpleNamespace(
            s1=Signal(name="cnt_s1"),
            s2=Signal(name="cnt_s2"),
            s3=Signal(name="cnt_s3"),
            pending=Signal(name="cnt_pending"),
            value=Signal(bits, name="cnt_slot"),
            own=Signal(bits, name="cnt_own"),  # host_injected or cycles, registered in s1
            host_injected=self.counters.host_injected,
            cycles=self.counters.cycles,
            clear=self.cnt_clear,
        )
        c.busy = c.s1 | c.s2 | c.s3 | c.pending
        m.d.sync += [c.s1.eq(0), c.s2.eq(c.s1), c.s3.eq(c.s2)]  # READ_COUNTER sets s1
        return c

    def _counter_updates(self, m, c, *, cycles, end):
        """The host link's counters, the read pipeline's data path and the clear; returns
        this cycle's COUNTER_WRAP condition (a host link register wrapping, or the chip's
        wrap OR outside the clear pulse, which the tiles' flags still show)."""
        bits = self.chip.counter_bits
        assert ErrorFlag.COUNTER_WRAP == 1 << 3
        own_index = hw_index("cycles")
        with m.If(c.s1):  # the register's content at the start of c + 1
            m.d.sync += c.own.eq(Mux(self.cnt_index == own_index, c.cycles, c.host_injected))
        with m.If(c.s3):
            m.d.sync += [
                c.pending.eq(1),
                c.value.eq(Mux(self.cnt_index >= HW_TILE_COUNT, c.own, self.cnt_value)),
            ]
        injected = self.o_inject.valid & self.o_inject.ready
        with m.If(injected):
            m.d.sync += c.host_injected.eq(c.host_injected + 1)
        total = Signal(max(bits, len(cycles)) + 1, name="cnt_cycles_next")
        m.d.comb += total.eq(c.cycles + cycles)
        with m.If(end):  # the tick ends: TICK_DONE is queued with its cycle count
            m.d.sync += c.cycles.eq(total)
        with m.If(c.clear):
            m.d.sync += [c.host_injected.eq(0), c.cycles.eq(0)]
        return (
            (injected & c.host_injected.all())
            | (end & (total[bits:] != 0))
            | (self.cnt_wrapped & ~c.clear)
        )
