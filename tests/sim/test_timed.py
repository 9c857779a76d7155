"""sim/timed.py::CompiledChipModel against the Python cycle-level twins, block by block and
whole chip: every response (cycle, op, a, b) equal, with and without the shortcuts, for both
ways of loading the image; error paths; and proof that the comparison can fail."""

from __future__ import annotations

import numpy as np
import pytest
from spikemesh.firmware import compile_network
from spikemesh.firmware.image import ChipImage
from spikemesh.firmware.loader import (
    command,
    config_commands,
    decode_run,
    host_schedule,
    read_state_commands,
    run_commands,
)
from spikemesh.sim.chip import ChipModel, TimedChipModel
from spikemesh.sim.core import CoreModel
from spikemesh.sim.mesh import MeshModel
from spikemesh.sim.router import _RR, RouterModel
from spikemesh.sim.timed import (
    CompiledChipModel,
    TimedRunError,
    command_array,
    read_state_array,
    run_command_array,
    run_image_timed,
    trace_rows,
)

from spikemesh.config import ChipConfig, CoreConfig, RouterConfig, flit_layout
from spikemesh.errors import CompileError, ImageError, SpikemeshError
from spikemesh.hostlink import Cmd, Rsp, StatusReg
from spikemesh.layouts import core_config_writes
from tb.core.scenarios import random_image, random_inputs, scenario_chip
from tests.firmware.random_nets import random_network

# the chips of tb/chip/test_chip.py
CHIPS = {
    "2x2-n16": ChipConfig(
        width=2,
        height=2,
        core=CoreConfig(neurons=16, axons=128, synapses=1024, fanout=256, profiles=4),
    ),
    "3x2-n16-acc20": ChipConfig(
        width=3,
        height=2,
        router=RouterConfig(fifo_depth=2),
        host_fifo_depth=2,  # the smallest host FIFOs: one word every other cycle
        core=CoreConfig(neurons=16, axons=128, synapses=1024, fanout=256, profiles=4, acc_bits=20),
    ),
    "1x3-n32": ChipConfig(
        width=1,
        height=3,
        core=CoreConfig(neurons=32, axons=256, synapses=2048, fanout=512, profiles=4),
    ),
}
NETS_PER_CHIP = 7  # 21 networks in CI
TICKS = 40


def random_images(chip, count, seed0, *, ticks=TICKS):
    """(seed, image, inputs) of ``count`` random networks that fit ``chip`` and use the mesh."""
    out = []
    seed = seed0
    while len(out) < count:
        seed += 1
        net = random_network(seed, max_neurons=int(chip.neurons * 0.8), recurrent=seed % 3 != 0)
        try:
            img, _ = compile_network(net, chip)
        except CompileError:
            continue
        inputs = net.input_raster(ticks)
        if (
            net.num_neurons <= chip.core.neurons
            or not ChipModel(img).run(ticks, inputs).spikes.any()
        ):
            continue  # a one-core or silent network would not exercise the mesh
        out.append((seed, img, inputs))
    return out


def first_difference(a, b):
    for k, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"response {k}: python {x}, compiled {y}"
    return f"lengths {len(a)} vs {len(b)}"


def assert_same(ref, got, what):
    assert got == ref, f"{what}: {first_difference(ref, got)}"


# ---- building blocks ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["2x2-n16", "3x2-n16-acc20", "1x3-n32"])
def test_route_matches_router_model(name):
    """The kernel's XY routing decision equals RouterModel.route for every flit destination
    at every router (through the mesh: one flit per destination, arrival port checked)."""
    from spikemesh.sim._timed_noc import flit_route

    chip = CHIPS[name]
    m = CompiledChipModel(chip)
    lay = flit_layout(chip)
    for y in range(chip.height):
        for x in range(chip.width):
            twin = RouterModel(chip, x=x, y=y)
            for dx in range(-(1 << chip.x_bits), 1 << chip.x_bits):
                for dy in range(1 << chip.y_bits):
                    word = lay.pack(kind=0, dest_x=dx, dest_y=dy, payload=0)
                    got = flit_route(y * chip.width + x, word, m.pm, m.nbr)
                    assert got == twin.route(word), (x, y, dx, dy)


def test_rr_grant_matches_router_model():
    from spikemesh.sim._timed_noc import rr_grant

    for last in range(5):
        for req in range(32):
            assert rr_grant(last, req) == _RR[last][req], (last, req)


def _traffic(chip, rng, n, rate):
    lay = flit_layout(chip)
    sched = []
    for i in range(n):
        # the full signed dest_x / dest_y ranges: some flits leave the mesh (misroute)
        dx = int(rng.integers(-(1 << chip.x_bits), 1 << chip.x_bits))
        dy = int(rng.integers(0, 1 << chip.y_bits))
        word = lay.pack(kind=int(rng.integers(0, 2)), dest_x=dx, dest_y=dy, payload=i & 15)
        sched.append((int(i * rate), int(rng.integers(0, chip.tiles + 1)), word))
    return sched


@pytest.mark.parametrize("name", ["2x2-n16", "3x2-n16-acc20", "1x3-n32", "4x4"])
def test_mesh_matches_mesh_model(name):
    """Random traffic from every endpoint (tiles and host): every flit's acceptance and
    arrival cycle equal to MeshModel.run, drops off the mesh edge included."""
    chip = CHIPS.get(name) or ChipConfig(width=4, height=4, core=CoreConfig(neurons=16))
    rng = np.random.default_rng(sum(map(ord, name)))
    sched = _traffic(chip, rng, 3000, 0.7)
    twin = MeshModel(chip)
    want = twin.run(sched)
    m = CompiledChipModel(chip)
    got = m.mesh_run(sched)
    assert got == want
    assert int(m.mc[2]) == twin.dropped  # M_DROPPED
    assert twin.dropped > 0, "the traffic should exercise the edge drops"
    assert sum(a is not None for a in want[0]) > 750


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("bp,max_delay", [(0.0, 1), (0.5, 1), (0.5, 7)])
def test_core_matches_core_model(fast, bp, max_delay):
    """One core, ticks of random events with loopback and o_flit backpressure: cycles and
    flits of every tick equal to CoreModel.run_tick, and the state after each (and with
    delays, rows of delays 1..7 in 8 accumulator banks, every bank after each tick)."""
    core = CoreConfig(
        neurons=64, axons=128, synapses=1024, fanout=256, profiles=4, max_delay=max_delay
    )
    chip = scenario_chip(core)
    rng = np.random.default_rng(7)
    img = random_image(chip, rng)
    inputs = random_inputs(rng, 12, core.axons, 0.15)
    ready = (np.random.default_rng(8).random(997) >= bp).astype(np.int64)
    twin = CoreModel(chip, x=1, y=0, image=img)
    m = CompiledChipModel(chip, fast=fast)
    full = ChipImage(
        chip=chip,
        cores=[img] * chip.tiles,
        neuron_slot=np.zeros(0, dtype=np.int64),
        src_ptr=np.zeros(1, dtype=np.int64),
        src_x=np.zeros(0, dtype=np.int64),
        src_y=np.zeros(0, dtype=np.int64),
        src_axon=np.zeros(0, dtype=np.int64),
        recorded=np.zeros(0, dtype=np.int64),
    )
    m.load_image(full)
    spiked = 0
    for t in range(inputs.shape[0]):
        ev = np.flatnonzero(inputs[t]).tolist()
        want = twin.run_tick(ev, loopback=True, flit_ready=lambda c: ready[c % ready.size])
        got = m.core_run_tick(1, ev, tick=t, flit_ready=ready, loopback=True)
        assert got == want, f"tick {t}: cycles {got[0]} vs {want[0]}"
        for a, b in zip(m.core_state(1), twin.state(), strict=True):
            assert np.array_equal(a, b), f"tick {t}: state"
        assert m.acc[1].tolist() == twin.acc, f"tick {t}: accumulator banks"
        spiked += len(want[1])
    assert spiked > 20


@pytest.mark.parametrize("fast", [False, True])
def test_core_trace_is_the_core_models_every_cycle(fast):
    """core_run_tick(trace=True), what tb/core compares the RTL with cycle by cycle: the
    configuration written word by word (core_config_write), then in every cycle of every
    tick the outputs (i_event.ready, o_flit.valid/payload, done, idle) equal CoreModel's,
    stepped with the trace's own inputs; and a tick longer than the first trace guess (o_flit
    ready 1 cycle in 50) runs again from a copy of the core, with the same state after."""
    core = CoreConfig(neurons=64, axons=256, synapses=1024, fanout=1024, profiles=4)
    chip = scenario_chip(core)
    rng = np.random.default_rng(3)
    tile = 1  # (1, 0)
    m, twin = CompiledChipModel(chip, fast=fast), CoreModel(chip, x=1, y=0)
    for a, d in core_config_writes(chip, random_image(chip, rng, host_p=1.0)):
        m.core_config_write(tile, a, d)
        twin.config_write(a, d)
    inputs = random_inputs(rng, 30, core.axons, 0.2)
    retried = 0
    for t in range(inputs.shape[0]):
        ev = np.flatnonzero(inputs[t]).tolist()
        ready = (rng.random(4999) >= (0.0, 0.5, 0.98)[t % 3]).astype(np.int64)
        cycles, flits, tr = m.core_run_tick(tile, ev, tick=t, flit_ready=ready, loopback=True,
                                            trace=True)  # fmt: skip
        assert tr.shape == (cycles + 1, 3)
        taken = []
        for c in range(cycles + 1):
            o = twin.outputs()
            want = o.event_ready | o.flit_valid << 1 | o.done << 2 | o.idle << 3
            assert (tr[c, 0], tr[c, 1]) == (want, o.flit if o.flit_valid else 0), (t, c)
            if c < cycles:
                i = int(tr[c, 2])
                fr = (i >> 1) & 1
                assert fr == ready[c % ready.size] and (i & 1 or i >> 2 == 0)
                if o.flit_valid and fr:
                    taken.append(o.flit)
                twin.clock(event_valid=i & 1, event=i >> 2, flit_ready=fr, start=int(c == 0),
                           parity=t & 1)  # fmt: skip
        assert flits == taken, f"tick {t}: flits"
        twin.tick_no += 1
        for a, b in zip(m.core_state(tile), twin.state(), strict=True):
            assert np.array_equal(a, b), f"tick {t}: state"
        retried += cycles + 1 > trace_rows(len(ev), core.neurons)
    assert retried >= 3


def test_core_trace_refuses_a_learning_core():
    chip = ChipConfig(width=2, height=1, core=CoreConfig(neurons=16, axons=16, synapses=16,
                      fanout=16, profiles=1, learning_profiles=1))  # fmt: skip
    with pytest.raises(SpikemeshError, match="core_config_write writes a core without learning"):
        CompiledChipModel(chip).core_config_write(0, 0, 0)


# ---- whole chip ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def networks():
    return {
        name: random_images(chip, NETS_PER_CHIP, 7000 + 1000 * k)
        for k, (name, chip) in enumerate(CHIPS.items())
    }


@pytest.mark.parametrize("name", list(CHIPS))
def test_chip_matches_timed_chip_model(name, networks):
    """Every response on the same cycle as TimedChipModel, image loaded over the host link,
    with the shortcuts and stepping every cycle; then direct loading: equal to the Python
    model's direct run, and the same cycles per tick as over the host link."""
    chip = CHIPS[name]
    for seed, img, inputs in networks[name]:
        run = run_commands(img, inputs, TICKS) + read_state_commands(img)
        cmds = config_commands(img) + run
        ref = TimedChipModel(chip).run(cmds)
        assert any(r[1] == Rsp.SPIKE for r in ref), f"seed {seed}: a silent network"
        for fast in (True, False):
            assert_same(ref, CompiledChipModel(chip, fast=fast).run(cmds), f"seed {seed}")
        py = TimedChipModel(chip)
        py.load_image(img)
        ref_d = py.run(run)
        m = CompiledChipModel(chip)
        m.load_image(img)
        assert_same(ref_d, m.run(run), f"seed {seed}, direct load")
        ticks = [r[2:] for r in ref if r[1] == Rsp.TICK_DONE]
        assert ticks == [r[2:] for r in ref_d if r[1] == Rsp.TICK_DONE], f"seed {seed}"
        assert m.cycle < py.cycle + 1 and m.cycle == py.cycle


@pytest.mark.parametrize("name", list(CHIPS))
def test_host_schedule_backpressure(name, networks):
    """The host's ready/valid schedule (random idle and stall cycles, a long stall of
    o_rsp.ready; firmware.loader.host_schedule) on both timed models, image over the host
    link: every response on the same cycle, with and without the shortcuts. The results do
    not change; the stalls fill the response FIFO and hold the host link's responses
    (tb/chip replays such schedules on the RTL)."""
    chip = CHIPS[name]
    for seed, img, inputs in networks[name][:2]:
        cmds = config_commands(img) + run_commands(img, inputs, TICKS) + read_state_commands(img)
        # a 500-cycle o_rsp.ready stall every 1,024 cycles: it falls on ticks, whatever the
        # load takes
        sched = host_schedule(seed, length=1024, stall=500)
        py = TimedChipModel(chip)
        ref = py.run(cmds, schedule=sched)
        assert py.rsp_blocked > 0, f"seed {seed}: the stalls never reached the host link"
        for fast in (True, False):
            got = CompiledChipModel(chip, fast=fast).run(cmds, schedule=sched)
            assert_same(ref, got, f"seed {seed}, fast={fast}")
        free = TimedChipModel(chip).run(cmds)
        paced = decode_run(img, [r[1:] for r in ref], TICKS, inputs, backend="tlm-timed")
        base = decode_run(img, [r[1:] for r in free], TICKS, inputs, backend="tlm-timed")
        assert paced.diff(base) == [], f"seed {seed}: the schedule changed the results"
        assert ref[-1][0] > free[-1][0]


def test_host_schedule_errors():
    chip = CHIPS["2x2-n16"]
    m = CompiledChipModel(chip)
    cmds = [command(Cmd.NOP)]
    with pytest.raises(SpikemeshError, match=r"a pair \(valid, ready\) of 0/1 sequences"):
        m.run(cmds, schedule=[1, 1, 1])
    with pytest.raises(SpikemeshError, match="the schedule's ready is never 1"):
        m.run(cmds, schedule=([1, 0], [0, 0]))
    with pytest.raises(SpikemeshError, match="valid must be a non-empty sequence of 0 and 1"):
        TimedChipModel(chip).run(cmds, schedule=([2], [1]))
    with pytest.raises(SpikemeshError, match="differ in length \\(2 vs 3\\)"):
        m.run(cmds, schedule=([1, 0], [1, 1, 0]))
    with pytest.raises(SpikemeshError, match="length must be between 16 and 2\\*\\*20, not 8"):
        host_schedule(1, length=8)
    with pytest.raises(SpikemeshError, match="long stall \\(64\\) must be shorter"):
        host_schedule(1, length=64, stall=64)
    valid, ready = host_schedule(3)
    assert valid.size == ready.size == 4096 and 0 < valid.mean() < 1 and 0 < ready.mean() < 1
    assert np.array_equal(host_schedule(3)[1], ready)  # seeded


def test_model_keeps_state_across_runs(networks):
    """Two run() calls continue from where the first stopped (cycle, tick, memories)."""
    seed, img, inputs = networks["2x2-n16"][0]
    chip = img.chip
    half = TICKS // 2
    streams = [
        config_commands(img) + run_commands(img, inputs[:half], half),
        run_commands(img, inputs[half:], TICKS - half) + read_state_commands(img),
    ]
    py, m = TimedChipModel(chip), CompiledChipModel(chip)
    for s in streams:
        assert_same(py.run(s), m.run(s), f"seed {seed}")


def _junk(rng, chip):
    """A command that the host link must refuse or answer without changing the run."""
    w, h = chip.width, chip.height
    kind = int(rng.integers(0, 7))
    if kind == 0:
        return command(int(rng.integers(8, 16)))  # unknown opcode
    if kind == 1:
        op = [Cmd.CONFIG_WRITE, Cmd.INPUT, Cmd.READ_STATE][int(rng.integers(0, 3))]
        return command(op, tile_x=w, tile_y=int(rng.integers(0, h)), arg=1)  # off the mesh
    if kind == 2:
        return command(Cmd.READ_STATUS, arg=int(rng.integers(0, len(StatusReg) + 2)))
    if kind == 3:
        return command(Cmd.NOP)
    if kind == 4:
        return command(Cmd.RESET)  # refused inside a tick, applied between ticks
    if kind == 5:
        return command(Cmd.RUN, arg=0)  # refused while an END_TICK is owed
    return command(
        Cmd.READ_STATE,
        tile_x=int(rng.integers(0, w)),
        tile_y=int(rng.integers(0, h)),
        arg=int(rng.integers(0, chip.core.neurons)),
    )


@pytest.mark.parametrize("name", list(CHIPS))
def test_bad_commands_and_reset(name, networks):
    """Random refused commands, status reads, RESET and read-backs mixed into the stream
    (some before RUN: INPUT/END_TICK with no tick are BAD_COMMAND): identical responses."""
    chip = CHIPS[name]
    rng = np.random.default_rng(11)
    for seed, img, inputs in networks[name][:3]:
        base = config_commands(img) + run_commands(img, inputs[:15], 15)
        cmds = [command(Cmd.INPUT, arg=3), command(Cmd.END_TICK)]  # no tick: BAD_COMMAND
        cmds.append(command(Cmd.READ_STATUS, arg=int(StatusReg.ERRORS)))
        for c in base:
            while rng.random() < 0.08:
                cmds.append(_junk(rng, chip))
            cmds.append(c)
        cmds += [command(Cmd.READ_STATUS, arg=int(r)) for r in StatusReg]
        cmds += [command(Cmd.RESET), command(Cmd.READ_STATUS, arg=int(StatusReg.ERRORS))]
        cmds += run_commands(img, inputs[15:20], 5) + read_state_commands(img)
        ref = TimedChipModel(chip).run(cmds)
        for fast in (True, False):
            assert_same(ref, CompiledChipModel(chip, fast=fast).run(cmds), f"seed {seed}")
        errors = [r for r in ref if r[1] == Rsp.STATUS and r[2] == StatusReg.ERRORS]
        assert errors[0][3] & 4, "BAD_COMMAND should be flagged"


@pytest.mark.parametrize("name", list(CHIPS))
def test_arguments_at_their_limits(name):
    """The last accepted and first refused value of every host-link argument (docs/hostlink.md,
    "Arguments"): BAD_COMMAND exactly for the refused ones, on the same cycles in both timed
    models (tests/firmware/test_rtl_runner.py runs the same stream on the RTL)."""
    from tests.sim.test_hostlink import argument_stream, check_argument_answers

    chip = CHIPS[name]
    stream, _, _ = argument_stream(chip)
    ref = TimedChipModel(chip).run(stream)
    for fast in (True, False):
        assert_same(ref, CompiledChipModel(chip, fast=fast).run(stream), f"fast={fast}")
    check_argument_answers([r[1:] for r in ref], chip)


# ---- the comparison is not vacuous ----------------------------------------------------------


def test_comparison_detects_a_changed_response_or_state(networks):
    _seed, img, inputs = networks["2x2-n16"][1]
    run = run_commands(img, inputs[:10], 10) + read_state_commands(img)
    py = TimedChipModel(img.chip)
    py.load_image(img)
    ref = py.run(run)
    m = CompiledChipModel(img.chip)
    m.load_image(img)
    got = m.run(run)
    assert got == ref
    shifted = list(got)
    k = next(i for i, r in enumerate(got) if r[1] == Rsp.TICK_DONE)
    shifted[k] = (got[k][0] + 1, *got[k][1:])  # one response one cycle late
    with pytest.raises(AssertionError, match=f"response {k}"):
        assert_same(ref, shifted, "shifted")
    bad = CompiledChipModel(img.chip)
    bad.load_image(img)
    slot = int(img.neuron_slot[img.recorded[0]])  # recorded: its spikes go to the host
    t, i = divmod(slot, img.chip.core.neurons)
    bad.st[t, i, 1] = (1 << 23) - 1  # one neuron's v, at the top: it spikes in tick 0
    with pytest.raises(AssertionError):
        assert_same(ref, bad.run(run), "perturbed v")


# ---- convenience path and command arrays -----------------------------------------------------


def test_command_arrays_equal_the_loader(networks):
    _seed, img, inputs = networks["3x2-n16-acc20"][0]
    assert np.array_equal(
        run_command_array(img, inputs, TICKS), command_array(run_commands(img, inputs, TICKS))
    )
    assert np.array_equal(read_state_array(img), command_array(read_state_commands(img)))


def test_run_image_timed_all_paths_agree(networks):
    _seed, img, inputs = networks["1x3-n32"][0]
    ticks = 20
    inputs = inputs[:ticks]
    runs = {
        (load, model): run_image_timed(img, inputs, ticks, load=load, model=model)[0]
        for load in ("direct", "hostlink")
        for model in ("compiled", "python")
    }
    ref = runs["direct", "python"]
    assert ref.backend == "tlm-cycle" and runs["direct", "compiled"].backend == "tlm-timed"
    for key, res in runs.items():
        assert res.diff(ref, cycles=True) == [], key
    assert ref.spikes.any()
    seen = []
    run_image_timed(img, inputs, ticks, on_tick=seen.append)
    assert seen == list(range(1, ticks + 1))


# ---- error paths ----------------------------------------------------------------------------


def test_errors():
    chip = CHIPS["2x2-n16"]
    with pytest.raises(TypeError, match="needs a ChipConfig"):
        CompiledChipModel("2x2")
    m = CompiledChipModel(chip)
    with pytest.raises(SpikemeshError, match="field 'arg' = -1 is outside"):
        m.run([command(Cmd.NOP, arg=0), {"op": 1, "arg": -1}])
    with pytest.raises(SpikemeshError, match="field 'op' must be an integer"):
        m.run([{"op": "run"}])
    with pytest.raises(SpikemeshError, match="command 1 must be a dict of op, tile_x"):
        m.run([command(Cmd.NOP), (4, 0, 0, 1, 0)])
    with pytest.raises(SpikemeshError, match="command 1: fields must be non-negative"):
        m.run(np.array([[0, 0, 0, 0, 0], [2, 0, 0, -3, 0]]))
    # a tick that never gets its END_TICK: the Python model spins to max_cycles, the compiled
    # model sees that nothing can change and says why
    stuck = [command(Cmd.RUN, arg=2), command(Cmd.END_TICK)]
    with pytest.raises(TimedRunError, match="inside tick 1 without its END_TICK"):
        CompiledChipModel(chip).run(stuck)
    with pytest.raises(RuntimeError, match="without finishing"):
        TimedChipModel(chip).run(stuck, max_cycles=5000)
    with pytest.raises(TimedRunError, match="ran 300 cycles without finishing"):
        CompiledChipModel(chip, fast=False).run(stuck, max_cycles=300)
    other = CHIPS["1x3-n32"]
    img = random_images(other, 1, 1)[0][1]
    with pytest.raises(ImageError, match="compiled for a 1 x 3 chip"):
        m.load_image(img)
    with pytest.raises(ImageError, match="compiled for a 1 x 3 chip"):
        TimedChipModel(chip).load_image(img)
    inputs = np.zeros((3, img.num_sources), dtype=bool)
    with pytest.raises(SpikemeshError, match="load must be 'direct' or 'hostlink'"):
        run_image_timed(img, inputs, 3, load="uart")
    with pytest.raises(SpikemeshError, match="model must be 'compiled' or 'python'"):
        run_image_timed(img, inputs, 3, model="verilog")
    with pytest.raises(SpikemeshError, match="inputs must have shape"):
        run_image_timed(img, inputs, 4)


# ---- long regression ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("size", [(4, 4), (8, 8)])
def test_long_chip_matches_timed_chip_model(size):
    """SPIKEMESH_LONG=1: 50 random networks on each of a 4x4 and an 8x8 chip, compiled vs
    Python, direct load, 60 ticks."""
    w, h = size
    chip = ChipConfig(
        width=w,
        height=h,
        core=CoreConfig(neurons=16, axons=128, synapses=1024, fanout=256, profiles=4),
    )
    nets = random_images(chip, 50, 20_000 * w, ticks=60)
    for seed, img, inputs in nets:
        run = run_commands(img, inputs, 60) + read_state_commands(img)
        py = TimedChipModel(chip)
        py.load_image(img)
        m = CompiledChipModel(chip)
        m.load_image(img)
        assert_same(py.run(run), m.run(run), f"{w}x{h} seed {seed}")
