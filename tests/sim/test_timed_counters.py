"""The hardware counters of the compiled timed model (docs/counters.md, the cycle contract):
read over the host link with READ_COUNTER mid-run and after the last tick, they equal the
per-tick counts of the image walk summed up to the reading; the registers the model keeps at
every tick end give the per-tick counts themselves; counters change no spike and no cycle;
READ_COUNTER's pipeline spacing and the COUNTER_WRAP flag; a wrong value is caught."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from spikemesh.firmware import compile_network
from spikemesh.firmware.loader import (
    command,
    counter_commands,
    decode_counters,
    run_commands,
)
from spikemesh.sim.chip import ChipModel
from spikemesh.sim.timed import CompiledChipModel, run_image_timed

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.counters import (
    COUNTER_BITS,
    HW_TILE_COUNT,
    CounterError,
    counters_from_image,
    hw_index,
)
from spikemesh.counters_hw import check_hw_counters
from spikemesh.errors import SpikemeshError
from spikemesh.hostlink import Cmd, ErrorFlag, Rsp, StatusReg
from tests.firmware.random_nets import random_network
from tests.sim.test_timed import CHIPS

TICKS = 30


def counted(chip, bits=COUNTER_BITS):
    return dataclasses.replace(chip, counter_bits=bits)


def images(chip, count, seed0):
    """``count`` random networks on ``chip`` (every neuron an output), with spikes."""
    out, seed = [], seed0
    while len(out) < count:
        seed += 1
        net = random_network(seed, max_neurons=int(chip.neurons * 0.8), recurrent=seed % 3 != 0)
        try:
            img, _ = compile_network(net, chip, host_outputs="all")
        except SpikemeshError:
            continue
        inputs = net.input_raster(TICKS)
        if net.num_neurons > chip.core.neurons and ChipModel(img).run(TICKS, inputs).spikes.any():
            out.append((seed, img, inputs))
    return out


def per_tick(chip, tick_registers):
    """[T, tiles, 16] per-tick register increments and [T, 2] of the host link's."""
    reg = np.asarray(tick_registers)
    d = np.diff(np.vstack([np.zeros((1, reg.shape[1]), np.int64), reg]), axis=0)
    return d[:, : chip.tiles * HW_TILE_COUNT].reshape(-1, chip.tiles, HW_TILE_COUNT), d[:, -2:]


@pytest.mark.parametrize("name", list(CHIPS))
def test_registers_equal_the_per_tick_counts(name):
    """Every 7 ticks and after the last, all registers over the host link: each reading
    equals the functional TLM's per-tick counts (image walk) summed to it, cycles the
    TICK_DONEs' sum, router_blocked the model's own per-tick registers; and those per-tick
    registers equal the image walk tick by tick, counter by counter, tile by tile."""
    chip = counted(CHIPS[name])
    for seed, img, inputs in images(chip, 3, 300):
        res, _ = run_image_timed(img, inputs, TICKS, counters=7)
        hw = res.extra["hw_counters"]
        assert hw["after_tick"].tolist() == [7, 14, 21, 28, 30]
        ref = ChipModel(img).run(TICKS, inputs)
        assert np.array_equal(res.spikes, ref.spikes), seed
        c = counters_from_image(img, ref)
        c.cycles = res.cycles
        c.router_blocked = res.extra["router_blocked"]
        check_hw_counters(c, hw, chip.counter_bits)
        m = CompiledChipModel(chip)
        m.load_image(img)
        m.run(run_commands(img, inputs, TICKS))
        tiles, host = per_tick(chip, m.tick_registers)
        for cname in ("neuron_updates", "spikes", "flits_injected", "host_flits", "events", "sops"):
            assert np.array_equal(tiles[:, :, hw_index(cname)], getattr(c, cname)), (seed, cname)
        f0 = hw_index("forwarded", 0)
        assert np.array_equal(tiles[:, :, f0 : f0 + 5], c.forwarded), seed
        assert np.array_equal(host[:, 0], c.host_injected), seed
        assert np.array_equal(host[:, 1], res.cycles), seed
        assert np.array_equal(m.counter_registers(), m.tick_registers[-1])
        assert c.flits_injected.sum() > 0 and c.sops.sum() > 0


def test_counters_change_no_spike_and_no_cycle():
    """The same run on the chip with and without counters: the same responses on the same
    cycles (counting adds registers only); with them the update loops never sleep, so this
    also checks the stepped path against the shortcuts."""
    chip = CHIPS["3x2-n16-acc20"]
    for seed, img, inputs in images(chip, 3, 400):
        cmds = run_commands(img, inputs, TICKS)
        plain = CompiledChipModel(chip)
        plain.load_image(img)
        cimg = dataclasses.replace(img, chip=counted(chip))
        m = CompiledChipModel(cimg.chip)
        m.load_image(cimg)
        assert m.run(cmds) == plain.run(cmds), seed
        assert m.cycle == plain.cycle
        assert m.tick_registers.shape == (TICKS, chip.tiles * 16 + 2)


def test_read_counter_pipeline_and_values():
    """A burst of READ_COUNTERs mid-tick and between ticks: one in flight at a time (the
    responses of a burst at least 5 cycles apart), values that never decrease, and between
    ticks exactly the registers at the last tick end."""
    chip = counted(CHIPS["2x2-n16"])
    _seed, img, inputs = images(chip, 1, 500)[0]
    reads = [command(Cmd.READ_COUNTER, tile_x=1, tile_y=1, arg=k) for k in range(18)]
    cmds = run_commands(img, inputs[:3], 3)
    # mid-tick: right after tick 1's END_TICK (the tick still runs); then after the run
    ends = [k for k, c in enumerate(cmds) if c["op"] == Cmd.END_TICK]
    cmds = cmds[: ends[1] + 1] + reads + cmds[ends[1] + 1 :] + [command(Cmd.RUN)] + reads
    m = CompiledChipModel(chip)
    m.load_image(img)
    rsp = m.run(cmds)
    cnt = [r for r in rsp if r[1] == Rsp.COUNTER]
    assert len(cnt) == 36
    assert [r[2] for r in cnt] == list(range(18)) * 2
    gaps = np.diff([r[0] for r in cnt[:18]])
    assert gaps.min() >= 5 and (gaps == 5).any()
    mid, end = np.array([r[3] for r in cnt[:18]]), np.array([r[3] for r in cnt[18:]])
    assert (end >= mid).all() and (end > mid).any()
    tile = 3 * 16
    want = m.tick_registers[-1]
    assert end[:16].tolist() == want[tile : tile + 16].tolist()
    assert end[16:].tolist() == want[-2:].tolist()


def test_counter_wrap_sets_the_error_flag_and_reset_clears():
    """16-bit registers: the cycles register and neuron_updates wrap (COUNTER_WRAP in
    ERRORS), the registers hold their counts modulo 2**16; RESET zeroes them all."""
    chip = counted(
        ChipConfig(
            width=1,
            height=1,
            core=CoreConfig(neurons=16, axons=16, synapses=16, fanout=16, profiles=1),
        ),
        16,
    )
    status = command(Cmd.READ_STATUS, arg=int(StatusReg.ERRORS))
    m = CompiledChipModel(chip)
    ticks = 4096  # neuron_updates: 16 a tick, exactly 2**16
    cmds = [command(Cmd.RUN, arg=ticks)] + [command(Cmd.END_TICK)] * ticks
    rsp = m.run([status, *cmds, command(Cmd.RUN), status, *counter_commands(chip)[1:]])
    st = [r[3] for r in rsp if r[1] == Rsp.STATUS]
    cyc = [r[3] for r in rsp if r[1] == Rsp.TICK_DONE]
    assert st[0] == 0 and sum(cyc) >= 1 << 16
    assert st[1] & ErrorFlag.COUNTER_WRAP
    regs = [r[3] for r in rsp if r[1] == Rsp.COUNTER]
    assert regs[hw_index("cycles")] == sum(cyc) % (1 << 16)
    assert regs[hw_index("neuron_updates")] == 16 * ticks % (1 << 16)
    rsp = m.run([command(Cmd.RESET), *counter_commands(chip)[1:]])
    assert [r[3] for r in rsp if r[1] == Rsp.COUNTER] == [0] * 18
    assert not m.counter_registers().any()


def test_a_wrong_register_value_fails():
    """check_hw_counters names the counter, the tile and the port of a value changed by
    one; decode_counters refuses incomplete or reordered readings."""
    chip = counted(CHIPS["2x2-n16"])
    _seed, img, inputs = images(chip, 1, 600)[0]
    res, rsp = run_image_timed(img, inputs, TICKS, counters=10)
    c = counters_from_image(img, ChipModel(img).run(TICKS, inputs))
    c.cycles, c.router_blocked = res.cycles, res.extra["router_blocked"]
    hw = res.extra["hw_counters"]
    check_hw_counters(c, hw, chip.counter_bits)
    for name, where, pat in (
        ("sops", (1, 2), r"sops at tile \(0,1\), read after tick 20"),
        ("forwarded", (2, 0, 2), r"forwarded at tile \(0,0\), port E, read after tick 30"),
        ("router_blocked", (0, 3, 0), r"router_blocked at tile \(1,1\), port L"),
        ("cycles", (2,), r"cycles, read after tick 30"),
    ):
        bad = {k: v.copy() for k, v in hw.items()}
        bad[name][where] += 1
        with pytest.raises(CounterError, match=pat):
            check_hw_counters(c, bad, chip.counter_bits)
    rows = np.asarray(rsp)[:, 1:]
    cnt = np.flatnonzero(rows[:, 0] == Rsp.COUNTER)
    with pytest.raises(SpikemeshError, match="not whole readings"):
        decode_counters(chip, np.delete(rows, cnt[5], axis=0))
    swapped = rows.copy()
    swapped[[cnt[3], cnt[4]]] = swapped[[cnt[4], cnt[3]]]
    with pytest.raises(SpikemeshError, match="has index 4, expected 3"):
        decode_counters(chip, swapped)
    with pytest.raises(SpikemeshError, match="no hardware counters"):
        run_image_timed(dataclasses.replace(img, chip=CHIPS["2x2-n16"]), inputs, 3, counters=None)


def counter_stream(img, inputs, ticks, rng):
    """A run with READ_COUNTERs of random registers mid-tick (right after an INPUT or an
    END_TICK), between ticks, after the run, then RESET and reads after it."""
    chip = img.chip
    cmds = []
    for c in run_commands(img, inputs, ticks):
        cmds.append(c)
        if c["op"] in (Cmd.INPUT, Cmd.END_TICK) and rng.random() < 0.3:
            for _ in range(int(rng.integers(1, 4))):
                t = int(rng.integers(chip.tiles))
                cmds.append(
                    command(
                        Cmd.READ_COUNTER,
                        tile_x=t % chip.width,
                        tile_y=t // chip.width,
                        arg=int(rng.integers(18)),
                    )
                )
    status = command(Cmd.READ_STATUS, arg=int(StatusReg.ERRORS))
    reads = counter_commands(chip)
    return cmds + reads + [status, command(Cmd.RESET)] + reads[1:4] + [status] + reads[1:]


@pytest.mark.parametrize("name", list(CHIPS))
def test_compiled_equals_python_twin(name):
    """Compiled model vs TimedChipModel with counters: READ_COUNTERs mid-tick, between
    ticks and at the end, RESET and reads after it; every response on the same cycle,
    the registers at every tick end and at the end equal; with and without the shortcuts,
    image over the host link and placed directly."""
    from spikemesh.firmware.loader import config_commands
    from spikemesh.sim.chip import TimedChipModel

    chip = counted(CHIPS[name])
    rng = np.random.default_rng(7)
    for seed, img, inputs in images(chip, 2, 700):
        run = counter_stream(img, inputs[:12], 12, rng)
        for direct in (True, False):
            cmds = run if direct else config_commands(img) + run
            py = TimedChipModel(chip)
            if direct:
                py.load_image(img)
            ref = py.run(cmds)
            assert sum(r[1] == Rsp.COUNTER for r in ref) > 2 * (chip.tiles * 16 + 2), seed
            for fast in (True, False):
                m = CompiledChipModel(chip, fast=fast)
                if direct:
                    m.load_image(img)
                got = m.run(cmds)
                assert got == ref, f"seed {seed}, direct={direct}, fast={fast}"
                assert np.array_equal(m.tick_registers, py.tick_registers), seed
                assert np.array_equal(m.counter_registers(), py.counter_registers()), seed
                assert m.cycle == py.cycle


def test_wrap_and_reset_equal_python_twin():
    """16-bit registers wrapping (cycles after a few thousand cycles, neuron_updates at
    4,096 ticks): ERRORS read before, on and after the wrap and after RESET, every response
    on the same cycle in the compiled model and TimedChipModel."""
    from spikemesh.sim.chip import TimedChipModel

    chip = counted(
        ChipConfig(
            width=1,
            height=1,
            core=CoreConfig(neurons=16, axons=16, synapses=16, fanout=16, profiles=1),
        ),
        16,
    )
    status = command(Cmd.READ_STATUS, arg=int(StatusReg.ERRORS))
    ticks = 4096
    cmds = [command(Cmd.RUN, arg=ticks)]
    for t in range(ticks):
        cmds.append(command(Cmd.END_TICK))
        if t % 97 == 0 or t > ticks - 3:
            cmds += [status, command(Cmd.READ_COUNTER, arg=hw_index("neuron_updates"))]
    cmds += [command(Cmd.RUN), status, command(Cmd.RESET), status, status]
    cmds += [*counter_commands(chip)[1:], status]
    ref = TimedChipModel(chip).run(cmds)
    got = CompiledChipModel(chip).run(cmds)
    assert got == ref
    st = [r[3] for r in ref if r[1] == Rsp.STATUS]
    assert st[0] == 0 and any(s & ErrorFlag.COUNTER_WRAP for s in st)
    assert not st[-1] & ErrorFlag.COUNTER_WRAP
