"""End-to-end chip regression: golden = functional TLM = Python cycle model = compiled
timed model = RTL (Verilator).

For each chip config, the pytest side compiles random networks (recurrent and
feed-forward, with inputs, every neuron a host output), runs the golden
reference, the functional TLM and both timed models — the image written through
the host link and placed directly — and requires the two timed models to give
the same response words on the same cycles (the Python cycle model, ~100x slower than
the compiled one, on each chip's first network in CI and on every network in the long
regression; tests/sim/test_timed.py compares the two on more networks). Each network becomes two RTL
cases: the host command words (image load or not, RUN with the inputs of every
tick, READ_STATE of every neuron) and the timed models' responses with the cycle
each was taken in. The RTL runner (spikemesh.firmware.rtl_loader.run_rtl: the
compiled C++ harness, or cocotb) drives those words into the chip's ``i_cmd``
and requires every response word on exactly the expected cycle; the pytest side
then decodes the RTL's responses on its own and compares spikes (every tick),
final u/v and cycles per tick with golden. The first network(s) of each chip
also run under a seeded ready/valid schedule at the host ports (random idle
and stall cycles, a long stall of ``o_rsp.ready``; firmware.loader.host_schedule),
image through the host link: both timed models and the RTL (both runners) take
the same schedule and must agree on every response and its cycle.
Every chip has hardware activity counters (docs/counters.md; 40-bit, one 16-bit): the run
reads all of them over the host link (READ_COUNTER) between RUN segments of
``COUNTER_EVERY`` ticks and after the last tick, so their COUNTER responses are among the
words compared cycle for cycle, and every reading must equal golden's per-tick counts
(``counters_from_network``) summed up to it, cycles and router_blocked the compiled
model's per tick.
``test_chip_counters`` adds 20 networks x 30 ticks per chip read every 10 ticks (issue 12's
">= 20 random networks x >= 3 chip shapes").
Replay: the networks and schedules come from seeds printed in the log.
``SPIKEMESH_LONG=1`` (or ``-m slow``) runs the long regression: more
networks, more ticks, a bigger mesh.
"""

from __future__ import annotations

import numpy as np
import pytest

from spikemesh.config import ChipConfig, CoreConfig, RouterConfig
from spikemesh.errors import CompileError
from tb.runner import BUILD, require_simulator

CONFIGS = {
    "2x2-n16": ChipConfig(
        width=2,
        height=2,
        core=CoreConfig(neurons=16, axons=128, synapses=1024, fanout=256, profiles=4),
        counter_bits=40,
    ),
    "3x2-n16-acc20": ChipConfig(
        width=3,
        height=2,
        router=RouterConfig(fifo_depth=2),
        host_fifo_depth=2,  # the smallest host FIFOs: one word every other cycle
        core=CoreConfig(neurons=16, axons=128, synapses=1024, fanout=256, profiles=4, acc_bits=20),
        counter_bits=16,  # the narrowest: the registers are compared modulo 2**16
    ),
    "1x3-n32": ChipConfig(
        width=1,
        height=3,
        core=CoreConfig(neurons=32, axons=256, synapses=2048, fanout=512, profiles=4),
        counter_bits=40,
    ),
}
# The iCEBreaker's memory variant (CoreConfig.single_port: synapse and fan-out memories
# in SPRAM, docs/core-resources.md): a small chip of it in CI (test_chip_single_port), the
# board's core when long. build_cases wants networks over more than one core: 2 tiles.
SINGLE_PORT = ChipConfig(
    width=2,
    height=1,
    host_fifo_depth=2,
    core=CoreConfig(neurons=32, axons=256, synapses=1024, fanout=512, single_port=True),
    counter_bits=16,
)
LONG_CONFIGS = {
    "2x1-n256-sp": ChipConfig(
        width=2,
        height=1,
        host_fifo_depth=2,
        core=CoreConfig(
            neurons=256, axons=1024, synapses=16384, fanout=4096, profiles=2, single_port=True
        ),
        counter_bits=16,
    ),
    "2x2-n64-sp": ChipConfig(width=2, height=2, core=CoreConfig(single_port=True), counter_bits=16),
    "4x3-n32": ChipConfig(
        width=4,
        height=3,
        core=CoreConfig(neurons=32, axons=256, synapses=2048, fanout=512, profiles=4),
        counter_bits=40,
    ),
}
# every register is read over the host link after each RUN segment of this many ticks
COUNTER_EVERY = 64


def build_cases(
    chip: ChipConfig,
    *,
    networks: int,
    ticks: int,
    seed0: int,
    scheduled: int = 1,
    python_nets: int | None = 1,
    counter_every: int = COUNTER_EVERY,
):
    """Compile random networks that fit ``chip`` and run every model but the RTL on them.

    golden = functional TLM = compiled timed model, with the image loaded through the host
    link and placed directly (cycles of every tick identical in both), and for the first
    ``python_nets`` networks (None: all) the Python cycle model too, equal to the compiled
    one on every response word and its cycle. (The Python model is the specification and
    ~100x slower; tests/sim/test_timed.py holds the two together on more networks, and the
    long regression runs it on every network.) Returns, per network, two RTL cases
    (hostlink: the CONFIG_WRITE stream first; direct: the image placed before cycle 0),
    each with the timed models' responses as its expectation, plus golden results and images.
    The first ``scheduled`` networks get a third case: the hostlink stream under the host
    schedule of the network's seed, its expectation from both timed models under the same
    schedule.
    """
    from spikemesh.firmware import compile_network
    from spikemesh.firmware.loader import (
        config_commands,
        decode_run,
        host_schedule,
        pack_commands,
        read_state_commands,
        segmented_run_commands,
    )
    from spikemesh.sim.chip import ChipModel, TimedChipModel
    from spikemesh.sim.timed import CompiledChipModel

    from spikemesh.golden import run_golden
    from spikemesh.hostlink import response_layout
    from tests.firmware.random_nets import random_network

    if chip.tiles < 2:
        raise ValueError(
            f"build_cases needs a chip of 2 or more tiles (networks over more than one core "
            f"exercise the mesh); this chip has {chip.width} x {chip.height}"
        )
    rsp_lay = response_layout()
    cases, goldens, images = [], [], []
    seed = seed0
    while len(goldens) < networks:
        seed += 1
        if seed - seed0 > 200 * networks:
            raise RuntimeError(
                f"build_cases: {seed - seed0} seeds from {seed0} gave {len(goldens)} of the "
                f"{networks} networks that fit this chip, span two cores and spike"
            )
        net = random_network(seed, max_neurons=int(chip.neurons * 0.8), recurrent=seed % 3 != 0)
        try:
            img, _ = compile_network(net, chip)
        except CompileError:
            continue  # too dense for this chip: the next seed
        inputs = net.input_raster(ticks)
        g = run_golden(net, ticks, acc_bits=chip.core.acc_bits)
        if net.num_neurons <= chip.core.neurons or not g.spikes.any():
            continue  # a one-core or silent network would not exercise the mesh: the next seed
        f = ChipModel(img).run(ticks, inputs)
        assert g.diff(f) == [], f"seed {seed}: functional TLM differs from golden"
        run_cmds = segmented_run_commands(img, inputs, ticks, counter_every)
        run_cmds += read_state_commands(img)
        cmds = config_commands(img) + run_cmds
        python = python_nets is None or len(goldens) < python_nets
        rsp = CompiledChipModel(chip).run(cmds)
        if python:
            assert TimedChipModel(chip).run(cmds) == rsp, (
                f"seed {seed}: compiled timed model differs from the Python cycle model (hostlink)"
            )
        compiled = CompiledChipModel(chip)
        compiled.load_image(img)
        rsp_direct = compiled.run(run_cmds)
        if python:
            py_direct = TimedChipModel(chip)
            py_direct.load_image(img)
            assert py_direct.run(run_cmds) == rsp_direct, (
                f"seed {seed}: compiled timed model differs from the Python cycle model (direct)"
            )
        timed = decode_run(img, [r[1:] for r in rsp], ticks, inputs, backend="tlm-timed")
        direct = decode_run(img, [r[1:] for r in rsp_direct], ticks, inputs, backend="tlm-timed")
        assert g.diff(timed) == [], f"seed {seed}: timed TLM differs from golden"
        assert g.diff(direct) == [], f"seed {seed}: directly loaded timed TLM differs from golden"
        assert timed.cycles.tolist() == direct.cycles.tolist(), (
            f"seed {seed}: cycles per tick depend on how the image was loaded"
        )
        check_counters(net, img, g, timed, compiled, seed)
        runs = [
            ("hostlink", cmds, rsp, timed.cycles, {}),
            ("direct", run_cmds, rsp_direct, timed.cycles, {"image": img}),
        ]
        if len(goldens) < scheduled:
            sched = host_schedule(seed)
            rsp_sched = CompiledChipModel(chip).run(cmds, schedule=sched)
            if python:
                assert TimedChipModel(chip).run(cmds, schedule=sched) == rsp_sched, (
                    f"seed {seed}: compiled timed model differs from the Python cycle model "
                    "(host schedule)"
                )
            paced = decode_run(img, [r[1:] for r in rsp_sched], ticks, inputs, backend="tlm-timed")
            assert g.diff(paced) == [], f"seed {seed}: timed TLM under a host schedule differs"
            assert rsp_sched[-1][0] > rsp[-1][0], f"seed {seed}: the schedule slowed nothing"
            runs.append(("scheduled", cmds, rsp_sched, paced.cycles, {"schedule": sched}))
        for load, words, expected, tick_cycles, extra in runs:
            cases.append(
                {
                    "seed": f"{seed}-{load}",
                    "ticks": ticks,
                    "words": pack_commands(img, words),
                    "expected": [(c, rsp_lay.pack(op=op, a=a, b=b)) for c, op, a, b in expected],
                    "tlm_cycles": tick_cycles.tolist(),
                    "readings": timed.extra["hw_counters"]["after_tick"].tolist(),
                    "net": len(goldens),
                    **extra,
                }
            )
        goldens.append((g, inputs))
        images.append(img)
    return cases, goldens, images


def check_counters(net, img, golden, timed, model, seed):
    """Every reading of the hardware counters in ``timed`` equals golden's per-tick counts
    (the network walk) summed up to it; cycles the TICK_DONEs', router_blocked the per-tick
    registers of the compiled ``model`` (its tick_registers)."""
    from spikemesh.sim.timed import tick_blocked

    from spikemesh.counters import counters_from_network
    from spikemesh.counters_hw import check_hw_counters

    chip = img.chip
    hw = timed.extra.get("hw_counters")
    assert hw is not None, f"seed {seed}: no COUNTER response"
    assert hw["after_tick"][-1] == golden.ticks, f"seed {seed}: no reading after the last tick"
    c = counters_from_network(net, img, golden)
    c.cycles = np.asarray(timed.cycles, dtype=np.int64)
    c.router_blocked = tick_blocked(chip, model.tick_registers, golden.ticks)
    check_hw_counters(c, hw, chip.counter_bits)
    assert c.forwarded.sum() > 0, f"seed {seed}: nothing counted"


def cocotb_build(name, simulator="verilator"):
    """The cocotb runner's build folder for chip ``name`` in this clone: tests of one chip
    share it (one build), and ccache hits from another clone's (spikemesh/hdlsim.py)."""
    return BUILD / f"chip-{name}-{simulator}"


def _run(
    name,
    chip,
    *,
    networks,
    ticks,
    seed0,
    runner="verilator",
    simulator="verilator",
    python_nets=1,
    loads=None,
    **build,
):
    from spikemesh.firmware.loader import decode_run, unpack_responses
    from spikemesh.firmware.rtl_loader import run_rtl

    cases, goldens, images = build_cases(
        chip, networks=networks, ticks=ticks, seed0=seed0, python_nets=python_nets, **build
    )
    if loads is not None:
        cases = [c for c in cases if c["seed"].rsplit("-", 1)[1] in loads]
    print(f"chip {name}: networks from seeds {[c['seed'] for c in cases]}, {ticks} ticks each")
    require_simulator(simulator)
    if runner == "cocotb":  # cocotb drives the host link only: the hostlink cases
        cases = [c for c in cases if "image" not in c]
    # The RTL loader raises if any response word is not on the timed TLM's cycle.
    build = cocotb_build(name, simulator) if runner == "cocotb" else None
    observed = run_rtl(chip, cases, runner=runner, simulator=simulator, build_dir=build)
    assert len(observed) == len(cases)
    for case, obs in zip(cases, observed, strict=True):
        (g, inputs), img = goldens[case["net"]], images[case["net"]]
        words = [w for _, w in obs]
        rtl = decode_run(img, unpack_responses(words), case["ticks"], inputs, backend="rtl")
        assert g.diff(rtl) == [], f"seed {case['seed']}: RTL differs from golden"
        assert rtl.cycles.tolist() == case["tlm_cycles"], f"seed {case['seed']}: cycles differ"
        assert g.spikes.any(), f"seed {case['seed']}: a silent network proves little"
        hw = rtl.extra["hw_counters"]  # equal words; decoded on their own here
        assert hw["after_tick"].tolist() == case["readings"], f"seed {case['seed']}"


# Tests that share a Verilator build directory run on one xdist worker (--dist loadgroup).
SHARED_BUILD = pytest.mark.xdist_group("chip-2x2-n16-build")


@pytest.mark.cocotb
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=SHARED_BUILD) if n == "2x2-n16" else n for n in CONFIGS]
)
def test_chip_equivalence(name):
    """CI: 7 networks x 200 ticks on each of three chips (21 networks in all): golden =
    functional TLM = compiled timed model = RTL (C++ harness), loaded through the host link
    and directly; the Python cycle model too on each chip's first network."""
    _run(name, CONFIGS[name], networks=7, ticks=200, seed0=1000 * (list(CONFIGS).index(name) + 1))


@pytest.mark.cocotb
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=SHARED_BUILD) if n == "2x2-n16" else n for n in CONFIGS]
)
def test_chip_counters(name):
    """CI, issue 12: 20 more networks x 30 ticks on each chip, image placed directly, every
    hardware counter read over the host link after every 10 ticks: each COUNTER response on
    the same cycle with the same value in the RTL and the compiled model (and the Python
    twin on the first network), each reading equal to golden's per-tick counts summed."""
    seed0 = 30_000 + 1000 * list(CONFIGS).index(name)
    _run(
        name, CONFIGS[name], networks=20, ticks=30, seed0=seed0, scheduled=0,
        counter_every=10, loads=("direct",),
    )  # fmt: skip


@pytest.mark.cocotb
@pytest.mark.slow  # no board's default chip uses the variant; tb/core n256-sp and
# tests/rtl/test_core_single_port.py cover it in CI, this and LONG_CONFIGS' chips when long
def test_chip_single_port():
    """Long run, issue 17: the single-port (SPRAM) memory variant on a 2 x 1 chip of 32-neuron
    cores, 2 networks x 100 ticks, loaded through the host link and directly: golden = TLMs =
    RTL, every response word on the compiled model's cycle."""
    _run("2x1-n32-sp", SINGLE_PORT, networks=2, ticks=100, seed0=17_000)


@pytest.mark.cocotb
@SHARED_BUILD
def test_chip_cocotb_runner():
    """The cocotb runner (the path the block benches and --runner cocotb use), shorter."""
    _run("2x2-n16", CONFIGS["2x2-n16"], networks=2, ticks=60, seed0=77, runner="cocotb")


@pytest.mark.cocotb
def test_chip_icarus_smoke():
    """The same regression on Icarus under cocotb, shorter: the Verilog is simulator-independent."""
    _run(
        "2x2-n16",
        CONFIGS["2x2-n16"],
        networks=1,
        ticks=20,
        seed0=99,
        runner="cocotb",
        simulator="icarus",
    )


@pytest.mark.cocotb
@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGS) + list(LONG_CONFIGS))
def test_chip_long(name):
    """The long regression (SPIKEMESH_LONG=1): 20 networks x 1,000 ticks per chip."""
    chip = {**CONFIGS, **LONG_CONFIGS}[name]
    _run(f"{name}-long", chip, networks=20, ticks=1000, seed0=50_000, python_nets=None)


@pytest.mark.cocotb
@SHARED_BUILD
@pytest.mark.parametrize("load", ["hostlink", "direct"])
def test_rtl_run_catches_a_one_cycle_difference(load):
    """The comparison is not vacuous: shifting one expected response by a cycle fails the run."""
    from spikemesh.firmware.rtl_loader import run_rtl

    from spikemesh.hdlsim import HdlSimError

    chip = CONFIGS["2x2-n16"]
    cases, _, _ = build_cases(chip, networks=1, ticks=20, seed0=7)
    require_simulator("verilator")
    (case,) = [c for c in cases if c["seed"].endswith(load)]
    k = len(case["expected"]) // 2
    cycle, word = case["expected"][k]
    case["expected"][k] = (cycle + 1, word)
    with pytest.raises(
        HdlSimError,
        match=rf"RTL response {k} is \({cycle}, {word}\), the timed "
        rf"TLM's is \({cycle + 1}, {word}\)",
    ):
        run_rtl(chip, [case])


@pytest.mark.cocotb
@SHARED_BUILD
def test_rtl_run_catches_a_wrong_counter_value():
    """A COUNTER response expected with a value one off fails the RTL run, and the same
    change to a decoded reading fails the check against golden's per-tick counts."""
    from spikemesh.firmware.rtl_loader import run_rtl

    from spikemesh.hdlsim import HdlSimError
    from spikemesh.hostlink import Rsp, response_layout

    chip = CONFIGS["2x2-n16"]
    cases, _, _ = build_cases(chip, networks=1, ticks=20, seed0=7, scheduled=0)
    require_simulator("verilator")
    case = next(c for c in cases if c["seed"].endswith("direct"))
    lay = response_layout()
    ops = [lay.unpack(w)["op"] for _, w in case["expected"]]
    k = [i for i, op in enumerate(ops) if op == Rsp.COUNTER][5]  # tile (0,0)'s sops
    cycle, word = case["expected"][k]
    f = lay.unpack(word)
    wrong = lay.pack(op=f["op"], a=f["a"], b=f["b"] + 1)
    case["expected"][k] = (cycle, wrong)
    with pytest.raises(HdlSimError, match=rf"RTL response {k} is \({cycle}, {word}\)"):
        run_rtl(chip, [case])
