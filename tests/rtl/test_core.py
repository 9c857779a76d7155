"""rtl/core.py::Core on Amaranth's simulator, in cycle lockstep with sim/core.py::CoreModel.

Every test loads an image through the real configuration port, runs ticks with
the protocol of docs/timing.md, and compares every boundary output with the
timed CoreModel in every cycle; states are read back through i_read/o_read and
compared with the golden arithmetic (spikemesh.neuron.lif_update).
"""

import numpy as np
import pytest
from spikemesh.rtl.core import Core
from spikemesh.sim.core import CoreModel

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.coreimage import CoreImage
from spikemesh.layouts import (
    Region,
    config_addr,
    config_index_bits,
    core_config_writes,
    neuron_layout,
    profile_layout,
)
from spikemesh.neuron import lif_update
from tb.core.scenarios import TILE, random_image, random_inputs, scenario_chip
from tests.helpers import run_sim

SMALL = CoreConfig(neurons=16, axons=16, synapses=64, fanout=64, profiles=2)


class Lockstep:
    """Drives the RTL and the timed model with the same inputs; checks outputs every cycle."""

    OUTS = (
        "event_ready",
        "flit_valid",
        "flit",
        "config_ready",
        "read_ready",
        "read_valid",
        "done",
        "idle",
    )

    def __init__(self, chip, *, seed=0, bp=0.0):
        self.chip = chip
        self.dut = Core(chip, x=TILE[0], y=TILE[1])
        self.model = CoreModel(chip, x=TILE[0], y=TILE[1])
        self.rng = np.random.default_rng(seed)
        self.bp = bp
        self.cycle = 0
        self.ticks = []  # (cycles, flits) per tick
        self.reads = []  # (u, v) lists per read-back
        self.cnt_rng = np.random.default_rng(seed + 1000)  # counter selections and clears
        self.clear_p = 0.0  # chance of a counter clear pulse in a cycle

    def outputs(self, ctx):
        d = self.dut
        o = dict(
            event_ready=ctx.get(d.i_event.ready),
            flit_valid=ctx.get(d.o_flit.valid),
            flit=ctx.get(d.o_flit.payload.as_value()),
            config_ready=ctx.get(d.i_config.ready),
            read_ready=ctx.get(d.i_read.ready),
            read_valid=ctx.get(d.o_read.valid),
            done=ctx.get(d.done),
            idle=ctx.get(d.idle),
        )
        m = self.model.outputs()
        for k in self.OUTS:
            if k == "flit" and not o["flit_valid"]:
                continue
            assert o[k] == getattr(m, k), (
                f"cycle {self.cycle}: {k} RTL {o[k]} model {getattr(m, k)}"
            )
        if self.chip.counter_bits:  # activity counters: registers, selection, wrap flag
            mask = (1 << self.chip.counter_bits) - 1
            rtl = [ctx.get(r) for r in d.counters]
            assert rtl == [c & mask for c in self.model.counts], f"cycle {self.cycle}: counters"
            assert ctx.get(d.cnt_value) == self.model.cnt_value, f"cycle {self.cycle}: cnt_value"
            assert ctx.get(d.cnt_wrapped) == self.model.cnt_wrapped, f"cycle {self.cycle}: wrap"
        if o["read_valid"]:
            u = ctx.get(d.o_read.payload.u)
            v = ctx.get(d.o_read.payload.v)
            assert (u, v) == (m.read_u, m.read_v), f"cycle {self.cycle}: read-back"
            o["read_u"], o["read_v"] = u, v
        return o

    async def step(self, ctx, **inp):
        d = self.dut
        ctx.set(d.i_event.valid, inp.get("event_valid", 0))
        ctx.set(d.i_event.payload, inp.get("event", 0))
        ctx.set(d.o_flit.ready, inp.get("flit_ready", 0))
        ctx.set(d.start, inp.get("start", 0))
        ctx.set(d.parity, inp.get("parity", 0))
        ctx.set(d.i_config.valid, inp.get("config_valid", 0))
        ctx.set(d.i_config.payload.addr, inp.get("config_addr", 0))
        ctx.set(d.i_config.payload.data, inp.get("config_data", 0))
        ctx.set(d.i_read.valid, inp.get("read_valid", 0))
        ctx.set(d.i_read.payload, inp.get("read_index", 0))
        ctx.set(d.o_read.ready, inp.get("read_ready", 0))
        if self.chip.counter_bits:
            index = int(self.cnt_rng.integers(18))
            clear = int(self.cnt_rng.random() < self.clear_p)
            ctx.set(d.cnt_index, index)
            ctx.set(d.cnt_clear, clear)
            inp = dict(inp, cnt_index=index, cnt_clear=clear)
        self.model.clock(**inp)
        self.cycle += 1
        await ctx.tick()

    async def configure(self, ctx, writes):
        k = 0
        while k < len(writes):
            o = self.outputs(ctx)
            a, dt = writes[k]
            if o["config_ready"]:
                k += 1
            await self.step(ctx, config_valid=1, config_addr=a, config_data=dt)

    async def tick(self, ctx, events, *, loopback=True):
        queue, k, cyc, flits = list(events), 0, 0, []
        parity = len(self.ticks) % self.chip.core.acc_banks  # the tick's bank (t & 1, D = 1)
        fo = self.model._fo
        while True:
            o = self.outputs(ctx)
            if cyc and o["done"] and o["idle"] and k == len(queue):
                break
            fr = int(self.rng.random() >= self.bp)
            if o["flit_valid"] and fr:
                f = o["flit"]
                flits.append(f)
                if loopback and not (f >> fo["kind"]) & 1:
                    x = (f >> fo["dest_x"]) & self.model._dx_mask
                    y = (f >> fo["dest_y"]) & ((1 << self.chip.y_bits) - 1)
                    if (x, y) == TILE:
                        queue.append((f >> fo["payload"]) & ((1 << self.chip.core.axon_bits) - 1))
            ev = k < len(queue)
            if ev and o["event_ready"]:
                k += 1
            await self.step(
                ctx,
                event_valid=int(ev),
                event=queue[k - 1 if ev and o["event_ready"] else k] if ev else 0,
                flit_ready=fr,
                start=int(cyc == 0),
                parity=parity,
            )
            cyc += 1
        self.ticks.append((cyc, flits))
        self.model.tick_no += 1

    async def read_back(self, ctx):
        us, vs = [], []
        i = 0
        n = self.chip.core.neurons
        while len(us) < n:
            o = self.outputs(ctx)
            if o["read_valid"]:
                us.append(o["read_u"])
                vs.append(o["read_v"])
            take = i < n and o["read_ready"]
            await self.step(ctx, read_valid=int(i < n), read_index=min(i, n - 1), read_ready=1)
            i += int(take)
        self.reads.append((us, vs))
        return us, vs


def run(chip, body, *, cls=None, **kw):
    ls = (cls or Lockstep)(chip, **kw)

    async def tb(ctx):
        await body(ls, ctx)

    run_sim(ls.dut, tb)
    return ls


def golden_ticks(chip, img, inputs):
    """Golden-arithmetic spikes/u/v per tick, through the functional CoreModel (with loopback)."""
    m = CoreModel(chip, x=TILE[0], y=TILE[1], image=img)
    out = []
    for ev in inputs:
        spk, flits = m.tick(ev, loopback=True)
        u, v, _ = m.state()
        out.append((spk, flits, u.tolist(), v.tolist()))
    return out


# ---- constructor errors -------------------------------------------------------------


def test_init_wrong_chip():
    with pytest.raises(TypeError, match=r"^Chip configuration must be a ChipConfig, not 3$"):
        Core(3, x=0, y=0)


def test_init_wrong_x():
    with pytest.raises(
        ValueError,
        match=r"^Tile x coordinate must be an integer between 0 and 1, "
        r"not 2$",
    ):
        Core(ChipConfig(), x=2, y=0)


def test_init_wrong_y():
    with pytest.raises(
        ValueError,
        match=r"^Tile y coordinate must be an integer between 0 and 1, "
        r"not -1$",
    ):
        Core(ChipConfig(), x=0, y=-1)


def test_init_wrong_x_type():
    with pytest.raises(
        ValueError,
        match=r"^Tile x coordinate must be an integer between 0 and 1, "
        r"not True$",
    ):
        Core(ChipConfig(), x=True, y=0)


def test_ports():
    d = Core(scenario_chip(SMALL), x=1, y=0)
    d._MustUse__silence = True  # inspected, never elaborated
    assert len(d.i_event.payload) == 4
    assert len(d.o_flit.payload.as_value()) == scenario_chip(SMALL).flit_layout.width
    assert len(d.o_read.payload.as_value()) == 48


# ---- random lockstep ----------------------------------------------------------------


@pytest.mark.parametrize("seed,bp", [(1, 0.0), (2, 0.5), (3, 0.8)])
def test_random_lockstep(seed, bp):
    chip = scenario_chip(SMALL)
    rng = np.random.default_rng(seed)
    img = random_image(chip, rng, hazard_p=0.5)
    inputs = [np.flatnonzero(r).tolist() for r in random_inputs(rng, 6, chip.core.axons, 0.4)]
    want = golden_ticks(chip, img, inputs)

    async def body(ls, ctx):
        await ls.configure(ctx, core_config_writes(chip, img))
        for t, ev in enumerate(inputs):
            await ls.tick(ctx, ev)
            us, vs = await ls.read_back(ctx)
            assert ls.ticks[t][1] == want[t][1], f"tick {t}: flits"
            assert (us, vs) == (want[t][2], want[t][3]), f"tick {t}: state"

    print(f"seed {seed}")
    run(chip, body, seed=seed, bp=bp)


@pytest.mark.parametrize("seed,bp,clear_p", [(7, 0.3, 0.0), (8, 0.6, 0.01)])
def test_random_lockstep_counters(seed, bp, clear_p):
    """The activity counters (counter_bits = 16, docs/counters.md) every cycle equal to the
    twin's, with a random READ_COUNTER selection every cycle and random clears; without
    clears, their totals equal the ticks' own counts (neurons, flits, events)."""
    import dataclasses

    chip = dataclasses.replace(scenario_chip(SMALL), counter_bits=16)
    rng = np.random.default_rng(seed)
    img = random_image(chip, rng, hazard_p=0.5)
    inputs = [np.flatnonzero(r).tolist() for r in random_inputs(rng, 5, chip.core.axons, 0.4)]
    want = golden_ticks(chip, img, inputs)

    preset = (1 << 16) - 5 if not clear_p else 0  # neuron_updates wraps in the first tick

    async def body(ls, ctx):
        ls.clear_p = clear_p
        ctx.set(ls.dut.counters[0], preset)
        ls.model.counts[0] = preset
        await ls.configure(ctx, core_config_writes(chip, img))
        for t, ev in enumerate(inputs):
            await ls.tick(ctx, ev)
            assert ls.ticks[t][1] == want[t][1], f"tick {t}: flits"

    ls = run(chip, body, seed=seed, bp=bp)
    c = ls.model.counts
    if not clear_p:
        n_flits = sum(len(f) for _, f in ls.ticks)
        assert c[0] == preset + chip.core.neurons * len(inputs) and c[2] == n_flits, c
        assert ls.model.cnt_wrapped
        assert c[4] >= sum(len(e) for e in inputs) and c[5] > c[4] and 0 < c[3] < c[2], c
        assert c[1] > 0


@pytest.mark.parametrize("max_delay,seed,bp", [(3, 4, 0.3), (7, 5, 0.0), (15, 6, 0.5)])
def test_random_lockstep_with_delays(max_delay, seed, bp):
    """Rows of random delays 1..D: D + 1 banks, (parity + d) mod (D + 1), forwarding only
    within a bank; every cycle equal to the twin and the state to the golden arithmetic."""
    chip = scenario_chip(CoreConfig(neurons=16, axons=16, synapses=64, fanout=64, profiles=2,
                                    max_delay=max_delay))  # fmt: skip
    rng = np.random.default_rng(seed)
    img = random_image(chip, rng, hazard_p=0.6)
    ticks = max_delay + 5
    inputs = [np.flatnonzero(r).tolist() for r in random_inputs(rng, ticks, 16, 0.4)]
    want = golden_ticks(chip, img, inputs)
    # a leftover in every bank, so each is read in its own tick
    acc = [(config_addr(chip, Region.ACC, i), (i * 37 - 200) & 0xFFFFFF)
           for i in range(16 * chip.core.acc_banks)]  # fmt: skip

    async def body(ls, ctx):
        await ls.configure(ctx, core_config_writes(chip, img) + acc)
        for t, ev in enumerate(inputs):
            await ls.tick(ctx, ev)
            if t % 3 == 2 or t == ticks - 1:
                await ls.read_back(ctx)

    ls = run(chip, body, seed=seed, bp=bp)
    # the golden arithmetic without the leftovers differs: they were integrated
    assert ls.reads[-1] != (want[-1][2], want[-1][3])
    m = CoreModel(chip, x=TILE[0], y=TILE[1], image=img)
    for a, dt in acc:
        m.config_write(a, dt)
    for t, ev in enumerate(inputs):
        _, flits = m.tick(ev, loopback=True)
        assert ls.ticks[t][1] == flits, f"tick {t}: flits"
    assert ls.reads[-1] == tuple(x.tolist() for x in m.state()[:2])


# ---- each memory through the config path ------------------------------------------


def test_config_every_region():
    """Every region is written through i_config and observed in behaviour or read-back."""
    chip = scenario_chip(SMALL)
    img = random_image(chip, np.random.default_rng(7))
    writes = core_config_writes(chip, img)
    nl = neuron_layout(chip.core)
    # A leftover accumulator (written through the ACC region) must enter u at tick 0.
    acc = [(config_addr(chip, Region.ACC, i), (i * 37 - 200) & 0xFFFFFF) for i in range(16)]

    async def body(ls, ctx):
        await ls.configure(ctx, writes + acc)
        us, vs = await ls.read_back(ctx)
        assert us == img.u0.tolist() and vs == img.v0.tolist()
        # overwrite neuron 3's state word and read it back
        await ls.configure(
            ctx, [(config_addr(chip, Region.NEURON, 3), nl.pack(u=-5, v=1234, ref=0, profile=0))]
        )
        us, vs = await ls.read_back(ctx)
        assert (us[3], vs[3]) == (-5, 1234)
        await ls.tick(ctx, [])
        us, _ = await ls.read_back(ctx)
        m = CoreModel(chip, x=1, y=0, image=img)
        for a, dt in [
            *acc[:16],
            (config_addr(chip, Region.NEURON, 3), nl.pack(u=-5, v=1234, ref=0, profile=0)),
        ]:
            m.config_write(a, dt)
        m.tick([])
        assert us == m.state()[0].tolist()

    run(chip, body)


# ---- neuron rules through the datapath ---------------------------------------------


@pytest.mark.parametrize("reset", [0, 1], ids=["zero", "subtract"])
def test_neuron_rules(reset):
    """Wrap of u, saturation of v, strict threshold, refractory, rounding toward zero; every
    profile with zero reset, then every profile with subtract reset."""
    core = CoreConfig(neurons=16, axons=16, synapses=16, fanout=16, profiles=4)
    chip = scenario_chip(core)
    img = CoreImage.empty(core)
    img.profiles = np.array(
        [
            [0, 0, 100, 0, 0, 0, reset],  # no decay, threshold 6400
            [4095, 4095, 131071, 4095, 7, 0, reset],  # full decay, max bias, huge threshold
            [1000, 3000, 0, -4096, 7, 3, reset],  # refractory 3, threshold 0
            [7, 11, 50, -1, 0, 0, reset],
        ]
    )
    img.profile_idx = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 0, 1, 2, 3])
    top = (1 << 23) - 1
    img.u0 = np.array(
        [top, -top - 1, 6400, 0, top, 5, 70000, -70000, -1, -4097, 4097, 1, 6400, -top, 0, 123457]
    )
    img.v0 = np.array([top, -top, 0, top, -top, 0, 0, 1, -1, -4097, 4097, 9999, 1, 0, top, -5])
    img.axon_len = np.array([2] + [0] * 15)
    img.axon_exp = np.array([7] + [0] * 15)
    img.syn_target = np.array([0, 0] + [0] * 14)
    img.syn_weight = np.array([127, 127] + [0] * 14)
    img.check(chip)
    inputs = [[0], [0, 0], [], [], [], []]
    params = img.profiles[img.profile_idx]

    async def body(ls, ctx):
        await ls.configure(ctx, core_config_writes(chip, img))
        u, v = img.u0.astype(np.int64), img.v0.astype(np.int64)
        ref = np.zeros(16, dtype=np.int64)
        a = np.zeros(16, dtype=np.int64)
        for t, ev in enumerate(inputs):
            await ls.tick(ctx, ev)
            us, vs = await ls.read_back(ctx)
            u, v, ref, _ = lif_update(u, v, ref, a, params)
            assert (us, vs) == (u.tolist(), v.tolist()), f"tick {t}"
            a = np.zeros(16, dtype=np.int64)
            a[0] = 2 * 127 * 128 * len(ev)

    run(chip, body, bp=0.3)


# ---- hazards and backpressure ---------------------------------------------------------


def test_hazard_same_target():
    """Back-to-back synapses (and events) on one neuron: every one is accumulated."""
    core = CoreConfig(neurons=16, axons=16, synapses=64, fanout=16, profiles=1)
    chip = scenario_chip(core)
    img = CoreImage.empty(core)
    img.profiles = np.array([[4095, 0, 131071, 0, 0, 0, 0]])  # u = a << 6 exactly, never spikes
    img.syn_target = np.array([5] * 8 + [5, 6, 5, 6, 5, 5, 7, 5])
    img.syn_weight = np.arange(1, 17)
    img.axon_base = np.array([0, 8, 15, 0] + [0] * 12)
    img.axon_len = np.array([8, 8, 1, 1] + [0] * 12)
    img.axon_exp = np.array([0, 1, 2, 3] + [0] * 12)
    img.check(chip)
    events = [0, 1, 2, 2, 3, 0, 2]

    async def body(ls, ctx):
        await ls.configure(ctx, core_config_writes(chip, img))
        await ls.tick(ctx, events)
        await ls.tick(ctx, [])
        us, _ = await ls.read_back(ctx)
        a = np.zeros(16, dtype=np.int64)
        for ev in events:
            b, n, e = img.axon_base[ev], img.axon_len[ev], img.axon_exp[ev]
            np.add.at(a, img.syn_target[b : b + n], img.syn_weight[b : b + n] << e)
        assert us == (a << 6).tolist()
        # one synapse per cycle, no stall: 28 synapses + 4 (docs/timing.md), longer
        # than the update loop's N + 7
        assert ls.ticks[0][0] == 28 + 4
        assert ls.ticks[1][0] == core.neurons + 7

    run(chip, body)


def test_backpressure_holds_flits():
    """With o_flit stalled for long stretches, every flit comes out once, in order."""
    chip = scenario_chip(SMALL)
    rng = np.random.default_rng(11)
    img = random_image(chip, rng, fan_max=4, host_p=0.8)
    img.profiles[:, 2] = 0  # threshold 0: most neurons spike
    img.profiles[:, 5] = 0
    inputs = [[], [], []]
    want = golden_ticks(chip, img, inputs)

    async def body(ls, ctx):
        await ls.configure(ctx, core_config_writes(chip, img))
        for t, ev in enumerate(inputs):
            await ls.tick(ctx, ev)
            assert ls.ticks[t][1] == want[t][1]
        assert sum(len(f) for _, f in ls.ticks) > 20

    run(chip, body, seed=5, bp=0.9)


def test_boundary_is_moore():
    """i_event/i_config/i_read ready ignore their valid; o_flit/o_read outputs ignore ready."""
    chip = scenario_chip(SMALL)
    rng = np.random.default_rng(21)
    img = random_image(chip, rng, fan_max=4, host_p=0.8)
    img.profiles[:, 2] = 0
    events = rng.integers(0, 16, 40).tolist()
    checked = []

    async def body(ls, ctx):
        d = ls.dut
        await ls.configure(ctx, core_config_writes(chip, img))
        queue = list(events)
        for cyc in range(150):
            o = ls.outputs(ctx)
            # Toggle every input that must not reach an output combinationally.
            before = [
                ctx.get(s)
                for s in (
                    d.i_event.ready,
                    d.i_config.ready,
                    d.i_read.ready,
                    d.o_flit.valid,
                    d.o_flit.payload.as_value(),
                    d.o_read.valid,
                    d.done,
                    d.idle,
                )
            ]
            for sig in (
                d.i_event.valid,
                d.i_config.valid,
                d.i_read.valid,
                d.o_flit.ready,
                d.o_read.ready,
            ):
                ctx.set(sig, 1)
                after1 = [
                    ctx.get(s)
                    for s in (
                        d.i_event.ready,
                        d.i_config.ready,
                        d.i_read.ready,
                        d.o_flit.valid,
                        d.o_flit.payload.as_value(),
                        d.o_read.valid,
                        d.done,
                        d.idle,
                    )
                ]
                ctx.set(sig, 0)
                assert after1 == before, f"cycle {cyc}: {sig.name} reaches an output"
            checked.append(cyc)
            ev = bool(queue)
            head = queue[0] if ev else 0
            if ev and o["event_ready"]:
                queue.pop(0)
            await ls.step(
                ctx,
                event_valid=int(ev),
                event=head,
                flit_ready=int(rng.random() < 0.5),
                start=int(cyc == 0),
            )

    run(chip, body)
    assert len(checked) == 150


# ---- decay factors kept beside the profile memory ------------------------------------------


def test_profile_rewrite_and_index_alias():
    """The decay factors (4095 - du, 4096 - dv) live in registers written with the profile
    word: a profile rewritten between ticks, and written through an index above the table's
    depth (the RTL keeps the low bits, like the memory), behave as the model says."""
    chip = scenario_chip(SMALL)  # 2 profiles: index 3 aliases profile 1
    rng = np.random.default_rng(7)
    img = random_image(chip, rng)
    img.profiles[:, 2] = 131071  # never spike: compare the decays alone
    prof = profile_layout()
    ib = config_index_bits(chip)

    def write(index, du, dv):
        addr = (int(Region.PROFILE) << ib) | index
        data = prof.pack(du=du, dv=dv, vth=131071, bias_mant=0, bias_exp=0, refractory=0, reset=0)
        return (addr, data)

    async def body(ls, ctx):
        await ls.configure(ctx, core_config_writes(chip, img))
        for writes in ([write(0, 4095, 0), write(3, 0, 4095)], [write(1, 17, 4000)], []):
            await ls.configure(ctx, writes)
            await ls.tick(ctx, [])
            await ls.read_back(ctx)  # checked against the model in every cycle
        assert ls.model.profile_mem[1][:2] == (17, 4000)

    run(chip, body)


# ---- the environment's contract, asserted ---------------------------------------------------


def _start_violation(case, *, legal=False):
    """Drive the core into a start pulse that breaks rule 1 of docs/core.md (or, with
    ``legal``, the same sequence one step later, when it is allowed)."""
    chip = scenario_chip(SMALL)
    dut = Core(chip, x=1, y=0)

    async def tb(ctx):
        if case == "running":
            ctx.set(dut.start, 1)  # held for a second cycle: the loop is running then
            await ctx.tick()
            if legal:
                ctx.set(dut.start, 0)
                while not ctx.get(dut.done):
                    await ctx.tick()
                ctx.set(dut.start, 1)
        elif case == "event":
            ctx.set(dut.i_event.valid, 1)  # an empty row still passes AX for a cycle
            await ctx.tick()
            ctx.set(dut.i_event.valid, 0)
            if legal:
                while not ctx.get(dut.idle):
                    await ctx.tick()
            ctx.set(dut.start, 1)
        else:  # a read-back answer left waiting on o_read
            ctx.set(dut.i_read.valid, 1)
            await ctx.tick()
            ctx.set(dut.i_read.valid, 0)
            if legal:
                ctx.set(dut.o_read.ready, 1)
                await ctx.tick()
                ctx.set(dut.o_read.ready, 0)
            ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick()

    run_sim(dut, tb)


START_RULES = {
    "running": r"Core \(1, 0\): start pulsed while the update loop of the previous start is "
    r"still running \(done = 0\)",
    "event": r"Core \(1, 0\): start pulsed while an accepted event is still inside the event "
    r"pipeline \(idle = 0\)",
    "read": r"Core \(1, 0\): start pulsed while a read-back answer waits on o_read",
}


@pytest.mark.parametrize("case", sorted(START_RULES))
def test_start_contract_asserted(case):
    with pytest.raises(AssertionError, match=START_RULES[case]):
        _start_violation(case)


@pytest.mark.parametrize("case", sorted(START_RULES))
def test_start_contract_legal_sequence_passes(case):
    _start_violation(case, legal=True)
