"""Activity counters (docs/counters.md): hand-computed cases, model agreement, identities."""

import re
from pathlib import Path

import numpy as np
import pytest
from spikemesh.firmware import compile_network
from spikemesh.rtl.router import Port, route
from spikemesh.sim.chip import ChipModel, image_synapses

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.counters import (
    COUNTERS,
    EAST,
    LOCAL,
    NORTH,
    SOUTH,
    TIMING_FREE,
    WEST,
    CounterError,
    counters_from_image,
    counters_from_network,
    counters_markdown,
)
from spikemesh.counters_hw import idle_spikes
from spikemesh.errors import SpikemeshError
from spikemesh.golden import Result, run_golden
from spikemesh.network import Network
from tests.firmware.random_nets import random_network

DOCS = Path(__file__).resolve().parent.parent / "docs"

# --- a hand-computed network ------------------------------------------------------------------
#
#   2 x 2 chip, 16-neuron cores, two neurons per core: a -> (0,0), b -> (1,0), c -> (0,1),
#   d -> (1,1); d's neurons are the only output neurons (HOST_OUT flits).
#
#   in[0] -> a[0], a[1]            one axon on (0,0), 2 synapses
#   a[0]  -> d[0], d[1]  (exp 0)   one axon on (1,1), 2 synapses
#   a[0]  -> d[0]        (exp 1)   another axon on (1,1) (another exponent), 1 synapse
#   a[0]  -> b[0]                  one axon on (1,0), 1 synapse
#   d[1]  -> a[1]                  one axon on (0,0), 1 synapse
#   b[0]  -> c[0], c[1]            one axon on (0,1), 2 synapses
#
#   tick 0: in[0], a[0], d[1] fire;  tick 1: b[0], d[0] fire;  tick 2: nothing.

T00, T10, T01, T11 = 0, 1, 2, 3  # tile index = y * width + x


def hand_network():
    net = Network("hand")
    for name in "abcd":
        net.population(name, 2, vth=1000)
    net.source("in", 1, spikes=[])
    net.connect("in", "a", connectivity="explicit", pairs=[(0, 0), (0, 1)], weight=1)
    net.connect("a", "d", connectivity="explicit", pairs=[(0, 0), (0, 1)], weight=1)
    net.connect("a", "d", connectivity="explicit", pairs=[(0, 0)], weight=1, weight_exp=1)
    net.connect("a", "b", connectivity="explicit", pairs=[(0, 0)], weight=1)
    net.connect("d", "a", connectivity="explicit", pairs=[(1, 1)], weight=1)
    net.connect("b", "c", connectivity="explicit", pairs=[(0, 0), (0, 1)], weight=1)
    chip = ChipConfig(core=CoreConfig(neurons=16, axons=16, synapses=16, fanout=16, profiles=1))
    image, _ = compile_network(net, chip, neurons_per_core=2, host_outputs=["d"])
    spikes = np.zeros((3, 8), dtype=bool)
    inputs = np.zeros((3, 1), dtype=bool)
    inputs[0, 0] = True
    spikes[0, [0, 7]] = True  # a[0], d[1]
    spikes[1, [2, 6]] = True  # b[0], d[0]
    z = np.zeros(0, dtype=np.int32)
    result = Result(spikes, inputs, np.zeros(0, np.int64), z, z, z, z)
    return net, image, result


def hand_expected():
    """Every counter of the hand network, worked out from the routes of docs/noc.md."""
    core = {k: np.zeros((3, 4), dtype=np.int64) for k in ("spikes", "flits", "host", "ev", "sops")}
    fwd = np.zeros((3, 4, 5), dtype=np.int64)
    # tick 0 -- in[0]: host -> (0,0) West input -> LOCAL: 1 event, 2 SOPs on (0,0)
    fwd[0, T00, LOCAL] += 1
    core["ev"][0, T00] += 1
    core["sops"][0, T00] += 2
    # a[0] on (0,0): 3 flits. Two to (1,1): E at (0,0), N at (1,0), L at (1,1); 3 SOPs there.
    core["spikes"][0, T00] = 1
    core["flits"][0, T00] = 3
    fwd[0, T00, EAST] += 2
    fwd[0, T10, NORTH] += 2
    fwd[0, T11, LOCAL] += 2
    core["ev"][0, T11] += 2
    core["sops"][0, T11] += 3
    # ... and one to (1,0): E at (0,0), L at (1,0); 1 SOP
    fwd[0, T00, EAST] += 1
    fwd[0, T10, LOCAL] += 1
    core["ev"][0, T10] += 1
    core["sops"][0, T10] += 1
    # d[1] on (1,1): to (0,0): W at (1,1), S at (0,1), L at (0,0); 1 SOP. HOST_OUT: W, S, then
    # West out of (0,0) into the host link.
    core["spikes"][0, T11] = 1
    core["flits"][0, T11] = 2
    core["host"][0, T11] = 1
    fwd[0, T11, WEST] += 2
    fwd[0, T01, SOUTH] += 2
    fwd[0, T00, LOCAL] += 1
    fwd[0, T00, WEST] += 1
    core["ev"][0, T00] += 1
    core["sops"][0, T00] += 1
    # tick 1 -- b[0] on (1,0): to (0,1): W at (1,0), N at (0,0), L at (0,1); 2 SOPs there
    core["spikes"][1, T10] = 1
    core["flits"][1, T10] = 1
    fwd[1, T10, WEST] += 1
    fwd[1, T00, NORTH] += 1
    fwd[1, T01, LOCAL] += 1
    core["ev"][1, T01] += 1
    core["sops"][1, T01] += 2
    # d[0] on (1,1): no fan-out, HOST_OUT only: W at (1,1), S at (0,1), W at (0,0)
    core["spikes"][1, T11] = 1
    core["flits"][1, T11] = 1
    core["host"][1, T11] = 1
    fwd[1, T11, WEST] += 1
    fwd[1, T01, SOUTH] += 1
    fwd[1, T00, WEST] += 1
    return {
        "neuron_updates": np.full((3, 4), 16),  # every slot of every core, every tick
        "spikes": core["spikes"],
        "flits_injected": core["flits"],
        "host_flits": core["host"],
        "events": core["ev"],
        "sops": core["sops"],
        "forwarded": fwd,
        "host_injected": np.array([1, 0, 0]),
        "flit_hops": np.array([10, 5, 0]),  # N, E, S, W outputs (the host link's W included)
    }


def check(c, expected):
    for name, want in expected.items():
        got = c.flit_hops if name == "flit_hops" else getattr(c, name)
        assert np.array_equal(got, want), f"{name}: {got.tolist()} != {want.tolist()}"


@pytest.fixture(scope="module")
def hand():
    net, image, result = hand_network()
    return net, image, result, counters_from_image(image, result)


def test_hand_network_counters(hand):
    net, image, result, c = hand
    expected = hand_expected()
    check(c, expected)
    check(counters_from_network(net, image, result), expected)
    assert c.totals()["sops"] == 2 + 3 + 1 + 1 + 2
    assert c.totals()["flit_hops"] == 15


@pytest.mark.parametrize(
    "name, index, delta",
    [
        ("sops", (0, T11), 1),  # the exponent-1 axon forgotten or counted twice
        ("sops", (1, T01), -1),
        ("events", (0, T11), -1),  # both exponents merged into one axon
        ("flits_injected", (0, T11), -1),  # HOST_OUT flit not counted
        ("host_flits", (1, T11), -1),
        ("forwarded", (0, T10, NORTH), -1),
        ("forwarded", (0, T00, WEST), -1),  # host link hop not counted
        ("forwarded", (1, T00, NORTH), 1),
        ("neuron_updates", (2, T00), -16),  # only placed neurons counted
        ("host_injected", (0,), 1),
        ("flit_hops", (0,), 1),  # Manhattan distance + 1
    ],
)
def test_hand_network_wrong_expectations_fail(hand, name, index, delta):
    *_, c = hand
    wrong = hand_expected()
    wrong[name] = wrong[name].copy()
    wrong[name][index] += delta
    with pytest.raises(AssertionError, match=name):
        check(c, wrong)


def test_hand_network_routes_follow_the_router_rule(hand):
    # the hand expectations agree with rtl.router.route, step by step
    assert route(0, 0, 1, 1) == Port.EAST and route(1, 0, 1, 1) == Port.NORTH
    assert route(1, 1, 0, 0) == Port.WEST and route(0, 1, 0, 0) == Port.SOUTH
    assert route(1, 1, -1, 0) == Port.WEST and route(0, 1, -1, 0) == Port.SOUTH
    assert route(0, 0, -1, 0) == Port.WEST and route(1, 0, 0, 1) == Port.WEST


# --- a hop-by-hop reference: rtl.router.route applied flit by flit ----------------------------


def walk_reference(image, result):
    """(forwarded [T, tiles, 5], sops [T, tiles]) by walking every flit with route()."""
    chip = image.chip
    w, n = chip.width, chip.core.neurons
    fwd = np.zeros((result.ticks, chip.tiles, 5), dtype=np.int64)
    sops = np.zeros((result.ticks, chip.tiles), dtype=np.int64)
    step = {Port.NORTH: (0, 1), Port.EAST: (1, 0), Port.SOUTH: (0, -1), Port.WEST: (-1, 0)}

    def walk(t, x, y, dx, dy):
        while True:
            p = route(x, y, dx, dy)
            fwd[t, y * w + x, int(p)] += 1
            if p == Port.LOCAL or (p == Port.WEST and x == 0 and dx < 0):
                return
            x, y = x + step[p][0], y + step[p][1]

    def deliver(t, x, y, fx, fy, axon):
        walk(t, x, y, int(fx), int(fy))
        d = int(fy) * w + int(fx)
        sops[t, d] += image.cores[d].axon_len[axon]

    for t in range(result.ticks):
        for nid in np.flatnonzero(result.spikes[t]):
            tile, i = divmod(int(image.neuron_slot[nid]), n)
            c = image.cores[tile]
            for k in range(c.fan_base[i], c.fan_base[i] + c.fan_len[i]):
                deliver(t, tile % w, tile // w, c.fan_x[k], c.fan_y[k], c.fan_axon[k])
            if c.host_out[i]:
                walk(t, tile % w, tile // w, -1, 0)
        for s in np.flatnonzero(result.inputs[t]):
            for k in range(image.src_ptr[s], image.src_ptr[s + 1]):
                deliver(t, 0, 0, image.src_x[k], image.src_y[k], image.src_axon[k])
    return fwd, sops


SHAPES = [(2, 2), (3, 2), (1, 3), (4, 3)]


def compiled(seed, shape):
    net = random_network(seed)
    chip = ChipConfig(
        width=shape[0],
        height=shape[1],
        core=CoreConfig(neurons=64, axons=1024, synapses=8192, fanout=4096),
    )
    npc = max(1, -(-net.num_neurons // chip.tiles))
    image, _ = compile_network(net, chip, neurons_per_core=npc, host_outputs="recorded")
    return net, image


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("seed", range(20))
def test_golden_and_tlm_counters_agree(seed, shape):
    net, image = compiled(seed, shape)
    ticks = 25
    golden = run_golden(net, ticks)
    tlm = ChipModel(image).run(ticks, net.input_raster(ticks))
    from_golden = counters_from_network(net, image, golden)
    from_tlm = counters_from_image(image, tlm)
    assert from_golden.diff(from_tlm) == []
    fwd, sops = walk_reference(image, tlm)
    assert np.array_equal(from_tlm.forwarded, fwd)
    assert np.array_equal(from_tlm.sops, sops)
    identities(image, tlm, from_tlm)


def identities(image, result, c):
    """Sanity identities every run satisfies."""
    # flits ejected at the cores are the axon events they integrate
    assert np.array_equal(c.events, c.flits_ejected)
    # SOPs = synapses whose presynaptic element fired, per destination tile (image walk)
    pre, post, _ = image_synapses(image)
    n = image.chip.core.neurons
    slots = np.zeros((result.ticks, image.chip.neurons), dtype=bool)
    slots[:, image.neuron_slot] = result.spikes
    fired = np.concatenate([slots, result.inputs], axis=1)
    want = np.stack([np.bincount(post[f[pre]] // n, minlength=c.tiles) for f in fired])
    assert np.array_equal(c.sops, want)
    # every flit that enters the mesh leaves it: at a core or into the host link
    assert np.array_equal(
        c.per_tick("flits_injected") + c.host_injected,
        c.per_tick("events") + c.host_received,
    )
    assert np.array_equal(c.host_received, c.per_tick("host_flits"))
    # the placed neurons' spikes are the raster's; empty slots fire on their own
    # (idle_spikes: profile 0's bias, no input), the update loop counts them too
    idle = idle_spikes(image, result.ticks)
    assert np.array_equal(c.spikes.sum(axis=1), result.spikes.sum(axis=1) + idle.sum(axis=1))
    own = np.zeros((result.ticks, c.tiles), dtype=np.int64)
    np.add.at(own, (slice(None), np.asarray(image.neuron_slot) // n), result.spikes)
    assert np.array_equal(c.spikes, own + idle)


def test_timed_tlm_counters_agree():
    from spikemesh.sim.timed import run_image_timed

    for seed, shape in ((1, (2, 2)), (2, (3, 2))):
        net, image = compiled(seed, shape)
        image, _ = compile_network(net, image.chip, neurons_per_core=image.chip.core.neurons)
        ticks = 12
        timed, _ = run_image_timed(image, net.input_raster(ticks), ticks)
        c = counters_from_image(image, timed)
        assert c.cycles is not None and c.cycles.shape == (ticks,)
        assert counters_from_network(net, image, run_golden(net, ticks)).diff(c) == []


def test_standard_workload_counters():
    from spikemesh.firmware import auto_chip

    from bench.workload import make_workload

    net = make_workload(4096)
    image, _ = compile_network(net, auto_chip(net))
    ticks = 40
    golden = run_golden(net, ticks)
    tlm = ChipModel(image).run(ticks, net.input_raster(ticks))
    c = counters_from_image(image, tlm)
    assert counters_from_network(net, image, golden).diff(c) == []
    identities(image, tlm, c)
    # every input and every neuron has 64 targets: SOPs = 64 x (spikes + inputs), per tick
    firings = tlm.spikes.sum(axis=1) + tlm.inputs.sum(axis=1)
    assert np.array_equal(c.per_tick("sops"), 64 * firings)


def test_a_changed_counter_is_reported(hand):
    net, image, result, c = hand
    other = counters_from_network(net, image, result)
    other.forwarded[1, T01, SOUTH] += 1
    (line,) = c.diff(other)
    assert line == "forwarded differs in 1 place(s); first at tick 1, tile (0,1), port S: 1 vs 2"


def test_timing_dependent_counters_come_from_the_result(hand):
    _, image, result, _ = hand
    result.cycles = np.array([30, 20, 12])
    result.extra = {"router_blocked": np.zeros((3, 4, 5), dtype=np.int64)}
    c = counters_from_image(image, result)
    assert c.cycles.tolist() == [30, 20, 12]
    assert c.totals()["router_blocked"] == 0
    result.cycles = np.array([1, 2])
    with pytest.raises(CounterError, match=r"result.cycles has shape \(2,\), expected \(3,\)"):
        counters_from_image(image, result)
    result.cycles = None
    result.extra = {"router_blocked": np.zeros((3, 4))}
    with pytest.raises(CounterError, match=r"router_blocked'\] has shape \(3, 4\)"):
        counters_from_image(image, result)
    result.extra = {}


def test_a_result_of_another_network_is_refused(hand):
    _, image, _, _ = hand
    other = run_golden(random_network(3), 5)
    with pytest.raises(SpikemeshError, match="not a run of its network"):
        counters_from_image(image, other)
    with pytest.raises(CounterError, match="not its image"):
        counters_from_network(random_network(3), image, other)


def test_a_host_link_raster_without_every_neuron_is_refused(hand):
    _, image, result, _ = hand
    result.backend = "rtl"  # the host saw only d's spikes (host_outputs=["d"])
    with pytest.raises(CounterError, match=r"only the output neurons' spikes \(2 of 8\)"):
        counters_from_image(image, result)
    result.backend = "golden"


def test_timing_dependent_missing_per_tick_is_a_clear_error(hand):
    *_, c = hand
    with pytest.raises(CounterError, match="cycles is timing-dependent"):
        c.per_tick("cycles")


def test_to_dict_is_json_serialisable(hand):
    import json

    *_, c = hand
    d = json.loads(json.dumps(c.to_dict()))
    assert d["totals"]["sops"] == 9
    assert d["forwarded"][T00] == [2, 1, 3, 0, 2]
    assert d["per_tick"]["flit_hops"] == [10, 5, 0]
    assert set(TIMING_FREE) <= set(d["totals"])


def test_docs_counter_table_is_current():
    text = (DOCS / "counters.md").read_text()
    m = re.search(r"<!-- BEGIN counters -->\n(.*?)<!-- END counters -->", text, re.S)
    assert m, "docs/counters.md lacks the generated counter table"
    assert m.group(1) == counters_markdown(), "regenerate: python -m spikemesh.counters"
    for spec in COUNTERS:
        assert f"`{spec.name}`" in text
