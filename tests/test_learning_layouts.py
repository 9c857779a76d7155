"""The learning core's memory layouts and configuration (docs/learning.md "Hardware plan")."""

import pytest
from spikemesh.sim.core_words import WORDS, SynapseWord

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.errors import ConfigError
from spikemesh.layouts import (
    Region,
    config_addr,
    config_addr_bits,
    config_data_bits,
    core_markdown,
    decode_config_write,
    lprofile_layout,
    region_bits,
    region_layouts,
    reverse_index,
)
from spikemesh.plasticity import PROFILE_COLUMNS

LEARN = CoreConfig(neurons=16, axons=32, synapses=64, fanout=64, learning_profiles=4)


def test_defaults_build_no_learning():
    c = CoreConfig()
    assert (c.learning, c.lprofile_bits, c.reverse_depth, c.reverse_addr_bits) == (0, 0, 0, 0)
    chip = ChipConfig()
    assert region_bits(chip) == 3
    assert max(region_layouts(chip)) == Region.ACC
    assert [f.name for f in region_layouts(chip)[Region.SYNAPSE][0].fields] == ["target", "weight"]


def test_existing_regions_keep_their_numbers():
    assert [int(r) for r in Region][:7] == list(range(7))
    assert [r.name for r in Region][:7] == [
        "NEURON", "PROFILE", "AXON", "SYNAPSE", "FANPTR", "FANOUT", "ACC"
    ]  # fmt: skip


def test_learning_regions():
    chip = ChipConfig(core=LEARN)
    lay = region_layouts(chip)
    assert region_bits(chip) == 4
    assert {r: d for r, (_, d) in lay.items() if r >= Region.LPROFILE} == {
        Region.LPROFILE: 4,
        Region.PRETRACE: 32,
        Region.POSTTRACE: 16,
        Region.REVPTR: 16,
        Region.REVERSE: 64,
    }
    assert [f.name for f in lprofile_layout().fields] == list(PROFILE_COLUMNS)
    assert lprofile_layout().width == 68
    assert config_data_bits(chip) == 68
    assert config_addr_bits(chip) == 4 + 6
    syn = lay[Region.SYNAPSE][0]
    assert [(f.name, f.width) for f in syn.fields] == [
        ("target", 4), ("weight", 8), ("plastic", 1), ("lprofile", 2)
    ]  # fmt: skip
    assert [(f.name, f.width) for f in lay[Region.REVERSE][0].fields] == [
        ("synapse", 6), ("axon", 5)
    ]  # fmt: skip
    assert [(f.name, f.width) for f in lay[Region.REVPTR][0].fields] == [("base", 6), ("len", 7)]
    for region, (layout, _) in lay.items():  # the twins' words carry the layouts' fields
        if region not in (Region.ACC, Region.AXON):  # AXON: test_core.py (delay field)
            assert WORDS[region]._fields == tuple(f.name for f in layout.fields), region.name
    assert SynapseWord(1, 2)._asdict() == {"target": 1, "weight": 2, "plastic": 0, "lprofile": 0}


def test_learning_config_writes_decode():
    chip = ChipConfig(core=LEARN)
    w = lprofile_layout().pack(
        **dict(zip(PROFILE_COLUMNS, (1, 2, 3, 4, 5, 6, 7, 8, -9, 10), strict=True))
    )
    addr = config_addr(chip, Region.LPROFILE, 3)
    assert addr == 8 << 6 | 3
    region, index, f = decode_config_write(chip, addr, w)
    assert (region, index, f["w_min"], f["w_max"]) == (Region.LPROFILE, 3, -9, 10)
    assert decode_config_write(chip, 13 << 6, 0) is None  # no region 13
    assert decode_config_write(ChipConfig(), 7 << 10, 0) is None  # ROUTE is no core memory


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        (
            {"learning_profiles": 3},
            r"Learning profiles per core \(CoreConfig.learning_profiles\) must be a power of "
            r"two between 1 and 16, not 3",
        ),
        ({"learning_profiles": 32}, r"between 1 and 16, not 32"),
        (
            {"reverse_entries": 64},
            r"Reverse-index depth \(CoreConfig.reverse_entries = 64\) needs on-chip learning",
        ),
        (
            {"learning_profiles": 1, "synapses": 64, "reverse_entries": 128},
            r"Reverse-index depth \(CoreConfig.reverse_entries\) must be a power of two between "
            r"16 and 64, not 128",
        ),
    ],
)
def test_config_errors(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        CoreConfig(**kw)


def test_reverse_depth_and_single_profile():
    c = CoreConfig(synapses=256, learning_profiles=1, reverse_entries=32)
    assert (c.lprofile_bits, c.reverse_depth, c.reverse_addr_bits) == (1, 32, 5)
    assert CoreConfig(learning_profiles=2).reverse_depth == 1024


def test_reverse_index():
    c = CoreConfig(neurons=16, axons=16, synapses=16, fanout=16, learning_profiles=1,
                   reverse_entries=16)  # fmt: skip
    base, length = [0, 3, 0], [3, 2, 0]  # axon 0: synapses 0..2, axon 1: 3..4
    target = [2, 1, 2, 2, 1] + [0] * 11
    plastic = [1, 1, 0, 1, 1] + [0] * 11
    b, ln, entries = reverse_index(c, base, length, target, plastic)
    assert entries == [(1, 0), (4, 1), (0, 0), (3, 1)]
    assert (b[:3], ln[:3]) == ([0, 0, 2], [0, 2, 2])
    with pytest.raises(ValueError, match="plastic synapse 0 is in the rows of axons 0 and 2"):
        reverse_index(c, [0, 3, 0], [3, 2, 1], target, plastic)
    small = CoreConfig(neurons=16, axons=16, synapses=32, fanout=16, learning_profiles=1,
                       reverse_entries=16)  # fmt: skip
    with pytest.raises(ValueError, match="17 plastic synapses do not fit the reverse index of 16"):
        reverse_index(small, [0, 16], [16, 1], [0] * 32, [1] * 32)


def test_markdown_of_a_learning_core():
    md = core_markdown(ChipConfig(core=LEARN))
    assert "region (4 bits)" in md and "LearnProfileWord" in md and "ReverseWord" in md
