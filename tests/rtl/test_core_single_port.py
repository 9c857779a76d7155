"""CoreConfig.single_port: the synapse and fan-out memories with one address (rtl/core_ports.py).

The single-port core must be the default core cycle for cycle: the same lockstep against
sim/core.py::CoreModel as tests/rtl/test_core.py, here with reconfiguration between ticks
and events offered while the configuration writes go in (the one moment the config path
and a reader could meet), and the simulation check that fires if a read and a write of a
single-port memory ever share a cycle.
"""

import dataclasses

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib.memory import Memory
from spikemesh.rtl.core_ports import SINGLE_PORT_MEMORIES, single_port, single_port_yosys

from spikemesh.config import ConfigError, CoreConfig
from spikemesh.layouts import core_config_writes
from tb.core.scenarios import random_image, random_inputs, scenario_chip
from tests.helpers import run_sim
from tests.rtl.test_core import golden_ticks, run

SMALL_SP = CoreConfig(neurons=16, axons=16, synapses=64, fanout=64, profiles=2, single_port=True)


async def configure_with_events(ls, ctx, writes, events, rng):
    """Config writes back to back while axon events are offered at random: an event taken
    makes the core busy, which holds the config path off until its row is accumulated."""
    k, e = 0, 0
    while k < len(writes) or e < len(events):
        o = ls.outputs(ctx)
        cv = k < len(writes)
        ev = e < len(events) and rng.random() < 0.3
        a, dt = writes[k] if cv else (0, 0)
        took_cfg = cv and o["config_ready"]
        took_ev = ev and o["event_ready"]
        await ls.step(
            ctx,
            config_valid=int(cv),
            config_addr=a,
            config_data=dt,
            event_valid=int(ev),
            event=events[e] if ev else 0,
        )
        k += int(took_cfg)
        e += int(took_ev)


@pytest.mark.parametrize("seed,bp", [(11, 0.0), (12, 0.6)])
def test_single_port_lockstep_with_reconfiguration(seed, bp):
    """Image A for 3 ticks (spikes and state = golden), then image B written over it with
    events offered meanwhile, 3 more ticks: every boundary output equals the twin's in every
    cycle (Lockstep), the same checks the two-port core passes."""
    chip = scenario_chip(SMALL_SP)
    rng = np.random.default_rng(seed)
    img_a = random_image(chip, rng, hazard_p=0.5)
    img_b = random_image(chip, rng, hazard_p=0.5)
    inputs = [np.flatnonzero(r).tolist() for r in random_inputs(rng, 6, chip.core.axons, 0.4)]
    want = golden_ticks(chip, img_a, inputs[:3])
    # image B's synapse and fan-out words (and the rest) while events arrive
    writes_b = core_config_writes(chip, img_b, acc=False)
    mid_events = rng.integers(0, chip.core.axons, 40).tolist()

    async def body(ls, ctx):
        await ls.configure(ctx, core_config_writes(chip, img_a))
        for t in range(3):
            await ls.tick(ctx, inputs[t])
            us, vs = await ls.read_back(ctx)
            assert ls.ticks[t][1] == want[t][1], f"tick {t}: flits"
            assert (us, vs) == (want[t][2], want[t][3]), f"tick {t}: state"
        await configure_with_events(ls, ctx, writes_b, mid_events, rng)
        for t in range(3, 6):
            await ls.tick(ctx, inputs[t])
            await ls.read_back(ctx)
        assert sum(len(f) for _, f in ls.ticks[3:]) > 0  # image B's neurons spiked

    print(f"seed {seed}")
    run(chip, body, seed=seed, bp=bp)


def test_single_port_read_and_write_in_one_cycle_is_caught():
    """The check that guards the shared address: a read and a write together fail."""
    m = Module()
    mem = m.submodules.synapse_mem = Memory(shape=8, depth=16, init=[])
    rp, wp = single_port(m, "synapse_mem", mem, shape=8)

    async def tb(ctx):
        ctx.set(wp.addr, 3)
        ctx.set(wp.data, 0x5A)
        ctx.set(wp.en, 1)
        ctx.set(rp.en, 0)
        await ctx.tick()  # a write alone
        ctx.set(wp.en, 0)
        ctx.set(rp.addr, 3)
        ctx.set(rp.en, 1)
        await ctx.tick()  # a read alone: the word written
        assert ctx.get(rp.data) == 0x5A
        ctx.set(wp.en, 1)
        await ctx.tick()
        await ctx.tick()

    with pytest.raises(AssertionError, match="synapse_mem: single-port memory read and written"):
        run_sim(m, tb)


def test_single_port_config():
    assert CoreConfig().single_port is False
    with pytest.raises(ConfigError, match=r"CoreConfig.single_port must be true or false, not 1"):
        CoreConfig(single_port=1)
    with pytest.raises(ConfigError, match=r"Single-port synapse memory .* cannot learn"):
        CoreConfig(single_port=True, learning_profiles=1)
    core = CoreConfig.from_dict({"single_port": True})
    assert core.single_port and CoreConfig.from_dict(core.to_dict()) == core


def test_single_port_yosys_names_the_memories():
    """The build's yosys commands touch only the single-port memories, and only on a chip
    that has them."""
    chip = scenario_chip(SMALL_SP)
    assert single_port_yosys(dataclasses.replace(chip, core=CoreConfig())) == ""
    script = single_port_yosys(chip)
    for name in SINGLE_PORT_MEMORIES.values():
        assert f"r:MEMID=*{name}*" in script and f"m:*{name}*" in script
    assert "fanptr" not in script and "axon" not in script
