"""sim/core.py::CoreModel: functional mode vs the golden reference, timed mode vs functional,
the documented cycle formulas, config decoding, and error paths."""

import copy

import numpy as np
import pytest
from spikemesh.sim.core import CoreContractError, CoreModel, lif_scalar
from spikemesh.sim.core_words import WORDS

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.coreimage import CoreImage
from spikemesh.golden import run_golden
from spikemesh.layouts import (
    Region,
    acc_layout,
    config_addr,
    config_addr_bits,
    config_data_bits,
    core_config_writes,
    core_markdown,
    decode_config_write,
    region_layouts,
)
from spikemesh.neuron import lif_update
from tb.core.scenarios import TILE, image_network, random_image, random_inputs, scenario_chip

CORES = [
    CoreConfig(neurons=16, axons=64, synapses=256, fanout=64, acc_bits=20),
    CoreConfig(neurons=64),
    CoreConfig(neurons=256, axons=256, synapses=2048, fanout=1024, profiles=8),
    CoreConfig(neurons=16, axons=64, synapses=256, fanout=64, acc_bits=20, max_delay=3),
    CoreConfig(neurons=64, max_delay=15),
]


@pytest.mark.parametrize(
    "core", CORES, ids=lambda c: f"n{c.neurons}-acc{c.acc_bits}-d{c.max_delay}"
)
@pytest.mark.parametrize("seed", [1, 2])
def test_functional_vs_golden(core, seed):
    chip = scenario_chip(core)
    rng = np.random.default_rng(seed)
    img = random_image(chip, rng, max_exp=7 if core.acc_bits < 24 else 3, max_row=32)
    ticks = 60
    inputs = random_inputs(rng, ticks, core.axons, 0.2)
    g = run_golden(image_network(chip, img), ticks, acc_bits=core.acc_bits, inputs=inputs)
    m = CoreModel(chip, x=TILE[0], y=TILE[1], image=img)
    for t in range(ticks):
        spk, _ = m.tick(np.flatnonzero(inputs[t]).tolist(), loopback=True)
        u, v, _ = m.state()
        assert np.array_equal(spk, g.spikes[t]), f"seed {seed} tick {t}"
        assert np.array_equal(u, g.u[t]) and np.array_equal(v, g.v[t]), f"seed {seed} tick {t}"
    assert g.spikes.any()


@pytest.mark.parametrize("core", CORES, ids=lambda c: f"n{c.neurons}-d{c.max_delay}")
@pytest.mark.parametrize("bp", [0.0, 0.6])
def test_timed_vs_functional(core, bp):
    chip = scenario_chip(core)
    rng = np.random.default_rng(3)
    img = random_image(chip, rng)
    inputs = random_inputs(rng, 25, core.axons, 0.2)
    f = CoreModel(chip, x=TILE[0], y=TILE[1], image=img)
    t_ = CoreModel(chip, x=TILE[0], y=TILE[1], image=img)
    ready = np.random.default_rng(4).random(1 << 16) >= bp
    for t in range(inputs.shape[0]):
        ev = np.flatnonzero(inputs[t]).tolist()
        _, flits = f.tick(ev, loopback=True)
        cycles, tflits = t_.run_tick(ev, loopback=True, flit_ready=lambda c: ready[c])
        assert tflits == flits, f"tick {t}"
        assert [a.tolist() for a in t_.state()] == [a.tolist() for a in f.state()]
        assert t_.acc == f.acc
        assert cycles >= core.neurons + 7


def test_lif_scalar_matches_definition():
    rng = np.random.default_rng(9)
    n = 4000
    u = rng.integers(-(1 << 23), 1 << 23, n)
    v = rng.integers(-(1 << 23) + 1, 1 << 23, n)
    ref = rng.integers(0, 16, n) * (rng.random(n) < 0.3)
    a = rng.integers(-(1 << 31), 1 << 31, n)
    params = np.stack(
        [
            rng.integers(0, 4096, n),
            rng.integers(0, 4096, n),
            rng.integers(0, 1 << 17, n),
            rng.integers(-4096, 4096, n),
            rng.integers(0, 8, n),
            rng.integers(0, 16, n),
        ],
        axis=1,
    )
    params[: n // 4, 2] = 0
    want = lif_update(u, v, ref, a, params)
    for i in range(n):
        got = lif_scalar(
            int(u[i]), int(v[i]), int(ref[i]), int(a[i]), tuple(int(x) for x in params[i])
        )
        assert got == tuple(int(w[i]) for w in want), i


# ---- documented cycle counts (docs/timing.md) ------------------------------------------


def _quiet_image(core, **kw):
    img = CoreImage.empty(core)
    for k, val in kw.items():
        setattr(img, k, val)
    return img


@pytest.mark.parametrize("n", [16, 64, 256, 1024])
def test_update_loop_cycles(n):
    core = CoreConfig(neurons=n)
    m = CoreModel(scenario_chip(core), x=1, y=0, image=CoreImage.empty(core))
    assert m.run_tick()[0] == n + 7


def test_event_stream_cycles():
    """Back-to-back events: one synapse per cycle, a zero-length row costs one cycle."""
    core = CoreConfig(neurons=16, axons=16, synapses=64)
    lens = np.array([5, 0, 1, 1, 7, 0, 0, 3] + [0] * 8)
    img = _quiet_image(
        core,
        syn_target=np.arange(64) % 16,
        syn_weight=np.ones(64, dtype=int),
        axon_len=lens,
        axon_base=np.zeros(16, dtype=int),
    )
    m = CoreModel(scenario_chip(core), x=1, y=0, image=img)
    events = [0, 4, 7, 4, 4, 2, 3, 1, 5, 6, 0, 4]
    cost = sum(max(int(lens[e]), 1) for e in events)
    assert m.run_tick(events)[0] == max(core.neurons + 7, cost + 4)


def test_fanout_cycles_formula():
    """Update loop with spikes: the recurrence of docs/timing.md, o_flit always ready."""
    core = CoreConfig(neurons=16, axons=16, synapses=16, fanout=64)
    rng = np.random.default_rng(5)
    for _ in range(30):
        fan_len = rng.integers(0, 5, 16)
        host = rng.random(16) < 0.5
        img = _quiet_image(
            core,
            fan_len=fan_len,
            host_out=host,
            fan_base=np.concatenate([[0], np.cumsum(fan_len)[:-1]]),
            fan_x=np.zeros(fan_len.sum(), dtype=int),
            fan_y=np.zeros(fan_len.sum(), dtype=int),
            fan_axon=np.zeros(fan_len.sum(), dtype=int),
            v0=np.where(rng.random(16) < 0.5, 1 << 22, 0),
        )
        img.fan_base[fan_len == 0] = 0
        img.profiles = np.array([[0, 0, 1000, 0, 0, 0, 0]])
        m = CoreModel(scenario_chip(core), x=1, y=0, image=img)
        spiking = img.v0 > (1000 << 6)
        # T: the neuron's U5 cycle; P: the cycle the walker takes a queued spike
        t5, takes, last_end = 5, [], 0
        for i in range(16):
            t5 += 1
            items = int(fan_len[i]) + int(host[i])
            if spiking[i] and items:
                if len(takes) >= 2:
                    t5 = max(t5, takes[-2][0] + 1)  # the 2-entry queue is full
                p = t5 + 1 if not takes else max(t5 + 1, takes[-1][0] + takes[-1][1])
                takes.append((p, items))
        if takes:
            last_end = takes[-1][0] + takes[-1][1] + 4
        want = max(t5 + 2, last_end)
        assert m.run_tick()[0] == want


# ---- config map --------------------------------------------------------------------------


def test_config_writes_equal_load():
    chip = scenario_chip(CoreConfig(neurons=64))
    img = random_image(chip, np.random.default_rng(2))
    a = CoreModel(chip, x=1, y=0, image=img)
    b = CoreModel(chip, x=1, y=0)
    writes = core_config_writes(chip, img)
    for addr, data in writes:
        assert addr < 1 << config_addr_bits(chip) and data < 1 << config_data_bits(chip)
        b.config_write(addr, data)
    for key in (
        "state_mem",
        "profile_mem",
        "axon_mem",
        "synapse_mem",
        "fanptr_mem",
        "fanout_mem",
        "acc_mem",
        "prof_fu",
        "prof_fv",
    ):
        assert getattr(a, key) == getattr(b, key), key


def test_words_are_the_layouts():
    """The twins' memory words have the fields of spikemesh.layouts, in the same order (the
    axon word's delay field exists only on a core with delays: the twin's defaults to 0)."""
    for chip in (ChipConfig(), ChipConfig(core=CoreConfig(max_delay=7))):
        for region, (lay, _) in region_layouts(chip).items():
            if region != Region.ACC:
                fields = WORDS[region]._fields
                if region == Region.AXON and not chip.core.delay_bits:
                    assert fields[-1] == "delay" and WORDS[region]._field_defaults["delay"] == 0
                    fields = fields[:-1]
                if region == Region.SYNAPSE and not chip.core.learning:  # learning fields
                    assert fields[-2:] == ("plastic", "lprofile")
                    assert WORDS[region]._field_defaults == {"plastic": 0, "lprofile": 0}
                    fields = fields[:-2]
                assert fields == tuple(f.name for f in lay.fields), region.name
        assert [f.name for f in acc_layout(chip.core).fields] == ["a"]  # the twins hold ints


def test_decode_config_write():
    chip = ChipConfig()
    addr = config_addr(chip, Region.ACC, 64 + 5)
    region, index, fields = decode_config_write(chip, addr, (1 << 24) - 1)
    assert (region, index, fields) == (Region.ACC, 69, {"a": -1})
    assert decode_config_write(chip, 7 << (config_addr_bits(chip) - 3), 0) is None


def test_config_addr_wrong_index():
    with pytest.raises(ValueError, match=r"^AXON index must be between 0 and 255, not 256$"):
        config_addr(ChipConfig(), Region.AXON, 256)


def test_core_markdown_mentions_every_region():
    text = core_markdown()
    for r in region_layouts(ChipConfig()):
        assert f"| {r.name} |" in text
    # the learning regions only exist on a learning core
    text = core_markdown(ChipConfig(core=CoreConfig(learning_profiles=2)))
    for r in Region:
        assert f"| {r.name} |" in text


def test_docs_core_md_is_current():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "core.md").read_text()
    assert core_markdown() in doc, "docs/core.md is stale: run python -m spikemesh.layouts"


# ---- error paths ----------------------------------------------------------------------------


def test_init_wrong_x():
    with pytest.raises(
        ValueError,
        match=r"^Tile x coordinate must be an integer between 0 and 1, "
        r"not 5$",
    ):
        CoreModel(ChipConfig(), x=5, y=0)


def test_init_wrong_chip():
    with pytest.raises(TypeError, match=r"^Chip configuration must be a ChipConfig, not None$"):
        CoreModel(None, x=0, y=0)


# ---- the environment's contract (docs/core.md), checked by the model ----------------------

START_RULES_MODEL = {
    "running": r"^Core \(1, 0\): start pulsed while the update loop of the previous start is "
    r"still running \(done = 0\); pulse start only while done & idle$",
    "event": r"^Core \(1, 0\): start pulsed while an accepted event is still inside the "
    r"event pipeline \(idle = 0\)",
    "read": r"^Core \(1, 0\): start pulsed while a read-back answer waits on o_read "
    r"\(o_read.valid = 1\); take it first$",
}


def test_start_contract_raises():
    """The timed CoreModel refuses the same inputs with CoreContractError, before any change."""
    chip = scenario_chip(CoreConfig(neurons=16, axons=16, synapses=64, fanout=64, profiles=2))
    m = CoreModel(chip, x=1, y=0)
    m.clock(start=1)
    with pytest.raises(CoreContractError, match=START_RULES_MODEL["running"]):
        m.clock(start=1)
    m = CoreModel(chip, x=1, y=0)
    m.clock(event_valid=1)
    with pytest.raises(CoreContractError, match=START_RULES_MODEL["event"]):
        m.clock(start=1)
    m = CoreModel(chip, x=1, y=0)
    m.clock(read_valid=1)
    before = _registers(m)
    with pytest.raises(CoreContractError, match=START_RULES_MODEL["read"]):
        m.clock(start=1)
    assert _registers(m) == before


def _registers(m):
    """Every attribute of the model and of its components' twins, copied."""
    return [
        copy.deepcopy({k: v for k, v in vars(obj).items() if k not in _TWINS})
        for obj in (m, m.event_pipeline, m.update_pipeline, m.fanout_unit)
    ]


_TWINS = ("event_pipeline", "update_pipeline", "fanout_unit")


def test_start_contract_never_fires_in_a_legal_run():
    """run_tick pulses start only when the previous tick is over: many ticks, no error."""
    chip = scenario_chip(CoreConfig(neurons=16, axons=16, synapses=64, fanout=64, profiles=2))
    rng = np.random.default_rng(5)
    m = CoreModel(chip, x=TILE[0], y=TILE[1], image=random_image(chip, rng))
    for ev in random_inputs(rng, 20, chip.core.axons, 0.5):
        m.run_tick(np.flatnonzero(ev).tolist(), loopback=True)
    assert m.tick_no == 20
