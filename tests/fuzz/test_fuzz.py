"""Seeded fuzzing in CI: every target of tests/fuzz/ on a few derandomized examples.

The long campaign (>= 100,000 inputs per target) is ``bench/run_fuzz.py``; with
``SPIKEMESH_LONG=1`` the ``slow`` test below runs 5,000 more random inputs per target.
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
    target.run(5000, seed=20261201, shrink=True)
