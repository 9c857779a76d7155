"""Reset by subtraction in the RTL: the chip regression of test_chip.py (golden =
functional TLM = Python cycle model = compiled timed model = RTL, every response word on
the timed models' cycle, loaded through the host link and directly) on random networks
whose populations reset by subtraction, all of them or mixed with zero reset.

The networks are test_chip.py's, drawn with ``random_network(..., reset=...)``;
tests/sim/test_reset_models.py checks on the same generator that subtract reset changes
the spikes of such networks, so an RTL that ran it as zero reset would fail here.
"""

from __future__ import annotations

import functools

import pytest

import tests.firmware.random_nets as random_nets
from tb.chip.test_chip import CONFIGS, SHARED_BUILD, _run


@pytest.mark.cocotb
@SHARED_BUILD
@pytest.mark.parametrize(("reset", "seed0"), [("subtract", 3140), ("mixed", 3240)])
def test_chip_equivalence_subtract_reset(reset, seed0, monkeypatch):
    """CI: 3 networks x 100 ticks on the 2x2 chip per reset choice."""
    monkeypatch.setattr(
        random_nets,
        "random_network",
        functools.partial(random_nets.random_network, reset=reset),
    )
    _run("2x2-n16", CONFIGS["2x2-n16"], networks=3, ticks=100, seed0=seed0)
