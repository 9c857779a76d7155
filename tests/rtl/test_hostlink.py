"""HostLink RTL vs its cycle-exact twin, every output of every cycle."""

import dataclasses
import random

import pytest
from spikemesh.rtl.hostlink import HostLink
from spikemesh.sim.hostlink import HostLinkModel

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.hostlink import Cmd, CommandCheck, ErrorFlag, Rsp, StatusReg
from spikemesh.layouts import config_data_bits
from tests.helpers import run_sim

CHIP = ChipConfig(width=3, height=2, core=CoreConfig(neurons=16), watchdog_cycles=40)
# the same with activity counters (docs/counters.md): READ_COUNTER, COUNTER, COUNTER_WRAP
CHIP_CNT = dataclasses.replace(CHIP, counter_bits=16)
# a learning chip (docs/learning.md): LEARN_FLUSH, READ_LEARNED, LEARNED, 4-bit regions
CHIP_LRN = dataclasses.replace(CHIP, core=CoreConfig(neurons=16, learning_profiles=2))
CHECK = CommandCheck(CHIP)
DATA = config_data_bits(CHIP)


def edge_argument(rng, op):
    """An argument for ``op`` at its limit (last accepted, first refused) or far past it,
    with the data of a CONFIG_WRITE fitting its region's word or not."""
    if op == Cmd.CONFIG_WRITE:
        region = rng.randrange(0, 8)  # 7 names no region
        depth = max(CHECK.region_depth[region], 1)
        index = rng.choice([0, depth - 1, depth, (1 << CHECK.index_bits) - 1])
        arg = (region << CHECK.index_bits | index) % (1 << CHECK.addr_bits)
        if rng.random() < 0.1:
            arg |= 1 << rng.randrange(CHECK.addr_bits, 32)  # above the address
        bits = CHECK.region_bits[region]
        data = rng.randrange(0, 1 << bits) if bits else 0
        if bits < DATA and rng.random() < 0.3:
            data |= 1 << rng.randrange(bits, DATA)  # above the region's word
        return arg, data
    limits = {Cmd.INPUT: CHECK.axons, Cmd.READ_STATE: CHECK.neurons, Cmd.READ_COUNTER: 18}
    limit = limits.get(op, len(StatusReg))
    return rng.choice([limit - 1, limit, rng.randrange(limit, 1 << 32)]), 0


def learned_argument(rng, chk):
    """READ_LEARNED's address: a learned region's word (SYNAPSE, PRETRACE, POSTTRACE) at or
    past its depth, another region, or bits above the address."""
    region = rng.choice([3, 9, 10, 3, 9, 10, 0, 8, 12, 15])
    depth = max(chk.region_depth[region], 1)
    index = rng.choice([0, rng.randrange(depth), depth - 1, depth, (1 << chk.index_bits) - 1])
    arg = (region << chk.index_bits | index) % (1 << chk.addr_bits)
    if rng.random() < 0.05:
        arg |= 1 << rng.randrange(chk.addr_bits, 32)
    return arg


def random_command(rng, op=None, *, counters=False, learning=None):
    ops = [
        Cmd.CONFIG_WRITE,
        Cmd.INPUT,
        Cmd.END_TICK,
        Cmd.READ_STATE,
        Cmd.READ_STATUS,
        Cmd.NOP,
        Cmd.RESET,
        14,
    ]
    # READ_COUNTER often with counters (mid-tick, between ticks, back to back); without,
    # now and then (refused: BAD_COMMAND, no answer)
    ops += [Cmd.READ_COUNTER] * (4 if counters else 1)
    # LEARN_FLUSH / READ_LEARNED: often on a learning chip (``learning`` = its CommandCheck),
    # now and then without (refused)
    ops += [Cmd.LEARN_FLUSH, Cmd.READ_LEARNED] * (3 if learning else 1)
    op = op if op is not None else rng.choice(ops)
    arg = rng.randrange(1, 4) if op == Cmd.RUN else rng.randrange(0, 8)
    data = rng.randrange(0, 1 << DATA)
    if op == Cmd.READ_STATUS:
        arg = rng.randrange(0, len(StatusReg))
    if op == Cmd.READ_COUNTER:
        arg = rng.randrange(0, 18)
    if op in (Cmd.CONFIG_WRITE, Cmd.INPUT, Cmd.READ_STATE, Cmd.READ_STATUS, Cmd.READ_COUNTER) and (
        op == Cmd.CONFIG_WRITE or rng.random() < 0.3
    ):
        arg, data = edge_argument(rng, op)
    if op == Cmd.READ_LEARNED and learning:
        arg = learned_argument(rng, learning)
    return dict(
        op=int(op),
        tile_x=rng.randrange(0, 4),
        tile_y=rng.randrange(0, 2),
        arg=arg,
        data=data,
    )


def command_stream(rng, counters=False, learning=None):
    """Mostly well-formed traffic (RUN k, then k ticks of INPUTs + END_TICK), stray commands."""
    while True:
        for _ in range(rng.randrange(0, 4)):
            yield random_command(rng, counters=counters, learning=learning)
        run = random_command(rng, Cmd.RUN)
        yield run
        for _ in range(run["arg"]):
            for _ in range(rng.randrange(0, 5)):
                yield random_command(
                    rng,
                    Cmd.INPUT if rng.random() < 0.8 else None,
                    counters=counters,
                    learning=learning,
                )
            yield random_command(rng, Cmd.END_TICK)


@pytest.mark.parametrize(
    "seed, chip, preset",
    [
        (1, CHIP, 0),
        (2, CHIP, 0),
        (3, CHIP, 0),
        (4, CHIP_CNT, 0),
        (5, CHIP_CNT, 1),
        (6, CHIP_CNT, 2),
        (7, CHIP_LRN, 0),
        (8, CHIP_LRN, 0),
    ],
)
def test_hostlink_matches_model_cycle_by_cycle(seed, chip, preset):
    """Random commands (with counters: READ_COUNTERs of every index, refused ones included,
    a random counter value and rare wrap flags from the chip), every output every cycle.
    ``preset``: 1 starts host_injected, 2 the cycles counter near 2**16 (they wrap)."""
    rng = random.Random(seed)
    print(f"seed {seed}")
    dut = HostLink(chip)
    model = HostLinkModel(chip)
    seen = {"rsp": [], "starts": 0, "flushes": 0}
    counters = bool(chip.counter_bits)
    learning = model.check if chip.core.learning else None
    lbits = config_data_bits(chip)

    async def bench(ctx):
        if preset:
            cnt = dut.counters
            near = (1 << 16) - 3 if preset == 1 else (1 << 16) - 60
            ctx.set(cnt.host_injected if preset == 1 else cnt.cycles, near)
            if preset == 1:
                model.host_injected = near
            else:
                model.cycles_total = near
        cmd_pending = None
        host_pending = None
        read_pending = None
        lread_pending = None
        flits = 0
        commands = command_stream(rng, counters, learning)
        for cycle in range(3000):
            if cmd_pending is None and rng.random() < 0.7:
                cmd_pending = next(commands)
            if host_pending is None and rng.random() < 0.3:
                host_pending = rng.randrange(0, 1 << 8)
            if read_pending is None and rng.random() < 0.2:
                read_pending = (rng.randrange(0, 1 << 24), rng.randrange(0, 1 << 24))
            flits += rng.randrange(0, 2)
            # A done chip has an empty mesh: every flit in went out (the barrier's
            # conservation, asserted by the RTL and the model at the tick's end).
            all_done = int(rng.random() < 0.3)
            inp = dict(
                cmd_valid=int(cmd_pending is not None),
                cmd=cmd_pending or random_command(rng),
                rsp_ready=int(rng.random() < 0.8),
                cfg_ready=int(rng.random() < 0.7),
                read_ready=int(rng.random() < 0.7),
                inject_ready=int(rng.random() < 0.7),
                read_valid=int(read_pending is not None),
                read_u=(read_pending or (0, 0))[0],
                read_v=(read_pending or (0, 0))[1],
                host_valid=int(host_pending is not None),
                host_payload=host_pending or 0,
                all_done=all_done,
                flits_in=flits,
                flits_out=flits if all_done else flits // 2,
                misroute=int(rng.random() < 0.002),
            )
            if learning:  # a core's o_lread answer, the addressed core's i_lread.ready
                if lread_pending is None and rng.random() < 0.2:
                    lread_pending = rng.randrange(0, 1 << lbits)
                inp["lread_ready"] = int(rng.random() < 0.7)
                inp["lread_valid"] = int(lread_pending is not None)
                inp["lread_data"] = lread_pending or 0
                ctx.set(dut.o_lread.ready, inp["lread_ready"])
                ctx.set(dut.i_lread.valid, inp["lread_valid"])
                ctx.set(dut.i_lread.payload, inp["lread_data"])
            if counters:
                inp["counter_value"] = rng.randrange(0, 1 << 16)
                inp["counter_wrapped"] = int(rng.random() < 0.001)
                ctx.set(dut.cnt_value, inp["counter_value"])
                ctx.set(dut.cnt_wrapped, inp["counter_wrapped"])
            ctx.set(dut.i_cmd.valid, inp["cmd_valid"])
            for k in ("op", "tile_x", "tile_y", "arg", "data"):
                ctx.set(getattr(dut.i_cmd.payload, k), inp["cmd"][k])
            ctx.set(dut.o_rsp.ready, inp["rsp_ready"])
            ctx.set(dut.o_cfg.ready, inp["cfg_ready"])
            ctx.set(dut.o_read.ready, inp["read_ready"])
            ctx.set(dut.o_inject.ready, inp["inject_ready"])
            ctx.set(dut.i_read.valid, inp["read_valid"])
            ctx.set(dut.i_read.payload.u, inp["read_u"])
            ctx.set(dut.i_read.payload.v, inp["read_v"])
            ctx.set(dut.i_host.valid, inp["host_valid"])
            ctx.set(dut.i_host.payload.payload, inp["host_payload"])
            ctx.set(dut.all_done, inp["all_done"])
            ctx.set(dut.flits_in, inp["flits_in"])
            ctx.set(dut.flits_out, inp["flits_out"])
            ctx.set(dut.misroute, inp["misroute"])
            o = model.comb(inp)
            got = dict(
                cmd_ready=ctx.get(dut.i_cmd.ready),
                cfg_valid=ctx.get(dut.o_cfg.valid),
                inject_valid=ctx.get(dut.o_inject.valid),
                read_valid=ctx.get(dut.o_read.valid),
                start=ctx.get(dut.start),
                host_ready=ctx.get(dut.i_host.ready),
                read_in_ready=ctx.get(dut.i_read.ready),
                rsp_valid=ctx.get(dut.o_rsp.valid),
                parity=ctx.get(dut.parity),
            )
            if learning:
                got["learn_only"] = ctx.get(dut.learn_only)
                got["lread_valid"] = ctx.get(dut.o_lread.valid)
                got["lread_in_ready"] = ctx.get(dut.i_lread.ready)
                if o["lread_valid"]:  # the request comes from the command register
                    p = dut.o_lread.payload
                    req = (ctx.get(p.tile_x), ctx.get(p.tile_y), ctx.get(p.addr))
                    c = model.cmd
                    assert req == (c["tile_x"], c["tile_y"], c["arg"]), f"cycle {cycle}"
            want = {k: int(o[k]) for k in got}
            got["errors"], want["errors"] = ctx.get(dut.errors), model.errors
            if counters:
                got["cnt"] = tuple(
                    ctx.get(s)
                    for s in (dut.cnt_tile_x, dut.cnt_tile_y, dut.cnt_index, dut.cnt_clear)
                )
                want["cnt"] = (*model.cnt_sel, model.cnt_clear)
            assert got == want, f"cycle {cycle}: {got} != {want}"
            if o["rsp_valid"]:
                r = (
                    ctx.get(dut.o_rsp.payload.op),
                    ctx.get(dut.o_rsp.payload.a),
                    ctx.get(dut.o_rsp.payload.b),
                )
                assert r == tuple(int(x) for x in o["rsp"]), (
                    f"cycle {cycle}: response {r} != {o['rsp']}"
                )
                if inp["rsp_ready"]:
                    seen["rsp"].append(r[0])
            if o["inject_valid"]:
                flit = (
                    ctx.get(dut.o_inject.payload.dest_x),
                    ctx.get(dut.o_inject.payload.dest_y),
                    ctx.get(dut.o_inject.payload.payload),
                    ctx.get(dut.o_inject.payload.kind),
                )
                c = model.cmd  # the flit comes from the command register
                assert flit == (c["tile_x"], c["tile_y"], c["arg"], 0), f"cycle {cycle}: {flit}"
                seen["injected"] = seen.get("injected", 0) + 1
            seen["starts"] += o["start"]
            seen["wrap"] = seen.get("wrap", 0) | model.errors & ErrorFlag.COUNTER_WRAP
            # the stream rules: a payload offered stays until taken
            if inp["cmd_valid"] and o["cmd_ready"]:
                cmd_pending = None
            if inp["host_valid"] and o["host_ready"]:
                host_pending = None
            if inp["read_valid"] and o["read_in_ready"]:
                read_pending = None
            if learning and inp["lread_valid"] and o["lread_in_ready"]:
                lread_pending = None
            seen["flushes"] += o["learn_only"]
            model.clock(inp)
            await ctx.tick()

    run_sim(dut, bench)
    # the random run exercised every response kind and ran ticks
    assert {Rsp.SPIKE, Rsp.STATE, Rsp.STATUS, Rsp.TICK_DONE} <= set(seen["rsp"])
    assert seen["starts"] > 5 and seen.get("injected", 0) > 10
    if counters:
        assert seen["rsp"].count(Rsp.COUNTER) > 20 and model.errors & ErrorFlag.BAD_COMMAND
    else:
        assert Rsp.COUNTER not in seen["rsp"]
    if preset:  # the preset register wrapped: COUNTER_WRAP
        assert seen["wrap"]
    if learning:  # flushes ran, READ_LEARNED answered, and the tick count only counts ticks
        assert seen["flushes"] > 3 and seen["rsp"].count(Rsp.LEARNED) > 3
    else:
        assert Rsp.LEARNED not in seen["rsp"] and not seen["flushes"]


def test_hostlink_constructor_errors():
    with pytest.raises(TypeError, match="chip must be a ChipConfig"):
        HostLink({"width": 2})


def _tick_end(dut, *, flits_in, flits_out, misroute):
    """RUN 1, END_TICK, with the chip done and the given mesh counters."""

    async def tb(ctx):
        ctx.set(dut.o_rsp.ready, 1)
        ctx.set(dut.all_done, 1)
        ctx.set(dut.flits_in, flits_in)
        ctx.set(dut.flits_out, flits_out)
        ctx.set(dut.misroute, misroute)
        for op, arg in ((Cmd.RUN, 1), (Cmd.END_TICK, 0)):
            ctx.set(dut.i_cmd.valid, 1)
            ctx.set(dut.i_cmd.payload.op, op)
            ctx.set(dut.i_cmd.payload.arg, arg)
            await ctx.tick().until(dut.i_cmd.ready)
        ctx.set(dut.i_cmd.valid, 0)
        for _ in range(6):
            await ctx.tick()
        assert ctx.get(dut.tick) == 1

    return tb


def test_tick_end_conservation_assertion_fires():
    """A tick that ends with a flit unaccounted for (rtl/contracts.py)."""
    dut = HostLink(CHIP)
    with pytest.raises(
        AssertionError, match=r"tick end with flits_in 7 != flits_out 6 and no misroute"
    ):
        run_sim(dut, _tick_end(dut, flits_in=7, flits_out=6, misroute=0))


@pytest.mark.parametrize("flits_out,misroute", [(7, 0), (6, 1)])
def test_tick_end_conservation_holds(flits_out, misroute):
    """Balanced counters, or a misroute that explains the difference: no assertion."""
    dut = HostLink(CHIP)
    run_sim(dut, _tick_end(dut, flits_in=7, flits_out=flits_out, misroute=misroute))


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_host_fifo_matches_its_twin(depth):
    """amaranth.lib.fifo.SyncFIFOBuffered (the chip's command and response FIFOs) against
    sim/hostlink.py::SyncFIFOBufferedModel, every output of every cycle under random
    writes and reads (full, empty, a word through in two cycles)."""
    from amaranth.lib.fifo import SyncFIFOBuffered
    from spikemesh.sim.hostlink import SyncFIFOBufferedModel

    rng = random.Random(depth)
    dut = SyncFIFOBuffered(width=8, depth=depth)
    model = SyncFIFOBufferedModel(depth)
    seen = {"full": 0, "through": 0}

    async def bench(ctx):
        word = 0
        for cycle in range(600):
            phase = (cycle // 100) % 3  # fill, drain, both at random
            w_en = int(rng.random() < (0.9, 0.2, 0.6)[phase])
            r_en = int(rng.random() < (0.2, 0.9, 0.6)[phase])
            ctx.set(dut.w_en, w_en)
            ctx.set(dut.w_data, word)
            ctx.set(dut.r_en, r_en)
            got = (ctx.get(dut.w_rdy), ctx.get(dut.r_rdy), ctx.get(dut.level))
            assert got == (model.w_rdy, model.r_rdy, model.level), f"cycle {cycle}: {got}"
            if model.r_rdy:
                assert ctx.get(dut.r_data) == model.out, f"cycle {cycle}"
                seen["through"] += r_en
            seen["full"] += not model.w_rdy
            if w_en and model.w_rdy:
                word = (word + 1) & 0xFF
            model.clock(w_en, ctx.get(dut.w_data), r_en)
            await ctx.tick()

    run_sim(dut, bench)
    assert seen["full"] > 10 and seen["through"] > 100


def test_host_fifo_twin_refuses_a_bad_depth():
    from spikemesh.sim.hostlink import SyncFIFOBufferedModel

    with pytest.raises(ValueError, match="depth must be an integer >= 2, not 1"):
        SyncFIFOBufferedModel(1)
