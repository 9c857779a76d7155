"""The hardware activity counters (docs/counters.md, issue 12) of the RTL blocks equal their
twins' on every cycle (Amaranth's simulator): the routers' forwarded / router_blocked
registers, their registered selection, the sticky wrap flag and the registered clear."""

import dataclasses
import functools
import random

import numpy as np
import pytest
from spikemesh.firmware import compile_network
from spikemesh.firmware.loader import command, config_commands, run_commands
from spikemesh.rtl.chip import Chip
from spikemesh.rtl.core import CORE_COUNTERS
from spikemesh.rtl.mesh import Mesh
from spikemesh.sim.chip import ChipModel, TimedChipModel
from spikemesh.sim.mesh import MeshModel

from spikemesh.config import ChipConfig, CoreConfig, RouterConfig, flit_layout
from spikemesh.counters import counters_from_image
from spikemesh.errors import CompileError
from spikemesh.hostlink import Cmd, ErrorFlag, Rsp, StatusReg
from tests.firmware.random_nets import random_network
from tests.helpers import assert_mesh_matches, run_sim


def assert_router_counters(ctx, dut, model, cyc):
    """Every router's 10 registers, its selected value and the mesh's wrap OR."""
    mask = model.routers[0][0].cnt_mask
    for y, row in enumerate(model.routers):
        for x, r in enumerate(row):
            rtl = [ctx.get(s) for s in dut.routers[y][x].counters]
            assert rtl == [c & mask for c in r.counts], (cyc, x, y, "counters")
            assert ctx.get(dut.cnt_value[y][x]) == r.cnt_value, (cyc, x, y, "cnt_value")
    assert ctx.get(dut.cnt_wrapped) == model.cnt_wrapped, (cyc, "cnt_wrapped")


def mesh_lockstep(
    chip, *, cycles, seed, p_offer=0.7, p_ready=0.5, bad=0.1, clear_at=(), preset=None
):
    """Random flits (``bad`` of them off the mesh) with random readiness into Mesh and
    MeshModel, a random ``cnt_index`` every cycle, ``cnt_clear`` in the cycles ``clear_at``;
    ``preset`` = (x, y, k, value): that router's register k starts at ``value`` in both."""
    rng = random.Random(seed)
    dut = Mesh(chip)
    model = MeshModel(chip)
    lay = flit_layout(chip)
    w, h = chip.width, chip.height
    ins = [dut.i_local[y][x] for y in range(h) for x in range(w)] + [dut.i_host]
    outs = [dut.o_local[y][x] for y in range(h) for x in range(w)] + [dut.o_host]
    n = len(ins)
    dests = [(x, y) for y in range(h) for x in range(w)] + [(-1, 0)]

    def flit():
        if rng.random() < bad:
            dx, dy = -1, h - 1  # host-bound off row 0: dropped at a West edge
        else:
            dx, dy = rng.choice(dests)
        return lay.pack(kind=0, dest_x=dx, dest_y=dy, payload=rng.randrange(16))

    async def tb(ctx):
        if preset is not None:
            x, y, k, value = preset
            ctx.set(dut.routers[y][x].counters[k], value)
            model.routers[y][x].counts[k] = value
        iv, ip = [0] * n, [0] * n
        for cyc in range(cycles):
            _mv, _mp, mr = assert_mesh_matches(ctx, dut, model, ins, outs, cyc)
            assert_router_counters(ctx, dut, model, cyc)
            ordy = [int(rng.random() < p_ready) for _ in range(n)]
            for k in range(n):
                if not iv[k] and rng.random() < p_offer:
                    iv[k], ip[k] = 1, flit()
            index, clear = rng.randrange(18), int(cyc in clear_at)
            for k in range(n):
                ctx.set(ins[k].valid, iv[k])
                ctx.set(ins[k].payload.as_value(), ip[k])
                ctx.set(outs[k].ready, ordy[k])
            ctx.set(dut.cnt_index, index)
            ctx.set(dut.cnt_clear, clear)
            await ctx.tick()
            model.counter_select(index)
            model.clock(iv, ip, ordy)
            if clear:
                model.counter_clear()
            for k in range(n):
                if iv[k] and mr[k]:
                    iv[k] = 0
        assert_router_counters(ctx, dut, model, cycles)

    run_sim(dut, tb)
    return model


@pytest.mark.parametrize("w, h, depth, seed", [(2, 2, 2, 1), (3, 2, 4, 2)])
def test_mesh_counters_equal_model(w, h, depth, seed):
    chip = ChipConfig(width=w, height=h, router=RouterConfig(fifo_depth=depth), counter_bits=16)
    model = mesh_lockstep(chip, cycles=300, seed=seed)
    counts = [c for row in model.routers for r in row for c in r.counts]
    fwd = sum(c for row in model.routers for r in row for c in r.counts[:5])
    blocked = sum(c for row in model.routers for r in row for c in r.counts[5:])
    # the counters moved: flits forwarded (drops included) and inputs blocked
    assert fwd >= model.flits_out + model.dropped and blocked > 20, counts
    assert model.dropped > 0


def test_mesh_counters_clear_and_wrap():
    """A register preset to all ones wraps on its next flit (the flag in both); the clear
    in cycle 150 zeroes every register and the flag, and counting goes on from 0."""
    chip = ChipConfig(width=2, height=2, counter_bits=16)
    model = mesh_lockstep(
        chip, cycles=220, seed=3, bad=0.0, clear_at=(150,), preset=(0, 0, 0, (1 << 16) - 1)
    )
    assert not model.cnt_wrapped
    assert sum(c for row in model.routers for r in row for c in r.counts) > 0


def test_mesh_wrap_flag_set():
    chip = ChipConfig(width=2, height=2, counter_bits=16)
    model = mesh_lockstep(chip, cycles=120, seed=3, bad=0.0, preset=(0, 0, 0, (1 << 16) - 1))
    assert model.cnt_wrapped and model.routers[0][0].counts[0] > 1 << 16


# ---- the whole chip: RTL (Amaranth's simulator) and TimedChipModel, response for response ----

CHIP_CNT = ChipConfig(
    width=3,  # x_bits = 2: tile_x = 3 is off the mesh (on a 2-wide chip it would wrap to 0)
    height=2,
    core=CoreConfig(neurons=16, axons=64, synapses=256, fanout=128, profiles=2),
    counter_bits=24,
)
TICKS = 6
FIELDS = ("op", "tile_x", "tile_y", "arg", "data")


@functools.cache
def active_image(chip):
    """A random network on ``chip`` that spikes, uses the mesh and gets host inputs."""
    for seed in range(1, 100):
        net = random_network(seed, max_neurons=40)
        try:
            img, _ = compile_network(net, chip)
        except CompileError:
            continue
        inputs = net.input_raster(TICKS)
        fires = net.num_neurons > chip.core.neurons and inputs.any()
        if fires and ChipModel(img).run(TICKS, inputs).spikes.sum() > 20:
            return img, inputs
    raise AssertionError("no active network")


def read_all(chip):
    """RUN 0 (waits for the running tick and its TICK_DONE), then every register."""
    cmds = [command(Cmd.RUN, arg=0)]
    for t in range(chip.tiles):
        x, y = t % chip.width, t // chip.width
        cmds += [command(Cmd.READ_COUNTER, tile_x=x, tile_y=y, arg=k) for k in range(16)]
    return [*cmds, command(Cmd.READ_COUNTER, arg=16), command(Cmd.READ_COUNTER, arg=17)]


def rtl_chip_responses(chip, cmds, cycles, *, preset=None):
    """The RTL chip's responses (cycle, op, a, b) to ``cmds``, offered one per cycle as the
    timed model's host does (every response taken at once), for ``cycles`` cycles;
    ``preset(ctx, blocks)`` runs before cycle 0."""
    dut = Chip(chip)
    got = []

    async def tb(ctx):
        if preset is not None:
            preset(ctx, dut.blocks)
        pos = 0
        ctx.set(dut.o_rsp.ready, 1)
        for cycle in range(cycles):
            offer = pos < len(cmds)
            ctx.set(dut.i_cmd.valid, int(offer))
            if offer:
                for k in FIELDS:
                    ctx.set(getattr(dut.i_cmd.payload, k), cmds[pos][k])
            if ctx.get(dut.o_rsp.valid):
                p = dut.o_rsp.payload
                got.append((cycle, ctx.get(p.op), ctx.get(p.a), ctx.get(p.b)))
            taken = offer and ctx.get(dut.i_cmd.ready)
            await ctx.tick()
            pos += int(taken)

    run_sim(dut, tb)
    return got


def with_reads(image, inputs, ticks, rng):
    """run_commands with READ_COUNTERs of random registers (and READ_STATUS ERRORS) put
    between the tick's commands: mid-tick, before END_TICK, between ticks."""
    chip = image.chip
    out = []
    for c in run_commands(image, inputs, ticks):
        if rng.random() < 0.5:
            t = rng.randrange(chip.tiles)
            out.append(
                command(
                    Cmd.READ_COUNTER,
                    tile_x=t % chip.width,
                    tile_y=t // chip.width,
                    arg=rng.randrange(18),
                )
            )
        if rng.random() < 0.2:
            out.append(command(Cmd.READ_STATUS, arg=StatusReg.ERRORS))
        out.append(c)
    return out


def counter_values(responses):
    return [b for _, op, _, b in responses if op == Rsp.COUNTER]


def test_chip_counters_rtl_equal_model_and_image_counters():
    """READ_COUNTERs mid-tick, between ticks and at the end, refused ones (index 18, a tile
    off the mesh), RESET and reads after it: every response on the same cycle in the RTL
    and TimedChipModel; the final reads equal the model's registers, the timing-free ones
    the image walk's sums (spikemesh.counters), cycles the TICK_DONE counts; after RESET
    every register reads 0; the refused reads answer nothing and set BAD_COMMAND."""
    chip = CHIP_CNT
    img, inputs = active_image(chip)
    rng = random.Random(5)
    refused = [
        command(Cmd.READ_COUNTER, arg=18),
        command(Cmd.READ_COUNTER, tile_x=chip.width, arg=0),
        command(Cmd.READ_STATUS, arg=StatusReg.ERRORS),
    ]
    cmds = (
        config_commands(img)
        + [command(Cmd.READ_COUNTER, arg=k) for k in (0, 16, 17)]
        + with_reads(img, inputs, TICKS, rng)
        + read_all(chip)
        + refused
        + [command(Cmd.RESET)]
        + read_all(chip)
    )
    model = TimedChipModel(chip)
    ref = model.run(cmds)
    got = rtl_chip_responses(chip, cmds, model.cycle)
    assert got == ref, first_difference(got, ref)

    n_reads = sum(c["op"] == Cmd.READ_COUNTER for c in cmds) - 2  # two refused
    assert len(counter_values(ref)) == n_reads
    regs = chip.tiles * 16 + 2
    final, after_reset = counter_values(ref)[-2 * regs : -regs], counter_values(ref)[-regs:]
    assert final == list(model.tick_registers[-1]) and not any(after_reset)
    errors = [b for _, op, a, b in ref if op == Rsp.STATUS and a == StatusReg.ERRORS]
    assert errors[-1] == ErrorFlag.BAD_COMMAND and not errors[0]

    # the timing-free counters equal the image walk's, tick by tick (register differences)
    want = counters_from_image(img, ChipModel(img).run(TICKS, inputs))
    rows = model.tick_registers
    per_tick = np.diff(np.vstack([np.zeros(regs, np.int64), rows]), axis=0)
    tiles = per_tick[:, : chip.tiles * 16].reshape(TICKS, chip.tiles, 16)
    for k, name in enumerate(CORE_COUNTERS):
        assert (tiles[:, :, k] == getattr(want, name)).all(), name
    assert (tiles[:, :, 6:11] == want.forwarded).all()
    assert (per_tick[:, -2] == want.host_injected).all()
    done = [b for _, op, a, b in ref if op == Rsp.TICK_DONE]
    assert list(per_tick[:, -1]) == done and tiles[:, :, 11:].sum() >= 0
    assert want.spikes.sum() > 20 and want.host_injected.sum() > 0


def first_difference(a, b):
    for k, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"response {k}: RTL {x}, model {y}"
    return f"{len(a)} RTL responses, {len(b)} model responses"


def test_chip_counter_wrap_flag_and_reset():
    """counter_bits = 16, core (0, 0)'s neuron_updates preset 20 below 2**16 in the RTL and
    the model: it wraps in the second tick; READ_STATUS ERRORS after every command shows
    COUNTER_WRAP from the same cycle in both (c + 3); RESET clears it for good (the tiles'
    flags, still set in the clear cycle, do not bring it back) and zeroes the registers."""
    chip = dataclasses.replace(CHIP_CNT, counter_bits=16)
    img, inputs = active_image(CHIP_CNT)
    img = dataclasses.replace(img, chip=chip)
    start = (1 << 16) - 20
    errors = command(Cmd.READ_STATUS, arg=StatusReg.ERRORS)
    run = [c for cmd in run_commands(img, inputs[:3], 3) for c in (cmd, errors)]
    cmds = (
        config_commands(img)
        + run
        + read_all(chip)[:2]
        + [command(Cmd.RESET)]
        + [errors] * 4
        + [command(Cmd.READ_COUNTER, arg=0), command(Cmd.RESET), errors]
    )
    model = TimedChipModel(chip)
    model.cores[0].counts[0] = start

    def preset(ctx, blocks):
        ctx.set(blocks["core_0_0"].counters[0], start)

    ref = model.run(cmds)
    got = rtl_chip_responses(chip, cmds, model.cycle, preset=preset)
    assert got == ref, first_difference(got, ref)
    flags = [b for _, op, a, b in ref if op == Rsp.STATUS]
    wrap = [bool(f & ErrorFlag.COUNTER_WRAP) for f in flags]
    first = wrap.index(True)
    assert first > 0 and all(wrap[first:-5]) and not any(wrap[-5:]), wrap
    assert counter_values(ref)[0] == (start + 3 * 16) % (1 << 16)  # read before the RESET
    assert counter_values(ref)[-1] == 0  # read after it


def test_counter_free_chip_has_no_counter_logic():
    """counter_bits = 0 builds nothing of the counters (the board builds' chips): no counter
    register or port in the Verilog, which with counters has them. (When the counters went
    in, the default, a 3x2 and the iCEBreaker chip's Verilog stayed byte-identical.)"""
    from amaranth.back import verilog
    from spikemesh.rtl.boards import BOARDS

    chip = BOARDS["icebreaker"].chip
    assert chip.counter_bits == 0
    plain = verilog.convert(Chip(chip), name="chip", emit_src=False)
    counted = verilog.convert(
        Chip(dataclasses.replace(chip, counter_bits=16)), name="chip", emit_src=False
    )
    assert "cnt_" not in plain and "cnt_tile_value" in counted and "cnt_sops" in counted
