"""spikemesh/memory_geometry.py: bits held and occupied per core memory (docs/core-resources.md)."""

import pytest

from spikemesh.config import ChipConfig, CoreConfig
from spikemesh.memory_geometry import fill, memory_rows, totals

N256 = CoreConfig(neurons=256, axons=1024, synapses=8192, fanout=2048)
ICE_SP = CoreConfig(
    neurons=256, axons=1024, synapses=16384, fanout=4096, profiles=2, single_port=True
)


def test_fill_takes_the_fewest_primitives():
    assert fill("DP16KD", 8192, 16) == (8, "1024 x 18")  # 8K x 2 and 2K x 9 need 8 too
    assert fill("DP16KD", 256, 54) == (2, "512 x 36")
    assert fill("EBR", 1024, 30) == (8, "256 x 16")
    assert fill("EBR", 2048, 12) == (6, "1024 x 4")  # ties go to the wider shape
    assert fill("SPRAM", 16384, 16) == (1, "16384 x 16")
    assert fill("SPRAM", 32768, 17) == (4, "16384 x 16")


def test_totals_match_the_measured_mappings():
    """The yosys mappings measured (docs/core-resources.md): the 256-neuron core of a 4 x 4
    chip takes 17 DP16KD on the ECP5; the single-port 1 x 1 core 18 EBR and 2 SPRAM on the
    UP5K (synapse_mem and fanout_mem in SPRAM, the profile table in flip-flops)."""
    assert totals(memory_rows(ChipConfig(width=4, height=4, core=N256), "ecp5"))["DP16KD"] == 17
    # synth_ecp5 of the 85F candidates' cores: N=512 (4 x 2) 17, N=256 with 4,096 synapses 11
    n512 = CoreConfig(neurons=512, axons=1024, synapses=8192, fanout=2048)
    n256s = CoreConfig(neurons=256, axons=512, synapses=4096, fanout=1024)
    assert totals(memory_rows(ChipConfig(width=4, height=2, core=n512), "ecp5"))["DP16KD"] == 17
    assert totals(memory_rows(ChipConfig(width=4, height=4, core=n256s), "ecp5"))["DP16KD"] == 11
    t = totals(memory_rows(ChipConfig(width=1, height=1, core=ICE_SP), "ice40"))
    assert (t["EBR"], t["SPRAM"]) == (18, 2)
    # the same core with two-port memories would need 57 EBR: the UP5K has 30
    two_port = CoreConfig(neurons=256, axons=1024, synapses=16384, fanout=4096, profiles=2)
    assert totals(memory_rows(ChipConfig(width=1, height=1, core=two_port), "ice40"))["EBR"] > 30


def test_rows_hold_every_memory_once():
    chip = ChipConfig(core=CoreConfig(max_delay=3))
    rows = memory_rows(chip, "ecp5")
    names = [r.name for r in rows]
    assert names[:6] == ["state_mem", "profile_mem", "axon_mem", "synapse_mem", "fanptr_mem",
                         "fanout_mem"]  # fmt: skip
    assert names[6:] == [f"acc{b}_mem" for b in range(4)]
    assert all(r.occupied >= r.held for r in rows if r.primitive != "logic")


def test_bad_family():
    with pytest.raises(ValueError, match="FPGA family must be one of ecp5, ice40, not 'gowin'"):
        memory_rows(ChipConfig(), "gowin")
