"""STDP in the core (docs/learning.md "Hardware plan"): rtl/core.py::Core with learning
profiles in cycle lockstep with sim/core.py::CoreModel, and the weights and traces both
leave checked against spikemesh/plasticity.py's rule for the same pre and post spikes."""

import numpy as np
import pytest
from spikemesh.sim import core_learn
from spikemesh.sim.core import CoreModel

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.coreimage import CoreImage
from spikemesh.layouts import (
    Region,
    config_addr,
    core_config_writes,
    learning_config_writes,
    region_layouts,
)
from spikemesh.plasticity import (
    PlasticArrays,
    commit_trace,
    decay_trace,
    stdp_tick,
)
from tb.core.scenarios import TILE, random_image
from tests.rtl.test_core import Lockstep, run

LCORE = CoreConfig(neurons=16, axons=16, synapses=64, fanout=64, profiles=2, learning_profiles=2)
LCHIP = ChipConfig(width=2, height=2, core=LCORE)


def random_learning(chip, img, rng, *, plastic_p=0.7):
    """Learning state for ``img`` that the rule allows: a plastic synapse lies in one axon's
    row and its profile is its axon's and its target's (one pre trace per axon, one post
    trace per neuron: their inc / decay must be the synapse profile's), its weight within
    the profile's bounds (``img``'s weights are clipped into them)."""
    c = chip.core
    lp = []
    for _ in range(c.learning_profiles):
        w_min = int(rng.choice([-128, int(rng.integers(-128, 0))]))
        w_max = int(rng.choice([127, int(rng.integers(0, 128))]))
        lp.append(
            [
                int(rng.integers(0, 128)),  # a_plus
                int(rng.integers(0, 8)),
                int(rng.integers(0, 128)),  # a_minus
                int(rng.integers(0, 8)),
                int(rng.integers(0, 128)),  # pre_inc
                int(rng.integers(100, 256)),
                int(rng.integers(0, 128)),  # post_inc
                int(rng.integers(100, 256)),
                w_min,
                w_max,
            ]
        )
    ax_lp = rng.integers(0, c.learning_profiles, c.axons)
    n_lp = rng.integers(0, c.learning_profiles, c.neurons)
    owners = {}
    for a in range(c.axons):
        for k in range(int(img.axon_base[a]), int(img.axon_base[a]) + int(img.axon_len[a])):
            owners.setdefault(k, []).append(a)
    m = c.synapses
    plastic = np.zeros(m, dtype=np.int64)
    syn_lp = np.zeros(m, dtype=np.int64)
    w = img.syn_weight.copy()
    for k, axons in owners.items():
        if k >= len(w) or len(axons) != 1:
            continue
        a, t = axons[0], int(img.syn_target[k])
        full = plastic.sum() == c.reverse_depth  # the reverse index holds no more
        if ax_lp[a] == n_lp[t] and rng.random() < plastic_p and not full:
            plastic[k], syn_lp[k] = 1, ax_lp[a]
            p = lp[ax_lp[a]]
            w[k] = min(max(int(w[k]), p[8]), p[9])
    img.syn_weight[:] = w
    pre = [(int(rng.integers(0, 128)), 0, int(x)) for x in ax_lp]
    post = [(int(rng.integers(0, 128)), 0, int(x)) for x in n_lp]
    return {
        "lprofiles": lp,
        "syn_plastic": plastic,
        "syn_lprofile": syn_lp,
        "pre": pre,
        "post": post,
        "owner": {k: v[0] for k, v in owners.items() if len(v) == 1},
    }


def load_writes(chip, img, learn):
    kw = {k: learn[k] for k in ("lprofiles", "syn_plastic", "syn_lprofile", "pre", "post")}
    return core_config_writes(chip, img) + learning_config_writes(chip, image=img, **kw)


# ---- the rule, from spikemesh/plasticity.py, for the spikes the core saw ------------------


def reference(chip, img, learn, ticks, *, potentiation_first=False):
    """Weights, pre and post traces after ``ticks`` [(axons with an event, spiking neurons)]
    by spikemesh.plasticity's stdp_tick / decay_trace / commit_trace."""
    c = chip.core
    m = len(img.syn_target)
    lp = np.array(learn["lprofiles"], dtype=np.int64)
    plastic = learn["syn_plastic"][:m].astype(bool)
    prof = np.where(plastic[:, None], lp[learn["syn_lprofile"][:m]], 0)
    pre_id = np.array([learn["owner"].get(k, 0) for k in range(m)], dtype=np.int64)
    post_id = img.syn_target.astype(np.int64)
    ax_lp = np.array([p[2] for p in learn["pre"]])
    n_lp = np.array([p[2] for p in learn["post"]])
    pa = PlasticArrays(
        plastic, prof, lp[ax_lp, 4], lp[ax_lp, 5], lp[n_lp, 6], lp[n_lp, 7]
    )  # fmt: skip
    w = img.syn_weight.astype(np.int64).copy()
    x_pre = np.array([p[0] for p in learn["pre"]], dtype=np.int64)
    x_post = np.array([p[0] for p in learn["post"]], dtype=np.int64)
    for axons, spikes in ticks:
        fired = np.zeros(c.axons, dtype=bool)
        fired[list(axons)] = True
        spk = np.zeros(c.neurons, dtype=bool)
        spk[list(spikes)] = True
        d_pre, d_post = decay_trace(x_pre, pa.pre_decay), decay_trace(x_post, pa.post_decay)
        if potentiation_first:  # a deliberately wrong order
            w0 = w.copy()
            pot = plastic & spk[post_id]
            a_p, s_p = prof[:, 0], prof[:, 1]
            w[pot] = np.minimum(w0[pot] + ((a_p[pot] * d_pre[pre_id[pot]]) >> s_p[pot]),
                                prof[pot, 9])  # fmt: skip
            dep = plastic & fired[pre_id]
            a_m, s_m = prof[:, 2], prof[:, 3]
            w[dep] = np.maximum(w[dep] - ((a_m[dep] * d_post[post_id[dep]]) >> s_m[dep]),
                                prof[dep, 8])  # fmt: skip
        else:
            stdp_tick(w, pre_id, post_id, pa, d_pre, d_post, fired, spk)
        x_pre = commit_trace(d_pre, pa.pre_inc, fired)
        x_post = commit_trace(d_post, pa.post_inc, spk)
    return w, x_pre, x_post


# ---- lockstep driver ------------------------------------------------------------------------


class LearnLockstep(Lockstep):
    """Lockstep with the events and spikes of each tick recorded, and the memories of both
    read at the end."""

    def __init__(self, chip, **kw):
        super().__init__(chip, **kw)
        self.seen = []  # per tick: (axons accepted, neurons in HOST_OUT flits)

    def outputs(self, ctx):
        o = super().outputs(ctx)
        d, m = self.dut, self.model.outputs()
        o["lread_ready"] = ctx.get(d.i_lread.ready)
        o["lread_valid"] = ctx.get(d.o_lread.valid)
        assert (o["lread_ready"], o["lread_valid"]) == (m.lread_ready, m.lread_valid), (
            f"cycle {self.cycle}: lread"
        )
        if o["lread_valid"]:
            o["lread_data"] = ctx.get(d.o_lread.payload)
            assert o["lread_data"] == m.lread_data, f"cycle {self.cycle}: lread data"
        return o

    async def step(self, ctx, **inp):
        d = self.dut
        ctx.set(d.i_lread.valid, inp.get("lread_valid", 0))
        ctx.set(d.i_lread.payload, inp.get("lread_addr", 0))
        ctx.set(d.o_lread.ready, inp.get("lread_ready", 0))
        ctx.set(d.learn_only, inp.get("learn_only", 0))
        await super().step(ctx, **inp)

    async def flush(self, ctx):
        """One ``start`` with ``learn_only`` (the host link's LEARN_FLUSH); its cycles."""
        cyc = 0
        while True:
            o = self.outputs(ctx)
            if cyc and o["done"] and o["idle"]:
                return cyc
            await self.step(ctx, start=int(cyc == 0), learn_only=1, flit_ready=1, parity=1)
            cyc += 1

    async def lread(self, ctx, region, *, ready_p=0.7):
        """Every word of ``region`` through i_lread / o_lread (random o_lread.ready)."""
        lay, depth = region_layouts(self.chip)[region]
        words, i = [], 0
        while len(words) < depth:
            o = self.outputs(ctx)
            rdy = int(self.rng.random() < ready_p)
            if o["lread_valid"] and rdy:
                words.append(lay.unpack(o["lread_data"]))
            take = i < depth and o["lread_ready"]
            addr = config_addr(self.chip, region, min(i, depth - 1))
            await self.step(ctx, lread_valid=int(i < depth), lread_addr=addr, lread_ready=rdy)
            i += int(take)
        return words

    async def learn_tick(self, ctx, events, *, loopback=False, late=()):
        """A tick, then ``late`` events offered after its ``done`` and before the next
        start (a chip's events from other tiles can arrive then): still tick t's."""
        n0 = len(self.ticks)
        await self.tick(ctx, events, loopback=loopback)
        k = 0
        while True:
            o = self.outputs(ctx)
            if k == len(late) and o["idle"]:
                break
            ev = k < len(late)
            take = ev and o["event_ready"]
            await self.step(ctx, event_valid=int(ev), event=late[k] if ev else 0, flit_ready=1)
            k += int(take)
        events = [*events, *late]
        flits = self.ticks[n0][1]
        fo = self.model._fo
        host = [f for f in flits if (f >> fo["kind"]) & 1]
        nb = self.chip.core.neuron_bits
        spikes = {(f >> fo["payload"]) & ((1 << nb) - 1) for f in host}
        self.seen.append((set(events), spikes))

    def rtl_memory(self, ctx, name, region=None):
        mem = self.dut.memories[name]
        raw = [ctx.get(mem.data[i].as_value()) if region else ctx.get(mem.data[i])
               for i in range(mem.depth)]  # fmt: skip
        if region is None:
            return raw
        lay = region_layouts(self.chip)[region][0]
        return [lay.unpack(r) for r in raw]

    async def compare_memories(self, ctx):
        """Every learning memory and the synapse memory: RTL == twin, and read back through
        o_lread (the trace words with their fired bits)."""
        md = self.model
        assert await self.lread(ctx, Region.SYNAPSE) == [w._asdict() for w in md.synapse_mem]
        for region, mem, fired in (
            (Region.PRETRACE, md.pre_mem, md.pre_fired_mem),
            (Region.POSTTRACE, md.post_mem, md.post_fired_mem),
        ):
            words = await self.lread(ctx, region)
            assert words == [dict(w._asdict(), fired=f) for w, f in zip(mem, fired, strict=True)]
        for name, region, twin in (
            ("synapse_mem", Region.SYNAPSE, md.synapse_mem),
            ("pre_mem", Region.PRETRACE, md.pre_mem),
            ("post_mem", Region.POSTTRACE, md.post_mem),
        ):
            assert self.rtl_memory(ctx, name, region) == [w._asdict() for w in twin], name
        assert self.rtl_memory(ctx, "pre_fired_mem") == md.pre_fired_mem
        assert self.rtl_memory(ctx, "post_fired_mem") == md.post_fired_mem


def learning_image(chip, rng, *, host_all=False, **kw):
    img = random_image(chip, rng, **kw)
    # disjoint rows (random_image's overlap; a plastic synapse belongs to one axon)
    s, k = len(img.syn_target), 0
    for a in rng.permutation(chip.core.axons):
        n = min(int(img.axon_len[a]), s - k)
        img.axon_base[a], img.axon_len[a] = (k if n else 0), n
        k += n
    if host_all:  # every spike leaves as a HOST_OUT flit: the test sees the post spikes
        img.host_out[:] = True
    return img


def learned(ls):
    md = ls.model
    w = np.array([s.weight for s in md.synapse_mem], dtype=np.int64)
    return w, np.array([p.x for p in md.pre_mem]), np.array([p.x for p in md.post_mem])


# ---- tests ----------------------------------------------------------------------------------


def _events(rng, chip, rate):
    a = chip.core.axons
    return [int(x) for x in np.flatnonzero(rng.random(a) < rate)]


DELAYS = ChipConfig(width=2, height=2, counter_bits=16, core=CoreConfig(
    neurons=16, axons=32, synapses=64, fanout=64, profiles=2, max_delay=3, learning_profiles=1,
    reverse_entries=32))  # fmt: skip


@pytest.mark.parametrize(("seed", "chip"), [(1, LCHIP), (2, LCHIP), (7, LCHIP), (9, DELAYS)])
def test_lockstep_random(seed, chip):
    """Random images with recurrent (loopback) events, repeated axons in a tick, random
    backpressure: every boundary output equal every cycle, and at the end every learning
    memory and the synapse memory equal, and the neurons read back equal."""
    rng = np.random.default_rng(seed)
    img = learning_image(chip, rng)
    learn = random_learning(chip, img, rng)
    writes = load_writes(chip, img, learn)

    async def body(ls, ctx):
        await ls.configure(ctx, writes)
        for _ in range(25):
            ev = _events(rng, chip, 0.3)
            ev += [int(x) for x in rng.choice(ev, size=min(2, len(ev)))] if ev else []
            await ls.tick(ctx, ev, loopback=True)
        await ls.tick(ctx, [])
        await ls.compare_memories(ctx)
        await ls.read_back(ctx)

    ls = run(chip, body, seed=seed, bp=0.3, cls=LearnLockstep)
    w0 = img.syn_weight
    w = np.array([s.weight for s in ls.model.synapse_mem[: len(w0)]])
    assert (w != w0).any()  # something was learnt
    assert any(p.x != q[0] for p, q in zip(ls.model.pre_mem, learn["pre"], strict=True))


def _rule_run(chip, img, learn, inputs, *, seed=0, late_p=0.0):
    writes = load_writes(chip, img, learn)
    rng = np.random.default_rng(seed + 100)

    async def body(ls, ctx):
        await ls.configure(ctx, writes)
        for ev in inputs:
            cut = len(ev) - int(rng.binomial(len(ev), late_p))
            await ls.learn_tick(ctx, ev[:cut], late=ev[cut:])
        await ls.learn_tick(ctx, [])  # the next start learns the last tick
        await ls.compare_memories(ctx)

    return run(chip, body, seed=seed, cls=LearnLockstep)


@pytest.mark.parametrize("seed", [3, 4, 5, 6])
def test_rule_random(seed):
    """A random core, host inputs only (one event per axon and tick), every spike seen as a
    HOST_OUT flit: the weights and traces the core (RTL and twin) holds after the ticks
    equal spikemesh.plasticity's rule for the events it took and the spikes it made."""
    rng = np.random.default_rng(seed)
    img = learning_image(LCHIP, rng, host_all=True, fan_max=1)
    img.profiles[:, 2] = rng.integers(0, 400, len(img.profiles))  # low thresholds: spikes
    learn = random_learning(LCHIP, img, rng, plastic_p=0.9)
    inputs = [_events(rng, LCHIP, 0.35) for _ in range(30)]
    for ev in inputs:
        rng.shuffle(ev)
    # seeds 5, 6: about a third of each tick's events arrive after its done (between ticks)
    ls = _rule_run(LCHIP, img, learn, inputs, seed=seed, late_p=0.35 if seed >= 5 else 0.0)
    assert sum(len(s) for _, s in ls.seen) > 5  # the neurons fire
    w, x_pre, x_post = reference(LCHIP, img, learn, ls.seen[:-1])
    cw, cx_pre, cx_post = learned(ls)
    m = len(w)
    assert (cw[:m] == w).all(), np.flatnonzero(cw[:m] != w)
    assert (cx_pre == x_pre).all() and (cx_post == x_post).all()
    assert (w != img.syn_weight).any()


def _hand_core():
    """Neuron 0 of a 16-neuron core: axon 0's plastic synapse (w 20) and axon 1's drive
    (127 << 3: neuron 0 fires in the tick after an event on axon 1)."""
    chip = LCHIP
    c = chip.core
    n, a = c.neurons, c.axons
    z = np.zeros
    img = CoreImage(
        profiles=np.array([[4095, 4095, 100, 0, 0, 0, 0]], dtype=np.int64),
        profile_idx=z(n, dtype=np.int64),
        u0=z(n, dtype=np.int64),
        v0=z(n, dtype=np.int64),
        axon_base=np.array([0, 1] + [0] * (a - 2)),
        axon_len=np.array([1, 1] + [0] * (a - 2)),
        axon_exp=np.array([0, 3] + [0] * (a - 2)),
        axon_delay=np.ones(a, dtype=np.int64),
        syn_target=np.array([0, 0]),
        syn_weight=np.array([20, 127]),
        fan_base=z(n, dtype=np.int64),
        fan_len=z(n, dtype=np.int64),
        fan_x=z(0, dtype=np.int64),
        fan_y=z(0, dtype=np.int64),
        fan_axon=z(0, dtype=np.int64),
        host_out=np.ones(n, dtype=bool),
    )
    # docs/learning.md, "both updates in one tick": a+ 32 >> 4, a- 16 >> 4, pre 64 / 190,
    # post 64 / 170, w_min -50, w_max 25
    prof = [32, 4, 16, 4, 64, 190, 64, 170, -50, 25]
    learn = {
        "lprofiles": [prof, prof],
        "syn_plastic": np.array([1, 0] + [0] * (c.synapses - 2)),
        "syn_lprofile": z(c.synapses, dtype=np.int64),
        "pre": [(0, 0, 0)] * a,
        "post": [(0, 0, 0)] * n,
        "owner": {0: 0, 1: 1},
    }
    return chip, img, learn


def test_rule_hand_computed():
    """docs/learning.md's "both updates in one tick": pre events at 3 and 5, post spikes at
    2 and 5, w 20 -> -22 at tick 3 -> 25 at tick 5 (depression, then potentiation clamped);
    potentiation first would give 8. Traces: X_pre(5) = decay^2(64) + 64 by 190, X_post(5)
    likewise by 170."""
    chip, img, learn = _hand_core()
    inputs = [[], [1], [], [0], [1], [0], []]  # drive at 1, 4 -> spikes at 2, 5
    ls = _rule_run(chip, img, learn, inputs)
    assert [sorted(s) for _, s in ls.seen[:-1]] == [[], [], [0], [], [], [0], []]
    w, x_pre, x_post = learned(ls)
    assert w[0] == 25 and w[1] == 127
    ref_w, ref_pre, ref_post = reference(chip, img, learn, ls.seen[:-1])
    assert ref_w[0] == 25 and (w[:2] == ref_w).all()
    assert (x_pre == ref_pre).all() and (x_post == ref_post).all()
    d = (((64 * 190) >> 8) * 190) >> 8  # X_pre(3) = 64, decayed to tick 5
    assert x_pre[0] == (min(d + 64, 127) * 190) >> 8  # X_pre(5) = D(5) + 64, then tick 6
    wrong, _, _ = reference(chip, img, learn, ls.seen[:-1], potentiation_first=True)
    assert wrong[0] == 8 != w[0]


def test_wrong_twin_is_caught(monkeypatch):
    """A twin whose trace commit does not saturate fails the lockstep against the RTL."""
    monkeypatch.setattr(core_learn, "commit", lambda d, inc: d + inc)
    rng = np.random.default_rng(5)
    img = learning_image(LCHIP, rng)
    learn = random_learning(LCHIP, img, rng)
    learn["pre"] = [(127, 0, p[2]) for p in learn["pre"]]
    learn["lprofiles"] = [[*p[:4], 127, 255, 127, 255, *p[8:]] for p in learn["lprofiles"]]
    with pytest.raises(AssertionError, match=r"synapse_mem|pre_mem|post_mem|cycle"):
        _rule_run(LCHIP, img, learn, [_events(rng, LCHIP, 0.5) for _ in range(3)])


def test_learning_phase_cycles():
    """The learning phase delays a tick's ``done`` by exactly N + A + 5 cycles, plus one per
    reverse-index entry of each neuron that fired in the tick before, plus one when neuron
    N - 1 walked a row (docs/learning.md "Hardware plan"); the first tick has none. Measured
    on the twin (test_lockstep_random holds RTL == twin every cycle) against the same core
    without learning, whose weights the zero amplitudes keep equal."""
    rng = np.random.default_rng(8)
    img = learning_image(LCHIP, rng, host_all=True, fan_max=1)
    img.profiles[:, 2] = rng.integers(0, 300, len(img.profiles))
    learn = random_learning(LCHIP, img, rng, plastic_p=1.0)
    for p in learn["lprofiles"]:
        p[0] = p[2] = 0  # a_plus = a_minus = 0: the weights stay
    c = LCHIP.core
    plain = ChipConfig(width=2, height=2, core=CoreConfig(
        neurons=16, axons=16, synapses=64, fanout=64, profiles=2))  # fmt: skip
    a = CoreModel(LCHIP, x=TILE[0], y=TILE[1])
    for addr, data in load_writes(LCHIP, img, learn):
        a.config_write(addr, data)
    b = CoreModel(plain, x=TILE[0], y=TILE[1], image=img)
    row = [w.len for w in a.revptr_mem]
    fired, walked = [], 0
    for t in range(20):
        ev = _events(rng, LCHIP, 0.1)
        ca, fa = a.run_tick(ev)
        cb, fb = b.run_tick(ev)
        assert fa == fb
        extra = 0
        if t:
            extra = c.neurons + c.axons + 5 + sum(row[i] for i in fired)
            extra += int((c.neurons - 1) in fired and row[c.neurons - 1] > 0)
            walked += sum(row[i] > 0 for i in fired)
        assert ca - cb == extra, t
        fo = a._fo
        fired = [(f >> fo["payload"]) & (c.neurons - 1) for f in fa if (f >> fo["kind"]) & 1]
    assert walked > 3


def test_learn_only_flush():
    """``learn_only`` with ``start`` (RTL == twin every cycle): the last tick's learning
    without another tick, in N + A + 5 + entries (+1) + 2 cycles, no flit, the bank kept;
    a second flush has nothing pending (2 cycles); the next tick has no phase. The learned
    state equals the rule's for every tick run, and ticks run after a flush learn on."""
    rng = np.random.default_rng(11)
    img = learning_image(LCHIP, rng, host_all=True, fan_max=1)
    img.profiles[:, 2] = rng.integers(0, 400, len(img.profiles))
    learn = random_learning(LCHIP, img, rng, plastic_p=0.9)
    inputs = [_events(rng, LCHIP, 0.35) for _ in range(16)]
    writes = load_writes(LCHIP, img, learn)
    c = LCHIP.core
    got = {}

    async def body(ls, ctx):
        await ls.configure(ctx, writes)
        got["row"] = [w.len for w in ls.model.revptr_mem]
        for ev in inputs[:8]:
            await ls.learn_tick(ctx, ev)
        fired = sorted(ls.seen[-1][1])
        n0 = len(ls.ticks)
        got["flush"] = await ls.flush(ctx), fired
        got["again"] = await ls.flush(ctx)
        got["mem1"] = learned(ls)
        await ls.compare_memories(ctx)
        for ev in inputs[8:]:
            await ls.learn_tick(ctx, ev)
        got["after"] = ls.ticks[n0][0]
        await ls.flush(ctx)
        await ls.compare_memories(ctx)

    ls = run(LCHIP, body, seed=11, cls=LearnLockstep)
    cyc, fired = got["flush"]
    row = got["row"]
    extra = sum(row[i] for i in fired) + int((c.neurons - 1) in fired and row[-1] > 0)
    assert cyc == c.neurons + c.axons + 5 + extra + 2
    assert got["again"] == 2
    assert sum(len(s) for _, s in ls.seen) > 5
    w, x_pre, x_post = reference(LCHIP, img, learn, ls.seen[:8])
    assert (got["mem1"][0][: len(w)] == w).all()
    assert (got["mem1"][1] == x_pre).all() and (got["mem1"][2] == x_post).all()
    w, x_pre, x_post = reference(LCHIP, img, learn, ls.seen)
    cw, cx_pre, cx_post = learned(ls)
    assert (cw[: len(w)] == w).all() and (cx_pre == x_pre).all() and (cx_post == x_post).all()
    # the tick after a flush has no learning phase: two twins, with and without the flush
    a, b = (CoreModel(LCHIP, x=TILE[0], y=TILE[1]) for _ in range(2))
    for md in (a, b):
        for addr, data in writes:
            md.config_write(addr, data)
        for ev in inputs[:8]:
            md.run_tick(ev)
    assert a.learn_flush() == cyc
    ca, fa = a.run_tick(inputs[8])
    cb, fb = b.run_tick(inputs[8])
    assert fa == fb and ca == got["after"] and cb - ca == cyc - 2


def test_functional_tick_refuses_a_learning_core():
    from spikemesh.errors import SpikemeshError

    with pytest.raises(SpikemeshError, match=r"CoreModel.tick \(functional mode\) does not learn"):
        CoreModel(LCHIP, x=0, y=0).tick()
