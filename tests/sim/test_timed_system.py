"""The timed model of a system of chips (sim/timed_system.py, sim/timed_links.py), in one
process: a 1 x 1 system is the chip cycle for cycle, a spike crossing a link costs the
link's latency, a link carries one flit per link_cycles_per_flit cycles, spikes equal
golden and the functional system run, and the lookahead-window runner
(sim/distributed_timed.py) on one rank equals the lock-step reference. The MPI runs are in
tests/sim/test_distributed.py."""

from __future__ import annotations

import numpy as np
import pytest
from spikemesh.firmware import compile_network
from spikemesh.firmware.system import compile_system
from spikemesh.sim.distributed import DistributedError, _SerialComm, run_system
from spikemesh.sim.distributed_timed import DistributedTimedSim
from spikemesh.sim.timed import run_image_timed
from spikemesh.sim.timed_links import TimedSystemError
from spikemesh.sim.timed_system import TimedSystem, run_system_timed

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.golden import run_golden
from spikemesh.network import Network
from spikemesh.system import SystemConfig
from tests.firmware.random_nets import random_network

CORE = CoreConfig(neurons=16, axons=256, synapses=4096, fanout=1024, profiles=4)
TICKS = 20


def _system(cx, cy, w, h, latency=16, cpf=4):
    chip = ChipConfig(width=w, height=h, core=CORE)
    return SystemConfig(
        chips_x=cx, chips_y=cy, chip=chip, link_latency=latency, link_cycles_per_flit=cpf
    )


def _net(seed, system, **kw):
    """A random network that fits the system (16 neurons a core)."""
    return random_network(seed, max_neurons=system.tiles * CORE.neurons, **kw)


def _compile(net, system):
    return compile_system(net, system, neurons_per_core=-(-net.num_neurons // system.tiles))[0]


@pytest.mark.parametrize("seed", range(6))
def test_one_chip_system_is_the_chip(seed):
    """1 x 1: spikes, final state and every tick's cycles of run_image_timed (compiled and
    Python twins); the system's barrier and start reduce to the chip's own."""
    system = _system(1, 1, 2, 2)
    net = _net(seed, system, reset="mixed")
    img = _compile(net, system)
    raster = net.input_raster(TICKS)
    res = run_system_timed(img, raster, TICKS)
    model = "python" if seed % 3 == 0 else "compiled"
    ref, _ = run_image_timed(img.chips[0], raster, TICKS, model=model)
    assert ref.diff(res, cycles=True) == []
    assert np.array_equal(ref.cycles, res.cycles)
    assert res.extra["link_flits"] == 0


def test_chips_built_with_route_tables():
    """A chip whose routers route by tables (issue #15) starts with XY tables: in a system
    its own flits go by its tables, the others' by the system's X-then-Y, and a 1 x 1
    system is still the chip."""
    from spikemesh.config import RouterConfig

    chip = ChipConfig(width=2, height=1, core=CORE, router=RouterConfig(route_tables=True))
    for cx in (1, 2):
        system = SystemConfig(
            chips_x=cx, chips_y=1, chip=chip, link_latency=5, link_cycles_per_flit=1
        )
        net = _net(3, system)
        img = _compile(net, system)
        raster = net.input_raster(12)
        res = run_system_timed(img, raster, 12)
        assert run_golden(net, 12).diff(res) == []
        if cx == 1:
            ref, _ = run_image_timed(img.chips[0], raster, 12)
            assert ref.diff(res, cycles=True) == []
        else:
            assert res.extra["link_flits"] > 0


SHAPES = [(2, 1, 2, 1), (1, 2, 1, 2), (2, 2, 1, 1), (2, 1, 1, 2), (3, 1, 1, 1)]


@pytest.mark.parametrize("seed", range(10))
def test_system_equals_golden_and_functional_run(seed):
    cx, cy, w, h = SHAPES[seed % len(SHAPES)]
    latency, cpf = [(4, 1), (16, 4), (1, 1), (64, 2), (7, 3)][seed % 5]
    system = _system(cx, cy, w, h, latency, cpf)
    net = _net(seed, system, reset="mixed")
    img = _compile(net, system)
    raster = net.input_raster(TICKS)
    res = run_system_timed(img, raster, TICKS)
    gold = run_golden(net, TICKS)
    assert gold.diff(res) == []
    functional = run_system(img, raster, TICKS, comm=_SerialComm())
    assert np.array_equal(functional.spikes, res.spikes)
    assert res.cycles.shape == (TICKS,) and (res.cycles > 0).all()


def test_spikes_cross_links():
    """The random networks above do send flits over the links (else they prove little)."""
    sent = 0
    for seed in range(5):
        system = _system(2, 1, 2, 1, 4, 1)
        net = _net(seed, system)
        img = _compile(net, system)
        res = run_system_timed(img, net.input_raster(TICKS), TICKS)
        assert run_golden(net, TICKS).diff(res) == []
        sent += res.extra["link_flits"]
    assert sent > 100


def test_host_and_west_link_share_router_00_west():
    """Chip 1's host injects 32 input events a tick into its core while chip 0's 16 neurons
    fire into it over row 0's link: both arrive at chip 1's router (0, 0) West input, the
    link's flit first. Golden's spikes; the window runner agrees cycle for cycle."""
    net = Network("share")
    net.population("a", 16, du=4095, dv=4095, vth=1, bias_mant=400, bias_exp=4)
    net.population("b", 16, du=4095, dv=4095, vth=100_000)
    net.source("in", 32, bernoulli=1.0, seed=1)
    net.connect("in", "b", weight=1)
    net.connect("a", "b", weight=1, connectivity="fixed_fanout", fanout=1, seed=2)
    raster = net.input_raster(6)
    for latency in (1, 4):
        img, _ = compile_system(net, _system(2, 1, 1, 1, latency, 1), neurons_per_core=16)
        res = run_system_timed(img, raster, 6)
        assert run_golden(net, 6).diff(res) == []
        assert res.extra["link_flits"] == 96 and res.extra["host_deferred"] > 0
        win = DistributedTimedSim(img, raster, 6, comm=_SerialComm()).run()
        assert win.extra["responses"] == res.extra["responses"]


@pytest.mark.parametrize("seed", range(4))
def test_window_runner_on_one_rank_equals_lock_step(seed):
    """sim/distributed_timed.py's windows, pauses and barrier on one rank: every response
    of every chip in the same cycle as the lock-step reference."""
    system = _system(2, 1, 2, 1, [4, 1, 16, 5][seed], [1, 1, 4, 2][seed])
    net = _net(seed, system)
    img = _compile(net, system)
    raster = net.input_raster(TICKS)
    ref = run_system_timed(img, raster, TICKS)
    res = DistributedTimedSim(img, raster, TICKS, comm=_SerialComm()).run()
    assert res.extra["responses"] == ref.extra["responses"]
    assert ref.diff(res, cycles=True) == []


# --- hand-computed: one spike over one link --------------------------------------------------


def _crossing_net(size=1):
    """Source -> population a (chip 0) -> b (chip 1): a fires once, in tick 1, and its
    spike is the only flit that crosses the link."""
    net = Network("cross")
    net.population("a", size, du=4095, dv=4095, vth=10)
    net.population("b", 1, du=4095, dv=4095, vth=10_000)
    net.source("in", 1, spikes=[(0, 0)])
    net.connect("in", "a", weight=100)
    net.connect("a", "b", weight=1)
    return net


def _sends(ts):
    return [c for e in ts.links_out.values() for c in e.log]


def test_one_spike_over_a_link_costs_its_latency():
    """Two 1 x 1 chips; a's spike (tick 1) crosses the east link of row 0.

    By the link's rule the flit taken from chip 0's router (0, 0) East output in cycle s
    is offered at chip 1's router (0, 0) West input from cycle s + L, where a 1 x 2 chip
    has it in the neighbour router one cycle after s. So (i) every tick but tick 1 has the
    1 x 2 chip's length (nothing crosses; the barrier and start are the chip's); (ii) in
    tick 1 the flit is sent in the same cycle of the tick whatever L, and the tick ends a
    fixed number K of cycles after the flit arrives, so tick 1 lasts (s - start) + L + K:
    one more cycle per cycle of latency, once the arrival is what the tick waits for;
    (iii) until then it is the chip's length.
    """
    net = _crossing_net()
    raster = net.input_raster(4)
    chip_img, _ = compile_network(net, ChipConfig(width=2, height=1, core=CORE), neurons_per_core=1)
    chip, _ = run_image_timed(chip_img, raster, 4)
    ends = {}
    for latency in (1, 2, 3, 4, 5, 8, 20, 64):
        img, _ = compile_system(net, _system(2, 1, 1, 1, latency, 3), neurons_per_core=1)
        ts = TimedSystem(img, raster, 4)
        res = ts.run()
        assert np.array_equal(res.spikes, chip.spikes)
        assert res.spikes[1, 0] and res.spikes.sum() == 1
        sends = _sends(ts)
        assert len(sends) == 1 and res.extra["link_flits"] == 1
        # the tick's first cycle: TICK_DONE of tick 0 is taken a fixed delay after its end
        for t in (0, 2, 3):
            assert res.cycles[t] == chip.cycles[t], (latency, t)
        done = [r[0] for r in res.extra["responses"][0] if r[1] == 2]  # Rsp.TICK_DONE
        ends[latency] = (sends[0] - done[0], int(res.cycles[1]))
    # (ii): the send's place in the tick does not depend on L ...
    assert len({s for s, _ in ends.values()}) == 1
    # ... and past the slack the tick grows by exactly one cycle per cycle of latency
    k = {cyc - latency for latency, (_, cyc) in ends.items() if cyc > chip.cycles[1]}
    assert len(k) == 1
    (k,) = k
    for latency, (_, cyc) in ends.items():
        assert cyc == max(int(chip.cycles[1]), latency + k), latency
    assert ends[64][1] == 64 + k and ends[1][1] == chip.cycles[1]


def test_a_link_takes_one_flit_per_cycles_per_flit():
    """16 neurons of chip 0 fire in one tick, each with one target on chip 1: 16 flits on
    the one east link, which takes them link_cycles_per_flit cycles apart once it is the
    bottleneck, and the tick grows with it."""
    net = _crossing_net(16)
    raster = net.input_raster(3)
    lengths = []
    for cpf in (1, 4, 16):
        img, _ = compile_system(net, _system(2, 1, 1, 1, 8, cpf), neurons_per_core=16)
        ts = TimedSystem(img, raster, 3)
        res = ts.run()
        sends = sorted(_sends(ts))
        assert len(sends) == 16 and res.spikes[1].sum() == 16
        gaps = np.diff(sends)
        assert gaps.min() >= cpf
        if cpf >= 4:  # the core emits a flit every cycle or two: the link is the bottleneck
            assert (gaps == cpf).all()
        lengths.append(int(res.cycles[1]))
    assert lengths[0] < lengths[1] < lengths[2]
    assert lengths[2] >= 15 * 16 + 8


def test_a_stalled_receiver_holds_the_sender_back_by_credits():
    """16 spikes into a core that takes an event every 16 cycles (16 synapses each): with
    latency 1 the receiving buffer (2 flits) fills and the sender waits for credits, sending
    at the receiver's pace; with latency 8 its 16 flits of buffer absorb the burst."""
    net = Network("jam")
    net.population("a", 16, du=4095, dv=4095, vth=10)
    net.population("b", 16, du=4095, dv=4095, vth=100_000)
    net.source("in", 1, spikes=[(0, 0)])
    net.connect("in", "a", weight=100)
    net.connect("a", "b", weight=1)
    raster = net.input_raster(3)
    gold = run_golden(net, 3)
    for latency, full in ((1, True), (8, False)):
        img, _ = compile_system(net, _system(2, 1, 1, 1, latency, 1), neurons_per_core=16)
        ts = TimedSystem(img, raster, 3)
        res = ts.run()
        assert gold.diff(res) == []
        (east,) = ts.chips[1].ins  # chip 1's end of the eastward link
        peak = east.peak
        gaps = np.diff(sorted(_sends(ts)))
        assert len(gaps) == 15
        if full:
            assert peak == img.system.link_buffer == 2
            assert gaps[-1] == 16  # one credit back per event the receiving core takes
        else:
            assert peak < img.system.link_buffer == 16
            assert (gaps == 2).all()  # the sending core's pace: a flit every 2 cycles


def test_credits_bound_the_link_buffer():
    s = _system(2, 1, 1, 1, 10, 4)
    assert s.link_buffer == 5
    assert _system(2, 1, 1, 1, 1, 1024).link_buffer == 1


# --- errors --------------------------------------------------------------------------------


def test_bad_inputs_and_partial_images_refused(tmp_path):
    system = _system(2, 1, 2, 1)
    net = _net(1, system)
    img = _compile(net, system)
    with pytest.raises(TimedSystemError, match=r"inputs must be a boolean array of shape"):
        TimedSystem(img, np.zeros((TICKS, 1), dtype=bool), TICKS)
    img.save(tmp_path / "n.simg")
    from spikemesh.firmware.system import SystemImage

    part = SystemImage.load(tmp_path / "n.simg", chips=[0])
    with pytest.raises(TimedSystemError, match=r"lacks chip\(s\) \[1\]"):
        TimedSystem(part, None, TICKS)
    with pytest.raises(DistributedError, match=r"reading the inputs failed on rank 0"):
        DistributedTimedSim(img, np.zeros(3, dtype=bool), TICKS, comm=_SerialComm())
