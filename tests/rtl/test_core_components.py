"""Each component of rtl/core.py::Core on Amaranth's simulator, in cycle lockstep with its
twin of the same name in sim/ (EventPipeline, UpdatePipeline, FanoutUnit).

The component runs alone: this testbench plays the rest of the core around it, with
seeded random stimuli (streams that obey the stream rules with random gaps and random
backpressure, a tick controller for the update loop) and models of the memories it
reaches through its ports (random contents; synchronous, non-transparent read ports;
writes applied). Every cycle the same inputs go to the RTL component and to the twin,
and every output of the component's signature is compared with the twin's attribute of
the same (Verilog) name: control outputs (valid, ready, en, idle, drained) always, an
address or data output whenever its port's ``en`` is high, a stream payload whenever its
``valid`` is high (the rest are don't-cares the twin does not keep). Coverage counters
check that the interesting cases happened; ``SPIKEMESH_LONG=1`` runs more seeds, longer.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.lib import data
from amaranth.lib.wiring import Out
from spikemesh.rtl.core_event import EventPipeline
from spikemesh.rtl.core_fanout import FanoutUnit
from spikemesh.rtl.core_update import UpdatePipeline
from spikemesh.sim import core_event, core_fanout, core_update
from spikemesh.sim.core_words import (
    AxonWord,
    FanoutWord,
    FanPtrWord,
    NeuronWord,
    ProfileWord,
    Spike,
    SynapseWord,
)

from spikemesh.config import ChipConfig, CoreConfig
from tb.core.scenarios import TILE
from tests.helpers import run_sim

CORE = CoreConfig(neurons=16, axons=16, synapses=64, fanout=64, profiles=4)
CHIPS = {
    "acc24": ChipConfig(width=2, height=2, core=CORE),
    "acc18": ChipConfig(
        width=3,
        height=2,
        core=CoreConfig(neurons=32, axons=32, synapses=64, fanout=32, acc_bits=18),
    ),
    "delay7": ChipConfig(
        width=2,
        height=2,
        core=CoreConfig(neurons=16, axons=16, synapses=64, fanout=64, profiles=4, max_delay=7),
    ),
}
CYCLES = 1500
LONG_CYCLES = 30_000


# ---- the generic lockstep ------------------------------------------------------------------


def _to_init(value, shape):
    """A twin's port value (int or named tuple) as ``ctx.set`` takes it for ``shape``."""
    if isinstance(value, tuple):  # (the twin's axon word has a delay field D = 1 lacks)
        members = shape.members
        return {f: _to_init(getattr(value, f), members[f]) for f in value._fields if f in members}
    if isinstance(shape, data.StructLayout):  # an accumulator word: the twin holds ``a``
        (field,) = shape.members
        return {field: value}
    return value


def _from_rtl(value, like):
    """An RTL value (int or ``data.Const``) in the twin's form ``like``."""
    if isinstance(like, tuple):
        return type(like)(*(_from_rtl(value[f], getattr(like, f)) for f in like._fields))
    if isinstance(value, data.Const):
        fields = list(value.shape().members)
        if len(fields) == 1:  # an accumulator word: the twin holds ``a``
            return value[fields[0]]
        return value.as_value().value  # a flit: the twin holds it packed
    return value


class Lockstep:
    """The RTL component ``dut`` and its twin, driven by ``bench`` (inputs, environment)."""

    def __init__(self, dut, twin, bench):
        self.dut, self.twin, self.bench = dut, twin, bench
        self.ins, self.outs = {}, {}
        for path, member, value in dut.signature.flatten(dut):
            name = "__".join(path)
            (self.outs if member.flow == Out else self.ins)[name] = value
        self.qualifier = {}
        for name in self.outs:
            port, _, leaf = name.rpartition("__")
            if leaf in ("addr", "data") and f"{port}__en" in self.outs:
                self.qualifier[name] = f"{port}__en"
            elif leaf == "payload" and f"{port}__valid" in self.outs:
                self.qualifier[name] = f"{port}__valid"
        # control outputs first: the qualified ones are compared when theirs is high
        self.order = sorted(self.outs, key=lambda name: name in self.qualifier)
        self.compared = dict.fromkeys(self.outs, 0)
        self.cycle = 0

    async def run(self, ctx, cycles):
        twin, bench = self.twin, self.bench
        for _ in range(cycles):
            inputs = bench.inputs()
            assert inputs.keys() == self.ins.keys()
            for name, v in inputs.items():
                port = self.ins[name]
                ctx.set(port, _to_init(v, port.shape()))
                setattr(twin, name, v)
            twin.comb()
            got = {}
            for name in self.order:
                port, q = self.outs[name], self.qualifier.get(name)
                if q is not None and not got[q]:
                    continue
                want = getattr(twin, name)
                rtl = _from_rtl(ctx.get(port), want)
                assert rtl == want, (
                    f"{type(self.dut).__name__}, cycle {self.cycle}: {name} RTL {rtl} twin {want}"
                )
                got[name] = rtl
                self.compared[name] += 1
            bench.after(got)
            twin.clock()
            self.cycle += 1
            await ctx.tick()


def run_lockstep(dut, twin, bench, cycles):
    ls = Lockstep(dut, twin, bench)

    async def tb(ctx):
        await ls.run(ctx, cycles)

    run_sim(dut, tb)
    # every output was compared, qualified ones while their port was active
    assert all(ls.compared.values()), {k: v for k, v in ls.compared.items() if not v}
    return ls


class ReadPort:
    """A memory's synchronous, non-transparent read port (the data register)."""

    def __init__(self, words, zero):
        self.words, self.data = words, zero

    def clock(self, addr, en):
        if en:
            self.data = self.words[addr]


class StreamSource:
    """Offers random payloads on a stream: random gaps; valid and payload held until taken."""

    def __init__(self, rng, make, rate):
        self.rng, self.make, self.rate = rng, make, rate
        self.valid, self.payload = 0, None
        self.taken = 0

    def step(self, ready):
        """Advance after a cycle in which ``ready`` was the sink's answer."""
        if self.valid and ready:
            self.valid, self.taken = 0, self.taken + 1
        if not self.valid and self.rng.random() < self.rate:
            self.valid, self.payload = 1, self.make()


class Backpressure:
    """A random ready with long stalls now and then."""

    def __init__(self, rng, p_ready):
        self.rng, self.p = rng, p_ready
        self.stall = 0

    def __call__(self):
        if self.stall:
            self.stall -= 1
            return 0
        if self.rng.random() < 0.01:
            self.stall = int(self.rng.integers(5, 40))
        return int(self.rng.random() < self.p)


def _signed(rng, bits, size=None):
    return rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size)


# ---- EventPipeline -------------------------------------------------------------------------


class EventBench:
    """Axon ids with random gaps; axon rows of 0..4 synapses (now and then up to 12) on a
    few targets, so same-target runs (the forwarding register) are frequent. On a core with
    delays the rows draw delay fields 0..1 (two banks, so runs of one target cross banks)
    and the accumulator is one memory per delay field, as the core's steering makes it:
    S1 reads the bank of ``acc_rp_delay``, S2 gets the data of the bank read the cycle
    before and writes the bank of ``acc_wp_delay``."""

    def __init__(self, chip, rng):
        c = chip.core
        self.rng = rng
        targets = min(c.neurons, 4)
        words = [
            AxonWord(
                int(rng.integers(0, c.synapses)),
                int(rng.integers(0, 13) if rng.random() < 0.15 else rng.integers(0, 5)),
                int(rng.integers(0, 8)),
            )
            for _ in range(c.axons)
        ]
        if c.delay_bits:
            words = [w._replace(delay=int(rng.integers(0, 2))) for w in words]
        self.axon = ReadPort(words, AxonWord(0, 0, 0))
        self.syn = ReadPort(
            [
                SynapseWord(int(rng.integers(0, targets)), int(_signed(rng, 8)))
                for _ in range(c.synapses)
            ],
            SynapseWord(0, 0),
        )
        self.banks = [
            ReadPort([int(v) for v in _signed(rng, c.acc_bits, c.neurons)], 0)
            for _ in range(2 if c.delay_bits else 1)
        ]
        self.acc = self.banks[0]  # the bank S2 reads: the one S1 read in the cycle before
        self.events = StreamSource(rng, lambda: int(rng.integers(0, c.axons)), 0.6)
        self.forwarded = 0
        self.cross_bank = 0  # consecutive writes of one target in different banks

    def inputs(self):
        return {
            "i_event__valid": self.events.valid,
            "i_event__payload": self.events.payload or 0,
            "axon_rp__data": self.axon.data,
            "syn_rp__data": self.syn.data,
            "acc_rp__data": self.acc.data,
        }

    def after(self, o):
        self.events.step(o["i_event__ready"])
        self.axon.clock(o.get("axon_rp__addr"), o["axon_rp__en"])
        self.syn.clock(o.get("syn_rp__addr"), o["syn_rp__en"])
        rb, wb = o.get("acc_rp_delay", 0), o.get("acc_wp_delay", 0)
        self.banks[rb].clock(o.get("acc_rp__addr"), o["acc_rp__en"])  # reads before the write
        if o["acc_wp__en"]:
            same = o["acc_rp__en"] and o["acc_rp__addr"] == o["acc_wp__addr"]
            self.forwarded += same and rb == wb
            self.cross_bank += same and rb != wb
            self.banks[wb].words[o["acc_wp__addr"]] = o["acc_wp__data"]
        self.acc = self.banks[rb]


def _event(chip, seed, cycles):
    rng = np.random.default_rng(seed)
    bench = EventBench(chip, rng)
    run_lockstep(EventPipeline(chip), core_event.EventPipeline(chip), bench, cycles)
    return bench


@pytest.mark.parametrize("name", list(CHIPS))
def test_event_pipeline(name):
    bench = _event(CHIPS[name], 1, CYCLES)
    assert bench.events.taken > 100 and bench.forwarded > 50
    if CHIPS[name].core.delay_bits:
        assert bench.cross_bank > 20


# ---- UpdatePipeline ------------------------------------------------------------------------


def _profile(rng, kind):
    """A random profile of one of three kinds: ``exact`` (no decay of v, u = a << 6, no
    bias: v lands exactly on the threshold), ``saturating`` (no decay of v, the largest
    bias) or ``random`` (thresholds low enough that neurons spike now and then)."""
    if kind == "exact":
        return ProfileWord(4095, 0, int(rng.integers(0, 1 << 16)), 0, 0, int(rng.integers(0, 3)))
    if kind == "saturating":
        bias = int(rng.choice([-4096, 4095]))
        return ProfileWord(int(rng.integers(0, 4096)), 0, (1 << 17) - 1, bias, 7, 0)
    return ProfileWord(
        int(rng.integers(0, 4096)),
        int(rng.integers(0, 4096)),
        int(rng.integers(0, 1 << 17) if rng.random() < 0.3 else rng.integers(0, 64)),
        int(_signed(rng, 13)),
        int(rng.integers(0, 8)),
        int(rng.integers(0, 16) if rng.random() < 0.5 else 0),
    )


KINDS = ("exact", "saturating")  # profiles 0 and 1; the others are random


class UpdateBench:
    """A tick controller (start, running until drained, random gaps), random states and
    profiles rewritten between ticks, random o_spike backpressure. Neurons of profile 0
    sit on their threshold +-1, those of profile 1 near +-(2^23 - 1)."""

    def __init__(self, chip, rng):
        c = chip.core
        self.c, self.rng = c, rng
        self.profile = ReadPort(
            [self._profile(k) for k in range(c.profiles)], self._profile(c.profiles - 1)
        )
        self.acc = ReadPort([int(v) for v in _signed(rng, c.acc_bits, c.neurons)], 0)
        self.state = ReadPort([NeuronWord(0, 0, 0, 0)] * c.neurons, NeuronWord(0, 0, 0, 0))
        for i in range(c.neurons):
            self._neuron(i)
        self.fanptr = ReadPort(
            [
                FanPtrWord(
                    int(rng.integers(0, c.fanout)),
                    int(rng.integers(0, 4)),
                    int(rng.random() < 0.5),
                )
                for _ in range(c.neurons)
            ],
            FanPtrWord(0, 0, 0),
        )
        self.ready = Backpressure(rng, 0.6)
        self.running = self.start = 0
        self.o_ready = 1
        self.ticks = self.stalls = self.spikes = self.on_threshold = self.saturated = 0

    def _profile(self, k):
        return _profile(self.rng, KINDS[k] if k < len(KINDS) else "random")

    def _neuron(self, i):
        """A new state (and input) for neuron ``i``, as a configuration write would."""
        rng = self.rng
        p = int(rng.integers(0, self.c.profiles))
        u = int(_signed(rng, 24))
        v = int(_signed(rng, 24) // (1 if rng.random() < 0.5 else 4096))
        ref = int(rng.integers(1, 16) if rng.random() < 0.2 else 0)
        a = int(_signed(rng, self.c.acc_bits))
        if p == 0:
            v, a = (self.profile.words[0].vth << 6) + int(rng.integers(-1, 2)), 0
        elif p == 1:
            v = int(rng.choice([-1, 1])) * ((1 << 23) - int(rng.integers(1, 1 << 19)))
        self.state.words[i] = NeuronWord(u, v, ref, p)
        self.acc.words[i] = a

    def inputs(self):
        s = self.state.data
        prm = self.profile.words[s.profile & (self.c.profiles - 1)]
        self.o_ready = self.ready()
        return {
            "start": self.start,
            "running": self.running,
            "state_rp__data": s,
            "fanptr_rp__data": self.fanptr.data,
            "profile_rp__data": self.profile.data,
            "acc_rp__data": self.acc.data,
            "fu": 4095 - prm.du,  # rtl/core.py's decay-factor registers
            "fv": 4096 - prm.dv,
            "o_spike__ready": self.o_ready,
        }

    def after(self, o):
        rng = self.rng
        if o["state_wp__en"]:
            w = o["state_wp__data"]
            prm = self.profile.words[w.profile & (self.c.profiles - 1)]
            self.on_threshold += w.ref == 0 and w.v == prm.vth << 6
            self.saturated += w.v == -((1 << 23) - 1)
        self.stalls += o["o_spike__valid"] and not self.o_ready
        self.spikes += o["o_spike__valid"] and self.o_ready
        self.state.clock(o.get("state_rp__addr"), o["state_rp__en"])
        self.fanptr.clock(o.get("fanptr_rp__addr"), o["fanptr_rp__en"])
        prof = o.get("profile_rp__addr", 0) & (self.c.profiles - 1)  # the memory's index bits
        self.profile.clock(prof, o["profile_rp__en"])
        self.acc.clock(o.get("acc_rp__addr"), o["acc_rp__en"])
        if o["state_wp__en"]:
            self.state.words[o["state_wp__addr"]] = o["state_wp__data"]
        if o["acc_wp__en"]:
            self.acc.words[o["acc_wp__addr"]] = o["acc_wp__data"]
        # the tick controller (rtl/core.py): start only while no loop runs
        if self.start:
            self.running, self.start = 1, 0
        elif self.running and o["drained"] and rng.random() < 0.5:
            self.running, self.ticks = 0, self.ticks + 1
        elif not self.running and rng.random() < 0.2:
            self.start = 1
            # configuration writes between ticks
            k = int(rng.integers(0, self.c.profiles))
            self.profile.words[k] = self._profile(k)
            for i in rng.integers(0, self.c.neurons, 4).tolist():
                self._neuron(i)


def _update(chip, seed, cycles):
    bench = UpdateBench(chip, np.random.default_rng(seed))
    run_lockstep(UpdatePipeline(chip), core_update.UpdatePipeline(chip), bench, cycles)
    return bench


@pytest.mark.parametrize("name", list(CHIPS))
def test_update_pipeline(name):
    bench = _update(CHIPS[name], 2, CYCLES)
    assert bench.ticks >= 10 and bench.spikes > 50 and bench.stalls > 20
    assert bench.on_threshold > 5 and bench.saturated > 5


# ---- FanoutUnit ----------------------------------------------------------------------------


class FanoutBench:
    """Spikes with random gaps and fan-out lists of 0..4 entries (and a HOST_OUT flit for
    half of them), random o_flit backpressure with long stalls."""

    def __init__(self, chip, rng):
        c = chip.core
        self.rng = rng
        self.fanout = ReadPort(
            [
                FanoutWord(
                    int(rng.integers(0, chip.width)),
                    int(rng.integers(0, chip.height)),
                    int(rng.integers(0, c.axons)),
                )
                for _ in range(c.fanout)
            ],
            FanoutWord(0, 0, 0),
        )

        def spike():
            host = int(rng.random() < 0.5)
            n = int(rng.integers(1 - host, 5))
            fp = FanPtrWord(int(rng.integers(0, c.fanout)), n, host)
            return Spike(int(rng.integers(0, c.neurons)), fp)

        self.spikes = StreamSource(rng, spike, 0.4)
        self.ready = Backpressure(rng, 0.7)
        self.o_ready = 1
        self.flits = self.held = 0

    def inputs(self):
        self.o_ready = self.ready()
        return {
            "i_spike__valid": self.spikes.valid,
            "i_spike__payload": self.spikes.payload or Spike(0, FanPtrWord(0, 0, 0)),
            "fanout_rp__data": self.fanout.data,
            "o_flit__ready": self.o_ready,
        }

    def after(self, o):
        self.flits += o["o_flit__valid"] and self.o_ready
        self.held += o["o_flit__valid"] and not self.o_ready
        self.spikes.step(o["i_spike__ready"])
        self.fanout.clock(o.get("fanout_rp__addr"), o["fanout_rp__en"])


def _fanout(chip, seed, cycles):
    bench = FanoutBench(chip, np.random.default_rng(seed))
    x, y = TILE if chip.width > TILE[0] else (0, 0)
    run_lockstep(FanoutUnit(chip, x=x, y=y), core_fanout.FanoutUnit(chip, x=x, y=y), bench, cycles)
    return bench


@pytest.mark.parametrize("name", list(CHIPS))
def test_fanout_unit(name):
    bench = _fanout(CHIPS[name], 3, CYCLES)
    assert bench.flits > 300 and bench.held > 100 and bench.spikes.taken > 100


# ---- long runs, constructor errors, and proof that the comparison can fail ----------------


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CHIPS))
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_components_long(name, seed):
    for run in (_event, _update, _fanout):
        run(CHIPS[name], seed, LONG_CYCLES)


@pytest.mark.parametrize("cls", [EventPipeline, UpdatePipeline])
def test_init_wrong_chip(cls):
    with pytest.raises(TypeError, match=r"^Chip configuration must be a ChipConfig, not 3$"):
        cls(3)


def test_fanout_init_wrong_tile():
    with pytest.raises(
        ValueError, match=r"^Tile y coordinate must be an integer between 0 and 1, not 2$"
    ):
        FanoutUnit(CHIPS["acc24"], x=0, y=2)


@pytest.mark.parametrize(
    "twin,method,run",
    [
        (core_event.EventPipeline, "comb", _event),
        (core_update.UpdatePipeline, "clock", _update),
        (core_fanout.FanoutUnit, "clock", _fanout),
    ],
)
def test_a_wrong_twin_fails(monkeypatch, twin, method, run):
    """A twin that is off in one rare case (the forwarding register ignored, a refractory
    counter that does not count down, a HOST_OUT flit from the wrong neuron) is caught."""
    original = getattr(twin, method)

    def wrong(self):
        original(self)
        if twin is core_event.EventPipeline:
            if self.fwd_valid and self.fwd_target == self.s2_target:
                self.acc_wp__data += 1
        elif twin is core_update.UpdatePipeline:
            if self.u5 is not None and self.u5.state.ref == 7:
                self.u5 = self.u5._replace(state=self.u5.state._replace(ref=6))
                self._moore()
        elif self.rd_host and self.rd_valid:
            self.rd_neuron ^= 1

    monkeypatch.setattr(twin, method, wrong)
    with pytest.raises(AssertionError, match=r"cycle \d+: \w+ RTL .* twin"):
        run(CHIPS["acc24"], 1, CYCLES)
