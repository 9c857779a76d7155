"""Seeded fuzzing in CI: every target of tests/fuzz/ on a few derandomized examples.

The long campaign (>= 100,000 inputs per target) is ``bench/run_fuzz.py``; with
``SPIKEMESH_LONG=1`` the ``slow`` test below runs ``long_examples`` more random inputs per
target (5,000; 300 for the RTL bridge on Amaranth's simulator).
"""

from __future__ import annotations

import pytest

from .targets import TARGETS


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_fuzz(target):
    target.run()
    assert target.counts["inputs"] >= target.ci_examples // 2  # hypothesis really ran it


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_fuzz_long(target):
    target.run(target.long_examples, seed=20261201, shrink=True)
