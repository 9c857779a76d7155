"""One definition of a core's learning memories, from the compiler to the learning core
(issue 13, docs/learning.md "In the image"): the writes ``layouts.learning_writes`` makes of a
compiled image's CoreLearning decode back to the image's tables, and the learning core's
cycle twin (sim/core.py CoreModel) loaded with them and fed, tick by tick, the events golden's
run delivers to it, sends golden's spikes and ends with the weights and traces golden learned.
"""

import dataclasses

import numpy as np
import pytest
from spikemesh.firmware import auto_chip, compile_network
from spikemesh.firmware.image import ChipImage
from spikemesh.sim.core import CoreModel

from spikemesh.config import bits_for
from spikemesh.coreimage import CoreLearning
from spikemesh.golden import run_golden
from spikemesh.layouts import (
    Region,
    core_config_writes,
    decode_config_write,
    learning_writes,
    region_layouts,
    reverse_tables,
)
from tests.sim.test_fast_stdp import random_plastic_net
from tests.sim.test_stdp_image import _memories

# random_plastic_net seeds whose golden run changes some weight within 40 ticks (many of
# its networks stay silent or only spike where nothing is plastic); with delays: 4, 19, 20,
# 21, 24, 26; up to 6 learning profiles on a core (11)
SEEDS = [1, 4, 6, 9, 11, 14, 17, 19, 20, 21, 24, 26]


def learning_chip(image):
    """The image's chip with learning cores: enough profiles (a power of two) for every core."""
    most = max(int(np.asarray(lt.learn_profiles).shape[0]) for lt in image.learning)
    lp = 1 << bits_for(max(most, 1) - 1) if most > 1 else 1
    c = dataclasses.replace(image.chip.core, learning_profiles=lp)
    return dataclasses.replace(image.chip, core=c)


def compiled(seed):
    net = random_plastic_net(seed)
    image, _ = compile_network(net, auto_chip(net))
    return net, ChipImage.from_bytes(image.to_bytes())  # through the file format


def decoded(chip, writes):
    """{region: {index: fields}} of a list of configuration writes (the last write wins)."""
    out = {}
    for addr, data in writes:
        region, i, f = decode_config_write(chip, addr, data)
        out.setdefault(Region(region), {})[i] = f
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_writes_decode_to_the_image_tables(seed):
    """Every core's learning writes decode (layouts' unpack) to its image tables: profiles,
    per-synapse plastic / profile from the axon row's ``axon_learn``, trace words at 0 with
    ``axon_learn`` / ``post_learn``, REVPTR / REVERSE equal to ``rev_*``, which are the core's
    own reverse_tables of the image (one builder)."""
    _, image = compiled(seed)
    chip = learning_chip(image)
    c = chip.core
    plastic_seen = 0
    for img, lt in zip(image.cores, image.learning, strict=True):
        d = decoded(chip, learning_writes(chip, img, lt))
        prof = np.asarray(lt.learn_profiles, dtype=np.int64)
        names = list(d[Region.LPROFILE][0]) if prof.size else []
        got = [[d[Region.LPROFILE][k][f] for f in names] for k in range(prof.shape[0])]
        assert got == prof.tolist()
        s = img.syn_target.size
        syn = d.get(Region.SYNAPSE, {})
        assert sorted(syn) == list(range(s))
        al = np.asarray(lt.axon_learn, dtype=np.int64)
        for a in range(c.axons):
            for k in range(int(img.axon_base[a]), int(img.axon_base[a]) + int(img.axon_len[a])):
                w = syn[k]
                assert (w["target"], w["weight"]) == (img.syn_target[k], img.syn_weight[k])
                assert w["plastic"] == int(al[a] > 0), (a, k)
                assert w["lprofile"] == (al[a] - 1 if al[a] else 0)
                plastic_seen += w["plastic"]
        for region, table in ((Region.PRETRACE, al), (Region.POSTTRACE, lt.post_learn)):
            words = [d[region][i] for i in range(len(table))]
            assert words == [{"x": 0, "fired": 0, "lprofile": max(int(x) - 1, 0)} for x in table]
        ptr = [d[Region.REVPTR][i] for i in range(c.neurons)]
        assert [p["len"] for p in ptr] == np.asarray(lt.rev_len).tolist()
        ln = np.asarray(lt.rev_len)
        assert [p["base"] for p in ptr] == np.where(ln > 0, lt.rev_base, 0).tolist()
        rev = d.get(Region.REVERSE, {})
        assert sorted(rev) == list(range(lt.rev_syn.size))
        assert [(rev[k]["synapse"], rev[k]["axon"]) for k in sorted(rev)] == list(
            zip(np.asarray(lt.rev_syn).tolist(), np.asarray(lt.rev_axon).tolist(), strict=True)
        )
        plastic = np.zeros(s, dtype=bool)
        plastic[np.asarray(lt.rev_syn)] = True
        mine = reverse_tables(img.axon_base, img.axon_len, img.syn_target, plastic,
                              neurons=c.neurons)  # fmt: skip
        for x, y in zip(mine, (lt.rev_base, lt.rev_len, lt.rev_syn, lt.rev_axon), strict=True):
            assert np.array_equal(x, y)
    assert plastic_seen > 0


def test_learning_writes_refuse_a_core_that_cannot_hold_the_image():
    _, image = compiled(3)
    chip = learning_chip(image)
    t = int(np.argmax([lt.rev_syn.size for lt in image.learning]))
    img, lt = image.cores[t], image.learning[t]
    r = int(lt.rev_syn.size)
    assert r > 16
    with pytest.raises(ValueError, match="the core has no learning"):
        learning_writes(image.chip, img, lt)
    few = dataclasses.replace(chip.core, reverse_entries=1 << (r - 1).bit_length() - 1)
    with pytest.raises(ValueError, match="do not fit the reverse index"):
        learning_writes(dataclasses.replace(chip, core=few), img, lt)
    two = CoreLearning(**{k: getattr(lt, k) for k in vars(lt)})
    two.learn_profiles = np.repeat(np.asarray(lt.learn_profiles)[:1], 2, axis=0)
    one = dataclasses.replace(chip, core=dataclasses.replace(chip.core, learning_profiles=1))
    with pytest.raises(ValueError, match="uses 2 learning profiles, the core holds 1"):
        learning_writes(one, img, two)


def test_reverse_order_is_the_cores():
    """reverse_tables: rows by neuron, each in axon order then synapse order (not address
    order: axon 0's row lies after axon 1's here); empty rows have base 0."""
    base, length = [3, 0], [2, 3]  # axon 0: synapses 3, 4; axon 1: 0..2
    target = [1, 0, 1, 1, 1]
    b, ln, syn, ax = reverse_tables(base, length, target, [1, 1, 1, 1, 1], neurons=3)
    assert syn.tolist() == [1, 3, 4, 0, 2] and ax.tolist() == [1, 0, 0, 1, 1]
    assert b.tolist() == [0, 1, 0] and ln.tolist() == [1, 4, 0]


# ---- the learning core fed golden's events --------------------------------------------------


def _events(image, g):
    """Per tile, per tick: the axon ids golden's spikes and inputs of that tick reach on the
    tile (fan-out lists, the host input table), and per tile the slots that spiked."""
    chip = image.chip
    n, ticks = chip.core.neurons, g.spikes.shape[0]
    ev = [[[] for _ in range(ticks)] for _ in range(chip.tiles)]
    fired = [[[] for _ in range(ticks)] for _ in range(chip.tiles)]
    slots = np.asarray(image.neuron_slot, dtype=np.int64)
    for t, j in zip(*np.nonzero(g.spikes), strict=True):
        tile, i = divmod(int(slots[j]), n)
        fired[tile][t].append(i)
        core = image.cores[tile]
        lo = int(core.fan_base[i])
        for k in range(lo, lo + int(core.fan_len[i])):
            dst = int(core.fan_y[k]) * chip.width + int(core.fan_x[k])
            ev[dst][t].append(int(core.fan_axon[k]))
    for t, s in zip(*np.nonzero(g.inputs), strict=True):
        for k in range(int(image.src_ptr[s]), int(image.src_ptr[s + 1])):
            dst = int(image.src_y[k]) * chip.width + int(image.src_x[k])
            ev[dst][t].append(int(image.src_axon[k]))
    return ev, fired


def _pre_elements(image, tile):
    """Per axon of ``tile``: the index into golden's pre_trace (network neuron, then source)
    of the presynaptic element whose events it carries (-1: none)."""
    chip = image.chip
    n = chip.core.neurons
    net_of_slot = np.full(chip.tiles * n, -1, dtype=np.int64)
    net_of_slot[np.asarray(image.neuron_slot)] = np.arange(image.neuron_slot.size)
    owner = np.full(chip.core.axons, -1, dtype=np.int64)
    for t, core in enumerate(image.cores):
        for i in range(n):
            for k in range(int(core.fan_base[i]), int(core.fan_base[i]) + int(core.fan_len[i])):
                if int(core.fan_y[k]) * chip.width + int(core.fan_x[k]) == tile:
                    owner[int(core.fan_axon[k])] = net_of_slot[t * n + i]
    for s in range(image.num_sources):
        for k in range(int(image.src_ptr[s]), int(image.src_ptr[s + 1])):
            if int(image.src_y[k]) * chip.width + int(image.src_x[k]) == tile:
                owner[int(image.src_axon[k])] = image.neuron_slot.size + s
    return owner


@pytest.mark.parametrize("seed", SEEDS)
def test_learning_core_learns_what_golden_learns(seed):
    """Per core: core_config_writes + learning_writes into the learning core's twin, then
    golden's events of each tick (run_tick, the timed protocol); the flits it sends are the
    ones golden's spikes make, its neurons end in golden's final state, and after one more
    ``start`` (the last tick's learning) its synapse memory is golden's learned weights
    compiled, every plastic axon's pre trace its element's golden trace and every learning
    neuron's post trace golden's."""
    _core_against_golden(seed)


def _one_profile(chip, img, lt):
    """A wrong derivation: every plastic synapse learns by the core's profile 0."""
    out = []
    for addr, data in learning_writes(chip, img, lt):
        region, _, f = decode_config_write(chip, addr, data)
        if region == Region.SYNAPSE:
            lay = region_layouts(chip)[Region.SYNAPSE][0]
            data = lay.pack(**dict(f, lprofile=0))
        out.append((addr, data))
    return out


def test_wrong_derivations_are_caught():
    """The comparison fails for a derivation that ignores the row's profile (seed 11 has six
    profiles on a core: other weights, so other spikes) and when the last tick's learning is
    not applied (no extra start)."""
    with pytest.raises(AssertionError):
        _core_against_golden(11, writes=_one_profile)
    with pytest.raises(AssertionError):
        _core_against_golden(9, last_start=False)


def _core_against_golden(seed, ticks=40, *, writes=learning_writes, last_start=True):
    net, image = compiled(seed)
    chip = learning_chip(image)
    g = run_golden(net, ticks)
    learned = _memories(net, g.extra["weights"])
    ev, fired = _events(image, g)
    n = chip.core.neurons
    net_of_slot = {int(s): j for j, s in enumerate(image.neuron_slot)}
    changed = 0
    for tile, (img, lt) in enumerate(zip(image.cores, image.learning, strict=True)):
        y, x = divmod(tile, chip.width)
        m = CoreModel(chip, x=x, y=y)
        for addr, data in core_config_writes(chip, img) + writes(chip, img, lt):
            m.config_write(addr, data)
        for t in range(ticks):
            _, flits = m.run_tick(ev[tile][t])
            want = []
            for i in sorted(fired[tile][t]):
                lo = int(img.fan_base[i])
                want += [m.spike_flit(int(img.fan_x[k]), int(img.fan_y[k]), int(img.fan_axon[k]))
                         for k in range(lo, lo + int(img.fan_len[i]))]  # fmt: skip
                want += [m.host_flit(i)] if img.host_out[i] else []
            assert flits == want, (tile, t)
        for i in range(n):
            j = net_of_slot.get(tile * n + i)
            if j is not None:
                st = m.state_mem[i]
                assert (st.u, st.v) == (g.final_u[j], g.final_v[j]), (tile, i)
        if last_start:
            m.run_tick([])  # the start that applies the last tick's learning
        s = img.syn_target.size
        w = np.array([sw.weight for sw in m.synapse_mem[:s]], dtype=np.int64)
        np.testing.assert_array_equal(w, learned[tile], err_msg=f"tile {tile}")
        changed += int((w != img.syn_weight).sum())
        al = np.asarray(lt.axon_learn)
        owner = _pre_elements(image, tile)
        for a in np.flatnonzero(al > 0):
            assert m.pre_mem[a].x == g.extra["pre_trace"][owner[a]], (tile, a)
        for i in np.flatnonzero(np.asarray(lt.post_learn) > 0):
            assert m.post_mem[i].x == g.extra["post_trace"][net_of_slot[tile * n + i]], (tile, i)
    assert changed > 0  # something was learnt
